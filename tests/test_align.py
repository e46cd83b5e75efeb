"""Similarity alignment onto the ArcFace template."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kpdemo.align import AlignError, align_face, aligned_points, similarity_transform, template
from kpdemo.detection import get_predictor, read_image
from kpdemo.schemas import KAGGLE15, NOSE1, KeypointSchema


def random_similarity(rng: np.random.Generator) -> np.ndarray:
    angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.5, 3.0)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([rot, rng.uniform(-50, 300, (2, 1))])


def test_similarity_transform_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (7, 2))
    truth = random_similarity(rng)
    dst = src @ truth[:, :2].T + truth[:, 2]
    np.testing.assert_allclose(similarity_transform(src, dst), truth, atol=1e-9)


@pytest.mark.parametrize("size", [112, 256])
def test_eye_centres_land_on_the_template_in_the_warped_image(size: int) -> None:
    """Draw two eye dots, align on them, and find the dots where the template says (within 1 px)."""
    eyes_only = KeypointSchema(id="eyes", title="eyes", point_names=("right_eye", "left_eye"), right_eye=(0,),
                               left_eye=(1,))
    eyes = np.array([[180.5, 260.5], [300.5, 215.5]])  # pixel centres, tilted
    image = np.zeros((480, 480, 3), np.uint8)
    for x, y in eyes:
        cv2.circle(image, (int(x), int(y)), 6, (255, 255, 255), -1)
    face = align_face(image, eyes, eyes_only, size)
    assert face.anchors == "eye centres"
    ref = template(size)[:2]
    np.testing.assert_allclose(aligned_points(eyes, face), ref, atol=1e-3)
    gray = face.image[..., 0].astype(np.float64)
    for target in ref:
        ys, xs = np.mgrid[0:size, 0:size]
        near = np.hypot(xs + 0.5 - target[0], ys + 0.5 - target[1]) < 0.15 * size
        weights = gray * near
        centroid = np.array([(weights * (xs + 0.5)).sum(), (weights * (ys + 0.5)).sum()]) / weights.sum()
        assert np.linalg.norm(centroid - target) < 1.0


def test_five_point_alignment_of_a_transformed_template_is_exact() -> None:
    rng = np.random.default_rng(2)
    truth = random_similarity(rng)
    five = template(112) @ truth[:, :2].T + truth[:, 2]
    points = np.zeros((15, 2))
    for idx, p in zip(KAGGLE15.five_points, five, strict=True):
        points[list(idx)] = p
    face = align_face(np.zeros((400, 400, 3), np.uint8), points, KAGGLE15, 256)
    assert face.anchors == "5 points"
    right, left = KAGGLE15.eye_centres(aligned_points(points, face))
    np.testing.assert_allclose([right, left], template(256)[:2], atol=1e-3)


def test_real_face_is_levelled_and_centred(fixtures_dir: Path) -> None:
    image = read_image(fixtures_dir / "astronaut.png")
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((256, 256), 20, 1.0), (512, 512))
    predictor = get_predictor("mediapipe478")
    (face,) = predictor.predict(rotated)
    aligned = align_face(rotated, face.points, predictor.schema, 112)
    right, left = predictor.schema.eye_centres(aligned_points(face.points, aligned))
    ref = template(112)
    tilt = np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))
    assert abs(tilt) < 3
    assert np.linalg.norm((right + left) / 2 - ref[:2].mean(0)) < 3


def test_schema_without_eyes_cannot_be_aligned() -> None:
    with pytest.raises(AlignError, match="no eye centres"):
        align_face(np.zeros((50, 50, 3), np.uint8), np.zeros((1, 2)), NOSE1)


def test_degenerate_points_are_refused() -> None:
    with pytest.raises(AlignError, match="degenerate"):
        align_face(np.zeros((50, 50, 3), np.uint8), np.full((15, 2), 10.0), KAGGLE15)
