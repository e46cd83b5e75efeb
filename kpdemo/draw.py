"""Drawing predicted faces: boxes, the schema's edges and points, sized to the image.

All of a face's edges are one OpenCV call, and so are all its dots (each a zero-length thick line: a round-capped
disc, the same pixels as ``cv2.circle`` with anti-aliasing), not one call each. Why: every OpenCV call releases and
retakes the GIL, and in a busy server each retake may wait for another thread's switch interval (5 ms): with five
webcam visitors the ~130 calls a frame of one call per edge and per point made drawing the slowest step of a frame.

Edges come from the schema; MediaPipe mesh schemas carry none (their 2,500-edge tessellation would bury the face),
so their contour edges come from :func:`kpdemo.detection.mediapipe_mesh.mesh_edges`, the one place that knows them.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from kpdemo.detection.base import Face
from kpdemo.schemas import KeypointSchema

BOX_COLOUR = (255, 196, 0)
UNCERTAIN_BOX_COLOUR = (255, 0, 255)  # magenta: a face whose points the model is unsure of (Face.uncertain)
EDGE_COLOUR = (0, 220, 120)
POINT_COLOUR = (255, 60, 60)
EYE_COLOUR = (80, 160, 255)
TRUTH_COLOUR = (40, 200, 60)  # ground-truth points beside predictions (POINT_COLOUR)


def schema_edges(schema: KeypointSchema) -> tuple[tuple[int, int], ...]:
    """The edges to draw for ``schema``."""
    if schema.edges:
        return schema.edges
    if schema.id.startswith("mediapipe"):
        from kpdemo.detection.mediapipe_mesh import mesh_edges

        return mesh_edges(schema.num_points)
    return ()


def _px(p: np.ndarray) -> tuple[int, int]:
    """Continuous-convention point -> integer pixel index for OpenCV (4 fractional bits for sub-pixel drawing)."""
    return int(round((p[0] - 0.5) * 16)), int(round((p[1] - 0.5) * 16))


def _fixed(points: np.ndarray) -> np.ndarray:
    """:func:`_px` for an array of points: (..., 2) int32 in OpenCV's 4-fractional-bit fixed point."""
    return np.round((np.asarray(points, np.float64) - 0.5) * 16).astype(np.int32)


def _segments(canvas: np.ndarray, starts: np.ndarray, ends: np.ndarray, colour: tuple[int, int, int],
              thickness: int) -> None:
    """Anti-aliased lines from each of ``starts`` to the matching ``ends`` ((N, 2) points), in one OpenCV call."""
    if len(starts):
        pairs = np.stack([_fixed(starts), _fixed(ends)], 1)[:, :, None]  # (N, 2, 1, 2): one 2-point polyline each
        cv2.polylines(canvas, list(pairs), False, colour, thickness, cv2.LINE_AA, shift=4)


def _dots(canvas: np.ndarray, points: np.ndarray, size: int) -> None:
    """Square dots of ``size`` pixels at ``points`` (those inside the canvas)."""
    h, w = canvas.shape[:2]
    idx = np.floor(points).astype(int)
    for dy in range(size):
        for dx in range(size):
            x, y = idx[:, 0] + dx - size // 2, idx[:, 1] + dy - size // 2
            ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            canvas[y[ok], x[ok]] = POINT_COLOUR


def draw_points(image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], radius: float = 2.0,
                ) -> np.ndarray:
    """A copy of the RGB ``image`` with anti-aliased dots at ``points`` (K, 2): e.g. truth and prediction on one crop,
    each in its own colour."""
    canvas = image.copy()
    _circles(canvas, np.asarray(points, np.float64), colour, radius)
    return canvas


def _circles(canvas: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], radius: float) -> None:
    """Filled anti-aliased discs of ``radius`` pixels at ``points``: zero-length lines as thick as the disc."""
    _segments(canvas, points, points, colour, max(1, int(round(2 * radius))))


def face_marks(points: np.ndarray, image_unit: int, dense: bool) -> tuple[int, float]:
    """Line width and dot radius (pixels) for one face: the image's (``image_unit`` a 500 px of its longer side, so
    a big photo's marks stay visible when the page shows it small), but no bigger than the face allows. Why: in a
    group photo or a far-off face 68 dots sized to the picture merge into one blob over the features they mark; a
    dot's diameter is kept under half the spacing of an eye's six points (~8% of the face's side)."""
    side = float(np.ptp(points, 0).max()) if len(points) else 0.0
    unit = max(1, min(image_unit, round(side / 80)))
    radius = min(image_unit * (1.0 if dense else 2.0), max(1.0, side / (100 if dense else 50)))
    return unit, radius


def draw_faces(image: np.ndarray, faces: Sequence[Face], schema: KeypointSchema, show_box: bool = True) -> np.ndarray:
    """A copy of the RGB ``image`` with every face's box, edges and points drawn (eye centres highlighted), each
    face's marks sized to it (:func:`face_marks`); the box of a face whose points are uncertain
    (:attr:`Face.uncertain`) in magenta."""
    canvas = image.copy()
    image_unit = max(1, round(max(image.shape[:2]) / 500))
    dense = schema.num_points > 100  # dense meshes: small dots so the contours stay readable
    edges = schema_edges(schema)
    for face in faces:
        pts = np.asarray(face.points, np.float64)
        unit, radius = face_marks(pts, image_unit, dense)
        if show_box:
            x0, y0, x1, y1 = (int(round(v)) for v in face.box)
            colour = UNCERTAIN_BOX_COLOUR if face.uncertain else BOX_COLOUR
            cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, unit, cv2.LINE_AA)
        if edges:
            ends = np.asarray(edges)
            _segments(canvas, pts[ends[:, 0]], pts[ends[:, 1]], EDGE_COLOUR, unit)
        if dense:  # hundreds of mesh points: plain pixel dots, ~20x faster than anti-aliased circles
            _dots(canvas, pts, max(1, round(radius)))
        else:
            _circles(canvas, pts, POINT_COLOUR, radius)
        if schema.has_eyes:
            for eye in schema.eye_centres(pts):
                cv2.circle(canvas, _px(eye), int((radius + unit) * 16), EYE_COLOUR, unit, cv2.LINE_AA, shift=4)
    return canvas
