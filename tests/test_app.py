"""The web app: handlers called directly, then ``app.py`` started for real and driven through gradio_client."""

from __future__ import annotations

import base64
import io
import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.app_server import running_app
from kpdemo.detection import read_image
from kpdemo.ui.align import align
from kpdemo.ui.detect import detect
from kpdemo.ui.webcam import process_frame

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request only warns


def test_detect_handler_reports_bad_input_then_recovers(tmp_path: Path, fixtures_dir: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    image, coords, status = detect(str(text), "mediapipe468")
    assert image is None and coords is None and "not an image" in status
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), (120, 120, 120)).save(blank)
    assert "No face found" in detect(str(blank), "mediapipe468")[2]
    assert "not available" in detect(str(fixtures_dir / "astronaut.png"), "run:gone/away")[2]
    assert "Upload an image" in detect(None, "mediapipe468")[2]
    image, coords, status = detect(str(fixtures_dir / "astronaut.png"), "mediapipe468")
    assert image.shape == (512, 512, 3) and len(coords["faces"]) == 1 and "1 face found" in status


def test_image_tabs_refuse_an_image_too_small_or_fully_transparent(tmp_path: Path, fixtures_dir: Path) -> None:
    """An 8x8 image "found" a face (the detector enlarges it and finds one in noise), and a fully transparent PNG
    "1 face found" in the colours under its alpha: both are refused with the reason, in Detect and Align alike."""
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "tiny.png")
    cleared = Image.open(fixtures_dir / "astronaut.png").convert("RGBA")
    cleared.putalpha(0)
    cleared.save(tmp_path / "cleared.png")
    for name, reason in (("tiny.png", "tiny.png is only 8x8 pixels: too small to hold a face (at least 32 px a side)"),
                         ("cleared.png", "cleared.png is fully transparent")):
        image, coords, status = detect(str(tmp_path / name), "checkpoint:ibug68_pip")
        assert image is None and coords is None and status.startswith(f"**Error:** {reason}"), status
        annotated, gallery, status = align(str(tmp_path / name), "checkpoint:ibug68_pip", "112")
        assert annotated is None and gallery == [] and status.startswith(f"**Error:** {reason}"), status


def test_align_handler_gives_one_face_per_size(fixtures_dir: Path) -> None:
    for size in (112, 256):
        annotated, gallery, status = align(str(fixtures_dir / "astronaut.png"), "mediapipe478", size)
        assert len(gallery) == 1 and gallery[0][0].shape == (size, size, 3), status


def test_align_handler_adds_the_learned_frontal_face_when_asked(fixtures_dir: Path) -> None:
    from kpdemo.frontalize import DEFAULT_CHECKPOINT

    if not DEFAULT_CHECKPOINT.exists():
        pytest.skip("no shipped frontalization model")
    _, gallery, status = align(str(fixtures_dir / "astronaut.png"), "mediapipe478", 112, learned=True)
    assert len(gallery) == 2, status
    frontal, caption = gallery[1]
    assert frontal.shape == (128, 128, 3) and "frontalized" in caption
    assert frontal.std() > 10, "the frontalized face is flat"


def test_webcam_counts_frames_and_frames_with_face(fixtures_dir: Path) -> None:
    face = read_image(fixtures_dir / "astronaut.png")
    blank = np.zeros((480, 640, 3), np.uint8)
    session = None
    for frame in (face, blank, face):
        out, status, session = process_frame(frame, "mediapipe468", True, session)
        assert out.shape == frame.shape
    assert status.startswith("frames: 3, with face: 2, fps: ")
    _, status, session = process_frame(np.zeros(3), "mediapipe468", True, session)  # junk frame: reported, no crash
    assert "error" in status and session.frames == 3


# ---------------------------------------------------------------- the real app in a subprocess


@contextmanager
def serve_app(tmp_path_factory: pytest.TempPathFactory, **env_vars: str) -> Iterator[str]:
    """``python app.py`` on a free port with its own runs folder and ``env_vars``; yields its URL once it answers.

    Shared with test_api.py, which needs the same real start-up with other settings.
    """
    env = {"KPDEMO_RUNS": str(tmp_path_factory.mktemp("runs"))} | env_vars
    with running_app(tmp_path_factory.mktemp("app") / "app.log", **env) as app:
        yield app.url


def bad_uploads(folder: Path) -> dict[Path, str]:
    """Files a visitor may hand the image input, each with what the app's message says about it."""
    files = {"empty.png": (b"", " is not an image"), "notes.txt": (b"not a picture", " is not an image"),
             "face.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', " is not an image"),
             "model.png": ((REPO / "checkpoints" / "kaggle15_pip.pt").read_bytes()[:4096], " is not an image"),
             "bomb.png": (png_bomb(30000), " is too large to open safely")}
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
    files["cut.jpg"] = (buffer.getvalue()[:600], " is not an image that can be read: the file is corrupt")
    tiny = folder / "tiny.png"
    Image.new("RGB", (4, 4), (120, 120, 120)).save(tiny)
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {folder / name: name + message for name, (_, message) in files.items()} | {
        tiny: "tiny.png is only 4x4 pixels: too small to hold a face"}


def test_image_input_hands_the_handler_an_undecoded_path(tmp_path: Path) -> None:
    import gradio as gr
    from gradio import utils as gradio_utils
    from gradio.data_classes import ImageData

    from kpdemo.ui.image_path import ImagePath

    uploads = Path(gradio_utils.get_upload_folder()) / f"kpdemo-test-{tmp_path.name}"  # where Gradio keeps uploads
    uploads.mkdir(parents=True, exist_ok=True)
    try:
        for path in bad_uploads(uploads):
            assert ImagePath(type="filepath").preprocess(ImageData(path=str(path), orig_name=path.name)) == str(path)
        with pytest.raises(Exception, match="cannot identify image file"):  # why ImagePath exists: Gradio decodes
            gr.Image(type="filepath").preprocess(ImageData(path=str(uploads / "notes.txt"), orig_name="notes.txt"))
    finally:
        shutil.rmtree(uploads)
    # a raw API call may name any path: only uploads are read (nor does the answer say whether the file exists)
    for outside in (REPO / "README.md", Path("/etc/no-such-file")):
        with pytest.raises(gr.Error, match="Only an uploaded image can be read"):
            ImagePath(type="filepath").preprocess(ImageData(path=str(outside), orig_name=outside.name))
    # an image sent inline reaches the handler undecoded too, so read_image can say what is wrong with it
    notes = b"not an image"
    path = ImagePath(type="filepath").preprocess(
        ImageData(url="data:image/png;base64," + base64.b64encode(notes).decode(), orig_name="notes.png"))
    assert Path(path).read_bytes() == notes and Path(path).name == "notes.png"
    with pytest.raises(gr.Error, match="could not be decoded"):
        ImagePath(type="filepath").preprocess(ImageData(url="data:image/png;base64,abc"))


def png_bomb(side: int) -> bytes:
    """A valid ``side`` x ``side`` grey PNG of zeros: under a megabyte on disk, ``side``\u00b2 pixels decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    squeeze = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + one grey byte per pixel
    pixels = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_app(tmp_path_factory) as url:
        yield url


def test_app_api_detect_bad_input_and_align(app_url: str, tmp_path: Path, fixtures_dir: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    astronaut = handle_file(str(fixtures_dir / "astronaut.png"))
    annotated, coords, status = client.predict(astronaut, "mediapipe468", api_name="/detect")
    assert Image.open(annotated).size == (512, 512)
    assert len(coords["faces"]) == 1 and len(coords["faces"][0]["points"]) == 468, status

    for path, message in bad_uploads(tmp_path).items():  # through the Image input, whose own decoding is skipped
        annotated, coords, status = client.predict(handle_file(str(path)), "mediapipe468", api_name="/detect")
        assert annotated is None and message in status, status

    annotated, coords, status = client.predict(astronaut, "mediapipe478", api_name="/detect")  # still works
    assert len(coords["faces"][0]["points"]) == 478

    annotated, gallery, status = client.predict(astronaut, "mediapipe468", "256", api_name="/align")
    assert len(gallery) == 1 and Image.open(gallery[0]["image"]).size == (256, 256), status
