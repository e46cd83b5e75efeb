"""dlib's 68-point shape predictor (HOG face detector + ERT regression) as a kpdemo :class:`LandmarkPredictor`.

A peer to benchmark against, not part of the app: it needs ``pip install -r requirements-bench.txt``
(``dlib-bin`` + ``face-recognition-models``, whose wheel carries ``shape_predictor_68_face_landmarks.dat``).
The model file is located without importing ``face_recognition_models`` (its ``__init__`` needs the removed
``pkg_resources``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from kpdemo.detection import Face, LandmarkPredictor
from kpdemo.schemas import IBUG68


def dlib_model_path() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    return path if path.exists() else None


def dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None and dlib_model_path() is not None


class DlibPredictor(LandmarkPredictor):
    """dlib's frontal HOG detector (one upsampling pass) + the 68-point ERT predictor."""

    name = "dlib 68-point"
    schema = IBUG68

    def __init__(self, upsample: int = 1) -> None:
        import dlib

        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(dlib_model_path()))

    def _predict(self, image: np.ndarray, video: bool = False) -> list[Face]:
        return [self._shape(image, rect) for rect in self.detector(image, self.upsample)]

    def _predict_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Face | None]:
        """The predictor run on each given box as on a box of its own detector (dlib's ``rectangle`` is inclusive)."""
        import dlib

        return [self._shape(image, dlib.rectangle(*(round(float(v)) for v in (x0, y0, x1 - 1, y1 - 1))))
                for x0, y0, x1, y1 in boxes]

    def detector_boxes(self, image: np.ndarray) -> np.ndarray:
        """dlib's own face boxes (x0, y0, x1, y1), the boxes its 68-point predictor was trained on."""
        rects = self.detector(image, self.upsample)
        return np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32).reshape(-1, 4)

    def _shape(self, image: np.ndarray, rect: object) -> Face:
        shape = self.predictor(image, rect)
        # dlib's points are integer pixel indices; +0.5 moves them to the continuous convention of our data
        pts = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32)
        box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float32)
        return Face(box, pts, 1.0)
