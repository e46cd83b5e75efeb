"""Crop sets labelled by a teacher checkpoint, to distil a full network into a slim one on faces it has no labels for.

Why: the IMM model knows 73 points from 80 studio faces. Its half-width live-frame companion, trained on those 80
alone, reads IMM's own faces nearly as well as the full network but fails on wild ones (``trainers/README.md``).
The full network reads the 68-point sets' thousands of wild faces well enough; its answers on them teach the slim
one what the full network would say there, while the real faces, repeated, keep it on the annotation.

A teacher's answer on a crop is its answer on the centre view the training loop shows it (:func:`model_view`),
averaged with its answer on the mirrored view (labels swapped back), moved into the stored crop's pixels. The answers
are cached under :func:`kpdemo.config.cache_dir`, keyed by the teacher file's and the crops' contents.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kpdemo.checkpoints import CheckpointError, load_checkpoint
from kpdemo.config import cache_dir
from kpdemo.datasets import LandmarkSet
from kpdemo.files import write_by_rename
from kpdemo.models import load_model
from kpdemo.schemas import flip_horizontal, get_schema
from kpdemo.training.crops import concat_sets
from kpdemo.training.tensors import TensorSet, points_from_network
from trainers.engine.train import model_view, predict

CACHE_VERSION = 1


def _cache_path(teacher: Path, data: LandmarkSet, context: float) -> Path:
    digest = hashlib.sha256(Path(teacher).read_bytes())
    digest.update(data.points.tobytes())
    digest.update(np.ascontiguousarray(data.images).tobytes())
    key = f"{data.name}-{Path(teacher).stem}-c{context}-{digest.hexdigest()[:12]}"
    return cache_dir() / f"pseudo-v{CACHE_VERSION}-{key}.npy"


def teacher_points(teacher: Path, data: LandmarkSet, context: float, batch_size: int = 128) -> np.ndarray:
    """(N, K, 2) the teacher's points on each of ``data``'s stored crops, in their pixels, K the teacher's schema's.

    ``context`` is how much wider the stored crops are than the teacher's view (the training loop's ``context``).
    """
    if data.images is None:
        raise ValueError(f"{data.name}: pseudo-labelling needs in-memory crops")
    path = _cache_path(teacher, data, context)
    if path.exists():
        return np.load(path)
    model, meta = load_model(teacher, device="cpu")
    tensors = TensorSet.from_landmarks(data)
    view = model_view(tensors, context)
    if tuple(view.hw) != tuple(meta.input_size):
        raise CheckpointError(f"{Path(teacher).name} expects {tuple(meta.input_size)} inputs, {data.name}'s crops "
                              f"give {tuple(view.hw)} at context {context}")
    blank = torch.zeros(batch_size, get_schema(meta.schema).num_points, 2)  # the shape of the teacher's answers
    plain, mirror = [], []
    with torch.inference_mode():  # minutes on a CPU for thousands of faces: a batch at a time, with progress
        for start in tqdm(range(0, len(view), batch_size), desc=f"{Path(teacher).stem} labels {data.name}",
                          unit="batch"):
            images = view.images[start:start + batch_size]
            for answers, batch in ((plain, images), (mirror, images.flip(-1))):
                part = TensorSet(batch, blank[:len(batch)], blank[:len(batch), :, 0] == 0)
                answers.append(predict(model, part, pixel_mean=meta.pixel_mean, pixel_std=meta.pixel_std,
                                       batch_size=batch_size, channels_last=False).numpy() / context)
    h, w = tensors.hw
    plain, mirror = (points_from_network(np.concatenate(a), h, w) for a in (plain, mirror))
    points = ((plain + flip_horizontal(mirror, w, get_schema(meta.schema))) / 2).astype(np.float32)
    write_by_rename(path, lambda out: np.save(out, points))
    return points


def pseudo_labelled(teacher: Path, data: LandmarkSet, context: float, name: str, schema: str) -> LandmarkSet:
    """``data``'s crops with the teacher's points (of ``schema``, the teacher's) in place of their own."""
    points = teacher_points(teacher, data, context)
    return LandmarkSet(name, schema, points, data.splits, data.identities, data.sources, images=data.images)


def distillation_set(name: str, real: LandmarkSet, pupils: list[tuple[LandmarkSet, dict[str, str]]], teacher: Path,
                     context: float, real_repeats: int) -> LandmarkSet:
    """``real`` (its splits as they are, its train faces ``real_repeats`` times) beside each pupil set's faces
    labelled by ``teacher`` (each pupil's ``{split: new split}`` map says where its rows go, as in
    :func:`concat_sets`). ``real`` and the teacher must share a schema."""
    if real.schema.id != (schema := teacher_schema(teacher)):
        raise ValueError(f"{name}: {real.name} has {real.schema.id!r} points, the teacher {schema!r}")
    parts = [(real, {s: s for s in np.unique(real.splits)})]
    parts += [(real, {"train": "train"})] * (real_repeats - 1)
    for pupil, split_map in pupils:  # only the rows kept are labelled
        kept = pupil.select(np.flatnonzero(np.isin(pupil.splits, list(split_map))))
        name_by = f"{pupil.name}_by_{Path(teacher).stem}"
        parts.append((pseudo_labelled(teacher, kept, context, name_by, schema), split_map))
    return concat_sets(name, parts)


def teacher_schema(teacher: Path) -> str:
    """The schema of the points ``teacher`` labels with."""
    return load_checkpoint(teacher)[1].schema
