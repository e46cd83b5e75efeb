"""Seed a slim PIP ResNet18 (``width`` < 1) with a full-width one's weights: each layer keeps its most used channels.

Why: the live-frame network must be several times cheaper a face than the shipped 68-point model, and a network
trained from scratch needs hundreds of CPU epochs to learn what the shipped one knows (no ImageNet weights may be
had). Keeping the channels whose batch-norm scale |gamma| is largest (network slimming, Liu et al., ICCV 2017) and
fine-tuning starts the slim network from a working face model instead.

A ResNet's residual stream is summed across blocks, so every block of a stage writes the same channel set: the stem
and ``layer1`` share one set, each later layer chooses a new one (its projection shortcut writes it), scored by the
summed |gamma| of every batch norm writing into it. Each block's inner channels are chosen by its first batch norm.
The heads read the last stream's set.
"""

from __future__ import annotations

import torch
from torch import nn

from kpdemo.models.pip import PIPNet


def _top(score: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` largest scores, in channel order (so neighbouring channels stay neighbours)."""
    return score.topk(count).indices.sort().values


def _gamma(bn: nn.BatchNorm2d) -> torch.Tensor:
    return bn.weight.detach().abs()


def _copy_conv(wide: nn.Conv2d, slim: nn.Conv2d, out: torch.Tensor | None, inp: torch.Tensor | None) -> None:
    weight = wide.weight.detach()
    weight = weight if out is None else weight[out]
    slim.weight.data.copy_(weight if inp is None else weight[:, inp])
    if wide.bias is not None and slim.bias is not None:
        slim.bias.data.copy_(wide.bias.detach() if out is None else wide.bias.detach()[out])


def _copy_bn(wide: nn.BatchNorm2d, slim: nn.BatchNorm2d, keep: torch.Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(slim, name).data.copy_(getattr(wide, name).detach()[keep])


def _stream_score(blocks: nn.Sequential, extra: torch.Tensor | None = None) -> torch.Tensor:
    """How much a stage's blocks write into each channel of its residual stream."""
    score = sum(_gamma(block.bn2) for block in blocks)
    for block in blocks:
        if block.downsample is not None:
            score = score + _gamma(block.downsample[1])
    return score if extra is None else score + extra


def slim_into(wide: PIPNet, slim: PIPNet) -> None:
    """Copy ``wide``'s weights into ``slim`` (both PIP on a ResNet18 trunk of the same depth and points; ``slim``
    narrower), keeping each layer's most used channels (module docstring)."""
    conv1, bn1, _, _, *wide_layers = wide.trunk
    slim_conv1, slim_bn1, _, _, *slim_layers = slim.trunk
    if len(wide_layers) != len(slim_layers) or wide.num_points != slim.num_points:
        raise ValueError("slimming needs two PIP ResNet18 networks of the same depth and points")
    # The stem writes the stream layer1's blocks add to (layer1 has no projection): one set for both.
    stream = _top(_stream_score(wide_layers[0], _gamma(bn1)), slim_bn1.num_features)
    _copy_conv(conv1, slim_conv1, stream, None)
    _copy_bn(bn1, slim_bn1, stream)
    for wide_layer, slim_layer in zip(wide_layers, slim_layers, strict=True):
        into = stream
        if slim_layer[0].downsample is not None:
            stream = _top(_stream_score(wide_layer), slim_layer[0].bn2.num_features)
        for wide_block, slim_block in zip(wide_layer, slim_layer, strict=True):
            inner = _top(_gamma(wide_block.bn1), slim_block.bn1.num_features)
            _copy_conv(wide_block.conv1, slim_block.conv1, inner, into)
            _copy_bn(wide_block.bn1, slim_block.bn1, inner)
            _copy_conv(wide_block.conv2, slim_block.conv2, stream, inner)
            _copy_bn(wide_block.bn2, slim_block.bn2, stream)
            if slim_block.downsample is not None:
                _copy_conv(wide_block.downsample[0], slim_block.downsample[0], stream, into)
                _copy_bn(wide_block.downsample[1], slim_block.downsample[1], stream)
            into = stream
    for name in ("score", "offset", "neighbor_offset"):
        wide_head, slim_head = getattr(wide, name), getattr(slim, name)
        if wide_head is not None and slim_head is not None:
            _copy_conv(wide_head, slim_head, None, stream)
    slim.neighbor_index.copy_(wide.neighbor_index)
    slim.merge.copy_(wide.merge)
