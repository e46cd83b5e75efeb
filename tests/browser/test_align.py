"""Align tab in a real browser: a face photo in, the face warped onto the canonical template out."""

from __future__ import annotations

import pytest

from bench.browser import open_tab

from .ui import fetch_image, upload_media, wait_for_text

pytestmark = pytest.mark.browser


def test_align_astronaut(page, fixtures_dir, save_screenshot):
    panel = open_tab(page, "Align")
    upload_media(page, "align-upload", fixtures_dir / "astronaut.png")
    panel.get_by_role("radio", name="256").check()
    panel.get_by_role("button", name="Align faces").click()
    status = wait_for_text(page, "#align-status", "aligned")
    assert status.startswith("1 face aligned to 256x256")

    faces = page.locator("#align-gallery img")
    faces.first.wait_for()
    assert faces.count() == 1
    aligned = fetch_image(page, faces.first)
    assert aligned.shape == (256, 256, 3)
    assert aligned.std() > 20, "the aligned face is blank"
    save_screenshot(page, "align")


def test_align_with_learned_frontalization(page, fixtures_dir):
    panel = open_tab(page, "Align")
    assert "mean frontal face" in panel.inner_text()  # the model's note, built from the shipped file
    upload_media(page, "align-upload", fixtures_dir / "astronaut.png")
    panel.get_by_label("Also frontalize (learned model, experimental)").check()
    panel.get_by_role("button", name="Align faces").click()
    page.wait_for_function("document.querySelectorAll('#align-gallery img').length === 2", timeout=120_000)
    frontal = fetch_image(page, page.locator("#align-gallery img").nth(1))
    assert frontal.shape == (128, 128, 3) and frontal.std() > 10
