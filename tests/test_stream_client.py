"""The webcam stream client (bench/gradio_stream.py) against a real ``python app.py``: frames in, annotated frames out,
one server session per stream; and the multi-user stream bench's bookkeeping on a short run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pandas as pd
import pytest

from bench.app_server import App, running_app
from bench.gradio_stream import StreamError, StreamSession, data_url_bytes, find_stream_event
from bench.report import webcam_streams
from bench.webcam_latency import SIZE_HW, make_frames
from bench.webcam_stream import plot, run_users, summarise
from kpdemo.ui.webcam import STATUS_LINE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("stream_app")
    with running_app(folder / "app.log", KPDEMO_RUNS=str(folder / "runs")) as served:
        yield served


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return make_frames(6)


def test_each_frame_is_answered_by_its_annotated_frame(app: App, frames: list[bytes]) -> None:
    with StreamSession.connect(app.url) as session:
        for sent, jpeg in enumerate(frames, start=1):
            annotated, status, state = session.send(jpeg)
            image = cv2.imdecode(np.frombuffer(data_url_bytes(annotated), np.uint8), cv2.IMREAD_COLOR)
            assert image.shape[:2] == SIZE_HW
            assert int(STATUS_LINE.search(status)["frames"]) == sent, status  # this frame, not an earlier one
            assert state is None  # gr.State stays on the server
        assert "with face: 6" in status  # every frame of the clip shows the face
    with StreamSession.connect(app.url) as other:  # a new page: a new server session, counting from one
        assert STATUS_LINE.search(other.send(frames[0])[1])["frames"] == "1"


def test_inputs_can_be_set_by_label_and_unknown_ones_are_refused(app: App, frames: list[bytes]) -> None:
    config = httpx.get(f"{app.url}config", timeout=30).json()
    event = find_stream_event(config, values={"One-Euro temporal smoothing": False})
    assert False in event.inputs and event.inputs[event.camera_slot] is None
    with pytest.raises(StreamError, match="no input of the stream event is called"):
        find_stream_event(config, values={"Zoom": 2})
    with pytest.raises(StreamError, match="no component with elem_id 'nope'"):
        find_stream_event(config, camera_elem_id="nope")
    with StreamSession(app.url, event) as session:
        assert "frames: 1" in session.send(frames[0])[1]


def test_stream_bench_counts_what_each_user_received(app: App, frames: list[bytes], tmp_path: Path) -> None:
    runs = run_users(app, 2, frames, duration_s=1.0, model="mediapipe468")
    table = pd.DataFrame(summarise(runs, 2, 0.033, 1.0, {"server_rss_mib": 900, "cache_files": 3})).assign(
        model="mediapipe468", cpu="cpu", cpu_threads=2, load_avg_1min=0.0)
    assert [r.error for r in runs] == ["", ""]
    assert (table["frames"] > 0).all() and (table["fps"] > 0).all()
    assert table[["out_of_order", "bad_frames"]].to_numpy().sum() == 0
    plot(table, {("mediapipe468", 2): runs}, tmp_path / "webcam_stream.png")
    assert (tmp_path / "webcam_stream.png").stat().st_size > 0
    table.to_csv(tmp_path / "webcam_stream.csv", index=False)
    assert "\n| `mediapipe468` | 2 | " in webcam_streams(tmp_path)  # the README's row for 2 users
