"""ResNet18 for landmarks (seed 002 part 3): fc -> K*2, or a PCA shape head.

torchvision's layout (:mod:`kpdemo.models.trunks`, no torchvision needed), randomly initialised: nothing is ever
downloaded. ImageNet weights, when a user has the file, come in through
the trainer's ``weights`` setting (:mod:`trainers.engine.weights`). With ``in_channels`` other than 3 the first conv is
replaced (from RGB weights it gets the kernels summed, the usual grayscale adaptation).
"""

from __future__ import annotations

from torch import nn

from kpdemo.models.pca_head import PCAHead
from kpdemo.models.registry import register_model
from kpdemo.models.trunks import ResNet18


@register_model("resnet18", "ResNet18 (torchvision layout, no download): fc -> K*2 or PCA shape head")
def resnet18(
    num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, head: str = "direct",
    pca_components: int = 0, stages: int = 4,
) -> nn.Module:
    """``stages=3`` drops ``layer4`` (8.4M of the 11.2M parameters; at a 96 px input it runs on 3x3 maps), which
    keeps an fp16 checkpoint near 5.5 MB instead of 22 MB; ``layer1-3`` still take ImageNet weights."""
    if stages not in (3, 4):
        raise ValueError(f"stages must be 3 or 4, got {stages}")
    model = ResNet18(in_channels)
    if stages == 3:
        model.layer4 = nn.Identity()
    features = model.fc.in_features if stages == 4 else 256
    if head == "direct":
        fc: nn.Module = nn.Linear(features, num_points * 2)
    elif head == "pca":
        if pca_components < 1:
            raise ValueError("head='pca' needs pca_components >= 1")
        fc = PCAHead(features, num_points, pca_components)
    else:
        raise ValueError(f"unknown head {head!r}; known: direct, pca")
    model.fc = nn.Sequential(nn.Dropout(dropout), fc) if dropout else fc
    return model

