"""What the browser tests do in the kpdemo page beyond what the benches do: upload, read results back, count traces.

The steps a bench takes too (switch tabs, pick a model, start the webcam) are in ``bench/browser.py``. Components are
found by the ``elem_id`` set in ``kpdemo/ui/*.py`` (``#detect-upload``, ``#webcam-status``...) or by their visible
label/role inside the current tab. Gradio renders only the selected tab, so "the" tab panel is unique.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from kpdemo.ui.webcam import STATUS_LINE

if TYPE_CHECKING:  # playwright itself is imported by the fixtures, which skip when it is missing
    from playwright.sync_api import Locator, Page

MODEL_TIMEOUT_MS = 120_000  # first use of a model loads it inside the request


def upload(page: Page, elem_id: str, path: Path, timeout_ms: int = 30_000) -> None:
    """Hand ``path`` to the upload component ``elem_id`` (as the OS file picker would), clearing a previous file.

    Done when the component lists the file. Gradio may render the name's stem and extension as separate blocks
    (``notes`` / ``.txt``), so the name is looked for in the component's text with whitespace removed, not as one
    text node (that lookup failed intermittently). The file is handed over once: handing it again while an upload
    is in flight loses it. A timeout says what the component showed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    clear = page.locator(f"#{elem_id} button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    try:
        page.wait_for_function(
            "([sel, name]) => { const e = document.querySelector(sel);"
            " return !!e && e.innerText.replace(/\\s+/g, '').includes(name); }",
            arg=[f"#{elem_id}", "".join(path.name.split())], timeout=timeout_ms,
        )
    except PlaywrightTimeoutError as exc:
        shown = page.locator(f"#{elem_id}").inner_text()
        raise AssertionError(f"{path.name} not listed in #{elem_id} after {timeout_ms / 1000:.0f} s; it shows "
                             f"{shown!r}") from exc


def upload_media(page: Page, elem_id: str, path: Path, tag: str = "img", timeout_ms: int = 30_000) -> None:
    """Hand ``path`` to the image (``tag="img"``) or video (``tag="video"``) input ``elem_id`` (as the OS file picker
    would), replacing a previous one.

    Done when the input's preview points at the uploaded file (an ``img`` or ``video`` whose URL ends with the
    file's name; a file that is no image or video still gets one, broken). Its name is not waited for as text: for
    a file the browser cannot play, the video player shows "Error" in its place.
    """
    clear = page.locator(f"#{elem_id} button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "([sel, name]) => [...document.querySelectorAll(sel)]"
        ".some(shown => decodeURIComponent(shown.src).endsWith('/' + name))",
        arg=[f"#{elem_id} {tag}", path.name], timeout=timeout_ms,
    )


def wait_for_text(page: Page, selector: str, pattern: str, timeout_ms: int = MODEL_TIMEOUT_MS) -> str:
    """Wait until the element's text matches the regex ``pattern``; returns the text."""
    page.wait_for_function(
        "([sel, pat]) => { const e = document.querySelector(sel); return !!e && new RegExp(pat).test(e.innerText); }",
        arg=[selector, pattern], timeout=timeout_ms,
    )
    return page.inner_text(selector)


def fetch_image(page: Page, img: Locator) -> np.ndarray:
    """The RGB pixels the browser shows in ``img`` (its ``src`` fetched again: a Gradio file URL or a data URL)."""
    src = img.get_attribute("src") or ""
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        response = page.request.get(src)
        assert response.ok, f"GET {src} -> {response.status}"
        data = response.body()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{src[:80]} is not a decodable image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def changed_box(before: np.ndarray, after: np.ndarray, threshold: int = 40) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the pixels that differ by more than ``threshold``: where the drawing went."""
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > threshold
    ys, xs = np.nonzero(diff)
    return (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if len(xs) else None


def plotly_trace_count(page: Page, selector: str, expect: int | None = None, timeout_ms: int = 30_000) -> int:
    """Traces in the Plotly figure under ``selector`` (``el.data.length`` of its ``.js-plotly-plot``).

    With ``expect``, first give the app up to ``timeout_ms`` to draw that many (figures are redrawn as controls load);
    the count is returned either way so the caller's assertion shows what was there.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    plot = page.locator(f"{selector} .js-plotly-plot")
    plot.wait_for(timeout=timeout_ms)
    if expect is not None:
        try:
            page.wait_for_function("([sel, n]) => document.querySelector(sel)?.data?.length === n",
                                   arg=[f"{selector} .js-plotly-plot", expect], timeout=timeout_ms)
        except PlaywrightTimeoutError:
            pass
    return plot.evaluate("el => el.data.length")


def webcam_counts(status: str) -> tuple[int, int]:
    """(frames processed, frames with a face) from the Webcam tab's ``frames: N, with face: M, ...`` line."""
    match = STATUS_LINE.search(status)
    assert match, f"unexpected webcam status {status!r}"
    return int(match["frames"]), int(match["with_face"])
