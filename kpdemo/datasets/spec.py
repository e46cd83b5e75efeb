"""What the registry knows of a dataset: its schema, the files it needs, how to load it, how its crops were cut.

In a module of its own so that the registry's table (:mod:`kpdemo.datasets.registry`) and the derived training
sets (:mod:`kpdemo.datasets.derived`) both build entries without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kpdemo.datasets.base import LandmarkSet

if TYPE_CHECKING:  # a type only: importing kpdemo.checkpoints would import torch
    from kpdemo.checkpoints import OwnBox


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    schema: str
    title: str
    needs: Callable[[], tuple[Path, ...]]
    loader: Callable[[], LandmarkSet]
    #: Images are face crops cut around the box of their own points (a :class:`kpdemo.datasets.derived.CropSet`'s
    #: ``face`` cut): a model trained on them can re-crop around its own first prediction
    #: (:attr:`kpdemo.checkpoints.CheckpointMeta.refine`).
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
    #: A training set cut from registered ones (:mod:`kpdemo.datasets.derived`): its files are theirs, and loading it
    #: the first time cuts thousands of images (or runs a teacher network), so data checks list its sources instead.
    derived: bool = False

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
