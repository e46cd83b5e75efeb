"""Detect tab in a real browser: upload a face photo, get landmarks drawn on the face and coordinates; switch
models; a non-image upload gives a readable error and the tab keeps working."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from bench.browser import choose

from .ui import changed_box, fetch_image, upload_media, wait_for_text

pytestmark = pytest.mark.browser

# MediaPipe's face box on tests/fixtures/astronaut.png is about (174, 68)-(278, 172); anything drawn must stay near it.
FACE_REGION = (120, 20, 330, 230)


def detect(page, path: Path, expect: str = r"face.? found") -> str:
    """Upload ``path``, press *Detect landmarks*, wait for the status line to match ``expect``; returns it."""
    upload_media(page, "detect-upload", path)
    page.get_by_role("button", name="Detect landmarks").click()
    return wait_for_text(page, "#detect-status", expect)


def assert_drawn_on_face(page, astronaut: Path) -> None:
    """The annotated image is the upload with marks added only around the face."""
    annotated = fetch_image(page, page.locator("#detect-annotated img"))
    original = cv2.cvtColor(cv2.imread(str(astronaut)), cv2.COLOR_BGR2RGB)
    assert annotated.shape == original.shape
    box = changed_box(original, annotated)
    assert box is not None, "the annotated image has nothing drawn on it"
    x0, y0, x1, y1 = box
    fx0, fy0, fx1, fy1 = FACE_REGION
    assert fx0 <= x0 and fy0 <= y0 and x1 <= fx1 and y1 <= fy1, f"marks at {box}, outside the face {FACE_REGION}"
    assert x1 - x0 > 60 and y1 - y0 > 60, f"marks cover only {box}: too small for a face"


def coordinate_counts(page) -> list[int]:
    """Points per face as the Coordinates JSON viewer shows them (``"points": { Object(468) }``)."""
    text = page.locator("#detect-coords").inner_text()
    return [int(n) for n in re.findall(r'"points"\s*:\s*\{\s*Object\((\d+)\)', text)]


def test_detect_astronaut(page, fixtures_dir, save_screenshot):
    """The page starts on the shipped 68-point model, whose answers carry their uncertainty."""
    astronaut = fixtures_dir / "astronaut.png"
    status = detect(page, astronaut)
    assert status.startswith("1 face found by ibug68_pip (68 points each)")
    assert_drawn_on_face(page, astronaut)
    assert coordinate_counts(page) == [68]
    coords = page.locator("#detect-coords").inner_text()
    assert "ibug68_pip" in coords and "uncertainty" in coords
    save_screenshot(page, "detect")


@pytest.mark.parametrize(("option", "points"), [("MediaPipe face mesh (", 468), ("MediaPipe face mesh + iris (", 478)])
def test_switch_to_mediapipe(page, fixtures_dir, option, points):
    choose(page, "Model", option)
    status = detect(page, fixtures_dir / "astronaut.png")
    assert status.startswith(f"1 face found by {option.removesuffix(' (')} ({points} points each)")
    assert coordinate_counts(page) == [points]
    assert_drawn_on_face(page, fixtures_dir / "astronaut.png")


def test_switch_to_another_checkpoint(page, fixtures_dir):
    # landmark checkpoints as the app's registry sees them (checkpoints/ also holds the frontalization model)
    from kpdemo.detection import DEFAULT_KEY, available_predictors

    stems = sorted(e.key.removeprefix("checkpoint:") for e in available_predictors(refresh=True)
                   if e.key.startswith("checkpoint:") and e.key != DEFAULT_KEY)
    if not stems:
        pytest.skip("no landmark checkpoint but the default in checkpoints/: nothing to switch to")
    label = choose(page, "Model", f"{stems[0]}:")
    points = int(re.search(r"(\d+) points\)$", label).group(1))
    status = detect(page, fixtures_dir / "astronaut.png")
    assert f"({points} points each)" in status
    assert coordinate_counts(page) == [points]
    assert_drawn_on_face(page, fixtures_dir / "astronaut.png")


def test_bad_files_get_a_clear_message_then_the_tab_recovers(page, fixtures_dir, tmp_path):
    notes = tmp_path / "notes.txt"  # the image input's file filter refuses it before any upload
    notes.write_text("these are not pixels\n")
    page.locator("#detect-upload input[type=file]").set_input_files(str(notes))
    page.locator(".toast-body").filter(has_text="Invalid file type: notes.txt").first.wait_for()

    renamed = tmp_path / "notes.png"  # passes the filter: the app decodes it and says what is wrong
    renamed.write_text("these are not pixels\n")
    status = detect(page, renamed, expect="Error")
    assert "notes.png is not an image" in status
    page.locator(".toast-body").filter(has_text="notes.png is not an image").first.wait_for()
    assert page.locator("#detect-annotated img").count() == 0, "an error must not leave a stale result"

    status = detect(page, fixtures_dir / "astronaut.png")
    assert status.startswith("1 face found")
    assert_drawn_on_face(page, fixtures_dir / "astronaut.png")


def test_example_thumbnails_fill_the_image_input(page):
    from kpdemo.ui.common import example_images

    names = [Path(p).name for p in example_images()]
    thumbnails = page.get_by_role("tabpanel").locator(".gallery img")
    thumbnails.first.wait_for()
    assert thumbnails.count() == len(names)
    shown = [fetch_image(page, thumbnails.nth(i)) for i in range(len(names))]
    assert all(t.ndim == 3 and t.std() > 20 for t in shown), "a thumbnail is blank"
    thumbnails.first.click()
    page.wait_for_function("n => [...document.querySelectorAll('#detect-upload img')]"
                           ".some(img => decodeURIComponent(img.src).endsWith('/' + n))", arg=names[0])
    page.get_by_role("button", name="Detect landmarks").click()
    assert wait_for_text(page, "#detect-status", r"face.? found").startswith("1 face found")
