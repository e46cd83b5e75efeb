"""Temporal smoothing of landmark streams with the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012).

Why One-Euro: webcam landmarks jitter by a pixel or two when the face is still, yet must follow fast moves without
lag. The filter is a low-pass whose cutoff rises with speed: ``cutoff = min_cutoff + beta * |speed|``, so slow
motion is smoothed hard and fast motion passes almost untouched.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over arrays of any fixed shape (e.g. (K, 2) points), element-wise."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filtered value of sample ``x`` taken at time ``t`` (seconds); the first sample passes through."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._x.shape != x.shape or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        tau = 1.0 / (2 * np.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.copy()


def centre_and_size(points: np.ndarray) -> tuple[np.ndarray, float]:
    """A face's point centroid and its size (the longer side of its points' box, at least 1 px), for matching."""
    size = float(np.ptp(points, axis=0).max()) if len(points) > 1 else 0.0
    return points.mean(0), max(size, 1.0)


def match_faces(previous: list[tuple[np.ndarray, float]], faces_points: list[np.ndarray]) -> list[int | None]:
    """For each face (in order), the index of the last frame's face it continues, or None for a new face.

    ``previous`` holds the last frame's (centroid, size) pairs (:func:`centre_and_size`). A face continues the nearest
    last-frame face not yet taken whose centroid lies within that face's size; a face that moved farther is new.
    """
    free = list(range(len(previous)))
    matches: list[int | None] = []
    for points in faces_points:
        centre = points.mean(0)
        dist = {i: float(np.linalg.norm(previous[i][0] - centre)) for i in free}
        best = min(dist, key=dist.get, default=None)
        if best is not None and dist[best] <= previous[best][1]:
            free.remove(best)
            matches.append(best)
        else:
            matches.append(None)
    return matches


class LandmarkSmoother:
    """One filter per tracked face; faces are matched to the previous frame's by nearest point centroid.

    A face whose centroid moved more than its own size since the last frame counts as a new face, gets a fresh filter
    (its first frame passes through); a face that vanishes is dropped (:func:`match_faces`).
    One instance per browser session (held in ``gr.State``), so viewers never smooth each other's faces.
    """

    #: Chosen with ``bench/jitter.py`` at 30 fps: 0.4 Hz keeps a still face's jitter near a quarter of the raw
    #: figure (1.0 Hz left a third), and beta 0.05 lets a head sweeping at 300 px/s through with under half a frame
    #: of lag.
    MIN_CUTOFF_HZ = 0.4
    BETA = 0.05

    def __init__(self, min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self._tracks: list[tuple[np.ndarray, float, OneEuroFilter]] = []  # (centroid, size, filter)

    def __call__(self, faces_points: list[np.ndarray], t: float) -> list[np.ndarray]:
        """Smoothed copies of each face's (K, 2) points at time ``t`` (seconds)."""
        matches = match_faces([(centre, size) for centre, size, _ in self._tracks], faces_points)
        tracks, out = [], []
        for pts, match in zip(faces_points, matches, strict=True):
            # a filter given another point count restarts by itself
            filt = self._tracks[match][2] if match is not None else OneEuroFilter(self.min_cutoff, self.beta)
            tracks.append((*centre_and_size(pts), filt))
            out.append(filt(pts, t).astype(np.float32))
        self._tracks = tracks
        return out
