"""Which images a run trains, validates and tests on: the dataset's splits, a k-fold split, or seeded subsets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kpdemo.datasets import LandmarkSet, load_dataset
from trainers.engine.config import TrainConfig


@dataclass
class Splits:
    train: LandmarkSet
    val: LandmarkSet
    test: LandmarkSet


@lru_cache(maxsize=2)
def cached_dataset(name: str) -> LandmarkSet:
    """Grids run many configs on one dataset in a process: read it once."""
    return load_dataset(name)


def fold_assignment(data: LandmarkSet, folds: int, seed: int) -> np.ndarray:
    """Fold index per sample, whole identities per fold (samples without one are their own group)."""
    groups = np.array([ident if ident else f"row{i}" for i, ident in enumerate(data.identities)], dtype=object)
    names = np.array(sorted(set(groups.tolist())), dtype=object)
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[g]: rank % folds for rank, g in enumerate(order)}
    return np.array([fold_of[g] for g in groups])


def _subset(data: LandmarkSet, size: int, seed: int) -> LandmarkSet:
    if not size or size >= len(data):
        return data
    return data.select(np.sort(np.random.default_rng(seed).choice(len(data), size, replace=False)))


def make_splits(config: TrainConfig) -> Splits:
    """Train/val/test for a config. With ``folds``, train+val are re-split into k folds (test never moves)."""
    data = cached_dataset(config.dataset)
    test = data.split("test")
    if config.folds:
        if not 0 <= config.fold < config.folds:
            raise ValueError(f"fold {config.fold} is not in 0..{config.folds - 1}")
        pool = data.select(np.flatnonzero(data.splits != "test"))
        assignment = fold_assignment(pool, config.folds, seed=0)  # folds fixed across seeds
        train, val = pool.select(np.flatnonzero(assignment != config.fold)), pool.select(
            np.flatnonzero(assignment == config.fold))
    else:
        train, val = data.split("train"), data.split("val")
    return Splits(
        train=_subset(train, config.train_subset, config.seed),
        val=_subset(val, config.eval_subset, 0),
        test=_subset(test, config.eval_subset, 0),
    )
