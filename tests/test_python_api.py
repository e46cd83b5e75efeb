"""The README's "From Python" snippet runs as written, and face boxes handed in get a clear check."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kpdemo.detection import get_predictor, read_image
from kpdemo.detection.base import as_boxes
from kpdemo.schemas import get_schema

ROOT = Path(__file__).resolve().parents[1]


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## From Python"):text.index("## Data")]


def readme_snippet() -> str:
    return re.search(r"```python\n(.*?)```", readme_section(), re.S).group(1)


def test_readme_snippet_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(readme_snippet(), "README.md#from-python", "exec"), namespace)
    assert namespace["face"].points.shape == (68, 2)
    assert namespace["in_box"] is not None
    # the astronaut's face from her own detected box: the same face, within a few pixels (face ~150 px wide)
    assert np.abs(namespace["in_box"].points - namespace["face"].points).mean() < 3.0
    assert len(namespace["haar_model"].predict(namespace["image"])) >= 1
    assert "checkpoint:ibug68_pip" in capsys.readouterr().out


def test_the_snippet_saved_as_a_script_runs_as_the_readme_says(tmp_path: Path) -> None:
    """Saved outside the checkout, the snippet runs with the command the README gives. The README once said "run it
    from the repository root", and ``python /tmp/api.py`` run there fails: Python puts the script's own folder on
    the import path, not the working one, and kpdemo is not installed."""
    command = re.search(r"```bash\n(.*?)\n", readme_section()).group(1).split("#")[0].split()
    assert command == ["PYTHONPATH=.", "python", "/tmp/api.py"]
    script = tmp_path / "api.py"  # the README's /tmp/api.py, in a folder of this test's own
    script.write_text(readme_snippet())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        importlib.metadata.distribution("kpdemo")
    except importlib.metadata.PackageNotFoundError:  # not pip-installed here: the bare command fails as it says
        bare = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True)
        assert "No module named 'kpdemo'" in bare.stderr
    documented = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env | {"PYTHONPATH": "."},
                                capture_output=True, text=True)
    assert documented.returncode == 0, documented.stderr
    assert "checkpoint:ibug68_pip" in documented.stdout


def test_boxes_far_from_the_face_still_answer_per_box() -> None:
    """One answer per box, in order, even a loose box (1.4x) and a shifted one; the mesh answers None on a box with
    no face in it, where a checkpoint (which always sees a face in its crop) still answers."""
    image = read_image(ROOT / "examples" / "astronaut.png")
    model = get_predictor("checkpoint:ibug68_pip")
    face = model.predict(image)[0]
    (x0, y0, x1, y1), w = face.box, face.box[2] - face.box[0]
    loose = [x0 - 0.2 * w, y0 - 0.2 * w, x1 + 0.2 * w, y1 + 0.2 * w]
    shifted = [x0 + 0.1 * w, y0 + 0.1 * w, x1 + 0.1 * w, y1 + 0.1 * w]
    answers = model.predict_in_boxes(image, [loose, shifted])
    assert len(answers) == 2
    for answer in answers:
        assert np.abs(answer.points - face.points).mean() < 4.0
    mesh = get_predictor("mediapipe468")
    corner = [0, 0, 40, 40]  # sky above the astronaut's helmet
    meshed, empty = mesh.predict_in_boxes(image, [face.box, corner])
    assert meshed is not None and meshed.points.shape == (468, 2) and empty is None


@pytest.mark.parametrize("boxes, message", [
    ([[10, 10, 5, 20]], "no area"),
    ([[0, 0, 10]], "per face"),
    ([["a", 0, 1, 1]], "numbers"),
    ([[0, 0, np.inf, 10]], "finite"),
    ([[70, 10, 90, 30]], "box 0 lies outside the 64x64 image"),
    ([[10, 10, 30, 30], [-30, 10, 0, 30]], "box 1 lies outside"),
    ([[0, 0, 1e30, 1e30]], "over 100 times the 64x64 image"),
])
def test_malformed_boxes_are_named(boxes: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_boxes(boxes, (64, 64, 3))
    with pytest.raises(ValueError, match=message):
        get_predictor("checkpoint:ibug68_pip").predict_in_boxes(np.zeros((64, 64, 3), np.uint8), boxes)


def test_one_box_may_be_given_flat_and_reach_past_the_edges() -> None:
    assert as_boxes([1, 2, 3, 4]).shape == (1, 4)
    assert as_boxes([-20, -20, 10, 10], (64, 64)).shape == (1, 4)  # a face the frame cuts


def test_no_boxes_give_no_faces_and_given_boxes_are_copied() -> None:
    """A detector of the caller's that found nothing hands ``[]``; a face's box stays what it was when the caller
    reuses their array."""
    model = get_predictor("checkpoint:ibug68_pip")
    image = read_image(ROOT / "examples" / "astronaut.png")
    assert model.predict_in_boxes(image, []) == [] and model.predict_in_boxes(image, np.zeros((0, 4))) == []
    boxes = np.array([[174, 74, 276, 176]], np.float32)
    face = model.predict_in_boxes(image, boxes)[0]
    boxes[0, 0] = 0
    assert face.box[0] == 174


def test_16_bit_and_float_files_read_as_the_face_they_hold(tmp_path: Path) -> None:
    """PIL's ``convert("RGB")`` clips 16-bit and float gray modes at 255: a 16-bit PNG came out nearly white and a
    0-1 float TIFF black, and no face was found in either."""
    from PIL import Image

    gray = read_image(ROOT / "examples" / "astronaut.png").mean(axis=2)
    Image.fromarray((gray * 257).astype(np.uint16)).save(tmp_path / "g16.png")
    Image.fromarray((gray / 255).astype(np.float32)).save(tmp_path / "f.tif")
    for name in ("g16.png", "f.tif"):
        read = read_image(tmp_path / name)
        assert np.abs(read[:, :, 0].astype(float) - gray).max() <= 1.0, name
    with Image.open(tmp_path / "g16.png") as opened:
        assert len(get_predictor("checkpoint:ibug68_pip").predict(opened)) == 1
    # larger than read_image's 1,600 px: converted to 8 bits before it is shrunk (resampling a float image overshoots
    # its 0-1 range, which then read as 0-255: black again)
    large = np.kron(gray, np.ones((4, 4)))
    Image.fromarray((large / 255).astype(np.float32)).save(tmp_path / "large.tif")
    Image.fromarray((large * 257).astype(np.int32)).save(tmp_path / "large32.tif")
    for name in ("large.tif", "large32.tif"):
        read = read_image(tmp_path / name)
        assert read.shape[:2] == (1600, 1600) and abs(read.mean() - gray.mean()) < 2, name
        assert len(get_predictor("checkpoint:ibug68_pip").predict(read)) == 1, name


def test_detectors_and_alignment_check_their_input() -> None:
    """Detectors called on their own, and ``align_face``, take what predictors take and name what is wrong,
    instead of failing inside OpenCV or MediaPipe."""
    from PIL import Image

    from kpdemo.align import AlignError, align_face
    from kpdemo.detection import CheckpointPredictor, HaarFaceDetector, ImageInputError, default_detector

    image = read_image(ROOT / "examples" / "astronaut.png")
    assert len(default_detector().detect(Image.fromarray(image))) == 1
    assert len(HaarFaceDetector().detect(image / 255.0)) >= 1
    with pytest.raises(ImageInputError, match="channels first"):
        default_detector().detect(np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(TypeError, match="must be a FaceDetector"):
        CheckpointPredictor(ROOT / "checkpoints" / "ibug68_pip.pt", detector="haar")
    model = get_predictor("checkpoint:ibug68_pip")
    face = model.predict(image)[0]
    assert align_face(Image.fromarray(image), face.points.tolist(), "ibug68", 112).image.shape == (112, 112, 3)
    for points, schema, size, message in [(face.points[:10], model.schema, 112, r"must be \(68, 2\)"),
                                          (face.points, "no_such", 112, "unknown keypoint schema"),
                                          (face.points, model.schema, "112", "whole number"),
                                          (face.points, model.schema, 0, "whole number"),
                                          (np.full((68, 2), np.nan), model.schema, 112, "finite")]:
        with pytest.raises(AlignError, match=message):
            align_face(image, points, schema, size)
    with pytest.raises(AlignError, match="channels first"):
        align_face(np.zeros((3, 64, 64), np.uint8), face.points, model.schema)
    assert align_face(image > 128, face.points, model.schema).image.dtype == np.uint8  # bool: as image_array reads it
    with pytest.raises(ValueError, match="68 points, the kaggle15 schema 15"):
        face.as_dict(get_schema("kaggle15"))
