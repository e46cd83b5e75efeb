"""Video files: a clip's faces followed frame by frame into an annotated H.264 copy and a points table."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from bench.fake_webcam import ASTRONAUT_FACE_CENTRE, face_frames
from kpdemo.detection import get_predictor
from kpdemo.ui import video as video_tab
from kpdemo.video import VideoInputError, VideoReader, VideoWriter, track_video

FPS = 15


@pytest.fixture(scope="module")
def clip_frames(fixtures_dir: Path) -> list[np.ndarray]:
    """Two seconds of the astronaut drifting and zooming in a 640x480 frame, RGB."""
    image = cv2.imread(str(fixtures_dir / "astronaut.png"), cv2.IMREAD_COLOR)
    return [frame[:, :, ::-1] for frame in face_frames(image, ASTRONAUT_FACE_CENTRE, fps=FPS, seconds=2.0)]


@pytest.fixture(scope="module")
def clip(clip_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "astronaut.mp4"
    with VideoWriter(path) as writer:
        for index, frame in enumerate(clip_frames):
            writer.write(frame, index / FPS)
    return path


def decoded(path: Path) -> list:
    with VideoReader(path) as reader:
        return list(reader.frames())


def test_a_clip_is_followed_frame_by_frame(clip: Path, tmp_path: Path) -> None:
    predictor = get_predictor("checkpoint:ibug68_pip")
    moves: list[tuple[float, float | None]] = []
    result = track_video(clip, predictor, tmp_path, smooth=False, progress=lambda done, total: moves.append((done,
                                                                                                             total)))
    assert (result.frames, result.frames_with_face, result.most_faces, result.cut) == (30, 30, 1, False)
    assert result.size == result.annotated_size == (640, 480)
    assert result.seconds == pytest.approx(2.0, abs=1e-3)  # 30 frames of 1/15 s each
    assert [done for done, _ in moves] == sorted(done for done, _ in moves) and len(moves) == 30
    assert moves[-1][1] == pytest.approx(2.0, abs=0.1)  # the clip's length, from its file

    table = pd.read_csv(result.points)
    assert list(table.columns[:9]) == ["frame", "seconds", "face", "x0", "y0", "x1", "y1", "score", "uncertainty"]
    assert table.shape == (30, 9 + 68 * 2) and list(table["frame"]) == list(range(30))
    assert table["uncertainty"].isna().all()  # followed frames measure none
    assert table["seconds"].to_numpy() == pytest.approx(np.arange(30) / FPS, abs=1e-3)
    # Each frame's followed points lie where a fresh detection on that frame puts them (the webcam path's policy).
    source = decoded(clip)
    followed = table.iloc[:, 9:].to_numpy().reshape(30, 68, 2)
    for frame, points in zip(source, followed, strict=True):
        fresh = predictor.predict(frame.image, video=True)[0].points
        assert np.linalg.norm(points - fresh, axis=1).mean() < 3, frame.index

    copy = decoded(result.video)  # the annotated copy: same frames, same times, the points drawn
    assert [f.image.shape for f in copy] == [(480, 640, 3)] * 30
    assert [f.seconds for f in copy] == pytest.approx([f.seconds for f in source], abs=1e-3)
    assert np.abs(copy[0].image.astype(int) - source[0].image).mean() > 1  # marks were drawn


def test_faces_read_as_photos_are_the_photo_paths_answers(clip: Path, tmp_path: Path) -> None:
    """Each followed face read again as a photo (refined from where it was followed, no face search) lands where
    the photo path, which searches every frame, puts it, and carries the photo path's uncertainty."""
    predictor = get_predictor("checkpoint:ibug68_pip")
    result = track_video(clip, predictor, tmp_path, smooth=False, max_seconds=0.3, as_photos=True)
    table = pd.read_csv(result.points)
    assert result.frames == len(table) == 5 and table["uncertainty"].notna().all()
    for frame, row in zip(decoded(clip)[:5], table.itertuples(index=False), strict=True):
        photo = predictor.predict(frame.image)[0]
        assert np.linalg.norm(np.asarray(row[9:], float).reshape(68, 2) - photo.points, axis=1).mean() < 0.15
        assert row.uncertainty == pytest.approx(photo.uncertainty, abs=5e-4)


def test_each_face_keeps_its_id_while_it_is_followed(fixtures_dir: Path, tmp_path: Path) -> None:
    """Two people, then the left one leaves and comes back: the right one keeps its id all along, the one who came
    back gets a new id (a table row says which person it is, not where the face ranked in its frame)."""
    astronaut = cv2.cvtColor(cv2.imread(str(fixtures_dir / "astronaut.png")), cv2.COLOR_BGR2RGB)
    both = np.hstack([astronaut, astronaut])
    right_only = both.copy()
    right_only[:, :512] = 128
    clip = tmp_path / "two.mp4"
    with VideoWriter(clip) as writer:
        for index, frame in enumerate([both] * 12 + [right_only] * 12 + [both] * 12):
            writer.write(frame, index / FPS)
    table = pd.read_csv(track_video(clip, get_predictor("checkpoint:ibug68_pip"), tmp_path, smooth=False).points)
    left = table["nose_bridge_3_x"] < 512
    right_ids = set(table.loc[~left, "face"])
    assert len(right_ids) == 1 and (~left).sum() == 36  # the right face: in every frame, one id
    # The left face leaves at frame 12; followed faces are checked by the detector's quick look every tenth frame,
    # so it is dropped at frame 20 at the latest, and when it comes back (frame 24) it is someone new.
    assert not (left & table["frame"].between(20, 23)).any()
    before, after = set(table.loc[left & (table["frame"] < 12), "face"]), set(table.loc[left & (table["frame"] >= 24),
                                                                                            "face"])
    assert len(before) == len(after) == 1 and not after & (before | right_ids)


def test_smoothing_steadies_the_points_of_a_still_face(clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    still = tmp_path / "still.mp4"
    with VideoWriter(still) as writer:
        for index in range(20):
            writer.write(clip_frames[0], index / FPS)
    predictor = get_predictor("checkpoint:ibug68_pip")
    steps = {}
    for smooth in (False, True):
        points = pd.read_csv(track_video(still, predictor, tmp_path / str(smooth), smooth).points).iloc[:, 9:]
        steps[smooth] = np.abs(np.diff(points.to_numpy(), axis=0)).mean()
    assert steps[True] < steps[False]


def test_reading_stops_at_the_limit(clip: Path, tmp_path: Path) -> None:
    result = track_video(clip, get_predictor("checkpoint:ibug68_pip"), tmp_path, max_seconds=1.0)
    assert (result.frames, result.cut) == (15, True)
    assert len(pd.read_csv(result.points)) == 15 and len(decoded(result.video)) == 15


def test_frames_above_the_rate_limit_are_skipped(clip: Path, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """A public server reads at most ``KPDEMO_MAX_VIDEO_FPS`` frames a second: a 400 fps clip passed the seconds cap
    and cost ~50 CPU-minutes. The 15 fps clip read at 5 a second keeps every third frame, over its whole length."""
    result = track_video(clip, get_predictor("checkpoint:ibug68_pip"), tmp_path, max_fps=5)
    assert (result.frames, result.skipped, result.cut) == (10, 20, False)
    assert pd.read_csv(result.points)["frame"].tolist() == list(range(0, 30, 3))
    monkeypatch.setattr(video_tab, "OUTPUTS_DIR", tmp_path)
    monkeypatch.setenv("KPDEMO_MAX_VIDEO_FPS", "5")
    status = video_tab.track(str(clip), "checkpoint:ibug68_pip", True, False, progress=lambda *a, **k: None)[2]
    assert "20 frames in between were skipped to keep to this server's 5 frames a second" in status


def test_a_clip_timed_in_milliseconds_keeps_every_frame_at_its_own_rate(clip_frames: list[np.ndarray],
                                                                         tmp_path: Path) -> None:
    """WebM and MKV store times in whole milliseconds: a 30 fps clip's frames come 33, 34, 33 ms apart. Capped at
    30 a second it keeps them all, and at 15 a second every other one (the first cap, "at least 1/30 s after the
    last kept frame", dropped a third of them)."""
    path = tmp_path / "ms.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for index, image in enumerate(clip_frames[:30]):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(index * 1000 / 30), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    for fps, kept in ((30, 30), (15, 15)):
        with VideoReader(path) as reader:
            assert len(list(reader.frames(max_fps=fps))) == kept and reader.skipped == 30 - kept


@pytest.mark.parametrize("size, message", [((1, 64), "too small"), ((7000, 6000), "too large")])
def test_frames_no_face_fits_in_or_too_large_to_hold_are_refused(size: tuple[int, int], message: str,
                                                                 tmp_path: Path) -> None:
    """A one-pixel-wide "video" (an image) failed inside the H.264 encoder; a 16000x16000 PNG took 1.9 GB."""
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.zeros((size[1], size[0], 3), np.uint8))
    with pytest.raises(VideoInputError, match=f"frame.png's frames are {message}"):
        track_video(path, get_predictor("checkpoint:ibug68_pip"), tmp_path / "out")


def test_a_phone_clip_stored_on_its_side_is_read_upright(clip: Path, clip_frames: list[np.ndarray],
                                                         tmp_path: Path) -> None:
    """A phone held upright stores its frames turned a quarter and says so in the file (a display matrix); the
    reader turns them back, so faces are found upright and points are in the upright frame's pixels."""
    stored = tmp_path / "stored.mp4"
    with VideoWriter(stored) as writer:
        for index, frame in enumerate(clip_frames[:5]):
            writer.write(np.rot90(frame, 1), index / FPS)  # turned anticlockwise, as the sensor saw it
    phone = tmp_path / "phone.mp4"
    with av.open(str(stored)) as source, av.open(str(phone), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        stream.set_display_rotation(-90)  # "turn a quarter clockwise to show"
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    frames = decoded(phone)
    assert frames[0].image.shape == (480, 640, 3)
    assert np.abs(frames[0].image.astype(int) - clip_frames[0]).mean() < 6  # upright again (H.264 noise aside)


def test_what_is_no_video_gets_a_message_naming_it(tmp_path: Path, fixtures_dir: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    for path in (notes, empty):
        with pytest.raises(VideoInputError, match=path.name):
            track_video(path, get_predictor("checkpoint:ibug68_pip"), tmp_path / "out")
    assert not list((tmp_path / "out").glob("*"))  # nothing half-written is left


def test_the_tab_reports_what_it_followed_and_the_limit(clip: Path, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setattr(video_tab, "OUTPUTS_DIR", tmp_path)
    monkeypatch.setenv("KPDEMO_MAX_VIDEO_SECONDS", "1")
    copy, points, status = video_tab.track(str(clip), "checkpoint:ibug68_pip", True, False,
                                           progress=lambda *a, **k: None)
    assert Path(copy).is_file() and Path(points).is_file()
    assert status.startswith("Followed 15 frames") and "a face in 15 of them" in status
    assert "Only the first 1 s of 2 s were read" in status and "not one browsers play" not in status

    copy, points, status = video_tab.track(None, "checkpoint:ibug68_pip", True, False, progress=lambda *a, **k: None)
    assert (copy, points) == (None, None) and "Upload or record a video first" in status


@pytest.mark.parametrize(("name", "fourcc", "coding"), [("mp4v.mp4", "mp4v", "MPEG-4 part 2 in QuickTime / MOV"),
                                                     ("mjpeg.avi", "MJPG", "in AVI")])
def test_a_clip_browsers_cannot_preview_is_read_and_its_copy_plays(
        name: str, fourcc: str, coding: str, clip_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """OpenCV's mp4v MP4 and an MJPEG AVI: the page's preview says "Video not playable"; the status says that was only
    the preview, and the annotated copy is H.264 (yuv420p, what browsers play). A clip a browser plays gets no such
    note."""
    path = tmp_path / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (640, 480))
    for frame in clip_frames[:FPS]:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    monkeypatch.setattr(video_tab, "OUTPUTS_DIR", tmp_path / "out")
    copy, _, status = video_tab.track(str(path), "checkpoint:ibug68_pip", True, False, progress=lambda *a, **k: None)
    assert status.startswith(f"Followed {FPS} frames") and "is not one browsers play" in status, status
    assert coding in status and "the annotated copy (H.264 MP4) plays here" in status, status
    with av.open(copy) as container:
        stream = container.streams.video[0]
        assert (container.format.name.split(",")[0], stream.codec_context.name, stream.codec_context.pix_fmt) == (
            "mov", "h264", "yuv420p")
    with VideoReader(copy) as reader:
        assert reader.browser_plays


def test_a_clip_cut_short_says_so(clip_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    """An upload that broke off: the file states the whole length, its frames stop early; what was read is kept."""
    whole = tmp_path / "whole.mkv"  # Matroska: the length is in the header, the frames follow
    with VideoWriter(whole) as writer:
        for index, frame in enumerate(clip_frames):
            writer.write(frame, index / FPS)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    monkeypatch.setattr(video_tab, "OUTPUTS_DIR", tmp_path / "out")
    copy, points, status = video_tab.track(str(cut), "checkpoint:ibug68_pip", True, False,
                                           progress=lambda *a, **k: None)
    assert copy and points and "The file says the clip lasts 2.0 s, but its frames end at" in status, status


def test_frames_of_another_size_are_fitted_to_the_first(clip_frames: list[np.ndarray], tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.mp4"
    with VideoWriter(mixed) as writer:
        writer.write(clip_frames[0][:479, :639], 0.0)  # odd sides: cut to even
        writer.write(cv2.resize(clip_frames[1], (320, 240)), 0.1)  # a stream that changed resolution
    assert [f.image.shape for f in decoded(mixed)] == [(478, 638, 3)] * 2


def test_old_outputs_are_removed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(video_tab, "OUTPUTS_DIR", tmp_path)
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    now = new.stat().st_mtime
    video_tab.remove_old_outputs(now + video_tab.KEEP_OUTPUTS_S - 1)
    assert old.exists()
    video_tab.remove_old_outputs(now + video_tab.KEEP_OUTPUTS_S + 1)
    assert not old.exists() and not new.exists()
