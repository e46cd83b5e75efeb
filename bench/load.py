"""Load on a real ``python app.py``: Detect, Align and webcam streams from concurrent clients on loopback.

``--clients`` threads, bounded by ``--max-seconds``:

* API clients (gradio_client, as "Use via API" documents the calls) share ``--requests`` requests (each its part),
  alternating ``/detect`` and ``/align``; every other
  request sends an identical input (the shipped examples, in turn: identical requests produce identical output files
  in Gradio's cache, the case that once truncated responses) and the others a distinct render of the astronaut photo
  (a new face position, size and angle each time);
* ``--stream-clients`` of the clients are webcam streams (:mod:`bench.gradio_stream`, the page's own protocol), one
  request per frame, at the camera rate like a page, for as long as the API clients work (``--stream-frames`` at
  most each). So the requests in all are ``--requests`` plus the frames streamed.

Every answer is checked, not just received: the annotated image must decode completely at the input's size, each
aligned face at the requested size, each streamed frame at 640x480. A request that raises (e.g. "peer closed
connection without sending complete message body") is ``failed``; one whose images do not decode or have the wrong
size is ``truncated``. The server's resident memory is read after the first ``--rss-after`` requests and at the end
(the target: within 25%), and its log is searched for tracebacks. Writes ``bench/results/load.csv`` (one row per
endpoint and one for all) and ``load.png``.

    nice -n 10 python bench/load.py [--clients 8] [--stream-clients 2] [--requests 1000] [--max-seconds 600]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench.app_server import App, running_app  # noqa: E402
from bench.gradio_stream import StreamSession, play  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from bench.webcam_latency import make_frames  # noqa: E402
from bench.webcam_stream import CAMERA_FPS, annotated_ok  # noqa: E402
from kpdemo.detection import DEFAULT_KEY, read_image  # noqa: E402
from kpdemo.detection.images import compose_frame  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
PHOTO = REPO / "tests" / "fixtures" / "astronaut.png"
MODEL = DEFAULT_KEY  # what a visitor who picks nothing gets
ALIGN_SIZE = "256"
RSS_GROWTH_TARGET = 0.25


@dataclass(frozen=True)
class Record:
    """One request as a client saw it."""

    client: int
    endpoint: str  # /detect, /align or stream
    identical: bool  # an input other requests send too
    latency_ms: float
    outcome: str  # ok, failed or truncated
    detail: str = ""


def predict(client: Any, endpoint: str, image: Path) -> tuple:
    """One documented API call (see tests/test_api.py): ``/detect`` or ``/align`` on ``image``, default model."""
    from gradio_client import handle_file

    if endpoint == "/detect":
        return client.predict(image_file=handle_file(str(image)), model_key=MODEL, api_name="/detect")
    return client.predict(image_file=handle_file(str(image)), model_key=MODEL, size=ALIGN_SIZE, learned=False,
                          api_name="/align")


def image_problem(path: str | None, size: tuple[int, int]) -> str:
    """Why the image file at ``path`` is not a complete ``size`` (w, h) image; empty when it is."""
    if not path:
        return "no image returned"
    try:
        with Image.open(path) as image:
            image.load()  # decodes every byte: a truncated PNG raises here
            return "" if image.size == size else f"{Path(path).name} is {image.size}, expected {size}"
    except OSError as exc:
        return f"{Path(path).name} does not decode: {exc}"


def answer_problem(endpoint: str, answer: tuple, size: tuple[int, int]) -> str:
    """What is wrong with an API answer for an input of ``size`` (w, h); empty when nothing is."""
    annotated, second, status = answer
    problem = image_problem(annotated, size)
    if endpoint == "/detect":
        return problem or ("" if second and second.get("faces") else f"no face: {status}")
    if not second:
        return problem or f"no aligned face: {status}"
    side = int(ALIGN_SIZE)
    return problem or next((p for item in second if (p := image_problem(item["image"], (side, side)))), "")


class Load:
    """The shared state of one load run: the records, the request budget's progress and the RSS readings."""

    def __init__(self, app: App, rss_after: int, max_seconds: float) -> None:
        self.app = app
        self.rss_after = rss_after
        self.records: list[Record] = []
        self.rss_trace: list[tuple[int, float]] = [(0, app.rss_mib())]  # (requests answered, MiB)
        self.rss_at_mark: float | None = None
        self.start = time.monotonic()
        self.deadline = self.start + max_seconds
        self._lock = threading.Lock()

    def add(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)
            if len(self.records) == self.rss_after:
                self.rss_at_mark = self.app.rss_mib()
            if len(self.records) % 25 == 0:
                self.rss_trace.append((len(self.records), self.app.rss_mib()))

    def answered(self, client: int, endpoint: str, identical: bool, latency_s: float, problem: str,
                 failed: bool = False) -> None:
        """Record a request answered after ``latency_s``; ``problem`` says what was wrong with it, if anything."""
        outcome = "failed" if failed else "truncated" if problem else "ok"
        self.add(Record(client, endpoint, identical, latency_s * 1000, outcome, problem))


def api_client(load: Load, client: int, count: int, identical: list[Path], distinct: Callable[[], Path],
               downloads: Path) -> None:
    """``count`` requests, alternating endpoints and identical/distinct inputs, until done or out of time."""
    from gradio_client import Client

    api = Client(load.app.url, verbose=False, download_files=str(downloads))
    for j in range(count):
        if time.monotonic() > load.deadline:
            return
        endpoint = "/detect" if (client + j) % 2 == 0 else "/align"
        same = j % 2 == 0
        image = identical[(client + j // 2) % len(identical)] if same else distinct()
        with Image.open(image) as opened:
            size = opened.size
        started = time.monotonic()
        try:
            answer = predict(api, endpoint, image)
        except Exception as exc:  # the failure is the measurement
            load.answered(client, endpoint, same, time.monotonic() - started, f"{type(exc).__name__}: {exc}", True)
            continue
        load.answered(client, endpoint, same, time.monotonic() - started, answer_problem(endpoint, answer, size))


def stream_client(load: Load, client: int, frames: list[bytes], until: threading.Event, max_frames: int) -> None:
    """One webcam stream at the camera rate while the API clients work (``until`` set), ``max_frames`` at most."""
    sent = time.monotonic()
    try:
        with StreamSession.connect(load.app.url, values={"Model": MODEL}) as session:
            for n, (_, round_trip, outputs) in enumerate(
                    play(session, frames, load.deadline - time.monotonic(), CAMERA_FPS), start=1):
                problem = "" if annotated_ok(outputs) else "streamed frame does not decode at 640x480"
                load.answered(client, "stream", False, round_trip, problem)
                sent = time.monotonic()
                if n >= max_frames or until.is_set():
                    return
    except Exception as exc:  # a broken stream counts once, as a failed request
        load.answered(client, "stream", False, time.monotonic() - sent, f"{type(exc).__name__}: {exc}", True)


class Renders:
    """Distinct inputs on demand: each call renders the astronaut photo at a new size, position and angle."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.photo = read_image(PHOTO)
        self._indices = itertools.count()  # next() on a count is atomic under the GIL: no two calls share an index

    def __call__(self) -> Path:
        index = next(self._indices)
        rng = np.random.default_rng(index)
        h, w = (480, 640) if index % 2 else (512, 512)
        frame = compose_frame(self.photo, (h, w), scale=rng.uniform(0.7, 1.1),
                              centre=(rng.uniform(0.4, 0.6), rng.uniform(0.45, 0.6)), angle_deg=rng.uniform(-20, 20))
        path = self.folder / f"render_{index}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        return path


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts that differ by at most one."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def summarise(load: Load, seconds: float, clients: int, log_text: str) -> pd.DataFrame:
    frame = pd.DataFrame([r.__dict__ for r in load.records])
    rss_end = load.app.rss_mib()
    mark = load.rss_at_mark if load.rss_at_mark is not None else float("nan")
    rows = []
    for endpoint, group in [*frame.groupby("endpoint"), ("all", frame)]:
        ok = group[group["outcome"] == "ok"]
        rows.append({
            "endpoint": endpoint, "requests": len(group), "identical_inputs": int(group["identical"].sum()),
            "failed": int((group["outcome"] == "failed").sum()),
            "truncated": int((group["outcome"] == "truncated").sum()),
            "per_s": round(len(group) / seconds, 2),
            "p50_ms": round(float(ok["latency_ms"].median()), 1) if len(ok) else float("nan"),
            "p95_ms": round(float(ok["latency_ms"].quantile(0.95)), 1) if len(ok) else float("nan"),
        })
    table = pd.DataFrame(rows).assign(
        clients=clients, seconds=round(seconds, 1), rss_after_mark_mib=round(mark), rss_mark_requests=load.rss_after,
        rss_after_run_mib=round(rss_end), rss_growth=round((rss_end - mark) / mark, 3),
        server_tracebacks=log_text.count("Traceback (most recent call last)"), model=MODEL,
        **machine_context())
    return table


def plot(load: Load, table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame([r.__dict__ for r in load.records])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    endpoints = sorted(frame["endpoint"].unique())
    left.boxplot([frame.loc[(frame["endpoint"] == e) & (frame["outcome"] == "ok"), "latency_ms"] for e in endpoints],
                 showfliers=False)
    left.set_xticks(range(1, len(endpoints) + 1), endpoints)
    left.set_yscale("log")
    left.set_ylabel("latency per request (ms), answered correctly")
    answered, rss = zip(*load.rss_trace, strict=True)
    right.plot(answered, rss, marker=".", color="#3b82f6", label="server RSS")
    if load.rss_at_mark is not None:
        right.axhspan(load.rss_at_mark, load.rss_at_mark * (1 + RSS_GROWTH_TARGET), color="#22c55e", alpha=0.15,
                      label=f"+{RSS_GROWTH_TARGET:.0%} of RSS after {load.rss_after} requests")
    right.set_xlabel("requests answered")
    right.set_ylabel("MiB")
    right.legend(fontsize=8)
    total = table[table["endpoint"] == "all"].iloc[0]
    fig.suptitle(f"{int(total['requests'])} requests from {int(total['clients'])} clients in {total['seconds']} s: "
                 f"{int(total['failed'])} failed, {int(total['truncated'])} truncated\n{total['cpu']}, "
                 f"{total['cpu_threads']} threads, 1-min load {total['load_avg_1min']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run(clients: int, stream_clients: int, requests: int, stream_frames: int, max_seconds: float, rss_after: int,
        scratch: Path) -> tuple[Load, pd.DataFrame]:
    """Start the app, warm it up, run the load; the records and the summary table."""
    if not 0 <= stream_clients < clients:
        raise ValueError(f"--stream-clients must be at least 0 and below --clients ({clients})")
    renders, frames, downloads = Renders(scratch), make_frames(90), scratch / "downloads"
    log_path = scratch / "app.log"
    with running_app(log_path) as app:
        warm = Load(app, 0, max_seconds)  # models load on first use: not part of the measurement
        api_client(warm, 0, 2, EXAMPLES, renders, downloads)
        if stream_clients:
            stream_client(warm, 0, frames, threading.Event(), 3)
        if failed := [r for r in warm.records if r.outcome != "ok"]:
            raise RuntimeError(f"warm-up failed: {failed[0].detail}")
        load = Load(app, rss_after, max_seconds)
        api_done = threading.Event()
        streams = [threading.Thread(target=stream_client, args=(load, c, frames, api_done, stream_frames))
                   for c in range(stream_clients)]
        apis = [threading.Thread(target=api_client, args=(load, c, n, EXAMPLES, renders, downloads))
                for c, n in enumerate(shares(requests, clients - stream_clients), start=stream_clients)]
        for worker in [*streams, *apis]:
            worker.start()
        for worker in apis:
            worker.join()
        api_done.set()
        for worker in streams:
            worker.join()
        seconds = time.monotonic() - load.start
        table = summarise(load, seconds, clients, log_path.read_text(errors="replace"))
    return load, table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in all")
    parser.add_argument("--stream-clients", type=int, default=2, help="how many of them stream the webcam")
    parser.add_argument("--requests", type=int, default=1000, help="API requests in all (streamed frames come on top)")
    parser.add_argument("--stream-frames", type=int, default=3000, help="frames each stream sends at most")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long")
    parser.add_argument("--rss-after", type=int, default=100, help="read the server's RSS after this many requests")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for load.csv and load.png")
    args = parser.parse_args(argv)
    if not 0 < args.rss_after < args.requests:  # the growth is measured from that mark to the end
        parser.error(f"--rss-after ({args.rss_after}) must lie between 0 and --requests ({args.requests})")
    with tempfile.TemporaryDirectory(prefix="kpdemo_load_") as scratch:
        tempfile.tempdir = scratch  # gradio_client leaves an empty folder per download under the temp dir
        try:
            load, table = run(args.clients, args.stream_clients, args.requests, args.stream_frames, args.max_seconds,
                              args.rss_after, Path(scratch))
        finally:
            tempfile.tempdir = None
        problems = [r for r in load.records if r.outcome != "ok"]
        for record in problems[:10]:
            print(f"{record.outcome}: {record.endpoint} (client {record.client}): {record.detail}")
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "load.csv", index=False)
    plot(load, table, args.out / "load.png")
    print(table.drop(columns=["cpu"]).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
