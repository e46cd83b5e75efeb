"""The one interface every landmark predictor implements, and the face record it returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kpdemo.detection.images import image_array
from kpdemo.schemas import KeypointSchema

#: A face whose :attr:`Face.uncertainty` passes this is flagged as likely wrong. Chosen on 1,247 validation faces
#: (300-W val and YouTube-Faces val, and 300-W val blurred by sigma 8 px, cut by a window 0.7, in 1/64 of the light
#: and 30% covered; ``python bench/uncertainty.py --split val``): above it were 73% of the answers with NME > 10%
#: and 0.45% of those under 5% (the views' spread alone, before the companion's second opinion: 57% and 0.78%).
#: Covered faces are where it tells least (ROC AUC 0.75 for the wrong answers there, 0.60 before; 0.95-1.00 on the
#: blurred, cut and dark ones): both networks may place hidden points alike.
UNCERTAIN = 0.015


@dataclass
class Face:
    """One face: ``box`` (x0, y0, x1, y1), ``points`` (K, 2) float32, both in full-image pixels, a score, and how
    sure the model is of the points.

    ``uncertainty``: how far apart the answers lie that read the face, as a share of its size (the longer side of
    the points' box): a checkpoint's photo path reads each face on several crops, mirrored and turned, and the mean
    distance of those answers from the points they average is one spread; the other is how far its network's and
    its live-frame companion's answers on one crop lie from their mean, where it has a companion; ``uncertainty`` is
    the mean of the two (:meth:`~kpdemo.detection.CheckpointPredictor.refine`). A face the model reads well gives
    nearly the same answer every way (~0.5%); a blurred, dark, cut-off or covered face, or a crop that is no face,
    spreads them. None where nothing is compared (webcam frames, MediaPipe). ``uncertain`` says whether it passes
    :data:`UNCERTAIN`.

    ``motion``: on a tracked video frame, how far (x, y px) the points moved since the frame before, which the
    next frame's crop leads by (:meth:`LandmarkPredictor.track`); None on a face just detected.
    """

    box: np.ndarray
    points: np.ndarray
    score: float
    uncertainty: float | None = None
    motion: np.ndarray | None = None

    @property
    def uncertain(self) -> bool:
        return self.uncertainty is not None and self.uncertainty > UNCERTAIN

    def as_dict(self, schema: KeypointSchema) -> dict:
        """JSON-ready form: box, score, uncertainty (when measured) and named points rounded to 0.1 px."""
        if len(self.points) != schema.num_points:
            raise ValueError(f"this face has {len(self.points)} points, the {schema.id} schema {schema.num_points}: "
                             "name them with the schema of the predictor that found it (predictor.schema)")
        record = {"box": [round(float(v), 1) for v in self.box], "score": round(float(self.score), 3)}
        if self.uncertainty is not None:
            record["uncertainty"] = round(float(self.uncertainty), 4)
        record["points"] = {
            name: [round(float(x), 1), round(float(y), 1)]
            for name, (x, y) in zip(schema.point_names, self.points, strict=True)
        }
        return record


def points_box(points: np.ndarray) -> np.ndarray:
    """The (x0, y0, x1, y1) box around a face's (K, 2) points: the box of a face found by its points, not by a
    detector (followed, re-read or meshed)."""
    return np.concatenate([points.min(0), points.max(0)])


def as_boxes(boxes: object, image_hw: tuple[int, ...] | None = None) -> np.ndarray:
    """Face boxes as an (N, 4) float32 array of (x0, y0, x1, y1), or a ValueError that says what is wrong with them;
    with ``image_hw`` also when a box lies wholly outside that image (a box may reach past its edges: a face the
    frame cuts)."""
    try:
        array = np.array(boxes, np.float32)  # a copy: a Face's box must not change when the caller's array does
    except (TypeError, ValueError):
        raise ValueError("face boxes must be numbers: (x0, y0, x1, y1) per face") from None
    if array.size == 0:  # no boxes: a detector of the caller's that found nothing
        return array.reshape(0, 4)
    if array.ndim == 1 and array.size == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"face boxes must be (x0, y0, x1, y1) per face, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("face boxes must be finite numbers")
    empty = (array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])
    if empty.any():
        raise ValueError(f"face box {int(np.flatnonzero(empty)[0])} has no area: x1 must exceed x0 and y1 exceed y0")
    if image_hw is not None:
        h, w = image_hw[:2]
        outside = (array[:, 2] <= 0) | (array[:, 3] <= 0) | (array[:, 0] >= w) | (array[:, 1] >= h)
        if outside.any():
            raise ValueError(f"face box {int(np.flatnonzero(outside)[0])} lies outside the {w}x{h} image")
        huge = np.maximum(array[:, 2] - array[:, 0], array[:, 3] - array[:, 1]) > 100 * max(h, w)
        if huge.any():
            raise ValueError(f"face box {int(np.flatnonzero(huge)[0])} is over 100 times the {w}x{h} image's size: "
                             "are its numbers pixels of this image?")
    return array


class LandmarkPredictor:
    """Image in, faces out. Subclasses set ``name`` and ``schema`` and implement :meth:`_predict` (and, where they
    can, :meth:`_predict_in_boxes` and :meth:`_track`).

    ``predict`` takes an image (RGB uint8 (H, W, 3), or any form :func:`~kpdemo.detection.images.image_array` takes)
    and returns every face found, best first, with points in the image's pixels (continuous convention), whatever
    crop or resolution the model works at internally. ``video=True`` marks a frame of a live stream: a predictor may
    then skip extra passes that only find additional small faces (the latency budget of a frame is tighter than that
    of an uploaded photo). The public methods check and convert their input here, once for every predictor, so a
    subclass only ever sees an RGB uint8 image and well-formed boxes, and bad input is an ``ImageInputError`` or
    ``ValueError`` a person can read, whichever predictor it reached.
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
        return self._predict(image_array(image), video)

    def predict_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Face | None]:
        """One face per box (x0, y0, x1, y1) the caller gives, from their own face detector or drawn by hand, in
        order. Skips this predictor's own face detector, so a benchmark that hands every model the same boxes
        compares landmarks alone. ``boxes`` must pass :func:`as_boxes` for this image (none: no faces).

        What a box with no face in it gives depends on the model: MediaPipe's mesh answers None; a checkpoint
        always reads a face in its crop, and flags it through :attr:`Face.uncertain` (its views of a crop that is
        no face disagree)."""
        image = image_array(image)
        return self._predict_in_boxes(image, as_boxes(boxes, image.shape))

    def track(self, image: np.ndarray, previous: list[Face], recheck: bool = False) -> list[Face] | None:
        """The faces of a video frame found from the previous frame's faces, without running a face detector (as
        MediaPipe's face mesh does in video mode), or None when this predictor cannot (the caller then detects).
        The caller keeps the previous faces per stream and asks now and then for a ``recheck``, to catch new or
        lost faces: the detector takes a quick look, and the answer is None unless it sees the same faces."""
        return self._track(image_array(image), previous, recheck)

    def reread(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """The faces of an image read as a photo is read, starting from where a stream found them (``faces``, e.g.
        :meth:`track`'s): a recorded clip's frames at a photo's accuracy without a photo's face search on every
        frame. A predictor that cannot start from given faces reads the whole image as a photo."""
        return self._reread(image_array(image), faces)

    def _predict(self, image: np.ndarray, video: bool) -> list[Face]:
        raise NotImplementedError

    def _reread(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        return self._predict(image, video=False)

    def _predict_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Face | None]:
        raise NotImplementedError(f"{self.name} cannot take face boxes")

    def _track(self, image: np.ndarray, previous: list[Face], recheck: bool) -> list[Face] | None:
        return None
