"""After-run analysis shared by the seed 002/003 experiments: predictions of a run's best checkpoint on a split,
extra metrics merged into its record, and the figures saved beside it.

Figures that show dataset faces are named ``predictions_*.png``: they stay in user run folders and are never
copied into the repository (research-only images); filter and curve figures carry no faces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure  # a figure of its own: no pyplot, no backend chosen for the importer
from torch import nn

from kpdemo.datasets import LandmarkSet
from kpdemo.files import write_by_rename
from kpdemo.models import load_model
from kpdemo.runs import RECORD, read_record
from kpdemo.training.tensors import TensorSet, points_from_network
from trainers.engine.config import TrainConfig
from trainers.engine.data import Splits, make_splits
from trainers.engine.train import predict


def run_splits(run_dir: Path) -> tuple[TrainConfig, Splits]:
    config = TrainConfig.from_dict(read_record(run_dir)["config"])
    return config, make_splits(config)


def predict_pixels(model: nn.Module, data: LandmarkSet) -> np.ndarray:
    """(N, K, 2) predictions in the set's image pixels."""
    tensors = TensorSet.from_landmarks(data)
    h, w = tensors.hw
    with torch.no_grad():
        out = predict(model, tensors, channels_last=False)
    return points_from_network(out.numpy(), h, w)


def best_model(run_dir: Path) -> nn.Module:
    record = read_record(run_dir)
    return load_model(Path(run_dir) / record["checkpoint"])[0]


def merge_record(run_dir: Path, **sections: dict[str, Any]) -> None:
    """Add keys to dict sections of a finished run's record (e.g. ``test={...}``), atomically."""
    path = Path(run_dir) / RECORD
    record = json.loads(path.read_text())
    for key, values in sections.items():
        record[key] = {**record.get(key, {}), **values}
    text = json.dumps(record, indent=2, default=str).encode()
    write_by_rename(path, lambda out: out.write(text))


def prediction_figure(data: LandmarkSet, pred: np.ndarray, errors: np.ndarray, path: Path, n: int = 4,
                      title: str = "") -> None:
    """The ``n`` best and ``n`` worst images by ``errors``: truth green, prediction red, error in the caption."""
    order = np.argsort(errors)
    picks = list(order[:n]) + list(order[::-1][:n])
    fig = Figure(figsize=(2.6 * n, 5.6))
    axes = fig.subplots(2, n)
    for ax, i in zip(axes.flat, picks, strict=True):
        image = data.image(int(i))
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.scatter(*(data.points[i] - 0.5).T, s=6, c="lime", label="truth")
        ax.scatter(*(pred[i] - 0.5).T, s=6, c="red", label="prediction")
        ax.set_title(f"{'best' if i in order[:n] else 'worst'}: {errors[i]:.3g}", fontsize=9)
        ax.axis("off")
    axes.flat[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def filters_figure(model: nn.Module, path: Path) -> None:
    """The first conv layer's kernels (one tile per output channel, channels averaged), seed 002's figure."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    weights = conv.weight.detach().float().mean(1).numpy()
    cols = 8
    rows = -(-len(weights) // cols)
    fig = Figure(figsize=(cols * 1.1, rows * 1.1))
    axes = fig.subplots(rows, cols)
    for ax in axes.flat:
        ax.axis("off")
    for ax, kernel in zip(axes.flat, weights, strict=False):
        ax.imshow(kernel, cmap="gray")
    fig.suptitle(f"first-layer filters ({conv.kernel_size[0]}x{conv.kernel_size[1]})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
