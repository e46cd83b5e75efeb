"""Headless Debian Chromium on the kpdemo page, and what a visitor does there, as Playwright steps.

Here, not under ``tests/``, because ``bench/webcam_browser.py`` drives the page exactly as the browser tests do and a
bench must not import the test tree; ``tests/browser`` imports these and keeps its pytest fixtures and test-only
helpers to itself.

Why these choices:
- Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it; ``KPDEMO_CHROMIUM`` points elsewhere);
  Playwright's own browser download is never used.
- Its fake camera plays a Y4M clip (``bench/fake_webcam.py``), so the Webcam tab streams real frames; the fake-UI
  flag auto-accepts the camera permission prompt.
- Components are found by the ``elem_id`` set in ``kpdemo/ui/*.py`` (``#webcam-camera``...) or by their visible
  label/role inside the current tab. Gradio renders only the selected tab, so "the" tab panel is unique.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # playwright is imported where it is used: the test fixtures skip when it is missing
    from playwright.sync_api import Browser, Locator, Page, Playwright

CHROMIUM = Path(os.environ.get("KPDEMO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def launch_with_fake_camera(playwright: Playwright, clip: Path, executable: Path = CHROMIUM) -> Browser:
    """Headless Chromium whose camera plays (and loops) the Y4M ``clip``."""
    return playwright.chromium.launch(executable_path=str(executable), headless=True,
                                      args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])


def open_tab(page: Page, name: str) -> Locator:
    """Click the tab called ``name`` and return its (visible) panel."""
    page.get_by_role("tab", name=name, exact=True).click()
    panel = page.get_by_role("tabpanel")
    panel.wait_for()
    return panel


def choose(page: Page, label: str, option_prefix: str, exact: bool = False) -> str:
    """Pick the first option starting with (or, ``exact``, equal to) ``option_prefix`` in the current tab's dropdown
    ``label``; returns the option's text."""
    dropdown = page.get_by_role("tabpanel").get_by_label(label, exact=True)
    dropdown.click()
    options = page.get_by_role("option")
    options.first.wait_for()
    labels = [o.removeprefix("✓").strip() for o in options.all_inner_texts()]  # the current choice carries a tick
    matches = [i for i, text in enumerate(labels)
               if text == option_prefix or (not exact and text.startswith(option_prefix))]
    assert matches, f"no {label!r} option starts with {option_prefix!r}; options: {labels}"
    text = labels[matches[0]]
    options.nth(matches[0]).click()
    wait_for_value(dropdown, text)
    return text


def wait_for_value(field: Locator, value: str, timeout_ms: int = 30_000) -> None:
    """Wait until an input shows ``value`` (Gradio fills controls in asynchronously after the page loads)."""
    from playwright.sync_api import expect

    expect(field).to_have_value(value, timeout=timeout_ms)


def start_webcam(page: Page, elem_id: str, attempts: int = 3) -> None:
    """Grant camera access (auto-accepted by Chromium's fake UI) and press the record button to start streaming.

    The button is pressed only once the preview shows frames, and again if it did not turn into "Stop": on a loaded
    machine a press that lands while the component is still attaching the camera is lost (seen once in a full run).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    camera = page.locator(f"#{elem_id}")
    camera.locator("[title='grant webcam access'] button").click()
    page.wait_for_function("sel => (document.querySelector(sel)?.videoWidth ?? 0) > 0", arg=f"#{elem_id} video")
    for _ in range(attempts):
        camera.locator("button[aria-label='capture photo']").click()
        try:
            camera.get_by_text("Stop").wait_for(timeout=10_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"#{elem_id} did not start recording after {attempts} presses: {camera.inner_text()!r}")
