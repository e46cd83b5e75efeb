"""The live-frame network: a half-width PIP ResNet18, seeded from a full-width one, run on webcam frames.

Slimming (:mod:`trainers.engine.slim`) is checked exactly: a full-width network whose dropped channels are dead
(batch-norm scale and shift zero, so they output nothing) computes the same function as its slimmed copy, which
holds only when every conv, batch norm and head kept the right channels on both sides. The companion checks build
tiny checkpoints under ``tmp_path``: a ``<stem>_live.pt`` beside a checkpoint reads its live frames (by default where
the CPU lacks int8 dot products), photos keep the checkpoint's own network, and a companion that reads crops another
way is refused with a warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from kpdemo.checkpoints import CheckpointMeta, save_checkpoint
from kpdemo.detection import cpu
from kpdemo.detection.checkpoint import CheckpointPredictor, live_companion_path
from kpdemo.detection.cpu import LIVE_COMPANION_ENV
from kpdemo.models import build_model
from kpdemo.models.pip import PIPNet
from kpdemo.schemas import KAGGLE15
from tests.test_onnx_export import NoFaces
from trainers.engine.weights import init_weights_from

SIZE = (64, 64)


def pip_net(width: float, seed: int = 0) -> PIPNet:
    torch.manual_seed(seed)
    model = build_model("pip", num_points=KAGGLE15.num_points, in_channels=3, input_size=SIZE, neighbors=4,
                        width=width)
    model.fit_shapes(np.random.default_rng(0).uniform(-0.8, 0.8, (20, KAGGLE15.num_points, 2)))
    with torch.no_grad():  # real-sized heads, so the decoded argmax cells are not near-ties
        model.score.weight.normal_(std=0.5)
        model.offset.weight.normal_(std=0.05)
    return model.eval()


def kill_half(model: PIPNet, seed: int = 1) -> None:
    """Zero the scale and shift of a random half of every batch norm's channels, the same half for every batch norm
    writing into one residual stream, and randomise the running statistics so nothing lines up by accident."""
    rng = np.random.default_rng(seed)
    conv1, bn1, _, _, *layers = model.trunk

    def dead(width: int) -> np.ndarray:
        return rng.permutation(width)[: width // 2]

    def kill(bn: nn.BatchNorm2d, channels: np.ndarray) -> None:
        with torch.no_grad():
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight[channels] = 0
            bn.bias[channels] = 0

    stream = dead(bn1.num_features)
    kill(bn1, stream)
    for layer in layers:
        if layer[0].downsample is not None:
            stream = dead(layer[0].bn2.num_features)
        for block in layer:
            kill(block.bn1, dead(block.bn1.num_features))
            kill(block.bn2, stream)
            if block.downsample is not None:
                kill(block.downsample[1], stream)


def save(model: PIPNet, path: Path, width: float, **changes: object) -> Path:
    meta = CheckpointMeta(**{"model": "pip", "schema": KAGGLE15.id, "input_size": SIZE, "in_channels": 3,
                             "model_kwargs": {"neighbors": 4, "width": width}, "dataset": "test", "refine": True}
                          | changes)
    save_checkpoint(path, model.state_dict(), meta)
    return path


def test_a_slimmed_network_computes_what_the_wide_one_did_without_its_dead_channels(tmp_path: Path) -> None:
    wide = pip_net(1.0)
    kill_half(wide)
    slim = pip_net(0.5, seed=5)
    assert slim.trunk[0].out_channels == wide.trunk[0].out_channels // 2
    record = init_weights_from(slim, str(save(wide, tmp_path / "wide.pt", 1.0)), tmp_path, "landmarks")
    assert record["weights_slimmed"] is True
    x = torch.randn(3, 3, *SIZE)
    with torch.no_grad():
        for ours, theirs in zip(slim.maps(x), wide.maps(x), strict=True):
            torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(slim(x), wide(x))


def test_weights_of_the_same_width_are_copied_not_slimmed(tmp_path: Path) -> None:
    source, target = pip_net(0.5, seed=1), pip_net(0.5, seed=2)
    record = init_weights_from(target, str(save(source, tmp_path / "same.pt", 0.5)), tmp_path, "landmarks")
    assert "weights_slimmed" not in record and record["weights_not_copied"] == []
    torch.testing.assert_close(target.trunk[0].weight, source.trunk[0].weight)


def test_a_live_companion_reads_the_live_frames_and_photos_keep_the_full_network(tmp_path: Path) -> None:
    full = save(pip_net(1.0), tmp_path / "faces.pt", 1.0)
    live = save(pip_net(0.5, seed=3), live_companion_path(full), 0.5)
    assert live.name == "faces_live.pt"
    predictor = CheckpointPredictor(full, detector=NoFaces(), live=True)
    assert predictor.live_network == "faces_live"
    assert predictor.video_backend.endswith("(faces_live)")
    crops = np.random.default_rng(0).integers(0, 256, (2, *SIZE, 3), dtype=np.uint8)
    companion = CheckpointPredictor(live, detector=NoFaces())
    np.testing.assert_allclose(predictor.predict_crops(crops, video=True), companion.predict_crops(crops), atol=1e-4)
    alone = CheckpointPredictor(full, detector=NoFaces(), live=False)
    assert alone.live_network is None
    np.testing.assert_allclose(predictor.predict_crops(crops), alone.predict_crops(crops), atol=1e-4)
    assert not np.allclose(predictor.predict_crops(crops, video=True), predictor.predict_crops(crops), atol=1e-2)


def test_a_companion_that_cuts_its_crops_otherwise_is_refused(tmp_path: Path) -> None:
    full = save(pip_net(1.0), tmp_path / "faces.pt", 1.0)
    save(pip_net(0.5), live_companion_path(full), 0.5, crop_scale=1.4)
    with pytest.warns(RuntimeWarning, match="faces_live.pt not used: its crop_scale differ"):
        predictor = CheckpointPredictor(full, detector=NoFaces(), live=True)
    assert predictor.live_network is None and not predictor.video_backend.endswith(")")
    assert predictor._second_opinion is None  # nor asked for a second opinion on photos


@pytest.mark.parametrize(("setting", "int8_dots", "expected"), [
    ("auto", False, "faces_live"), ("auto", True, None), ("1", True, "faces_live"), ("0", False, None)])
def test_the_companion_reads_live_frames_where_the_cpu_lacks_int8_dot_products_unless_told(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, int8_dots: bool, expected: str | None) -> None:
    full = save(pip_net(1.0), tmp_path / "faces.pt", 1.0)
    save(pip_net(0.5), live_companion_path(full), 0.5)
    monkeypatch.setattr(cpu, "has_int8_dot_product", lambda: int8_dots)
    monkeypatch.setenv(LIVE_COMPANION_ENV, setting)
    assert CheckpointPredictor(full, detector=NoFaces()).live_network == expected
    monkeypatch.setenv(LIVE_COMPANION_ENV, "yes")
    with pytest.raises(ValueError, match="KPDEMO_LIVE_COMPANION='yes': use 1"):
        CheckpointPredictor(full, detector=NoFaces())
