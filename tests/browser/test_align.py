"""Align tab in a real browser: a face photo in, the face warped onto the canonical template out."""

from __future__ import annotations

import pytest

from .ui import fetch_image, open_tab, upload, wait_for_text

pytestmark = pytest.mark.browser


def test_align_astronaut(page, fixtures_dir, save_screenshot):
    panel = open_tab(page, "Align")
    upload(page, "align-upload", fixtures_dir / "astronaut.png")
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
