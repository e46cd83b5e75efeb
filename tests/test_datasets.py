"""Readers, sample form, splits and errors: on the committed fixtures, and on the real data when present."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kpdemo.config import DataNotFoundError
from kpdemo.datasets import DATASETS, DatasetFormatError, load_dataset
from kpdemo.datasets.readers import parse_asf, read_kaggle_csv
from kpdemo.datasets.splits import group_split
from kpdemo.schemas import KAGGLE15, flip_horizontal


@pytest.fixture
def fixture_root(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KPDEMO_DATA", str(fixtures_dir / "data_root"))
    return fixtures_dir / "data_root"


def test_fixture_readers_give_the_common_sample_form(fixture_root: Path) -> None:
    for name, n, schema in (("ibug300w", 2, "ibug68"), ("ytf68", 4, "ibug68"), ("imm_frontal", 2, "imm73")):
        ds = load_dataset(name)
        assert len(ds) == n
        s = ds[0]
        assert s.image.dtype == np.uint8 and s.image.ndim == 3
        assert s.points.dtype == np.float32 and s.points.shape == (ds.schema.num_points, 2)
        assert s.mask.all() and s.schema == schema


def test_imm_relative_coordinates_become_pixels(fixture_root: Path) -> None:
    rel, host = parse_asf(fixture_root / "imm_frontal_db" / "asf" / "01_01.asf")
    ds = load_dataset("imm_frontal")
    np.testing.assert_allclose(ds.points[0], rel * [800, 600], rtol=1e-6)
    assert host == "01_01.jpg" and ds.identities[0] == "imm01"


def test_ytf_split_keeps_people_together(fixture_root: Path) -> None:
    ds = load_dataset("ytf68")
    for person in set(ds.identities):
        assert len(set(ds.splits[ds.identities == person])) == 1


def test_group_split_is_deterministic_and_disjoint() -> None:
    groups = np.array([f"p{i % 20}" for i in range(200)], dtype=object)
    a, b = group_split(groups, 0.1, 0.2, seed=3), group_split(groups[::-1].copy(), 0.1, 0.2, seed=3)[::-1]
    assert (a == b).all()
    assert {g for g in groups[a == "test"]}.isdisjoint(groups[a == "train"])
    assert len(set(groups[a == "test"])) == 4 and len(set(groups[a == "val"])) == 2


def test_kaggle_csv_reader_masks_gaps(fixtures_dir: Path) -> None:
    ds = read_kaggle_csv(fixtures_dir / "kaggle_training_small.csv")
    assert len(ds) == 3 and ds.images.shape == (3, 96, 96)
    assert ds.mask[0].all() and ds.mask[1].sum() == 7 and not ds.mask[1, 2]
    assert ds.schema.id == "kaggle15"


def test_kaggle_sample_flipped_back_equals_original(fixtures_dir: Path) -> None:
    s = read_kaggle_csv(fixtures_dir / "kaggle_training_small.csv")[0]
    image_flipped = s.image[:, ::-1]
    pts_flipped = flip_horizontal(s.points, 96, KAGGLE15)
    np.testing.assert_array_equal(image_flipped[:, ::-1], s.image)
    np.testing.assert_allclose(flip_horizontal(pts_flipped, 96, KAGGLE15), s.points, atol=1e-4)
    # the subject's left eye of the mirrored face is the mirror of the original right eye, still on the image right
    np.testing.assert_allclose(pts_flipped[0], [96 - s.points[1, 0], s.points[1, 1]], atol=1e-4)
    assert pts_flipped[0, 0] > pts_flipped[1, 0]


def _copy_with(src: Path, dst: Path, transform) -> Path:
    lines = src.read_text().splitlines()
    dst.write_text("\n".join(transform(lines)) + "\n")
    return dst


def test_corrupt_kaggle_rows_name_file_and_row(fixtures_dir: Path, tmp_path: Path) -> None:
    src = fixtures_dir / "kaggle_training_small.csv"

    def short_image(lines: list[str]) -> list[str]:
        lines[2] = lines[2].rsplit(" ", 10)[0]
        return lines

    def bad_number(lines: list[str]) -> list[str]:
        lines[3] = "oops" + lines[3][lines[3].index(","):]
        return lines

    with pytest.raises(DatasetFormatError, match=r"short\.csv, row 3: Image must be 9216"):
        read_kaggle_csv(_copy_with(src, tmp_path / "short.csv", short_image))
    with pytest.raises(DatasetFormatError, match=r"bad\.csv, row 4: column left_eye_center_x is not a number"):
        read_kaggle_csv(_copy_with(src, tmp_path / "bad.csv", bad_number))


def test_corrupt_landmark_row_names_file_and_row(fixture_root: Path, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "data"
    shutil.copytree(fixture_root, root)
    csv = root / "ibug300w_subset" / "landmarks.csv"
    lines = csv.read_text().splitlines()
    cells = lines[2].split(",")
    cells[12] = "n/a"
    lines[2] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("KPDEMO_DATA", str(root))
    with pytest.raises(DatasetFormatError, match=r"landmarks\.csv, row 3 .*column x1 is not a number"):
        load_dataset("ibug300w")


def test_missing_dataset_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPDEMO_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=r"ytf68_udacity/landmarks\.csv.*KPDEMO_DATA"):
        load_dataset("ytf68")
    assert DATASETS["kaggle15"].missing_files()


def test_asf_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.asf"
    bad.write_text("# nothing useful\nseventy-three\n")
    with pytest.raises(DatasetFormatError, match="bad.asf"):
        parse_asf(bad)


# ----------------------------------------------------------------------------- real data (CI has it)

@pytest.mark.needs_data
def test_real_counts() -> None:
    w300 = load_dataset("ibug300w")
    assert len(w300) == 2229 and w300.split_counts()["test"] == 554
    assert len(load_dataset("ytf68")) == 4232
    imm = load_dataset("imm_frontal")
    assert imm.points.shape == (120, 73, 2) and len(set(imm.identities)) == 12
    assert (imm.points[..., 0] <= 800).all() and (imm.points[..., 1] <= 600).all()


@pytest.mark.needs_data
def test_real_splits_are_person_disjoint() -> None:
    for name in ("ytf68", "imm_frontal"):
        ds = load_dataset(name)
        people = {s: set(ds.identities[ds.splits == s]) for s in ("train", "val", "test")}
        assert people["train"].isdisjoint(people["test"]) and people["train"].isdisjoint(people["val"])


@pytest.mark.needs_data
def test_kaggle15_is_kaggle_like() -> None:
    ds = load_dataset("kaggle15")
    assert ds.images.shape == (6461, 96, 96) and ds.points.shape == (6461, 15, 2)
    assert ds.split_counts() == {"train": 4673, "val": 589, "test": 1199}
    assert (ds.points > 0).all() and (ds.points < 96).all()
    right, left = ds.schema.eye_centres(ds.points)
    assert 28 < np.median(np.linalg.norm(left - right, axis=1)) < 40  # Kaggle's faces: ~36 px
    test_sources = set(ds.sources[ds.splits == "test"])
    assert not test_sources & set(ds.sources[ds.splits == "train"])


def test_every_training_set_is_registered_without_the_trainers() -> None:
    """A shipped checkpoint names its training set (``meta.dataset``); shipping, evaluation and a library user look
    it up with only ``kpdemo`` imported, so no experiment module may be the one that registers it."""
    import subprocess
    import sys

    import trainers.grids  # noqa: F401  (every experiment, and whatever its import would register)
    from kpdemo.checkpoints import CheckpointError, load_checkpoint
    from kpdemo.config import CHECKPOINTS_DIR

    fresh = subprocess.run([sys.executable, "-c", "import sys; from kpdemo.datasets import DATASETS; "
                            "print(' '.join(DATASETS)); print(any(m.startswith('trainers') for m in sys.modules))"],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    names, trainers_imported = fresh.stdout.splitlines()
    assert trainers_imported == "False"
    shipped = set()
    for path in CHECKPOINTS_DIR.glob("*.pt"):
        try:
            shipped.add(load_checkpoint(path)[1].dataset)
        except CheckpointError:  # the frontalizer's weights: an image model, not a landmark checkpoint
            continue
    assert shipped and shipped <= set(names.split())
    assert set(names.split()) == {name for name in DATASETS if not name.startswith("user_")}
