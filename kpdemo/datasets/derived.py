"""The training sets cut from the registered datasets, declared in one table: crops, unions of crops, distilled sets.

Why here and not beside the experiments that train on them: a checkpoint records its training set by name
(``CheckpointMeta.dataset``), and shipping, evaluation, export and a library user look that name up. Declared as a
side effect of importing an experiment module, a shipped checkpoint's set existed only once ``trainers.grids`` had
been imported. Declaring one reads nothing: the source files are cut (once, then cached) when a set is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kpdemo.config import REPO_ROOT
from kpdemo.datasets.base import LandmarkSet
from kpdemo.datasets.kaggle15 import CROP_SCALE
from kpdemo.datasets.spec import DatasetSpec

Cut = Literal["face", "whole", "aligned"]
#: ``{split of the part: split in the union}``; a split it does not name is left out.
SplitMap = dict[str, str]
#: How the shipped landmark models' training sets are cut (``*_wide160``), which is what the training pack holds
#: (:mod:`kpdemo.datasets.pack`): a square 1.5 x the landmark box, 160 px a side, RGB.
WIDE_CUT, WIDE_SIZE, WIDE_SCALE = "face", 160, 1.5
#: How much wider the stored 160 px crops (1.5 x the landmark box, as the training pack holds them) are than the
#: model's crop (1.2 x the box, as the app cuts a detector box): 1.25, so a model sees their central 128 px.
WIDE_CONTEXT = WIDE_SCALE / CROP_SCALE
#: IMM's nose tip, the one point seed 002 part 1 learns.
IMM_NOSE_POINT = 45
#: The side of the aligned faces the frontalizer (:mod:`kpdemo.models.autoencoder`) reads and writes.
ALIGNED_SIDE = 128


@dataclass(frozen=True)
class CropSet:
    """A registered dataset cut once into fixed-size uint8 arrays (:func:`kpdemo.training.crops.load_crops`).

    ``points``/``schema`` keep a subset of the source's points under another schema (IMM nose tip -> ``nose1``).
    """

    name: str
    title: str
    source: str
    cut: Cut
    out_hw: tuple[int, int]
    channels: int
    scale: float = CROP_SCALE
    points: tuple[int, ...] = ()
    schema: str = ""

    def spec(self, known: dict[str, DatasetSpec]) -> DatasetSpec:
        source = known[self.source]
        return DatasetSpec(self.name, self.schema or source.schema, self.title, source.needs, self.load,
                           own_point_crops=self.cut == "face" and not self.points, derived=True)

    def load(self) -> LandmarkSet:
        from kpdemo.training.crops import load_crops, select_points  # cv2 and the aligner: only when cut

        data = load_crops(self.source, self.cut, self.out_hw, self.channels, self.scale, name=self.name)
        return select_points(data, list(self.points), self.schema, self.name) if self.points else data


@dataclass(frozen=True)
class UnionSet:
    """Registered crop sets of one schema and size as one (:func:`kpdemo.training.crops.concat_sets`)."""

    name: str
    title: str
    parts: tuple[tuple[str, SplitMap], ...]

    def spec(self, known: dict[str, DatasetSpec]) -> DatasetSpec:
        specs = [known[part] for part, _ in self.parts]

        def needs() -> tuple:
            return tuple(p for spec in specs for p in spec.needs())

        def load() -> LandmarkSet:
            from kpdemo.training.crops import concat_sets

            return concat_sets(self.name, [(spec.load(), split_map)
                                           for spec, (_, split_map) in zip(specs, self.parts, strict=True)])

        return DatasetSpec(self.name, specs[0].schema, self.title, needs, load,
                           own_point_crops=all(spec.own_point_crops for spec in specs), derived=True)


@dataclass(frozen=True)
class DistilledSet:
    """A crop set's faces beside other faces labelled by a teacher checkpoint (``teacher``, repository-relative).

    Its crops count as cut around their own points (``own_point_crops``): a model trained on it is served as the
    teacher is, on crops cut around its own answer, and must share that with the teacher to be its companion. Its
    val and test splits are ``real``'s, read from it alone when only they are wanted (``held_out_from``).
    """

    name: str
    title: str
    real: str
    pupils: tuple[tuple[str, SplitMap], ...]
    teacher: str
    context: float
    real_repeats: int

    @property
    def teacher_path(self) -> Path:
        return REPO_ROOT / self.teacher  # a repo-relative name (an absolute path stays itself)

    def spec(self, known: dict[str, DatasetSpec]) -> DatasetSpec:
        real = known[self.real]
        pupils = [(known[pupil], split_map) for pupil, split_map in self.pupils]

        def needs() -> tuple:
            return (*real.needs(), *(p for spec, _ in pupils for p in spec.needs()), self.teacher_path)

        def load() -> LandmarkSet:
            # Labelling runs the teacher as the trainers evaluate a model (their centre view and batching), so the
            # labels are what the training loop would see the teacher answer; only training sets load this.
            from trainers.engine.pseudo_labels import distillation_set

            return distillation_set(self.name, real.load(), [(spec.load(), split_map) for spec, split_map in pupils],
                                    self.teacher_path, self.context, self.real_repeats)

        return DatasetSpec(self.name, real.schema, self.title, needs, load, own_point_crops=True,
                           held_out_from=self.real, derived=True)


WIDE = (WIDE_SIZE, WIDE_SIZE)
#: The 68-point sets' train faces a teacher labels for a distilled set (no validation or test face).
WILD_TRAIN_FACES = (("w300_wide160", {"train": "train"}), ("ytf_wide160", {"train": "train"}))
ALL_SPLITS = {"train": "train", "val": "val", "test": "test"}

DERIVED: tuple[CropSet | UnionSet | DistilledSet, ...] = (
    # Seed 002 (trainers/grids/imm.py): IMM's whole photos, as the seed shrank them, and face crops.
    CropSet("imm_nose80x60", "IMM Frontal nose tip, whole photo 80x60 gray", "imm_frontal", "whole", (60, 80), 1,
            points=(IMM_NOSE_POINT,), schema="nose1"),
    CropSet("imm_whole80x60", "IMM Frontal 73 points, whole photo 80x60 gray", "imm_frontal", "whole", (60, 80), 1),
    CropSet("imm_whole160x120", "IMM Frontal 73 points, whole photo 160x120 gray", "imm_frontal", "whole",
            (120, 160), 1),
    CropSet("imm_face128", "IMM Frontal 73 points, 128x128 gray face crop (1.2 x landmark box)", "imm_frontal",
            "face", (128, 128), 1),
    # Seed 003 (trainers/grids/w300.py): small RGB face crops.
    CropSet("w300_face64", "300-W HELEN+LFPW, 64x64 RGB face crop (1.2 x landmark box)", "ibug300w", "face",
            (64, 64), 3),
    CropSet("ytf_face64", "YouTube-Faces 68-point frames, 64x64 RGB face crop (1.2 x landmark box)", "ytf68", "face",
            (64, 64), 3),
    # Seed 004 (kpdemo/frontalize/data.py): faces aligned as the Align tab aligns them.
    CropSet("ytf_aligned128", "YouTube-Faces frames aligned to the ArcFace 5-point template, 128x128 gray", "ytf68",
            "aligned", (ALIGNED_SIDE, ALIGNED_SIDE), 1),
    # The shipped landmark models (trainers/grids/landmarks.py): wide crops, as the training pack holds them.
    CropSet("w300_wide160", "300-W HELEN+LFPW, 160x160 RGB (1.5 x landmark box; model sees 128 px)", "ibug300w",
            WIDE_CUT, WIDE, 3, scale=WIDE_SCALE),
    CropSet("ytf_wide160", "YouTube-Faces 68-point frames, 160x160 RGB (1.5 x landmark box)", "ytf68", WIDE_CUT,
            WIDE, 3, scale=WIDE_SCALE),
    CropSet("imm_wide160", "IMM Frontal 73 points, 160x160 RGB (1.5 x landmark box)", "imm_frontal", WIDE_CUT,
            WIDE, 3, scale=WIDE_SCALE),
    UnionSet("faces68_wide160", "All 68-point faces: 300-W train/val/test + YouTube-Faces train and val (as train)",
             (("w300_wide160", ALL_SPLITS), ("ytf_wide160", {"train": "train", "val": "train"}))),
    UnionSet("faces68_ytfval_wide160", "All 68-point faces but YouTube-Faces' val people: 300-W train/val/test + "
             "YouTube-Faces train (validate on ytf68's val split, people this set never shows)",
             (("w300_wide160", ALL_SPLITS), ("ytf_wide160", {"train": "train"}))),
    # The IMM model's 73 points on the wild faces beside IMM's own (train ones 10 times): what a slim IMM network
    # distils the full one from.
    DistilledSet("imm73_distill_wide160", "IMM Frontal 73 points (train x10) + 300-W and YouTube-Faces train faces "
                 "labelled by imm73_pip.pt, 160x160 RGB", "imm_wide160", WILD_TRAIN_FACES, "checkpoints/imm73_pip.pt",
                 WIDE_CONTEXT, real_repeats=10),
    # The 68-point model's answers on those faces beside their real points: what the 68-point live-frame companion
    # was tried on, and not shipped (``--only pip_r18_live --set dataset=ibug68_distill_wide160``, trainers/README.md).
    DistilledSet("ibug68_distill_wide160", "All 68-point faces but YouTube-Faces' val people + their train faces "
                 "labelled by ibug68_pip.pt, 160x160 RGB", "faces68_ytfval_wide160", WILD_TRAIN_FACES,
                 "checkpoints/ibug68_pip.pt", WIDE_CONTEXT, real_repeats=1),
)


def derived_specs(known: dict[str, DatasetSpec]) -> dict[str, DatasetSpec]:
    """:data:`DERIVED` as registry entries, each built on ``known`` and the sets declared before it."""
    specs = dict(known)
    for declared in DERIVED:
        specs[declared.name] = declared.spec(specs)
    return {declared.name: specs[declared.name] for declared in DERIVED}
