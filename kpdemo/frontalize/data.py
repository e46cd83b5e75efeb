"""Frontalization pairs from the YouTube-Faces frames, as uint8 tensors ready for training and evaluation.

Every frame is first aligned geometrically (:func:`kpdemo.align.align_face`, 5-point similarity onto the ArcFace
template, 128x128 gray) through the cached ``aligned`` crops of :mod:`kpdemo.training.crops`; pairs are then made
within each split (identity-disjoint, so held-out people are never seen in training) by
:func:`kpdemo.frontalize.pairing.most_frontal_pairs`, with frontalness measured on the *original* 68 points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kpdemo.datasets import LandmarkSet, load_dataset
from kpdemo.frontalize.pairing import frontalness, most_frontal_pairs

#: The aligned faces (declared in :mod:`kpdemo.datasets.derived`) and the 68-point set they are cut from.
ALIGNED = "ytf_aligned128"
SOURCE = "ytf68"


@dataclass
class Pairs:
    """``inputs`` and ``targets`` uint8 (N, 1, 128, 128); ``identities`` and the input/target frontalness."""

    inputs: torch.Tensor
    targets: torch.Tensor
    identities: np.ndarray
    input_scores: np.ndarray
    target_scores: np.ndarray

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, n: int) -> Pairs:
        """The first ``n`` pairs (a CPU-budget subset; pairs are ordered by person, so this keeps whole people)."""
        if not n or n >= len(self):
            return self
        return Pairs(self.inputs[:n], self.targets[:n], self.identities[:n], self.input_scores[:n],
                     self.target_scores[:n])


def make_pairs(aligned: LandmarkSet, scores: np.ndarray) -> Pairs:
    """Pairs for one split of the aligned set; ``scores`` are the frontalness of its frames."""
    inputs, targets = most_frontal_pairs(aligned.identities, scores)
    images = torch.from_numpy(np.ascontiguousarray(aligned.images))[:, None]
    return Pairs(images[inputs], images[targets], aligned.identities[inputs], scores[inputs], scores[targets])


def frontal_pairs(split: str) -> Pairs:
    """The pairs of one ``ytf68`` split (``train``, ``val`` or ``test``)."""
    aligned = load_dataset(ALIGNED)
    scores = frontalness(load_dataset(SOURCE).points)
    keep = np.flatnonzero(aligned.splits == split)
    return make_pairs(aligned.select(keep), scores[keep])
