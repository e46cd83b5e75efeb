"""The one interface every landmark predictor implements, and the face record it returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kpdemo.schemas import KeypointSchema


@dataclass
class Face:
    """One face: ``box`` (x0, y0, x1, y1), ``points`` (K, 2) float32, both in full-image pixels, and a score."""

    box: np.ndarray
    points: np.ndarray
    score: float

    def as_dict(self, schema: KeypointSchema) -> dict:
        """JSON-ready form: box, score and named points rounded to 0.1 px."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 3),
            "points": {
                name: [round(float(x), 1), round(float(y), 1)]
                for name, (x, y) in zip(schema.point_names, self.points, strict=True)
            },
        }


class LandmarkPredictor:
    """Image in, faces out. Subclasses set ``name`` and ``schema`` and implement :meth:`predict`.

    ``predict`` takes an RGB uint8 (H, W, 3) image and returns every face found, best first, with points in the
    image's pixels (continuous convention), whatever crop or resolution the model works at internally.
    ``video=True`` marks a frame of a live stream: a predictor may then skip extra passes that only find additional
    small faces (the latency budget of a frame is tighter than that of an uploaded photo).
    """

    name: str
    schema: KeypointSchema

    @property
    def num_points(self) -> int:
        return self.schema.num_points

    @property
    def label(self) -> str:
        return f"{self.name} ({self.schema.id}, {self.num_points} points)"

    def predict(self, image: np.ndarray, video: bool = False) -> list[Face]:
        raise NotImplementedError

    def track(self, image: np.ndarray, previous: list[Face]) -> list[Face] | None:
        """The faces of a video frame found from the previous frame's faces, without running a face detector (as
        MediaPipe's face mesh does in video mode), or None when this predictor cannot (the caller then detects).
        The caller keeps the previous faces per stream and re-detects now and then to catch new or lost faces."""
        return None
