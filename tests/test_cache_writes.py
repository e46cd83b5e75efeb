"""Output images are written to Gradio's cache by rename: a file a reader has open is never rewritten (the cause of
truncated downloads under load, see kpdemo/ui/cache_writes.py)."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio import processing_utils
from PIL import Image

from kpdemo.ui import cache_writes


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``install()`` for one test; the monkeypatch puts Gradio's own function back afterwards."""
    monkeypatch.setattr(processing_utils, "save_pil_to_cache", processing_utils.save_pil_to_cache)
    cache_writes.install()


def picture() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)


def test_gradio_rewrites_in_place_what_a_reader_has_open(tmp_path: Path) -> None:
    """The bug, shown on Gradio's own function: the second identical save truncates the reader's very file."""
    path = processing_utils.save_img_array_to_cache(picture(), str(tmp_path), format="png")
    with open(path, "rb") as reader:
        processing_utils.save_img_array_to_cache(picture(), str(tmp_path), format="png")
        assert os.fstat(reader.fileno()).st_ino == os.stat(path).st_ino


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("component", [gr.Image(format="png"), gr.Gallery(format="png")], ids=["image", "gallery"])
def test_identical_outputs_leave_an_open_file_whole(component: gr.components.Component, tmp_path: Path) -> None:
    component.GRADIO_CACHE = str(tmp_path)
    first = component.postprocess(picture() if isinstance(component, gr.Image) else [picture()]).model_dump()
    path = first["path"] if isinstance(component, gr.Image) else first[0]["image"]["path"]
    whole = Path(path).read_bytes()
    with open(path, "rb") as reader:
        again = component.postprocess(picture() if isinstance(component, gr.Image) else [picture()]).model_dump()
        assert again == first  # the same file name for the same image, as before
        assert os.fstat(reader.fileno()).st_ino != os.stat(path).st_ino  # replaced, not rewritten
        assert reader.read() == whole  # the reader still gets every byte
    assert Path(path).read_bytes() == whole
    assert sorted(p.name for p in Path(path).parent.iterdir()) == ["image.png"]  # no staging file left behind
    assert np.array_equal(np.asarray(Image.open(path)), picture())


def test_two_writers_of_one_file_each_stage_their_own(tmp_path: Path) -> None:
    """Two processes cutting the same crop cache at once: the second starts and finishes while the first is half
    written. With one fixed temporary name the first's rename then found its file gone (FileNotFoundError)."""
    from kpdemo.files import write_by_rename

    path = tmp_path / "crops.npz"

    def first(out) -> None:
        out.write(b"first half, ")
        write_by_rename(path, lambda other: other.write(b"the other writer's whole file"))
        out.write(b"first's second half")

    write_by_rename(path, first)
    assert path.read_bytes() == b"first half, first's second half"
    assert [p.name for p in tmp_path.iterdir()] == ["crops.npz"]  # no staging file left behind


def test_a_failed_write_leaves_the_old_file_and_no_staging_file(tmp_path: Path) -> None:
    from kpdemo.files import write_by_rename

    path = tmp_path / "best.pt"
    path.write_bytes(b"old")

    def fail(out) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_by_rename(path, fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["best.pt"]
