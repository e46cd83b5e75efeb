"""Crop sets labelled by a teacher (``trainers.engine.pseudo_labels``): the shipped IMM model on the astronaut."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kpdemo.datasets import LandmarkSet
from kpdemo.schemas import flip_horizontal, get_schema
from trainers.engine.pseudo_labels import distillation_set, teacher_points

TEACHER = Path(__file__).parents[1] / "checkpoints" / "imm73_pip.pt"
CONTEXT = 1.25  # 160 px stored crops, the teacher's 128 px view


def _crop(image: np.ndarray, centre: tuple[float, float], side: float) -> np.ndarray:
    x, y = centre
    box = image[int(y - side / 2):int(y + side / 2), int(x - side / 2):int(x + side / 2)]
    return cv2.resize(box, (160, 160), interpolation=cv2.INTER_AREA)


def _crops(images: list[np.ndarray], schema: str, splits: list[str], name: str) -> LandmarkSet:
    n, k = len(images), get_schema(schema).num_points
    return LandmarkSet(name, schema, np.full((n, k, 2), 80.0, np.float32), np.array(splits, dtype=object),
                       np.array([f"id{i}" for i in range(n)], dtype=object),
                       np.array([f"src{i}" for i in range(n)], dtype=object), images=np.stack(images))


@pytest.fixture
def faces(astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[np.ndarray]:
    monkeypatch.setenv("KPDEMO_CACHE", str(tmp_path))
    return [_crop(astronaut, (225.0 + dx, 120.0 + dy), side) for dx, dy, side in ((0, 0, 170), (8, -6, 150))]


def test_teacher_points_do_not_depend_on_which_way_the_face_looks(faces: list[np.ndarray]) -> None:
    """Each answer averages the teacher on the crop and on its mirror, so a mirrored crop gets the mirrored answer;
    a wrong label swap or mirror convention would break this by pixels, not by rounding."""
    schema = get_schema("imm73")
    plain = teacher_points(TEACHER, _crops(faces, "ibug68", ["train"] * 2, "faces"), CONTEXT)
    mirrored = teacher_points(TEACHER, _crops([f[:, ::-1] for f in faces], "ibug68", ["train"] * 2, "mirrored"),
                              CONTEXT)
    assert plain.shape == (2, schema.num_points, 2)
    np.testing.assert_allclose(flip_horizontal(mirrored, 160, schema), plain, atol=1e-3)
    # on the face: the points span the middle of the crop, as the teacher was trained to place them
    assert np.all((plain > 10) & (plain < 150))
    assert 40 < np.ptp(plain[0, :, 0]) < 140


def test_teacher_points_are_cached(faces: list[np.ndarray], tmp_path: Path) -> None:
    data = _crops(faces, "ibug68", ["train"] * 2, "faces")
    first = teacher_points(TEACHER, data, CONTEXT)
    assert len(list(tmp_path.glob("pseudo-*.npy"))) == 1
    np.testing.assert_array_equal(teacher_points(TEACHER, data, CONTEXT), first)


def test_distillation_set_repeats_the_real_train_faces_and_keeps_the_pupils_mapped_splits(
        faces: list[np.ndarray]) -> None:
    real = _crops([faces[0]] * 3, "imm73", ["train", "val", "test"], "real")
    pupils = _crops(faces, "ibug68", ["train", "test"], "pupils")
    data = distillation_set("distilled", real, [(pupils, {"train": "train"})], TEACHER, CONTEXT, real_repeats=4)
    assert data.schema.id == "imm73"
    assert sorted(data.splits) == ["test", "train", "train", "train", "train", "train", "val"]
    np.testing.assert_array_equal(data.points[:3], real.points)  # the real faces keep their own points
    np.testing.assert_allclose(data.points[-1], teacher_points(TEACHER, pupils.select(np.array([0])), CONTEXT)[0])
    with pytest.raises(ValueError, match="imm73"):
        distillation_set("wrong", pupils, [], TEACHER, CONTEXT, real_repeats=1)


def test_a_distilled_set_reads_its_held_out_faces_from_the_real_set_alone() -> None:
    """Scoring a companion on its val or test faces must not wait for a teacher to label thousands of train faces."""
    from kpdemo.datasets import get_dataset

    spec = get_dataset("imm73_distill_wide160")
    assert [spec.held_out_name(split) for split in ("train", "val", "test")] == \
        ["imm73_distill_wide160", "imm_wide160", "imm_wide160"]
    assert get_dataset("imm_wide160").held_out_name("test") == "imm_wide160"
