"""A face's uncertainty: the spread of the crops' answers that its points average, and of its network's and its
live-frame companion's answers. Small on a face the model reads well, large on one it cannot, absent where nothing
is averaged; the Detect tab names the uncertain faces and boxes them in magenta."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kpdemo.detection import UNCERTAIN, CheckpointPredictor, get_predictor
from kpdemo.detection.checkpoint import live_companion_path
from kpdemo.detection.crops import crop_to_image
from kpdemo.draw import UNCERTAIN_BOX_COLOUR
from kpdemo.ui.detect import detect

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request only warns


def test_a_clear_face_is_sure_and_a_blurred_one_is_flagged(shipped: CheckpointPredictor, astronaut: np.ndarray) -> None:
    (clear,) = shipped.predict(astronaut)
    (blurred,) = shipped.predict(cv2.GaussianBlur(astronaut, (0, 0), 10))
    assert clear.uncertainty is not None and clear.uncertainty < UNCERTAIN / 2 and not clear.uncertain
    assert blurred.uncertainty is not None and blurred.uncertainty > 2 * UNCERTAIN and blurred.uncertain
    assert clear.as_dict(shipped.schema)["uncertainty"] == round(clear.uncertainty, 4)


def test_the_spread_is_the_answers_distance_from_their_mean(shipped: CheckpointPredictor,
                                                           astronaut: np.ndarray) -> None:
    """Two identical answers have no spread; answers 2 px either side of the points spread by 2 px over the face's
    size."""
    points = [np.array([[0.0, 0.0], [100.0, 50.0]])]
    window = [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])]  # crop pixels are image pixels
    same = points[0][None]  # one kind of answer: one (K, 2) answer a window
    assert shipped.spreads(points, window, [same, same]) == [pytest.approx(0.0)]
    assert shipped.spreads(points, window, [same + [2.0, 0.0], same - [2.0, 0.0]]) == [pytest.approx(2.0 / 100.0)]
    assert shipped.spreads(points, window, [same]) == [None]  # one answer: nothing to spread


def test_the_companion_gives_a_second_opinion_on_the_same_crop(shipped: CheckpointPredictor,
                                                               astronaut: np.ndarray) -> None:
    """The second spread: the full network's and the companion's answers on one crop lie half their gap from their
    mean; on a clear face the two agree. A checkpoint without a companion has no second opinion."""
    (face,) = shipped.predict(astronaut)
    window = [shipped.crop_around(face.points, angle=shipped.roll(face.points))]
    mine, _ = shipped.crop_points(astronaut, window)
    theirs, _ = CheckpointPredictor(live_companion_path(shipped.path), live=False).crop_points(astronaut, window)
    gap = np.linalg.norm(crop_to_image(mine[0], window[0]) - crop_to_image(theirs[0], window[0]), axis=-1).mean()
    half = gap / 2 / float(np.ptp(face.points, 0).max())
    assert shipped.second_opinions(astronaut, [face.points], window, mine) == [pytest.approx(half, rel=1e-5)]
    assert 0 < half < UNCERTAIN / 2
    kaggle = get_predictor("checkpoint:kaggle15_pip")
    assert not live_companion_path(kaggle.path).exists() and kaggle.predict(astronaut)[0].uncertainty is not None


def test_no_uncertainty_where_nothing_is_averaged(shipped: CheckpointPredictor, astronaut: np.ndarray) -> None:
    assert [face.uncertainty for face in shipped.predict(astronaut, video=True)] == [None]
    (mesh,) = get_predictor("mediapipe468").predict(astronaut)
    assert mesh.uncertainty is None and not mesh.uncertain and "uncertainty" not in mesh.as_dict(
        get_predictor("mediapipe468").schema)


def test_detect_names_the_uncertain_face_and_boxes_it_magenta(tmp_path: Path, astronaut: np.ndarray) -> None:
    clear, blurred = tmp_path / "clear.png", tmp_path / "blurred.png"
    Image.fromarray(astronaut).save(clear)
    Image.fromarray(cv2.GaussianBlur(astronaut, (0, 0), 10)).save(blurred)
    def magenta_pixels(image: np.ndarray) -> int:
        return int((np.abs(image.astype(int) - UNCERTAIN_BOX_COLOUR).max(-1) < 40).sum())

    image, coords, status = detect(str(clear), "checkpoint:ibug68_pip")
    assert "uncertain" not in status and coords["faces"][0]["uncertainty"] < UNCERTAIN and magenta_pixels(image) == 0
    image, coords, status = detect(str(blurred), "checkpoint:ibug68_pip")
    assert "points of face 1 (magenta box) are uncertain" in status
    assert magenta_pixels(image) > 100  # the box's outline
