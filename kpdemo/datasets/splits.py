"""Deterministic, seeded splits that keep every group (person) on one side."""

from __future__ import annotations

import numpy as np

DEFAULT_SEED = 0


def group_split(
    groups: np.ndarray, val_fraction: float, test_fraction: float, seed: int = DEFAULT_SEED
) -> np.ndarray:
    """Assign each sample 'train' / 'val' / 'test' so that no group straddles two splits.

    Groups are sorted before a seeded shuffle, so the result depends only on the set of group names and the
    seed, not on row order. Counts are rounded per group, with at least one group in each non-zero fraction
    while groups last: train always keeps one, then test, then val (so a 2-person set gets train + test).
    """
    names = np.array(sorted(set(groups.tolist())), dtype=object)
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(1, round(test_fraction * len(names))) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * len(names))) if val_fraction > 0 else 0
    if len(names) < 2:
        raise ValueError(f"cannot split {len(names)} group(s) into train and held-out parts")
    n_test = min(n_test, len(names) - 1)
    n_val = min(n_val, len(names) - 1 - n_test)
    assignment = {}
    for rank, gi in enumerate(order):
        assignment[names[gi]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return np.array([assignment[g] for g in groups], dtype=object)


def holdout_val(splits: np.ndarray, val_fraction: float, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Move a seeded ``val_fraction`` of the 'train' rows to 'val' (for sets with a fixed test split)."""
    out = splits.copy()
    train = np.flatnonzero(splits == "train")
    rng = np.random.default_rng(seed)
    out[rng.choice(train, size=round(val_fraction * len(train)), replace=False)] = "val"
    return out
