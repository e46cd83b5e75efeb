"""A fake webcam clip for Chromium's ``--use-file-for-fake-video-capture``: a real face, moving a little, as Y4M.

Here, not under ``tests/``, because the benches that measure the webcam and video paths play the same clip as the
browser tests, and a bench must not import the test tree's code (it reads the test tree's astronaut photo, the
one committed copy of it, as every bench does). Chromium's fake capture device plays (and loops) a YUV4MPEG2 4:2:0
file. It is written here with numpy/OpenCV rather than ffmpeg (not installed on CI). The face is the public-domain
astronaut photo, zoomed so it fills the frame the way a laptop webcam does, drifting and scaling slightly so
consecutive frames differ like real video.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

#: The public-domain astronaut photo every clip and rendered frame of the benches is made from (512x512).
ASTRONAUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "astronaut.png"
#: Face centre in :data:`ASTRONAUT` (MediaPipe box centre).
ASTRONAUT_FACE_CENTRE = (225.0, 120.0)


def face_frames(
    image_bgr: np.ndarray,
    face_centre: tuple[float, float],
    size: tuple[int, int] = (640, 480),
    fps: int = 15,
    seconds: float = 3.0,
) -> list[np.ndarray]:
    """BGR frames of ``size`` (w, h) that keep the face near the centre: a slow circular drift and a 1.6-1.9x zoom."""
    width, height = size
    n = round(fps * seconds)
    frames = []
    for i in range(n):
        phase = 2 * math.pi * i / n  # one full cycle per clip, so the looped video has no jump
        scale = 1.75 + 0.15 * math.sin(phase)
        cx, cy = width / 2 + 25 * math.sin(phase), height / 2 + 15 * math.cos(phase)
        matrix = np.array(
            [[scale, 0.0, cx - scale * face_centre[0]], [0.0, scale, cy - scale * face_centre[1]]], dtype=np.float64
        )
        frames.append(cv2.warpAffine(image_bgr, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int) -> Path:
    """Write BGR frames (even width/height) as YUV4MPEG2 4:2:0: a text header, then ``FRAME\\n`` + Y, U, V planes."""
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 needs even frame sizes, got {width}x{height}")
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            f.write(b"FRAME\n")
            # OpenCV's I420 layout is exactly Y4M's: full Y plane, then quarter-size U and V planes.
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def make_face_video(image_path: Path, out_path: Path, fps: int = 15, seconds: float = 3.0) -> Path:
    """The astronaut clip as ``out_path`` (.y4m), ready for ``--use-file-for-fake-video-capture``."""
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read {image_path}")
    return write_y4m(out_path, face_frames(image, ASTRONAUT_FACE_CENTRE, fps=fps, seconds=seconds), fps)
