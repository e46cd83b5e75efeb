"""ONNX Runtime serving of a checkpoint's network, when ``python -m trainers.tools.export`` has written one.

Why: the same graph runs faster on one CPU thread in ONNX Runtime than in eager PyTorch (no Python dispatch per op,
fused conv + batch norm), and one ``InferenceSession`` may be called from several threads at once, so Gradio's
workers need no lock around it. The ``.pt`` stays the source of truth: an export records the SHA-256 of the
checkpoint it was made from and is used only while that still matches (:func:`load_fresh_export`), so retraining a
model never serves the old weights (file times cannot tell: a git clone sets them in checkout order).
``onnxruntime`` is imported lazily, so the app still starts (on PyTorch) where it is not installed.

An export may have an int8 twin, ``<stem>.int8.onnx`` (convolutions quantized, calibrated on training crops; see
``trainers.tools.export``), under the same freshness rule: ~2x faster per face on a CPU with VNNI, for a small
accuracy cost that live webcam frames can afford and photos need not pay.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kpdemo.files import file_sha256

#: Metadata key of an export holding the SHA-256 of the checkpoint file it was exported from.
SOURCE_KEY = "kpdemo.checkpoint_sha256"


def onnx_path(checkpoint: Path, int8: bool = False) -> Path:
    """Where a checkpoint's export lives: beside it, same stem (``checkpoints/foo.pt`` -> ``checkpoints/foo.onnx``,
    its int8 twin ``checkpoints/foo.int8.onnx``)."""
    return Path(checkpoint).with_suffix(".int8.onnx" if int8 else ".onnx")


def load_fresh_export(checkpoint: Path, int8: bool = False) -> OnnxNetwork | None:
    """The checkpoint's export (``int8``: its int8 twin), loaded, if it exists and was made from this very checkpoint
    file; None when absent or stale. Errors loading an existing export (no onnxruntime, a broken file) propagate to
    the caller."""
    export = onnx_path(checkpoint, int8)
    if not export.is_file():
        return None
    network = OnnxNetwork(export)
    return network if network.source_sha256 == file_sha256(checkpoint) else None


class OnnxNetwork:
    """An exported network as a callable: float32 batch (N, C, H, W) -> numpy output (N, K*2), on the CPU.

    ``threads`` is ONNX Runtime's intra-op pool: two cores by default (where there are two), which nearly halves a
    single face's latency (5.6 -> 3.6 ms for the 68-point PIP model on this 2-core machine, so a webcam frame keeps
    pace with MediaPipe's multi-threaded graph). Its threads do not spin while idle, so concurrent requests from
    several Gradio workers share the cores instead of burning them in busy-waits.
    """

    def __init__(self, path: Path, threads: int = min(2, os.cpu_count() or 1)) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.source_sha256 = self.session.get_modelmeta().custom_metadata_map.get(SOURCE_KEY, "")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
