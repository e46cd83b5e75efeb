"""The sweep benches (``bench/rotation.py``, ``bench/closeup.py``, ``bench/small_faces.py``, ``bench/low_light.py``,
``bench/blur.py``, ``bench/occlusion.py``, ``bench/jpeg.py``, ``bench/side_light.py``, ``bench/motion_blur.py``) and
the test faces sorted by yaw (``bench/yaw.py``) on a few real test faces: their copies keep image and points
together, and the shipped 68-point model keeps its accuracy across the sweep."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bench import blur, closeup, jpeg, low_light, motion_blur, occlusion, rotation, side_light, small_faces, yaw
from bench.accuracy import predictors_for, saved_with, updated
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


def test_a_shrunk_face_keeps_its_points_on_the_pixels_they_mark() -> None:
    """A blob drawn at the nose tip (continuous coordinates) has its centroid on the shrunk nose tip, to a tenth of a
    pixel: a half-pixel drift would pass for a percent of NME on a 30 px face."""
    faces = held_out("test", 2)
    nose = faces.points[:, 30].astype(np.float64)
    ys, xs = np.mgrid[:faces.image(0).shape[0], :faces.image(0).shape[1]] + 0.5
    blobs = np.stack([np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 8.0 ** 2)) for x, y in nose])
    images = np.repeat((255 * blobs).astype(np.uint8)[..., None], 3, axis=3)
    drawn = faces.remade(faces.name, list(images), list(faces.points))
    small = small_faces.shrunk(drawn, 48)
    assert small.image(0).shape == (*small_faces.FRAME, 3)
    # the shrunk picture's sides are whole pixels, so the box is 48 px to within a pixel's rounding
    np.testing.assert_allclose((small.points.max(1) - small.points.min(1)).max(1), 48, atol=0.5)
    for i in range(len(small)):
        # a window around the expected point: all of it inside the pasted crop, away from the grey around it
        x, y = np.round(small.points[i, 30]).astype(int)
        weight = small.image(i)[y - 12:y + 12, x - 12:x + 12, 0].astype(np.float64)
        gy, gx = np.mgrid[y - 12:y + 12, x - 12:x + 12] + 0.5
        centroid = np.array([(weight * gx).sum(), (weight * gy).sum()]) / weight.sum()
        np.testing.assert_allclose(centroid, small.points[i, 30], atol=0.1)


def test_a_face_is_never_enlarged() -> None:
    with pytest.raises(ValueError, match="would enlarge it"):
        small_faces.shrunk(held_out("test", 1), 400)


def test_less_light_means_more_noise_not_a_darker_picture() -> None:
    """The camera's gain makes up the light: the picture keeps its brightness while its noise grows about as one
    over the square root of the light; the noise is the same on every call (every model sees the same pictures)."""
    faces = held_out("test", 2)
    original = faces.image(0).astype(np.float64)
    noise = {}
    for light in (1.0, 1 / 16, 1 / 64):
        dim = low_light.dimmed(faces, light)
        np.testing.assert_array_equal(dim.points, faces.points)
        difference = dim.image(0).astype(np.float64) - original
        assert abs(difference.mean()) < 15  # grey levels (noise clipped at black lifts the shadows a little)
        noise[light] = difference.std()
        np.testing.assert_array_equal(low_light.dimmed(faces, light).image(0), dim.image(0))
    assert noise[1.0] < 10 and 1.5 < noise[1 / 64] / noise[1 / 16] < 2.5, noise  # sqrt(4) = 2


def test_blur_keeps_the_points_and_sigma_0_the_image() -> None:
    faces = held_out("test", 2)
    np.testing.assert_array_equal(blur.blurred(faces, 0).image(1), faces.image(1))
    soft = blur.blurred(faces, 4)
    np.testing.assert_array_equal(soft.points, faces.points)
    assert np.abs(np.diff(soft.image(1).astype(float), axis=1)).mean() < np.abs(
        np.diff(faces.image(1).astype(float), axis=1)).mean() / 2


def test_an_occluder_covers_its_share_of_the_face_and_grows_in_place() -> None:
    """Cover 0 leaves the picture; a larger cover hides a larger ellipse about the same centre (every pixel hidden
    at 0.2 is hidden at 0.4) of about its share of the face's landmark box (less where it passes the picture's
    side); the points never move."""
    faces = held_out("test", 4)
    np.testing.assert_array_equal(occlusion.covered(faces, 0).image(2), faces.image(2))
    hidden = {}
    for cover in (0.2, 0.4):
        copy = occlusion.covered(faces, cover)
        np.testing.assert_array_equal(copy.points, faces.points)
        hidden[cover] = np.stack([np.any(copy.image(i) != faces.image(i), axis=2) for i in range(len(faces))])
        box = np.prod(faces.points.max(1) - faces.points.min(1), axis=1)
        share = hidden[cover].sum((1, 2)) / box
        assert (share > 0.5 * cover).all() and (share < 1.3 * cover).all(), share  # 1.3: the feathered rim
    assert not (hidden[0.2] & ~hidden[0.4]).any()


def test_a_poorer_jpeg_loses_more_of_the_picture_and_moves_no_point() -> None:
    faces = held_out("test", 4)
    error = {}
    for quality in (90, 30, 5):
        copy = jpeg.compressed(faces, quality)
        np.testing.assert_array_equal(copy.points, faces.points)
        assert copy.image(0).shape == faces.image(0).shape and copy.image(0).dtype == np.uint8
        error[quality] = np.mean([np.abs(copy.image(i).astype(int) - faces.image(i)).mean() for i in range(4)])
    assert error[90] < 2 < error[30] < error[5], error  # 90: the stored quality, re-encoded nearly losslessly


def test_side_light_darkens_one_half_of_the_face_and_leaves_the_other() -> None:
    """Contrast 1 is the picture; below it, the pixels on one side of the face's centre keep their value and those
    on the other fall by about the contrast in linear light (a 1/16 shadow: to about a third in sRGB); the side
    and edge are the same at every contrast, so a stronger shadow darkens the same pixels more."""
    faces = held_out("test", 4)
    assert side_light.side_lit(faces, 1.0) is faces
    means = {}
    for contrast in (0.25, 0.0625):
        copy = side_light.side_lit(faces, contrast)
        np.testing.assert_array_equal(copy.points, faces.points)
        ratio = (copy.image(0).astype(float) + 1) / (faces.image(0).astype(float) + 1)
        means[contrast] = ratio.mean(2)
        lit, dark = np.quantile(means[contrast], [0.95, 0.05])
        assert lit > 0.97 and dark < contrast ** (1 / low_light.GAMMA) + 0.1, (contrast, lit, dark)
    assert (means[0.0625] <= means[0.25] + 0.02).all()


def test_motion_blur_smears_along_one_line_and_keeps_the_points() -> None:
    """The kernel is a line of the asked length (its weight sums to one, and spreads along the angle, not across
    it); length 0 is the picture; the smear is the same on every call."""
    kernel = motion_blur.line_kernel(16, 0)
    assert kernel.shape == (17, 17) and np.isclose(kernel.sum(), 1)
    assert kernel.sum(0).max() < 0.1 and kernel.sum(1).max() > 0.9  # horizontal: spread over columns, one row
    faces = held_out("test", 2)
    assert motion_blur.smeared(faces, 0) is faces
    copy = motion_blur.smeared(faces, 16)
    np.testing.assert_array_equal(copy.points, faces.points)
    np.testing.assert_array_equal(copy.image(1), motion_blur.smeared(faces, 16).image(1))
    assert np.abs(copy.image(1).astype(int) - faces.image(1)).mean() > 2


def test_yaw_bins_hold_every_face_once(tmp_path: Path) -> None:
    """The bins split the pooled common and challenging faces between them; the one rerun model keeps its rows."""
    out = tmp_path / "yaw.csv"
    yaw.main(["--bins", "0", "30", "--limit", "4", "--models", MODEL, "--out", str(out)])
    table = pd.read_csv(out)
    assert table["yaw_from"].tolist() == [0, 30] and table["images"].sum() == 8
    assert table["dataset"].eq("ibug300w_full test").all() and out.with_suffix(".png").exists()
    assert (table["found_rate"] == 1).all() and (table["nme_found_mean"] < 0.1).all(), table
    with pytest.raises(SystemExit):
        yaw.main(["--bins", "10", "30", "--out", str(out)])  # bins must start at 0


def test_a_named_model_outside_the_lineup_is_scored_not_dropped() -> None:
    """A candidate compared on validation (here another schema's checkpoint) joins the lineup's models named."""
    names = [p.name for p in predictors_for("ibug68", ["checkpoint:kaggle15_pip", "checkpoint:ibug68_pip"])]
    assert names == ["ibug68_pip", "kaggle15_pip"]


def test_an_update_replaces_one_models_rows_in_place() -> None:
    """``--update``: the retrained model's rows change, the peers' stay, the order is the saved table's."""
    old = pd.DataFrame({"size": [160, 160, 48, 48], "model": ["ours", "peer"] * 2, "nme": [1.0, 2.0, 3.0, 4.0]})
    new = pd.DataFrame({"size": [160, 48], "model": ["ours", "ours"], "nme": [0.5, 0.7]})
    merged = updated(old, new, "size")
    assert merged.to_dict("list") == {"size": [160, 160, 48, 48], "model": ["ours", "peer"] * 2,
                                      "nme": [0.5, 2.0, 0.7, 4.0]}
    # some steps only (accuracy's datasets a model is scored on): the others keep their rows
    assert updated(old, new.iloc[1:], "size")["nme"].tolist() == [1.0, 2.0, 0.7, 4.0]
    # a model new to a step goes last in it
    added = updated(old, pd.DataFrame({"size": [48], "model": ["candidate"], "nme": [0.1]}), "size")
    assert added["model"].tolist() == ["ours", "peer", "ours", "peer", "candidate"]
    with pytest.raises(ValueError, match="rerun every model"):
        updated(old, pd.DataFrame({"size": [96], "model": ["ours"], "nme": [0.5]}), "size")


def test_an_update_keeps_the_saved_rows_to_the_last_bit(tmp_path: Path) -> None:
    """The rows not rerun are read back exactly as written, so an update changes no digit of a peer's row."""
    old = pd.DataFrame({"size": [160, 160], "model": ["ours", "peer"], "nme": [0.1, (0.1 + 0.2) / 7]})
    out = tmp_path / "sweep.csv"
    old.to_csv(out, index=False)
    merged = saved_with(out, pd.DataFrame({"size": [160], "model": ["ours"], "nme": [0.5]}), "size")
    assert merged["nme"].tolist() == [0.5, (0.1 + 0.2) / 7]


@pytest.mark.parametrize("bench, args", [
    (rotation, ["--angles", "0", "90", "180"]),
    (closeup, ["--windows", "1.4", "0.8"]),
    (small_faces, ["--sizes", "160", "48"]),
    (low_light, ["--lights", "1", "0.125"]),
    (blur, ["--sigmas", "0", "2"]),
    (occlusion, ["--covers", "0", "0.1"]),
    (jpeg, ["--qualities", "90", "10"]),
    (side_light, ["--contrasts", "1", "0.25"]),
    (motion_blur, ["--lengths", "0", "8"]),
])
def test_the_shipped_model_holds_across_the_sweep(tmp_path: Path, bench, args: list[str]) -> None:
    out = tmp_path / "sweep.csv"
    bench.main([*args, "--limit", "6", "--models", MODEL, "--out", str(out)])
    table = pd.read_csv(out)
    assert len(table) == len(args) - 1 and out.with_suffix(".png").exists()
    assert (table["found_rate"] == 1).all()
    assert (table["nme_found_mean"] < 0.06).all(), table[["nme_found_mean"]]
