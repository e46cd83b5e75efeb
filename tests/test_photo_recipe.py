"""The photo path's refine recipe: turned crop windows map exactly, and an upright crop makes the answer follow the
face when the image turns."""

from __future__ import annotations

import numpy as np
import pytest

from kpdemo.detection import CheckpointPredictor
from kpdemo.detection.checkpoint import PhotoRecipe
from kpdemo.detection.crops import crop_matrix, crop_to_image, upright_angle
from kpdemo.geometry import transform_points


def turn(points: np.ndarray, degrees: float, centre: np.ndarray) -> np.ndarray:
    """Points turned by ``degrees`` (image axes, y down: positive turns x towards y) about ``centre``."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - centre) @ rotation.T + centre


def rot90(points: np.ndarray, width: int) -> np.ndarray:
    """Continuous-pixel points of an image of ``width`` after ``np.rot90(image)`` (a quarter turn, exact pixels)."""
    return np.stack([points[:, 1], width - points[:, 0]], axis=1)


@pytest.mark.parametrize("degrees", [-35.0, 12.5, 90.0])
def test_a_turned_window_sees_a_turned_face_as_the_upright_one(shipped: CheckpointPredictor, degrees: float) -> None:
    """Rotate a face's points, cut the window turned by the same angle: in the crop they land where the unturned
    points land in the plain window, and the crop maps back to the turned points exactly."""
    rng = np.random.default_rng(0)
    points = rng.uniform(80, 220, (68, 2))
    turned = turn(points, degrees, np.array([400.0, 300.0]))
    plain, window = shipped.crop_around(points), shipped.crop_around(turned, angle=degrees)
    np.testing.assert_allclose(transform_points(turned, window), transform_points(points, plain), atol=1e-3)
    np.testing.assert_allclose(crop_to_image(transform_points(turned, window), window), turned, atol=1e-3)


def test_upright_angle_reads_the_eye_line() -> None:
    assert upright_angle(np.array([10.0, 10.0]), np.array([20.0, 20.0])) == pytest.approx(45.0)
    assert upright_angle(np.array([10.0, 10.0]), np.array([20.0, 10.0])) == pytest.approx(0.0)
    # a window turned by the eye line's angle shows the eyes level
    right, left = np.array([100.0, 200.0]), np.array([160.0, 170.0])
    window = crop_matrix(130, 185, 200, (128, 128), upright_angle(right, left))
    in_crop = transform_points(np.stack([right, left]), window)
    assert in_crop[0, 1] == pytest.approx(in_crop[1, 1], abs=1e-4)


def test_upright_refine_follows_a_quarter_turned_photo(shipped: CheckpointPredictor, astronaut: np.ndarray) -> None:
    """Refining on upright crops commutes with turning the image (a quarter turn keeps pixels exact): the network
    sees the same crop and the answer maps back turned. Without ``upright`` the network sees a sideways face."""
    (face,) = shipped.predict(astronaut, video=True)
    width = astronaut.shape[1]
    quarter = np.ascontiguousarray(np.rot90(astronaut))
    for upright, agrees in ((True, True), (False, False)):
        recipe = PhotoRecipe(upright=upright)
        (here,), _ = shipped.refine(astronaut, [face.points], recipe)
        (there,), _ = shipped.refine(quarter, [rot90(face.points, width)], recipe)
        gap = np.linalg.norm(there - rot90(here, width), axis=1).mean()
        assert (gap < 0.1) == agrees, f"upright={upright}: {gap:.3f} px apart"


def test_the_recipe_is_what_photos_run(shipped: CheckpointPredictor, astronaut: np.ndarray,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """predict() refines photos by the predictor's recipe: no pass gives the detector-box answer, two passes are the
    one-pass refine applied twice."""
    first = shipped.points_in(astronaut, [shipped.crop_for(d) for d in shipped.detector.detect(astronaut)])
    monkeypatch.setattr(shipped, "recipe", PhotoRecipe(passes=0))
    np.testing.assert_allclose(shipped.predict(astronaut)[0].points, first[0], atol=1e-4)
    monkeypatch.setattr(shipped, "recipe", PhotoRecipe(passes=2))
    twice, _ = shipped.refine(astronaut, shipped.refine(astronaut, first, PhotoRecipe())[0], PhotoRecipe())
    np.testing.assert_allclose(shipped.predict(astronaut)[0].points, twice[0], atol=1e-4)
    assert not np.allclose(twice[0], first[0], atol=0.05)


def test_the_benchs_tilted_faces_carry_their_points() -> None:
    """bench/photo_path.py's tilted val copy: a bright blob and its labelled centre turn together, both ways (points
    turned as if pixel indices were continuous coordinates land ~0.3 px off the blob)."""
    from bench.photo_path import tilted
    from kpdemo.datasets import LandmarkSet

    ys, xs = np.mgrid[:64, :64]
    blob = 250 * np.exp(-((xs - 44) ** 2 + (ys - 20) ** 2) / (2 * 2.0**2))  # centred on pixel (44, 20): (44.5, 20.5)
    images = np.repeat(np.round(blob).astype(np.uint8)[None, ..., None], 3, axis=-1).repeat(2, axis=0)
    points = np.tile(np.float32([44.5, 20.5]), (2, 68, 1))
    data = LandmarkSet("toy", "ibug68", points, np.full(2, "val"), np.full(2, None), np.array(["a", "b"]),
                       images=images)
    turned = tilted(data, 30.0)
    for i in range(2):
        gray = turned.image(i)[..., 0].astype(float)
        centroid = np.array([(xs * gray).sum(), (ys * gray).sum()]) / gray.sum() + 0.5
        np.testing.assert_allclose(turned.points[i, 0], centroid, atol=0.05)
    assert not np.allclose(turned.points[0], turned.points[1])  # +30 and -30 degrees
