"""How fast the Video tab follows a clip's faces, and why its annotated copy is encoded with PyAV's H.264.

Clips: the public-domain astronaut drifting and zooming in the frame (``bench/fake_webcam.py``), ``--seconds``
long at 30 fps, at 640x480, 1280x720 and 1920x1080, written as H.264 MP4 as a user's upload would be. For each model
and size, :func:`kpdemo.video.track_video` runs the whole path (decode, follow the faces as the Webcam tab does,
smoothing, drawing, encode the copy, write the CSV) after the model has loaded, checkpoints on their ONNX exports as
a deployment serves them (exported first where missing, as ``bench/webcam_latency.py`` does); ``--photo-models`` run
again reading each followed face as a photo (the tab's checkbox). ``x real time`` is the clip's length over the time
taken. Beside it, the decoding alone (ms a frame). Then the encoders the copy could be written with: OpenCV's VP8 (WebM,
which browsers play) and MPEG-4 Part 2 (which they do not), and PyAV's H.264 (what the tab writes), ms a frame and
size. Writes ``bench/results/video.csv``, ``video_encoders.csv`` and ``video.png``.

    nice -n 10 python bench/video.py [--seconds 5] [--models KEY ...] [--photo-models KEY ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.fake_webcam import ASTRONAUT, ASTRONAUT_FACE_CENTRE, face_frames  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from bench.webcam_latency import export_checkpoints  # noqa: E402
from kpdemo.detection import get_predictor  # noqa: E402
from kpdemo.video import VideoReader, VideoWriter, track_video  # noqa: E402

RESULTS = REPO / "bench" / "results"
FPS = 30
SIZES = ((640, 480), (1280, 720), (1920, 1080))
OPENCV_ENCODERS = {"OpenCV VP8 (WebM)": ("VP80", ".webm"), "OpenCV MPEG-4 Part 2 (MP4, no browser plays it)":
                   ("mp4v", ".mp4")}


def clip_frames(size: tuple[int, int], seconds: float) -> list[np.ndarray]:
    """RGB frames of the moving astronaut at ``size`` (w, h)."""
    image = cv2.imread(str(ASTRONAUT), cv2.IMREAD_COLOR)
    return [frame[:, :, ::-1].copy() for frame in face_frames(image, ASTRONAUT_FACE_CENTRE, size, FPS, seconds)]


def write_clip(frames: list[np.ndarray], path: Path) -> float:
    """Write ``frames`` as the tab writes its copy (PyAV H.264); returns ms a frame."""
    start = time.perf_counter()
    with VideoWriter(path) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, index / FPS)
    return (time.perf_counter() - start) * 1000 / len(frames)


def opencv_encode_ms(frames: list[np.ndarray], fourcc: str, path: Path) -> float:
    """ms a frame for OpenCV's FFmpeg writer with ``fourcc``."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} here")
    start = time.perf_counter()
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return (time.perf_counter() - start) * 1000 / len(frames)


def decode_ms(path: Path) -> float:
    """ms a frame to decode ``path`` to upright RGB arrays."""
    start = time.perf_counter()
    with VideoReader(path) as reader:
        count = sum(1 for _ in reader.frames())
    return (time.perf_counter() - start) * 1000 / count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5 s at 30 fps)")
    parser.add_argument("--models", nargs="+", default=["mediapipe468", "checkpoint:ibug68_pip"])
    parser.add_argument("--photo-models", nargs="*", default=["checkpoint:ibug68_pip"],
                        help="models also timed reading each followed face as a photo (the tab's checkbox)")
    parser.add_argument("--out", type=Path, default=RESULTS / "video.csv")
    args = parser.parse_args(argv)

    export_checkpoints(args.models)  # as a deployment serves them
    rows, encoders = [], []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for width, height in SIZES:
            frames = clip_frames((width, height), args.seconds)
            clip = work / f"clip_{width}x{height}.mp4"
            h264_ms = write_clip(frames, clip)
            encoders.append({"size": f"{width}x{height}", "encoder": "PyAV H.264 (MP4), what the tab writes",
                             "ms_per_frame": round(h264_ms, 1), "kib": clip.stat().st_size // 1024})
            for name, (fourcc, suffix) in OPENCV_ENCODERS.items():
                path = work / f"opencv_{fourcc}{suffix}"
                ms = opencv_encode_ms(frames, fourcc, path)
                encoders.append({"size": f"{width}x{height}", "encoder": name, "ms_per_frame": round(ms, 1),
                                 "kib": path.stat().st_size // 1024})
            decoding = decode_ms(clip)
            readings = [(key, False) for key in args.models] + [(key, True) for key in args.photo_models]
            for key, as_photos in readings:
                predictor = get_predictor(key)
                predictor.predict(frames[0], video=not as_photos)  # loaded and warm: no load is timed
                result = track_video(clip, predictor, work / f"{key.replace(':', '_')}_{as_photos}",
                                     as_photos=as_photos)
                runs_on = getattr(predictor, "video_backend", "mediapipe")
                if as_photos:
                    runs_on += f", then {getattr(predictor, 'backend', 'mediapipe')}"
                rows.append({
                    "size": f"{width}x{height}", "model": predictor.name, "key": key,
                    "reading": "as photos" if as_photos else "followed", "runs_on": runs_on, "frames": result.frames,
                    "frames_with_face": result.frames_with_face, "clip_s": round(len(frames) / FPS, 2),
                    "processing_s": round(result.processing_s, 2),
                    "fps": round(result.frames / result.processing_s, 1),
                    "x_real_time": round(len(frames) / FPS / result.processing_s, 2),
                    "decode_ms": round(decoding, 1),
                    "annotated_size": "x".join(map(str, result.annotated_size)),
                    **machine_context(),
                })
                print(rows[-1])
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    pd.DataFrame(encoders).to_csv(args.out.with_name("video_encoders.csv"), index=False)
    plot(table, args.out.with_suffix(".png"))
    print(table.to_string(index=False))
    print(pd.DataFrame(encoders).to_string(index=False))


def plot(table: pd.DataFrame, path: Path) -> None:
    """Frames a second by clip size, a bar per model, with the clip's own 30 fps marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(dict.fromkeys(table["size"]))
    labels = table["model"] + ", " + table["reading"]
    models = list(dict.fromkeys(labels))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        rows = table[labels == model].set_index("size").reindex(sizes)
        ax.bar(np.arange(len(sizes)) + i * width, rows["fps"], width, label=model)
    ax.axhline(FPS, color="grey", linestyle="--", linewidth=1, label=f"the clip's {FPS} fps")
    ax.set_xticks(np.arange(len(sizes)) + width * (len(models) - 1) / 2, sizes)
    ax.set_ylabel("frames followed a second")
    ax.set_title(f"Video tab, whole path on {table['cpu'].iloc[0]} ({table['cpu_threads'].iloc[0]} threads)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
