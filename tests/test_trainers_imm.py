"""Seed 002/003 trainers: PCA shape head, weight transfer, the albumentations pipeline (no data needed), and the
``--quick`` CPU profile of ``imm_nose``, ``imm_full``, ``w300`` (pre-train -> fine-tune) and ``w300_pca`` on the
real datasets: a complete record, a finished checkpoint and a training loss that went down."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kpdemo.models import build_model, load_model
from kpdemo.models.pca_head import PCAHead, pca_components
from kpdemo.schemas import get_schema
from kpdemo.training.albu import AlbumentationsAugmentation
from kpdemo.training.tensors import points_from_network, points_to_network
from trainers.__main__ import main as trainers_main
from trainers.engine.weights import copy_matching, resolve_weights
from trainers.grids import EXPERIMENTS

TINY = ["--quick", "--set", "train_subset=32", "--set", "eval_subset=32", "--epochs", "3"]


def test_pca_head_spans_the_training_shapes() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 5, 2))
    shapes = base + rng.normal(size=(200, 2, 1, 1)).sum(1) * 0.1 + rng.normal(size=(200, 5, 2)) * 1e-4
    needed, mean, *_ = pca_components(shapes, 0.99)
    assert needed <= 3
    head = PCAHead(8, 5, needed)
    head.fit_shapes(shapes)
    with torch.no_grad():
        out = head(torch.zeros(1, 8)).numpy()
    np.testing.assert_allclose(out[0], mean, atol=1e-5)  # zero coefficients = the mean shape


def test_copy_matching_sums_rgb_kernels_into_a_gray_net() -> None:
    rgb = build_model("resnet18", num_points=68, in_channels=3, input_size=64, stages=3)
    gray = build_model("resnet18", num_points=68, in_channels=1, input_size=64, stages=3, head="pca",
                       pca_components=5)
    left = copy_matching(gray, rgb.state_dict())
    assert all(k.startswith("fc.") for k in left)
    torch.testing.assert_close(gray.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))


def test_resolve_weights_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        resolve_weights(str(tmp_path / "nope.pth"), tmp_path, "w300")
    with pytest.raises(FileNotFoundError, match="no finished run tagged 'pretrain_ytf'"):
        resolve_weights("run:pretrain_ytf", tmp_path, "w300")


def test_a_run_a_time_budget_stopped_is_a_start_a_failed_one_is_not(tmp_path: Path) -> None:
    """The GPU campaign's deadline may stop the 68-point run its fine-tunes start from (``run:pip_r18``): its best
    checkpoint is complete, so they start from it; a failed run is never a start."""
    from kpdemo.runs import RunWriter

    for name, status in (("a", "stopped"), ("b", "failed")):
        writer = RunWriter(tmp_path, "landmarks", name, {"tag": "main" if status == "stopped" else "broken"}, {})
        writer.finish(status, checkpoint="best.pt")
        (writer.dir / "best.pt").write_bytes(b"weights")  # resolve_weights checks it is there, not what it holds
    assert resolve_weights("run:main", tmp_path, "landmarks") == tmp_path / "landmarks" / "a" / "best.pt"
    with pytest.raises(FileNotFoundError, match="no finished run tagged 'broken'"):
        resolve_weights("run:broken", tmp_path, "landmarks")


def test_albumentations_moves_points_with_the_image_and_swaps_labels() -> None:
    """Draw a bright dot at each of two labelled points; after augmentation each label still sits on a dot."""
    schema = get_schema("nose1")
    h = w = 64
    pts = np.array([[[20.5, 30.5]], [[40.5, 22.5]]], np.float32)
    images = torch.zeros(2, 1, h, w)
    for i, (x, y) in enumerate(pts[:, 0]):
        images[i, 0, int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = 1.0
    aug = AlbumentationsAugmentation(flip=True)
    perm = torch.from_numpy(schema.flip_permutation)
    torch.manual_seed(0)
    out, moved, _ = aug(images, torch.from_numpy(points_to_network(pts, h, w)), torch.ones(2, 1, dtype=torch.bool),
                        perm)
    for i in range(2):
        x, y = points_from_network(moved[i].numpy(), h, w)[0]
        yy, xx = np.unravel_index(int(out[i, 0].argmax()), (h, w))
        assert abs(xx + 0.5 - x) < 2.5 and abs(yy + 0.5 - y) < 2.5


def test_flip_swaps_imm73_left_and_right_eyes() -> None:
    schema = get_schema("imm73")
    perm = torch.from_numpy(schema.flip_permutation)
    points = torch.zeros(1, 73, 2)
    points[0, 32] = torch.tensor([-0.5, 0.0])  # right pupil on the image's left
    images = torch.zeros(1, 1, 8, 8)
    aug = AlbumentationsAugmentation(flip=True)
    from kpdemo.training.augment import flip_batch

    _, flipped, _ = flip_batch(images, points, torch.ones(1, 73, dtype=torch.bool), perm, torch.tensor([True]))
    assert flipped[0, 33, 0] == pytest.approx(0.5)  # the mirrored right pupil is now the left pupil
    assert aug.active


def _check_quick_run(run_dir: Path, test_keys: tuple[str, ...]) -> dict:
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "done" and record["best"] and record["checkpoint"]
    assert set(test_keys) <= set(record["test"]), record["test"]
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == record["config"]["epochs"]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    model, meta = load_model(run_dir / record["checkpoint"])
    assert meta.crop_scale == pytest.approx(1.2) and meta.model == record["config"]["model"]
    return record


@pytest.mark.needs_data
def test_imm_quick_runs_record_errors_and_figures(tmp_path: Path) -> None:
    assert trainers_main(["imm_nose", *TINY, "--only", "adam_lr0.001_n", "--runs", str(tmp_path)]) == 0
    (nose,) = (tmp_path / "imm_nose-quick").iterdir()
    _check_quick_run(nose, ("mean_px", "mean_px_800x600", "nme_box"))
    assert (nose / "predictions_val.png").stat().st_size > 1000
    assert trainers_main(["imm_full", *TINY, "--only", "face128_immnet_default_adam_lr0.001_cosine_albu",
                          "--runs", str(tmp_path)]) == 0
    (full,) = (tmp_path / "imm_full-quick").iterdir()
    record = _check_quick_run(full, ("nme", "mean_px", "nme_jaw"))
    assert record["config"]["augmentation"] == "albu_seed002"
    assert (full / "filters.png").exists()


@pytest.mark.needs_data
def test_w300_quick_pretrain_then_finetune_and_pca(tmp_path: Path) -> None:
    assert trainers_main(["w300", *TINY, "--only", "pretrain_ytf", "--runs", str(tmp_path)]) == 0
    assert trainers_main(["w300", *TINY, "--only", "finetune", "--runs", str(tmp_path)]) == 0
    folders = (tmp_path / "w300-quick").iterdir()  # by tag: the set eval subset puts eval32 in each name
    runs = {json.loads((p / "record.json").read_text())["config"]["tag"]: p for p in folders}
    record = _check_quick_run(runs["finetune"], ("common_nme", "common_nme_jaw", "common_nme_mouth"))
    assert record["env"]["weights_file"].startswith(f"w300-quick/{runs['pretrain_ytf'].name}/")
    assert trainers_main(["w300_pca", *TINY, "--runs", str(tmp_path)]) == 0
    (pca,) = (tmp_path / "w300_pca-quick").iterdir()
    record = _check_quick_run(pca, ("common_nme", "pca_components_99pct"))
    assert record["test"]["pca_components_used"] == EXPERIMENTS["w300_pca"].configs[0].model_kwargs["pca_components"]
