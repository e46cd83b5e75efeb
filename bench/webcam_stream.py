"""Several visitors streaming a webcam at once through the Webcam tab's real endpoint of a real ``python app.py``.

Each simulated user is one :class:`bench.gradio_stream.StreamSession` (the page's own protocol: queue/join with the
first frame, then a frame per ``/stream/{event_id}`` POST, replies read from the event stream) playing a 30 fps
640x480 face clip rendered from the astronaut photo (``bench/webcam_latency.py``'s frames). Like the page, a user
captures on the stream's ``stream_every`` timer and never sends while a frame is unanswered, so its frame rate is what
a browser would show. The server runs on loopback in a subprocess, a fresh one per model (the app's default, then
MediaPipe's mesh, unless ``--models`` says otherwise); the users are threads of this process.

Per user: frames per second (annotated frames received / wall time), round trip per frame (send -> annotated frame
back; p50, p95, max ms), and whether anything piled up: ``out_of_order`` counts replies whose server frame counter
(the status line's ``frames: N``) is not the number of frames this user sent, ``late`` replies that took over
``LATE_S``, ``bad_frames`` annotated frames that did not decode to 640x480. The server's resident memory before
and after each run, and the files in its Gradio cache folder after it (``--users 1 --duration 600 --models
checkpoint:ibug68_pip --out bench/results/soak`` is the 10-minute stream that shows neither grows with the
stream). Writes ``bench/results/webcam_stream.csv`` and ``webcam_stream.png``.

    nice -n 10 python bench/webcam_stream.py [--users 1 5] [--duration 20] [--models KEY ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.app_server import App, running_app  # noqa: E402
from bench.gradio_stream import StreamSession, data_url_bytes, play  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from bench.webcam_latency import SIZE_HW, make_frames  # noqa: E402
from kpdemo.detection import DEFAULT_KEY  # noqa: E402
from kpdemo.ui.webcam import STATUS_LINE  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CAMERA_FPS = 30.0
CLIP_FRAMES = 90  # 3 s of head movement, looped
WARMUP_FRAMES = 10  # one short stream first: the model loads on the first frame
TARGET_FPS = 8.0  # each of 5 users on a 2-core server (issue 16)
LATE_S = 1.0  # a reply this slow means frames are waiting somewhere (a page would look frozen)


@dataclass
class UserRun:
    """What one simulated user saw during a run."""

    user: int
    seconds: float = 0.0
    round_trips_ms: list[float] = field(default_factory=list)
    answered_s: list[float] = field(default_factory=list)  # when each reply came, from the run's start
    out_of_order: int = 0
    late: int = 0
    bad_frames: int = 0
    error: str = ""

    @property
    def fps(self) -> float:
        return len(self.round_trips_ms) / self.seconds if self.seconds else 0.0


def annotated_ok(outputs: list) -> bool:
    """Whether a reply's first output is an inline JPEG of the camera's size."""
    jpeg = data_url_bytes(outputs[0])
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None
    return image is not None and image.shape[:2] == SIZE_HW


def stream_user(app: App, user: int, frames: list[bytes], duration_s: float, go: threading.Barrier | None = None,
                model: str = DEFAULT_KEY) -> UserRun:
    """One visitor's stream for ``duration_s``; a broken stream ends the run early with its error recorded."""
    run = UserRun(user)
    with StreamSession.connect(app.url, values={"Model": model}) as session:
        if go is not None:
            go.wait()  # all users start together
        start = time.monotonic()
        try:
            for _, round_trip, outputs in play(session, frames, duration_s, CAMERA_FPS):
                run.round_trips_ms.append(round_trip * 1000)
                run.answered_s.append(time.monotonic() - start)
                seen = STATUS_LINE.search(outputs[1] or "")
                run.out_of_order += not seen or int(seen["frames"]) != session.frames_sent
                run.late += round_trip > LATE_S
                run.bad_frames += not annotated_ok(outputs)
        except Exception as exc:  # recorded, not raised: the other users' numbers still count
            run.error = f"{type(exc).__name__}: {exc}"
        run.seconds = time.monotonic() - start
    return run


def run_users(app: App, users: int, frames: list[bytes], duration_s: float, model: str) -> list[UserRun]:
    go = threading.Barrier(users)
    with ThreadPoolExecutor(users) as pool:
        return list(pool.map(lambda u: stream_user(app, u, frames, duration_s, go, model), range(users)))


def cache_usage(folder: Path) -> tuple[int, float]:
    """(files, MiB) under the app's Gradio cache folder: a stream must not leave a file per frame there."""
    files = [f for f in folder.rglob("*") if f.is_file()] if folder.exists() else []
    return len(files), sum(f.stat().st_size for f in files) / 2**20


def server_state(app: App, cache_dir: Path) -> dict[str, float]:
    """The server's memory and cache folder now, as columns of the results."""
    files, mib = cache_usage(cache_dir)
    return {"server_rss_mib": round(app.rss_mib()), "cache_files": files, "cache_mib": round(mib, 2)}


def summarise(runs: list[UserRun], users: int, stream_every: float, duration_s: float,
              server: dict[str, float]) -> list[dict]:
    """One row per user; ``server`` (:func:`server_state` after the run, plus ``server_rss_start_mib``) on each."""
    rows = []
    for run in runs:
        rtt = np.array(run.round_trips_ms) if run.round_trips_ms else np.array([np.nan])
        rows.append({
            "users": users, "user": run.user, "fps": round(run.fps, 2), "frames": len(run.round_trips_ms),
            "p50_ms": round(float(np.median(rtt)), 1), "p95_ms": round(float(np.percentile(rtt, 95)), 1),
            "max_ms": round(float(rtt.max()), 1), "out_of_order": run.out_of_order, "late": run.late,
            "bad_frames": run.bad_frames, "error": run.error, "stream_every_s": stream_every,
            "duration_s": duration_s, **server,
        })
    return rows


def plot(table: pd.DataFrame, traces: dict[tuple[str, int], list[UserRun]], path: Path) -> None:
    """Left: each user's frame rate by user count, a colour per model; right: every round trip through the runs,
    a colour per model and a line style per user count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    colours = dict(zip(table["model"].unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    styles = dict(zip(sorted(table["users"].unique()), ["-", "--", ":", "-."] * 4, strict=False))
    offsets = dict(zip(colours, np.linspace(-0.15, 0.15, len(colours)) if len(colours) > 1 else [0.0], strict=False))
    for (model, users), group in table.groupby(["model", "users"], sort=False):
        left.scatter(group["users"] + offsets[model], group["fps"], color=colours[model], zorder=3,
                     label=model if users == table["users"].min() else None)
        for run in traces[(model, users)]:
            right.plot(run.answered_s, run.round_trips_ms, lw=0.8, ls=styles[users], color=colours[model],
                       label=f"{model}, {users} users" if run.user == 0 else None)
    left.axhline(CAMERA_FPS, color="grey", ls=":", lw=1, label=f"camera ({CAMERA_FPS:.0f} fps)")
    left.axhline(TARGET_FPS, color="#ef4444", ls="--", lw=1, label=f"target with 5 users ({TARGET_FPS:.0f} fps)")
    left.set_xticks(sorted(table["users"].unique()))
    left.set_xlabel("users streaming at once")
    left.set_ylabel("annotated frames per second, each user")
    left.set_ylim(0, CAMERA_FPS * 1.1)
    left.legend(fontsize=8)
    right.set_xlabel("seconds into the run")
    right.set_ylabel("round trip per frame (ms)")
    right.set_yscale("log")
    right.legend(fontsize=7)
    first = table.iloc[0]
    fig.suptitle(f"Webcam streams through the real endpoint, 640x480 @ {CAMERA_FPS:.0f} fps\n{first['cpu']}, "
                 f"{first['cpu_threads']} threads, 1-min load {first['load_avg_1min']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def stream_runs(model: str, user_counts: list[int], frames: list[bytes], duration_s: float,
                ) -> tuple[list[dict], dict[int, list[UserRun]]]:
    """Each user count's run against one fresh ``python app.py`` serving ``model``: the rows and each run's users.

    A fresh server per model, so its memory and cache columns are that model's alone."""
    rows, traces = [], {}
    work = Path(tempfile.mkdtemp(prefix="webcam_stream_"))
    cache_dir = work / "gradio_cache"  # the app's own cache folder, so its growth can be read
    with running_app(work / "app.log", GRADIO_TEMP_DIR=str(cache_dir)) as app:
        warm = stream_user(app, 0, frames[:WARMUP_FRAMES], WARMUP_FRAMES / CAMERA_FPS, model=model)
        if warm.error:
            raise RuntimeError(f"warm-up stream of {model} failed: {warm.error}")
        stream_every = StreamSession.connect(app.url).event.stream_every
        for users in user_counts:
            start = app.rss_mib()
            traces[users] = run_users(app, users, frames, duration_s, model)
            server = server_state(app, cache_dir) | {"server_rss_start_mib": round(start)}
            rows += [row | {"model": model} for row in summarise(traces[users], users, stream_every, duration_s,
                                                                  server)]
            print(pd.DataFrame(rows[-users:]).to_string(index=False))
    return rows, traces


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 5], help="user counts, one run each")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each run streams")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_KEY, "mediapipe468"],
                        help="predictor keys, each on its own server (default: the Webcam tab's, then MediaPipe)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for webcam_stream.csv/.png")
    args = parser.parse_args(argv)
    frames = make_frames(CLIP_FRAMES)
    rows, traces = [], {}
    for model in args.models:
        model_rows, model_traces = stream_runs(model, args.users, frames, args.duration)
        rows += model_rows
        traces |= {(model, users): runs for users, runs in model_traces.items()}
    table = pd.DataFrame(rows).assign(**machine_context())
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "webcam_stream.csv", index=False)
    plot(table, traces, args.out / "webcam_stream.png")
    return table


if __name__ == "__main__":
    main()
