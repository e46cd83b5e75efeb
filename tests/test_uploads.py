"""Bring your own data: uploads of each format import as datasets the registry finds and the trainer trains; broken
uploads are refused with a message naming the file and row, and leave nothing behind.

Fixtures: ``tests/fixtures/uploads/`` (made by ``make_uploads.py`` from the astronaut photo) and the Kaggle-format
``tests/fixtures/kaggle_training_small.csv``.
"""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from kpdemo.config import runs_dir
from kpdemo.dashboard import RunSet
from kpdemo.datasets import DATASETS, get_dataset, load_dataset, uploads
from kpdemo.datasets.registry import refresh_imported
from kpdemo.deployment import Limits, current_limits
from kpdemo.detection.registry import get_predictor, predictor_choices
from kpdemo.runs import read_record
from trainers.engine.config import TrainConfig
from trainers.engine.train import run_config
from trainers.grids import QUICK

UPLOADS = Path(__file__).parent / "fixtures" / "uploads"


@pytest.fixture
def limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Limits:
    """A private user area (local limits: nothing capped) that the registry and ``runs_dir`` use too."""
    monkeypatch.setenv("KPDEMO_USER_AREA", str(tmp_path / "area"))
    monkeypatch.setenv("KPDEMO_RUNS", str(tmp_path / "runs"))
    for name in ("SPACE_ID", "KPDEMO_PUBLIC", "KPDEMO_MAX_UPLOAD_IMAGES"):
        monkeypatch.delenv(name, raising=False)
    yield current_limits()
    monkeypatch.undo()
    refresh_imported()  # forget this test's datasets


def nothing_kept(limits: Limits) -> bool:
    """No dataset folder and no leftover of a half-done import."""
    leftovers = [*limits.datasets_dir.glob("*"), *limits.incoming_dir.glob("*")]
    return not leftovers


@pytest.mark.parametrize(("upload", "fmt", "schema", "faces", "labelled"), [
    ("kaggle_training_small.csv", "kaggle_csv", "kaggle15", 3, 37 / 45),  # row 3 has 8 of its 15 points blank
    ("uploads/ibug_ok.zip", "ibug_pts", "ibug68", 4, 1.0),
    ("uploads/points68_ok.zip", "points_csv", "ibug68", 4, 1.0),
    ("uploads/points15_ok.zip", "points_csv", "kaggle15", 4, 59 / 60),  # one point left blank
])
def test_each_format_imports_as_a_registered_dataset(limits: Limits, fixtures_dir: Path, upload: str, fmt: str,
                                                     schema: str, faces: int, labelled: float) -> None:
    manifest = uploads.import_upload(fixtures_dir / upload, "", limits)
    stem = Path(upload).stem
    assert (manifest.name, manifest.format, manifest.schema, manifest.faces) == (f"user_{stem}", fmt, schema, faces)
    assert manifest.own_point_crops == (fmt != "kaggle_csv")  # zip faces are cut around their own points

    data = load_dataset(manifest.name)  # found through the registry like any dataset
    assert manifest.name in DATASETS and get_dataset(manifest.name).schema == schema
    assert len(data) == faces and data.schema.id == schema
    assert all(n >= 1 for n in data.split_counts().values())
    assert data.mask.mean() == pytest.approx(labelled)
    size = data.images.shape[1]
    assert data.images.shape[1:3] == (size, size) and size == uploads.CROP_SIZE
    inside = data.points[data.mask]
    assert ((inside >= 0) & (inside <= size)).all()  # the crop holds the face's points


def test_identity_column_keeps_a_person_in_one_split(limits: Limits) -> None:
    data = load_dataset(uploads.import_upload(UPLOADS / "points68_ok.zip", "people", limits).name)
    by_person = {}
    for person, split in zip(data.identities, data.splits, strict=True):
        by_person.setdefault(person, set()).add(split)
    assert len(by_person) == 4 and all(len(s) == 1 for s in by_person.values())


@pytest.mark.parametrize(("upload", "message"), [
    ("uploads/ibug_wrong_count.zip",
     r"^ibug_wrong_count\.zip: faces/astro_2\.pts: 67 points .*hold 68$"),
    ("uploads/ibug_bad_image.zip", r"^ibug_bad_image\.zip: faces/astro_1\.jpg: not an image that can be decoded$"),
    ("uploads/ibug_traversal.zip", r"^ibug_traversal\.zip: member '\.\./astro_9\.(jpg|pts)' points outside"),
    ("uploads/points_bad_row.zip", r"^points_bad_row\.zip: images/points\.csv, row 3: column x5 is not a number"),
    ("uploads/kaggle_bad_row.csv", r"^kaggle_bad_row\.csv, row 3: column nose_tip_x is not a number \('n/a'\)$"),
    ("uploads/make_uploads.py", r"^make_uploads\.py: upload a Kaggle training\.csv or a \.zip"),
])
def test_broken_uploads_are_refused_by_name_and_row(limits: Limits, fixtures_dir: Path, upload: str,
                                                    message: str) -> None:
    with pytest.raises(uploads.UploadError, match=message):
        uploads.import_upload(fixtures_dir / upload, "", limits)
    assert nothing_kept(limits)


def test_an_empty_csv_is_refused_by_name(limits: Limits, tmp_path: Path) -> None:
    empty = tmp_path / "training.csv"
    empty.write_text("")
    with pytest.raises(uploads.UploadError, match=r"^training\.csv is empty: a Kaggle training\.csv has a header"):
        uploads.import_upload(empty, "", limits)


def rezip(tmp_path: Path, source: Path, name: str, change: dict[str, bytes | str | None]) -> Path:
    """A copy of ``source`` zip with members replaced, added, or (value None) removed."""
    path = tmp_path / name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as out:
        for member in src.namelist():
            if member not in change:
                out.writestr(member, src.read(member))
        for member, data in change.items():
            if data is not None:
                out.writestr(member, data)
    return path


def test_zip_contents_are_checked(limits: Limits, tmp_path: Path) -> None:
    ok = UPLOADS / "ibug_ok.zip"
    cases = {
        "no_pts.zip": ({"faces/astro_3.pts": None}, r"faces/astro_3\.jpg: no astro_3\.pts beside it"),
        "orphan.zip": ({"faces/extra.pts": zipfile.ZipFile(ok).read("faces/astro_0.pts")},
                       r"faces/extra\.pts: no image of the same name beside it"),
        "header.zip": ({"faces/astro_0.pts": "68 points, no header\n"}, r"faces/astro_0\.pts: not an iBUG \.pts"),
        "too_few.zip": ({f"faces/astro_{i}.{e}": None for i in (2, 3) for e in ("jpg", "pts")},
                        r"upload at least 3 faces"),
        "far.zip": ({"faces/astro_1.pts": "version: 1\nn_points: 68\n{\n" + "900 5\n" * 68 + "}\n"},
                    r"faces/astro_1\.pts: point \(900, 5\) lies far outside the 128x128 image"),
        "two_csvs.zip": ({"a.csv": "image\n", "b.csv": "image\n", **{f"faces/astro_{i}.pts": None for i in range(4)}},
                         r"found 2 CSV files and no \.pts files"),
    }
    for name, (change, message) in cases.items():
        with pytest.raises(uploads.UploadError, match=rf"^{name.replace('.', '[.]')}: .*{message}"):
            uploads.import_upload(rezip(tmp_path, ok, name, change), "", limits)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(uploads.UploadError, match=r"^junk\.zip: not a readable zip file"):
        uploads.import_upload(tmp_path / "junk.zip", "", limits)
    assert nothing_kept(limits)


def test_points_csv_schema_and_cells_are_checked(limits: Limits, tmp_path: Path) -> None:
    ok = UPLOADS / "points15_ok.zip"
    table = zipfile.ZipFile(ok).read("points.csv").decode().splitlines()

    def with_rows(name: str, header: str, row3: str) -> Path:
        return rezip(tmp_path, ok, name, {"points.csv": "\n".join([header, table[1], row3, *table[3:]]) + "\n"})

    header = table[0]
    cells = table[2].split(",")
    half = ",".join([*cells[:3], "", *cells[4:]])  # point 1's y blank, its x given
    missing = ",".join(["nobody.jpg", *cells[1:]])
    short = ",".join(header.split(",")[:-2])  # 14 points
    for path, message in [
        (with_rows("half.zip", header, half), r"points\.csv, row 3: point 1 has one coordinate blank"),
        (with_rows("missing.zip", header, missing), r"points\.csv, row 3: image 'nobody\.jpg' is not in the zip"),
        (rezip(tmp_path, ok, "short.zip", {"points.csv": short + "\nastro_0.jpg" + ",1" * 28 + "\n"}),
         r"points\.csv: 14 points per face; known point counts: 15 \(kaggle15\), 68 \(ibug68\), 73 \(imm73\)"),
        (rezip(tmp_path, ok, "noimage.zip", {"points.csv": header.replace("image", "file") + "\n"}),
         r"points\.csv: missing column\(s\) image"),
    ]:
        with pytest.raises(uploads.UploadError, match=rf"^{path.name}: {message}"):
            uploads.import_upload(path, "", limits)
    assert nothing_kept(limits)


def test_zip_limits_count_size_and_pixels(limits: Limits, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ok = UPLOADS / "ibug_ok.zip"
    with pytest.raises(uploads.UploadError, match=r"^ibug_ok\.zip: 4 faces; this server imports at most 3 "
                                                  r"\(KPDEMO_MAX_UPLOAD_IMAGES\)$"):
        uploads.import_upload(ok, "", replace(limits, max_upload_images=3))
    with pytest.raises(uploads.UploadError, match=r"^kaggle_training_small\.csv: 3 faces; .* at most 2 "):
        uploads.import_upload(UPLOADS.parent / "kaggle_training_small.csv", "", replace(limits, max_upload_images=2))

    big = tmp_path / "big.zip"  # a member that inflates far beyond what a face photo needs (zeros compress ~1000x)
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("faces/huge.jpg", b"\0" * (uploads.MAX_MEMBER_BYTES + 1))
    assert big.stat().st_size < 1024**2
    with pytest.raises(uploads.UploadError, match=r"^big\.zip: member faces/huge\.jpg is 50 MB uncompressed "
                                                  r"\(at most 50 MB each\)$"):
        uploads.import_upload(big, "", limits)

    wide = np.zeros((8, 5000, 3), np.uint8)  # 40,000 pixels: over a lowered cap, refused before decoding
    monkeypatch.setattr(uploads, "MAX_IMAGE_PIXELS", 39_999)
    png = rezip(tmp_path, ok, "wide.zip", {"faces/astro_0.jpg": cv2.imencode(".png", wide)[1].tobytes()})
    with pytest.raises(uploads.UploadError, match=r"faces/astro_0\.jpg: 5000x8 pixels is too large"):
        uploads.import_upload(png, "", limits)
    assert nothing_kept(limits)


def test_failed_write_keeps_nothing_and_names_never_collide(limits: Limits,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(uploads.np, "savez_compressed", full_disk)
        with pytest.raises(OSError, match="No space left"):
            uploads.import_upload(UPLOADS / "ibug_ok.zip", "mine", limits)
    assert nothing_kept(limits)
    names = [uploads.import_upload(UPLOADS / "ibug_ok.zip", "My faces!", limits).name for _ in range(2)]
    assert names == ["user_my_faces", "user_my_faces-2"]
    assert [m.name for m, _ in uploads.imported_datasets(limits)] == names


def test_imported_dataset_trains_and_its_run_is_discovered(limits: Limits, fixtures_dir: Path) -> None:
    """The whole path: upload -> registry -> the trainers' run_config (quick profile) -> dashboard and model pickers
    -> a predictor that finds the astronaut's face and gives 68 points."""
    manifest = uploads.import_upload(UPLOADS / "ibug_ok.zip", "astro", limits)
    config = replace(TrainConfig(), experiment="byod", dataset=manifest.name, device="cpu", **QUICK)
    run_dir = run_config(config, runs_dir(), show_progress=False)
    record = read_record(run_dir)
    assert record["status"] == "done" and record["config"]["dataset"] == "user_astro"
    assert record["env"]["train_images"] == manifest.splits["train"]

    runs = RunSet.load([run_dir.parent.parent]).experiment("byod")
    assert list(runs.runs["run"]) == [config.run_name()] and len(runs.history) == QUICK["epochs"]
    key = f"run:byod/{config.run_name()}"
    assert key in [k for _, k in predictor_choices(refresh=True)]
    image = cv2.cvtColor(cv2.imread(str(fixtures_dir / "astronaut.png")), cv2.COLOR_BGR2RGB)
    faces = get_predictor(key).predict(image)
    assert len(faces) == 1 and faces[0].points.shape == (68, 2)
