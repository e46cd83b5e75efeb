"""Write the committed FIXTURE run records under ``tests/fixtures/runs/`` (fake curves, real record format).

Why: the dashboard must be testable on a fresh clone before (and without) any real training. These records are
synthetic: every one carries ``env.host = "fixture"`` and a ``fixture`` note, and none has a checkpoint. They go
through :class:`kpdemo.runs.RunWriter`, so they cannot drift from the format real trainers write.

Regenerate with ``python tests/make_fixture_runs.py`` (deterministic: same seed, fixed timestamps).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kpdemo.runs import RunWriter  # noqa: E402

OUT = Path(__file__).parent / "fixtures" / "runs"
STAMP = "2025-01-01T00:00:00+00:00"
ENV = {"device": "cpu", "device_name": "fixture", "torch": "fixture", "python": "3.11", "seed": 0, "host": "fixture"}
BASE = {"dataset": "kaggle15", "model": "convnet", "init": "xavier", "optimizer": "adam", "lr": 1e-3,
        "augmentation": "none", "dropout": 0.0, "loss": "mse", "batch_size": 64, "epochs": 8, "seed": 0}


def _curve(rng: np.random.Generator, epochs: int, start: float, floor: float, rate: float) -> np.ndarray:
    """A noisy exponential decay: the shape of a typical loss curve, nothing more."""
    t = np.arange(epochs)
    return (floor + (start - floor) * np.exp(-rate * t)) * (1 + 0.05 * rng.standard_normal(epochs))


def _write(experiment: str, name: str, config: dict[str, Any], rng: np.random.Generator, *,
           epochs_done: int | None = None, metric: str = "rmse_px", scale: float = 1.0) -> None:
    config = BASE | config
    epochs = config["epochs"] if epochs_done is None else epochs_done
    speed = {"sgd": 0.15, "momentum": 0.4, "adam": 0.7}.get(config["optimizer"], 0.5) * (config["lr"] / 1e-3) ** 0.2
    if config["init"] == "zeros":
        speed = 0.02
    train = _curve(rng, epochs, 0.05 * scale, 0.002 * scale, speed)
    val = _curve(rng, epochs, 0.05 * scale, 0.003 * scale, speed * 0.8)
    epoch_time = 2.0 + rng.random(epochs)
    score = np.sqrt(val / scale) * (48 if metric == "rmse_px" else 0.5)  # px at 96x96, or a fraction for NME
    writer = RunWriter(OUT, experiment, name, config, ENV)
    for e in range(epochs):
        writer.log_epoch({"epoch": e + 1, "train_loss": float(train[e]), "val_loss": float(val[e]),
                          f"val_{metric}": float(score[e]), "epoch_time_s": float(epoch_time[e]),
                          "wall_time_s": float(epoch_time[: e + 1].sum())})
    best = int(np.argmin(val))
    writer.update(started=STAMP, note="fixture: synthetic curves for dashboard tests",
                  best={"epoch": best + 1, "val_loss": float(val[best]), f"val_{metric}": float(score[best])})
    if epochs_done is None:
        writer.update(status="done", finished=STAMP)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    rng = np.random.default_rng(0)
    for model in ("simplenet", "convnet"):
        for optimizer in ("sgd", "momentum", "adam"):
            for lr in (1e-2, 1e-3):
                config = {"model": model, "optimizer": optimizer, "lr": lr}
                _write("optimizers", f"{model}-{optimizer}-lr{lr:g}", config, rng)
        for init in ("zeros", "xavier"):
            _write("init", f"{model}-{init}", {"model": model, "init": init, "optimizer": "momentum"}, rng)
    for aug in ("none", "flip"):
        for fold in range(3):
            _write("cv", f"{aug}-fold{fold}", {"augmentation": aug, "fold": fold}, rng)
    for loss in ("mse", "l1"):
        _write("imm_nose", f"{loss}", {"dataset": "imm_frontal", "loss": loss, "epochs": 6}, rng, metric="nme",
               scale=100.0)
    _write("imm_nose", "mse-live", {"dataset": "imm_frontal", "loss": "mse", "lr": 1e-4, "epochs": 6}, rng,
           epochs_done=3, metric="nme", scale=100.0)
    (OUT / "README.md").write_text("FIXTURES: synthetic run records for tests (tests/make_fixture_runs.py); "
                                   "not results of any training.\n")


if __name__ == "__main__":
    main()
