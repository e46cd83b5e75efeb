"""Training inputs for the IMM and 68-point experiments: every image cut once, stored as uint8 arrays, cached.

Decoding 800x600 IMM photos or 2,000+ JPEGs every epoch would dominate CPU training, so each dataset is turned
once into fixed-size uint8 arrays (``(N, H, W)`` gray or ``(N, H, W, 3)`` RGB) with the points moved into them,
and saved as an ``.npz`` under :func:`kpdemo.config.cache_dir`.

Two ways to cut:

* ``face``: a square centred on the landmarks' bounding box, side ``scale`` x its longer side, resampled exactly
  as the app does on a detector box (:func:`kpdemo.detection.checkpoint.cut_crop` with
  :func:`kpdemo.geometry.square_crop_matrix`), so a checkpoint trained on these crops is served as trained.
* ``whole``: the whole image area-resized to ``(height, width)`` (seed 002 part 1/2 style: 800x600 -> 80x60).
* ``aligned``: the face warped onto the canonical 5-point template by :func:`kpdemo.align.align_face`, exactly as
  the app's Align tab does (seed 004's frontalization trains on these).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
from tqdm import tqdm

from kpdemo.align import align_face, aligned_points
from kpdemo.config import cache_dir
from kpdemo.datasets import LandmarkSet, load_dataset
from kpdemo.datasets.derived import Cut
from kpdemo.datasets.pack import packed_crops
from kpdemo.files import write_by_rename
from kpdemo.geometry import square_crop_matrix, transform_points
from kpdemo.schemas import KeypointSchema

CACHE_VERSION = 1


def _cut_one(image: np.ndarray, points: np.ndarray, cut: Cut, out_hw: tuple[int, int], channels: int,
             scale: float, schema: KeypointSchema) -> tuple[np.ndarray, np.ndarray]:
    if image.ndim == 3 and channels == 1:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = out_hw
    if cut == "aligned":
        if h != w:
            raise ValueError(f"aligned crops are square; got {h}x{w}")
        face = align_face(image, points, schema, h)
        return face.image, aligned_points(points, face)
    if cut == "whole":
        fy, fx = h / image.shape[0], w / image.shape[1]
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), points * np.float32([fx, fy])
    from kpdemo.detection.checkpoint import cut_crop  # the app's resampling, imported lazily (pulls in detectors)

    if h != w:
        raise ValueError(f"face crops are square; got {h}x{w}")
    matrix = square_crop_matrix(points, scale, h)
    crop = cut_crop(image if channels == 3 else np.dstack([image] * 3), matrix, out_hw, channels)
    return crop, transform_points(points, matrix)


def _cache_key(data: LandmarkSet, cut: Cut, out_hw: tuple[int, int], channels: int, scale: float) -> str:
    digest = hashlib.sha256(data.points.tobytes())
    digest.update(",".join(map(str, data.sources)).encode())
    return f"crops-v{CACHE_VERSION}-{data.name}-{cut}-{out_hw[0]}x{out_hw[1]}-c{channels}-s{scale}-" \
           f"{digest.hexdigest()[:12]}"


def load_crops(dataset: str, cut: Cut, out_hw: tuple[int, int], channels: int = 1, scale: float = 1.2,
               name: str | None = None) -> LandmarkSet:
    """A registered dataset cut to in-memory arrays (built once with a progress bar, then read from the cache).

    The result is an ordinary :class:`LandmarkSet` with the source's splits and identities, so the shared
    training loop (:class:`kpdemo.training.tensors.TensorSet`) takes it as it takes ``kaggle15``.
    """
    packed = packed_crops(dataset, cut, out_hw, channels, scale)  # a training pack stands in for the datasets
    if packed is not None:
        packed.name = name or f"{dataset}_{cut}{out_hw[0]}x{out_hw[1]}"
        return packed
    data = load_dataset(dataset)
    path = cache_dir() / f"{_cache_key(data, cut, out_hw, channels, scale)}.npz"
    if not path.exists():
        images, points = [], []
        for i in tqdm(range(len(data)), desc=f"cutting {dataset} ({cut} {out_hw[0]}x{out_hw[1]})", unit="img"):
            crop, pts = _cut_one(data.image(i), data.points[i], cut, out_hw, channels, scale, data.schema)
            images.append(crop)
            points.append(pts)
        arrays = {"images": np.stack(images), "points": np.stack(points).astype(np.float32)}
        write_by_rename(path, lambda out: np.savez_compressed(out, **arrays))
    with np.load(path) as z:
        images, points = z["images"], z["points"]
    return LandmarkSet(name or f"{dataset}_{cut}{out_hw[0]}x{out_hw[1]}", data.schema.id, points, data.splits,
                       data.identities, data.sources, mask=data.mask, images=images)


def select_points(data: LandmarkSet, indices: list[int], schema: str, name: str) -> LandmarkSet:
    """The same images with a subset of the points under another schema (IMM point 45 -> ``nose1``)."""
    return LandmarkSet(name, schema, data.points[:, indices], data.splits, data.identities, data.sources,
                       mask=data.mask[:, indices], images=data.images)


def concat_sets(name: str, parts: list[tuple[LandmarkSet, dict[str, str]]]) -> LandmarkSet:
    """One in-memory set from several of the same schema and crop size; each part's ``{split: new split}`` map
    says where its rows go (a split it does not name is left out, e.g. YouTube-Faces test faces that must stay
    unseen because ``kaggle15`` tests on them)."""
    kept = []
    for data, split_map in parts:
        rows = np.flatnonzero(np.isin(data.splits, list(split_map)))
        part = data.select(rows)
        part.splits = np.array([split_map[s] for s in part.splits], dtype=object)
        kept.append(part)
    first = kept[0]
    return LandmarkSet(
        name, first.schema.id, np.concatenate([p.points for p in kept]),
        np.concatenate([p.splits for p in kept]), np.concatenate([p.identities for p in kept]),
        np.concatenate([p.sources for p in kept]), mask=np.concatenate([p.mask for p in kept]),
        images=np.concatenate([p.images for p in kept]),
    )
