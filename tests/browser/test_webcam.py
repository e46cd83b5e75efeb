"""Webcam tab in a real browser: Chromium's fake camera plays a clip of a real face; streamed frames come back
annotated, and the server's counters say a face was found in (nearly) every frame."""

from __future__ import annotations

import time

import pytest

from bench.browser import open_tab, start_webcam

from .ui import fetch_image, webcam_counts

pytestmark = pytest.mark.browser

MIN_FRAMES = 20  # ~2 s of streaming at the app's 10 frames/s; slower CI machines process fewer, so wait for them
MIN_FACE_RATIO = 0.9
STREAM_TIMEOUT_S = 60.0


def test_webcam_stream_finds_face(page, save_screenshot):
    open_tab(page, "Webcam")
    start_webcam(page, "webcam-camera")
    status = page.locator("#webcam-status textarea")
    deadline = time.monotonic() + STREAM_TIMEOUT_S
    frames, with_face = webcam_counts(status.input_value())
    while frames < MIN_FRAMES and time.monotonic() < deadline:
        time.sleep(0.5)
        frames, with_face = webcam_counts(status.input_value())
    assert frames >= MIN_FRAMES, f"only {frames} frames processed in {STREAM_TIMEOUT_S:.0f} s: {status.input_value()}"
    assert with_face / frames >= MIN_FACE_RATIO, f"face in only {with_face}/{frames} frames: {status.input_value()}"

    annotated = fetch_image(page, page.locator("#webcam-output img"))
    assert annotated.shape == (480, 640, 3), "the annotated frame should be the camera's 640x480 frame"
    save_screenshot(page, "webcam")
