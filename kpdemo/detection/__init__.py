"""Face detection and landmark prediction behind one interface.

:class:`LandmarkPredictor` is the public API: ``predict(image RGB uint8) -> list[Face]`` with points in full-image
pixels, or ``predict_in_boxes(image, boxes)`` for faces whose boxes the caller already has (the README's "From
Python" shows both). Implementations: MediaPipe face mesh and kpdemo checkpoints (which take any
:class:`FaceDetector` plug-in).
:func:`available_predictors` / :func:`get_predictor` discover and cache them.
"""

from kpdemo.detection.base import UNCERTAIN, Face, LandmarkPredictor
from kpdemo.detection.checkpoint import CheckpointPredictor
from kpdemo.detection.detector import GIVEN_BOX, BoxCalibration, Detection, FaceDetector
from kpdemo.detection.face_finders import HaarFaceDetector, MediaPipeFaceDetector
from kpdemo.detection.images import ImageInputError, as_rgb, image_array, read_image
from kpdemo.detection.mediapipe_mesh import MediaPipeMeshPredictor
from kpdemo.detection.pipelines import default_detector
from kpdemo.detection.registry import (
    DEFAULT_KEY,
    PredictorEntry,
    available_predictors,
    get_predictor,
    predictor_choices,
)
from kpdemo.detection.wrappers import (
    DownscaledDetector,
    FallbackDetector,
    MergedDetector,
    PhotoVideoDetector,
    TiledDetector,
)

__all__ = [
    "DEFAULT_KEY", "GIVEN_BOX", "UNCERTAIN", "BoxCalibration", "CheckpointPredictor", "Detection",
    "DownscaledDetector", "Face", "FaceDetector", "FallbackDetector", "HaarFaceDetector", "ImageInputError",
    "LandmarkPredictor", "MediaPipeFaceDetector", "MediaPipeMeshPredictor", "MergedDetector", "PhotoVideoDetector",
    "PredictorEntry", "TiledDetector", "as_rgb", "available_predictors", "default_detector", "get_predictor",
    "image_array", "predictor_choices", "read_image",
]
