"""PIP landmark networks: heatmap + offset heads with neighbour regression (PIPNet, Jin et al., IJCV 2021).

Why this head: a fully connected head regressing 136 numbers from pooled features loses spatial precision and
needs a lot of data; a dense heatmap at stride 4 keeps precision but costs an upsampling decoder that a CPU cannot
afford. PIP sits between: on the backbone's coarse map (8x8 at stride 16 for a 128 px crop) each landmark gets

* a **score map** (which cell holds the point), trained with MSE against a one-hot target,
* an **offset** (where in that cell, in cell units), trained with L1 at the true cell only,
* **neighbour offsets**: from its own cell it also regresses its ``neighbors`` nearest landmarks (in the mean
  training shape); at inference each point is the mean of its own estimate and those of the landmarks that list it
  as a neighbour, which pulls outliers (an occluded eye corner) back toward a plausible shape.

Decoding (argmax cell + offsets, then the neighbour average, a fixed matrix product) runs inside ``forward``, so the
model keeps the registry's contract (``(N, K*2)`` points in normalised crop units) and exports to ONNX whole.
The neighbour table is fitted on the training shapes (``fit_shapes``, called by the trainer before training) and
stored as buffers, so a checkpoint carries it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kpdemo.models.registry import register_model
from kpdemo.models.trunks import ResNet18

#: PIPNet's loss weights: score maps x10, offsets x1 (offsets are in cell units, ~[0, 1]).
SCORE_WEIGHT = 10.0


def resnet18_trunk(in_channels: int, stages: int, width: float = 1.0) -> tuple[nn.Module, int, int]:
    """ResNet18 (:mod:`kpdemo.models.trunks`, torchvision's layout, channels scaled by ``width``) up to
    ``layer{stages}``: (trunk, channels, stride)."""
    if stages not in (3, 4):
        raise ValueError(f"stages must be 3 or 4, got {stages}")
    net = ResNet18(in_channels, width=width)
    layers = [net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3]
    if stages == 4:
        layers.append(net.layer4)
    last = layers[-1][-1].bn2.num_features
    return nn.Sequential(*layers), last, (16 if stages == 3 else 32)


def mobilenet_trunk(in_channels: int, stages: int, width: float = 1.0) -> tuple[nn.Module, int, int]:
    """torchvision MobileNetV3-Large features to stride 16 (``stages=3``, 112 ch) or 32 (``stages=4``, 960 ch).

    torchvision is imported here only: the ResNet trunk trains where it is not installed (the GPU campaign)."""
    import torchvision

    if width != 1.0:
        raise ValueError("the MobileNetV3 trunk has one width; width applies to the resnet18 trunk")

    feats = torchvision.models.mobilenet_v3_large(weights=None).features
    if in_channels != 3:
        first = feats[0][0]
        feats[0][0] = nn.Conv2d(in_channels, first.out_channels, 3, stride=2, padding=1, bias=False)
    if stages == 3:
        return feats[:13], 112, 16
    if stages == 4:
        return feats, 960, 32
    raise ValueError(f"stages must be 3 or 4, got {stages}")


TRUNKS = {"resnet18": resnet18_trunk, "mobilenet_v3": mobilenet_trunk}


def cell_targets(points: torch.Tensor, map_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised points (N, K, 2) -> (cell index (N, K) into the flattened map, position in cell units (N, K, 2)).

    Points outside the crop are clamped to the border cells (their offsets then reach past [0, 1], still correct).
    """
    h, w = map_hw
    grid = (points + 1) / 2 * points.new_tensor([w, h])  # continuous map coordinates
    col = grid[..., 0].floor().clamp(0, w - 1)
    row = grid[..., 1].floor().clamp(0, h - 1)
    return (row * w + col).long(), grid


def decode_cells(index: torch.Tensor, map_hw: tuple[int, int]) -> torch.Tensor:
    """Flattened cell index (N, K) -> top-left corner of the cell in map units (N, K, 2)."""
    w = map_hw[1]
    col = index % w
    row = torch.div(index, w, rounding_mode="floor")
    return torch.stack([col, row], -1).float()


def at_cells(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-landmark maps (N, K, ..., HW) read at one cell per landmark (``index`` (N, K)) -> (N, K, ...): the
    offsets of the decoded cell at inference, of the true cell in the loss."""
    at = index.reshape(*index.shape, *(1,) * (maps.dim() - 2))
    return maps.gather(-1, at.expand(*maps.shape[:-1], 1)).squeeze(-1)


def nearest_neighbors(mean_shape: np.ndarray, count: int) -> np.ndarray:
    """(K, count) indices of each point's ``count`` nearest other points in ``mean_shape`` (K, 2)."""
    dist = np.linalg.norm(mean_shape[:, None] - mean_shape[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    return np.argsort(dist, axis=1, kind="stable")[:, :count]


def merge_matrix(neighbors: np.ndarray) -> np.ndarray:
    """(K, K + K*C) averaging matrix: point j = mean of its own estimate and every neighbour estimate of j."""
    k, c = neighbors.shape
    m = np.zeros((k, k + k * c), np.float32)
    m[np.arange(k), np.arange(k)] = 1
    for src in range(k):
        for slot in range(c):
            m[neighbors[src, slot], k + src * c + slot] = 1
    return m / m.sum(1, keepdims=True)


class PIPNet(nn.Module):
    """Backbone trunk + three 1x1 heads (scores, offsets, neighbour offsets) + decoding to points."""

    def __init__(self, trunk: nn.Module, channels: int, stride: int, num_points: int, input_size: tuple[int, int],
                 neighbors: int, dropout: float = 0.0) -> None:
        super().__init__()
        if input_size[0] % stride or input_size[1] % stride:
            raise ValueError(f"input {input_size} is not a multiple of the trunk's stride {stride}")
        self.trunk = trunk
        self.map_hw = (input_size[0] // stride, input_size[1] // stride)
        self.num_points, self.num_neighbors = num_points, neighbors
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.score = nn.Conv2d(channels, num_points, 1)
        self.offset = nn.Conv2d(channels, 2 * num_points, 1)
        self.neighbor_offset = nn.Conv2d(channels, 2 * num_points * neighbors, 1) if neighbors else None
        for conv in (self.score, self.offset, self.neighbor_offset):
            if conv is not None:
                nn.init.normal_(conv.weight, std=0.001)
                nn.init.zeros_(conv.bias)
        # Until fit_shapes runs, neighbours are "the next points" and the merge is the own estimate only.
        table = np.stack([(np.arange(num_points) + s + 1) % num_points for s in range(neighbors)], 1) \
            if neighbors else np.zeros((num_points, 0), np.int64)
        self.register_buffer("neighbor_index", torch.from_numpy(table.astype(np.int64)))
        own_only = np.zeros((num_points, num_points * (1 + neighbors)), np.float32)
        own_only[:, :num_points] = np.eye(num_points)
        self.register_buffer("merge", torch.from_numpy(own_only))

    def fit_shapes(self, points: np.ndarray) -> None:
        """Neighbour table from the mean training shape (normalised points, (N, K, 2)); called before training."""
        if not self.num_neighbors:
            return
        table = nearest_neighbors(np.nanmean(points, 0), self.num_neighbors)
        self.neighbor_index.copy_(torch.from_numpy(table))
        self.merge.copy_(torch.from_numpy(merge_matrix(table)))

    def maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Raw head outputs: scores (N, K, HW), offsets (N, K, 2, HW), neighbour offsets (N, K, C, 2, HW)."""
        f = self.dropout(self.trunk(x))
        n, k, c = f.shape[0], self.num_points, self.num_neighbors
        scores = self.score(f).flatten(2)
        offsets = self.offset(f).reshape(n, k, 2, -1)
        neighbor = self.neighbor_offset(f).reshape(n, k, c, 2, -1) if self.neighbor_offset is not None else None
        return scores, offsets, neighbor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(*self.maps(x))

    def decode(self, scores: torch.Tensor, offsets: torch.Tensor, neighbor: torch.Tensor | None) -> torch.Tensor:
        """Head outputs (as :meth:`maps` gives them) -> (N, K*2) normalised points: best cell + its offset, averaged
        with the neighbours' estimates through the fitted ``merge`` matrix."""
        n, k = scores.shape[:2]
        index = scores.argmax(-1)  # (N, K)
        corner = decode_cells(index, self.map_hw)  # (N, K, 2)
        estimates = [corner + at_cells(offsets, index)]
        if neighbor is not None:
            estimates.append((corner[:, :, None] + at_cells(neighbor, index)).reshape(n, k * self.num_neighbors, 2))
        merged = self.merge @ torch.cat(estimates, 1)  # (K, K+KC) @ (N, K+KC, 2) -> (N, K, 2)
        scale = merged.new_tensor([self.map_hw[1], self.map_hw[0]])
        return (merged / scale * 2 - 1).reshape(n, k * 2)

    def landmark_loss(self, x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                      kind: str = "l1") -> torch.Tensor:
        """PIPNet's loss on one batch: ``SCORE_WEIGHT`` x MSE(scores, one-hot) + L1 of own and neighbour offsets
        at the true cell, over visible points (``kind`` is accepted for the trainer's signature; the offsets use
        ``l1`` always, as PIPNet does)."""
        scores, offsets, neighbor = self.maps(x)
        cells = scores.shape[-1]
        index, grid = cell_targets(target.float(), self.map_hw)
        corner = decode_cells(index, self.map_hw)
        visible = mask.float()
        one_hot = F.one_hot(index, cells).to(scores.dtype)
        score_loss = ((scores.float() - one_hot).square().mean(-1) * visible).sum() / visible.sum().clamp_min(1)
        offset_err = (at_cells(offsets, index).float() - (grid - corner)).abs().sum(-1)  # (N, K)
        parts = [offset_err]
        weights = [visible]
        if neighbor is not None:
            picked = at_cells(neighbor, index).float()
            nb_grid = grid[:, self.neighbor_index]  # (N, K, C, 2): where each neighbour really is
            parts.append((picked - (nb_grid - corner[:, :, None])).abs().sum(-1).mean(-1))
            weights.append(visible * mask[:, self.neighbor_index].float().mean(-1))
        offset_loss = sum((p * w).sum() / w.sum().clamp_min(1) for p, w in zip(parts, weights, strict=True)) / 2
        return SCORE_WEIGHT * score_loss + offset_loss


@register_model("pip", "PIP heatmap + offset + neighbour heads on a ResNet18 / MobileNetV3 trunk (CPU-sized)")
def pip(num_points: int, in_channels: int, input_size: tuple[int, int], dropout: float, backbone: str = "resnet18",
        stages: int = 3, neighbors: int = 10, width: float = 1.0) -> nn.Module:
    """``backbone`` resnet18 | mobilenet_v3; ``stages=3`` stops at stride 16 (8x8 maps for a 128 px crop);
    ``width`` scales the resnet18 trunk's channels (0.5: the live-frame network)."""
    if backbone not in TRUNKS:
        raise ValueError(f"unknown backbone {backbone!r}; known: {', '.join(TRUNKS)}")
    trunk, channels, stride = TRUNKS[backbone](in_channels, stages, width)
    return PIPNet(trunk, channels, stride, num_points, input_size, neighbors, dropout)
