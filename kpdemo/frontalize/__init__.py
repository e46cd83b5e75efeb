"""Learned face frontalization (seed 004): pairing by frontalness, image metrics, synthetic polygons, and the
shipped model applied to a geometrically aligned face (:func:`frontalize`).

Training lives in ``trainers`` (``python -m trainers polygons`` / ``python -m trainers frontalize``); the
YouTube-Faces pairs are built by :mod:`kpdemo.frontalize.data` (imported on demand: it reads the dataset).
"""

from kpdemo.frontalize.metrics import image_scores, l1_gray, ssim
from kpdemo.frontalize.model import DEFAULT_CHECKPOINT, FrontalizerError, frontalize, load_frontalizer, model_note
from kpdemo.frontalize.pairing import frontalness, most_frontal_pairs

__all__ = ["DEFAULT_CHECKPOINT", "FrontalizerError", "frontalize", "frontalness", "image_scores", "model_note",
           "l1_gray", "load_frontalizer", "most_frontal_pairs", "ssim"]
