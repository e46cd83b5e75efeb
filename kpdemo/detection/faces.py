"""Face detectors: image -> face boxes, each carrying how to turn its box into the training crop's landmark box.

Checkpoint models were trained on crops cut around the *68-point landmark box* (see
:func:`kpdemo.datasets.kaggle15.square_crop_matrix`), which no detector outputs. Each detector therefore carries a
:class:`BoxCalibration` fitted on real faces by ``bench/calibrate_face_box.py`` (300-W train images: detector box vs
68-point box), so a detected face is cropped the way the model saw faces in training.

Detectors: MediaPipe's BlazeFace (short- and full-range models, .tflite bundled in the mediapipe 0.10.21 wheel) and
OpenCV's frontal Haar cascade (shipped with opencv). :func:`default_detector` tries them in that order: the short-range
model fits best and is fastest, the full-range one finds small faces, Haar catches what both miss.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box -> estimated landmark box: centre = box centre + (dx, dy) x side, longer side = scale x side.

    ``side`` is the detector box's mean side (sqrt(w*h)); the constants are medians over 300-W train faces.
    """

    scale: float
    dx: float
    dy: float

    def landmark_box(self, box: np.ndarray) -> tuple[float, float, float]:
        """(centre x, centre y, longer side) of the estimated 68-point box for a detector box (x0, y0, x1, y1)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        side = float(np.sqrt(max(x1 - x0, 1e-6) * max(y1 - y0, 1e-6)))
        return (x0 + x1) / 2 + self.dx * side, (y0 + y1) / 2 + self.dy * side, self.scale * side


# Medians fitted by bench/calibrate_face_box.py on 1,507 300-W train faces (bench/results/face_box_calibration.json).
# Residual centre error (median / p90, in landmark-box sides): short 0.040 / 0.078, full 0.072 / 0.146, Haar 0.084 /
# 0.164; the short-range model matched all 1,507 faces, the full-range model and Haar 78-79%.
MEDIAPIPE_SHORT_CALIBRATION = BoxCalibration(scale=0.964, dx=0.002, dy=0.064)
MEDIAPIPE_FULL_CALIBRATION = BoxCalibration(scale=0.877, dx=0.006, dy=0.097)
HAAR_CALIBRATION = BoxCalibration(scale=0.994, dx=0.011, dy=0.156)


@dataclass(frozen=True)
class Detection:
    """One face box (x0, y0, x1, y1) in full-image pixels, its score and the calibration of the detector that found it.

    ``score`` is the detector's confidence: a probability for MediaPipe, the cascade's level weight for Haar.
    """

    box: np.ndarray
    score: float
    detector: str
    calibration: BoxCalibration

    def landmark_box(self) -> tuple[float, float, float]:
        return self.calibration.landmark_box(self.box)


class FaceDetector:
    """Base class: ``detect(image RGB uint8) -> list[Detection]``, best first."""

    name = "face detector"

    def detect(self, image: np.ndarray) -> list[Detection]:
        raise NotImplementedError


class MediaPipeFaceDetector(FaceDetector):
    """BlazeFace via the legacy ``mp.solutions.face_detection`` (model 0: short range, faces within ~2 m; 1: full).

    The graph is built on first use (fast cold start) and guarded by a lock: one MediaPipe graph is not thread-safe
    and Gradio calls handlers from worker threads.
    """

    def __init__(self, model_selection: int = 1, min_confidence: float = 0.5) -> None:
        self.model_selection = model_selection
        self.min_confidence = min_confidence
        self.name = f"mediapipe-{'full' if model_selection else 'short'}"
        self.calibration = MEDIAPIPE_FULL_CALIBRATION if model_selection else MEDIAPIPE_SHORT_CALIBRATION
        self._graph = None
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        with self._lock:
            if self._graph is None:
                from mediapipe.python.solutions import face_detection

                self._graph = face_detection.FaceDetection(
                    model_selection=self.model_selection, min_detection_confidence=self.min_confidence
                )
            result = self._graph.process(np.ascontiguousarray(image))
        found = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            box = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h])
            found.append(Detection(box.astype(np.float32), float(det.score[0]), self.name, self.calibration))
        return sorted(found, key=lambda d: -d.score)


class HaarFaceDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade: no model download, weaker on turned faces; used when MediaPipe fails."""

    name = "haar"

    def __init__(self) -> None:
        self._cascade: cv2.CascadeClassifier | None = None
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        min_side = max(24, int(0.08 * min(gray.shape)))
        with self._lock:
            if self._cascade is None:
                self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
            boxes, _, weights = self._cascade.detectMultiScale3(
                gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side), outputRejectLevels=True
            )
        found = [
            Detection(np.array([x, y, x + bw, y + bh], np.float32), float(wt), self.name, HAAR_CALIBRATION)
            for (x, y, bw, bh), wt in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights), strict=True)
        ]
        return sorted(found, key=lambda d: -d.score)


class FallbackDetector(FaceDetector):
    """Tries detectors in order and returns the first non-empty result."""

    def __init__(self, detectors: list[FaceDetector]) -> None:
        self.detectors = detectors
        self.name = " -> ".join(d.name for d in detectors)

    def detect(self, image: np.ndarray) -> list[Detection]:
        for detector in self.detectors:
            found = detector.detect(image)
            if found:
                return found
        return []


def default_detector() -> FaceDetector:
    """MediaPipe short-range BlazeFace, then full-range, then the Haar cascade (first that finds a face wins)."""
    return FallbackDetector([MediaPipeFaceDetector(0), MediaPipeFaceDetector(1), HaarFaceDetector()])
