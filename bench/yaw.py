"""Faces turned away: each model's full path on the 300-W test faces, split by how far each face is turned from the
camera (its yaw).

Turned faces (``bench/rotation.py``) roll in the picture's plane, which a picture can be turned to make; a head turned
towards its shoulder cannot be made from a frontal photo, so this bench sorts the faces the test sets already hold:
the 300-W full test set (the common set's 554 faces and the challenging subset's 135, where most of the strongly
turned ones are). Each face's yaw is estimated from its true points (:func:`kpdemo.schemas.ibug68_yaw_deg`: where
the nose tip lies between the two ends of the jaw outline along the eye line), so no model takes part in sorting it;
a check by eye of a spread of the challenging faces found it orders them as they look. Each model scores every face
once (:func:`bench.accuracy.score`: its own face detector, a face not found is a failure), and its scores are split
by ``|yaw|`` into bins. Nothing is chosen here: ``--split val --datasets ibug300w ytf68`` scores validation faces
(the challenging subset has none; YouTube-Faces' val people are unseen by a fine-tune on
``faces68_ytfval_wide160``). Writes ``bench/results/yaw.csv`` (one row per bin x model; ``yaw_from`` is the bin's
lower edge; ``training_faces``, how many of the faces our 68-point model trained on lie in the bin) and ``yaw.png``.

    python bench/yaw.py [--bins 0 15 30 45] [--models checkpoint:ibug68_pip mediapipe468 dlib]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import sweep  # noqa: E402
from bench.accuracy import (  # noqa: E402
    POOLED,
    RESULTS,
    Scored,
    add_update_argument,
    check_update,
    first,
    pooled,
    predictors_for,
    presented_sets,
    saved_with,
    score,
    summary,
)
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.schemas import IBUG68, ibug68_yaw_deg  # noqa: E402

#: The bins' lower edges in degrees of |yaw|; the last bin is open above.
BINS = (0.0, 15.0, 30.0, 45.0)
#: The test sets pooled (the 300-W full set, as ``bench/accuracy.py`` pools it); a split a set lacks (the challenging
#: subset's val) is skipped.
FULL_SET = "ibug300w_full"
DATASETS = POOLED[FULL_SET]
#: Every face the shipped 68-point model's cycles trained on (``faces68_wide160`` in ``trainers/grids/landmarks.py``:
#: 300-W's train split, YouTube-Faces' train and val people), counted per bin beside the test faces.
TRAINED_ON = (("ibug300w", "train"), ("ytf68", "train"), ("ytf68", "val"))


def bin_edges(bins: list[float]) -> list[tuple[float, float]]:
    """Each bin's [from, to) in degrees; the last one open above."""
    return list(zip(bins, [*bins[1:], np.inf], strict=True))


def held_out_faces(datasets: list[str], split: str, limit: int | None) -> list[LandmarkSet]:
    """The split of each of ``datasets`` that has one (the first ``limit`` faces of each when given)."""
    parts = [first(load_dataset(name).split(split), limit) for name in datasets]
    return [part for part in parts if len(part)]


def trained_on_yaw() -> np.ndarray:
    """|yaw| of every face of :data:`TRAINED_ON`."""
    points = [load_dataset(name).split(split).points for name, split in TRAINED_ON]
    return np.abs(ibug68_yaw_deg(np.concatenate(points)))


def by_yaw(parts: list[LandmarkSet], bins: list[float], models: list[str] | None, label: str) -> pd.DataFrame:
    """One row per bin x model: ``bench/accuracy.py``'s columns over the bin's faces, the bin's edges, and how many
    faces our 68-point model trained on lie in the bin (``training_faces``)."""
    yaw = np.abs(np.concatenate([ibug68_yaw_deg(part.points) for part in parts]))
    trained = trained_on_yaw()
    in_training = {low: int(((trained >= low) & (trained < high)).sum()) for low, high in bin_edges(bins)}
    rows = []
    for predictor in predictors_for(parts[0].schema.id, models):
        result = pooled([score(predictor, part, None) for part in parts])
        for low, high in bin_edges(bins):
            inside = (yaw >= low) & (yaw < high)
            part = Scored(result.nme[inside], result.nme_common[inside], result.points_compared, result.anchors_common)
            edges = {"yaw_from": low, "yaw_to": high, "training_faces": in_training[low]}
            rows.append(edges | summary(label, predictor.name, predictor.schema.id, part))
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    table = pd.DataFrame(rows)
    return table.sort_values("yaw_from", kind="stable").reset_index(drop=True)  # step-major, as the sweeps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bins", type=float, nargs="+", default=list(BINS), metavar="DEG",
                        help="the bins' lower edges in degrees of |yaw|, rising from 0; the last bin is open above")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=presented_sets(IBUG68.id),
                        help="the 68-point sets pooled (default: the 300-W full set)")
    parser.add_argument("--split", default="test", help="test reports; val is for choosing")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces of each set")
    parser.add_argument("--models", nargs="+", default=None,
                        help="predictor keys (e.g. checkpoint:ibug68_pip mediapipe468 dlib); default: the lineup")
    parser.add_argument("--out", type=Path, default=RESULTS / "yaw.csv")
    add_update_argument(parser)
    args = parser.parse_args(argv)
    if args.bins[0] != 0 or any(b >= a for a, b in zip(args.bins[1:], args.bins, strict=False)):
        parser.error("--bins must start at 0 and rise")
    check_update(parser, args, args.out)
    parts = held_out_faces(args.datasets, args.split, args.limit)
    if not parts:
        parser.error(f"none of {' '.join(args.datasets)} has a {args.split} split")
    label = FULL_SET if [p.name for p in parts] == list(DATASETS) else "+".join(p.name for p in parts)
    table = by_yaw(parts, args.bins, args.models, f"{label} {args.split}")
    if args.update:
        table = saved_with(args.out, table, "yaw_from")
    sweep.write(table, "yaw_from", "|yaw| from (deg), estimated from the true points", args.out)


if __name__ == "__main__":
    main()
