"""The detectors that look at pixels themselves: MediaPipe's BlazeFace and OpenCV's Haar cascade, each with the
:class:`~kpdemo.detection.detector.BoxCalibration` fitted to its boxes.

Why its own module: these two wrap third-party models (their loading, locking and output formats); everything that
combines or re-runs them lives in :mod:`kpdemo.detection.wrappers`.

BlazeFace: short- and full-range models, .tflite bundled in the mediapipe 0.10.21 wheel. It shrinks the whole image
to its 128 px (short range) or 192 px (full range) input, so it misses faces narrower than about 12% / 6-8% of the
image's longer side: a 60 px face in a 1024 px group photo (:class:`~kpdemo.detection.wrappers.TiledDetector` finds
those). Haar: OpenCV's frontal cascade, shipped with opencv.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from kpdemo.detection.crops import upright_angle
from kpdemo.detection.detector import BoxCalibration, Detection, FaceDetector
from kpdemo.detection.mediapipe_graph import SolutionGraph

# Medians fitted by bench/calibrate_face_box.py on 1,507 300-W train faces (bench/results/face_box_calibration.json).
# Residual centre error (median / p90, in landmark-box sides): short 0.040 / 0.078, full 0.072 / 0.146, Haar 0.084 /
# 0.164; the short-range model matched all 1,507 faces, the full-range model and Haar 78-79%.
MEDIAPIPE_SHORT_CALIBRATION = BoxCalibration(scale=0.964, dx=0.002, dy=0.064)
MEDIAPIPE_FULL_CALIBRATION = BoxCalibration(scale=0.877, dx=0.006, dy=0.097)
HAAR_CALIBRATION = BoxCalibration(scale=0.994, dx=0.011, dy=0.156)


class MediaPipeFaceDetector(FaceDetector):
    """BlazeFace via the legacy ``mp.solutions.face_detection`` (model 0: short range, faces within ~2 m; 1: full),
    in a :class:`~kpdemo.detection.mediapipe_graph.SolutionGraph` (built on first use, locked, rebuilt after a failure).
    """

    def __init__(self, model_selection: int = 1, min_confidence: float = 0.5) -> None:
        self.model_selection = model_selection
        self.min_confidence = min_confidence
        self.name = f"mediapipe-{'full' if model_selection else 'short'}"
        self.calibration = MEDIAPIPE_FULL_CALIBRATION if model_selection else MEDIAPIPE_SHORT_CALIBRATION
        self._graph = SolutionGraph(self._build)

    def _build(self) -> object:
        from mediapipe.python.solutions import face_detection

        return face_detection.FaceDetection(model_selection=self.model_selection,
                                            min_detection_confidence=self.min_confidence)

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        h, w = image.shape[:2]
        result = self._graph.process(image)
        found = []
        for det in (result.detections if result else None) or []:
            rel = det.location_data.relative_bounding_box
            box = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h])
            right_eye, left_eye = ((k.x * w, k.y * h) for k in det.location_data.relative_keypoints[:2])
            found.append(Detection(box.astype(np.float32), float(det.score[0]), self.name, self.calibration,
                                   upright_angle(right_eye, left_eye)))
        return sorted(found, key=lambda d: -d.score)


class HaarFaceDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade: no model download, weaker on turned faces; used when MediaPipe fails."""

    name = "haar"

    def __init__(self) -> None:
        self._cascade: cv2.CascadeClassifier | None = None
        self._lock = threading.Lock()

    def _detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
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
