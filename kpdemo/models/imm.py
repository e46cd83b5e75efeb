"""The seed-002 part-2 network for all IMM points, and the part-1 nose network, both as :class:`ConvNet` variants.

ImmNet: six conv layers (7x7 and 5x5 kernels early, as in seed 002, so the first layers see whole eye/mouth parts),
each padded, batch-normalised and followed by a 2x2 max-pool, then a dense 256 -> K*2 head. Batch norm is added so
the net trains in a CPU budget of minutes on 80 faces; the first conv's kernels are the seed's filter figure.
"""

from __future__ import annotations

from torch import nn

from kpdemo.models.registry import register_model
from kpdemo.models.seed001 import ConvNet


class ImmNet(ConvNet):
    """Conv(k, padding k//2) + BN + ReLU + 2x2 max-pool per stage (six by default), then a dense head."""

    @staticmethod
    def stage(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
        return [nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True), nn.MaxPool2d(2)]


@register_model("immnet", "IMM net (seed 002 part 2): 6 x conv+BN+pool, dense 256 -> K*2")
def immnet(num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, **kwargs) -> nn.Module:
    defaults = {"filters": (16, 32, 32, 64, 64, 128), "kernels": (7, 5, 5, 3, 3, 3), "hidden": (256,)}
    return ImmNet(num_points, in_channels, input_size, dropout, **(defaults | kwargs))


@register_model("nosenet", "Nose net (seed 002 part 1): 3 x conv+pool, dense 128-64 -> K*2")
def nosenet(num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, **kwargs) -> nn.Module:
    """Seed 001's ConvNet sized for an 80x60 IMM image: 3 conv layers (16/32/32, 5/3/3) and 3 dense layers."""
    defaults = {"filters": (16, 32, 32), "kernels": (5, 3, 3), "hidden": (128, 64)}
    return ConvNet(num_points, in_channels, input_size, dropout, **(defaults | kwargs))
