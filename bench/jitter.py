"""Point jitter of the webcam path, with and without the One-Euro filter, and the lag the filter adds.

Jitter is the first complaint of every landmark tool's users: a still face whose points shimmer. Two clips of the
public-domain astronaut at 640x480, fed through :func:`kpdemo.ui.webcam.process_frame` exactly as the Webcam tab does
(JPEG at the browser's quality, tracking, smoothing, drawing), paced in real time at 30 fps so the filter sees real
time steps:

* still: the face does not move; every frame gets fresh sensor-like noise (Gaussian, sigma 3 grey levels) before the
  JPEG. Jitter = per point, the RMS distance from its mean position over the clip, averaged over points (px).
* moving: the face sweeps side to side (96 px amplitude, 2 s period, up to 300 px/s). The lag the filter adds is the
  delay (in frames, to 1/20 frame) that best aligns the smoothed track of the face centre with the raw one.

Raw and smoothed runs see identical frames, and the filter never feeds back into tracking, so they differ only by the
filter. A checkpoint's live frames run on one of two networks, chosen by the CPU (:mod:`kpdemo.detection.cpu`): its
int8 export where the CPU has int8 dot products, else its half-width live-frame companion. Both are measured on any
CPU (``--live-paths``), so the table says what each kind of machine shows; the ``runs_on`` column names the network.
Writes ``bench/results/jitter.csv`` and ``jitter.png``.

    nice -n 10 python bench/jitter.py [--models mediapipe468 checkpoint:ibug68_pip] [--live-paths companion int8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine_context  # noqa: E402
from bench.webcam_latency import export_checkpoints  # noqa: E402
from kpdemo.detection import get_predictor, read_image  # noqa: E402
from kpdemo.detection.cpu import LIVE_COMPANION_ENV, LIVE_INT8_ENV  # noqa: E402
from kpdemo.detection.images import compose_frame  # noqa: E402
from kpdemo.detection.registry import CHECKPOINT_PREFIX, RUN_PREFIX, forget_instances  # noqa: E402
from kpdemo.ui.webcam import WebcamSession, process_frame  # noqa: E402

RESULTS = REPO / "bench" / "results"
FIXTURE = REPO / "tests" / "fixtures" / "astronaut.png"
FPS = 30
SIZE_HW = (480, 640)
NOISE_SIGMA = 3.0  # grey levels: a webcam indoors
BROWSER_JPEG_QUALITY = 92  # the page's canvas.toDataURL("image/jpeg") default
SETTLE_FRAMES = 15  # the filter's first half second is left out of the still-face jitter
STILL_FRAMES, MOVING_FRAMES = 150, 180
SWEEP_PX, SWEEP_PERIOD_S = 96.0, 2.0
MAX_LAG_FRAMES = 4.0
#: The live paths a checkpoint can take, as the two settings that force each (``auto``: what this CPU picks).
LIVE_PATHS = {"companion": {LIVE_INT8_ENV: "0", LIVE_COMPANION_ENV: "1"},
              "int8": {LIVE_INT8_ENV: "1", LIVE_COMPANION_ENV: "0"},
              "auto": {LIVE_INT8_ENV: "auto", LIVE_COMPANION_ENV: "auto"}}


def clip(kind: str, seed: int = 0) -> list[np.ndarray]:
    """The ``still`` or ``moving`` clip as decoded JPEG frames (RGB), as the server receives them."""
    photo = read_image(FIXTURE)
    rng = np.random.default_rng(seed)
    n = STILL_FRAMES if kind == "still" else MOVING_FRAMES
    frames = []
    for i in range(n):
        shift = 0.0 if kind == "still" else SWEEP_PX * np.sin(2 * np.pi * i / (FPS * SWEEP_PERIOD_S))
        frame = compose_frame(photo, SIZE_HW, scale=1.3, centre=(0.5 + shift / SIZE_HW[1], 0.62))
        noisy = np.clip(frame + rng.normal(0, NOISE_SIGMA, frame.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(noisy, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, BROWSER_JPEG_QUALITY])
        frames.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return frames


def play(frames: list[np.ndarray], model_key: str, smooth: bool) -> np.ndarray:
    """Feed ``frames`` through the webcam path at 30 fps; (frames, K, 2) points of the first face (NaN: no face)."""
    session = WebcamSession()
    tracks = []
    next_tick = time.monotonic()
    for frame in frames:
        time.sleep(max(0.0, next_tick - time.monotonic()))
        next_tick += 1.0 / FPS
        _, status, session = process_frame(frame, model_key, smooth, session)
        if "error" in status:
            raise RuntimeError(status)
        tracks.append(session.shown[0].points if session.shown else None)
    k = next(len(t) for t in tracks if t is not None)
    return np.stack([t if t is not None else np.full((k, 2), np.nan) for t in tracks])


def jitter_px(points: np.ndarray) -> float:
    """Mean over points of the RMS distance from the point's mean position (a still face: all of it is jitter)."""
    settled = points[SETTLE_FRAMES:]
    deviation = settled - np.nanmean(settled, axis=0, keepdims=True)
    return float(np.nanmean(np.sqrt(np.nanmean((deviation ** 2).sum(-1), axis=0))))


def added_lag_frames(raw: np.ndarray, smoothed: np.ndarray) -> float:
    """The delay d (frames) minimising the squared gap between smoothed(t) and raw(t - d), face-centre x."""
    x_raw, x_smooth = np.nanmean(raw[..., 0], axis=1), np.nanmean(smoothed[..., 0], axis=1)
    t = np.arange(len(x_raw), dtype=float)
    valid = ~np.isnan(x_raw)
    inner = slice(int(MAX_LAG_FRAMES) + SETTLE_FRAMES, None)
    best, best_err = 0.0, np.inf
    for d in np.arange(0.0, MAX_LAG_FRAMES + 1e-9, 0.05):
        shifted = np.interp(t - d, t[valid], x_raw[valid])
        err = np.nanmean((x_smooth[inner] - shifted[inner]) ** 2)
        if err < best_err:
            best, best_err = float(d), err
    return best


def live_path(name: str) -> None:
    """Force the live path ``name`` (:data:`LIVE_PATHS`) for the predictors built from now on."""
    os.environ.update(LIVE_PATHS[name])
    forget_instances()


def measure(model_key: str) -> dict[str, float | str]:
    runs_on = getattr(get_predictor(model_key), "video_backend", "mediapipe")
    still, moving = clip("still"), clip("moving", seed=1)
    raw_still, smooth_still = play(still, model_key, False), play(still, model_key, True)
    raw_moving, smooth_moving = play(moving, model_key, False), play(moving, model_key, True)
    raw_j, smooth_j = jitter_px(raw_still), jitter_px(smooth_still)
    lag = added_lag_frames(raw_moving, smooth_moving)
    return {"model": model_key, "runs_on": runs_on, "points": raw_still.shape[1],
            "still_jitter_raw_px": raw_j, "still_jitter_smoothed_px": smooth_j, "jitter_ratio": smooth_j / raw_j,
            "moving_added_lag_frames": lag, "moving_added_lag_ms": lag * 1000 / FPS,
            "moving_gap_px": float(np.nanmean(np.linalg.norm(smooth_moving - raw_moving, axis=-1)))}


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_j, ax_l) = plt.subplots(1, 2, figsize=(9, 3.0))
    y = np.arange(len(table))
    ax_j.barh(y - 0.2, table["still_jitter_raw_px"], 0.4, label="raw", color="#c44e52")
    ax_j.barh(y + 0.2, table["still_jitter_smoothed_px"], 0.4, label="One-Euro", color="#4c72b0")
    ax_j.set_yticks(y, [f"{model}\n{runs_on}" for model, runs_on in zip(table["model"], table["runs_on"], strict=True)],
                    fontsize=8)
    ax_j.set_xlabel("still-face jitter (px RMS)")
    ax_j.legend(fontsize=8)
    ax_l.barh(y, table["moving_added_lag_frames"], color="#dd8452")
    ax_l.axvline(1.0, color="grey", ls=":", label="1 frame at 30 fps")
    ax_l.set_yticks([])
    ax_l.set_xlabel("lag the filter adds on a moving face (frames)")
    ax_l.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mediapipe468", "checkpoint:ibug68_pip"],
                        help="predictor keys (kpdemo.detection registry)")
    parser.add_argument("--live-paths", nargs="+", default=["companion", "int8"], choices=list(LIVE_PATHS),
                        help="the live-frame networks each checkpoint is measured on (default: both, on any CPU; "
                             "auto: the one this CPU picks)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for jitter.csv and jitter.png; default bench/results")
    args = parser.parse_args(argv)
    # as a deployment serves them (a fresh clone has no exports: its checkpoints would otherwise run on PyTorch,
    # slower than the 30 fps the frames come at)
    export_checkpoints(args.models)
    rows = []
    for key in tqdm(args.models, desc="models"):
        paths = args.live_paths if key.startswith((CHECKPOINT_PREFIX, RUN_PREFIX)) else ["auto"]
        for name in paths:
            live_path(name)
            rows.append(measure(key))
    table = pd.DataFrame(rows)
    table["fps"] = FPS
    table["noise_sigma"] = NOISE_SIGMA
    table = table.assign(**machine_context())
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "jitter.csv", index=False, float_format="%.4g")
    plot(table, args.out / "jitter.png")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
