"""The forward of a stack of runs with the runs folded into the channels: no ``vmap``, no reshuffled activations.

Why: ``torch.func.vmap`` runs a stack's convolutions as grouped convolutions, but its max-pool rule moves the runs'
dimension to the front of the batch and the next convolution moves it back beside the channels: two copies of the
largest activations per stage, forward and backward. On the H200 a vmapped step of nine seed ConvNets spent 27% of
the GPU's time in ``aten::copy_`` (those moves, and autocast's casts) against ~15% in its convolutions
(``bench/results/grid_step_cuda_profile.txt``). Here the activations keep one layout from the first layer to the last:

* before any layer with weights: the shared batch, ``(B, C, H, W)`` or ``(B, F)``; or, when the runs train on
  batches of their own (a group of ``cv`` folds), those batches ``(R, B, C, H, W)`` folded as a convolution's
  output is, ``(B, R*C, H, W)``;
* after a convolution: ``(B, R*C, H, W)``, run r's channels at ``[r*C, (r+1)*C)`` (the layout a grouped convolution
  reads and writes, so ReLU and max-pooling apply unchanged); a first convolution that sees the shared batch is one
  dense convolution with ``R*C`` filters;
* after a flatten or a dense layer: ``(R, B, F)``, dense layers as one batched matrix product (``baddbmm``).

A ReLU followed by a max-pool runs as the max-pool followed by the ReLU (:func:`pool_before_relu`: exact, and the
ReLU then touches a quarter of the bytes).

Which models fold (:func:`foldable_layers`): an ``nn.Sequential``, or a seed ConvNet (``features`` then ``head``),
made only of convolutions without groups, ReLUs, max-pools, flattens, dense layers and per-run dropouts
(:class:`RunDropout`). Anything else keeps ``vmap``. The arithmetic is each run's
own (a grouped convolution is each group's convolution), so the losses and gradients equal vmap's up to float
summation order (``tests/test_grid_engine.py``).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from kpdemo.models.seed001 import ConvNet


class RunDropout(nn.Module):
    """``nn.Dropout`` with its rate in a buffer: stacked, each run applies its own rate (0 = exactly the identity),
    since a stack shares one module structure and a module attribute could not differ per run. Both stacked
    forwards use it: vmap's through ``functional_call``, :func:`folded_forward` by its buffer's name."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)
        return x * (keep / (1 - self.p))


#: Layers without weights that act on every channel (or feature) alike, so on folded activations unchanged.
CHANNELWISE = (nn.ReLU, nn.MaxPool2d)


def foldable_layers(template: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """``(name prefix, layer)`` in the order the model's forward applies them, or None when it does not fold."""
    if type(template) is ConvNet:
        parts = [("features.", template.features), ("head.", template.head)]
    elif type(template) is nn.Sequential:
        parts = [("", template)]
    else:
        return None
    layers = [(f"{prefix}{name}.", layer) for prefix, seq in parts for name, layer in seq.named_children()]
    return pool_before_relu(layers) if all(_foldable(layer) for _, layer in layers) else None


def pool_before_relu(layers: list[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """Each ReLU directly followed by a max-pool swapped with it: the same numbers, the ReLU's memory traffic cut
    to a quarter.

    ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly (ReLU never reorders values), and the gradients agree: both
    reach the window's first maximum when it is positive, and nothing when it is not. The ReLU then reads, writes
    and differentiates the pooled maps instead of the convolution's (four times larger, and the largest tensors of
    the step)."""
    out = list(layers)
    for i in range(len(out) - 1):
        if isinstance(out[i][1], nn.ReLU) and isinstance(out[i + 1][1], nn.MaxPool2d):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _foldable(layer: nn.Module) -> bool:
    if isinstance(layer, nn.Conv2d):
        return layer.groups == 1 and layer.padding_mode == "zeros" and layer.bias is not None
    if isinstance(layer, nn.Linear):
        return layer.bias is not None
    if isinstance(layer, nn.Flatten):
        return layer.start_dim == 1 and layer.end_dim == -1
    return isinstance(layer, (*CHANNELWISE, RunDropout))


def gemm_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, layer: nn.Conv2d,
                groups: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, groups=groups)`` with ``layer``'s stride, padding and dilation, computed as im2col
    (``F.unfold``) and one matrix product per image and group: the same sums in another order.

    Why: a stack's convolutions are grouped ones, one group per run with 32-128 channels each, and on the H200 they
    took ~38% of the compiled nine-run step's GPU time, and cuDNN's layout conversions around them another 17%
    (``bench/results/grid_step_cuda_profile.txt``, 2026-11-30): about 44 TFLOP/s, a few percent of the chip's bf16
    rate. As matrix products, run r's filters ``(O, C*k*k)`` times its unfolded patches ``(C*k*k, H'*W')`` for each
    image, they are cuBLAS's batched products, and the activations keep one contiguous layout. The patches cost
    memory (k*k times the input: 4x for the seed ConvNet's 2x2 kernels). Whether it pays is the GPU's to say: the
    compiled step races it (:meth:`trainers.engine.grid._Stack.variants`)."""
    if isinstance(layer.padding, str):  # "same" / "valid": leave the arithmetic of the padding to conv2d
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, groups)
    n, _, height, width = x.shape
    out, per_group, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    rows, cols = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    patches = F.unfold(x, (kh, kw), dilation=layer.dilation, padding=layer.padding, stride=layer.stride)
    patches = patches.view(n, groups, per_group * kh * kw, rows * cols)  # group g's channels are contiguous
    y = torch.matmul(weight.reshape(groups, out // groups, per_group * kh * kw), patches)  # (N, G, O/G, H'*W')
    return (y + bias.to(y.dtype).view(groups, out // groups, 1)).view(n, out, rows, cols)


def folded_forward(layers: list[tuple[str, nn.Module]], params: dict[str, torch.Tensor],
                   buffers: dict[str, torch.Tensor], x: torch.Tensor, runs: int,
                   channels_last: bool = False, gemm: bool = False) -> torch.Tensor:
    """Every run's output ``(R, B, ...)`` for the shared batch ``x`` ``(B, ...)``, or for each run's own batch
    ``x[r]`` when ``x`` is ``(R, B, C, H, W)``; ``params`` / ``buffers`` stacked along dim 0.

    ``channels_last``: the folded activations in channels-last memory, from the first convolution's output on (the
    same numbers). A channels-last batch alone does not do it: with one input channel both layouts are the same
    memory, and the convolution's output stays contiguous; from a channels-last input, every later convolution,
    ReLU and max-pool keeps the layout. Why try it: in bf16 cuDNN runs these convolutions in channels-last and
    spent 17% of the compiled contiguous step's GPU time converting layouts (``grid_step_cuda_profile.txt``,
    H200); the compiled step races both ways (:mod:`trainers.engine.compiled`). ``gemm``: every convolution as
    unfolded patches times filters (:func:`gemm_conv2d`), raced likewise."""
    state = "shared"  # then "folded" (B, R*C, H, W) after a convolution, "runs" (R, B, F) after a flatten / dense
    if x.dim() == 5:  # each run's own images: run r's channels at [r*C, (r+1)*C), as after a convolution
        if len(x) != runs:
            raise ValueError(f"{len(x)} batches for {runs} runs")
        x, state = x.transpose(0, 1).flatten(1, 2), "folded"
    first_convolution = True
    for prefix, layer in layers:
        if isinstance(layer, nn.Conv2d):
            weight, bias = params[f"{prefix}weight"], params[f"{prefix}bias"]
            if state == "runs":
                raise ValueError(f"{prefix}: a convolution after a dense layer does not fold")
            conv = partial(gemm_conv2d, layer=layer) if gemm else partial(
                F.conv2d, stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
            x = conv(x, weight.flatten(0, 1), bias.flatten(), groups=1 if state == "shared" else runs)
            if channels_last and first_convolution:
                x = x.contiguous(memory_format=torch.channels_last)
            state, first_convolution = "folded", False
        elif isinstance(layer, nn.Linear):
            weight, bias = params[f"{prefix}weight"], params[f"{prefix}bias"]
            if state == "shared":  # one product for all runs: (B, I) x (I, R*O)
                x = F.linear(x, weight.flatten(0, 1), bias.flatten()).unflatten(1, (runs, -1)).transpose(0, 1)
            else:  # as W x^T: the weight's gradient then comes out in its own layout (x W^T transposed it: a copy
                # of every run's largest matrix each step)
                x = torch.baddbmm(bias.unsqueeze(2), weight, x.transpose(1, 2)).transpose(1, 2)
            state = "runs"
        elif isinstance(layer, nn.Flatten):
            if state == "folded":  # (B, R*C, H, W) -> (R, B, C*H*W), each run's features in its own model's order
                x = x.unflatten(1, (runs, -1)).flatten(2).transpose(0, 1)
                state = "runs"
            else:
                x = x.flatten(1) if state == "shared" else x
        elif isinstance(layer, CHANNELWISE):
            if state == "runs" and isinstance(layer, nn.MaxPool2d):
                raise ValueError(f"{prefix}: pooling after a dense layer does not fold")
            x = layer(x)
        else:  # RunDropout: each run its own rate and masks
            rate = buffers[f"{prefix}p"]
            if state == "folded":
                raise ValueError(f"{prefix}: dropout between convolutions does not fold")
            if state == "shared":
                x, state = x.expand(runs, *x.shape), "runs"
            if layer.training:
                shape = (runs,) + (1,) * (x.dim() - 1)
                keep = (torch.rand_like(x) >= rate.view(shape)).to(x.dtype)
                x = x * (keep / (1 - rate.view(shape)))
    if state != "runs":
        raise ValueError("a folded model must end in a dense layer")
    return x
