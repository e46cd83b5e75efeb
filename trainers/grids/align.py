"""Seed 004 (learned face alignment) as two grids of the experiment registry (:mod:`trainers.engine.train_image`).

* ``polygons``: can a conv encoder/decoder learn a geometric transform? Random filled triangles are rendered on
  the fly (fresh ones every epoch); ``reconstruct`` trains encoder + decoder to copy them; ``mirror_pretrained``
  trains a new decoder to output the mirrored triangle on that frozen encoder (the seed's recipe);
  ``mirror_scratch`` trains encoder + decoder on the mirror from scratch, for comparison. These three use the
  seed's Medium networks and MAE. Two ``control`` runs reconstruct with the Light networks: under the plain MAE they
  collapse to the blank image; the foreground-balanced L1 (:mod:`trainers.engine.image_losses`) gets them out of it.
* ``frontalize``: YouTube-Faces frames, geometrically aligned to 128x128 gray, each paired with the most frontal
  frame of the same person (:mod:`kpdemo.frontalize.data`). A shared encoder feeds a reconstruction decoder and a
  frontal decoder, both trained with L1 (``l1``); ``l1_patchgan`` adds the seed's 32x32 PatchGAN critic;
  ``l1_ssim`` trains on L1 + SSIM instead, since L1 alone scores below the mean face on SSIM; the ``mean_prior``
  runs add each decoder's output to the mean training image (``model_kwargs={"prior": "mean"}``)

Both use the seed's Light networks and Adam lr 2e-4, beta1 0.5 (``momentum`` holds beta1), on the CPU. Each run
also saves a figure of held-out input / output / target: ``examples_test.png`` for polygons; for faces it is
``predictions_test.png``, the name :mod:`trainers.tools.ship` keeps out of the repository (research images).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from matplotlib.figure import Figure  # a figure of its own: no pyplot, no backend chosen for the importer

from kpdemo.frontalize.polygons import triangle_pairs
from kpdemo.models.autoencoder import SharedEncoderNet
from trainers.engine.config import TrainConfig
from trainers.engine.train_image import CHECKPOINT_NAME, ImageTask, Pair, fit_image_model, predict_domain
from trainers.grids.registry import Experiment, grid, register

FIGURES = {"polygons": "examples_test.png", "faces": "predictions_test.png"}
VAL_SEED, TEST_SEED = 1_000_003, 2_000_003  # fixed held-out triangles, apart from any training seed
POLYGON_DOMAINS = {"reconstruct": {"reconstruct": "input"}, "control": {"reconstruct": "input"},
                   "mirror_pretrained": {"mirror": "target"}, "mirror_scratch": {"mirror": "target"}}
FACE_DOMAINS = {"reconstruct": "input", "frontal": "target"}


def _tensors(pair: tuple) -> Pair:  # (uint8 (N, H, W), uint8 (N, H, W)) arrays -> (N, 1, H, W) tensors
    return tuple(torch.from_numpy(a)[:, None] for a in pair)  # type: ignore[return-value]


def polygon_task(config: TrainConfig) -> ImageTask:
    if config.tag not in POLYGON_DOMAINS:
        raise ValueError(f"polygons run tag must be one of {', '.join(POLYGON_DOMAINS)}, got {config.tag!r}")
    n_train, n_eval = config.train_subset or 2048, config.eval_subset or 512
    return ImageTask(
        domains=POLYGON_DOMAINS[config.tag],
        train_pairs=lambda epoch: _tensors(triangle_pairs(n_train, seed=config.seed * 100_003 + epoch)),
        val=_tensors(triangle_pairs(n_eval, VAL_SEED)), test=_tensors(triangle_pairs(n_eval, TEST_SEED)),
        frozen=("encoder.",) if config.tag == "mirror_pretrained" else (),
        env={"data": "random filled triangles, 128x128, re-rendered every epoch; target = left-right mirror"},
        figure=FIGURES["polygons"], binary=True,
    )


def face_task(config: TrainConfig) -> ImageTask:
    from kpdemo.frontalize.data import frontal_pairs  # reads the dataset only when a face run starts

    train = frontal_pairs("train").take(config.train_subset)
    val, test = (frontal_pairs(s).take(config.eval_subset) for s in ("val", "test"))
    return ImageTask(
        domains=FACE_DOMAINS, train_pairs=lambda _: (train.inputs, train.targets),
        val=(val.inputs, val.targets), test=(test.inputs, test.targets), gan="patchgan" in config.tag,
        env={"data": "ytf68 frames aligned to 128x128 gray -> most frontal frame of the same person",
             "train_people": len(set(train.identities)), "test_people": len(set(test.identities))},
        figure=FIGURES["faces"],
    )


def examples_figure(run_dir: Path, config: TrainConfig, task: ImageTask, n: int = 8) -> Path:
    """Held-out inputs, the best model's outputs and the targets, one column per example."""
    state = torch.load(Path(run_dir) / CHECKPOINT_NAME, weights_only=True)
    net = SharedEncoderNet.for_state(config.model, state)
    net.load_state_dict(state)
    inputs, targets = (t[:n] for t in task.test)
    truth = inputs if task.domains[task.scored] == "input" else targets
    rows = (("input", inputs[:, 0].numpy()), ("output", predict_domain(net, inputs, task.scored)[:, 0].numpy()),
            ("target", truth[:, 0].numpy()))
    fig = Figure(figsize=(1.3 * len(inputs), 4.2))
    axes = fig.subplots(3, len(inputs), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            axes[r, c].imshow(image, cmap="gray", vmin=0, vmax=255 if image.max() > 1 else 1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(f"{config.experiment}/{config.run_name()}: held-out examples", fontsize=9)
    fig.tight_layout()
    path = Path(run_dir) / task.figure
    fig.savefig(path, dpi=80)
    return path


def _runner(make_task):  # noqa: ANN001, ANN202 - task factory -> run_config-compatible runner
    def run(config: TrainConfig, runs_root: Path, **kwargs: object) -> Path:
        task = make_task(config)
        run_dir = fit_image_model(config, runs_root, task, **kwargs)
        examples_figure(run_dir, config, task)
        return run_dir

    return run


#: The seed's optimiser (Adam lr 2e-4, beta1 0.5) and Light networks, on the CPU. Budgets fit a shared 2-core CPU:
#: polygons run the Medium networks for 6 epochs (one costs ~8x a Light epoch); the Light controls run 24 epochs at
#: lr 1e-3 (the seed ran its preliminary networks at a higher rate, 0.01, for quick results).
SEED004 = TrainConfig(model="light", optimizer="adam", lr=2e-4, momentum=0.5, loss="l1", batch_size=16,
                      device="cpu", channels_last=False)
POLYGONS = replace(SEED004, dataset="polygons", model="medium", epochs=6, train_subset=2048, eval_subset=256)
POLYGON_CONTROL = replace(POLYGONS, tag="control", model="light", lr=1e-3, epochs=24)
FACES = replace(SEED004, dataset="ytf_aligned128", epochs=12)

register(
    Experiment(
        "polygons", "Medium encoder/decoder on synthetic triangles: reconstruct, then learn the mirror on the "
        "frozen pre-trained encoder, vs the mirror learned from scratch; Light controls under MAE and balanced L1",
        "Seed 004: a pre-trained encoder's embedding lets a second decoder learn the mirror transform.",
        grid("polygons", [replace(POLYGONS, tag="reconstruct"),
                           replace(POLYGONS, tag="mirror_pretrained", weights="run:reconstruct"),
                           replace(POLYGONS, tag="mirror_scratch"),
                           POLYGON_CONTROL, replace(POLYGON_CONTROL, loss="l1_balanced")]),
        dataset="polygons", runner=_runner(polygon_task),
        own_data="random filled triangles and their mirror images, 128x128, drawn afresh every epoch (no files)",
    ),
    Experiment(
        "frontalize", "Light shared-encoder net, YouTube-Faces frame -> the person's most frontal frame "
        "(128x128 gray, geometrically aligned): L1, L1 + PatchGAN, L1 + SSIM, and L1 / L1 + SSIM on a "
        "mean-face prior",
        "Seed 004: paired data trains far faster than a GAN; the GAN stage did not converge (tested here: whether a "
        "PatchGAN term helps paired L1 training, on 1,024 pairs; speed not timed).",
        grid("frontalize", [replace(FACES, tag="l1"), replace(FACES, tag="l1_patchgan", train_subset=1024),
                             replace(FACES, tag="l1_ssim", loss="l1_ssim"),
                             replace(FACES, tag="mean_prior_l1", model_kwargs={"prior": "mean"}),
                             replace(FACES, tag="mean_prior_l1_ssim", loss="l1_ssim",
                                     model_kwargs={"prior": "mean"})]),
        dataset="ytf_aligned128", runner=_runner(face_task),
    ),
)
