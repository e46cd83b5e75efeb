"""Video files: read a clip's frames, follow its faces as the webcam does, write an annotated copy and the points.

Why PyAV for both ends: OpenCV's wheels read most videos, but of the codecs they write, the fast one (MPEG-4 Part 2)
is one browsers do not play, and the one browsers play (VP8) costs several times the whole rest of a frame's work
(``python bench/video.py``, README "Video files"). PyAV's wheels bundle FFmpeg with libx264, so the annotated copy
is an H.264 MP4 that every browser plays, written about as fast as MPEG-4 Part 2; and the reader gives each frame's
own timestamp (a browser's recording has no fixed frame rate) and its rotation (a phone's portrait clip is stored
on its side).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from kpdemo.detection import Face, LandmarkPredictor
from kpdemo.draw import draw_faces
from kpdemo.tracking import FaceFollower

#: The annotated copy's longer side: a 4K clip's points are found in its own pixels, but drawn on a copy this size,
#: which a page shows whole and a 2-core server encodes at a few frames a second.
ANNOTATED_MAX_SIDE = 1280
#: What the annotated copy's time stamps count in: milliseconds, so frames keep the times they had.
TIME_BASE = Fraction(1, 1000)


class VideoInputError(ValueError):
    """The file cannot be used as a video; the message is meant for the user."""


#: Largest frame read (8K is 33 M pixels): a 16000x16000 PNG is a valid one-frame "video" that took 1.9 GB to follow.
MAX_FRAME_PIXELS = 40_000_000
#: The video codecs a browser plays (checked in Chromium, in MP4/MOV, WebM and Matroska files; no browser opens an
#: AVI). FFmpeg reads more: MPEG-4 Part 2 (OpenCV's ``mp4v``), Motion JPEG, HEVC on most machines, which the page's
#: preview of an upload cannot show ("Video not playable") though this module reads them.
BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index from 0, its time from the clip's start, its pixels (RGB, upright)."""

    index: int
    seconds: float
    image: np.ndarray


class FramePace:
    """Which frames to keep for at most ``max_fps`` a second (0: every frame), by a schedule: a frame is kept when it
    comes no earlier than a quarter period before the next one is due, and each kept frame moves the schedule on by
    one period. Why a schedule and not "at least a period after the last kept one": WebM and MKV store times in
    whole milliseconds, so a 30 fps clip's gaps run 33, 34, 33 ms, and that rule dropped every third frame of it;
    a schedule also keeps a 30.5 fps clip at 30, not 15."""

    def __init__(self, max_fps: float) -> None:
        self.period = 1.0 / max_fps if max_fps else 0.0
        self.due: float | None = None
        self.last = -math.inf  # the last kept frame's time

    def keep(self, seconds: float) -> bool:
        if not self.period:
            return True
        if self.due is not None and self.due - 0.25 * self.period <= seconds < self.due + self.period:
            self.due += self.period  # on schedule
        elif self.due is not None and self.last <= seconds < self.due:
            return False  # early: a frame in between
        else:  # the first frame, or times that jumped (a gap, or back): start afresh
            self.due = seconds + self.period
        self.last = seconds
        return True


class VideoReader:
    """A video file's frames in order, each turned upright; a context manager.

    Raises :class:`VideoInputError` for a file that is not a video FFmpeg can read, or one without a video stream.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise VideoInputError(f"{self.path.name} is not a video that can be read: FFmpeg found no video in it "
                                  "(MP4, MOV, WebM, MKV and AVI clips are read).") from exc
        if not self._container.streams.video:
            self._container.close()
            raise VideoInputError(f"{self.path.name} holds no video stream.")
        self._stream = self._container.streams.video[0]
        width, height = self._stream.codec_context.width, self._stream.codec_context.height
        if width * height > MAX_FRAME_PIXELS:
            self._container.close()
            raise VideoInputError(f"{self.path.name}'s frames are too large ({width}x{height}; at most "
                                  f"{MAX_FRAME_PIXELS / 1e6:.0f} megapixels).")
        if 0 < min(width, height) < 2:
            self._container.close()
            raise VideoInputError(f"{self.path.name}'s frames are too small ({width}x{height}) to hold a face.")
        self._stream.thread_type = "AUTO"  # decode on every core: a 1080p H.264 frame takes ~10 ms on one
        self.stopped_early = False  # set when :meth:`frames` stopped at its ``max_seconds`` before the clip's end
        self.skipped = 0  # frames :meth:`frames` passed over to keep to its ``max_fps``

    @property
    def duration_s(self) -> float | None:
        """The clip's length, when the file says (a browser's recording often does not)."""
        if self._stream.duration is not None and self._stream.time_base is not None:
            return float(self._stream.duration * self._stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    @property
    def coding(self) -> str:
        """The video's codec and container, named for a person ("MPEG-4 part 2 in QuickTime / MOV")."""
        return f"{self._stream.codec_context.codec.long_name} in {self._container.format.long_name}"

    @property
    def browser_plays(self) -> bool:
        """Whether a browser can show the file itself (see :data:`BROWSER_CODECS`)."""
        return (self._stream.codec_context.name in BROWSER_CODECS
                and "avi" not in self._container.format.name.split(","))

    @property
    def frame_rate(self) -> float | None:
        """Frames a second, when the file says."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        return float(rate) if rate else None

    def frames(self, max_seconds: float = 0, max_fps: float = 0) -> Iterator[VideoFrame]:
        """Each frame in turn, upright, up to ``max_seconds`` from the first (0: all of them), and at most ``max_fps``
        a second (0: all; a faster clip's frames in between are passed over, counted in :attr:`skipped`)."""
        start: float | None = None
        pace = FramePace(max_fps)
        try:
            for index, frame in enumerate(self._container.decode(self._stream)):
                seconds = float(frame.time) if frame.time is not None else index / (self.frame_rate or 30.0)
                start = seconds if start is None else start
                if max_seconds and seconds - start >= max_seconds:
                    self.stopped_early = True
                    return
                if not pace.keep(seconds):
                    self.skipped += 1
                    continue
                image = frame.to_ndarray(format="rgb24")
                turns = round((frame.rotation or 0) / 90) % 4  # the display matrix's counter-clockwise turn
                yield VideoFrame(index, seconds - start, np.ascontiguousarray(np.rot90(image, turns)))
        except av.error.FFmpegError as exc:
            if start is None:
                raise VideoInputError(f"{self.path.name} could not be decoded: its video is damaged or in a "
                                      "format FFmpeg cannot read.") from exc
            return  # a clip cut short (an upload that broke off) keeps the frames before the damage

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class VideoWriter:
    """An H.264 MP4 written frame by frame at the frames' own times; sized by its first frame; a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._container = av.open(str(self.path), "w")
        self._stream: av.video.stream.VideoStream | None = None
        self._last_ms = -1

    def write(self, image: np.ndarray, seconds: float) -> None:
        """Add an RGB frame shown from ``seconds``; a frame whose time is not after the last one's is moved on 1 ms,
        and one of another size than the first (a stream that changes resolution) is resized to it."""
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "23"})
            # 4:2:0 needs even sides
            self._stream.width, self._stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.time_base = TIME_BASE
            self._stream.codec_context.time_base = TIME_BASE
        width, height = self._stream.width, self._stream.height
        if image.shape[:2] != (height, width):
            image = image[:height, :width] if image.shape[0] - height in (0, 1) and image.shape[1] - width in (0, 1) \
                else cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        self._last_ms = max(round(seconds * 1000), self._last_ms + 1)
        frame.pts, frame.time_base = self._last_ms, TIME_BASE
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        if self._stream is not None:
            self._container.mux(self._stream.encode())
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class TrackedVideo:
    """What :func:`track_video` made and saw."""

    video: Path  # the annotated copy (H.264 MP4, no sound)
    points: Path  # a CSV row per face per frame: frame, seconds, face id, box, score, uncertainty, each point's x, y
    frames: int  # frames read
    frames_with_face: int
    most_faces: int  # the most faces in one frame
    frames_uncertain: int  # frames with a face whose points are uncertain (measured when read as photos)
    seconds: float  # the time read: up to the last frame's end (its start plus the mean frame interval)
    duration_s: float | None  # the whole clip's length, when its file says
    cut: bool  # True when reading stopped at ``max_seconds`` before the clip's end
    skipped: int  # frames passed over to keep to ``max_fps``
    size: tuple[int, int]  # (width, height) of the frames, the points' pixels
    annotated_size: tuple[int, int]  # (width, height) of the annotated copy
    processing_s: float
    coding: str  # the clip's codec and container (:attr:`VideoReader.coding`)
    browser_plays: bool  # whether a browser shows the clip itself (the annotated copy, H.264, it always does)


def scaled_faces(faces: list[Face], scale: float) -> list[Face]:
    """Copies of ``faces`` with boxes and points scaled, for drawing on a resized frame."""
    return [replace(face, box=face.box * scale, points=face.points * scale) for face in faces]


def annotation_scale(width: int, height: int) -> float:
    """How much a frame of this size is shrunk for the annotated copy (1: not at all)."""
    return min(1.0, ANNOTATED_MAX_SIDE / max(width, height))


def annotated_frame(image: np.ndarray, faces: list[Face], predictor: LandmarkPredictor) -> np.ndarray:
    """The frame as the annotated copy shows it: shrunk to :data:`ANNOTATED_MAX_SIDE`, its faces drawn."""
    height, width = image.shape[:2]
    scale = annotation_scale(width, height)
    if scale < 1:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        faces = scaled_faces(faces, scale)
    return draw_faces(image, faces, predictor.schema)


def points_header(predictor: LandmarkPredictor) -> list[str]:
    """The points CSV's columns: one row per face per frame, a face's points as ``<name>_x``, ``<name>_y``."""
    coordinates = [f"{name}_{axis}" for name in predictor.schema.point_names for axis in ("x", "y")]
    return ["frame", "seconds", "face", "x0", "y0", "x1", "y1", "score", "uncertainty", *coordinates]


def points_row(frame: VideoFrame, face_id: int, face: Face) -> list[object]:
    """One face's row of the points CSV (pixels of the source frame, to 0.1 px); ``face_id`` stays with a face while
    it is followed (:class:`~kpdemo.tracking.FaceFollower`); the uncertainty is left empty where none was measured
    (frames followed rather than read as photos)."""
    values = [round(float(v), 1) for v in (*face.box, *face.points.reshape(-1))]
    uncertainty = "" if face.uncertainty is None else round(float(face.uncertainty), 4)
    return [frame.index, round(frame.seconds, 3), face_id, *values[:4], round(float(face.score), 3), uncertainty,
            *values[4:]]


def track_video(
    path: str | Path,
    predictor: LandmarkPredictor,
    out_dir: str | Path,
    smooth: bool = True,
    max_seconds: float = 0,
    progress: Callable[[float, float | None], None] | None = None,
    as_photos: bool = False,
    max_fps: float = 0,
) -> TrackedVideo:
    """Follow the faces of the video at ``path`` frame by frame, as the Webcam tab does (tracked from the last frame,
    the detector's quick look every tenth, One-Euro smoothing when ``smooth``), reading at most ``max_seconds`` (0:
    all) and ``max_fps`` frames a second (0: all); ``as_photos`` reads each followed face again as a photo
    (:class:`~kpdemo.tracking.FaceFollower`). Writes
    ``<stem>_landmarks.mp4`` and ``<stem>_landmarks.csv`` in ``out_dir``; ``progress(seconds done, clip length or
    None)`` is called as frames go by.

    Raises :class:`VideoInputError` for a file that is not a readable video or holds no frame.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem or "video"
    video_path, points_path = out_dir / f"{stem}_landmarks.mp4", out_dir / f"{stem}_landmarks.csv"
    follower = FaceFollower(predictor, as_photos=as_photos)
    frames = with_face = most_faces = uncertain = 0
    last: VideoFrame | None = None
    with VideoReader(path) as reader, VideoWriter(video_path) as writer, open(points_path, "w", newline="") as table:
        rows = csv.writer(table)
        rows.writerow(points_header(predictor))
        duration, coding, browser_plays = reader.duration_s, reader.coding, reader.browser_plays
        total = min(duration, max_seconds) if duration and max_seconds else duration
        for frame in reader.frames(max_seconds, max_fps):
            faces = follower(frame.image, frame.seconds, smooth)
            rows.writerows(points_row(frame, face_id, face) for face_id, face in zip(follower.ids, faces, strict=True))
            writer.write(annotated_frame(frame.image, faces, predictor), frame.seconds)
            frames, with_face, last = frames + 1, with_face + bool(faces), frame
            uncertain += any(face.uncertain for face in faces)
            most_faces = max(most_faces, len(faces))
            if progress is not None:
                progress(frame.seconds, total)
    if last is None:
        video_path.unlink(missing_ok=True)
        points_path.unlink(missing_ok=True)
        raise VideoInputError(f"{Path(path).name} holds no frame that could be decoded.")
    height, width = last.image.shape[:2]
    scale = annotation_scale(width, height)
    return TrackedVideo(
        video=video_path, points=points_path, frames=frames, frames_with_face=with_face, most_faces=most_faces,
        frames_uncertain=uncertain, seconds=last.seconds * frames / max(frames - 1, 1), duration_s=duration,
        cut=reader.stopped_early, skipped=reader.skipped, size=(width, height),
        annotated_size=(round(width * scale) // 2 * 2, round(height * scale) // 2 * 2),
        processing_s=time.perf_counter() - started, coding=coding, browser_plays=browser_plays,
    )
