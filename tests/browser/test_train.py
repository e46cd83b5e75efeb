"""Train tab in a real browser: the run form renders with its presets and controls, and an upload of labelled faces
is imported (or refused by name) and selected in the Dataset menu. No training is started here: the trainers' and
the import's own tests cover training, and a run would take most of CI's time budget."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.browser import open_tab, wait_for_value

from .ui import upload, wait_for_text

pytestmark = pytest.mark.browser


def test_train_form_renders(page, save_screenshot):
    panel = open_tab(page, "Train")
    for label in ("Start from", "Dataset", "Optimizer", "Learning rate", "Epochs"):
        control = panel.get_by_label(label, exact=True).first
        try:  # a loaded CI machine can render the form's later controls a moment after the tab opens
            control.wait_for(state="attached", timeout=30_000)
        except PlaywrightTimeout:
            pytest.fail(f"the Train tab has no {label!r} control")
    assert panel.get_by_role("button", name="Start training").is_enabled()
    save_screenshot(page, "train")


def test_upload_is_imported_and_selected(page, fixtures_dir, save_screenshot):
    panel = open_tab(page, "Train")
    uploads = fixtures_dir / "uploads"
    upload(page, "train-upload", uploads / "ibug_bad_image.zip")
    panel.get_by_role("button", name="Import", exact=True).click()
    page.locator(".toast-body").filter(has_text="faces/astro_1.jpg: not an image that can be decoded").first.wait_for()

    upload(page, "train-upload", uploads / "ibug_ok.zip")
    panel.get_by_label("Dataset name (optional)").fill("browser faces")
    panel.get_by_role("button", name="Import", exact=True).click()
    status = wait_for_text(page, "#train-import-status", r"Imported user_browser_faces", timeout_ms=60_000)
    assert "4 faces (ibug68; 2 train, 1 val, 1 test)" in status
    wait_for_value(panel.get_by_label("Dataset", exact=True), "user_browser_faces: ibug_ok.zip (4 faces, ibug68)")
    save_screenshot(page, "train_import")
