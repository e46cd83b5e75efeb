"""Train tab in a real browser: the run form renders with its presets and controls (no training is started here:
the trainers' own tests cover training, and a run would take most of CI's time budget)."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .ui import open_tab

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
