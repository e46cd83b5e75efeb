"""Seed 002/003 parts 1-2 on the IMM Frontal Face DB (12 people; person-disjoint 8/2/2 split).

* ``imm_nose``: the nose tip (IMM point 45, schema ``nose1``) on whole 80x60 grayscale photos; MSE vs L1 at Adam
  lr 1e-3/1e-4/1e-5. Error in pixels (80x60 and 800x600) and NME by the face box (sqrt(w*h) of the 73 points).
* ``imm_full``: all 73 points with the six-layer :class:`~kpdemo.models.imm.ImmNet`, without vs with the
  albumentations pipeline (:mod:`kpdemo.training.albu`), on whole 160x120 photos (the seeds' setting) and on
  128x128 face crops (what the app can serve on a detector box). NME is inter-ocular (outer eye corners).
"""

from __future__ import annotations

from pathlib import Path

try:  # registers the albu_seed002 augmentation; the GPU campaign machine has no albumentations (nor needs it)
    import kpdemo.training.albu  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "albumentations":
        raise
from kpdemo.metrics import mean_point_error, nme_per_image, normaliser, point_errors, region_nme
from kpdemo.schemas import get_schema
from trainers.engine.analysis import (
    best_model,
    filters_figure,
    merge_record,
    predict_pixels,
    prediction_figure,
    run_splits,
)
from trainers.engine.config import TrainConfig
from trainers.engine.data import cached_dataset
from trainers.grids.registry import Experiment, grid, register

WHOLE_SCALE = 10.0  # 800x600 originals -> 80x60


def nose_after_run(run_dir: Path) -> None:
    """Pixel error and face-box NME on val/test; best/worst validation figure."""
    config, splits = run_splits(run_dir)
    model = best_model(run_dir)
    full = cached_dataset("imm_whole80x60")
    imm73 = get_schema("imm73")
    sections = {}
    for split, data in (("val", splits.val), ("test", splits.test)):
        pred = predict_pixels(model, data)
        box = normaliser(full.split(split).points, imm73, "box")
        err = point_errors(pred, data.points)
        sections[split] = {"mean_px": float(err.mean()), "mean_px_800x600": float(err.mean() * WHOLE_SCALE),
                           "nme_box": float(nme_per_image(pred, data.points, data.schema, norm=box).mean())}
        if split == "val":
            prediction_figure(data, pred, err, Path(run_dir) / "predictions_val.png",
                              title=f"{config.run_name()}: val nose error (px at 80x60)")
    merge_record(run_dir, best=sections["val"], test=sections["test"])


def full_after_run(run_dir: Path) -> None:
    """Mean pixel error, inter-ocular NME and per-region NME on val/test; first-layer filters; val figure."""
    config, splits = run_splits(run_dir)
    model = best_model(run_dir)
    filters_figure(model, Path(run_dir) / "filters.png")
    sections = {}
    for split, data in (("val", splits.val), ("test", splits.test)):
        pred = predict_pixels(model, data)
        per_image = nme_per_image(pred, data.points, data.schema)
        sections[split] = {"mean_px": mean_point_error(pred, data.points), "nme": float(per_image.mean())} | {
            f"nme_{k}": v for k, v in region_nme(pred, data.points, data.schema).items()}
        if split == "val":
            prediction_figure(data, pred, per_image, Path(run_dir) / "predictions_val.png",
                              title=f"{config.run_name()}: val NME")
    merge_record(run_dir, best=sections["val"], test=sections["test"])


NOSE = TrainConfig(dataset="imm_nose80x60", model="nosenet", optimizer="adam", batch_size=8, epochs=40)
FULL = TrainConfig(dataset="imm_face128", model="immnet", optimizer="adam", lr=1e-3, batch_size=8, epochs=30,
                   schedule="cosine")

register(
    Experiment(
        "imm_nose", "Nose tip on 80x60 IMM photos: small CNN, MSE vs L1, Adam lr 1e-3/1e-4/1e-5",
        "Seeds 002/003: all learning rates converge to about the same loss; turned faces fail (centre prior).",
        grid("imm_nose", [TrainConfig(**(NOSE.to_dict() | {"lr": lr, "loss": loss}))
                           for loss in ("mse", "l1") for lr in (1e-3, 1e-4, 1e-5)]),
        dataset="imm_nose80x60", after_run=nose_after_run,
    ),
    Experiment(
        "imm_full", "All 73 IMM points, 6-conv net: no augmentation vs albumentations (jitter, rotation, "
        "shift/scale, perspective, label-swapping flip); whole 160x120 photo vs 128 px face crop",
        "Seed 002: augmentation regularises (val loss below train loss); learned first-layer filters look like "
        "edge and dot detectors.",
        grid("imm_full", [TrainConfig(**(FULL.to_dict() | {"dataset": d, "augmentation": a,
                                                             "tag": d.removeprefix("imm_")}))
                           for d in ("imm_whole160x120", "imm_face128") for a in ("none", "albu_seed002")]),
        dataset="imm_face128", after_run=full_after_run,
    ),
)
