"""A training pack: the face crops a training campaign needs, JPEG-coded in one ``.npz``, so training runs where the
datasets are not (a lent GPU machine receives the working tree and at most 64 MiB in all, and no ``../shared``).

``python -m kpdemo.datasets.pack OUT.npz`` writes, for each source dataset, its face crops exactly as the
landmark trainers cut them (:func:`kpdemo.training.crops.load_crops`: 160 px, 1.5 x the landmark box, RGB) as JPEG
bytes, with points, masks, splits, identities and source names. With ``KPDEMO_PACK=OUT.npz`` set,
:func:`kpdemo.training.crops.load_crops` serves those crops from the pack and ``kaggle15`` is derived from the packed
68-point faces (:func:`kpdemo.datasets.kaggle15.load_kaggle15`), so every grid of the campaign trains without
the datasets. Only numpy and OpenCV are needed to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kpdemo.config import REPO_ROOT
from kpdemo.datasets.base import LandmarkSet
from kpdemo.datasets.derived import WIDE_CUT, WIDE_SCALE, WIDE_SIZE

PACK_ENV = "KPDEMO_PACK"
#: Every source a campaign trains or tests on (kaggle15 is derived from the two 68-point sets).
SOURCES = ("ibug300w", "ytf68", "imm_frontal", "ibug300w_challenging")
#: What a lent GPU machine receives in all: the working tree (tracked and untracked-not-ignored files) plus the pack.
TRAVEL_LIMIT_MIB = 64
#: The pack's share of it; the tests keep the working tree within the rest.
PACK_BUDGET_MIB = 20
#: JPEG quality of packed crops: 50 keeps the pack within its budget (19.9 MiB; 75 made it 27.7 MiB, too much once
#: the in-browser model joined the repository, 65 23.7 MiB once the 68-point live-frame companion did, and 60
#: 22.1 MiB once the IMM one did); the training augmentation blurs and recompresses far more than that.
DEFAULT_QUALITY = 50


def pack_path() -> Path | None:
    """The pack named by ``$KPDEMO_PACK``, or None; a named pack that is missing is an error that names it."""
    value = os.environ.get(PACK_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{PACK_ENV}={value}: no such training pack (build one: python -m "
                                f"kpdemo.datasets.pack OUT.npz)")
    return path


def encode(images: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) RGB uint8 -> (all JPEG bytes concatenated, (N + 1) offsets)."""
    chunks = []
    for image in images:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        chunks.append(buf.ravel())
    offsets = np.cumsum([0] + [len(c) for c in chunks]).astype(np.int64)
    return np.concatenate(chunks), offsets


def decode(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The inverse of :func:`encode`: (N, H, W, 3) RGB uint8."""
    images = [cv2.imdecode(data[a:b], cv2.IMREAD_COLOR) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images])


def travelling_mib(repo: Path) -> float:
    """MiB of the files that travel to a device with the working tree: what git tracks, or would track."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                            capture_output=True, check=True).stdout.decode()
    files = [repo / name for name in listed.split("\0") if name]
    return sum(f.stat().st_size for f in files if f.is_file()) / 2**20


def build_pack(out: Path, sources: tuple[str, ...] = SOURCES, quality: int = DEFAULT_QUALITY,
               every: int = 1) -> Path:
    """Write the pack (cuts the crops first if the cache lacks them); returns its path. ``every`` > 1 keeps every
    n-th face of each source (a small pack for tests: splits and schemas as in the full one)."""
    from kpdemo.training.crops import load_crops

    arrays: dict[str, np.ndarray] = {}
    for name in sources:
        data = load_crops(name, WIDE_CUT, (WIDE_SIZE, WIDE_SIZE), 3, WIDE_SCALE)
        data = data.select(np.arange(0, len(data), every))
        arrays[f"{name}/jpeg"], arrays[f"{name}/offsets"] = encode(
            tqdm(data.images, desc=f"packing {name}", unit="img"), quality)
        arrays[f"{name}/points"] = data.points
        arrays[f"{name}/mask"] = data.mask
        arrays[f"{name}/schema"] = np.array(data.schema.id)
        for field in ("splits", "identities", "sources"):
            arrays[f"{name}/{field}"] = np.array([v or "" for v in getattr(data, field)], dtype=str)
    arrays["meta"] = np.array(json.dumps({"cut": WIDE_CUT, "size": WIDE_SIZE, "scale": WIDE_SCALE, "quality": quality,
                                          "every": every, "sources": list(sources)}))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)  # the JPEG bytes do not shrink further; points, masks and names do
    return out


def packed_set(name: str, path: Path | None = None) -> LandmarkSet:
    """One source's packed crops as an in-memory :class:`LandmarkSet` (named after the source)."""
    path = path or pack_path()
    with np.load(path) as z:
        if f"{name}/jpeg" not in z.files:
            raise KeyError(f"{path} holds no {name!r} (it has: {', '.join(json.loads(str(z['meta']))['sources'])})")
        part = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{name}/")}
    identities = np.array([v or None for v in part["identities"]], dtype=object)
    return LandmarkSet(name, str(part["schema"]), part["points"], part["splits"].astype(object), identities,
                       part["sources"].astype(object), mask=part["mask"],
                       images=decode(part["jpeg"], part["offsets"]))


def packed_crops(source: str, cut: str, out_hw: tuple[int, int], channels: int, scale: float) -> LandmarkSet | None:
    """``load_crops``'s answer from the pack when one is set and holds exactly these crops; else None."""
    path = pack_path()
    if path is None or (cut, out_hw, channels, scale) != (WIDE_CUT, (WIDE_SIZE, WIDE_SIZE), 3, WIDE_SCALE):
        return None
    return packed_set(source, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kpdemo.datasets.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .npz to write (e.g. artifacts/pack/faces.npz, git-ignored)")
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                        help=f"JPEG quality (default {DEFAULT_QUALITY}: the pack and the working tree fit "
                             f"{TRAVEL_LIMIT_MIB} MiB)")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), help=f"default: {' '.join(SOURCES)}")
    parser.add_argument("--every", type=int, default=1, help="keep every n-th face (small test packs)")
    args = parser.parse_args(argv)
    out = build_pack(args.out, tuple(args.sources), args.quality, args.every)
    pack, tree = out.stat().st_size / 2**20, travelling_mib(REPO_ROOT)
    print(f"{out}: {pack:.1f} MiB; with the working tree ({tree:.1f} MiB) {pack + tree:.1f} of the "
          f"{TRAVEL_LIMIT_MIB} MiB a device call carries")
    if pack + tree > TRAVEL_LIMIT_MIB:
        print("too large to carry: lower --quality, or make the working tree smaller", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
