"""The dataset registry: every dataset kpdemo knows, its schema, and the files it needs.

Trainers, the app and the dashboard list datasets from here instead of hard-coding names. Datasets that users
import (:mod:`kpdemo.datasets.uploads`) are found in the user area and listed here as ``user_<name>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kpdemo.config import data_root
from kpdemo.datasets.base import LandmarkSet
from kpdemo.datasets.kaggle15 import load_kaggle15, train_own_box
from kpdemo.datasets.readers import (
    load_ibug300w,
    load_ibug300w_challenging,
    load_imm_frontal,
    load_ytf68,
    read_kaggle_csv,
)
from kpdemo.datasets.uploads import FACES_FILE, imported_datasets, load_imported

if TYPE_CHECKING:  # a type only: importing kpdemo.checkpoints would import torch
    from kpdemo.checkpoints import OwnBox


def _kaggle_csv_path() -> Path:
    """Where a user's genuine Kaggle ``training.csv`` is looked for: ``$KPDEMO_KAGGLE_CSV`` or the data root."""
    return Path(os.environ.get("KPDEMO_KAGGLE_CSV", data_root() / "kaggle" / "training.csv"))


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    schema: str
    title: str
    needs: Callable[[], tuple[Path, ...]]
    loader: Callable[[], LandmarkSet]
    #: Images are face crops cut around the box of their own points (``register_crops`` "face" cuts): a model trained
    #: on them can re-crop around its own first prediction (:attr:`kpdemo.checkpoints.CheckpointMeta.refine`).
    own_point_crops: bool = False
    #: For crops cut around other points than their own: where that box lies from their own points
    #: (:attr:`kpdemo.checkpoints.CheckpointMeta.own_box`), fitted on the train split; None where it cannot be known.
    own_box: Callable[[], OwnBox] | None = None
    #: Another registered set whose val and test splits are this one's, read instead when only those are wanted: a
    #: distillation set's extra faces are train only, and labelling them is minutes of a teacher's work.
    held_out_from: str | None = None
    #: For a dataset users supply themselves (never in the shared data): where it is looked for, as
    #: ``python -m kpdemo.data`` tells them; its absence is then no sign of a wrong ``KPDEMO_DATA``.
    bring_your_own: str = ""

    def held_out_name(self, split: str) -> str:
        """The registered set to read ``split`` from (this one, or :attr:`held_out_from` for val and test)."""
        return self.held_out_from if self.held_out_from and split != "train" else self.name

    def crop_record(self) -> dict[str, bool | OwnBox]:
        """What a model trained on these crops records of how they were cut, as ``CheckpointMeta`` fields: ``refine``,
        whether it can cut a crop around its own answer as they were cut (it may then refine a photo's first answer
        and follow a face from frame to frame), and ``own_box``, where that box lies from its own points. One place,
        so that training, shipping and :mod:`trainers.tools.own_box` write the same record."""
        from kpdemo.checkpoints import OWN_POINTS_BOX  # here, not at the top: the registry loads without torch

        return {"refine": self.own_point_crops or self.own_box is not None,
                "own_box": self.own_box() if self.own_box is not None else OWN_POINTS_BOX}

    def missing_files(self) -> list[Path]:
        return [p for p in self.needs() if not p.exists()]

    def is_available(self) -> bool:
        return not self.missing_files()

    def load(self) -> LandmarkSet:
        return self.loader()


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
