"""Bring your own data: import an upload of labelled faces as a dataset that trains like a registered one.

Three formats, told apart by the upload itself:

* **Kaggle CSV** (``.csv``): Kaggle Facial Keypoints' ``training.csv``: 30 columns ``left_eye_center_x`` ... +
  ``Image`` (96x96 grey pixels, space-separated); a blank coordinate marks that point unlabelled. Schema ``kaggle15``.
* **iBUG zip** (``.zip`` holding ``.pts`` files): each image (``.jpg .jpeg .png .bmp``) with a 68-point ``.pts`` of
  the same stem beside it (``version: 1`` / ``n_points: 68`` / ``{`` 68 lines ``x y`` ``}``). Schema ``ibug68``.
* **Points-CSV zip** (``.zip`` holding one ``.csv`` and no ``.pts``): columns ``image`` (path inside the zip,
  relative to the CSV) and ``x0, y0, x1, y1, ...``; the number of points picks the schema (15 -> ``kaggle15``,
  68 -> ``ibug68``, 73 -> ``imm73``). Optional ``identity``: faces of one person stay in one split. A blank
  coordinate pair marks that point unlabelled.

Everything is checked before anything is kept: a malformed row, a wrong point count, an image that does not decode,
a zip member whose path leaves the archive, too many or too large members each stop the import with a message that
names the file and row. Zips are read member by member in memory and never extracted. Images of the zip formats are
cut once to the face crop the trainers and the app use (a square ``CROP_SCALE`` x the box of the face's points,
``CROP_SIZE`` px, colour); Kaggle images are already 96 px crops. The faces are split train/val/test (80/10/10, by
identity when given), written to a private temporary folder and renamed into ``<user area>/datasets/<name>/`` in
one step, so a failed import leaves nothing behind. The registry finds the folder as dataset ``user_<name>``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from kpdemo.datasets.base import DatasetFormatError, LandmarkSet
from kpdemo.datasets.kaggle15 import CROP_SCALE
from kpdemo.datasets.readers import KAGGLE_SIZE, read_kaggle_csv
from kpdemo.datasets.splits import group_split
from kpdemo.deployment import Limits, current_limits
from kpdemo.geometry import square_crop_matrix, transform_points
from kpdemo.schemas import IBUG68, IMM73, KAGGLE15

PREFIX = "user_"  # registry name of an imported dataset: user_<folder name>
FACES_FILE = "faces.npz"
MANIFEST_FILE = "dataset.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SCHEMA_BY_POINTS = {s.num_points: s.id for s in (KAGGLE15, IBUG68, IMM73)}
CROP_SIZE = KAGGLE_SIZE  # zip faces are cut to the Kaggle crop size: one size for every imported set
VAL_FRACTION = TEST_FRACTION = 0.1
MAX_MEMBER_BYTES = 50 * 1024**2  # one image or annotation file; larger is not a face photo
MAX_ZIP_BYTES = 2 * 1024**3  # everything in the zip, uncompressed (a zip bomb declares more)
MAX_MEMBERS = 100_000
MAX_IMAGE_PIXELS = 40_000_000  # checked from the header before decoding (a 30000x30000 PNG would need 2.7 GB)
_naming = threading.Lock()


class UploadError(DatasetFormatError):
    """An upload that cannot be imported; the message names the file (and row or member) and what is wrong."""


@dataclass(frozen=True)
class Manifest:
    """``dataset.json`` of an imported dataset: what it is and where it came from."""

    name: str  # the registry name, user_<folder>
    title: str
    schema: str
    format: str  # kaggle_csv | ibug_pts | points_csv
    source: str  # the uploaded file's name
    faces: int
    splits: dict[str, int]
    own_point_crops: bool  # crops cut around the faces' own points (see DatasetSpec.own_point_crops)
    imported: str


@dataclass
class Faces:
    """Faces read from an upload, before splitting: crops, points in them, masks, identities, source labels."""

    schema: str
    images: list[np.ndarray]
    points: list[np.ndarray]
    masks: list[np.ndarray]
    identities: list[str]
    sources: list[str]


def folder_name(text: str) -> str:
    """A safe folder name from what the user typed or the upload's stem (letters, digits, ``-``, ``_``)."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", text.strip().lower()).strip("_-")[:40]
    return slug or "faces"


# --- reading each format -------------------------------------------------------------------------------------------


def decode_image(data: bytes, where: str) -> np.ndarray:
    """RGB uint8 from encoded bytes; the size is read from the header first so a huge image is refused undecoded."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Exception:  # PIL raises many kinds for junk; any of them means "not an image"
        raise UploadError(f"{where}: not an image that can be decoded") from None
    if width * height > MAX_IMAGE_PIXELS:
        raise UploadError(f"{where}: {width}x{height} pixels is too large (at most {MAX_IMAGE_PIXELS:,} pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UploadError(f"{where}: not an image that can be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def parse_pts(text: str, where: str, expected: int = IBUG68.num_points) -> np.ndarray:
    """The points of an iBUG ``.pts`` file, ``(n_points, 2)``; a header, count or number problem names the line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    header = dict(ln.split(":", 1) for ln in lines[:2] if ":" in ln)
    try:
        count = int(header["n_points"])
        body = lines[lines.index("{") + 1 : lines.index("}")]
    except (KeyError, ValueError):
        raise UploadError(f"{where}: not an iBUG .pts file (want 'version: 1', 'n_points: N', '{{', N lines "
                          "'x y', '}')") from None
    if count != expected or len(body) != count:
        raise UploadError(f"{where}: {len(body)} points (n_points says {count}); iBUG .pts files here hold {expected}")
    points = np.empty((count, 2), np.float32)
    for i, line in enumerate(body):
        try:
            points[i] = [float(v) for v in line.split()]
        except ValueError:
            raise UploadError(f"{where}, point {i + 1}: {line!r} is not two numbers") from None
    return points


def check_points(points: np.ndarray, mask: np.ndarray, hw: tuple[int, int], where: str) -> None:
    """Labelled points must lie near the image (within half its size outside it): points far off are another
    image's, or in other units, and would teach the model nonsense."""
    h, w = hw
    labelled = points[mask]
    off = (labelled[:, 0] < -w / 2) | (labelled[:, 0] > 1.5 * w) | \
        (labelled[:, 1] < -h / 2) | (labelled[:, 1] > 1.5 * h)
    if off.any():
        x, y = labelled[int(np.flatnonzero(off)[0])]
        raise UploadError(f"{where}: point ({x:g}, {y:g}) lies far outside the {w}x{h} image")


def face_crop(image: np.ndarray, points: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training crop of one face and its points in it, cut exactly as the app cuts a face for a checkpoint."""
    from kpdemo.detection.checkpoint import cut_crop  # the app's resampling, imported lazily (pulls in detectors)

    matrix = square_crop_matrix(points[mask], CROP_SCALE, CROP_SIZE)
    crop = cut_crop(image, matrix, (CROP_SIZE, CROP_SIZE), 3)
    return crop, np.where(mask[:, None], transform_points(points, matrix), 0).astype(np.float32)


def read_kaggle_upload(path: Path, max_faces: int) -> tuple[LandmarkSet, str]:
    """A Kaggle ``training.csv`` through the ``kaggle_csv`` reader, its messages naming the upload, not a temp path."""
    try:
        data = read_kaggle_csv(path)
    except pd.errors.EmptyDataError:
        raise UploadError(f"{path.name} is empty: a Kaggle training.csv has a header row and a row per face") from None
    except (DatasetFormatError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UploadError(str(exc).replace(str(path), path.name)) from None
    except ValueError:  # group_split: fewer than two rows to split
        raise UploadError(too_few(path.name)) from None
    _check_count(path.name, len(data), max_faces)
    for i in range(len(data)):
        if data.mask[i].any():
            check_points(data.points[i], data.mask[i], (KAGGLE_SIZE, KAGGLE_SIZE), f"{path.name}, row {i + 2}")
    return data, "kaggle_csv"


def too_few(label: str) -> str:
    return f"{label}: upload at least 3 faces (3 people when the CSV has an identity column): one each for " \
           "training, validation and test"


def _check_count(where: str, faces: int, max_faces: int) -> None:
    if max_faces and faces > max_faces:
        raise UploadError(f"{where}: {faces} faces; this server imports at most {max_faces} "
                          "(KPDEMO_MAX_UPLOAD_IMAGES)")


class ZipUpload:
    """A zip read safely: member names checked, sizes and counts bounded, files read one at a time into memory."""

    def __init__(self, archive: zipfile.ZipFile, label: str, max_images: int) -> None:
        self.zip, self.label, self.max_images = archive, label, max_images
        infos = [i for i in self.zip.infolist() if not i.is_dir()]
        if len(infos) > MAX_MEMBERS:
            raise UploadError(f"{self.label}: {len(infos)} files; at most {MAX_MEMBERS} are read")
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or re.match(r"^[a-zA-Z]:", info.filename):
                raise UploadError(f"{self.label}: member {info.filename!r} points outside the archive; refused")
            if info.file_size > MAX_MEMBER_BYTES:
                raise UploadError(f"{self.label}: member {info.filename} is {info.file_size / 1024**2:.0f} MB "
                                  f"uncompressed (at most {MAX_MEMBER_BYTES // 1024**2} MB each)")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise UploadError(f"{self.label}: more than {MAX_ZIP_BYTES // 1024**3} GB uncompressed; refused")
        # macOS adds __MACOSX/ and ._ resource forks: not the user's data
        self.names = {i.filename for i in infos
                      if not i.filename.startswith("__MACOSX/") and not PurePosixPath(i.filename).name.startswith("._")}
        self.images = sorted(n for n in self.names if n.lower().endswith(IMAGE_SUFFIXES))
        _check_count(self.label, len(self.images), max_images)

    def read(self, name: str) -> bytes:
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:  # a damaged member: CRC or deflate error
            raise UploadError(f"{self.label}: member {name} cannot be read ({exc})") from None

    def text(self, name: str) -> str:
        return self.read(name).decode("utf-8-sig", errors="replace")

    def where(self, name: str) -> str:
        return f"{self.label}: {name}"


def read_pts_zip(upload: ZipUpload) -> Faces:
    """Images with a 68-point ``.pts`` beside each; an image without one, or a ``.pts`` without its image, is an
    error."""
    faces = Faces(IBUG68.id, [], [], [], [], [])
    stems = {str(PurePosixPath(n).with_suffix("")) for n in upload.images}
    for pts in sorted(n for n in upload.names if n.lower().endswith(".pts")):
        if str(PurePosixPath(pts).with_suffix("")) not in stems:
            raise UploadError(f"{upload.where(pts)}: no image of the same name beside it")
    for name in upload.images:
        pts = str(PurePosixPath(name).with_suffix(".pts"))
        if pts not in upload.names:
            raise UploadError(f"{upload.where(name)}: no {PurePosixPath(pts).name} beside it")
        points = parse_pts(upload.text(pts), upload.where(pts))
        _add_face(faces, upload, name, points, upload.where(pts), PurePosixPath(name).stem)
    return faces


def read_points_csv_zip(upload: ZipUpload, csv_name: str) -> Faces:
    """Images listed in one CSV of points (``image, [identity,] x0, y0, ...``); see the module docstring."""
    label = upload.where(csv_name)
    try:
        table = pd.read_csv(io.BytesIO(upload.read(csv_name)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UploadError(f"{label}: not a readable CSV ({exc})") from None
    n_points = sum(1 for c in table.columns if re.fullmatch(r"x\d+", c))
    columns = [f"{axis}{i}" for i in range(n_points) for axis in "xy"]
    missing = [c for c in ("image", *columns) if c not in table.columns]
    if missing:
        raise UploadError(f"{label}: missing column(s) {', '.join(missing[:5])} (want image, x0, y0, x1, y1, ...)")
    if n_points not in SCHEMA_BY_POINTS:
        known = ", ".join(f"{n} ({s})" for n, s in SCHEMA_BY_POINTS.items())
        raise UploadError(f"{label}: {n_points} points per face; known point counts: {known}")
    _check_count(label, len(table), upload.max_images)
    raw = table[columns].apply(lambda column: column.str.strip())
    blank = (raw == "").to_numpy()
    values = raw.apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    bad = np.argwhere(~blank & ~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        raise UploadError(f"{label}, row {row + 2}: column {columns[col]} is not a number ({raw.iat[row, col]!r})")
    half = np.argwhere(blank[:, 0::2] != blank[:, 1::2])
    if len(half):
        row, point = half[0]
        raise UploadError(f"{label}, row {row + 2}: point {point} has one coordinate blank (leave both blank for an "
                          "unlabelled point)")
    faces = Faces(SCHEMA_BY_POINTS[n_points], [], [], [], [], [])
    folder = PurePosixPath(csv_name).parent
    for row, record in enumerate(table.to_dict("records")):
        where = f"{label}, row {row + 2}"
        image = str(folder / record["image"].strip())
        if image not in upload.names:
            raise UploadError(f"{where}: image {record['image']!r} is not in the zip")
        identity = str(record.get("identity", "")).strip() or f"row{row}"
        _add_face(faces, upload, image, values[row].reshape(n_points, 2), where, identity)
    return faces


def _add_face(faces: Faces, upload: ZipUpload, name: str, points: np.ndarray, where: str, identity: str) -> None:
    """Decode, check and crop one face into ``faces`` (the full image is dropped at once: only crops are kept)."""
    image = decode_image(upload.read(name), upload.where(name))
    mask = np.isfinite(points).all(1)
    if mask.sum() < 2:
        raise UploadError(f"{where}: fewer than 2 labelled points; a face is cut around its points")
    check_points(points, mask, image.shape[:2], where)
    crop, points = face_crop(image, np.nan_to_num(points), mask)
    faces.images.append(crop)
    faces.points.append(points)
    faces.masks.append(mask)
    faces.identities.append(identity)
    faces.sources.append(name)


def read_upload(path: Path, max_faces: int = 0) -> tuple[LandmarkSet, str]:
    """The upload as a split :class:`LandmarkSet` and its format name; :class:`UploadError` when it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data, fmt = read_kaggle_upload(path, max_faces)
    elif suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UploadError(f"{path.name}: not a readable zip file ({exc})") from None
        with archive:
            upload = ZipUpload(archive, path.name, max_faces)
            csvs = sorted(n for n in upload.names if n.lower().endswith(".csv"))
            if any(n.lower().endswith(".pts") for n in upload.names):
                faces, fmt = read_pts_zip(upload), "ibug_pts"
            elif len(csvs) == 1:
                faces, fmt = read_points_csv_zip(upload, csvs[0]), "points_csv"
            else:
                raise UploadError(f"{path.name}: found {len(csvs)} CSV files and no .pts files; a zip holds images "
                                  "with a .pts beside each, or images and exactly one CSV of points")
        data = _split(faces, path.name)
    else:
        raise UploadError(f"{path.name}: upload a Kaggle training.csv or a .zip (images with .pts files, or images "
                          "and one CSV of points)")
    if min(data.split_counts().values()) == 0:
        raise UploadError(too_few(path.name))
    return data, fmt


def _split(faces: Faces, label: str) -> LandmarkSet:
    identities = np.array(faces.identities, dtype=object)
    if len(set(faces.identities)) < 3:
        raise UploadError(too_few(label))
    return LandmarkSet(
        "upload", faces.schema, np.stack(faces.points), group_split(identities, VAL_FRACTION, TEST_FRACTION),
        identities, np.array(faces.sources, dtype=object), mask=np.stack(faces.masks), images=np.stack(faces.images),
    )


# --- storing, listing and loading ----------------------------------------------------------------------------------


def import_upload(path: Path, name: str = "", limits: Limits | None = None) -> Manifest:
    """Validate ``path`` completely, then store it as ``user_<name>`` (``name`` defaults to the file's stem; a taken
    name gets ``-2``, ``-3``...). Raises :class:`UploadError`; nothing is kept unless the whole import succeeds."""
    limits = limits or current_limits()
    path = Path(path)
    data, fmt = read_upload(path, limits.max_upload_images)
    incoming = limits.incoming_dir  # beside datasets/, on the same filesystem: the rename is atomic
    incoming.mkdir(parents=True, exist_ok=True)
    limits.datasets_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="import-", dir=incoming))
    try:
        np.savez_compressed(tmp / FACES_FILE, images=data.images, points=data.points, mask=data.mask,
                            splits=data.splits.astype(str), identities=data.identities.astype(str),
                            sources=data.sources.astype(str))
        with _naming:
            folder = _free_folder(limits.datasets_dir, folder_name(name or path.stem))
            manifest = Manifest(
                name=PREFIX + folder.name, title=f"{path.name} ({len(data)} faces, {data.schema.id})",
                schema=data.schema.id, format=fmt, source=path.name, faces=len(data), splits=data.split_counts(),
                own_point_crops=fmt != "kaggle_csv", imported=time.strftime("%Y-%m-%d %H:%M:%S"))
            (tmp / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=1))
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _free_folder(root: Path, base: str) -> Path:
    """``root/base``, or ``base-2``, ``base-3``... when taken (an import never overwrites another)."""
    candidates = (root / (base if i == 1 else f"{base}-{i}") for i in range(1, MAX_MEMBERS))
    return next(c for c in candidates if not c.exists())


def imported_datasets(limits: Limits | None = None) -> list[tuple[Manifest, Path]]:
    """Every imported dataset in the user area, by name; a folder with an unreadable manifest is skipped."""
    root = (limits or current_limits()).datasets_dir
    found = []
    for manifest_path in sorted(root.glob(f"*/{MANIFEST_FILE}")):
        try:
            manifest = Manifest(**json.loads(manifest_path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        found.append((manifest, manifest_path.parent))
    return found


def imported_folder(name: str, limits: Limits | None = None) -> Path | None:
    """The folder of imported dataset ``name`` (``user_<folder>``); None for any other dataset name."""
    if not name.startswith(PREFIX):
        return None
    return (limits or current_limits()).datasets_dir / name.removeprefix(PREFIX)


def load_imported(folder: Path) -> LandmarkSet:
    """An imported dataset from its folder, as stored (already cut and split)."""
    manifest = Manifest(**json.loads((folder / MANIFEST_FILE).read_text()))
    with np.load(folder / FACES_FILE) as z:
        return LandmarkSet(
            manifest.name, manifest.schema, z["points"], z["splits"].astype(object),
            np.array([i or None for i in z["identities"]], dtype=object), z["sources"].astype(object),
            mask=z["mask"], images=z["images"],
        )
