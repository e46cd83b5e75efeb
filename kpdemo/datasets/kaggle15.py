"""``kaggle15``: a Kaggle-Facial-Keypoints-style set (96x96 grayscale, 15 points) derived from the 68-point sets.

The Kaggle ``training.csv`` cannot be had here, so this stands in for it. Each 300-W and YouTube-Faces crop is
re-cropped to a square centred on the bounding box of its 68 points, ``CROP_SCALE`` times the box's longer side
(this puts the eye centres ~36 px apart, as in Kaggle's faces), resized to 96x96 and turned grayscale; the 15 points
come from :func:`kpdemo.schemas.ibug68_to_kaggle15`. Splits are inherited from the sources (300-W: official test =
the common set, seeded 10% val; YouTube-Faces: by identity), so ``kaggle15`` test faces never appear in training.

The result is cached in one compressed ``.npz`` under ``$KPDEMO_CACHE`` (~25 MB), keyed by the source CSVs' hash.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

from kpdemo.config import cache_dir, data_file
from kpdemo.datasets.base import LandmarkSet
from kpdemo.datasets.readers import KAGGLE_SIZE, load_ibug300w, load_ytf68
from kpdemo.files import write_by_rename
from kpdemo.geometry import own_box_features, points_centre_side, square_crop_matrix, transform_points
from kpdemo.schemas import ibug68_to_kaggle15

if TYPE_CHECKING:  # a type only: importing kpdemo.checkpoints would import torch
    from kpdemo.checkpoints import OwnBox

CROP_SCALE = 1.2
CACHE_VERSION = 1


def crop_face(image: np.ndarray, points68: np.ndarray, size: int = KAGGLE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale ``size`` x ``size`` crop and its 68 points moved into it (black outside the source)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    big = square_crop_matrix(points68, CROP_SCALE, 2 * size)
    warped = cv2.warpAffine(gray, big, (2 * size, 2 * size), flags=cv2.INTER_LINEAR, borderValue=0)
    crop = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
    return crop, transform_points(points68, big) / 2


def own_box(points: np.ndarray) -> OwnBox:
    """Where a ``kaggle15`` crop's 68-point box lies, from its own 15 points: the
    :attr:`~kpdemo.checkpoints.CheckpointMeta.own_box` of a model trained on these crops, so that it can cut its next
    crop around its own answer as the crop was cut around the 68 points (a webcam stream then follows the face instead
    of detecting it every frame). A least-squares fit over ``points`` ((N, 15, 2) crop points, e.g. the train split's)
    of the 68-point box, centred in each crop with side ``size / CROP_SCALE``, from :func:`own_box_features`: its
    centre's shift in sides of the 15 points' box and the log of its side over theirs. Linear, not a median: the 15
    points span eyebrows to lower lip and say which way the head is turned, so they also say where the jaw and chin
    lie; on the val split this puts the box's centre within 0.025 sides on average sideways (0.10 for a median
    shift) and 0.018 up or down (0.024), its side within 3.7% (5.0%)."""
    centre, side = points_centre_side(points)
    shift = (KAGGLE_SIZE / 2 - centre) / side[:, None]
    log_factor = np.log(KAGGLE_SIZE / CROP_SCALE / side)
    targets = np.column_stack([shift, log_factor])
    weights = np.linalg.lstsq(own_box_features(points.astype(np.float64)), targets, rcond=None)[0]
    return tuple(tuple(float(w) for w in row) for row in weights.T)


@functools.cache
def train_own_box() -> OwnBox:
    """:func:`own_box` of the ``kaggle15`` train split: what a checkpoint trained on it records (once a process: a
    grid's runs all record it)."""
    data = load_kaggle15()
    return own_box(data.points[data.splits == "train"])


def _sources_fingerprint() -> str:
    digest = hashlib.sha256()
    for parts in (("ibug300w_subset", "landmarks.csv"), ("ytf68_udacity", "landmarks.csv")):
        digest.update(data_file(*parts).read_bytes())
    return f"v{CACHE_VERSION}-{CROP_SCALE}-{digest.hexdigest()[:16]}"


def build_kaggle15(sources_68: tuple[LandmarkSet, ...] | None = None) -> dict[str, np.ndarray]:
    """Crop every 68-point face (progress bar) into the arrays the cache stores (default sources: the datasets)."""
    images, points, splits, identities, sources = [], [], [], [], []
    for source in sources_68 or (load_ibug300w(), load_ytf68()):
        for i in tqdm(range(len(source)), desc=f"kaggle15 from {source.name}", unit="img"):
            crop, pts68 = crop_face(source.image(i), source.points[i])
            images.append(crop)
            points.append(ibug68_to_kaggle15(pts68))
        splits += list(source.splits)
        identities += [f"{source.name}:{p}" if p else None for p in source.identities]
        sources += [f"{source.name}/{s}" for s in source.sources]
    return {
        "images": np.stack(images),
        "points": np.stack(points).astype(np.float32),
        "splits": np.array(splits, dtype=str),
        "identities": np.array([p or "" for p in identities], dtype=str),
        "sources": np.array(sources, dtype=str),
    }


def load_kaggle15() -> LandmarkSet:
    """The ``kaggle15`` set, built on first use and then read from the cache.

    With a training pack set (:mod:`kpdemo.datasets.pack`) it is cut from the packed 68-point crops instead (same
    faces, points and splits; each face resampled from its 160 px JPEG crop rather than from the source image)."""
    # here, not at the top: the package would then import the pack module, and ``python -m kpdemo.datasets.pack``
    # would find it imported before running it as ``__main__`` (runpy's warning)
    from kpdemo.datasets.pack import pack_path, packed_set

    if pack_path() is not None:
        arrays = build_kaggle15((packed_set("ibug300w"), packed_set("ytf68")))
    else:
        path = cache_dir() / f"kaggle15-{_sources_fingerprint()}.npz"
        if not path.exists():
            arrays = build_kaggle15()
            write_by_rename(path, lambda out: np.savez_compressed(out, **arrays))
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    identities = np.array([p or None for p in arrays["identities"]], dtype=object)
    return LandmarkSet(
        "kaggle15", "kaggle15", arrays["points"], arrays["splits"].astype(object), identities,
        arrays["sources"].astype(object), images=arrays["images"],
    )
