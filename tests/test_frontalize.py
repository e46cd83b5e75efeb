"""Seed 004 (learned face alignment): pairing, SSIM, the seed's networks, a quick polygons run, the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kpdemo.checkpoints import CheckpointError, load_checkpoint
from kpdemo.datasets.derived import ALIGNED_SIDE
from kpdemo.frontalize import (
    FrontalizerError,
    frontalize,
    frontalness,
    l1_gray,
    load_frontalizer,
    most_frontal_pairs,
    ssim,
)
from kpdemo.frontalize.model import DEFAULT_CHECKPOINT, FrontalizerMeta, model_note, save_frontalizer
from kpdemo.frontalize.polygons import mirror, triangle_pairs
from kpdemo.models.autoencoder import SIDE, PatchDiscriminator, SharedEncoderNet, build_decoder, build_encoder
from kpdemo.runs import read_record
from trainers.grids.align import FIGURES

# A toy 3-D face in the iBUG 68 layout, only the points frontalness and alignment read: jaw ends (0, 16), nose tip
# (30) in front of the face plane, mouth corners (48, 54) and the two eyes (36-41 right, 42-47 left, little rings).
FACE_3D = np.zeros((68, 3))
FACE_3D[0], FACE_3D[16], FACE_3D[30] = (-70, 0, -20), (70, 0, -20), (0, 20, 40)
FACE_3D[48], FACE_3D[54] = (-25, 60, 0), (25, 60, 0)
for first, cx in ((36, -35), (42, 35)):
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    FACE_3D[first:first + 6] = np.stack([cx + 8 * np.cos(angles), -20 + 4 * np.sin(angles), np.zeros(6)], 1)


def project(yaw_deg: float, roll_deg: float = 0.0, scale: float = 1.0, shift=(100.0, 100.0)) -> np.ndarray:
    """(68, 2) image points of the toy face turned by ``yaw`` then rolled in the image plane."""
    yaw, roll = np.radians(yaw_deg), np.radians(roll_deg)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    xy = (FACE_3D @ turn.T)[:, :2]
    spin = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    return scale * xy @ spin.T + np.asarray(shift)


def test_frontalness_is_one_when_frontal_and_falls_with_yaw() -> None:
    scores = frontalness(np.stack([project(y) for y in (0, 10, 25, 40)]))
    assert scores[0] == pytest.approx(1.0)
    assert np.all(np.diff(scores) < 0)
    assert frontalness(project(-25)) == pytest.approx(scores[2])  # left and right turns score alike


def test_frontalness_ignores_roll_scale_and_position() -> None:
    assert frontalness(project(20, roll_deg=30, scale=2.5, shift=(10, 300))) == pytest.approx(frontalness(project(20)))


def test_pairs_point_every_frame_at_the_persons_most_frontal_frame() -> None:
    yaws = [30, 0, 15, -20, 35, 5, 25, 40]
    people = np.array(["ann", "ann", "ann", "bob", "bob", "bob", "cat", None], dtype=object)
    scores = frontalness(np.stack([project(y) for y in yaws]))
    inputs, targets = most_frontal_pairs(people, scores)
    assert dict(zip(inputs.tolist(), targets.tolist(), strict=True)) == {0: 1, 2: 1, 3: 5, 4: 5}
    assert 6 not in inputs and 7 not in inputs  # one-frame person without self pairs; frame without identity
    inputs, targets = most_frontal_pairs(people, scores, include_self=True)
    assert (1, 1) in zip(inputs.tolist(), targets.tolist(), strict=True) and (6, 6) in zip(inputs, targets, strict=True)
    with pytest.raises(ValueError, match="identities"):
        most_frontal_pairs(people[:3], scores)


def test_ssim_identities_and_ordering() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 64, 64, generator=gen)
    assert torch.allclose(ssim(x, x), torch.ones(3))
    noisy = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    noisier = (x + 0.3 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    assert torch.allclose(ssim(x, noisy), ssim(noisy, x), atol=1e-6)
    assert torch.all(ssim(x, noisier) < ssim(x, noisy)) and torch.all(ssim(x, noisy) < 1)
    assert l1_gray(torch.zeros(1, 1, 16, 16), torch.full((1, 1, 16, 16), 0.5)).item() == pytest.approx(127.5)
    with pytest.raises(ValueError, match="shape"):
        ssim(x, x[:, :, :32])


def test_seed_networks_have_the_tabled_shapes() -> None:
    x = torch.zeros(2, 1, 128, 128)
    assert build_encoder("light")(x).shape == (2, 64)
    assert build_encoder("medium")(x).shape == (2, 512, 2, 2)
    assert build_decoder("light")(torch.zeros(2, 64)).shape == (2, 1, 128, 128)
    assert build_decoder("medium")(torch.zeros(2, 512, 2, 2)).shape == (2, 1, 128, 128)
    assert sum(p.numel() for p in build_encoder("light").parameters()) == pytest.approx(1_066_632, rel=0.01)
    assert PatchDiscriminator()(x).shape == (2, 1, 4, 4)  # one logit per 32x32 tile
    with pytest.raises(KeyError, match="light"):
        build_encoder("huge")
    assert ALIGNED_SIDE == SIDE == 128  # the aligned training faces (kpdemo.datasets.derived) are what they read


def test_polygons_are_reproducible_and_mirrored() -> None:
    shapes, mirrored = triangle_pairs(4, seed=3)
    again, _ = triangle_pairs(4, seed=3)
    assert shapes.shape == (4, 128, 128) and shapes.dtype == np.uint8
    assert np.array_equal(shapes, again) and np.array_equal(mirrored[:, :, ::-1], shapes)
    assert np.array_equal(mirror(mirrored), shapes) and (shapes > 0).any(axis=(1, 2)).all()


@pytest.fixture(scope="module")
def polygon_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A --quick polygons grid shrunk further: reconstruct, then the mirror decoder on its frozen encoder."""
    from trainers.__main__ import main

    root = tmp_path_factory.mktemp("runs")
    main(["polygons", "--quick", "--runs", str(root), "--only", "reconstruct", "--set", "train_subset=192",
          "--set", "eval_subset=32", "--set", "lr=0.003"])
    main(["polygons", "--quick", "--runs", str(root), "--only", "mirror_pretrained", "--set", "train_subset=64",
          "--set", "eval_subset=32", "--set", "epochs=1"])
    return root / "polygons-quick"


def test_quick_polygons_run_is_recorded_and_learns(polygon_runs: Path) -> None:
    run = next(polygon_runs.glob("reconstruct_*"))
    record = read_record(run)
    assert record["status"] == "done" and record["checkpoint"] == "net.pt" and (run / "net.pt").is_file()
    assert {"l1_gray", "ssim", "iou", "domain", "best_epoch"} <= set(record["test"])
    assert record["test"]["iou"] > 0  # 0 is the blank-image collapse
    history = pd.read_csv(run / "history.csv")
    assert {"epoch", "train_loss", "val_loss", "val_l1_gray", "val_ssim", "val_iou", "epoch_time_s",
            "wall_time_s"} <= set(history.columns)
    assert len(history) == 3 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]
    assert (run / FIGURES["polygons"]).stat().st_size > 1000


def test_mirror_decoder_trains_on_the_frozen_pretrained_encoder(polygon_runs: Path) -> None:
    pre = torch.load(next(polygon_runs.glob("reconstruct_*")) / "net.pt", weights_only=True)
    run = next(polygon_runs.glob("mirror_pretrained_*"))
    record = read_record(run)
    after = torch.load(run / "net.pt", weights_only=True)
    assert record["env"]["weights_not_copied"] and all(k.startswith("decoders.mirror") for k in
                                                       record["env"]["weights_not_copied"])
    assert torch.equal(pre["encoder.0.weight"], after["encoder.0.weight"])
    assert {"identity_l1_gray", "mean_l1_gray", "mean_ssim"} <= set(record["test"])


def test_frontalizer_round_trip_and_errors(tmp_path: Path) -> None:
    net = SharedEncoderNet("light", ("reconstruct", "frontal"))
    path = save_frontalizer(tmp_path / "f.pt", net, FrontalizerMeta(family="light", run="test"))
    loaded, meta = load_frontalizer(path)
    assert meta.run == "test" and list(loaded.decoders) == ["frontal"]
    with pytest.raises(CheckpointError):  # the app's landmark-model scan skips it
        load_checkpoint(path)
    face = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    out = frontalize(face, path)
    assert out.shape == (128, 128) and out.dtype == np.uint8
    with pytest.raises(FrontalizerError, match="square"):
        frontalize(face[:, :200], path)
    with pytest.raises(FrontalizerError, match="not found"):
        frontalize(face, tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not torch")
    with pytest.raises(FrontalizerError, match="readable"):
        load_frontalizer(tmp_path / "bad.pt")


def test_mean_prior_starts_each_decoder_at_its_mean_image_and_survives_shipping(tmp_path: Path) -> None:
    from trainers.engine.config import TrainConfig
    from trainers.engine.train_image import ImageTask, build_net

    inputs, targets = (torch.from_numpy(a)[:, None] for a in triangle_pairs(8, seed=1))
    task = ImageTask(domains={"reconstruct": "input", "frontal": "target"}, train_pairs=lambda _: (inputs, targets),
                     val=(inputs, targets), test=(inputs, targets))
    config = TrainConfig(model="light", model_kwargs={"prior": "mean"})
    net, _ = build_net(config, task, tmp_path, (inputs, targets))
    for domain, images in (("reconstruct", inputs), ("frontal", targets)):
        expected = images.float().mean(0) / 127.5 - 1
        assert torch.allclose(net.decoders[domain].prior[0], expected, atol=1e-5)
    net.eval()
    state = net.state_dict()
    again = SharedEncoderNet.for_state("light", state)
    again.load_state_dict(state)
    x = inputs[:2].float() / 127.5 - 1
    assert torch.allclose(again.eval()(x, "frontal"), net(x, "frontal"))
    path = save_frontalizer(tmp_path / "f.pt", net, FrontalizerMeta(family="light"), half=False)
    loaded, _ = load_frontalizer(path)
    assert torch.allclose(loaded(x, "frontal"), net(x, "frontal"), atol=1e-5)
    assert "change to the mean frontal face" in model_note(path)
    with pytest.raises(ValueError, match="prior must be 'mean'"):
        build_net(TrainConfig(model="light", model_kwargs={"prior": "median"}), task, tmp_path, (inputs, targets))
    with pytest.raises(ValueError, match="has no prior"):
        SharedEncoderNet("light", ("frontal",)).set_prior("frontal", torch.zeros(128, 128))


def test_model_note_reports_the_files_own_loss_and_scores(tmp_path: Path) -> None:
    net = SharedEncoderNet("light", ("frontal",))
    metrics = {"l1_gray": 30.04, "ssim": 0.51, "identity_l1_gray": 40.5, "identity_ssim": 0.42,
               "mean_l1_gray": 37.7, "mean_ssim": 0.45}
    path = save_frontalizer(tmp_path / "f.pt", net, FrontalizerMeta(family="light", loss="l1_ssim", metrics=metrics))
    note = model_note(path)
    assert "l1_ssim loss" in note and "L1 30.0 gray levels and SSIM 0.51" in note and "37.7 / 0.45" in note
    assert model_note(tmp_path / "missing.pt").startswith("Learned frontalization is not available")


def test_shipping_prefers_a_run_that_beats_both_baselines_on_both_metrics(tmp_path: Path) -> None:
    from trainers.tools.frontalize_ship import best_frontalize_run

    baselines = {"identity_l1_gray": 40.5, "identity_ssim": 0.42, "mean_l1_gray": 37.7, "mean_ssim": 0.45}
    for name, l1, ssim_ in (("blurry", 35.0, 0.38), ("sharp", 36.0, 0.50), ("failed", 30.0, 0.60)):
        run = tmp_path / "frontalize" / name
        run.mkdir(parents=True)
        status = "failed" if name == "failed" else "done"
        (run / "record.json").write_text(json.dumps(
            {"experiment": "frontalize", "name": name, "status": status,
             "test": {"l1_gray": l1, "ssim": ssim_} | baselines}))
    assert best_frontalize_run(tmp_path).name == "sharp"  # lower L1 alone loses to beating both baselines


def test_aligned_cut_puts_the_eyes_on_the_template() -> None:
    from kpdemo.align import template
    from kpdemo.schemas import get_schema
    from kpdemo.training.crops import _cut_one

    points = project(0, roll_deg=12, scale=0.8).astype(np.float32)
    image = np.full((220, 220, 3), 90, np.uint8)
    crop, moved = _cut_one(image, points, "aligned", (128, 128), 1, 1.2, get_schema("ibug68"))
    assert crop.shape == (128, 128)
    eyes = np.stack(get_schema("ibug68").eye_centres(moved))
    assert abs((eyes[1] - eyes[0])[1]) < 1.0  # roll removed
    assert np.linalg.norm(eyes.mean(0) - template(128)[:2].mean(0)) < 6.0


def test_shipped_model_and_record_agree() -> None:
    if not DEFAULT_CHECKPOINT.exists():
        pytest.skip("no shipped frontalization model yet (python -m trainers.tools.frontalize_ship RUNS_ROOT)")
    assert DEFAULT_CHECKPOINT.stat().st_size < 10 * 2**20
    _, meta = load_frontalizer()
    record = json.loads((DEFAULT_CHECKPOINT.parent / "runs" / meta.run / "record.json").read_text())
    assert record["status"] == "done" and record["checkpoint"].endswith(DEFAULT_CHECKPOINT.name)
    assert meta.metrics["l1_gray"] == pytest.approx(record["test"]["l1_gray"])


@pytest.mark.needs_data
def test_ytf_pairs_are_identity_disjoint_and_more_frontal() -> None:
    from kpdemo.frontalize.data import frontal_pairs

    train, test = frontal_pairs("train"), frontal_pairs("test")
    assert not set(train.identities) & set(test.identities)
    assert train.inputs.shape[1:] == (1, 128, 128) and train.inputs.dtype == torch.uint8
    assert np.all(test.target_scores >= test.input_scores)
    assert not any(torch.equal(a, b) for a, b in zip(test.inputs[:50], test.targets[:50], strict=True))


@pytest.mark.needs_data
def test_quick_frontalize_run_on_a_mean_face_prior(tmp_path: Path) -> None:
    from trainers.__main__ import main

    main(["frontalize", "--quick", "--runs", str(tmp_path), "--only", "mean_prior_l1_light", "--set",
          "train_subset=64", "--set", "eval_subset=32", "--set", "epochs=1"])
    run = next((tmp_path / "frontalize-quick").glob("mean_prior_l1_*light_*"))  # eval32_ in the name: a variant
    record = read_record(run)
    assert record["status"] == "done" and record["config"]["model_kwargs"] == {"prior": "mean"}
    assert {"l1_gray", "ssim", "identity_l1_gray", "mean_l1_gray", "mean_ssim"} <= set(record["test"])
    state = torch.load(run / record["checkpoint"], weights_only=True)
    assert {"decoders.frontal.prior", "decoders.reconstruct.prior"} <= set(state)
    assert (run / FIGURES["faces"]).is_file()
