"""The two networks of seed 001 ("Tensorflow - Facial Feature Detector"): SimpleNet and ConvNet.

SimpleNet: flattened 96x96 image -> Dense 1000 (ReLU) -> Dense K*2.
ConvNet: 3 x (conv + ReLU + 2x2 max-pool) with 32/64/128 filters of 3x3/2x2/2x2 (no padding, as in the
Kaggle-tutorial lineage the seed follows), then Dense 1000 -> Dense 1000 -> Dense K*2. Dropout, when asked for,
goes before each hidden dense layer.
"""

from __future__ import annotations

import torch
from torch import nn

from kpdemo.models.registry import register_model


def _dense_head(in_features: int, hidden: tuple[int, ...], out_features: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


@register_model("simplenet", "SimpleNet (seed 001): 9216 -> 1000 -> K*2")
def simplenet(
    num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, hidden: int = 1000
) -> nn.Module:
    return _dense_head(in_channels * input_size[0] * input_size[1], (hidden,), num_points * 2, dropout)


class ConvNet(nn.Module):
    """Three conv/pool stages then a dense head; the flattened size is worked out from ``input_size``."""

    def __init__(
        self,
        num_points: int,
        in_channels: int,
        input_size: tuple[int, int],
        dropout: float,
        filters: tuple[int, ...] = (32, 64, 128),
        kernels: tuple[int, ...] = (3, 2, 2),
        hidden: tuple[int, ...] = (1000, 1000),
    ) -> None:
        super().__init__()
        if len(filters) != len(kernels):
            raise ValueError(f"filters {filters} and kernels {kernels} must have the same length")
        stages: list[nn.Module] = []
        channels = in_channels
        for f, k in zip(filters, kernels, strict=True):
            stages += self.stage(channels, f, k)
            channels = f
        self.features = nn.Sequential(*stages)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, *input_size)).numel()
        self.head = _dense_head(flat, tuple(hidden), num_points * 2, dropout)

    @staticmethod
    def stage(in_channels: int, out_channels: int, kernel: int) -> list[nn.Module]:
        """One conv stage (subclasses change it, e.g. padding + batch norm in :class:`kpdemo.models.imm.ImmNet`)."""
        return [nn.Conv2d(in_channels, out_channels, kernel), nn.ReLU(inplace=True), nn.MaxPool2d(2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("convnet", "ConvNet (seed 001): 3 x conv+pool, dense 1000-1000-K*2")
def convnet(num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, **kwargs) -> nn.Module:
    return ConvNet(num_points, in_channels, input_size, dropout, **kwargs)
