"""The face-detector plug-in contract: :class:`FaceDetector` (image -> face boxes) and the :class:`Detection` it
returns, each carrying a :class:`BoxCalibration`: how to turn its box into the training crop's landmark box.

Why its own module: checkpoint and mesh predictors take any :class:`FaceDetector`, and every detector, concrete
(:mod:`kpdemo.detection.face_finders`) or composed (:mod:`kpdemo.detection.wrappers`), builds on this contract alone.

Checkpoint models were trained on crops cut around the *68-point landmark box* (see
:func:`kpdemo.geometry.square_crop_matrix`), which no detector outputs. Each detector therefore carries a
:class:`BoxCalibration` fitted on real faces by ``bench/calibrate_face_box.py`` (300-W train images: detector box vs
68-point box), so a detected face is cropped the way the model saw faces in training.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kpdemo.detection.crops import window_turn
from kpdemo.detection.images import image_array


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box -> estimated landmark box: centre = box centre + (dx, dy) x side, longer side = scale x side.

    ``side`` is the detector box's mean side (sqrt(w*h)); the constants are medians over 300-W train faces, which are
    upright, so (dx, dy) hold in the face's own frame: for a face turned by ``angle`` the offset turns with it.
    """

    scale: float
    dx: float
    dy: float

    def landmark_box(self, box: np.ndarray, angle: float = 0.0) -> tuple[float, float, float]:
        """(centre x, centre y, longer side) of the estimated 68-point box, in the frame of a face whose eye line
        runs at ``angle`` degrees, for a detector box (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = float(np.sqrt(max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6)))
        dx, dy = window_turn(angle).T @ np.array([self.dx, self.dy])
        return (x0 + x1) / 2 + float(dx) * side, (y0 + y1) / 2 + float(dy) * side, self.scale * side


#: A box a caller hands in (``LandmarkPredictor.predict_in_boxes``) is taken as the face's landmark box.
GIVEN_BOX = BoxCalibration(scale=1.0, dx=0.0, dy=0.0)


@dataclass(frozen=True)
class Detection:
    """One face box (x0, y0, x1, y1) in full-image pixels, its score and the calibration of the detector that found it.

    ``score`` is the detector's confidence: a probability for MediaPipe, the cascade's level weight for Haar.
    ``angle`` is the face's roll: its eye line's angle in degrees (image axes, from the subject's right eye to the
    left; 0 = upright), the ``angle`` of :func:`~kpdemo.detection.crops.crop_matrix` that cuts the face upright.
    BlazeFace's eye keypoints give it to within a few degrees up to ~60 deg of roll; Haar gives 0; beyond that
    :class:`~kpdemo.detection.wrappers.OrientedDetector` finds it. ``others`` are the same face at other rolls it
    may have (each with its own box and angle): the other quarter turns that detector saw it at, surest first, or
    those of a box a caller handed in, which says nothing of the roll; the landmark model may judge between them (see
    :meth:`~kpdemo.detection.checkpoint.CheckpointPredictor.first_answers`).
    """

    box: np.ndarray
    score: float
    detector: str
    calibration: BoxCalibration
    angle: float = 0.0
    others: tuple[Detection, ...] = ()

    def landmark_box(self) -> tuple[float, float, float]:
        return self.calibration.landmark_box(self.box, self.angle)

    def scaled(self, factors: np.ndarray) -> Detection:
        """This detection (and its ``others``) with every box multiplied by ``factors`` (x0, y0, x1, y1)."""
        return replace(self, box=self.box * factors, others=tuple(other.scaled(factors) for other in self.others))


class FaceDetector:
    """Base class: ``detect(image RGB uint8, video) -> list[Detection]``, best first.

    ``video=True`` marks a live frame: a detector may then skip the extra passes that only find small faces (see
    :class:`~kpdemo.detection.base.LandmarkPredictor`); single-pass detectors ignore it.
    """

    name = "face detector"

    def detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        """Every face in ``image`` (any form :func:`~kpdemo.detection.images.image_array` takes: checked here, so
        a detector called on its own gives the same readable errors as a predictor), best first."""
        return self._detect(image_array(image), video)

    def glance(self, image: np.ndarray) -> list[Detection]:
        """A quick look for the faces in a live frame, to check that the faces a stream follows are still the ones
        in view (:meth:`~kpdemo.detection.base.LandmarkPredictor.track` with ``recheck``): boxes and rough rolls,
        without the slower passes and fallbacks of :meth:`detect`. It may miss faces that :meth:`detect` finds;
        the caller then runs :meth:`detect`. By default the same as ``detect(image, video=True)``."""
        return self._glance(image_array(image))

    def _detect(self, image: np.ndarray, video: bool) -> list[Detection]:
        """What a detector implements: an RGB uint8 (H, W, 3) image in (a plug-in may override :meth:`detect`
        itself instead, as long as it takes such an image)."""
        raise NotImplementedError

    def _glance(self, image: np.ndarray) -> list[Detection]:
        return self.detect(image, video=True)
