"""Webcam tab: stream frames through the chosen predictor, with optional One-Euro smoothing and a live readout.

Each browser session holds a :class:`WebcamSession` in ``gr.State`` (its own smoother, counters and last faces), so
viewers never share filter state. Predictors that can track (the PIP checkpoints) find each face from the previous
frame's points, as MediaPipe's face mesh does; every ``REDETECT_EVERY`` frames the face detector takes a quick look,
and only when it sees other faces than those followed does the frame go through a full detection. The
status line reads ``frames: N, with face: M, fps: X`` (processed frames, frames in which a face was found, processing
rate over the last second or so); browser tests read it.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from kpdemo.detection import DEFAULT_KEY, Face, as_rgb, get_predictor
from kpdemo.draw import draw_faces
from kpdemo.tracking import FaceFollower
from kpdemo.ui.common import message_for, model_picker
from kpdemo.ui.stream_image import StreamedFrame
from kpdemo.ui.webcam_browser import build_browser_panel, mode_choice

#: How often the page sends a frame. The page never sends one while the previous is still being answered, so a short
#: interval costs nothing when the server is slow and lets a fast one follow the camera (30 fps at 0.033 s).
STREAM_EVERY_S = 0.033
#: What the page asks the camera for: enough for a face at arm's length, and a frame that a 2-core server decodes,
#: processes and re-encodes in about 10 ms. Without it Gradio asks for 1920x1440.
CAMERA_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}}}
#: A stream ends after this many seconds (the visitor presses record again), so an abandoned tab does not hold a
#: worker for ever.
STREAM_TIME_LIMIT_S = 1800
#: Visitors streaming at once. A stream holds its worker for its whole life (not per frame), so this is a visitor
#: count: with 4, a fifth visitor got one frame in 5 s while four got 15 fps each (``bench/webcam_stream.py``).
#: Beyond it a visitor waits for a stream to end; below it the cores are shared, each stream slowing as more join.
STREAM_CONCURRENCY = 16


#: What :meth:`WebcamSession.status` writes, for the benches and browser tests that read the line back; the
#: in-browser mode's page (``kpdemo/static/browser_mesh.js``) writes the same line without the last-frame time.
STATUS_LINE = re.compile(r"frames: (?P<frames>\d+), with face: (?P<with_face>\d+), fps: (?P<fps>[\d.]+)"
                         r"(?: \(last frame (?P<last_ms>\d+) ms\))?")


@dataclass
class WebcamSession:
    """Per-session counters and smoothing state (server side)."""

    frames: int = 0
    with_face: int = 0
    stamps: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    follower: FaceFollower | None = None  # the faces followed with the chosen predictor; new when another is chosen
    last_latency_ms: float = 0.0
    shown: list[Face] = field(default_factory=list)  # the last frame's faces as drawn (smoothed when asked)

    @property
    def fps(self) -> float:
        """Frames processed per second over the recent window (0 until two frames)."""
        if len(self.stamps) < 2 or self.stamps[-1] <= self.stamps[0]:
            return 0.0
        return (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])

    def status(self, note: str = "") -> str:
        """The status line (read back with :data:`STATUS_LINE`)."""
        text = f"frames: {self.frames}, with face: {self.with_face}, fps: {self.fps:.1f}"
        text += f" (last frame {self.last_latency_ms:.0f} ms)"
        return f"{text} | {note}" if note else text


def process_frame(
    frame: np.ndarray | None, model_key: str, smooth: bool, session: WebcamSession | None
) -> tuple[np.ndarray | None, str, WebcamSession]:
    """One webcam frame in, (annotated frame, status line, session) out; failures show in the status line.

    Errors are not raised as toasts: at ten frames a second they would flood the page.
    """
    if session is None:
        session = WebcamSession()
    if frame is None:
        return None, session.status("waiting for the camera"), session
    start = time.perf_counter()
    now = time.monotonic()
    try:
        image = as_rgb(frame)
        predictor = get_predictor(model_key or DEFAULT_KEY)
        if session.follower is None or session.follower.predictor is not predictor:
            session.follower = FaceFollower(predictor)
        faces = session.follower(image, now, smooth)
    except Exception as exc:  # a bad frame or model must not end the stream
        return frame, session.status(f"error: {message_for(exc)}"), session
    session.shown = faces
    annotated = draw_faces(image, faces, predictor.schema)
    session.frames += 1
    session.with_face += bool(faces)
    session.stamps.append(now)
    session.last_latency_ms = (time.perf_counter() - start) * 1000
    return annotated, session.status(predictor.name if faces else "no face in this frame"), session


def build_webcam_tab() -> gr.Tab:
    """Lay out the Webcam tab inside ``gr.Tabs`` and return it; its stream is not an API endpoint (``/detect`` is).

    Kept out of the API because it only works as a browser stream: gradio_client (2.7) cannot read a stream
    event's replies (``KeyError: 'process_streaming'``), and a one-off API call gets a fresh session each time, so
    neither smoothing nor the frame rate would mean anything; one image is what ``/detect`` serves.
    """
    with gr.Tab("Webcam") as tab:
        mode = mode_choice()  # on the server (below) or in the page (kpdemo.ui.webcam_browser)
        session = gr.State(None)  # a WebcamSession, created on the first frame of each browser session
        with gr.Row() as server_view:
            with gr.Column():
                camera = gr.Image(
                    label="Webcam", sources=["webcam"], streaming=True, type="numpy",
                    webcam_options=gr.WebcamOptions(mirror=False, constraints=CAMERA_CONSTRAINTS),
                    elem_id="webcam-camera",
                )
                model = model_picker()
                smooth = gr.Checkbox(value=True, label="One-Euro temporal smoothing",
                                     info="Steadies points when the face is still; follows fast moves without lag.")
            with gr.Column():
                output = StreamedFrame(label="Landmarks", type="numpy", interactive=False, streaming=True,
                                       elem_id="webcam-output")
                status = gr.Textbox(value=WebcamSession().status(), label="Status", interactive=False,
                                    elem_id="webcam-status")
        camera.stream(
            process_frame, inputs=[camera, model, smooth, session], outputs=[output, status, session],
            stream_every=STREAM_EVERY_S, time_limit=STREAM_TIME_LIMIT_S, concurrency_limit=STREAM_CONCURRENCY,
            api_visibility="private",
        )
        build_browser_panel(mode, server_view)
    return tab
