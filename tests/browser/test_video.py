"""Video tab in a real browser: a clip in (uploaded or recorded), its faces followed, a copy that plays, a table."""

from __future__ import annotations

import io
import re
from pathlib import Path

import cv2
import pandas as pd
import pytest

from bench.browser import open_tab
from bench.fake_webcam import ASTRONAUT_FACE_CENTRE, face_frames
from kpdemo.video import VideoWriter

from .ui import upload_media, wait_for_text

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clip(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = cv2.imread(str(fixtures_dir / "astronaut.png"), cv2.IMREAD_COLOR)
    path = tmp_path_factory.mktemp("video") / "astronaut.mp4"
    with VideoWriter(path) as writer:
        for index, frame in enumerate(face_frames(image, ASTRONAUT_FACE_CENTRE, fps=15, seconds=2.0)):
            writer.write(frame[:, :, ::-1], index / 15)
    return path


def test_a_clip_is_followed_and_its_copy_plays(page, clip, save_screenshot):
    panel = open_tab(page, "Video")
    upload_media(page, "video-upload", clip, "video")
    panel.get_by_role("button", name="Follow faces").click()
    status = wait_for_text(page, "#video-status", "Followed|Error")
    assert status.startswith("Followed 30 frames (2.0 s, 640x480)") and "a face in 30 of them" in status, status

    # The annotated copy plays in this browser: it loads its first frame at the clip's size and length.
    page.wait_for_function("() => { const v = document.querySelector('#video-annotated video');"
                           " return !!v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    width, height, duration = page.evaluate("() => { const v = document.querySelector('#video-annotated video');"
                                            " return [v.videoWidth, v.videoHeight, v.duration]; }")
    assert (width, height) == (640, 480) and duration == pytest.approx(2.0, abs=0.1)

    link = page.locator("#video-points a[href$='.csv']").first
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    table = pd.read_csv(io.BytesIO(response.body()))
    assert len(table) == 30 and table.shape[1] == 9 + 68 * 2
    save_screenshot(page, "video")


def test_a_clip_the_browser_cannot_preview_is_followed_and_its_copy_plays(page, clip, tmp_path):
    """OpenCV's mp4v MP4 (MPEG-4 Part 2): the page's preview cannot play it ("Video not playable"), which the tab's
    note and status say is only the preview; the annotated copy plays in this browser."""
    mp4v = tmp_path / "mp4v.mp4"
    frames = cv2.VideoCapture(str(clip))
    writer = cv2.VideoWriter(str(mp4v), cv2.VideoWriter_fourcc(*"mp4v"), 15, (640, 480))
    while (read := frames.read())[0]:
        writer.write(read[1])
    writer.release()
    panel = open_tab(page, "Video")
    assert "only the preview fails" in page.inner_text("#video-preview-note")
    upload_media(page, "video-upload", mp4v, "video")
    panel.get_by_role("button", name="Follow faces").click()
    status = wait_for_text(page, "#video-status", "Followed|Error")
    assert status.startswith("Followed 30 frames") and "MPEG-4 part 2" in status, status
    assert "not one browsers play, so its preview could not show it" in status, status
    page.wait_for_function("() => { const v = document.querySelector('#video-annotated video');"
                           " return !!v && v.readyState >= 2 && v.videoWidth === 640; }", timeout=30_000)


def test_a_clip_recorded_in_the_page_is_followed(page):
    """The webcam source records WebM in the browser (Chromium's fake camera plays the astronaut clip): a file with
    no duration in its header, whose frames carry their own times."""
    panel = open_tab(page, "Video")
    recorder = page.locator("#video-upload")
    recorder.locator("button[aria-label='Capture from camera']").click()
    recorder.locator("[title='grant webcam access'] button").click()
    page.wait_for_function("sel => (document.querySelector(sel)?.videoWidth ?? 0) > 0", arg="#video-upload video")
    recorder.locator("button[aria-label='start recording']").click()
    recorder.get_by_text("Stop").wait_for()
    page.wait_for_timeout(2_000)
    recorder.get_by_text("Stop").click()
    page.wait_for_function("() => [...document.querySelectorAll('#video-upload video')]"
                           ".some(v => v.src.includes('/gradio_api/file='))", timeout=30_000)  # uploaded
    panel.get_by_role("button", name="Follow faces").click()
    status = wait_for_text(page, "#video-status", "Followed|Error")
    followed = re.match(r"Followed (\d+) frames \(([\d.]+) s, 640x480\).*a face in (\d+) of them", status)
    assert followed, status
    frames, seconds, with_face = int(followed[1]), float(followed[2]), int(followed[3])
    assert frames >= 15 and seconds >= 1.0 and with_face == frames, status


def test_a_file_that_is_no_video_gets_a_message(page, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    panel = open_tab(page, "Video")
    upload_media(page, "video-upload", notes, "video")
    panel.get_by_role("button", name="Follow faces").click()
    status = wait_for_text(page, "#video-status", "Followed|Error")
    assert "notes.mp4 is not a video that can be read" in status
