"""The one sample form every dataset reader produces, and an indexable set of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kpdemo.schemas import KeypointSchema, get_schema

SPLITS = ("train", "val", "test")


class DatasetFormatError(ValueError):
    """A dataset file is malformed; the message names the file and, where it applies, the row."""


@dataclass
class Sample:
    """One annotated face: image (uint8 HxW or HxWx3 RGB), points (K, 2) float32 pixels, mask (K,) bool."""

    image: np.ndarray
    points: np.ndarray
    mask: np.ndarray
    schema: str
    identity: str | None
    source: str
    split: str


def read_image_rgb(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8, with an error that names the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetFormatError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class LandmarkSet:
    """Points, masks and metadata in memory; images either in memory (``images``) or read on demand (``paths``).

    Why lazy: the three image datasets together are ~800 MB decoded, and most callers touch a split only.
    """

    def __init__(
        self,
        name: str,
        schema: str,
        points: np.ndarray,
        splits: np.ndarray,
        identities: np.ndarray,
        sources: np.ndarray,
        *,
        mask: np.ndarray | None = None,
        paths: list[Path] | None = None,
        images: np.ndarray | None = None,
    ) -> None:
        if (paths is None) == (images is None):
            raise ValueError("give exactly one of paths or images")
        n = len(points)
        self.name = name
        self.schema: KeypointSchema = get_schema(schema)
        self.points = np.asarray(points, dtype=np.float32)
        if self.points.shape[1:] != (self.schema.num_points, 2):
            raise ValueError(f"{name}: points shape {self.points.shape} does not fit schema {schema}")
        self.mask = np.ones(self.points.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        self.splits = np.asarray(splits, dtype=object)
        self.identities = np.asarray(identities, dtype=object)
        self.sources = np.asarray(sources, dtype=object)
        self.paths = paths
        self.images = images
        for arr in (self.mask, self.splits, self.identities, self.sources, paths if paths is not None else images):
            if len(arr) != n:
                raise ValueError(f"{name}: metadata length {len(arr)} != {n} samples")

    def __len__(self) -> int:
        return len(self.points)

    def image(self, i: int) -> np.ndarray:
        if self.images is not None:
            return self.images[i]
        return read_image_rgb(self.paths[i])

    def __getitem__(self, i: int) -> Sample:
        return Sample(
            image=self.image(i),
            points=self.points[i].copy(),
            mask=self.mask[i].copy(),
            schema=self.schema.id,
            identity=self.identities[i],
            source=str(self.sources[i]),
            split=str(self.splits[i]),
        )

    def remade(self, name: str, images: list[np.ndarray], points: list[np.ndarray]) -> LandmarkSet:
        """The same faces (splits, people, sources, visibility) shown in other pictures: ``images[i]`` with the
        face's points moved to ``points[i]``. How the robustness benches make harder copies of a test split."""
        return LandmarkSet(name, self.schema.id, np.stack(points), self.splits, self.identities, self.sources,
                           mask=self.mask, images=np.stack(images))

    def select(self, indices: np.ndarray) -> LandmarkSet:
        """A new set holding only ``indices`` (shares nothing mutable with this one)."""
        idx = np.asarray(indices)
        return LandmarkSet(
            self.name,
            self.schema.id,
            self.points[idx],
            self.splits[idx],
            self.identities[idx],
            self.sources[idx],
            mask=self.mask[idx],
            paths=[self.paths[i] for i in idx] if self.paths is not None else None,
            images=self.images[idx] if self.images is not None else None,
        )

    def split(self, name: str) -> LandmarkSet:
        """The samples of one split (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        return self.select(np.flatnonzero(self.splits == name))

    def split_counts(self) -> dict[str, int]:
        return {s: int((self.splits == s).sum()) for s in SPLITS}
