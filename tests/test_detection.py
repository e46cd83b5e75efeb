"""Face detectors, landmark predictors, crop mapping, the predictor registry, image input and drawing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.low_light import dim_picture
from kpdemo.checkpoints import CheckpointError, CheckpointMeta, save_checkpoint
from kpdemo.config import CHECKPOINTS_DIR
from kpdemo.datasets.kaggle15 import CROP_SCALE, crop_face
from kpdemo.detection import (
    DEFAULT_KEY,
    CheckpointPredictor,
    Detection,
    Face,
    FaceDetector,
    HaarFaceDetector,
    ImageInputError,
    MediaPipeMeshPredictor,
    as_rgb,
    available_predictors,
    default_detector,
    get_predictor,
    image_array,
    read_image,
)
from kpdemo.detection.boxes import overlap
from kpdemo.detection.checkpoint import cut_crop, same_face
from kpdemo.detection.crops import crop_matrix, crop_to_image
from kpdemo.detection.detector import BoxCalibration
from kpdemo.detection.face_finders import MediaPipeFaceDetector
from kpdemo.detection.mediapipe_graph import SolutionGraph
from kpdemo.detection.pipelines import photo_detector
from kpdemo.detection.registry import shipped_checkpoint_path
from kpdemo.detection.wrappers import NOISE_GATE, DenoisedDetector, DownscaledDetector, noise_level
from kpdemo.draw import draw_faces, face_marks, schema_edges
from kpdemo.geometry import square_crop_matrix, transform_points
from kpdemo.models import build_model
from kpdemo.schemas import KAGGLE15, MEDIAPIPE468, MEDIAPIPE478, get_schema


def grown(box: np.ndarray, margin: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] - margin * w, box[1] - margin * h, box[2] + margin * w, box[3] + margin * h])


def inside(points: np.ndarray, box: np.ndarray) -> bool:
    return bool(((points >= box[:2]) & (points <= box[2:])).all())


# ---------------------------------------------------------------- MediaPipe and face detectors


@pytest.mark.parametrize("refine, schema", [(False, MEDIAPIPE468), (True, MEDIAPIPE478)])
def test_mediapipe_mesh_finds_the_astronaut(astronaut: np.ndarray, refine: bool, schema) -> None:
    faces = MediaPipeMeshPredictor(refine_landmarks=refine).predict(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.points.shape == (schema.num_points, 2)
    detected = default_detector().detect(astronaut)
    assert len(detected) == 1
    # the mesh spans forehead to chin, a little beyond BlazeFace's box; eyes, nose and mouth lie well inside it
    assert inside(face.points, grown(detected[0].box, 0.2))
    assert inside(schema.five_point_landmarks(face.points), detected[0].box)
    right_eye, left_eye = schema.eye_centres(face.points)
    assert right_eye[0] < left_eye[0]  # subject's right eye on the image's left


def test_mediapipe_meshes_a_small_face_again_on_its_crop_and_leaves_a_large_one(astronaut: np.ndarray) -> None:
    """A face under ``remesh_below`` px is meshed again on its own crop (better on small validation faces, see
    ``REMESH_BELOW_PX``): its points then differ from the whole-image mesh's and still lie on the face; a large face
    keeps the whole-image mesh, point for point."""
    import cv2

    # the astronaut's mesh is ~100 px across in the 512 px fixture; twice as large, ~200 px
    large = cv2.resize(astronaut, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    never, below = (MediaPipeMeshPredictor(remesh_below=px) for px in (0.0, 1e6))
    for image, remeshed in ((astronaut, True), (large, False)):
        whole, again = never.predict(image), MediaPipeMeshPredictor(remesh_below=144.0).predict(image)
        assert len(whole) == len(again) == 1
        if not remeshed:
            np.testing.assert_array_equal(again[0].points, whole[0].points)
            continue
        assert np.abs(again[0].points - whole[0].points).max() > 0.5
        np.testing.assert_allclose(again[0].points, below.predict(image)[0].points)
        assert inside(again[0].points, grown(whole[0].box, 0.2))


def test_haar_fallback_finds_the_astronaut(astronaut: np.ndarray) -> None:
    found = HaarFaceDetector().detect(astronaut)
    assert len(found) == 1
    assert found[0].detector == "haar"


def test_no_face_in_a_plain_image() -> None:
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert default_detector().detect(blank) == []
    assert get_predictor("mediapipe468").predict(blank) == []


def test_noise_level_reads_a_pictures_noise_not_its_detail(astronaut: np.ndarray) -> None:
    grey = np.full((240, 320, 3), 120.0)
    noisy = np.clip(grey + np.random.default_rng(0).normal(0, 10, (240, 320, 1)), 0, 255).astype(np.uint8)
    assert 9 < noise_level(noisy) < 11  # the same noise in all three channels: grey noise of sigma 10
    assert noise_level(astronaut) < NOISE_GATE / 4  # hair, fabric and a flag: detail, not noise


class _Counting(FaceDetector):
    """A stand-in detector that records the pictures it is shown and finds nothing."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        self.seen.append(image)
        return []


def test_noise_level_of_a_picture_too_small_to_read_is_none() -> None:
    assert noise_level(np.zeros((2, 500, 3), np.uint8)) == 0.0


def test_only_a_noisy_picture_is_retried_smoothed(astronaut: np.ndarray) -> None:
    inner = _Counting()
    denoised = DenoisedDetector(inner)
    assert denoised.detect(astronaut) == [] and inner.seen == []  # clean: the detectors before it had their say
    dark = dim_picture(astronaut, 1 / 64, np.random.default_rng(0))
    denoised.detect(dark)
    assert len(inner.seen) == 1 and noise_level(inner.seen[0]) < noise_level(dark) / 4


def test_a_face_in_the_dark_is_found_on_a_smoothed_copy(astronaut: np.ndarray) -> None:
    """With 1/64 of the light (``bench/low_light.py``'s camera: colour speckle, the brightness kept by the gain)
    BlazeFace misses the astronaut; the photo and webcam paths find her on a smoothed copy, where she is."""
    dark = dim_picture(astronaut, 1 / 64, np.random.default_rng(0))
    plain_stage = photo_detector(MediaPipeFaceDetector(0), MediaPipeFaceDetector(1), HaarFaceDetector()).detectors[0]
    assert plain_stage.detect(dark) == []
    where = default_detector().detect(astronaut)[0].box
    for video in (False, True):
        found = default_detector().detect(dark, video)
        assert len(found) == 1 and overlap(found[0].box, where) > 0.6, (video, found)


def test_a_camera_sized_array_is_detected_at_the_uploads_size(astronaut: np.ndarray) -> None:
    """An array over 1,600 px (a camera's full frame handed to ``predict``, which ``read_image`` would have shrunk)
    is detected on a copy shrunk to that size: the detector behind sees at most 1,600 px, the face comes back in
    the big array's pixels where the small picture's face lies scaled up, and the landmarks, cut from the full
    array, agree with the small picture's. (Before, the photo detector's tiles covered the whole 4,000 px array:
    seconds, and a second "face" on the mission patch.)"""
    import cv2

    inner = _Counting()
    DownscaledDetector(inner).detect(np.zeros((3000, 4000, 3), np.uint8))
    assert [seen.shape for seen in inner.seen] == [(1200, 1600, 3)]
    seen_turned = Detection(np.array([10, 20, 30, 40], np.float32), 0.8, "d", BoxCalibration(1, 0, 0), 90.0)
    scaled = replace(seen_turned, angle=0.0, others=(seen_turned,)).scaled(np.array([2, 3, 2, 3], np.float32))
    for det in (scaled, *scaled.others):  # the rolls the face was also seen at move with it
        np.testing.assert_array_equal(det.box, [20, 60, 60, 120])
    scale = 4000 / astronaut.shape[1]
    big = cv2.resize(astronaut, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    (small_face,) = default_detector().detect(astronaut)
    (big_face,) = default_detector().detect(big)
    assert overlap(big_face.box, small_face.box * scale) > 0.9
    model = get_predictor("checkpoint:ibug68_pip")
    (small_points,), (big_points,) = ([f.points for f in model.predict(image)] for image in (astronaut, big))
    assert np.abs(big_points / scale - small_points).mean() < 0.5  # px of the 512 px picture


def test_mesh_finds_small_faces_through_the_full_range_detector(astronaut: np.ndarray) -> None:
    from kpdemo.detection.images import compose_frame

    pair = np.hstack([compose_frame(astronaut, (480, 480), 0.9), compose_frame(astronaut, (480, 480), 0.6)])
    faces = get_predictor("mediapipe468").predict(pair)
    assert len(faces) == 2
    assert sorted(f.box[0] < 480 for f in faces) == [False, True]  # one face in each half


# ---------------------------------------------------------------- crops: same as training, and back


def test_crop_matrix_is_the_training_crop_for_square_inputs() -> None:
    pts = np.array([[30.0, 40.0], [130.0, 60.0], [90.0, 170.0]])
    lo, hi = pts.min(0), pts.max(0)
    expected = square_crop_matrix(pts, CROP_SCALE, 96)
    got = crop_matrix(*((lo + hi) / 2), CROP_SCALE * (hi - lo).max(), (96, 96))
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_cut_crop_reproduces_kaggle15_crop(astronaut: np.ndarray) -> None:
    pts = get_predictor("mediapipe468").predict(astronaut)[0].points
    expected, _ = crop_face(astronaut, pts, 96)
    lo, hi = pts.min(0), pts.max(0)
    matrix = crop_matrix(*((lo + hi) / 2), CROP_SCALE * float((hi - lo).max()), (96, 96))
    assert np.array_equal(cut_crop(astronaut, matrix, (96, 96), 1), expected)


@pytest.mark.parametrize("out_hw", [(96, 96), (60, 80)])
def test_crop_to_image_round_trips(out_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(50, 400, (20, 2)).astype(np.float32)
    matrix = crop_matrix(210.0, 190.0, 260.0, out_hw)
    np.testing.assert_allclose(crop_to_image(transform_points(pts, matrix), matrix), pts, atol=1e-3)


# ---------------------------------------------------------------- checkpoint predictor


class FixedDetector(FaceDetector):
    """A detector plug-in that reports one known box (so the mapping can be checked exactly)."""

    name = "fixed"

    def __init__(self, box: tuple[float, float, float, float], calibration: BoxCalibration) -> None:
        self.box = np.array(box, np.float32)
        self.calibration = calibration

    def detect(self, image: np.ndarray, video: bool = False) -> list[Detection]:
        return [Detection(self.box, 0.9, self.name, self.calibration)]


def make_checkpoint(path: Path, outputs: np.ndarray, schema: str = "kaggle15", num_points: int | None = None,
                    input_size: tuple[int, int] = (96, 96)) -> Path:
    """A tiny SimpleNet whose output is the constant ``outputs`` (zero last-layer weights, bias = outputs)."""
    k = num_points or get_schema(schema).num_points
    model = build_model("simplenet", num_points=k, in_channels=1, input_size=input_size, hidden=8)
    with torch.no_grad():
        model[-1].weight.zero_()
        model[-1].bias.copy_(torch.as_tensor(np.resize(outputs, 2 * k), dtype=torch.float32))
    meta = CheckpointMeta(model="simplenet", schema=schema, input_size=input_size, in_channels=1,
                          model_kwargs={"hidden": 8}, crop_scale=CROP_SCALE, dataset="test")
    save_checkpoint(path, model.state_dict(), meta)
    return path


@pytest.mark.parametrize("input_size", [(96, 96), (60, 80)])
def test_checkpoint_points_map_back_to_the_full_image(tmp_path: Path, astronaut: np.ndarray,
                                                      input_size: tuple[int, int]) -> None:
    # outputs: crop centre, top-left corner, bottom-right corner, then the centre again
    outputs = np.array([[0, 0], [-1, -1], [1, 1]] + [[0, 0]] * 12, np.float32)
    path = make_checkpoint(tmp_path / "tiny.pt", outputs.ravel(), input_size=input_size)
    calib = BoxCalibration(scale=1.1, dx=0.05, dy=0.1)
    predictor = CheckpointPredictor(path, detector=FixedDetector((100, 120, 300, 320), calib))
    (face,) = predictor.predict(astronaut)
    cx, cy, side = 200 + 0.05 * 200, 220 + 0.1 * 200, 1.1 * 200  # estimated landmark box
    h = CROP_SCALE * side
    w = h * input_size[1] / input_size[0]
    np.testing.assert_allclose(face.points[0], [cx, cy], atol=1e-3)
    np.testing.assert_allclose(face.points[1], [cx - w / 2, cy - h / 2], atol=1e-3)
    np.testing.assert_allclose(face.points[2], [cx + w / 2, cy + h / 2], atol=1e-3)
    assert face.score == pytest.approx(0.9)


def test_checkpoint_with_wrong_point_count_is_refused(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path / "bad.pt", np.zeros(136), schema="kaggle15", num_points=68)
    with pytest.raises(CheckpointError, match="bad.pt"):
        CheckpointPredictor(path)


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError):
        CheckpointPredictor(path)


# ---------------------------------------------------------------- registry


def test_registry_lists_mediapipe_and_new_user_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [e.key for e in available_predictors(refresh=True)]
    assert keys[:2] == ["mediapipe468", "mediapipe478"]
    monkeypatch.setenv("KPDEMO_RUNS", str(tmp_path))
    run_dir = tmp_path / "seed001" / "tiny"
    make_checkpoint(run_dir / "best.pt", np.zeros(30))
    (run_dir / "record.json").write_text(json.dumps({"experiment": "seed001", "name": "tiny", "checkpoint": "best.pt"}))
    assert "run:seed001/tiny" not in [e.key for e in available_predictors()]  # cached until refreshed
    entries = {e.key: e for e in available_predictors(refresh=True)}
    assert "run:seed001/tiny" in entries
    assert "kaggle15, 15 points" in entries["run:seed001/tiny"].label
    predictor = get_predictor("run:seed001/tiny")
    assert predictor.num_points == 15
    assert get_predictor("run:seed001/tiny") is predictor  # cached


def test_the_default_model_is_a_shipped_checkpoint_the_pickers_list() -> None:
    entries = {e.key: e for e in available_predictors(refresh=True)}
    assert DEFAULT_KEY == "checkpoint:ibug68_pip" and DEFAULT_KEY in entries
    assert entries[DEFAULT_KEY].schema == "ibug68"
    # the shipped records of the runs the shipped models came from link those files: each model is listed once
    assert not [key for key in entries if key.startswith("run:landmarks/")], list(entries)


def test_a_shipped_checkpoint_key_names_its_file_and_no_other_key_does() -> None:
    keys = [e.key for e in available_predictors(refresh=True)]
    assert shipped_checkpoint_path(DEFAULT_KEY) == CHECKPOINTS_DIR / "ibug68_pip.pt"
    assert all(path.is_file() for path in map(shipped_checkpoint_path, keys) if path is not None)
    assert shipped_checkpoint_path("mediapipe468") is None and shipped_checkpoint_path("run:seed001/tiny") is None


def test_unknown_predictor_key_is_a_readable_error() -> None:
    with pytest.raises(KeyError, match="not available"):
        get_predictor("run:nope/missing")


# ---------------------------------------------------------------- image input


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageInputError, match="not an image"):
        read_image(path)


def test_truncated_image_is_reported(tmp_path: Path, fixtures_dir: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes((fixtures_dir / "astronaut.png").read_bytes()[:5000])
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        read_image(path)


def test_huge_image_is_downscaled(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 2500), (10, 200, 30)).save(path)
    image = read_image(path)
    assert image.shape == (1000, 1600, 3) and image.dtype == np.uint8


def test_a_fully_transparent_image_shows_nothing_and_is_refused(tmp_path: Path, fixtures_dir: Path) -> None:
    """Its colours still hold the astronaut (an editor keeps them under a cleared alpha), which a viewer does not
    show: reading them found "1 face". A palette image with its one colour transparent likewise; a partly
    transparent image keeps its colours."""
    astronaut = Image.open(fixtures_dir / "astronaut.png").convert("RGBA")
    cleared = astronaut.copy()
    cleared.putalpha(0)
    cleared.save(tmp_path / "cleared.png")
    palette = Image.new("P", (64, 64), 0)
    palette.save(tmp_path / "palette.png", transparency=0)
    for name in ("cleared.png", "palette.png"):
        with pytest.raises(ImageInputError, match=f"{name} is fully transparent"):
            read_image(tmp_path / name)
    partly, alpha = astronaut.copy(), Image.new("L", astronaut.size, 0)
    alpha.putpixel((0, 0), 255)  # one pixel shows
    partly.putalpha(alpha)
    partly.save(tmp_path / "partly.png")
    assert np.array_equal(read_image(tmp_path / "partly.png"), np.asarray(astronaut.convert("RGB")))


def test_an_image_smaller_than_the_callers_minimum_is_refused(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (90, 90, 90)).save(tmp_path / "tiny.png")
    assert read_image(tmp_path / "tiny.png").shape == (8, 8, 3)  # no minimum unless asked
    with pytest.raises(ImageInputError, match=r"tiny.png is only 8x8 pixels: too small to hold a face \(at least 32"):
        read_image(tmp_path / "tiny.png", min_side=32)


def test_as_rgb_accepts_gray_and_rgba_and_rejects_junk() -> None:
    assert as_rgb(np.zeros((10, 12), np.uint8)).shape == (10, 12, 3)
    assert as_rgb(np.zeros((10, 12, 4), np.uint8)).shape == (10, 12, 3)
    with pytest.raises(ImageInputError, match="not an image"):
        as_rgb(np.zeros(5))


@pytest.mark.parametrize("form", ["gray", "gray1", "gray_alpha", "rgba", "float01", "float255", "uint16", "int64",
                                  "pil", "tensor"])
def test_image_array_reads_every_common_form_as_the_same_pixels(astronaut: np.ndarray, form: str) -> None:
    gray = astronaut.mean(2).round().astype(np.uint8)
    opaque = np.full(gray.shape, 255, np.uint8)
    given, expected = {
        "gray": (gray, np.dstack([gray] * 3)),
        "gray1": (gray[:, :, None], np.dstack([gray] * 3)),
        "gray_alpha": (np.dstack([gray, opaque]), np.dstack([gray] * 3)),
        "rgba": (np.dstack([astronaut, opaque]), astronaut),
        "float01": (astronaut / 255.0, astronaut),
        "float255": (astronaut.astype(np.float32), astronaut),
        "uint16": (astronaut.astype(np.uint16) * 257, astronaut),
        "int64": (astronaut.astype(np.int64), astronaut),
        "pil": (Image.fromarray(astronaut), astronaut),
        "tensor": (torch.from_numpy(astronaut), astronaut),
    }[form]
    image = image_array(given)
    assert image.dtype == np.uint8 and image.flags.c_contiguous
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize(("given", "message"), [
    (None, "no image was given"),
    (np.zeros((0, 640, 3), np.uint8), "no pixels"),
    (np.zeros((3, 48, 64), np.float32), "channels first"),
    (np.zeros((48, 64, 5), np.uint8), "not an image"),
    (np.full((48, 64, 3), -1.5, np.float32), "normalised tensor"),
    (np.full((48, 64, 3), np.nan, np.float32), "NaN"),
    (np.full((48, 64, 3), 300, np.int32), "within 0-255"),
    ("astronaut.png", "read_image"),
    ({"pixels": 1}, "not an image"),
])
def test_image_array_refuses_what_it_cannot_read_with_a_reason(given: object, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        image_array(given)


def test_a_bad_image_neither_crashes_a_predictor_nor_breaks_it_for_the_next(astronaut: np.ndarray) -> None:
    model = get_predictor(DEFAULT_KEY)
    with pytest.raises(ImageInputError, match="no pixels"):
        model.predict(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        model.predict_in_boxes(astronaut, [[900, 900, 950, 950]])
    faces = model.predict(astronaut.mean(2).astype(np.uint8))  # a gray photo, as a 2-D array
    assert len(faces) == 1 and inside(faces[0].points, grown(faces[0].box, 0.3))


def test_a_broken_mediapipe_graph_is_rebuilt_for_the_next_image(astronaut: np.ndarray) -> None:
    from mediapipe.python.solutions import face_detection

    graph = SolutionGraph(face_detection.FaceDetection)
    with pytest.raises(RuntimeError):  # what an empty image does to a graph fed it directly ...
        graph._built().process(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(RuntimeError, match="Graph has errors"):  # ... and to every image after it
        graph._built().process(astronaut)
    assert len(graph.process(astronaut).detections) == 1
    assert graph.process(np.zeros((0, 0, 3), np.uint8)) is None


# ---------------------------------------------------------------- drawing


def test_mesh_edges_come_from_mediapipe_contours() -> None:
    edges468, edges478 = schema_edges(MEDIAPIPE468), schema_edges(MEDIAPIPE478)
    assert 100 < len(edges468) < len(edges478)
    assert max(max(e) for e in edges468) < 468 and max(max(e) for e in edges478) >= 468
    assert schema_edges(KAGGLE15) == KAGGLE15.edges


def test_draw_faces_marks_the_face_only(astronaut: np.ndarray) -> None:
    predictor = get_predictor("mediapipe468")
    faces = predictor.predict(astronaut)
    drawn = draw_faces(astronaut, faces, predictor.schema)
    changed = np.argwhere((drawn != astronaut).any(-1))
    assert len(changed) > 500
    assert inside(changed[:, ::-1].astype(np.float32), grown(faces[0].box, 0.1))


def test_a_small_face_in_a_big_photo_keeps_its_features_visible_under_its_marks(astronaut: np.ndarray) -> None:
    """Marks are sized to the face as well as the picture: the astronaut's 68 points shrunk to a 60 px face in a
    4000x3000 group photo cover a small share of its box (marks sized to the picture alone, 8 px lines and 16 px
    dots, buried it), while a face filling that photo keeps marks it shows at the page's scale."""
    predictor = get_predictor("checkpoint:ibug68_pip")
    face = predictor.predict(astronaut)[0]
    side = float(np.ptp(face.points, 0).max())
    small = (face.points - face.points.min(0)) * (60 / side) + 1000
    photo = np.full((3000, 4000, 3), 128, np.uint8)
    drawn = draw_faces(photo, [Face(np.concatenate([small.min(0), small.max(0)]), small, 1.0)], predictor.schema,
                       show_box=False)
    x0, y0 = small.min(0).astype(int)
    patch = drawn[y0:y0 + 61, x0:x0 + 61]
    assert 0.05 < (patch != 128).any(-1).mean() < 0.5
    assert face_marks(small, 8, dense=False) == (1, 1.2)
    assert face_marks(small * 40, 8, dense=False) == (8, 16.0)  # a 2,400 px face: the picture's 8 px lines


def test_shipped_68_point_model_tracks_a_face_without_its_detector(astronaut: np.ndarray) -> None:
    """Video frames after the first: crops cut around the previous points (as training crops were) give the face
    again; a face that moved out of the image is reported lost (None), so the webcam path re-detects."""
    predictor = get_predictor("checkpoint:ibug68_pip")
    first = predictor.predict(astronaut, video=True)
    assert len(first) == 1
    tracked = predictor.track(astronaut, first)
    assert tracked is not None and len(tracked) == 1
    side = float(np.ptp(first[0].points, 0).max())
    assert np.linalg.norm(tracked[0].points - first[0].points, axis=1).mean() < 0.03 * side
    gone = [Face(first[0].box, first[0].points + np.float32([astronaut.shape[1], 0]), first[0].score)]
    assert predictor.track(astronaut, gone) is None


def test_tracking_follows_a_moving_face_and_measures_its_motion(astronaut: np.ndarray) -> None:
    """A face gliding 12 px a frame: each tracked frame records how far its points moved (which the next crop leads
    by), and the points stay on the face."""
    import cv2

    predictor = get_predictor("checkpoint:ibug68_pip")
    h, w = astronaut.shape[:2]

    def shifted(dx: float) -> np.ndarray:
        return cv2.warpAffine(astronaut, np.float32([[1, 0, dx], [0, 1, 0]]), (w, h), borderMode=cv2.BORDER_REPLICATE)

    faces = predictor.predict(shifted(0), video=True)
    assert faces[0].motion is None  # just detected
    start = faces[0].points
    for frame in range(1, 6):
        faces = predictor.track(shifted(12 * frame), faces)
        assert faces is not None and len(faces) == 1
    assert np.allclose(faces[0].motion, [12, 0], atol=2)
    assert np.linalg.norm(faces[0].points - (start + [60, 0]), axis=1).mean() < 3


def test_webcam_path_tracks_and_rechecks_with_a_quick_look(astronaut: np.ndarray,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The webcam path detects in full on the first frame, then tracks; every ``REDETECT_EVERY``-th frame the
    detector takes a quick look, and a full detection follows only when it sees other faces than those followed."""
    from kpdemo.tracking import REDETECT_EVERY
    from kpdemo.ui import webcam

    predictor = get_predictor("checkpoint:ibug68_pip")
    detections: list[bool] = []
    glances: list[int] = []
    real_detect, real_glance = predictor.detector.detect, predictor.detector.glance
    monkeypatch.setattr(predictor.detector, "detect",
                        lambda image, video=False: detections.append(video) or real_detect(image, video))
    monkeypatch.setattr(predictor.detector, "glance", lambda image: glances.append(1) or real_glance(image))
    session = None
    for _ in range(REDETECT_EVERY + 1):
        _, status, session = webcam.process_frame(astronaut, "checkpoint:ibug68_pip", True, session)
    assert session.with_face == REDETECT_EVERY + 1
    assert (detections, len(glances)) == ([True], 1)  # frame REDETECT_EVERY: the quick look saw the same face
    followed = session.follower.tracked[0].points

    two_people = np.ascontiguousarray(np.hstack([astronaut, astronaut]))  # a second face steps in beside the first
    for _ in range(REDETECT_EVERY - 1):
        webcam.process_frame(two_people, "checkpoint:ibug68_pip", True, session)
    assert (detections, len(glances), len(session.follower.tracked)) == ([True], 1, 1)  # tracked frames miss it ...
    webcam.process_frame(two_people, "checkpoint:ibug68_pip", True, session)
    assert (detections, len(glances), len(session.follower.tracked)) == ([True, True], 2, 2)  # ... the recheck finds it
    followed_now = session.follower.tracked
    assert min(np.abs(face.points - followed).mean() for face in followed_now) < 3  # the first face stays put
    for _ in range(REDETECT_EVERY):
        webcam.process_frame(two_people, "checkpoint:ibug68_pip", True, session)
    assert (detections, len(glances), len(session.follower.tracked)) == ([True, True], 3, 2)  # the look confirms both


def test_a_quick_look_confirms_a_followed_face_by_place_size_and_roll(astronaut: np.ndarray) -> None:
    predictor = get_predictor("checkpoint:ibug68_pip")
    face = predictor.predict(astronaut, video=True)[0]
    roll = predictor.roll(face.points)
    seen = predictor.detector.glance(astronaut)
    cx, cy, side = predictor.landmark_box(face.points, roll)
    assert len(seen) == 1 and same_face(seen[0], (cx, cy, side), roll)
    assert predictor.still_in_view(astronaut, [face])
    assert not same_face(seen[0], (cx + 0.4 * side, cy, side), roll)  # another place
    assert not same_face(seen[0], (cx, cy, 1.7 * side), roll)  # another size
    assert not same_face(seen[0], (cx, cy, side), roll + 90)  # a track turned a quarter off
    assert not predictor.still_in_view(astronaut, [face, face])  # a followed face the look does not see
    assert not predictor.still_in_view(np.full_like(astronaut, 40), [face])  # the face has gone
