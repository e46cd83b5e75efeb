"""The dataset registry: every dataset kpdemo knows, its schema, and the files it needs.

Trainers, the app and the dashboard list datasets from here instead of hard-coding names. Three kinds, one table:
the real datasets below, the training sets cut from them (:mod:`kpdemo.datasets.derived`), and the datasets users
import (:mod:`kpdemo.datasets.uploads`), found in the user area and listed here as ``user_<name>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kpdemo.config import data_root
from kpdemo.datasets.base import LandmarkSet
from kpdemo.datasets.derived import derived_specs
from kpdemo.datasets.kaggle15 import load_kaggle15, train_own_box
from kpdemo.datasets.readers import (
    load_ibug300w,
    load_ibug300w_challenging,
    load_imm_frontal,
    load_ytf68,
    read_kaggle_csv,
)
from kpdemo.datasets.spec import DatasetSpec
from kpdemo.datasets.uploads import FACES_FILE, imported_datasets, load_imported


def _kaggle_csv_path() -> Path:
    """Where a user's genuine Kaggle ``training.csv`` is looked for: ``$KPDEMO_KAGGLE_CSV`` or the data root."""
    return Path(os.environ.get("KPDEMO_KAGGLE_CSV", data_root() / "kaggle" / "training.csv"))


def _under_root(*relative: str) -> Callable[[], tuple[Path, ...]]:
    return lambda: tuple(data_root() / r for r in relative)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("kaggle15", "kaggle15", "Kaggle-style 15 points, 96x96 gray, derived from 300-W + YTF",
                    _under_root("ibug300w_subset/landmarks.csv", "ytf68_udacity/landmarks.csv"), load_kaggle15,
                    own_box=train_own_box),
        DatasetSpec("kaggle_csv", "kaggle15", "Kaggle Facial Keypoints training.csv (bring your own)",
                    lambda: (_kaggle_csv_path(),), lambda: read_kaggle_csv(_kaggle_csv_path()),
                    bring_your_own="a genuine Kaggle training.csv at $KPDEMO_KAGGLE_CSV or <data>/kaggle/"),
        DatasetSpec("imm_frontal", "imm73", "IMM Frontal Face DB, 120 images, 12 people, 73 points",
                    _under_root("imm_frontal_db/asf", "imm_frontal_db/images"), load_imm_frontal),
        DatasetSpec("ibug300w", "ibug68", "iBUG 300-W HELEN+LFPW, 68 points (test = 300-W common set)",
                    _under_root("ibug300w_subset/landmarks.csv"), load_ibug300w),
        DatasetSpec("ibug300w_challenging", "ibug68", "300-W challenging subset, 135 hard faces, 68 points (test only)",
                    _under_root("ibug300w_challenging/landmarks.csv"), load_ibug300w_challenging),
        DatasetSpec("ytf68", "ibug68", "YouTube-Faces frames, 68 points, split by identity",
                    _under_root("ytf68_udacity/landmarks.csv"), load_ytf68),
    )
}
DATASETS.update(derived_specs(DATASETS))


_imported: set[str] = set()


def refresh_imported() -> None:
    """Register the datasets imported into the user area (``user_<name>``, see :mod:`kpdemo.datasets.uploads`) and
    forget those cleaned up since: an upload made while the app runs trains like any dataset listed above. Called
    where they are wanted (:func:`get_dataset` on a name it lacks, the lists of datasets), not at import: the user
    area's limits come from the environment, which a library user's import has nothing to do with."""
    found = {
        manifest.name: DatasetSpec(manifest.name, manifest.schema, manifest.title, lambda f=folder: (f / FACES_FILE,),
                                   lambda f=folder: load_imported(f), own_point_crops=manifest.own_point_crops)
        for manifest, folder in imported_datasets()
    }
    for name in _imported - found.keys():
        DATASETS.pop(name, None)
    DATASETS.update(found)
    _imported.clear()
    _imported.update(found)


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        refresh_imported()  # imported since the last look (another process, or this one's Train tab)
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def load_dataset(name: str) -> LandmarkSet:
    """Load a registered dataset; a missing file raises an error naming it and the ``KPDEMO_DATA`` setting."""
    return get_dataset(name).load()
