"""What the int8 export of a checkpoint costs and buys: validation error and ONNX Runtime time, float vs int8.

Why a bench of its own: the app runs live webcam frames on ``<stem>.int8.onnx`` where the CPU has int8 dot
products (see :class:`~kpdemo.detection.checkpoint.CheckpointPredictor`) on the strength of these two numbers.
Error: the checkpoint's own dataset's ``val`` split (never test: this choice must not be tuned on the test faces),
ground-truth crops, scored by the same code as ``bench/checkpoint_eval.py``
(:class:`trainers.tools.evaluate.HeldOut`) with the two exports' predictions. Time: ``session.run`` on one face, the
two sessions alternating in one process (so load on a shared machine hits both alike), medians; as the app runs them
(:class:`~kpdemo.detection.onnx_backend.OnnxNetwork`, two threads). Exports both first where either is missing
(``python -m trainers.tools.export``). Writes ``bench/results/onnx_int8.csv``.

    nice -n 10 python bench/onnx_int8.py [checkpoints/ibug68_pip.pt ...] [--repeats 300]

Without checkpoints it compares every shipped landmark checkpoint, as the README's table shows them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.checkpoint_eval import landmark_checkpoints  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from kpdemo.checkpoints import load_checkpoint  # noqa: E402
from kpdemo.detection.cpu import has_int8_dot_product  # noqa: E402
from kpdemo.detection.onnx_backend import OnnxNetwork, load_fresh_export, onnx_path  # noqa: E402
from trainers.engine.train import predict  # noqa: E402
from trainers.tools.evaluate import HeldOut, held_out_predictions  # noqa: E402
from trainers.tools.export import main as export  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class OnnxModule(torch.nn.Module):
    """An export behind the ``nn.Module`` face that the trainer's :func:`predict` feeds batches to."""

    def __init__(self, network: OnnxNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.network(x.numpy()))


def median_ms(networks: list[OnnxNetwork], x: np.ndarray, repeats: int) -> list[float]:
    """Median ms per call of each network on ``x``, the networks taking turns, 5 calls a turn."""
    for network in networks:
        for _ in range(20):  # warm-up: thread pool, kernels' first-call set-up
            network(x)
    times = [[] for _ in networks]
    for _ in range(repeats):
        for network, spent in zip(networks, times, strict=True):
            start = time.perf_counter()
            for _ in range(5):
                network(x)
            spent.append((time.perf_counter() - start) / 5 * 1000)
    return [float(np.median(t)) for t in times]


def compare(checkpoint: Path, repeats: int) -> list[dict]:
    if load_fresh_export(checkpoint) is None or load_fresh_export(checkpoint, int8=True) is None:
        export([str(checkpoint)])
    networks = [OnnxNetwork(onnx_path(checkpoint, int8)) for int8 in (False, True)]
    held, meta = held_out_predictions(checkpoint, split="val"), load_checkpoint(checkpoint)[1]
    x = np.random.default_rng(0).standard_normal((1, meta.in_channels, *meta.input_size), dtype=np.float32)
    timings = median_ms(networks, x, repeats)
    rows = []
    for network, ms in zip(networks, timings, strict=True):
        pred = predict(OnnxModule(network), held.tensors, pixel_mean=meta.pixel_mean, pixel_std=meta.pixel_std,
                       channels_last=False)
        metrics = HeldOut(held.data, "val", held.part, held.tensors, pred).metrics()
        rows.append({"checkpoint": checkpoint.name, "export": network.path.name, "val_faces": metrics["images"],
                     "rmse_px": round(metrics["rmse_px"], 4), "nme_pct": round(100 * metrics.get("nme", np.nan), 4),
                     "run_median_ms": round(ms, 2), "MiB": round(network.path.stat().st_size / 2**20, 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, help="default: every shipped landmark checkpoint")
    parser.add_argument("--repeats", type=int, default=300, help="timing turns per network (5 calls each)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for onnx_int8.csv; default bench/results")
    args = parser.parse_args()
    checkpoints = args.checkpoints or landmark_checkpoints()
    table = pd.DataFrame([row for c in checkpoints for row in compare(c, args.repeats)])
    table = table.assign(**machine_context(), int8_dot_product=has_int8_dot_product())  # int8 is faster only with them
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "onnx_int8.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
