"""The PIP landmark family: decoding, its loss, the quick CPU profile of its grid, and resuming a stopped run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from kpdemo.models import build_model
from kpdemo.models.pip import cell_targets, decode_cells, merge_matrix, nearest_neighbors
from kpdemo.training.augment import center_view, get_augmentation
from kpdemo.training.losses import WING_W, masked_loss


def perfect_maps(model: torch.nn.Module, points: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The head outputs a perfect PIP model would give for ``points``: one-hot scores, exact own and neighbour
    offsets from each point's cell (the training targets of ``landmark_loss``)."""
    n, k, _ = points.shape
    index, grid = cell_targets(points, model.map_hw)
    corner = decode_cells(index, model.map_hw)
    cells = model.map_hw[0] * model.map_hw[1]
    scores = F.one_hot(index, cells).float()
    place = F.one_hot(index, cells).float()[:, :, None]  # (N, K, 1, HW): the value sits at the point's own cell
    offsets = (grid - corner)[..., None] * place
    near = grid[:, model.neighbor_index] - corner[:, :, None]  # (N, K, C, 2)
    neighbor = near[..., None] * place[:, :, None]
    return scores, offsets, neighbor


def test_decoding_a_perfect_target_gives_the_points_back() -> None:
    torch.manual_seed(0)
    model = build_model("pip", num_points=68, in_channels=3, input_size=128, neighbors=10)
    points = torch.rand(4, 68, 2) * 1.6 - 0.8
    model.fit_shapes(points.numpy())
    decoded = model.decode(*perfect_maps(model, points)).reshape(points.shape)
    assert torch.allclose(decoded, points, atol=1e-5)


def test_neighbour_merge_averages_every_estimate_of_a_point() -> None:
    shape = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], np.float32)
    table = nearest_neighbors(shape, 2)
    assert set(table[0]) == {1, 2} and 3 not in table[:3]
    merge = merge_matrix(table)
    assert np.allclose(merge.sum(1), 1) and merge.shape == (4, 4 + 8)


def test_loss_is_lowest_at_the_perfect_target() -> None:
    """``landmark_loss`` of maps equal to the target is zero; a shifted target costs more (checked through the maps
    by monkeypatching the network: the loss is a function of the maps alone)."""
    torch.manual_seed(0)
    model = build_model("pip", num_points=5, in_channels=1, input_size=64, neighbors=2)
    points = torch.rand(3, 5, 2) * 1.6 - 0.8
    model.fit_shapes(points.numpy())
    mask = torch.ones(3, 5, dtype=torch.bool)
    target_maps = perfect_maps(model, points)
    model.maps = lambda x: target_maps  # type: ignore[method-assign]
    x = torch.zeros(3, 1, 64, 64)
    assert float(model.landmark_loss(x, points, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(model.landmark_loss(x, points + 0.3, mask)) > 0.1


def test_wing_loss_is_log_shaped_below_w_and_linear_above() -> None:
    target = torch.zeros(1, 1, 2)
    mask = torch.ones(1, 1, dtype=torch.bool)
    small = [float(masked_loss(torch.full((1, 2), e), target, mask, "wing")) for e in (0.01, 0.02)]
    large = [float(masked_loss(torch.full((1, 2), e), target, mask, "wing")) for e in (2 * WING_W, 3 * WING_W)]
    assert small[1] < 2 * small[0]  # concave near zero: small errors keep a strong gradient
    assert large[1] - large[0] == pytest.approx(WING_W, rel=1e-4)  # slope 1 beyond w


def test_wild_augmentation_keeps_points_on_the_pixels() -> None:
    """A bright dot moved by the 'wild' policy (flip, rotation, zoom, shift) is still under its point; occlusion,
    blur and colour leave the points alone. The stored crop is 1.25x the model's (context), as in training."""
    n, size = 16, 160
    points = torch.rand(n, 1, 2) * 0.8 - 0.4
    images = torch.zeros(n, 3, size, size)
    px = ((points[:, 0] + 1) / 2 * size).long()
    for i in range(n):
        images[i, :, px[i, 1] - 2:px[i, 1] + 3, px[i, 0] - 2:px[i, 0] + 3] = 1.0
    policy = replace(get_augmentation("wild"), occlusion=0.0, blur=0.0, color=0.0, gray=0.0)
    out, moved, _ = policy(images, points, torch.ones(n, 1, dtype=torch.bool), torch.zeros(1, dtype=torch.long),
                           torch.Generator().manual_seed(0), context=1.25)
    assert out.shape[-2:] == (128, 128)
    for i in range(n):
        x, y = ((moved[i, 0] + 1) / 2 * 128).long().tolist()
        if 2 <= x < 126 and 2 <= y < 126:
            assert out[i, :, y - 1:y + 2, x - 1:x + 2].max() > 0.5
    view, scaled = center_view(images, points, 1.25)
    assert view.shape[-2:] == (128, 128) and torch.allclose(scaled, points * 1.25)


@pytest.mark.needs_data
def test_quick_pip_run_learns_and_resumes(tmp_path: Path) -> None:
    """The grid's quick CPU profile of the PIP family: a complete record, a falling loss; then the same run
    stopped after its first epoch and resumed (``--resume``) ends with the same history as run straight through."""
    from trainers.engine.train import RESUME_NAME, run_config
    from trainers.grids import get_experiment

    base = next(c for c in get_experiment("landmarks").configs if c.tag == "pip_r18")
    config = replace(base, epochs=3, train_subset=96, eval_subset=32, batch_size=16, device="cpu")
    straight = run_config(config, tmp_path / "straight", show_progress=False)
    record = json.loads((straight / "record.json").read_text())
    history = pd.read_csv(straight / "history.csv")
    assert record["status"] == "done" and record["checkpoint"] == "best.pt" and record["test"]["nme"] > 0
    assert list(history["epoch"]) == [1, 2, 3] and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert not (straight / RESUME_NAME).exists()

    epochs_seen: list[int] = []
    stopped = run_config(config, tmp_path / "resumed", show_progress=False,
                         on_epoch=lambda row: epochs_seen.append(row["epoch"]), should_stop=lambda: bool(epochs_seen))
    assert json.loads((stopped / "record.json").read_text())["status"] == "stopped"
    assert (stopped / RESUME_NAME).exists()
    resumed = run_config(config, tmp_path / "resumed", show_progress=False, resume=True)
    again = pd.read_csv(resumed / "history.csv")
    assert json.loads((resumed / "record.json").read_text())["status"] == "done"
    assert list(again["epoch"]) == [1, 2, 3]
    for column in ("train_loss", "val_loss", "val_nme"):
        assert np.allclose(again[column], history[column], rtol=1e-4), column


def test_starting_weights_keep_the_neighbour_table_they_were_trained_with() -> None:
    """A run from weights keeps their fitted table: its neighbour offsets were learnt against it, and a refit on
    other shapes (a subset, another dataset) pairs them with the wrong points. A fresh model, or one whose table did
    not come with the weights, is fitted."""
    from trainers.engine.train import fit_data_layers
    from trainers.engine.weights import copy_matching

    rng = np.random.default_rng(0)
    trained, other = rng.uniform(-0.8, 0.8, (30, 68, 2)), rng.uniform(-0.8, 0.8, (30, 68, 2))
    source = build_model("pip", num_points=68, in_channels=3, input_size=128, neighbors=10)
    source.fit_shapes(trained)
    started = build_model("pip", num_points=68, in_channels=3, input_size=128, neighbors=10)
    left = copy_matching(started, source.state_dict())
    fit_data_layers(started, other, brought=set(started.state_dict()) - set(left))
    assert torch.equal(started.neighbor_index, source.neighbor_index)
    assert torch.equal(started.merge, source.merge)

    fresh = build_model("pip", num_points=68, in_channels=3, input_size=128, neighbors=10)
    fit_data_layers(fresh, other, brought=set())
    refit = build_model("pip", num_points=68, in_channels=3, input_size=128, neighbors=10)
    refit.fit_shapes(other)
    assert torch.equal(fresh.neighbor_index, refit.neighbor_index)
    assert not torch.equal(fresh.neighbor_index, source.neighbor_index)  # the two shape sets give other tables
