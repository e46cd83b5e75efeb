"""Paired data for frontalization: each frame of a person is paired with that person's most frontal frame.

Frontalness is read from the 68 points alone (no image), so it is cheap, deterministic and documented:

    score = (eye_ratio + jaw_ratio) / 2,   eye_ratio = min(dR, dL) / max(dR, dL),   jaw_ratio likewise

where ``dR`` / ``dL`` are the distances from the nose tip (point 30) to the right / left eye centre, and the jaw
ratio uses the distances from the nose tip to the two ends of the jaw contour (points 0 and 16). A frontal face
is left-right symmetric about the nose, so both ratios are 1; turning the head (yaw) moves the nose toward one
eye and one jaw end, and both ratios fall toward 0. Distances are invariant to in-plane rotation and scale, so
roll and face size (which geometric alignment removes anyway) do not change the score. Pitch is not measured.
"""

from __future__ import annotations

import numpy as np

from kpdemo.schemas import KeypointSchema, get_schema


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a, b) / np.maximum(np.maximum(a, b), 1e-9)


def frontalness(points: np.ndarray, schema: KeypointSchema | None = None) -> np.ndarray:
    """Symmetry score in [0, 1] (1 = frontal) for ``points`` shaped (..., 68, 2) in the iBUG 68 layout."""
    schema = schema or get_schema("ibug68")
    jaw = schema.regions.get("jaw")
    if not schema.has_eyes or "nose_tip" not in schema.anchors or not jaw:
        raise ValueError(f"frontalness needs eyes, a nose tip and a jaw contour; {schema.title} lacks one")
    points = np.asarray(points, np.float64)
    right_eye, left_eye = schema.eye_centres(points)
    nose = points[..., list(schema.anchors["nose_tip"]), :].mean(-2)
    jaw_right, jaw_left = points[..., jaw[0], :], points[..., jaw[-1], :]

    def dist(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(nose - p, axis=-1)

    return (_ratio(dist(right_eye), dist(left_eye)) + _ratio(dist(jaw_right), dist(jaw_left))) / 2


def most_frontal_pairs(identities: np.ndarray, scores: np.ndarray,
                       include_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(input indices, target indices): every frame of a person -> that person's highest-scoring frame.

    Frames without an identity are skipped. ``include_self=False`` drops the target's own (identity) pair, so a
    person with one frame contributes nothing and held-out scores are not flattered by copies.
    """
    identities = np.asarray(identities, dtype=object)
    scores = np.asarray(scores, np.float64)
    if len(identities) != len(scores):
        raise ValueError(f"{len(identities)} identities but {len(scores)} scores")
    inputs, targets = [], []
    for person in sorted({p for p in identities.tolist() if p}):
        frames = np.flatnonzero(identities == person)
        best = int(frames[np.argmax(scores[frames])])
        keep = frames if include_self else frames[frames != best]
        inputs.append(keep)
        targets.append(np.full(len(keep), best))
    if not inputs:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(inputs).astype(int), np.concatenate(targets).astype(int)
