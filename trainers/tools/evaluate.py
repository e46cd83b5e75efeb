"""``python -m trainers.tools.evaluate CHECKPOINT [--dataset NAME] [--split test] [--device cpu] [--out metrics.json]``.

Measures a checkpoint's error on a dataset split (default: the dataset it was trained on, held-out ``test``):
RMSE in crop pixels (px at 96x96 for ``kaggle15``), NME by outer-eye distance, and per-region NME.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kpdemo.checkpoints import CheckpointError
from kpdemo.config import DataNotFoundError
from kpdemo.datasets import LandmarkSet, get_dataset, load_dataset
from kpdemo.metrics import region_nme
from kpdemo.models import load_model
from kpdemo.training.tensors import TensorSet, points_from_network
from trainers.engine.train import model_view, predict, resolve_device, score


@dataclass
class HeldOut:
    """A checkpoint's predictions on one dataset split, beside the crops it saw and their true points.

    Why a value of its own: the metrics below and the Experiments tab's gallery of held-out faces
    (:mod:`kpdemo.dashboard.predictions`) must describe the same predictions.
    """

    data: LandmarkSet  # the whole dataset (its name and schema)
    split: str
    part: LandmarkSet  # the split's samples
    tensors: TensorSet  # the crops as the model sees them (the centre of wider stored crops)
    pred: torch.Tensor  # normalised, (N, K, 2)

    @property
    def pred_px(self) -> np.ndarray:
        return points_from_network(self.pred.cpu().numpy(), *self.tensors.hw)

    @property
    def true_px(self) -> np.ndarray:
        return points_from_network(self.tensors.points.cpu().numpy(), *self.tensors.hw)

    def metrics(self) -> dict[str, float]:
        """Loss, RMSE, NME and, when every point is labelled, NME per region of the schema."""
        metrics = {"dataset": self.data.name, "split": self.split, "images": len(self.part)}
        metrics |= score(self.pred, self.tensors, self.data.schema)
        if self.part.mask.all() and self.data.schema.regions:
            metrics |= {f"nme_{k}": v for k, v in region_nme(self.pred_px, self.true_px, self.data.schema).items()}
        return metrics


def held_out_predictions(path: Path, dataset: str | None = None, split: str = "test", device: str = "cpu") -> HeldOut:
    """The checkpoint at ``path`` run on ``dataset``'s ``split`` (dataset defaults to the checkpoint's)."""
    dev = resolve_device(device)
    model, meta = load_model(path, device=dev)
    # Not the trainers' in-process dataset cache: a long-lived caller (the app) would keep every crop in memory.
    data = load_dataset(get_dataset(dataset or meta.dataset).held_out_name(split))
    if data.schema.id != meta.schema:
        raise CheckpointError(f"{Path(path).name} predicts {meta.schema!r} points, {data.name} has {data.schema.id!r}")
    part = data.split(split)
    tensors = TensorSet.from_landmarks(part, dev)
    try:  # stored crops wider than the model's (the PIP family's 160 -> 128) are cut to its centre, as in training
        view = model_view(tensors, tensors.hw[0] / meta.input_size[0])
    except ValueError:  # not a whole-pixel centre cut
        view = None
    if view is None or tuple(view.hw) != tuple(meta.input_size):
        raise CheckpointError(
            f"{Path(path).name} expects {tuple(meta.input_size)} inputs, {data.name} has {tensors.hw}")
    with torch.inference_mode():
        pred = predict(model, view, pixel_mean=meta.pixel_mean, pixel_std=meta.pixel_std, channels_last=False)
    return HeldOut(data, split, part, view, pred)


def evaluate_checkpoint(path: Path, dataset: str | None = None, split: str = "test",
                        device: str = "cpu") -> dict[str, float]:
    """Metrics of the checkpoint at ``path`` on ``dataset``'s ``split`` (dataset defaults to the checkpoint's)."""
    return held_out_predictions(path, dataset, split, device).metrics()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.evaluate", description=__doc__.split("\n\n")[1])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--dataset", help="dataset name (default: the one the checkpoint was trained on)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="also write the metrics as JSON here")
    args = parser.parse_args(argv)
    try:
        metrics = evaluate_checkpoint(args.checkpoint, args.dataset, args.split, args.device)
    except (CheckpointError, DataNotFoundError, KeyError) as exc:
        parser.error(str(exc))
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
