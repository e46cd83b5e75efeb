"""Faces followed on a stream: the webcam path's points against the truth, over clips of moving 300-W faces.

Why: every other accuracy bench scores single pictures, but a webcam frame is read from the last frame's points
(:func:`kpdemo.ui.webcam.follow`), so how a stream follows a moving head, and what it does every
``REDETECT_EVERY`` frames to catch faces that come and go, needs its own check. Each face of the split becomes a
clip of ``--frames`` 640x480 frames: its picture turned and scaled about the face's centre and placed on a grey
canvas, the face's 68-point box ~160 px (a person at arm's length from a webcam), then moved smoothly through a
cycle of ``--speeds`` frames (the box 0.85-1.15x, the centre swinging up to 77 px sideways and 29 px up and down,
the roll up to +-15 deg, each clip from its own phase, drawn from a fixed seed); the true points move with it. A
cycle of 30 frames moves the face up to 16 px a frame (a brisk turn of the head at 30 fps), of 15 frames up to 32
px (a fast one, or a brisk one on a stream that the server answers at 15 fps). A fresh stream plays each clip,
under each policy:

* ``recheck`` (what the app does): track, and every ``REDETECT_EVERY`` frames the face detector's quick look
  (:meth:`~kpdemo.detection.detector.FaceDetector.glance`); a full detection only when it sees other faces;
* ``redetect``: track, and a full detection every ``REDETECT_EVERY`` frames (the app before the quick look);
* ``detect``: a full detection on every frame (no tracking).

The policies are compared on the 68-point model (``--all-policies``); the other shipped checkpoints run the app's
alone, scored on the anchors they share with 300-W's points (the Kaggle model has no chin: 15 of the 16).

A checkpoint with a live-frame companion (``<stem>_live.pt``, which the app runs on webcam frames) is scored as the
app runs it, and under ``recheck`` once more with its own full network on every frame, so the table shows what the
companion costs in accuracy and saves in time (column ``network``).

MediaPipe face mesh follows the face in its own video mode (``predict(video=True)`` each frame: its graph tracks
from the last frame's mesh and runs its detector when it loses the face). Per model and policy and speed: NME over
the frames (68 points; and on the common anchors, so MediaPipe compares), failures (NME > 10% or the face not
found), full detections per 100 frames (ours; MediaPipe's graph detects when it sees fit), and median ms a frame on
this machine. Writes ``bench/results/tracking.csv`` (``--split val`` writes ``tracking_val.csv``: choose policies
there, never on test) and ``tracking.png``, or ``--out``'s CSV and plot.

    nice -n 10 python bench/tracking.py [--split test] [--frames 15] [--speeds 30 15] [--limit N] [--models ...]
                                        [--all-policies KEY ...] [--out CSV] [--update]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import (  # noqa: E402
    RESULTS,
    add_update_argument,
    anchor_error,
    check_update,
    common_anchors,
    face_holding,
    first,
    saved_with,
)
from bench.machine import machine_context  # noqa: E402
from bench.webcam_latency import export_checkpoints  # noqa: E402
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.detection import CheckpointPredictor, Face, LandmarkPredictor, get_predictor  # noqa: E402
from kpdemo.metrics import failure_rate, normaliser, point_errors  # noqa: E402
from kpdemo.tracking import REDETECT_EVERY, follow  # noqa: E402

SIZE_HW = (480, 640)
#: The face's 68-point box side (px) in the middle of its clip.
FACE_SIDE = 160.0
POLICIES = ("recheck", "redetect", "detect")
#: The one policy of a predictor that does not track: ``predict(video=True)`` every frame (MediaPipe's own tracking).
OWN_VIDEO_MODE = "own video mode"
MODELS = ("checkpoint:ibug68_pip", "mediapipe468", "checkpoint:imm73_pip", "checkpoint:kaggle15_pip")
#: The checkpoints scored under every policy; the others only under the app's (``recheck``), which these choose.
ALL_POLICIES = ("checkpoint:ibug68_pip",)


#: How far the face's centre swings sideways (share of the frame's width; up and down: half as far of its height).
SWING = 0.12


def peak_px_per_frame(cycle: int) -> float:
    """The fastest sideways move of a face in a clip whose motion repeats every ``cycle`` frames."""
    return SWING * SIZE_HW[1] * 2 * np.pi / cycle


def clip(image: np.ndarray, truth: np.ndarray, frames: int, cycle: int,
         phase: float) -> tuple[list[np.ndarray], np.ndarray]:
    """The frames of one face's clip and its true points in each, (frames, K, 2)."""
    centre = (truth.min(0) + truth.max(0)) / 2
    base = FACE_SIDE / float(np.ptp(truth, 0).max())
    shown, points = [], []
    for i in range(frames):
        t = 2 * np.pi * i / cycle + phase
        matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 15 * np.sin(2 * t),
                                         base * (1 + 0.15 * np.sin(t)))
        target = np.array([SIZE_HW[1] * (0.5 + SWING * np.sin(t)), SIZE_HW[0] * (0.5 + SWING / 2 * np.cos(t))])
        matrix[:, 2] += target - centre
        shown.append(cv2.warpAffine(image, matrix, (SIZE_HW[1], SIZE_HW[0]), flags=cv2.INTER_AREA,
                                    borderValue=(40, 40, 40)))
        points.append(truth @ matrix[:, :2].T + matrix[:, 2])
    return shown, np.stack(points).astype(np.float32)


class Counted:
    """A predictor whose full detections (``predict``) are counted, for :func:`follow` to call."""

    def __init__(self, predictor: LandmarkPredictor) -> None:
        self.predictor = predictor
        self.detections = 0

    def track(self, image: np.ndarray, previous: list[Face], recheck: bool = False) -> list[Face] | None:
        return self.predictor.track(image, previous, recheck)

    def predict(self, image: np.ndarray, video: bool = False) -> list[Face]:
        self.detections += 1
        return self.predictor.predict(image, video=video)


def play(predictor: Counted, frames: list[np.ndarray], policy: str) -> tuple[list[list[Face]], list[float]]:
    """Each frame's faces under ``policy`` (a fresh stream), and each frame's ms."""
    previous: list[Face] = []
    answers, ms = [], []
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        if policy == "recheck":
            faces = follow(predictor, frame, previous, i)  # type: ignore[arg-type]  # a counted predictor
        elif policy == "redetect" and previous and i % REDETECT_EVERY:
            faces = predictor.track(frame, previous) or predictor.predict(frame, video=True)
        else:
            faces = predictor.predict(frame, video=True)
        ms.append((time.perf_counter() - start) * 1000)
        answers.append(faces)
        previous = faces
    return answers, ms


def frames_network(predictor: LandmarkPredictor) -> str:
    """What reads a stream's frames: a checkpoint's live-frame companion, else its own network (or MediaPipe's)."""
    return getattr(predictor, "live_network", None) or predictor.name


def score(predictor: LandmarkPredictor, policy: str, data: LandmarkSet, frames: int,
          cycle: int) -> dict[str, object]:
    """One table row: ``predictor`` under ``policy`` on every face's clip of ``frames`` frames, its motion
    repeating every ``cycle`` frames."""
    schema = data.schema
    same = predictor.schema.id == schema.id
    common = [n for n in common_anchors(schema) if n in predictor.schema.anchors]
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, len(data))
    counted = Counted(predictor)
    nme, nme_common, ms = [], [], []
    for i in tqdm(range(len(data)), desc=f"{predictor.name}, {policy}", unit="clip", leave=False):
        shown, truths = clip(data.image(i), data.points[i], frames, cycle, phases[i])
        answers, times = play(counted, shown, policy)
        ms += times[1:]  # the first frame of a clip is always a full detection
        norm = normaliser(truths, schema)
        for faces, truth, scale in zip(answers, truths, norm, strict=True):
            face = face_holding(faces, truth)
            if face is None:
                nme.append(np.inf)
                nme_common.append(np.inf)
                continue
            pts = face.points
            nme.append(point_errors(pts[None], truth[None])[0] / scale if same else np.nan)
            nme_common.append(anchor_error(pts, truth, predictor.schema, schema, common) / scale)
    nme, nme_common = np.array(nme), np.array(nme_common)
    found = np.isfinite(nme_common)
    return {
        "cycle_frames": cycle, "peak_px_per_frame": round(peak_px_per_frame(cycle), 1),
        "model": predictor.name, "policy": policy, "network": frames_network(predictor), "clips": len(data),
        "frames": len(nme),
        "found_rate": float(found.mean()),
        "nme_mean": float(nme[found].mean()) if same else np.nan,
        "failure_rate_10pct": failure_rate(nme, 0.10) if same else np.nan,
        "nme_common_mean": float(nme_common[found].mean()),
        "failure_rate_common_10pct": failure_rate(nme_common, 0.10),
        "full_detections_per_100_frames": np.nan if policy == OWN_VIDEO_MODE else 100 * counted.detections / len(nme),
        "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
    }


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.model}, {r.policy}" + (f" ({r.network})" if r.network != r.model else "")
              + f"\n{r.peak_px_per_frame:g} px a frame" for r in table.itertuples()]
    fig, (nme_ax, ms_ax) = plt.subplots(1, 2, figsize=(11, 0.5 * len(table) + 2))
    y = np.arange(len(table))
    nme_ax.barh(y, 100 * table["nme_common_mean"], color="#3b82f6")
    nme_ax.set(yticks=y, yticklabels=labels, xlabel="NME, common anchors, frames with the face found (%)")
    ms_ax.barh(y, table["median_ms"], color="#10b981", label="median")
    ms_ax.scatter(table["p95_ms"], y, color="#ef4444", zorder=3, label="p95")
    ms_ax.set(yticks=y, yticklabels=[], xlabel="ms a frame (after the clip's first)")
    ms_ax.legend()
    for ax in (nme_ax, ms_ax):
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--frames", type=int, default=15, help="frames a clip")
    parser.add_argument("--speeds", type=int, nargs="+", default=[30, 15],
                        help="frames a motion cycle takes (fewer: faster)")
    parser.add_argument("--limit", type=int, default=None, help="only the split's first N faces")
    parser.add_argument("--models", nargs="+", default=None, help=f"default: {' '.join(MODELS)}")
    parser.add_argument("--all-policies", nargs="*", default=list(ALL_POLICIES), metavar="KEY",
                        help="checkpoints scored under every policy; the other checkpoints run only the app's")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV to write (default bench/results/tracking.csv, tracking_val.csv with --split val); "
                             "its plot beside it")
    parser.add_argument("--torch", action="store_true",
                        help="make no ONNX exports first: checkpoints without one run on PyTorch (the timings are "
                             "then not the app's; the points are the same)")
    add_update_argument(parser)
    args = parser.parse_args(argv)
    suffix = "" if args.split == "test" else f"_{args.split}"
    out = args.out or RESULTS / f"tracking{suffix}.csv"
    check_update(parser, args, out)
    data = first(load_dataset("ibug300w").split(args.split), args.limit)
    if not args.torch:  # as a deployment serves them (a fresh clone has no exports: they would run on PyTorch)
        export_checkpoints(args.models or MODELS)
    rows = []
    for cycle in args.speeds:
        for key in args.models or MODELS:
            predictor = get_predictor(key)
            tracks = isinstance(predictor, CheckpointPredictor) and predictor.meta.refine
            if not tracks:
                policies: tuple[str, ...] = (OWN_VIDEO_MODE,)
            else:
                policies = POLICIES if key in args.all_policies else ("recheck",)  # else the app's alone
            runs = [(predictor, policy) for policy in policies]
            if tracks and predictor.live_network:  # the app's policy once more on the full network
                runs.append((CheckpointPredictor(predictor.path, name=predictor.name, live=False), "recheck"))
            for runner, policy in runs:
                rows.append(score(runner, policy, data, args.frames, cycle))
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    table = pd.DataFrame(rows).assign(split=args.split, **machine_context())
    if args.update:
        table = saved_with(out, table, "cycle_frames")
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    plot(table, out.with_suffix(".png"))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
