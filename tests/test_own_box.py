"""A model trained on crops cut around other points than its own (``kaggle15``: 68 points, of which it predicts 15)
finds the box its crops were cut around from its own answer (``CheckpointMeta.own_box``), so it can refine a photo
and follow a webcam face as the other models do."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kpdemo.checkpoints import load_checkpoint
from kpdemo.datasets.kaggle15 import CROP_SCALE, own_box, train_own_box
from kpdemo.datasets.readers import KAGGLE_SIZE
from kpdemo.detection import CheckpointPredictor
from kpdemo.detection.crops import own_landmark_box
from kpdemo.geometry import square_crop_matrix, transform_points
from kpdemo.schemas import ibug68_to_kaggle15
from tests.test_live_network import pip_net, save
from tests.test_onnx_export import NoFaces
from trainers.tools import own_box as own_box_tool


def turned(points: np.ndarray, degrees: float) -> np.ndarray:
    """``points`` turned by ``degrees`` (image axes, so the eye line's angle grows by as much) about a point."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - [300.0, 250.0]) @ rotation.T + [300.0, 250.0]


def test_the_own_box_puts_a_turned_face_s_68_point_box_where_its_15_points_say(shipped: CheckpointPredictor,
                                                                             astronaut: np.ndarray) -> None:
    face = shipped.predict(astronaut)[0].points.astype(np.float64)
    crops = []
    for scale, shift in [(1.0, (0.0, 0.0)), (0.5, (30.0, -10.0)), (2.0, (-40.0, 25.0))]:  # one face, sizes and places
        points68 = face * scale + shift
        crop = square_crop_matrix(points68, CROP_SCALE, KAGGLE_SIZE)
        crops.append(transform_points(ibug68_to_kaggle15(points68), crop))
    fitted = own_box(np.stack(crops))
    for degrees in (0.0, 30.0, -75.0, 180.0):  # the box is found in the face's own upright frame, turned as it is
        points68 = turned(face, degrees)
        found = own_landmark_box(ibug68_to_kaggle15(points68), fitted, degrees)
        assert found == pytest.approx(own_landmark_box(points68, (), degrees), abs=1e-3)  # crop points are float32
    own = own_landmark_box(ibug68_to_kaggle15(face), ())
    whole = own_landmark_box(face, ())
    assert own[1] < whole[1] and own[2] < whole[2]  # the 68 points reach lower (the chin), wider


def test_a_model_with_an_own_box_cuts_its_crops_around_the_box_it_estimates(tmp_path: Path) -> None:
    shift = np.zeros((3, 31))
    shift[:, -1] = [0.1, -0.2, np.log(1.5)]  # the bias alone: the own box moved by (0.1, -0.2) sides, 1.5x as large
    estimate = tuple(tuple(row) for row in shift.tolist())
    plain = CheckpointPredictor(save(pip_net(1.0), tmp_path / "plain.pt", 1.0), detector=NoFaces())
    moved = CheckpointPredictor(save(pip_net(1.0), tmp_path / "moved.pt", 1.0, own_box=estimate), detector=NoFaces())
    assert moved.meta.own_box == estimate  # read back as saved
    points = np.random.default_rng(0).uniform(100, 200, (15, 2))
    cx, cy, side = plain.landmark_box(points, 90.0)  # turned a quarter: the window's x axis is the image's y axis
    assert moved.landmark_box(points, 90.0) == pytest.approx((cx + 0.2 * side, cy + 0.1 * side, 1.5 * side))
    assert not np.allclose(moved.crop_around(points, angle=90.0), plain.crop_around(points, angle=90.0))


@pytest.mark.needs_data
def test_the_tool_gives_an_older_kaggle15_checkpoint_its_train_split_s_own_box(tmp_path: Path) -> None:
    path = save(pip_net(1.0), tmp_path / "kaggle15_old.pt", 1.0, dataset="kaggle15", refine=False)
    with pytest.raises(SystemExit) as stale:
        own_box_tool.main([str(path), "--check"])
    assert stale.value.code == 1
    weights_before = load_checkpoint(path)[0]
    own_box_tool.main([str(path)])
    weights, meta = load_checkpoint(path)
    assert meta.refine and meta.own_box == train_own_box()
    assert all((weights[k] == weights_before[k]).all() for k in weights)  # the weights are untouched
    with pytest.raises(SystemExit) as current:
        own_box_tool.main([str(path), "--check"])
    assert current.value.code == 0
    shutil.copy(path, tmp_path / "again.pt")
    own_box_tool.main([str(tmp_path / "again.pt")])  # already current: nothing to change
    assert (tmp_path / "again.pt").read_bytes() == path.read_bytes()


def test_the_tool_refuses_a_checkpoint_whose_crops_were_cut_around_its_own_points(tmp_path: Path) -> None:
    path = save(pip_net(1.0), tmp_path / "own.pt", 1.0, dataset="ibug300w")
    with pytest.raises(SystemExit, match="no own box"):
        own_box_tool.main([str(path)])
