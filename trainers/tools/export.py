"""``python -m trainers.tools.export CHECKPOINT [CHECKPOINT ...] [--opset N] [--tolerance PX]``.

Exports each checkpoint's whole network (PIP's argmax + gather decoding included) to ``<checkpoint>.onnx`` beside
it, which the app then serves through ONNX Runtime (:class:`~kpdemo.detection.checkpoint.CheckpointPredictor`)
for as long as the checkpoint file is the one it was made from (its SHA-256 is in the export's metadata). The ``.pt``
stays the source of truth: re-export after retraining. Weights are stored as float16 with a Cast to float32 in
front of each (:func:`store_weights_fp16`), which ONNX Runtime folds away when it loads the file: the export is half
the size (a Hugging Face Space takes plain files up to 10 MiB) and computes in float32 as before; the shipped
checkpoints hold float16 weights already, so nothing is lost. Constants are folded before that (the exporter's
run-time zero biases would otherwise keep ONNX Runtime from fusing BatchNorm and using its fast conv kernels). Each
export is checked with ``onnx.checker`` and run
through ONNX Runtime on a random batch against PyTorch; an export that disagrees by more than ``--tolerance`` crop
pixels is deleted so it is never served.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxscript.optimizer
import torch

from kpdemo.detection.checkpoint import network_to_crop
from kpdemo.detection.onnx_backend import SOURCE_KEY, OnnxNetwork, file_sha256, onnx_path
from kpdemo.models import load_model

#: The opset torch's exporter writes natively (its torchlib); others go through onnx's version converter.
DEFAULT_OPSET = 18

#: Metadata key holding the checkpoint's :class:`~kpdemo.checkpoints.CheckpointMeta` as JSON (informational only).
META_KEY = "kpdemo.checkpoint_meta"


def store_weights_fp16(model: onnx.ModelProto) -> None:
    """Every float32 initializer becomes a float16 initializer plus a ``Cast`` back to float32 under the old name.

    ONNX Runtime's constant folding (on at its default optimisation level) turns each Cast of a constant into a
    float32 constant when the session is created, so inference is float32 and as fast as before."""
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        values = onnx.numpy_helper.to_array(init)
        half = onnx.numpy_helper.from_array(values.astype(np.float16), init.name + "_fp16")
        casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
        init.CopyFrom(half)
    for node in reversed(casts):
        graph.node.insert(0, node)


def export_onnx(checkpoint_path: Path, out_path: Path | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Export a checkpoint to ONNX (default: beside it, same stem), checked by ``onnx.checker``; returns the path.

    Graph: input ``image`` float32 (N, C, H, W) with a dynamic batch axis N, normalised as
    :meth:`~kpdemo.detection.checkpoint.CheckpointPredictor.predict_crops` does; output ``points`` (N, K*2) in
    [-1, 1]-spans-the-crop units. The file is written under a temporary name and moved into place only once the
    checker passes, so the app never picks up a half-written or invalid export.
    """
    checkpoint_path = Path(checkpoint_path)
    out = Path(out_path) if out_path is not None else onnx_path(checkpoint_path)
    model, meta = load_model(checkpoint_path)
    # A batch of 2, not 1: torch.export specialises size-1 dimensions, which would pin the batch axis to 1.
    example = torch.zeros(2, meta.in_channels, *meta.input_size)
    # The torch.export-based exporter (dynamo=True, needs onnxscript): the TorchScript one is deprecated in torch 2.9+.
    # optimize=False keeps BatchNorm apart from the convs: folded weights are not float16 values, so storing them as
    # float16 would change them; ONNX Runtime folds BatchNorm itself, in float32, when it loads the file.
    program = torch.onnx.export(
        model, (example,), dynamo=True, optimize=False, opset_version=opset, input_names=["image"],
        output_names=["points"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
    )
    # The exporter gives each bias-free conv a zero bias computed at run time (Expand of a Cast scalar); ONNX Runtime
    # leaves Expand unfolded, and a conv whose bias is not a constant can neither absorb its BatchNorm nor take the
    # blocked NCHWc kernels: folding the constants here makes the 68-point PIP network ~30% faster in ORT.
    onnxscript.optimizer.fold_constants(program.model)
    onnxscript.optimizer.remove_unused_nodes(program.model)
    program.model.metadata_props[META_KEY] = json.dumps(asdict(meta))
    program.model.metadata_props[SOURCE_KEY] = file_sha256(checkpoint_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    program.save(tmp, external_data=False)  # one self-contained file: these models are far below protobuf's 2 GB
    proto = onnx.load(str(tmp))
    store_weights_fp16(proto)
    onnx.save(proto, str(tmp))
    try:
        onnx.checker.check_model(str(tmp), full_check=True)
    except onnx.checker.ValidationError:
        tmp.unlink()
        raise
    tmp.replace(out)
    return out


def max_difference(onnx_file: Path, checkpoint_path: Path, batch: int = 4, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over a seeded random batch, in crop pixels (the unit a user sees).

    Inputs are uniform random pixels normalised as real crops are, so the network sees the value range the app
    feeds it. Float rounding alone gives ~1e-5 px; a larger difference means the graph computes something else
    (or, for PIP, two cell scores tie within rounding and the runtimes pick different cells).
    """
    model, meta = load_model(checkpoint_path)
    pixels = np.random.default_rng(seed).random((batch, meta.in_channels, *meta.input_size), dtype=np.float32)
    x = (pixels - meta.pixel_mean) / meta.pixel_std
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = OnnxNetwork(onnx_file)(x)
    hw = (int(meta.input_size[0]), int(meta.input_size[1]))
    return float(np.abs(network_to_crop(got, hw) - network_to_crop(expected, hw)).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.export", description=__doc__.split("\n\n")[1])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="kpdemo checkpoints (.pt)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="largest ONNX Runtime vs PyTorch difference to accept, in crop pixels (default 0.01)")
    args = parser.parse_args(argv)
    status = 0
    for checkpoint in args.checkpoints:
        out = export_onnx(checkpoint, opset=args.opset)
        diff = max_difference(out, checkpoint)
        print(f"{checkpoint} -> {out} ({out.stat().st_size / 2**20:.1f} MiB, opset {args.opset}): "
              f"max |onnxruntime - torch| = {diff:.2g} crop px")
        if diff > args.tolerance:
            out.unlink()
            print(f"{out} deleted: it differs from {checkpoint} by more than {args.tolerance} px", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
