"""Keypoint schemas: the one place that says what each point layout means.

Every other module (augmentation flips, alignment, drawing, metrics, dataset readers) asks a
:class:`KeypointSchema` instead of hard-coding indices, so adding a layout means adding one entry here.

Conventions
-----------
* "left"/"right" are the *subject's* sides (iBUG/dlib and Kaggle convention): the subject's right eye
  appears on the image's left.
* ``flip_pairs`` lists index pairs that swap under a horizontal flip; points not listed map to themselves.
* ``right_eye`` / ``left_eye`` are index groups whose mean is the eye centre (one index for a pupil point).
* ``outer_eye_corners`` = (right outer corner, left outer corner): the inter-ocular normaliser used by 300-W,
  HRNet and SPIGA.
* ``five_points`` = (right eye, left eye, nose tip, right mouth corner, left mouth corner) as index groups, in
  the order of the ArcFace 5-point template.
* ``anchors`` names points that mean the same thing across layouts (see :data:`ANCHOR_NAMES`), so models with
  different schemas can be compared on the points they share (:func:`shared_anchors`). Annotation conventions
  still differ (e.g. where a brow "ends"), so cross-schema errors carry that definition gap too.

Kaggle 15 from iBUG 68 (how the ``kaggle15`` dataset is derived, see :data:`KAGGLE15_FROM_IBUG68`):
eye centre = mean of the eye's six points; eye corners = the eye's inner/outer corner points; brow ends = first/last
brow point; nose tip = point 30; mouth corners = 48/54; top/bottom lip centre = 51/57.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

IndexGroup = tuple[int, ...]


@dataclass(frozen=True)
class KeypointSchema:
    """A named keypoint layout with the semantic landmarks the rest of kpdemo needs."""

    id: str
    title: str
    point_names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    edges: tuple[tuple[int, int], ...] = ()
    right_eye: IndexGroup = ()
    left_eye: IndexGroup = ()
    outer_eye_corners: tuple[int, int] | None = None
    five_points: tuple[IndexGroup, ...] = ()
    regions: dict[str, IndexGroup] = field(default_factory=dict)
    anchors: dict[str, IndexGroup] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.point_names)
        used = [i for pair in self.flip_pairs for i in pair]
        if len(used) != len(set(used)):
            raise ValueError(f"schema {self.id}: an index appears in two flip pairs")
        unknown = set(self.anchors) - set(ANCHOR_NAMES)
        if unknown:
            raise ValueError(f"schema {self.id}: unknown anchor name(s) {sorted(unknown)}")
        groups = [self.right_eye, self.left_eye, *self.five_points, *self.regions.values(), *self.anchors.values()]
        indices = used + [i for e in self.edges for i in e] + [i for g in groups for i in g]
        indices += list(self.outer_eye_corners or ())
        if indices and (min(indices) < 0 or max(indices) >= n):
            raise ValueError(f"schema {self.id}: index out of range for {n} points")

    @property
    def num_points(self) -> int:
        return len(self.point_names)

    @property
    def has_eyes(self) -> bool:
        return bool(self.right_eye and self.left_eye)

    @cached_property
    def flip_permutation(self) -> np.ndarray:
        """``perm`` such that ``flipped_points = mirror(points)[perm]`` keeps every label on its meaning.

        A layout with two eyes but no flip pairs (MediaPipe's meshes: their pairs are not tabled here) is refused:
        mirrored without swapping, its right-eye labels would sit on the left eye."""
        if self.has_eyes and not self.flip_pairs:
            raise ValueError(f"schema {self.id!r} defines no left/right flip pairs, so its points cannot be mirrored "
                             "with their labels kept on their meaning")
        perm = np.arange(self.num_points)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def anchor_points(self, points: np.ndarray, names: list[str]) -> np.ndarray:
        """(..., len(names), 2): each named anchor as the mean of its index group."""
        return np.stack([points[..., list(self.anchors[n]), :].mean(-2) for n in names], axis=-2)

    def eye_centres(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(right eye centre, left eye centre) of ``points`` (..., K, 2)."""
        if not self.has_eyes:
            raise ValueError(f"schema {self.id!r} defines no eyes")
        return (points[..., list(self.right_eye), :].mean(-2), points[..., list(self.left_eye), :].mean(-2))

    def five_point_landmarks(self, points: np.ndarray) -> np.ndarray:
        """The 5 alignment landmarks (..., 5, 2), each the mean of its index group."""
        if not self.five_points:
            raise ValueError(f"schema {self.id!r} defines no 5-point landmarks")
        return np.stack([points[..., list(g), :].mean(-2) for g in self.five_points], axis=-2)


#: Semantic points shared across layouts; "right"/"left" are the subject's.
ANCHOR_NAMES = (
    "right_eye_outer", "right_eye_inner", "left_eye_inner", "left_eye_outer", "right_eye_centre", "left_eye_centre",
    "right_brow_outer", "right_brow_inner", "left_brow_inner", "left_brow_outer",
    "nose_tip", "mouth_right", "mouth_left", "upper_lip_top", "lower_lip_bottom", "chin",
)


def _anchors(**groups: tuple[int, ...] | int) -> dict[str, IndexGroup]:
    return {k: (v,) if isinstance(v, int) else tuple(v) for k, v in groups.items()}


def chain(indices: range | list[int], closed: bool = False) -> tuple[tuple[int, int], ...]:
    """Edges joining consecutive indices (a polyline), optionally closed into a loop."""
    idx = list(indices)
    pairs = list(zip(idx[:-1], idx[1:], strict=True))
    if closed:
        pairs.append((idx[-1], idx[0]))
    return tuple(pairs)


def _mirror_pairs(left: list[int], right: list[int]) -> tuple[tuple[int, int], ...]:
    return tuple(zip(left, right, strict=True))


# ---------------------------------------------------------------- iBUG / dlib 68 (0-based)
_IBUG68_FLIP = (
    _mirror_pairs(list(range(0, 8)), list(range(16, 8, -1)))
    + _mirror_pairs(list(range(17, 22)), list(range(26, 21, -1)))
    + ((31, 35), (32, 34))
    + ((36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46))
    + ((48, 54), (49, 53), (50, 52), (55, 59), (56, 58))
    + ((60, 64), (61, 63), (65, 67))
)
_IBUG68_REGIONS: dict[str, IndexGroup] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}
IBUG68 = KeypointSchema(
    id="ibug68",
    title="iBUG 300-W / dlib 68 points",
    point_names=tuple(
        [f"jaw_{i}" for i in range(17)]
        + [f"right_brow_{i}" for i in range(5)]
        + [f"left_brow_{i}" for i in range(5)]
        + [f"nose_bridge_{i}" for i in range(4)]
        + [f"nose_lower_{i}" for i in range(5)]
        + [f"right_eye_{i}" for i in range(6)]
        + [f"left_eye_{i}" for i in range(6)]
        + [f"outer_lip_{i}" for i in range(12)]
        + [f"inner_lip_{i}" for i in range(8)]
    ),
    flip_pairs=_IBUG68_FLIP,
    edges=(
        chain(range(0, 17)) + chain(range(17, 22)) + chain(range(22, 27)) + chain(range(27, 31))
        + chain(range(31, 36)) + chain(range(36, 42), True) + chain(range(42, 48), True)
        + chain(range(48, 60), True) + chain(range(60, 68), True)
    ),
    right_eye=tuple(range(36, 42)),
    left_eye=tuple(range(42, 48)),
    outer_eye_corners=(36, 45),
    five_points=(tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,)),
    regions=_IBUG68_REGIONS,
    anchors=_anchors(
        right_eye_outer=36, right_eye_inner=39, left_eye_inner=42, left_eye_outer=45,
        right_eye_centre=tuple(range(36, 42)), left_eye_centre=tuple(range(42, 48)),
        right_brow_outer=17, right_brow_inner=21, left_brow_inner=22, left_brow_outer=26,
        nose_tip=30, mouth_right=48, mouth_left=54, upper_lip_top=51, lower_lip_bottom=57, chin=8,
    ),
)

# ---------------------------------------------------------------- Kaggle Facial Keypoints 15
KAGGLE15_NAMES = (
    "left_eye_center", "right_eye_center",
    "left_eye_inner_corner", "left_eye_outer_corner",
    "right_eye_inner_corner", "right_eye_outer_corner",
    "left_eyebrow_inner_end", "left_eyebrow_outer_end",
    "right_eyebrow_inner_end", "right_eyebrow_outer_end",
    "nose_tip",
    "mouth_left_corner", "mouth_right_corner",
    "mouth_center_top_lip", "mouth_center_bottom_lip",
)  # the column order of Kaggle's training.csv (each name + "_x", "_y")

KAGGLE15 = KeypointSchema(
    id="kaggle15",
    title="Kaggle Facial Keypoints (15 points)",
    point_names=KAGGLE15_NAMES,
    flip_pairs=((0, 1), (2, 4), (3, 5), (6, 8), (7, 9), (11, 12)),
    edges=((3, 0), (0, 2), (5, 1), (1, 4), (7, 6), (9, 8), (11, 13), (13, 12), (12, 14), (14, 11)),
    right_eye=(1,),
    left_eye=(0,),
    outer_eye_corners=(5, 3),
    five_points=((1,), (0,), (10,), (12,), (11,)),
    regions={"eyes": (0, 1, 2, 3, 4, 5), "brows": (6, 7, 8, 9), "nose": (10,), "mouth": (11, 12, 13, 14)},
    anchors=_anchors(
        right_eye_outer=5, right_eye_inner=4, left_eye_inner=2, left_eye_outer=3, right_eye_centre=1, left_eye_centre=0,
        right_brow_outer=9, right_brow_inner=8, left_brow_inner=6, left_brow_outer=7,
        nose_tip=10, mouth_right=12, mouth_left=11, upper_lip_top=13, lower_lip_bottom=14,
    ),
)

#: For each Kaggle point, the iBUG-68 indices whose mean gives it.
KAGGLE15_FROM_IBUG68: tuple[IndexGroup, ...] = (
    tuple(range(42, 48)), tuple(range(36, 42)),
    (42,), (45,),
    (39,), (36,),
    (22,), (26,),
    (21,), (17,),
    (30,),
    (54,), (48,),
    (51,), (57,),
)


def ibug68_to_kaggle15(points: np.ndarray) -> np.ndarray:
    """Map (..., 68, 2) iBUG points to (..., 15, 2) Kaggle points (see the module docstring)."""
    return np.stack([points[..., list(g), :].mean(-2) for g in KAGGLE15_FROM_IBUG68], axis=-2)


def ibug68_yaw_deg(points: np.ndarray) -> np.ndarray:
    """(..., 68, 2) iBUG points -> (...) an estimate of how far each face is turned from the camera, in degrees
    (one sign for each way). Where the nose tip lies between the two ends of the jaw outline, measured along the
    eye line (so a rolled face reads the same, at any scale), is halfway on a frontal face and at an end on a
    profile; a share ``t`` in [0, 1] gives ``arcsin(2t - 1)``, the yaw of a head taken as a cylinder whose jaw
    ends are its silhouette. Rough, but it orders faces as the eye sees them: enough to sort test faces
    (``bench/yaw.py``) or balance training ones (``sampling="yaw"``)."""
    jaw = IBUG68.regions["jaw"]
    right_eye, left_eye = IBUG68.outer_eye_corners
    eye_line = points[..., left_eye, :] - points[..., right_eye, :]
    unit = eye_line / np.linalg.norm(eye_line, axis=-1, keepdims=True)
    along = [(points[..., i, :] * unit).sum(-1) for i in (jaw[0], IBUG68.anchors["nose_tip"][0], jaw[-1])]
    share = (along[1] - along[0]) / (along[2] - along[0])
    return np.degrees(np.arcsin(np.clip(2 * share - 1, -1.0, 1.0)))


# ---------------------------------------------------------------- IMM Frontal Face DB, 73 points
# Point groups as read off the .asf paths (mean shape checked by hand): 0-7 right brow, 8-15 left brow,
# 16-23 right eye, 24-31 left eye, 32/33 right/left pupil, 34-44 nose outline, 45 nose tip,
# 46-55 outer lip (46 right corner, 49 top centre, 52 left corner, 54 bottom centre),
# 56-58 upper inner lip, 59-61 lower inner lip, 62-72 jaw.
_IMM73_FLIP = (
    ((0, 8), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9))
    + ((16, 24), (17, 31), (18, 30), (19, 29), (20, 28), (21, 27), (22, 26), (23, 25))
    + ((32, 33),)
    + ((34, 44), (35, 43), (36, 42), (37, 41), (38, 40))
    + ((46, 52), (47, 51), (48, 50), (53, 55))
    + ((56, 58), (59, 61))
    + ((62, 72), (63, 71), (64, 70), (65, 69), (66, 68))
)
IMM73 = KeypointSchema(
    id="imm73",
    title="IMM Frontal Face DB (73 points)",
    point_names=tuple(
        [f"right_brow_{i}" for i in range(8)] + [f"left_brow_{i}" for i in range(8)]
        + [f"right_eye_{i}" for i in range(8)] + [f"left_eye_{i}" for i in range(8)]
        + ["right_pupil", "left_pupil"] + [f"nose_{i}" for i in range(11)] + ["nose_tip"]
        + [f"outer_lip_{i}" for i in range(10)] + [f"upper_inner_lip_{i}" for i in range(3)]
        + [f"lower_inner_lip_{i}" for i in range(3)] + [f"jaw_{i}" for i in range(11)]
    ),
    flip_pairs=_IMM73_FLIP,
    edges=(
        chain(range(0, 8), True) + chain(range(8, 16), True) + chain(range(16, 24), True)
        + chain(range(24, 32), True) + chain(range(34, 45)) + chain(range(46, 56), True)
        + chain(range(56, 59)) + chain(range(59, 62)) + chain(range(62, 73))
    ),
    right_eye=(32,),
    left_eye=(33,),
    outer_eye_corners=(16, 24),
    five_points=((32,), (33,), (45,), (46,), (52,)),
    regions={
        "brows": tuple(range(0, 16)), "eyes": tuple(range(16, 34)), "nose": tuple(range(34, 46)),
        "mouth": tuple(range(46, 62)), "jaw": tuple(range(62, 73)),
    },
    anchors=_anchors(
        right_eye_outer=16, right_eye_inner=20, left_eye_inner=28, left_eye_outer=24, right_eye_centre=32,
        left_eye_centre=33, right_brow_outer=0, right_brow_inner=4, left_brow_inner=12, left_brow_outer=8,
        nose_tip=45, mouth_right=46, mouth_left=52, upper_lip_top=49, lower_lip_bottom=54, chin=67,
    ),
)

# ---------------------------------------------------------------- nose tip only (seed 002 part 1)
NOSE1 = KeypointSchema(id="nose1", title="Nose tip (1 point)", point_names=("nose_tip",))

# ---------------------------------------------------------------- MediaPipe face mesh
# Landmark ids from MediaPipe's canonical face mesh: 33/133 right eye outer/inner corner, 263/362 left eye
# outer/inner corner, 1 nose tip, 61/291 right/left mouth corner, 0/17 upper/lower lip centre, 152 chin,
# 70/107 and 336/300 the outer/inner ends of the right/left brow's upper edge; 468 / 473 the refined iris centres.
_MP_RIGHT_EYE = (33, 133)
_MP_LEFT_EYE = (362, 263)


def _mediapipe_schema(num_points: int) -> KeypointSchema:
    iris = num_points == 478
    return KeypointSchema(
        id=f"mediapipe{num_points}",
        title=f"MediaPipe face mesh ({num_points} points)",
        point_names=tuple(f"mesh_{i}" for i in range(num_points)),
        right_eye=(468,) if iris else _MP_RIGHT_EYE,
        left_eye=(473,) if iris else _MP_LEFT_EYE,
        outer_eye_corners=(33, 263),
        five_points=((468,) if iris else _MP_RIGHT_EYE, (473,) if iris else _MP_LEFT_EYE, (1,), (61,), (291,)),
        anchors=_anchors(
            right_eye_outer=33, right_eye_inner=133, left_eye_inner=362, left_eye_outer=263,
            right_eye_centre=(468,) if iris else _MP_RIGHT_EYE, left_eye_centre=(473,) if iris else _MP_LEFT_EYE,
            right_brow_outer=70, right_brow_inner=107, left_brow_inner=336, left_brow_outer=300,
            nose_tip=1, mouth_right=61, mouth_left=291, upper_lip_top=0, lower_lip_bottom=17, chin=152,
        ),
    )


MEDIAPIPE468 = _mediapipe_schema(468)
MEDIAPIPE478 = _mediapipe_schema(478)

SCHEMAS: dict[str, KeypointSchema] = {
    s.id: s for s in (KAGGLE15, IMM73, IBUG68, MEDIAPIPE468, MEDIAPIPE478, NOSE1)
}


def get_schema(schema_id: str) -> KeypointSchema:
    """Look a schema up by id, with an error that lists the known ones."""
    try:
        return SCHEMAS[schema_id]
    except KeyError:
        raise KeyError(f"unknown keypoint schema {schema_id!r}; known: {', '.join(SCHEMAS)}") from None


def shared_anchors(a: KeypointSchema, b: KeypointSchema) -> list[str]:
    """Anchor names both schemas define, in :data:`ANCHOR_NAMES` order."""
    return [n for n in ANCHOR_NAMES if n in a.anchors and n in b.anchors]


def flip_horizontal(points: np.ndarray, width: float, schema: KeypointSchema) -> np.ndarray:
    """Mirror (..., K, 2) pixel points in an image of ``width`` and swap left/right labels.

    Uses the continuous pixel convention (a point at x maps to width - x), the one the dataset crops use. A layout
    with two eyes and no flip pairs (MediaPipe's meshes) raises ``ValueError`` (``KeypointSchema.flip_permutation``).
    """
    mirrored = points.copy()
    mirrored[..., 0] = width - mirrored[..., 0]
    return mirrored[..., schema.flip_permutation, :]
