"""Per-frame latency of the full webcam path for MediaPipe and every shipped checkpoint, on this machine's CPU.

Path timed per frame: decode the JPEG the browser would send, then :func:`kpdemo.ui.webcam.process_frame` (array
check, face detection, landmarks, One-Euro smoothing, drawing). Frames are 640x480, rendered from the public-domain
astronaut photo with the face at varying sizes, positions and tilts (a moving head). Then the same frames from
``--users`` concurrent sessions (threads, as Gradio's worker pool runs them) give the frames per second each user
and the server get. ``ratio_vs_mediapipe468`` compares medians measured in the same run. Writes
``bench/results/webcam_latency.csv`` and ``bench/results/webcam_latency.png``.

Checkpoints are timed as a deployment serves them: through ONNX Runtime, exported first where no fresh export (or
no int8 twin, which live frames run on where the CPU has int8 dot products) sits beside them (``python -m
trainers.tools.export``); ``--torch`` times the PyTorch fallback instead. The ``backend`` column says which ran on
the frames, ``int8_dot_product`` whether this CPU has those instructions (:mod:`kpdemo.detection.cpu`).

    nice -n 10 python bench/webcam_latency.py [--frames 120] [--users 2] [--torch]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.machine import machine_context  # noqa: E402
from kpdemo.detection import available_predictors, get_predictor, read_image  # noqa: E402
from kpdemo.detection.cpu import has_int8_dot_product  # noqa: E402
from kpdemo.detection.images import compose_frame  # noqa: E402
from kpdemo.detection.registry import RUN_PREFIX, shipped_checkpoint_path  # noqa: E402
from kpdemo.ui.webcam import STREAM_EVERY_S, process_frame  # noqa: E402

RESULTS = Path(__file__).parent / "results"
FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "astronaut.png"
SIZE_HW = (480, 640)
WARMUP = 5


def make_frames(n: int) -> list[bytes]:
    """``n`` JPEG-encoded 640x480 frames: the photo drifting, zooming and tilting like a head in front of a camera."""
    photo = read_image(FIXTURE)
    frames = []
    for i in range(n):
        phase = 2 * np.pi * i / n
        frame = compose_frame(photo, SIZE_HW, scale=1.0 + 0.25 * np.sin(phase),
                              centre=(0.5 + 0.1 * np.sin(2 * phase), 0.62 + 0.05 * np.cos(phase)),
                              angle_deg=10 * np.sin(3 * phase))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        frames.append(buf.tobytes())
    return frames


def run_session(key: str, frames: list[bytes]) -> tuple[list[float], int]:
    """One user's stream: per-frame latencies in ms (after warm-up) and how many frames had a face."""
    session, latencies = None, []
    for i, jpeg in enumerate([*frames[:WARMUP], *frames]):
        start = time.perf_counter()
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        _, status, session = process_frame(rgb, key, True, session)
        if i >= WARMUP:
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies, session.with_face


def export_checkpoints(keys: list[str]) -> None:
    """Write fresh ONNX exports (float and int8) beside every shipped checkpoint among the predictor ``keys``, and
    beside its live-frame companion, that lacks one (what the app then serves); other keys (MediaPipe, runs) are
    passed over, so a bench hands its models as given."""
    from kpdemo.detection.checkpoint import live_companion_path
    from kpdemo.detection.onnx_backend import load_fresh_export
    from trainers.tools.export import main as export

    for shipped in filter(None, map(shipped_checkpoint_path, keys)):
        for path in (shipped, live_companion_path(shipped)):
            if path.is_file() and (load_fresh_export(path) is None or load_fresh_export(path, int8=True) is None):
                export([str(path)])


def time_predictor(key: str, frames: list[bytes], users: int) -> dict:
    backend = getattr(get_predictor(key), "video_backend", "mediapipe")  # load outside the timing
    latencies, with_face = run_session(key, frames)
    lat = np.array(latencies)
    start = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(lambda _: run_session(key, frames), range(users)))
    served_fps = users * (len(frames) + WARMUP) / (time.perf_counter() - start)
    return {
        "backend": backend, "median_ms": round(float(np.median(lat)), 2),
        "p95_ms": round(float(np.percentile(lat, 95)), 2),
        "mean_ms": round(float(lat.mean()), 2), "max_fps": round(1000 / float(np.median(lat)), 1),
        "frames": len(lat), "frames_with_face_incl_warmup": with_face,
        "users": users, "fps_total_concurrent": round(served_fps, 1), "fps_per_user_concurrent": round(
            served_fps / users, 1),
    }


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.6 * len(table) + 2.2))
    y = np.arange(len(table))
    ax.barh(y, table["median_ms"], color="#3b82f6", label="median")
    ax.scatter(table["p95_ms"], y, color="#ef4444", zorder=3, label="p95")
    interval = STREAM_EVERY_S * 1000
    ax.axvline(interval, color="k", ls="--", lw=1, label=f"stream interval ({interval:.0f} ms)")
    ax.axvline(1000 / 30, color="grey", ls=":", lw=1, label="30 fps (33 ms)")
    ax.set_yticks(y, table["key"])
    ax.invert_yaxis()
    ax.set_xlabel("ms per 640x480 frame (JPEG decode + detect + landmarks + smooth + draw)")
    ax.set_title(f"Webcam path latency per frame\n{table['cpu'].iloc[0]}, {table['cpu_threads'].iloc[0]} threads, "
                 f"1-min load {table['load_avg_1min'].iloc[0]}", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--users", type=int, default=2, help="concurrent sessions for the throughput column")
    parser.add_argument("--torch", action="store_true",
                        help="make no ONNX exports first: checkpoints without one run on PyTorch (exports already "
                             "beside a checkpoint are still used; the backend column says which ran)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for webcam_latency.csv and webcam_latency.png; default bench/results")
    args = parser.parse_args()
    frames = make_frames(args.frames)
    rows = []
    shipped = [e for e in available_predictors(refresh=True) if not e.key.startswith(RUN_PREFIX)]  # not user runs
    if not args.torch:
        export_checkpoints([e.key for e in shipped])
    for entry in tqdm(shipped, desc="predictors", unit="model"):
        rows.append({"predictor": entry.label, "key": entry.key} | time_predictor(entry.key, frames, args.users))
    table = pd.DataFrame(rows)
    reference = table.loc[table["key"] == "mediapipe468", "median_ms"]
    if len(reference):
        table["ratio_vs_mediapipe468"] = (table["median_ms"] / float(reference.iloc[0])).round(2)
    # the machine is shared: context for the numbers; int8 dot products decide whether live frames run int8
    table = table.assign(**machine_context(), int8_dot_product=has_int8_dot_product())
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "webcam_latency.csv", index=False)
    plot(table, args.out / "webcam_latency.png")
    print(table.drop(columns=["cpu", "cpu_threads"]).to_string(index=False))


if __name__ == "__main__":
    main()
