"""``python -m trainers.tools.export CHECKPOINT [CHECKPOINT ...] [--opset N] [--tolerance PX] [--int8-tolerance PX]``.

Exports each checkpoint's whole network (PIP's argmax + gather decoding included) to ``<checkpoint>.onnx`` beside
it, which the app then serves through ONNX Runtime (:class:`~kpdemo.detection.checkpoint.CheckpointPredictor`)
for as long as the checkpoint file is the one it was made from (its SHA-256 is in the export's metadata). The ``.pt``
stays the source of truth: re-export after retraining. Weights are stored as float16 with a Cast to float32 in
front of each (:func:`store_weights_fp16`), which ONNX Runtime folds away when it loads the file: the export is half
the size (a Hugging Face Space takes plain files up to 10 MiB) and computes in float32 as before; the shipped
checkpoints hold float16 weights already, so nothing is lost. A run's own ``best.pt`` holds float32 weights, which
the export rounds: it is checked against PyTorch on the rounded weights, and the tool prints how far the rounding
moves the points from the checkpoint's own. Constants are folded before that (the exporter's
run-time zero biases would otherwise keep ONNX Runtime from fusing BatchNorm and using its fast conv kernels). Each
export is checked with ``onnx.checker`` and run through ONNX Runtime on a random batch against PyTorch; an export
that disagrees by more than ``--tolerance`` crop pixels is deleted so it is never served.

Then an int8 twin, ``<checkpoint>.int8.onnx`` (:func:`export_int8`), which the app runs on live webcam frames:
convolutions quantized (int8 weights per channel, uint8 activations whose ranges come from training crops of the
checkpoint's own dataset), everything else float. For the 68-point PIP model it takes ``session.run`` from ~2.4 to
~1.1 ms on this 2-core VNNI CPU, for +0.4% relative NME on 300-W validation faces (3.599 -> 3.613%) and a mean
shift of 0.19 px from the float model (``bench/onnx_int8.py``; the export prints the shift). It is checked against
the float export on the validation crops and deleted when their mean distance exceeds ``--int8-tolerance``; it is
skipped, with a note, where the dataset is not here. CPUs without VNNI run it too, more slowly and possibly less
exactly (ONNX Runtime's AVX2 uint8 x int8 kernel can saturate), and the check runs on the exporting machine only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxscript.optimizer
import torch
from torch import nn

from kpdemo.checkpoints import CheckpointError, CheckpointMeta, load_checkpoint
from kpdemo.config import DataNotFoundError
from kpdemo.datasets import get_dataset
from kpdemo.detection.checkpoint import network_to_crop
from kpdemo.detection.onnx_backend import SOURCE_KEY, OnnxNetwork, onnx_path
from kpdemo.files import file_sha256, write_by_rename
from kpdemo.models import load_model
from kpdemo.training.tensors import TensorSet, pixels_to_input
from trainers.engine.data import cached_dataset
from trainers.engine.train import model_view

#: The opset torch's exporter writes natively (its torchlib); others go through onnx's version converter.
DEFAULT_OPSET = 18

#: Metadata key holding the checkpoint's :class:`~kpdemo.checkpoints.CheckpointMeta` as JSON (informational only).
META_KEY = "kpdemo.checkpoint_meta"

#: Training crops that set the int8 activation ranges: a few hundred cover a dataset's range of faces and lighting.
CALIBRATION_CROPS = 300


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
    # blocked NCHWc kernels: folding the constants here takes the 68-point PIP network from ~3.6 to ~2.5 ms in ORT.
    onnxscript.optimizer.fold_constants(program.model)
    onnxscript.optimizer.remove_unused_nodes(program.model)
    program.model.metadata_props[META_KEY] = json.dumps(asdict(meta))
    program.model.metadata_props[SOURCE_KEY] = file_sha256(checkpoint_path)
    with tempfile.TemporaryDirectory() as scratch:  # a scratch file of this call's own, never beside ``out``
        saved = Path(scratch) / out.name
        program.save(saved, external_data=False)  # one self-contained file: these models are far below 2 GB
        proto = onnx.load(str(saved))
    store_weights_fp16(proto)
    onnx.checker.check_model(proto, full_check=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_by_rename(out, lambda file: file.write(proto.SerializeToString()))
    return out


def as_stored(model: nn.Module) -> nn.Module:
    """``model`` with every floating-point weight and buffer rounded to float16 and back: the values its export
    holds (:func:`store_weights_fp16`). A shipped checkpoint holds those already; a user's run holds float32 ones."""
    state = model.state_dict()
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def holds_float32(checkpoint_path: Path) -> bool:
    """Whether a checkpoint keeps float32 weights (a run's own ``best.pt``), which its export rounds to float16."""
    state, _ = load_checkpoint(checkpoint_path)
    return any(v.dtype == torch.float32 for v in state.values())


def max_difference(onnx_file: Path, checkpoint_path: Path, batch: int = 4, seed: int = 0,
                   stored: bool = True) -> float:
    """Largest |ONNX Runtime - PyTorch| over a seeded random batch, in crop pixels (the unit a user sees).

    PyTorch runs the checkpoint's weights as the export stores them (``stored``: rounded to float16), so this
    measures whether the graph computes what the model does; ``stored=False`` compares with the checkpoint's own
    weights instead, which for float32 ones adds the rounding's shift (0.014 px for a ConvNet of ``python -m
    trainers augmentation --quick``: alone, it once failed the export of a user's run at the 0.01 px tolerance, while
    the graph agreed to 3e-5 px). Inputs are uniform random pixels normalised as real crops are, so the network
    sees the value range the app feeds it. Float rounding alone gives ~1e-5 px; a larger difference means the graph
    computes something else (or, for PIP, two cell scores tie within rounding and the runtimes pick different cells).
    """
    model, meta = load_model(checkpoint_path)
    if stored:
        model = as_stored(model)
    pixels = np.random.default_rng(seed).random((batch, meta.in_channels, *meta.input_size), dtype=np.float32)
    x = (pixels - meta.pixel_mean) / meta.pixel_std
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = OnnxNetwork(onnx_file)(x)
    hw = (int(meta.input_size[0]), int(meta.input_size[1]))
    return float(np.abs(network_to_crop(got, hw) - network_to_crop(expected, hw)).max())


def dataset_inputs(meta: CheckpointMeta, split: str, count: int | None = None, seed: int = 0) -> np.ndarray:
    """Network inputs (N, C, H, W) float32 from a split of the checkpoint's own dataset, cut and normalised as
    evaluation does (the model's centre view of wider stored crops); ``count`` draws a seeded sample."""
    part = cached_dataset(get_dataset(meta.dataset).held_out_name(split)).split(split)
    if count is not None and count < len(part):
        part = part.select(np.sort(np.random.default_rng(seed).choice(len(part), count, replace=False)))
    tensors = TensorSet.from_landmarks(part)
    view = model_view(tensors, tensors.hw[0] / meta.input_size[0])
    return pixels_to_input(view.images, meta.pixel_mean, meta.pixel_std).numpy()


def export_int8(checkpoint_path: Path, calibration: np.ndarray | None = None) -> Path:
    """Quantize the checkpoint's float export (written first by :func:`export_onnx`) to ``<stem>.int8.onnx``.

    Static QDQ quantization of the convolutions only: they are ~90% of the network's time; the residual adds and
    PIP's decoding (argmax, gathers, the neighbour merge) stay float, where 8 bits would round point coordinates.
    Measured on the 68-point model: quantizing the adds and pooling as well is no faster beyond noise and moves the
    points 1.7x as far from the float ones; quantizing every op but the merge gives val NME 3.883% (convs only:
    3.868%). ``calibration``: float inputs (N, C, H, W) whose activation ranges (min/max) set the scales; default
    :data:`CALIBRATION_CROPS` training crops of the checkpoint's dataset (never test data). ``quant_pre_process``
    first folds the float16 Casts and BatchNorm into the conv weights (ONNX Runtime's basic optimisations), so the
    quantizer sees plain convs with float32 weights. The weights keep 7 bits (``reduce_range``): on x86 CPUs without
    VNNI (AVX2 only, such as a first-generation AMD EPYC) ONNX Runtime's uint8 x int8 convolutions add pairs of
    products in 16 bits, which full 8-bit weights overflow; on such a CPU the int8 points lay a median 1.16 px from
    the float ones on the test fixtures' crops (``tests/test_onnx_export.py``), 0.19 px with 7-bit weights."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    checkpoint_path = Path(checkpoint_path)
    if calibration is None:
        calibration = dataset_inputs(load_model(checkpoint_path)[1], "train", CALIBRATION_CROPS)

    class Inputs(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            row = next(self.rows, None)
            return None if row is None else {"image": row[None].astype(np.float32)}

    out = onnx_path(checkpoint_path, int8=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # The symbolic shape pass cannot read the exporter's Constant nodes; ONNX's own shape inference suffices.
        quant_pre_process(str(onnx_path(checkpoint_path)), str(prepared), skip_symbolic_shape=True)
        staged = Path(tmp) / out.name
        quantize_static(str(prepared), str(staged), Inputs(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, reduce_range=True)
        onnx.checker.check_model(str(staged), full_check=True)
        staged.replace(out)  # the float export's metadata (source SHA-256, meta) is carried over by the quantizer
    return out


def mean_difference(a: Path, b: Path, inputs: np.ndarray, hw: tuple[int, int]) -> float:
    """Mean distance in crop pixels between the points two exports give for the same inputs (N, C, H, W)."""
    points_a, points_b = (network_to_crop(OnnxNetwork(f)(inputs), hw) for f in (a, b))
    return float(np.linalg.norm(points_a - points_b, axis=-1).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.export", description=__doc__.split("\n\n")[1])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="kpdemo checkpoints (.pt)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="largest ONNX Runtime vs PyTorch difference to accept, in crop pixels, on the "
                             "float16 weights the export stores (default 0.01)")
    parser.add_argument("--int8-tolerance", type=float, default=0.5,
                        help="largest mean int8 vs float distance on validation crops to accept, in crop pixels "
                             "(default 0.5)")
    args = parser.parse_args(argv)
    status = 0
    for checkpoint in args.checkpoints:
        try:
            out = export_onnx(checkpoint, opset=args.opset)
        except CheckpointError as exc:  # checkpoints/*.pt holds the frontalizer too: the others still export
            print(f"{checkpoint} skipped: not a landmark checkpoint ({exc})", file=sys.stderr)
            continue
        diff = max_difference(out, checkpoint)
        print(f"{checkpoint} -> {out} ({out.stat().st_size / 2**20:.1f} MiB, opset {args.opset}): "
              f"max |onnxruntime - torch| = {diff:.2g} crop px")
        if holds_float32(checkpoint):
            print(f"    its float32 weights are stored as float16: the export's points lie up to "
                  f"{max_difference(out, checkpoint, stored=False):.2g} crop px from the checkpoint's own")
        if diff > args.tolerance:
            out.unlink()
            print(f"{out} deleted: it differs from {checkpoint} by more than {args.tolerance} px", file=sys.stderr)
            status = 1
            continue
        status = max(status, write_int8(checkpoint, out, args.int8_tolerance))
    return status


def write_int8(checkpoint: Path, float_export: Path, tolerance: float) -> int:
    """The CLI's int8 step for one checkpoint: 0 when written and checked or skipped for want of data, 1 when
    deleted for disagreeing with the float export."""
    meta = load_model(checkpoint)[1]
    try:
        int8 = export_int8(checkpoint)
        check = dataset_inputs(meta, "val")
    except (DataNotFoundError, KeyError) as exc:  # the dataset is not here (or not registered here)
        print(f"{checkpoint}: no int8 export, its calibration data is missing ({exc})", file=sys.stderr)
        return 0
    shift = mean_difference(int8, float_export, check, (int(meta.input_size[0]), int(meta.input_size[1])))
    print(f"{checkpoint} -> {int8} ({int8.stat().st_size / 2**20:.1f} MiB): mean |int8 - float| = {shift:.3f} "
          f"crop px on {len(check)} validation crops")
    if shift > tolerance:
        int8.unlink()
        print(f"{int8} deleted: it moves points by more than {tolerance} px on average", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
