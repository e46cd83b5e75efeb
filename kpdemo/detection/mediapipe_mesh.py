"""MediaPipe face mesh (468 points, or 478 with the refined irises) from the bundled legacy solution.

The mesh graph finds faces with MediaPipe's *short-range* detector, which misses faces smaller than about a tenth of
the image (group photos, a person across the room). So after the whole-image pass, faces found by a face detector
that no mesh covers are cut out (a square twice the box side, at 256 px, where the face fills half the crop and the
mesh's own detector sees it) and meshed on their own. On photos that detector is
:func:`~kpdemo.detection.pipelines.default_detector` (tiled full range: every face from ~40 px) and the pass always
runs; faces the whole-image mesh found keep its points unless they are small (``REMESH_BELOW_PX``): meshed again on
a crop, where the mesh's detector sees them large, small faces come out far better (large ones slightly worse). On
video frames the pass runs only when the whole-image mesh found nothing, with the full-range detector on the whole
frame, to keep within the frame budget.

Also the single place that knows the mesh's drawing edges: the contour (lips, eyes, brows, face oval) connections
from ``mediapipe.python.solutions.face_mesh_connections``, plus the iris rings for the 478-point model.
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

from kpdemo.detection.base import Face, LandmarkPredictor, points_box
from kpdemo.detection.crops import crop_matrix, crop_to_image
from kpdemo.detection.detector import Detection, FaceDetector
from kpdemo.detection.face_finders import MediaPipeFaceDetector
from kpdemo.detection.mediapipe_graph import SolutionGraph
from kpdemo.detection.pipelines import default_detector
from kpdemo.schemas import MEDIAPIPE468, MEDIAPIPE478


@cache
def mesh_edges(num_points: int) -> tuple[tuple[int, int], ...]:
    """Contour edges of the 468-point mesh, with the iris rings added for 478 points."""
    from mediapipe.python.solutions import face_mesh_connections as conn

    edges = set(conn.FACEMESH_CONTOURS) | (set(conn.FACEMESH_IRISES) if num_points == 478 else set())
    return tuple(sorted(edges))


CROP_SIZE = 256
CROP_FACTOR = 2.0
#: Photos: a face the whole-image mesh found smaller than this (its points' box, longer side, px) is meshed again on
#: its own crop (:meth:`MediaPipeMeshPredictor._remeshed_if_small`). Chosen on validation faces among 0 (never),
#: 144, 224 and always: the 300-W validation faces shrunk as ``bench/small_faces.py`` shrinks the test faces went
#: from 6.94% to 4.70% NME at a 64 px box and 5.51% to 4.64% at 96 px (failures 6% -> 0), 160 px and smaller than
#: 64 px unchanged; on the plain validation images every set but YouTube-Faces is unchanged (ytf68: 5.48% ->
#: 5.35%, two more faces over 10%). Always remeshing cost 0.1-0.2 points on the plain 300-W, IMM and Kaggle faces.
REMESH_BELOW_PX = 144.0


def _covered(box: np.ndarray, faces: list[Face]) -> bool:
    """Whether a detector box's centre lies inside a face already meshed."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in faces)


class MediaPipeMeshPredictor(LandmarkPredictor):
    """``mp.solutions.face_mesh`` in static-image mode (each frame independent: no cross-session tracking state).

    The whole-image pass returns at most ``max_faces``; on photos ``photo_detector`` adds every face it missed (no
    cap: each costs one crop mesh), on video frames ``small_face_detector`` rescues a frame with no face, up to
    ``max_faces``. The graph is a :class:`~kpdemo.detection.mediapipe_graph.SolutionGraph` (built on first use,
    locked, rebuilt after a failure).
    """

    def __init__(
        self, refine_landmarks: bool = False, max_faces: int = 4, small_face_detector: FaceDetector | None = None,
        photo_detector: FaceDetector | None = None, remesh_below: float | None = None,
    ) -> None:
        self.refine_landmarks = refine_landmarks
        self.remesh_below = REMESH_BELOW_PX if remesh_below is None else remesh_below
        self.max_faces = max_faces
        self.schema = MEDIAPIPE478 if refine_landmarks else MEDIAPIPE468
        self.name = "MediaPipe face mesh" + (" + iris" if refine_landmarks else "")
        self.small_face_detector = small_face_detector or MediaPipeFaceDetector(model_selection=1)
        self.photo_detector = photo_detector or default_detector()
        self._graph = SolutionGraph(self._build)

    def _predict(self, image: np.ndarray, video: bool) -> list[Face]:
        faces = self._mesh(image)
        if not video:
            faces = [self._remeshed_if_small(image, face) for face in faces]
            return self._add_uncovered(image, self.photo_detector.detect(image), faces)
        if faces:  # video: the extra pass only when nothing found
            return faces
        return self._add_uncovered(image, self.small_face_detector.detect(image), faces, limit=self.max_faces)

    def _predict_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Face | None]:
        """The mesh of the face in each box, meshed on its own crop as a face the whole-image pass missed."""
        return [next(iter(self._mesh_crop(image, box)), None) for box in boxes]

    def _remeshed_if_small(self, image: np.ndarray, face: Face) -> Face:
        """A face the whole-image pass meshed under ``remesh_below`` px (its points' box, longer side) meshed again
        on its own crop, where it fills half of 256 px; the first mesh when the crop finds none."""
        if max(face.box[2] - face.box[0], face.box[3] - face.box[1]) >= self.remesh_below:
            return face
        return next(iter(self._mesh_crop(image, face.box)), face)

    def _add_uncovered(
        self, image: np.ndarray, detections: list[Detection], faces: list[Face], limit: float = math.inf
    ) -> list[Face]:
        """``faces`` plus a crop mesh of each detection no face covers yet, up to ``limit`` faces in all."""
        for det in detections:
            if len(faces) < limit and not _covered(det.box, faces):
                faces = faces + self._mesh_crop(image, det.box)
        return faces

    def _mesh_crop(self, image: np.ndarray, box: np.ndarray) -> list[Face]:
        """Mesh the face in ``box`` on its own (the one nearest the crop centre), in full-image pixels."""
        side = CROP_FACTOR * float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))
        matrix = crop_matrix((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, side, (CROP_SIZE, CROP_SIZE))
        crop = cv2.warpAffine(image, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA, borderValue=(0, 0, 0))
        found = self._mesh(crop)
        if not found:
            return []
        best = min(found, key=lambda f: float(np.linalg.norm(f.points.mean(0) - CROP_SIZE / 2)))
        pts = crop_to_image(best.points, matrix)
        face = Face(points_box(pts), pts, best.score)
        # a mesh not covering the box's centre is a neighbouring face (meshed from its own box): keep no duplicate
        return [face] if _covered(box, [face]) else []

    def _build(self) -> object:
        from mediapipe.python.solutions import face_mesh

        return face_mesh.FaceMesh(static_image_mode=True, max_num_faces=self.max_faces,
                                  refine_landmarks=self.refine_landmarks, min_detection_confidence=0.5)

    def _mesh(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        result = self._graph.process(image)
        faces = []
        for landmarks in (result.multi_face_landmarks if result else None) or []:
            pts = np.array([[p.x * w, p.y * h] for p in landmarks.landmark], np.float32)
            # the legacy mesh API reports no per-face confidence; faces it returns passed min_detection_confidence
            faces.append(Face(points_box(pts), pts, score=1.0))
        return faces
