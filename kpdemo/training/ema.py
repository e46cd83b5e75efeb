"""An exponential moving average of a model's weights, the usual cheap regulariser for small-data training.

The average is what gets evaluated and shipped: on 1,500-5,000 faces the raw weights jitter from batch to batch,
and the average of the last few hundred steps is smoother and scores better (as in timm and YOLO recipes).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """``shadow = decay * shadow + (1 - decay) * weights`` after every optimizer step; buffers (BatchNorm running
    statistics, fitted tables) are copied as they are."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.steps = 0
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Warmed up as in timm: the decay grows as (1 + step) / (10 + step) toward ``decay``, so the average of a
        short run is not stuck near its random start."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        shadow = list(self.module.parameters())
        torch._foreach_lerp_(shadow, [p.detach() for p in model.parameters()], 1.0 - decay)
        for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
