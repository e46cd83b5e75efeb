"""Seed 002 part 3 / seed 003 part III: 68-point in-the-wild faces with a torchvision ResNet18.

Inputs are 64x64 RGB face crops (1.2 x the landmark box, cut as the app cuts detector boxes). The network is
ResNet18 built with ``weights=None`` and ``stages=3`` (no ``layer4``: an fp16 checkpoint of 5.5 MB instead of
22 MB, and at 64 px layer4 would only see 2x2 maps). Runs of ``w300``:

* ``scratch``: trained on the 300-W train split (HELEN + LFPW train, 1,507 after the 10% val hold-out) only;
* ``pretrain_ytf``: trained on YouTube-Faces frames (3,166 train images, identity-disjoint), the larger set;
* ``finetune``: starts from ``pretrain_ytf`` and fine-tunes on 300-W train (transfer from our own model,
  since no ImageNet weights may be downloaded; ``--set weights=/path/resnet18.pth`` uses a local ImageNet file).

The grid's budget is 4 epochs (3 for the pre-training) on 2 shared CPU cores; ``--epochs 10`` gives the longer runs
recorded beside them (``finetune`` at 10 epochs shipped as ``checkpoints/ibug68_resnet18.pt`` until the PIP family
replaced it; its record stays in ``checkpoints/runs/w300``).

``w300_pca`` swaps the fc for a PCA shape head (:mod:`kpdemo.models.pca_head`) with the same start and budget.
Every run is scored on the 300-W common test set (554 images): NME by the outer eye corners, per region
(jaw, brows, nose, eyes, mouth), failure rate at NME > 0.10.
"""

from __future__ import annotations

from pathlib import Path

from kpdemo.metrics import failure_rate, mean_point_error, nme_per_image, region_nme
from kpdemo.models.pca_head import pca_components
from kpdemo.training.tensors import points_to_network
from trainers.engine.analysis import best_model, merge_record, predict_pixels, prediction_figure, run_splits
from trainers.engine.config import TrainConfig
from trainers.engine.data import cached_dataset
from trainers.grids.registry import Experiment, grid, register

SIZE = 64
#: Components keeping 99% of the 300-W train shape variance at this crop (``w300_pca`` records the count it finds).
PCA_COMPONENTS = 23


def common_set_metrics(run_dir: Path) -> None:
    """300-W common-set NME (overall, per region, failure rate) of the best checkpoint, merged into ``test``."""
    config, splits = run_splits(run_dir)
    model = best_model(run_dir)
    common = cached_dataset("w300_face64").split("test")
    pred = predict_pixels(model, common)
    per_image = nme_per_image(pred, common.points, common.schema)
    test = {"common_nme": float(per_image.mean()), "common_mean_px": mean_point_error(pred, common.points),
            "common_failure_rate": failure_rate(per_image)} | {
        f"common_nme_{k}": v for k, v in region_nme(pred, common.points, common.schema).items()}
    prediction_figure(common, pred, per_image, Path(run_dir) / "predictions_common.png",
                      title=f"{config.run_name()}: 300-W common set NME")
    extra = {}
    if config.model_kwargs.get("head") == "pca":
        train = splits.train
        needed, *_ = pca_components(points_to_network(train.points, SIZE, SIZE), 0.99)
        extra = {"pca_components_99pct": needed, "pca_components_used": config.model_kwargs["pca_components"]}
    merge_record(run_dir, test=test | extra)


BASE = TrainConfig(model="resnet18", model_kwargs={"stages": 3}, optimizer="adam", lr=1e-3, schedule="cosine",
                   loss="l1", augmentation="flip_rotate_jitter", batch_size=32, epochs=4, dataset="w300_face64")


def _with(**changes: object) -> TrainConfig:
    return TrainConfig(**(BASE.to_dict() | changes))


register(
    Experiment(
        "w300", "ResNet18 (no layer4) on 64 px 68-point crops: from scratch on 300-W vs pre-trained on "
        "YouTube-Faces then fine-tuned on 300-W",
        "Seed 002: eyes/nose/mouth good, jawline poor (best val MSE ~19 px^2 at 224 px); seed 003: a "
        "pre-trained model fine-tunes well.",
        grid("w300", [_with(tag="scratch"), _with(tag="pretrain_ytf", dataset="ytf_face64", epochs=3),
                       _with(tag="finetune", weights="run:pretrain_ytf")]),
        dataset="w300_face64", after_run=common_set_metrics,
    ),
    Experiment(
        "w300_pca", "PCA shape head (23 components = 99% of shape variance) vs the direct fc head, both "
        "fine-tuned from the w300 YouTube-Faces model",
        "Seed 002: predicting PCA weights gives smoother faces but a worse error (shrinks toward the mean).",
        grid("w300_pca", [_with(tag="pca", weights="run:w300/pretrain_ytf",
                                 model_kwargs={"stages": 3, "head": "pca", "pca_components": PCA_COMPONENTS})]),
        dataset="w300_face64", after_run=common_set_metrics,
    ),
)
