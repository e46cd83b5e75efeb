"""Readers for the real datasets in ``$KPDEMO_DATA`` and for the Kaggle Facial Keypoints CSV format.

Each returns a :class:`LandmarkSet` in the common sample form. Split rules (all seeded, see ``splits.py``):

* ``ibug300w``: the official 300-W split; ``test`` is the 300-W common set (554); 10% of train images -> ``val``.
* ``ibug300w_challenging``: the 135 challenging 300-W faces, all ``test`` (never trained on); with the common set
  it makes the 300-W full set (689).
* ``ytf68``: by identity (347 people), 75/10/15 train/val/test; the Udacity split is ignored because the same
  people appear on both sides of it.
* ``imm_frontal``: by person (12 people): 8 train / 2 val / 2 test.
* ``kaggle_csv``: rows are the unit (the CSV has no person ids): 80/10/10.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from kpdemo.config import DataNotFoundError, data_file
from kpdemo.datasets.base import DatasetFormatError, LandmarkSet
from kpdemo.datasets.splits import group_split, holdout_val
from kpdemo.schemas import KAGGLE15_NAMES


def _coordinate_columns(n_points: int) -> list[str]:
    return [f"{axis}{i}" for i in range(n_points) for axis in "xy"]


def read_points_table(
    path: Path, n_points: int, required: tuple[str, ...] = ("file",)
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a ``file, ..., x0, y0, ...`` landmarks CSV; a missing column or bad number names file and row."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: not a readable CSV ({exc})") from exc
    columns = _coordinate_columns(n_points)
    missing = [c for c in (*required, *columns) if c not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {', '.join(missing[:5])}")
    values = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        row = int(bad[0])
        col = columns[int(np.flatnonzero(~np.isfinite(values[row]))[0])]
        raise DatasetFormatError(
            f"{path}, row {row + 2} (file {table['file'].iloc[row]!r}): column {col} is not a number"
            f" ({table[col].iloc[row]!r})"
        )
    return table, values.reshape(-1, n_points, 2)


def _read_68(name: str, folder: str, extra: str, splits: Callable[[pd.DataFrame], np.ndarray],
             identities: Callable[[pd.DataFrame], np.ndarray] | None = None) -> LandmarkSet:
    """A 68-point crop set as the shared data lays it out: ``<folder>/landmarks.csv`` (file, split, ``extra``,
    x0..y67) beside its images; ``splits`` and ``identities`` read from the table (no identities: unknown)."""
    csv = data_file(folder, "landmarks.csv")
    table, points = read_points_table(csv, 68, ("file", "split", extra))
    return LandmarkSet(
        name, "ibug68", points, splits(table),
        identities=identities(table) if identities else np.full(len(table), None, dtype=object),
        sources=table["file"].to_numpy(object),
        paths=[csv.parent / f for f in table["file"]],
    )


def load_ibug300w(val_fraction: float = 0.1) -> LandmarkSet:
    """The iBUG 300-W HELEN+LFPW crops (256x256, 68 points)."""
    return _read_68("ibug300w", "ibug300w_subset", "subset",
                    lambda table: holdout_val(table["split"].to_numpy(object), val_fraction))


def load_ibug300w_challenging() -> LandmarkSet:
    """The 300-W challenging subset (135 "ibug" faces, 256x256 crops cut like ``ibug300w``): a test set only."""
    return _read_68("ibug300w_challenging", "ibug300w_challenging", "subset",
                    lambda table: np.full(len(table), "test", dtype=object))


def load_ytf68() -> LandmarkSet:
    """The YouTube-Faces frames with 68 points (160x160), split by identity."""
    return _read_68("ytf68", "ytf68_udacity", "identity",
                    lambda table: group_split(table["identity"].to_numpy(object), 0.10, 0.15),
                    lambda table: table["identity"].to_numpy(object))


def parse_asf(path: Path) -> tuple[np.ndarray, str]:
    """Parse an AAM-API ``.asf`` shape file: (N, 2) *relative* coordinates and the host image name."""
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    try:
        n = int(body[0])
        rows = [ln.split() for ln in body[1 : 1 + n]]
        rel = np.array([[float(r[2]), float(r[3])] for r in rows], dtype=np.float32)
        host = body[1 + n]
    except (IndexError, ValueError) as exc:
        raise DatasetFormatError(f"{path}: not an AAM-API .asf shape file ({exc})") from exc
    if rel.shape != (n, 2):
        raise DatasetFormatError(f"{path}: expected {n} points, found {len(rel)}")
    return rel, host


def load_imm_frontal(width: int = 800, height: int = 600) -> LandmarkSet:
    """The IMM Frontal Face DB: 120 images of 12 people, 73 points read from the ``.asf`` files.

    The ``.asf`` coordinates are relative to the image size; the release's images are all 800x600.
    """
    asf_dir = data_file("imm_frontal_db", "asf")
    files = sorted(asf_dir.glob("*.asf"))
    if not files:
        raise DatasetFormatError(f"{asf_dir}: no .asf files")
    points, paths, persons = [], [], []
    for f in files:
        rel, host = parse_asf(f)
        if len(rel) != 73:
            raise DatasetFormatError(f"{f}: expected 73 points, found {len(rel)}")
        points.append(rel * np.array([width, height], np.float32))
        paths.append(data_file("imm_frontal_db", "images", host))
        persons.append(f"imm{f.stem.split('_')[0]}")
    identities = np.array(persons, dtype=object)
    return LandmarkSet(
        "imm_frontal", "imm73", np.stack(points), group_split(identities, 2 / 12, 2 / 12),
        identities=identities,
        sources=np.array([f"images/{p.name}" for p in paths], dtype=object),
        paths=paths,
    )


KAGGLE_SIZE = 96


def read_kaggle_csv(path: Path, seed: int = 0) -> LandmarkSet:
    """Read Kaggle's ``training.csv``: 30 coordinate columns (gaps allowed -> mask) + a 96x96 ``Image`` column.

    A row whose ``Image`` is not 9216 integers in 0..255, or whose coordinates are not numbers, raises a
    :class:`DatasetFormatError` naming the file and row.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"missing Kaggle CSV: {path} (the kaggle_csv dataset is Kaggle's training.csv, which "
                                "you bring: put it there, or set KPDEMO_KAGGLE_CSV to where it is)")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = [f"{name}_{axis}" for name in KAGGLE15_NAMES for axis in "xy"]
    missing = [c for c in (*columns, "Image") if c not in table.columns]
    if missing:
        raise DatasetFormatError(f"{path}: missing column(s) {', '.join(missing[:5])}")
    n = len(table)
    images = np.empty((n, KAGGLE_SIZE, KAGGLE_SIZE), np.uint8)
    coords = np.full((n, 30), np.nan, np.float32)
    for row, (image_text, *values) in enumerate(table[["Image", *columns]].itertuples(index=False)):
        where = f"{path}, row {row + 2}"
        try:
            pixels = np.array(image_text.split(), dtype=np.float32)
        except ValueError:
            raise DatasetFormatError(f"{where}: Image column holds something other than numbers") from None
        if pixels.size != KAGGLE_SIZE * KAGGLE_SIZE or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
            raise DatasetFormatError(
                f"{where}: Image must be {KAGGLE_SIZE * KAGGLE_SIZE} values in 0..255, got {pixels.size}"
            )
        images[row] = pixels.reshape(KAGGLE_SIZE, KAGGLE_SIZE).astype(np.uint8)
        for j, value in enumerate(values):
            if value.strip():
                try:
                    coords[row, j] = float(value)
                except ValueError:
                    raise DatasetFormatError(f"{where}: column {columns[j]} is not a number ({value!r})") from None
    points = coords.reshape(n, 15, 2)
    mask = np.isfinite(points).all(axis=2)
    rows = np.arange(n).astype(str).astype(object)
    return LandmarkSet(
        "kaggle_csv", "kaggle15", np.nan_to_num(points), group_split(rows, 0.1, 0.1, seed),
        identities=np.full(n, None, dtype=object),
        sources=np.array([f"{path.name}:row{r + 2}" for r in range(n)], dtype=object),
        mask=mask,
        images=images,
    )
