"""ResNet18 without torchvision: the same modules, names and initialisation as ``torchvision.models.resnet18``.

Why our own: the GPU machines the training campaign runs on have PyTorch but no torchvision, and training must
not depend on it. The layer names match torchvision's exactly, so existing checkpoints load unchanged and a locally
kept ImageNet ``resnet18-*.pth`` still loads (:mod:`trainers.engine.weights`).
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm and an identity (or 1x1 projection) shortcut, as torchvision's."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """``conv1, bn1, relu, maxpool, layer1..4, avgpool, fc``: torchvision's ResNet18 module for module.

    ``width`` scales every layer's channels (0.5: 32, 64, 128, 256): a network ~4x cheaper a face, for live webcam
    frames, whose weights a full-width model's can seed (:mod:`trainers.engine.slim`)."""

    def __init__(self, in_channels: int = 3, num_outputs: int = 1000, width: float = 1.0) -> None:
        super().__init__()
        widths = tuple(max(1, round(base * width)) for base in (64, 128, 256, 512))
        planes = widths[0]
        self.conv1 = nn.Conv2d(in_channels, planes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, channels in enumerate(widths, 1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(planes, channels, stride),
                                                     BasicBlock(channels, channels)))
            planes = channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_outputs)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))
