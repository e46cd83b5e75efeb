"""``python -m trainers.tools.findings [--runs ROOT ...]``: check each seed claim against the recorded runs.

Reads run records (default: the shipped ones in ``checkpoints/runs/``), decides for every claim whether the runs
reproduce or refute it, and writes the table into ``trainers/README.md`` (between the findings markers) and
``trainers/findings.csv``. Nothing in the table is typed by hand; an experiment with no finished runs is
reported as pending. A seed grid recorded at several budgets (the CPU profile and the GPU campaign's 500 epochs) is
judged at each apart: the row gives the largest budget, and its verdict names any other budget's that differs. Runs
a time budget stopped early count at the epochs they reached, which the budget column gives.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from kpdemo.config import SHIPPED_RUNS_DIR
from kpdemo.markdown import markdown_table, replace_between
from kpdemo.runs import FINISHED, load_runs
from trainers.grids import EXPERIMENTS
from trainers.grids.seed001 import SEED_GRIDS

README = Path(__file__).parents[1] / "README.md"  # trainers/README.md
CSV = Path(__file__).parents[1] / "findings.csv"
START, END = "<!-- findings:start -->", "<!-- findings:end -->"
SEED_ZERO_PLATEAU = 0.0044  # seed 001's stalled loss with zero init (normalised units, as ours)
# Two zero-init runs trained in one campaign give bit-identical curves; runs from two campaigns differ by ~1e-5
# (compiled vs eager kernels sum in another order), far below what any hidden unit learning would move (0.026 -> 0.003).
ZERO_CURVE_TOLERANCE = 1e-4

Finding = tuple[str, str]  # (our numbers, verdict)


def _last(history: pd.DataFrame, run: str, column: str) -> float:
    return float(history.loc[history["run"] == run, column].iloc[-1])


def zero_init(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Zeros stall: worse than Xavier, and no hidden unit ever learns, so only the output bias moves.

    The record-level sign of the latter: SimpleNet and ConvNet, two different architectures, give the *same*
    validation curve from zero init (both reduce to "predict a learned constant shape"), which can only plateau
    at the loss of the mean training shape (the seed's ~0.0044).
    """
    parts, worse, zero_curves = [], [], []
    for model, group in runs.groupby("model"):
        by_init = {r.init: r for r in group.itertuples()}
        if not {"zeros", "xavier"} <= set(by_init):
            continue
        zeros = history.loc[history["run"] == by_init["zeros"].run, "val_loss"].to_numpy()
        x1 = _last(history, by_init["xavier"].run, "val_loss")
        worse.append(zeros[-1] > x1)
        # a run a time budget stopped logged its last epoch part-way: only its whole epochs are compared
        zero_curves.append(zeros[:-1] if by_init["zeros"].status == "stopped" else zeros)
        parts.append(f"{model}: zeros val loss {zeros[0]:.4f} -> {zeros[-1]:.4f} (xavier ends {x1:.4f})")
    # over the epochs both finished: a time budget stops the ConvNet long before the SimpleNet (309 vs 500, H200)
    common = min((len(curve) for curve in zero_curves), default=0)
    same = len(zero_curves) == 2 and common > 0 and bool(
        abs(zero_curves[0][:common] - zero_curves[1][:common]).max() < ZERO_CURVE_TOLERANCE)
    if same:
        parts.append(f"zero-init curves the same across both models (to {ZERO_CURVE_TOLERANCE:g}) over the {common} "
                     "epochs both ran (only the output bias learns)")
    verdict = "pending" if not worse else "reproduced" if all(worse) and same else "refuted"
    return "; ".join(parts) + f"; seed plateau {SEED_ZERO_PLATEAU}", verdict


def adam_best(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Per model: the best learning rate of each optimizer, and whether Adam's best beats the others'."""
    parts, wins = [], []
    for model, group in runs.groupby("model"):
        best = group.loc[group.groupby("optimizer")["best_val_loss"].idxmin()].set_index("optimizer")
        summary = ", ".join(f"{o} lr {r.lr:g}: {r.best_val_rmse_px:.2f} px" for o, r in best.iterrows())
        parts.append(f"{model}: {summary}")
        if "adam" in best.index:
            wins.append(best["best_val_loss"].idxmin() == "adam")
    verdict = "reproduced" if wins and all(wins) else "partly" if any(wins) else "refuted" if wins else "pending"
    return "best val RMSE per optimizer at its best lr: " + "; ".join(parts), verdict


def augmentation(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    by_aug = runs.set_index("augmentation")
    if not {"none", "flip_rotate"} <= set(by_aug.index):
        return "", "pending"
    none, aug = by_aug.loc["none", "test_rmse_px"], by_aug.loc["flip_rotate", "test_rmse_px"]
    return f"test RMSE none {none:.2f} px vs flip + rotation {aug:.2f} px", "reproduced" if aug < none else "refuted"


def dropout(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Dropout's effect on test RMSE per optimizer, and the seed's gap claim (momentum's gap < Adam's)."""
    parts, gaps = [], {}
    for opt, group in runs.groupby("optimizer"):
        rmse = {float(r.dropout): r.test_rmse_px for r in group.itertuples()}
        for r in group.itertuples():
            if r.dropout:
                gaps[opt] = _last(history, r.run, "val_loss") - _last(history, r.run, "train_loss")
        if {0.0, 0.5} <= set(rmse):
            parts.append(f"{opt}: test RMSE {rmse[0.0]:.2f} -> {rmse[0.5]:.2f} px with dropout 0.5")
    if not {"adam", "momentum"} <= set(gaps):
        return "; ".join(parts), "pending"
    parts.append(f"val-train gap with dropout: adam {gaps['adam']:.4f}, momentum {gaps['momentum']:.4f}")
    return "; ".join(parts), "reproduced" if gaps["momentum"] < gaps["adam"] else "refuted"


def cv(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    if len(runs) < 2:
        return "", "pending"
    val, test = runs["best_val_rmse_px"], runs["test_rmse_px"]
    spread = float(val.std() / val.mean())
    text = (f"{len(runs)} folds: val RMSE {val.mean():.2f} +- {val.std():.2f} px (spread {spread:.1%}), "
            f"test RMSE {test.mean():.2f} +- {test.std():.2f} px")
    return text, "reproduced" if spread < 0.10 else "refuted"


def shipped(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Every ``best`` run's held-out error; the verdict is the shipped one's (the run whose checkpoint ships)
    against the project's target (test RMSE <= 2.0 px at 96x96)."""
    parts = [f"{r.run}: test RMSE {r.test_rmse_px:.2f} px" for r in runs.sort_values("started").itertuples()]
    with_file = runs[runs["checkpoint"].notna()]
    if with_file.empty:
        return "; ".join(parts), "no shipped checkpoint"
    r = with_file.sort_values("started").iloc[-1]
    parts.append(f"shipped: {r.run} (best val {r.best_val_rmse_px:.2f} px at epoch {int(r.best_epoch)})")
    return "; ".join(parts), "meets the 2.0 px target" if r.test_rmse_px <= 2.0 else "misses the 2.0 px target"


def mirror_on_pretrained(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Seed 004's synthetic check: a decoder trained on the frozen reconstruction encoder draws the mirror image.

    Scored by IoU of the drawn triangle (0 for the blank image that L1 and SSIM would reward); reproduced when the
    mirror decoder draws it at least 90% as well as the reconstruction it was trained on top of.
    """
    iou = {r.tag + ("" if r.tag != "control" else f" {r.model} {r.loss}"): r.test_iou for r in runs.itertuples()}
    text = ", ".join(f"{tag} IoU {v:.2f}" for tag, v in sorted(iou.items()))
    if not {"reconstruct", "mirror_pretrained"} <= set(iou):
        return text, "pending"
    return text, "reproduced" if iou["mirror_pretrained"] >= 0.9 * iou["reconstruct"] else "refuted"


def paired_frontalization(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """Paired training gives a model that beats both baselines (aligned input, mean frontal face) on L1 and SSIM,
    and the adversarial term does not improve on it."""
    from trainers.tools.frontalize_ship import beats_baselines

    tests = {r.run: {k.removeprefix("test_"): v for k, v in r._asdict().items() if k.startswith("test_")}
             for r in runs.itertuples()}
    first = next(iter(tests.values()))
    parts = [f"baselines: aligned input L1 {first['identity_l1_gray']:.1f} / SSIM {first['identity_ssim']:.2f}, "
             f"mean face {first['mean_l1_gray']:.1f} / {first['mean_ssim']:.2f}"]
    parts += [f"{run.split('_light')[0]}: {t['l1_gray']:.1f} / {t['ssim']:.2f}" for run, t in sorted(tests.items())]
    winners = [run for run, t in tests.items() if beats_baselines(t) and "patchgan" not in run]
    gan = [t for run, t in tests.items() if "patchgan" in run]
    if not winners or not gan:
        return "; ".join(parts), "pending" if not gan else "refuted"
    gan_better = any(g["l1_gray"] < tests[w]["l1_gray"] and g["ssim"] > tests[w]["ssim"] for g in gan for w in winners)
    return "; ".join(parts), "refuted" if gan_better else "reproduced"


#: PFLD's 300-W common-set NME (0.73 M parameters, 112 px; inter-ocular), the published lightweight anchor.
PFLD_COMMON_NME = 0.0349


def drawn(run: object) -> str:
    """How a run drew its training faces when not each once an epoch (``sampling``; records before the setting have
    none), for its label."""
    sampling = getattr(run, "sampling", None)
    return f", {sampling} sampling" if isinstance(sampling, str) and sampling != "uniform" else ""


def pip_vs_direct(runs: pd.DataFrame, history: pd.DataFrame) -> Finding:
    """The landmark family's grid: every 68-point run's 300-W common-set NME (ground-truth crops), and the PIP
    head against direct regression at the same epochs; reproduced when PIP wins that comparison and its best run
    reaches PFLD's figure."""
    faces = runs[runs["dataset"].isin(["faces68_wide160", "faces68_ytfval_wide160", "w300_wide160"])]
    usual = faces["augmentation"].mode().iloc[0] if len(faces) else None  # a run on another recipe says which
    parts = [f"{r.tag} ({int(r.epochs)} ep{'' if r.augmentation == usual else f', {r.augmentation}'}"
             f"{drawn(r)}): {r.test_nme:.2%}" for r in faces.sort_values("test_nme").itertuples()]
    pairs = [(p, d) for p in faces[faces["model"] == "pip"].itertuples()
             for d in faces[faces["model"] != "pip"].itertuples() if p.epochs == d.epochs]
    if not pairs:
        return "; ".join(parts), "pending (no direct-regression run at a PIP run's budget)"
    pip_wins = all(p.test_nme < d.test_nme for p, d in pairs)
    reaches = float(faces[faces["model"] == "pip"]["test_nme"].min()) <= PFLD_COMMON_NME
    verdict = "reproduced" if pip_wins and reaches else "refuted" if not pip_wins else "PIP wins; PFLD not reached"
    return "; ".join(parts), verdict


CHECKS: dict[str, Callable[[pd.DataFrame, pd.DataFrame], Finding]] = {
    "init": zero_init, "optimizers": adam_best, "augmentation": augmentation, "dropout": dropout, "cv": cv,
    "best": shipped, "polygons": mirror_on_pretrained, "frontalize": paired_frontalization,
    "landmarks": pip_vs_direct,
}


def budget(runs: pd.DataFrame) -> str:
    """How much training the runs had, so a refutation on a small budget reads as such: the epochs they planned,
    and the range they reached when a time budget stopped some of them first (e.g. "310-500 of 500 epochs")."""
    planned = "/".join(str(e) for e in sorted({int(e) for e in runs["epochs"]}))
    reached = sorted({int(e) for e in runs["epochs_reached"]})
    span = f"{reached[0]}" if len(reached) == 1 else f"{reached[0]}-{reached[-1]}"
    epochs = planned if "/".join(map(str, reached)) == planned else f"{span} of {planned}"
    subset = sorted({int(s) for s in runs["train_subset"]})
    images = "/".join("all" if s == 0 else str(s) for s in subset)
    return f"{epochs} epochs, {images} train images"


def epochs_reached(runs: pd.DataFrame, history: pd.DataFrame) -> pd.Series:
    """Epochs each run trained: all it planned when done, its history's rows (the last one maybe partial) when a
    time budget stopped it."""
    rows = history.groupby(["experiment", "run"]).size() if len(history) else pd.Series(dtype=int)
    logged = [rows.get((e, r), 0) for e, r in zip(runs["experiment"], runs["run"], strict=True)]
    return runs["epochs"].where(runs["status"] == "done", pd.Series(logged, index=runs.index))


def by_budget(runs: pd.DataFrame) -> list[pd.DataFrame]:
    """The runs split by planned budget (epochs, training subset), largest first by the training images they went
    through (epochs reached x training images; a record without its image count: every image beats any subset)."""
    def images(group: pd.DataFrame) -> float:
        counted = group["env_train_images"].max() if "env_train_images" in group else math.nan
        per_epoch = counted if pd.notna(counted) else (int(group["train_subset"].iloc[0]) or math.inf)
        return int(group["epochs_reached"].max()) * per_epoch

    return sorted((group for _, group in runs.groupby(["epochs", "train_subset"])), key=images, reverse=True)


def judge(name: str, finished: pd.DataFrame, history: pd.DataFrame) -> dict[str, str]:
    """One table row's numbers, budget and verdict. A seed grid's runs at different budgets (a CPU profile beside
    the GPU campaign's 500 epochs) are judged apart: the numbers are the largest budget's, and the verdict names each
    other budget's when they disagree (e.g. refuted after 6 CPU epochs, reproduced after 500), so a verdict never
    silently mixes or hides them. Other claims compare runs of different budgets on purpose and read them all."""
    if not len(finished):
        return {"our numbers": "no finished runs", "budget": "", "verdict": "pending"}
    groups = by_budget(finished) if name in SEED_GRIDS else [finished]
    judged = [(group, *CHECKS[name](group, history)) for group in groups]
    top, numbers, verdict = judged[0]
    if len({v for _, _, v in judged}) > 1:
        verdict = f"{verdict} ({'; '.join(f'{v} at {budget(g)}' for g, _, v in judged[1:])})"
    return {"our numbers": numbers or "no finished runs", "budget": budget(top), "verdict": verdict}


def findings(roots: list[Path]) -> pd.DataFrame:
    runs, history = load_runs(roots)
    if len(runs):
        runs = runs[runs["status"].isin(FINISHED)]
        runs = runs.assign(epochs_reached=epochs_reached(runs, history))
    rows = []
    for name in CHECKS:
        finished = runs[runs["experiment"] == name] if len(runs) else runs
        # the checks find a run's curve by its name, which other grids reuse (init's xavier runs are optimizers')
        own = history[history["experiment"] == name] if len(history) else history
        rows.append({"experiment": name, "seed claim": EXPERIMENTS[name].claim} | judge(name, finished, own)
                    | {"runs": len(finished)})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    cols = ["experiment", "seed claim", "our numbers", "budget", "verdict"]
    return markdown_table(cols, table[cols].itertuples(index=False))


def write_readme(table: pd.DataFrame, readme: Path = README) -> None:
    readme.write_text(replace_between(readme.read_text(), START, END, f"\n{to_markdown(table)}\n"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.findings", description=__doc__.split("\n\n")[1])
    parser.add_argument("--runs", type=Path, nargs="*", default=[SHIPPED_RUNS_DIR], help="runs roots to read")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    table = findings(args.runs)
    print(to_markdown(table))
    if not args.no_write:
        table.to_csv(CSV, index=False)
        write_readme(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
