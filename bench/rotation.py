"""Faces at any roll: each model's full path on the 300-W common test faces turned by 0-180 degrees.

A person lying down, a phone photo turned sideways without EXIF, a head tilted into the camera: in-the-wild faces
are not always upright. Each test image is turned about its centre by +angle (even images) or -angle (odd ones) on a
canvas as wide as its diagonal (borders replicated, :func:`bench.photo_path.tilted`), its true points turned alike,
and every model runs its own full path (:func:`bench.accuracy.score`: its own face detector, the face whose box holds
the true centre, a face not found is a failure). Scored on the 68 points for the 68-point models and on the common
anchors (the set MediaPipe's map covers) for every model, as in ``bench/accuracy.py``. Nothing is chosen here: the
orientation step's margin was chosen on validation faces (see :class:`kpdemo.detection.faces.OrientedDetector`).
Writes ``bench/results/rotation.csv`` and ``rotation.png``.

    python bench/rotation.py [--angles 0 30 60 90 120 150 180] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import PRESENTATION, RESULTS, predictors_for, score, summary  # noqa: E402
from bench.photo_path import tilted  # noqa: E402
from kpdemo.datasets import load_dataset  # noqa: E402

DATASET = "ibug300w"
ANGLES = (0, 30, 60, 90, 120, 150, 180)


def run(angles: list[float], split: str, limit: int | None, models: list[str] | None) -> pd.DataFrame:
    """One row per angle x model: ``bench/accuracy.py``'s columns plus the angle."""
    held_out = load_dataset(DATASET).split(split)
    if limit is not None:
        held_out = held_out.select(np.arange(min(limit, len(held_out))))
    predictors = predictors_for(held_out.schema.id, models)
    rows = []
    for angle in angles:
        faces = tilted(held_out, angle, whole=True)
        for predictor in predictors:
            result = score(predictor, faces, None, PRESENTATION[DATASET])
            rows.append({"angle": angle} | summary(f"{DATASET} {split}", predictor.name, predictor.schema.id, result))
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path) -> None:
    """NME on the common anchors (found faces) and the failure rate (misses included), against the angle."""
    fig, (nme_ax, fail_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for model, part in table.groupby("model", sort=False):
        nme_ax.plot(part["angle"], 100 * part["nme_common_mean"], marker="o", label=model)
        fail_ax.plot(part["angle"], 100 * part["failure_rate_common_10pct"], marker="o", label=model)
    nme_ax.set(xlabel="roll of the face (degrees)", ylabel="NME, common anchors, found faces (%)", yscale="log")
    fail_ax.set(xlabel="roll of the face (degrees)", ylabel="failures: NME > 10% or not found (%)", ylim=(-3, 103))
    for ax in (nme_ax, fail_ax):
        ax.set_xticks(sorted(table["angle"].unique()))
        ax.grid(alpha=0.3)
    fail_ax.legend()
    fig.suptitle(f"{table['dataset'].iloc[0]} faces turned by each angle, full path")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--angles", type=float, nargs="+", default=list(ANGLES))
    parser.add_argument("--split", default="test", help="test reports; val is for choosing")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--models", nargs="+", default=None,
                        help="predictor keys (e.g. checkpoint:ibug68_pip mediapipe468 dlib); default: the lineup")
    parser.add_argument("--out", type=Path, default=RESULTS / "rotation.csv")
    args = parser.parse_args(argv)
    table = run(args.angles, args.split, args.limit, args.models)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    plot(table, args.out.with_suffix(".png"))
    print(table[["angle", "model", "found_rate", "nme_found_mean", "nme_common_mean",
                 "failure_rate_common_10pct"]].to_string(index=False))


if __name__ == "__main__":
    main()
