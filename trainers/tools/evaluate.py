"""``python -m trainers.tools.evaluate CHECKPOINT [--dataset NAME] [--split test] [--device cpu] [--out metrics.json]``.

Measures a checkpoint's error on a dataset split (default: the dataset it was trained on, held-out ``test``):
RMSE in crop pixels (px at 96x96 for ``kaggle15``), NME by outer-eye distance, and per-region NME.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import trainers.grids  # noqa: F401  (registers the experiments' derived datasets, e.g. w300_face64)
from kpdemo.checkpoints import CheckpointError
from kpdemo.config import DataNotFoundError
from kpdemo.metrics import region_nme
from kpdemo.models import load_model
from kpdemo.training.tensors import TensorSet, points_from_network
from trainers.engine.data import cached_dataset
from trainers.engine.train import model_view, predict, resolve_device, score


def evaluate_checkpoint(path: Path, dataset: str | None = None, split: str = "test",
                        device: str = "cpu") -> dict[str, float]:
    """Metrics of the checkpoint at ``path`` on ``dataset``'s ``split`` (dataset defaults to the checkpoint's)."""
    dev = resolve_device(device)
    model, meta = load_model(path, device=dev)
    data = cached_dataset(dataset or meta.dataset)
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
    tensors = view
    with torch.inference_mode():
        pred = predict(model, tensors, pixel_mean=meta.pixel_mean, pixel_std=meta.pixel_std, channels_last=False)
    metrics = {"dataset": data.name, "split": split, "images": len(part)} | score(pred, tensors, data.schema)
    if part.mask.all() and data.schema.regions:
        pred_px = points_from_network(pred.cpu().numpy(), *tensors.hw)
        true_px = points_from_network(tensors.points.cpu().numpy(), *tensors.hw)
        metrics |= {f"nme_{k}": v for k, v in region_nme(pred_px, true_px, data.schema).items()}
    return metrics


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
