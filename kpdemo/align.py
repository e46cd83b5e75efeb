"""Geometric face alignment: a similarity transform that puts detected landmarks on a canonical template.

The template is ArcFace's 5-point layout for 112x112 crops (right eye, left eye, nose tip, right and left mouth
corner, subject's sides, as in :attr:`kpdemo.schemas.KeypointSchema.five_points`), scaled to the output size. A
schema with eye centres but no 5 points aligns on the two eyes only (the similarity is then exact).

Coordinates use the continuous pixel convention of the datasets (a pixel's centre is at +0.5); the warp matrix
handed to OpenCV is converted to its pixel-index convention, so ``transform_points(points, matrix)`` lands points
exactly where the warped image shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kpdemo.geometry import transform_points
from kpdemo.schemas import KeypointSchema

#: ArcFace / InsightFace reference points for a 112x112 crop (image-left eye first).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float64,
)
OUTPUT_SIZES = (112, 256)


class AlignError(ValueError):
    """Landmarks cannot be aligned (schema without eyes, degenerate points)."""


@dataclass
class AlignedFace:
    """The aligned crop, the 2x3 pixel-index warp that made it, and which landmarks drove it."""

    image: np.ndarray
    matrix: np.ndarray
    anchors: str  # "5 points" or "eye centres"


def template(size: int) -> np.ndarray:
    """The ArcFace 5-point template scaled to a ``size`` x ``size`` output."""
    return ARCFACE_112 * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping ``src`` onto ``dst``.

    Umeyama (1991), closed form; returns a 2x3 matrix acting on column points as ``dst ~ M[:, :2] @ p + M[:, 2]``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    var_s = (sc**2).sum() / len(src)
    if var_s < 1e-12:
        raise AlignError("landmarks are degenerate (all at one point); cannot align")
    cov = dc.T @ sc / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / var_s
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def to_index_convention(matrix: np.ndarray) -> np.ndarray:
    """A continuous-coordinate affine as the pixel-index matrix ``cv2.warpAffine`` expects."""
    out = matrix.copy()
    out[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return out


def alignment_matrix(points: np.ndarray, schema: KeypointSchema, size: int) -> tuple[np.ndarray, str]:
    """The pixel-index warp putting ``points`` (K, 2) on the ``size`` template, and the anchors it used."""
    ref = template(size)
    if schema.five_points:
        src, dst, anchors = schema.five_point_landmarks(points), ref, "5 points"
    elif schema.has_eyes:
        src, dst, anchors = np.stack(schema.eye_centres(points)), ref[:2], "eye centres"
    else:
        raise AlignError(f"the {schema.title} schema defines no eye centres, so its faces cannot be aligned")
    return to_index_convention(similarity_transform(src, dst)), anchors


def align_face(image: np.ndarray, points: np.ndarray, schema: KeypointSchema | str, size: int = 112) -> AlignedFace:
    """Warp ``image`` so the face given by ``points`` sits on the canonical template, ``size`` x ``size``.

    ``image``: an array (kept as it is: gray or colour, any dtype OpenCV warps) or anything else
    :func:`~kpdemo.detection.images.image_array` takes (a PIL image becomes RGB uint8); ``points``: the face's
    (K, 2) points in that image, K the schema's; ``schema``: a :class:`KeypointSchema` or its id (``"ibug68"``).
    Bad arguments raise :class:`AlignError` naming what is wrong, not an error from inside OpenCV."""
    image, points, schema = _checked(image, points, schema, size)
    matrix, anchors = alignment_matrix(points, schema, size)
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return AlignedFace(warped, matrix, anchors)


def _checked(image: object, points: object, schema: KeypointSchema | str,
             size: object) -> tuple[np.ndarray, np.ndarray, KeypointSchema]:
    """:func:`align_face`'s arguments as it uses them, or an :class:`AlignError` that says which is wrong."""
    from kpdemo.detection.images import ImageInputError, image_array
    from kpdemo.schemas import get_schema

    if isinstance(schema, str):
        try:
            schema = get_schema(schema)
        except KeyError as exc:
            raise AlignError(str(exc.args[0])) from None
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8:
        raise AlignError(f"size must be a whole number of pixels, at least 8 (e.g. 112 or 256), got {size!r}")
    warpable = (isinstance(image, np.ndarray) and image.size and image.dtype in (np.uint8, np.float32, np.float64)
                and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))))
    if not warpable:  # anything else as image_array reads it (channels first, bool, empty: refused by name)
        try:
            image = image_array(image)
        except ImageInputError as exc:
            raise AlignError(str(exc)) from None
    try:
        points = np.asarray(points, np.float64)  # float64: the similarity is solved in it anyway
    except (TypeError, ValueError):
        raise AlignError("points must be numbers: (x, y) per landmark") from None
    if not np.isfinite(points).all():
        raise AlignError("points must be finite numbers (a NaN or an infinity cannot be aligned)")
    if points.shape != (schema.num_points, 2):
        raise AlignError(f"the {schema.id} schema has {schema.num_points} points, so points must be "
                         f"({schema.num_points}, 2); got shape {points.shape}")
    return image, points, schema


def aligned_points(points: np.ndarray, face: AlignedFace) -> np.ndarray:
    """Where ``points`` land in the aligned crop."""
    return transform_points(points, face.matrix)
