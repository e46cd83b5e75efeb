"""Photo-path inference recipes of a checkpoint, compared on validation faces only (never on a test split).

The Detect tab's path for a checkpoint (:meth:`kpdemo.detection.CheckpointPredictor.predict`): detect, crop by the
detector's calibrated box, predict, then refine by a :class:`~kpdemo.detection.checkpoint.PhotoRecipe` (refine
passes, test-time views of scale and turn, a crop turned upright on the previous answer's eyes). Each recipe runs the
full path of ``bench/accuracy.py`` (same scoring) for each shipped checkpoint that refines, on

* its dataset's val split (``ibug300w``: the 10% of the official 300-W train images held out from training, which
  pick checkpoints; ``imm_frontal``: 2 of the 12 people, 20 images), and
* the same faces tilted, once per ``--tilt`` angle: image i turned by +angle (even i) or -angle (odd i) about its
  centre, borders replicated, points turned alike: a stand-in for the tilted faces of the 300-W challenging subset,
  which is a test set and so may not choose anything.

Columns: NME mean / median, failures over 10%, the change of the mean against the reference (the first recipe: one
refine pass with its mirror, the photo path before recipes; relative, and a 95% paired-bootstrap interval of the
per-image difference, in NME units), ``shipped`` (the recipe is today's :data:`PHOTO_RECIPE`), network crops per
face (the deterministic cost) and wall ms per image (read, detect, crops; as measured on this machine at that
moment: the lead's timing benches measure on a quiet one), with the CPU it ran on. Writes
``bench/results/photo_path_val.csv``.

    python bench/photo_path.py [--models checkpoint:ibug68_pip checkpoint:imm73_pip] [--tilt 25 40] [--limit N]
                               [--update]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import PRESENTATION, RESULTS, add_update_argument, check_update, saved_with, score  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.detection import CheckpointPredictor, get_predictor  # noqa: E402
from kpdemo.detection.checkpoint import PHOTO_RECIPE, PhotoRecipe  # noqa: E402
from kpdemo.geometry import transform_points  # noqa: E402
from kpdemo.metrics import failure_rate  # noqa: E402

#: The shipped checkpoints whose photo path refines, and the dataset whose val split judges each.
CHECKPOINTS = {"checkpoint:ibug68_pip": "ibug300w", "checkpoint:imm73_pip": "imm_frontal"}
#: The recipes compared: name -> recipe; the first is the reference.
RECIPES: dict[str, PhotoRecipe] = {
    "one pass": PhotoRecipe(),
    "detector box only": PhotoRecipe(passes=0),
    "refine, no mirror": PhotoRecipe(mirror=False),
    "2 passes": PhotoRecipe(passes=2),
    "3 passes": PhotoRecipe(passes=3),
    "upright": PhotoRecipe(upright=True),
    "2 passes upright": PhotoRecipe(passes=2, upright=True),
    "scales .95/1/1.05": PhotoRecipe(scales=(0.95, 1.0, 1.05)),
    "turns -10/0/10": PhotoRecipe(angles=(-10.0, 0.0, 10.0)),
    "scales x turns": PhotoRecipe(scales=(0.95, 1.0, 1.05), angles=(-10.0, 0.0, 10.0)),
    "upright, scales": PhotoRecipe(upright=True, scales=(0.95, 1.0, 1.05)),
    "upright, turns": PhotoRecipe(upright=True, angles=(-10.0, 0.0, 10.0)),
    "2 passes upright, turns": PhotoRecipe(passes=2, upright=True, angles=(-10.0, 0.0, 10.0)),
    "2 passes upright, scales x turns": PhotoRecipe(passes=2, upright=True, scales=(0.95, 1.0, 1.05),
                                                    angles=(-10.0, 0.0, 10.0)),
}


def tilted(data: LandmarkSet, degrees: float, whole: bool = False) -> LandmarkSet:
    """``data`` with image i turned by +``degrees`` (even i) or -``degrees`` (odd i) about its centre, its points
    turned alike (borders replicated, so no black wedge tells the detector where the image was turned). ``whole``
    widens the canvas to the image's diagonal, so a turn by any angle keeps every pixel (and point) in view."""
    images, points = [], []
    for i in range(len(data)):
        image = data.image(i)
        h, w = image.shape[:2]
        out_w, out_h = (int(np.ceil(np.hypot(h, w))),) * 2 if whole else (w, h)
        turn = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), degrees if i % 2 == 0 else -degrees, 1.0)
        turn[:, 2] += [(out_w - w) / 2, (out_h - h) / 2]
        images.append(cv2.warpAffine(image, turn, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE))
        points.append(transform_points(data.points[i], turn))
    return data.remade(f"{data.name}_tilt{degrees:g}", images, points)


def paired_interval(delta: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean of per-image differences (images resampled, pairs kept)."""
    rng = np.random.default_rng(seed)
    means = delta[rng.integers(0, len(delta), (draws, len(delta)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(predictor: CheckpointPredictor, sets: list[LandmarkSet], presentation: tuple[int, float],
            limit: int | None) -> pd.DataFrame:
    """One row per set x recipe; the predictor's recipe is restored afterwards."""
    rows, kept = [], predictor.recipe
    predictor.predict(sets[0].image(0))  # sessions and the detector load on first use, not inside a timing
    try:
        for data in sets:
            reference = None
            for name, recipe in RECIPES.items():
                predictor.recipe = recipe
                start = time.perf_counter()
                nme = score(predictor, data, limit, presentation).nme
                ms = 1000 * (time.perf_counter() - start) / len(nme)
                reference = nme if reference is None else reference
                both = np.isfinite(nme) & np.isfinite(reference)
                low, high = paired_interval(nme[both] - reference[both])
                found = np.isfinite(nme)
                rows.append({
                    "model": predictor.name, "set": data.name, "recipe": name,
                    "passes": recipe.passes, "upright": recipe.upright,
                    "scales": "/".join(f"{s:g}" for s in recipe.scales),
                    "turns": "/".join(f"{a:g}" for a in recipe.angles), "mirror": recipe.mirror,
                    "images": len(nme), "found_rate": float(found.mean()),
                    "nme_mean": float(nme[found].mean()), "nme_median": float(np.median(nme[found])),
                    "failure_rate_10pct": failure_rate(nme, 0.10),
                    "vs_reference_rel": float(nme[both].mean() / reference[both].mean() - 1),
                    "delta_ci95_low": low, "delta_ci95_high": high, "shipped": recipe == PHOTO_RECIPE,
                    "crops_per_face": recipe.crops_per_face, "ms_per_image": ms,
                })
                print({k: round(v, 5) if isinstance(v, float) else v for k, v in rows[-1].items()})
    finally:
        predictor.recipe = kept
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(CHECKPOINTS), choices=list(CHECKPOINTS))
    parser.add_argument("--tilt", type=float, nargs="+", default=[25.0, 40.0],
                        help="degrees of the tilted copies of the val faces")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N val images")
    parser.add_argument("--out", type=Path, default=RESULTS / "photo_path_val.csv")
    add_update_argument(parser)
    args = parser.parse_args(argv)
    check_update(parser, args, args.out)
    tables = []
    for key in args.models:
        predictor = get_predictor(key)
        if not isinstance(predictor, CheckpointPredictor) or not predictor.meta.refine:
            parser.error(f"{key}: not a checkpoint whose photo path refines (meta.refine)")
        val = load_dataset(CHECKPOINTS[key]).split("val")
        sets = [val, *(tilted(val, degrees) for degrees in args.tilt)]
        tables.append(compare(predictor, sets, PRESENTATION[val.name], args.limit))
    table = pd.concat(tables, ignore_index=True).assign(**machine_context())
    if args.update:
        table = saved_with(args.out, table, "set")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    print(table[["model", "set", "recipe", "nme_mean", "failure_rate_10pct", "vs_reference_rel", "delta_ci95_low",
                 "delta_ci95_high", "crops_per_face", "ms_per_image"]].to_string(index=False))


if __name__ == "__main__":
    main()
