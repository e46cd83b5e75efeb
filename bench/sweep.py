"""Every model's full path on copies of a test split made harder one step at a time: a sweep, its table and plot.

Shared by the benches that ask how a model copes as one thing about a photo worsens (``bench/rotation.py``: the
face's roll; ``bench/closeup.py``: how tightly the frame cuts the face). Each copy is scored as
``bench/accuracy.py`` scores the test sets (:func:`bench.accuracy.score`: each model's own face detector, the face
whose box holds the true centre, a face not found is a failure), one row per step x model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import (  # noqa: E402
    PRESENTATION,
    add_update_argument,
    check_update,
    first,
    predictors_for,
    saved_with,
    score,
    summary,
)
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.markdown import step_text  # noqa: E402

#: The test faces every sweep starts from: the 300-W common set, the 68-point set the peers are compared on.
DATASET = "ibug300w"


def held_out(split: str, limit: int | None) -> LandmarkSet:
    """The split's faces, only the first ``limit`` when given."""
    faces = load_dataset(DATASET).split(split)
    return first(faces, limit)


def sweep(faces: LandmarkSet, harder: Callable[[LandmarkSet, float], LandmarkSet], steps: list[float], key: str,
          models: list[str] | None, label: str) -> pd.DataFrame:
    """One row per step x model: ``bench/accuracy.py``'s columns, with the step under ``key``."""
    predictors = predictors_for(faces.schema.id, models)
    rows = []
    for step in steps:
        copy = harder(faces, step)
        for predictor in predictors:
            result = score(predictor, copy, None, PRESENTATION[DATASET])
            rows.append({key: step} | summary(label, predictor.name, predictor.schema.id, result))
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in rows[-1].items()})
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame, key: str, xlabel: str, path: Path, reverse: bool = False,
         log_x: bool = False) -> None:
    """NME on the common anchors (found faces) and the failure rate (misses included), against the step (on a log
    axis when ``log_x``: steps that halve, like light)."""
    fig, (nme_ax, fail_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for model, part in table.groupby("model", sort=False):
        nme_ax.plot(part[key], 100 * part["nme_common_mean"], marker="o", label=model)
        fail_ax.plot(part[key], 100 * part["failure_rate_common_10pct"], marker="o", label=model)
    nme_ax.set(xlabel=xlabel, ylabel="NME, common anchors, found faces (%)", yscale="log")
    # plain numbers, denser over a narrow span: one inside a decade (2.8-6%) would otherwise show no label at all
    values = 100 * table["nme_common_mean"].dropna()
    narrow = values.max() / values.min() < 4
    subs = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8) if narrow else (1, 2, 5)
    nme_ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    nme_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    nme_ax.yaxis.set_minor_locator(NullLocator())
    fail_ax.set(xlabel=xlabel, ylabel="failures: NME > 10% or not found (%)", ylim=(-3, 103))
    for ax in (nme_ax, fail_ax):
        steps = sorted(table[key].unique())
        if log_x:
            ax.set_xscale("log", base=2)
            ax.set_xticks(steps, [step_text(step) for step in steps])
            ax.xaxis.set_minor_locator(NullLocator())
        else:
            ax.set_xticks(steps)
        ax.grid(alpha=0.3)
        if reverse:
            ax.invert_xaxis()
    fail_ax.legend()
    fig.suptitle(f"{table['dataset'].iloc[0]} faces, full path")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(table: pd.DataFrame, key: str, xlabel: str, out: Path, reverse: bool = False,
          log_x: bool = False) -> None:
    """The sweep's CSV and, beside it, its plot (same stem, .png)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    plot(table, key, xlabel, out.with_suffix(".png"), reverse, log_x)
    print(table[[key, "model", "found_rate", "nme_found_mean", "nme_common_mean",
                 "failure_rate_common_10pct"]].to_string(index=False))


def main(argv: list[str] | None, description: str, steps: tuple[float, ...],
         harder: Callable[[LandmarkSet, float], LandmarkSet], key: str, xlabel: str, out: Path,
         reverse: bool = False, log_x: bool = False, plural: str | None = None) -> None:
    """The command line every sweep bench shares: ``--<plural>`` (the steps; default ``<key>s``), ``--split``,
    ``--limit``, ``--models``, ``--out`` (default ``out``), ``--update`` (:func:`~bench.accuracy.updated`); runs the
    sweep on the split and writes its CSV and plot."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(f"--{plural or key + 's'}", dest="steps", metavar=key.upper(), type=float, nargs="+",
                        default=list(steps))
    parser.add_argument("--split", default="test", help="test reports; val is for choosing")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--models", nargs="+", default=None,
                        help="predictor keys (e.g. checkpoint:ibug68_pip mediapipe468 dlib); default: the lineup")
    parser.add_argument("--out", type=Path, default=out)
    add_update_argument(parser)
    args = parser.parse_args(argv)
    check_update(parser, args, args.out)
    table = sweep(held_out(args.split, args.limit), harder, args.steps, key, args.models, f"{DATASET} {args.split}")
    if args.update:
        table = saved_with(args.out, table, key)
    write(table, key, xlabel, args.out, reverse, log_x)
