"""Accuracy on held-out splits: kpdemo's checkpoints vs MediaPipe face mesh vs dlib's 68-point predictor.

Every model runs its *full* image pipeline (its own face detector, then landmarks) on the same test images:

* ``kaggle15`` test (96x96 gray crops, upscaled x3 and padded so detectors can see a face),
* ``imm_frontal`` test persons (800x600),
* ``ibug300w`` test = the 300-W common set (554 crops of 256x256),
* ``ibug300w_challenging`` = the 300-W challenging subset (135 crops of 256x256); with the common set it makes the
  300-W full set (689), reported as ``ibug300w_full`` (per-image scores of both, pooled), as papers do,
* ``ytf68`` test (645 YouTube-Faces frames of 160x160, of people absent from its train split): the one 68-point test
  set here that dlib's predictor, trained on the 300-W release, cannot have seen.

A model with the dataset's own schema is scored on all points; others on the anchors both schemas name
(:func:`kpdemo.schemas.shared_anchors`: eye corners and centres, brow ends, nose tip, mouth corners, lip centres,
chin), which also carries the gap between annotation conventions. Every model is also scored on one common set, the
anchors the truth shares with MediaPipe's map (``nme_common_*``), so those columns compare like with like. NME is
normalised by the ground truth's outer eye corners. A face is "found" when a predicted face box contains the centre
of the true points; images with no such face count as failures. Writes ``bench/results/accuracy.csv`` (one row per
dataset x model) and ``accuracy.png``.

``--split val`` scores the validation splits the same way (for choosing anything: the test splits only report; a
set without a val split, such as the challenging subset, is skipped); ``--split train`` scores training images, to
see which models have seen which images: against MediaPipe, trained on neither split, a model trained on the training
split only scores relatively worse on the test split, and one that has seen both does not (written to
``accuracy_train.csv``; the README's "Seen in training?" table); ``--models`` scores the named models instead of
the lineup (predictor keys as the app lists them, e.g. ``checkpoint:ibug68_pip``, ``mediapipe468``, ``dlib``, or a
``run:`` candidate; each on every dataset named, on the anchors it shares with it);
``--out`` writes elsewhere than ``accuracy.csv`` (``accuracy_<split>.csv`` for the other splits).

    python bench/accuracy.py [--limit N] [--datasets kaggle15 imm_frontal ibug300w ibug300w_challenging ytf68]
    python bench/accuracy.py --split val --datasets ibug300w --models checkpoint:ibug68_pip --out /tmp/val.csv
    python bench/accuracy.py --split train --datasets ibug300w --models checkpoint:ibug68_pip mediapipe468 dlib
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.dlib_peer import DlibPredictor, dlib_available  # noqa: E402
from kpdemo.datasets import LandmarkSet, get_dataset, load_dataset  # noqa: E402
from kpdemo.detection import Face, LandmarkPredictor, available_predictors, get_predictor  # noqa: E402
from kpdemo.detection.registry import CHECKPOINT_PREFIX  # noqa: E402
from kpdemo.metrics import failure_rate, normaliser, point_errors  # noqa: E402
from kpdemo.schemas import MEDIAPIPE468, KeypointSchema, shared_anchors  # noqa: E402

RESULTS = Path(__file__).parent / "results"
#: How each test image is presented: (upscale factor, padding as a fraction of the side on each edge).
PRESENTATION = {"kaggle15": (3, 0.25), "imm_frontal": (1, 0.0), "ibug300w": (1, 0.0),
                "ibug300w_challenging": (1, 0.0), "ytf68": (1, 0.0)}
#: Sets reported together as well: name -> the datasets whose per-image scores are pooled.
POOLED = {"ibug300w_full": ("ibug300w", "ibug300w_challenging")}


def presented_sets(schema_id: str) -> list[str]:
    """The sets of :data:`PRESENTATION` whose truth is in ``schema_id``, in its order, as the dataset registry says:
    a bench that needs one schema's truth (its box, its yaw) lists them from here rather than by name."""
    return [name for name in PRESENTATION if get_dataset(name).schema == schema_id]


@dataclass
class Scored:
    nme: np.ndarray  # per image, on the points the model shares with the truth; inf where no face was found
    nme_common: np.ndarray  # per image, on the anchors every model of the table names (MediaPipe's map)
    points_compared: int
    anchors_common: int


def present(image: np.ndarray, upscale: int, pad: float) -> tuple[np.ndarray, float, float]:
    """RGB image as shown to the models, plus (scale, offset) mapping its pixels back: orig = (x - offset) / scale."""
    rgb = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if upscale != 1:
        rgb = cv2.resize(rgb, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    offset = round(pad * rgb.shape[0])
    if offset:
        rgb = cv2.copyMakeBorder(rgb, offset, offset, offset, offset, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(rgb), float(upscale), float(offset)


#: How a scorer gets a model's points for the face of the true points (both in the presented image's pixels), or
#: None when there are none: the full path's :func:`pick_face`, or a model handed a box (``bench/given_boxes.py``).
Locate = Callable[[LandmarkPredictor, np.ndarray, np.ndarray], np.ndarray | None]


def first(faces: LandmarkSet, limit: int | None) -> LandmarkSet:
    """The first ``limit`` faces of ``faces`` (all when None): a quick run before a harder copy is made of them."""
    return faces if limit is None else faces.select(np.arange(min(limit, len(faces))))


def picked_face(predictor: LandmarkPredictor, image: np.ndarray, truth: np.ndarray) -> Face | None:
    """The predicted face whose box holds the true centre (the nearest such box), or None."""
    return face_holding(predictor.predict(image), truth)


def face_holding(faces: list[Face], truth: np.ndarray) -> Face | None:
    """Of ``faces``, the one whose box holds the true points' centre (the nearest such by its points' centre), or
    None: how a scorer tells which answer is the annotated face's."""
    centre = truth.mean(0)
    inside = [f for f in faces if f.box[0] <= centre[0] <= f.box[2] and f.box[1] <= centre[1] <= f.box[3]]
    return min(inside, key=lambda f: float(np.linalg.norm(f.points.mean(0) - centre)), default=None)


def pick_face(predictor: LandmarkPredictor, image: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
    """Points of :func:`picked_face`, or None."""
    face = picked_face(predictor, image, truth)
    return None if face is None else face.points


def common_anchors(truth_schema: KeypointSchema) -> list[str]:
    """The anchors the truth shares with MediaPipe's mesh map: the one set on which every model is scored alike."""
    return shared_anchors(truth_schema, MEDIAPIPE468)


def score(predictor: LandmarkPredictor, data: LandmarkSet, limit: int | None,
          presentation: tuple[int, float] | None = None, locate: Locate = pick_face) -> Scored:
    """Per-image NME of ``predictor`` on ``data`` (shown as ``presentation``, default the dataset's): its full path,
    or however ``locate`` finds the face."""
    truth_schema: KeypointSchema = data.schema
    same = predictor.schema.id == truth_schema.id
    names = [] if same else shared_anchors(truth_schema, predictor.schema)
    if not same and not names:
        raise ValueError(f"{predictor.name} shares no anchors with {truth_schema.id}")
    common = [n for n in common_anchors(truth_schema) if n in predictor.schema.anchors]
    upscale, pad = presentation or PRESENTATION[data.name]
    n = len(data) if limit is None else min(limit, len(data))
    norm = normaliser(data.points[:n], truth_schema)
    nme, nme_common = np.full(n, np.inf), np.full(n, np.inf)
    for i in tqdm(range(n), desc=f"{data.name}: {predictor.name}", unit="img", leave=False):
        image, scale, offset = present(data.image(i), upscale, pad)
        truth = data.points[i]
        pts = locate(predictor, image, truth * scale + offset)
        if pts is None:
            continue
        pts = (pts - offset) / scale
        if same:
            nme[i] = point_errors(pts[None], truth[None])[0] / norm[i]
        else:
            nme[i] = anchor_error(pts, truth, predictor.schema, truth_schema, names) / norm[i]
        nme_common[i] = anchor_error(pts, truth, predictor.schema, truth_schema, common) / norm[i]
    return Scored(nme, nme_common, truth_schema.num_points if same else len(names), len(common))


def anchor_error(pts: np.ndarray, truth: np.ndarray, schema: KeypointSchema, truth_schema: KeypointSchema,
                 names: list[str]) -> float:
    """Mean distance between the named anchors of a prediction and of the truth (pixels)."""
    pred, true = schema.anchor_points(pts[None], names), truth_schema.anchor_points(truth[None], names)
    return float(point_errors(pred, true)[0])


def lineup(schema_id: str) -> list[str]:
    """Keys of the models scored on a dataset of this schema: the project's checkpoints for it, MediaPipe face mesh,
    and dlib when installed (said once when it is not: every bench's default lineup comes from here)."""
    keys = [e.key for e in available_predictors(refresh=True)
            if e.schema == schema_id and e.key.startswith(CHECKPOINT_PREFIX)]
    if not dlib_available():
        warnings.warn("dlib column skipped: pip install -r requirements-bench.txt to add it", stacklevel=2)
    return [*keys, "mediapipe468", *(["dlib"] if dlib_available() else [])]


def predictors_for(schema_id: str, models: list[str] | None = None) -> list[LandmarkPredictor]:
    """The lineup's predictors for this schema; with ``models``, those named: the lineup's in its order, then any
    other predictor key named (a ``run:`` candidate to compare on validation, another schema's checkpoint scored on
    the anchors it shares). Naming dlib without it installed is an error, not a silent omission."""
    keys = lineup(schema_id)
    if models is not None:
        keys = [k for k in keys if k in models] + [k for k in dict.fromkeys(models) if k not in keys]
    if "dlib" in keys and not dlib_available():
        raise SystemExit("dlib is not installed: pip install -r requirements-bench.txt")
    return [DlibPredictor() if k == "dlib" else get_predictor(k) for k in keys]


def summary(dataset: str, model: str, model_schema: str, result: Scored) -> dict[str, object]:
    """One table row: found rate, NME mean / median over found faces, failure rates (a miss is a failure)."""
    found = np.isfinite(result.nme)
    return {
        "dataset": dataset, "model": model, "model_schema": model_schema,
        "points_compared": result.points_compared, "images": len(result.nme),
        "found_rate": float(found.mean()),
        "nme_found_mean": float(result.nme[found].mean()) if found.any() else np.nan,
        "nme_found_median": float(np.median(result.nme[found])) if found.any() else np.nan,
        "failure_rate_10pct": failure_rate(result.nme, 0.10),
        "anchors_common": result.anchors_common,
        "nme_common_mean": float(result.nme_common[found].mean()) if found.any() else np.nan,
        "failure_rate_common_10pct": failure_rate(result.nme_common, 0.10),
    }


def pooled(parts: list[Scored]) -> Scored:
    """Several test sets scored as one (their images together): the 300-W full set from common + challenging."""
    return Scored(np.concatenate([p.nme for p in parts]), np.concatenate([p.nme_common for p in parts]),
                  parts[0].points_compared, parts[0].anchors_common)


def run(datasets: list[str], limit: int | None, split: str = "test", models: list[str] | None = None) -> pd.DataFrame:
    rows, scored = [], {}
    for name in datasets:
        held_out = load_dataset(name).split(split)
        if not len(held_out):
            print(f"{name}: no {split} split, skipped")
            continue
        predictors = predictors_for(held_out.schema.id, models)
        for predictor in predictors:
            result = scored[name, predictor.name] = score(predictor, held_out, limit)
            rows.append(summary(name, predictor.name, predictor.schema.id, result))
            print(rows[-1])
        for pool, members in POOLED.items():
            if name != members[-1]:
                continue
            for predictor in predictors:
                if all((m, predictor.name) in scored for m in members):
                    parts = [scored[m, predictor.name] for m in members]
                    rows.append(summary(pool, predictor.name, predictor.schema.id, pooled(parts)))
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, path: Path, split: str = "test") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(table["dataset"]))
    cols = min(3, len(datasets))
    rows = -(-len(datasets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, datasets, strict=False):
        part = table[table["dataset"] == name].reset_index(drop=True)
        ax.set_ylim(0, 1.25 * 100 * part[["nme_found_mean", "nme_common_mean"]].max().max())  # room for labels
        x = np.arange(len(part))
        own = ax.bar(x - 0.2, 100 * part["nme_found_mean"], 0.4, color="#4c72b0", label="own points")
        common = ax.bar(x + 0.2, 100 * part["nme_common_mean"], 0.4, color="#dd8452",
                        label=f"{int(part['anchors_common'].iloc[0])} common anchors")
        ax.bar_label(own, [f"{v:.1f}" for v in 100 * part["nme_found_mean"]], fontsize=7)
        ax.bar_label(common, [f"{v:.1f}\nfail {100 * f:.0f}%" for v, f in
                              zip(100 * part["nme_common_mean"], part["failure_rate_common_10pct"], strict=True)],
                     fontsize=7)
        ax.set_xticks(x, [f"{m}\n({p} pts)" for m, p in zip(part["model"], part["points_compared"], strict=True)])
        ax.set_title(f"{name} {split} split")
        ax.set_ylabel("NME (% of outer-eye distance)")
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def updated(old: pd.DataFrame, new: pd.DataFrame, key: str) -> pd.DataFrame:
    """``old`` with each row of ``new`` in place of ``old``'s row of the same ``key`` value (a sweep's step, or
    accuracy's dataset) and model, in ``old``'s order (a row new to it goes last in its ``key`` value). Why: the
    peers' rows do not change when a model of ours is retrained (their detectors and meshes are deterministic, and
    so are the harder copies), so rerunning only ours gives the table a full rerun would, in a fraction of the time
    (``--update``)."""
    if extra := sorted(set(new[key]) - set(old[key])):
        raise ValueError(f"{key} {extra} is not in the saved table: rerun every model")
    steps = list(dict.fromkeys(old[key]))
    place = {(step, model): i for i, (step, model) in enumerate(zip(old[key], old["model"], strict=True))}
    rerun = pd.MultiIndex.from_frame(old[[key, "model"]]).isin(pd.MultiIndex.from_frame(new[[key, "model"]]))
    merged = pd.concat([old[~rerun], new], ignore_index=True)
    rows = zip(merged[key], merged["model"], strict=True)
    order = [(steps.index(step), place.get((step, model), len(old))) for step, model in rows]
    return merged.iloc[sorted(range(len(merged)), key=order.__getitem__)].reset_index(drop=True)


def add_update_argument(parser: argparse.ArgumentParser,
                        help: str = "rerun only --models and keep the other models' rows of --out (after retraining "
                                    "one)") -> None:
    """The ``--update`` flag every bench with a peer lineup shares (:func:`updated`)."""
    parser.add_argument("--update", action="store_true", help=help)


def check_update(parser: argparse.ArgumentParser, args: argparse.Namespace, out: Path) -> None:
    """``--update`` keeps the other rows of a saved table, so it needs the models to rerun and that table."""
    if args.update and not (args.models and out.exists()):
        parser.error("--update needs --models and an existing --out to update")


def saved_with(out: Path, new: pd.DataFrame, key: str) -> pd.DataFrame:
    """The table saved at ``out`` with ``new``'s rows in its place (:func:`updated`), its floats read back exactly
    as written, so the rows not rerun stay as they were."""
    return updated(pd.read_csv(out, float_precision="round_trip"), new, key)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(PRESENTATION), choices=list(PRESENTATION))
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images of each set")
    parser.add_argument("--split", default="test", choices=["test", "val", "train"],
                        help="val to choose anything (a recipe, a checkpoint); test only reports; train shows "
                             "which models have seen the training images")
    parser.add_argument("--models", nargs="+", default=None, metavar="KEY",
                        help="score these models instead of the lineup, e.g. checkpoint:ibug68_pip mediapipe468 dlib, "
                             "or a run: candidate (a model of another schema on the anchors it shares)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default bench/results/accuracy.csv, accuracy_<split>.csv for val and train")
    add_update_argument(parser, help="rerun only --models on --datasets and keep every other row of --out (after "
                             "retraining one: --datasets ibug300w ibug300w_challenging ytf68 for the 68-point model)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = RESULTS / ("accuracy.csv" if args.split == "test" else f"accuracy_{args.split}.csv")
    check_update(parser, args, args.out)
    if args.models is not None:
        known = {entry.key for entry in available_predictors(refresh=True)} | {"dlib"}
        if unknown := sorted(set(args.models) - known):
            parser.error(f"--models {' '.join(unknown)}: no such predictor ({', '.join(sorted(known))})")
    table = run(args.datasets, args.limit, args.split, args.models)
    if table.empty:
        raise SystemExit("nothing scored")
    if args.update:
        table = saved_with(args.out, table, "dataset")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    plot(table, args.out.with_suffix(".png"), args.split)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
