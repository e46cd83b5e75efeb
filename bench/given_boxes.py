"""Landmarks alone: every model handed the same face box per test face, so no face detector takes part.

Landmark benchmarks hand each model a box per face, and so does a user whose app already runs a face detector
(``LandmarkPredictor.predict_in_boxes``). This bench does the same on the 68-point test sets, with boxes from:

* ``68-point box``: the box of the true points, the box landmark benchmarks hand models;
* ``BlazeFace``: MediaPipe's short-range detector's raw box (the face whose box holds the true centre);
* ``dlib HOG``: dlib's frontal detector's box, the box dlib's 68-point predictor was trained on (needs dlib);
* ``68-point box, face turned 90 deg`` (each ``--turns`` angle but 0): the test images turned by that angle (half
  one way, half the other, :func:`bench.photo_path.tilted`) in the box of their turned points. A box does not say
  how its face is turned, and a user whose detector finds faces on their side (a person lying down, a phone photo
  without its EXIF turn) hands such boxes in; the true points' box stands for every such detector's.

Each model takes each box as it takes boxes from a caller: ours as the face's landmark box, refined around its own
first answer; MediaPipe's mesh on a crop twice the box's side; dlib's predictor on the box as on its own detector's.
An image for which a detector gives no box counts as a failure for every model, so a row's models face the same
images. Scored as :func:`bench.accuracy.score` scores the full path (NME by the outer eye corners; the common anchors
compare like with like). Writes ``bench/results/given_boxes.csv`` and ``given_boxes.png``.

    python bench/given_boxes.py [--datasets ibug300w ibug300w_challenging ytf68] [--split test] [--limit N]
                                [--turns 0 90]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import (  # noqa: E402
    PRESENTATION,
    RESULTS,
    Locate,
    first,
    predictors_for,
    presented_sets,
    score,
    summary,
)
from bench.dlib_peer import DlibPredictor, dlib_available  # noqa: E402
from bench.photo_path import tilted  # noqa: E402
from kpdemo.datasets import load_dataset  # noqa: E402
from kpdemo.detection import LandmarkPredictor, MediaPipeFaceDetector  # noqa: E402
from kpdemo.schemas import IBUG68  # noqa: E402

#: The 68-point test sets (300-W common and challenging, YouTube-Faces).
DATASETS = tuple(presented_sets(IBUG68.id))
#: Turns of the test images (degrees): 0, every box source; any other, the true points' box only.
TURNS = (0.0, 90.0)
#: The plot's axis is scaled to the NMEs under this (%), so a failed model's bar does not flatten the rest.
AXIS_CAP_PCT = 20.0
#: A box source: (presented image, true points in its pixels) -> the face's box (x0, y0, x1, y1), or None.
BoxSource = Callable[[np.ndarray, np.ndarray], np.ndarray | None]


def holding_centre(boxes: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
    """The box whose centre is nearest the true centre among those holding it, or None."""
    centre = truth.mean(0)
    inside = [b for b in boxes if b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3]]
    return min(inside, key=lambda b: float(np.linalg.norm((b[:2] + b[2:]) / 2 - centre)), default=None)


def box_sources() -> dict[str, BoxSource]:
    """The boxes each model is handed, by name (dlib's only when it is installed)."""
    blazeface = MediaPipeFaceDetector(model_selection=0)
    sources: dict[str, BoxSource] = {
        "68-point box": lambda image, truth: np.concatenate([truth.min(0), truth.max(0)]),
        "BlazeFace": lambda image, truth: holding_centre(
            np.array([d.box for d in blazeface.detect(image)], np.float32).reshape(-1, 4), truth),
    }
    if dlib_available():
        dlib_detector = DlibPredictor()
        sources["dlib HOG"] = lambda image, truth: holding_centre(dlib_detector.detector_boxes(image), truth)
    return sources


def in_given_box(source: BoxSource, cache: dict) -> Locate:
    """A ``locate`` for :func:`bench.accuracy.score` that hands the model the source's box (found once per image
    and shared by every model through ``cache``)."""
    def locate(predictor: LandmarkPredictor, image: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
        key = truth.tobytes()
        if key not in cache:
            cache[key] = source(image, truth)
        box = cache[key]
        face = None if box is None else predictor.predict_in_boxes(image, box[None])[0]
        return None if face is None else face.points
    return locate


def run(datasets: list[str], split: str, limit: int | None, models: list[str] | None,
        turns: tuple[float, ...] = TURNS) -> pd.DataFrame:
    rows = []
    sources = box_sources()
    for name in datasets:
        upright = first(load_dataset(name).split(split), limit)
        predictors = predictors_for(upright.schema.id, models)
        for turn in turns:
            faces = upright if turn == 0 else tilted(upright, turn, whole=True)
            for source_name, source in (sources if turn == 0 else {"68-point box": sources["68-point box"]}).items():
                label = source_name if turn == 0 else f"{source_name}, face turned {turn:g} deg"
                cache: dict = {}
                for predictor in predictors:
                    result = score(predictor, faces, None, PRESENTATION[name], in_given_box(source, cache))
                    rows.append({"boxes": label}
                                | summary(f"{name} {split}", predictor.name, predictor.schema.id, result))
                    print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path) -> None:
    """Per test set, NME on the common anchors by box source, one bar per model, failures over the bars. The axis
    ends a little above the largest NME under :data:`AXIS_CAP_PCT`; a bar past it (a model that cannot read a
    turned face scores tens of percent) is cut at the top with its value written on it."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.2), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        part = table[table["dataset"] == name]
        sources, models = list(dict.fromkeys(part["boxes"])), list(dict.fromkeys(part["model"]))
        nme = 100 * part["nme_common_mean"]
        top = 1.25 * nme[nme <= AXIS_CAP_PCT].max()
        width = 0.8 / len(models)
        for m, model in enumerate(models):
            rows = part[part["model"] == model].set_index("boxes").loc[sources]
            values = 100 * rows["nme_common_mean"].to_numpy()
            bars = ax.bar(np.arange(len(sources)) + (m - (len(models) - 1) / 2) * width,
                          np.minimum(values, top), width, label=model)
            for bar, value in zip(bars, values, strict=True):
                if value > top:
                    bar.set_hatch("//")
            ax.bar_label(bars, [(f"{v:.0f}%\n" if v > top else "") + f"fail\n{100 * f:.0f}%"
                                for v, f in zip(values, rows["failure_rate_common_10pct"], strict=True)],
                         fontsize=6)
        ax.set_xticks(np.arange(len(sources)), [s.replace(", ", ",\n") for s in sources], fontsize=8)
        ax.set(title=name, ylabel="NME, common anchors, faces answered (%)", ylim=(0, 1.2 * top))
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Landmarks alone: every model handed the same box")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--split", default="test", help="test reports; val is for choosing")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    parser.add_argument("--models", nargs="+", default=None,
                        help="predictor keys (e.g. checkpoint:ibug68_pip mediapipe468 dlib); default: the lineup")
    parser.add_argument("--turns", nargs="+", type=float, default=list(TURNS), metavar="DEG",
                        help="turns of the test images; at any but 0 the models get the turned points' box only")
    parser.add_argument("--out", type=Path, default=RESULTS / "given_boxes.csv")
    args = parser.parse_args(argv)
    table = run(args.datasets, args.split, args.limit, args.models, tuple(args.turns))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    plot(table, args.out.with_suffix(".png"))
    print(table[["dataset", "boxes", "model", "found_rate", "nme_found_mean", "nme_common_mean",
                 "failure_rate_common_10pct"]].to_string(index=False))


if __name__ == "__main__":
    main()
