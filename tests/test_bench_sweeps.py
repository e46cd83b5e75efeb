"""The sweep benches (``bench/rotation.py``, ``bench/closeup.py``) on a few real test faces: their copies keep
image and points together, and the shipped 68-point model keeps its accuracy across the sweep."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bench import closeup, rotation
from bench.photo_path import tilted
from bench.sweep import held_out

pytestmark = pytest.mark.needs_data
MODEL = "checkpoint:ibug68_pip"


def test_a_whole_canvas_turn_keeps_every_point_in_view() -> None:
    faces = held_out("test", 4)
    turned = tilted(faces, 45, whole=True)
    side = turned.image(0).shape[0]
    assert side == int(np.ceil(np.hypot(*faces.image(0).shape[:2])))
    assert (turned.points >= 0).all() and (turned.points <= side).all()
    # the centre stays the centre: the turn is about it, on a canvas grown evenly
    half = faces.image(0).shape[0] / 2
    expected = [cv2.getRotationMatrix2D((0, 0), a, 1.0)[:, :2] @ (c - half)
                for c, a in zip(faces.points.mean(1), [45, -45, 45, -45], strict=True)]
    np.testing.assert_allclose(turned.points.mean(1) - side / 2, expected, atol=1e-3)


def test_a_window_frames_the_face_box_at_the_asked_size() -> None:
    faces = held_out("test", 4)
    framed = closeup.framed(faces, 0.8)
    span = (framed.points.max(1) - framed.points.min(1)).max(1)
    np.testing.assert_allclose(span, closeup.FRAME / 0.8, rtol=1e-4)  # the face's box is 1/0.8 of the picture
    assert framed.image(0).shape == (closeup.FRAME, closeup.FRAME, 3)


@pytest.mark.parametrize("bench, args", [
    (rotation, ["--angles", "0", "90", "180"]),
    (closeup, ["--windows", "1.4", "0.8"]),
])
def test_the_shipped_model_holds_across_the_sweep(tmp_path: Path, bench, args: list[str]) -> None:
    out = tmp_path / "sweep.csv"
    bench.main([*args, "--limit", "6", "--models", MODEL, "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == len(args) - 1 and out.with_suffix(".png").exists()
    assert (table["found_rate"] == 1).all()
    assert (table["nme_found_mean"] < 0.06).all(), table[["nme_found_mean"]]
