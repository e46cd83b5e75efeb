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

    def predict(self, image: np.ndarray) -> list[Face]:
        faces = []
        for rect in self.detector(image, self.upsample):
            shape = self.predictor(image, rect)
            # dlib's points are integer pixel indices; +0.5 moves them to the continuous convention of our data
            pts = np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], np.float32)
            box = np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float32)
            faces.append(Face(box, pts, 1.0))
        return faces
