"""Faces cut by the frame (a user close to the webcam, a selfie, a tight crop) are found and get their points:
:class:`~kpdemo.detection.faces.PaddedDetector` in both detector modes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kpdemo.datasets.kaggle15 import transform_points
from kpdemo.detection import Detection, FaceDetector, get_predictor, read_image
from kpdemo.detection.crops import crop_matrix
from kpdemo.detection.faces import MEDIAPIPE_SHORT_CALIBRATION, PaddedDetector

MODEL = "checkpoint:ibug68_pip"
FRAME = 480


@pytest.fixture(scope="module")
def astronaut(fixtures_dir: Path) -> np.ndarray:
    return read_image(fixtures_dir / "astronaut.png")


@pytest.fixture(scope="module")
def upright_points(astronaut: np.ndarray) -> np.ndarray:
    (face,) = get_predictor(MODEL).predict(astronaut)
    return face.points


def close_up(image: np.ndarray, points: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """A ``FRAME`` px picture of a square ``window`` x the face's landmark box, centred on it, and the points in it."""
    lo, hi = points.min(0), points.max(0)
    matrix = crop_matrix(*((lo + hi) / 2), window * float((hi - lo).max()), (FRAME, FRAME))
    return cv2.warpAffine(image, matrix, (FRAME, FRAME), flags=cv2.INTER_LINEAR), transform_points(points, matrix)


def mean_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean point distance as a share of the outer-eye-corner distance (the NME of the benchmarks)."""
    return float(np.linalg.norm(points - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45]))


@pytest.mark.parametrize("video", [False, True])
@pytest.mark.parametrize("window", [0.8, 0.75])
def test_a_face_cut_by_the_frame_is_found_with_its_points(astronaut: np.ndarray, upright_points: np.ndarray,
                                                          window: float, video: bool) -> None:
    """The astronaut framed tighter than her face (jaw, chin and brows cut) gets the points of the whole photo."""
    frame, truth = close_up(astronaut, upright_points, window)
    faces = get_predictor(MODEL).predict(frame, video=video)
    assert len(faces) == 1
    assert mean_error(faces[0].points, truth) < 0.06


class BorderedOnly(FaceDetector):
    """Finds the bright square of a test image, but only when a black border surrounds the image."""

    name = "bordered-only"

    def detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        if image[0].any():
            return []
        ys, xs = np.nonzero(image[..., 0] > 128)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
        return [Detection(box, 0.9, self.name, MEDIAPIPE_SHORT_CALIBRATION, angle=3.0)]


def test_padded_detection_maps_back_to_the_image() -> None:
    image = np.full((60, 100, 3), 40, np.uint8)
    image[10:30, 50:70] = 255
    (det,) = PaddedDetector(BorderedOnly(), pad=0.25).detect(image)
    assert det.box == pytest.approx([50, 10, 70, 30])
    assert det.angle == 3.0 and det.detector == "bordered-only"
