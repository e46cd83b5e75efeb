"""Schema invariants: flips are involutions that keep labels meaningful; semantic indices sit where they should."""

from __future__ import annotations

import numpy as np
import pytest

from kpdemo.schemas import (
    IBUG68,
    IMM73,
    KAGGLE15,
    SCHEMAS,
    flip_horizontal,
    get_schema,
    ibug68_to_kaggle15,
    ibug68_yaw_deg,
)
from tests.fixtures.make_fixtures import MEAN68, turned_cylinder_points

FLIPPABLE = [s for s in SCHEMAS.values() if s.flip_pairs or not s.has_eyes]


@pytest.mark.parametrize("schema", FLIPPABLE, ids=[s.id for s in FLIPPABLE])
def test_flip_twice_is_identity(schema) -> None:
    pts = np.random.default_rng(1).uniform(0, 96, (4, schema.num_points, 2)).astype(np.float32)
    np.testing.assert_allclose(flip_horizontal(flip_horizontal(pts, 96, schema), 96, schema), pts, atol=1e-4)


def test_ibug68_flip_matches_manifest_permutation() -> None:
    perm = IBUG68.flip_permutation
    assert [perm[i] for i in (0, 8, 17, 21, 27, 30, 31, 36, 39, 48, 51, 57, 60, 62, 66)] == [
        16, 8, 26, 22, 27, 30, 35, 45, 42, 54, 51, 57, 64, 62, 66
    ]
    assert sorted(perm) == list(range(68))


@pytest.mark.parametrize("schema_id", ["mediapipe468", "mediapipe478"])
def test_a_two_eyed_layout_without_flip_pairs_is_not_mirrored(schema_id: str) -> None:
    """Mirrored without swapping, a mesh's right-eye points would sit on the left eye under their old labels."""
    schema = get_schema(schema_id)
    with pytest.raises(ValueError, match=f"{schema_id}.*no left/right flip pairs"):
        flip_horizontal(np.zeros((schema.num_points, 2), np.float32), 96, schema)


def test_flipped_mean_face_is_still_a_face() -> None:
    """Mirroring a symmetric face and swapping labels should give (almost) the same face back."""
    face = (MEAN68 * 100)[None]
    np.testing.assert_allclose(flip_horizontal(face, 100, IBUG68), face, atol=3.5)


def test_subject_right_eye_is_on_image_left() -> None:
    face = (MEAN68 * 100)[None]
    right, left = IBUG68.eye_centres(face)
    assert right[0, 0] < left[0, 0]
    kag = ibug68_to_kaggle15(face)
    k_right, k_left = KAGGLE15.eye_centres(kag)
    np.testing.assert_allclose(k_right, right)
    np.testing.assert_allclose(k_left, left)
    assert kag[0, 11, 0] > kag[0, 12, 0]  # mouth_left_corner is on the image right


def test_kaggle15_mapping_uses_documented_points() -> None:
    face = np.arange(68 * 2, dtype=float).reshape(1, 68, 2)
    kag = ibug68_to_kaggle15(face)
    np.testing.assert_allclose(kag[0, 10], face[0, 30])  # nose tip
    np.testing.assert_allclose(kag[0, 0], face[0, 42:48].mean(0))  # left eye centre


def test_imm73_five_points_and_regions_cover_all() -> None:
    covered = sorted(i for idx in IMM73.regions.values() for i in idx)
    assert covered == list(range(73))
    assert IMM73.five_points[0] == (32,) and IMM73.five_points[1] == (33,)


def test_unknown_schema_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="kaggle15"):
        get_schema("nope")


def test_ibug68_yaw_reads_a_cylinder_heads_turn_whatever_its_roll() -> None:
    """A head taken as a cylinder turned by each yaw (:func:`turned_cylinder_points`), rolled in the picture's plane,
    scaled and moved: the estimate is the yaw it was drawn with, signed by the way it turns."""
    yaws = np.array([-70.0, -30.0, 0.0, 20.0, 55.0])
    roll = np.radians(35.0)
    turn = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    pictured = 80 * turned_cylinder_points(yaws) @ turn.T + [320, 240]
    np.testing.assert_allclose(ibug68_yaw_deg(pictured), yaws, atol=1e-9)
