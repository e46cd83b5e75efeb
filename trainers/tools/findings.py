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
from dataclasses import dataclass
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
#: A run has learnt more than the mean face when its best validation loss is below this share of the mean face's
#: (a model stuck at the mean face has no train/val gap worth comparing; see :func:`mean_face_loss`).
LEARNT_SHARE = 0.5
#: "lr matters": an optimizer's worst learning rate ends at least this much above its best (best val RMSE).
LR_MATTERS = 1.1


@dataclass(frozen=True)
class Records:
    """Every finished run and its history, for the checks that need another grid's runs: the mean face's loss
    (``init``'s zero-init runs) or the head a ``w300_pca`` run is compared with (``w300``)."""

    runs: pd.DataFrame
    history: pd.DataFrame

    def of(self, experiment: str) -> pd.DataFrame:
        return self.runs[self.runs["experiment"] == experiment] if len(self.runs) else self.runs


def mean_face_loss(records: Records, dataset: str) -> float | None:
    """The validation loss of predicting one constant face on ``dataset``: the plateau of its zero-init runs.

    With zero weights no hidden unit ever learns, only the output bias, so a zero-init run converges to the best
    constant shape (the mean training face); two architectures giving the same zero-init curve shows it
    (:func:`zero_init`). The lowest such plateau is the floor any run that learnt nothing sits on."""
    zeros = records.of("init")
    zeros = zeros[(zeros["init"] == "zeros") & (zeros["dataset"] == dataset)] if len(zeros) else zeros
    return float(zeros["best_val_loss"].min()) if len(zeros) else None


def epochs_to(history: pd.DataFrame, run: str, column: str, level: float) -> int | None:
    """The first epoch at which ``run``'s ``column`` reached ``level`` (None: never): how fast it converged."""
    curve = history[history["run"] == run]
    reached = curve.loc[curve[column] <= level, "epoch"]
    return int(reached.iloc[0]) if len(reached) else None


def best_within(history: pd.DataFrame, run: str, column: str, epochs: int) -> float:
    """``run``'s best ``column`` over its first ``epochs`` epochs: arms that trained for different lengths are
    compared at the epochs both reached."""
    curve = history[(history["run"] == run) & (history["epoch"] <= epochs)]
    return float(curve[column].min())


def _last(history: pd.DataFrame, run: str, column: str) -> float:
    return float(history.loc[history["run"] == run, column].iloc[-1])


def zero_init(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Zeros stall: worse than Xavier, and no hidden unit ever learns, so only the output bias moves; Xavier
    keeps improving (its last quarter still lowers its validation loss).

    The record-level sign of the stall: SimpleNet and ConvNet, two different architectures, give the *same*
    validation curve from zero init (both reduce to "predict a learned constant shape"), which can only plateau
    at the loss of the mean training face. The seed's plateau (0.0044) is its data's mean face; ours is this data's,
    whose faces vary more, so the two plateaus are not expected to match.
    """
    parts, worse, improving, zero_curves = [], [], [], []
    for model, group in runs.groupby("model"):
        by_init = {r.init: r for r in group.itertuples()}
        if not {"zeros", "xavier"} <= set(by_init):
            continue
        zeros = history.loc[history["run"] == by_init["zeros"].run, "val_loss"].to_numpy()
        xavier = history.loc[history["run"] == by_init["xavier"].run, "val_loss"].to_numpy()
        worse.append(zeros[-1] > xavier[-1])
        three_quarters = xavier[: max(1, (3 * len(xavier)) // 4)].min()
        improving.append(xavier.min() < three_quarters)
        # a run a time budget stopped logged its last epoch part-way: only its whole epochs are compared
        zero_curves.append(zeros[:-1] if by_init["zeros"].status == "stopped" else zeros)
        parts.append(f"{model}: zeros val loss {zeros[0]:.4f} -> {zeros[-1]:.4f} (xavier {three_quarters:.4f} at 3/4 "
                     f"of its epochs, ends {xavier[-1]:.4f})")
    # over the epochs both finished: a time budget stops the ConvNet long before the SimpleNet (309 vs 500, H200)
    common = min((len(curve) for curve in zero_curves), default=0)
    same = len(zero_curves) == 2 and common > 0 and bool(
        abs(zero_curves[0][:common] - zero_curves[1][:common]).max() < ZERO_CURVE_TOLERANCE)
    if same:
        parts.append(f"zero-init curves the same across both models (to {ZERO_CURVE_TOLERANCE:g}) over the {common} "
                     "epochs both ran: only the output bias learns, so zeros plateau at the mean face's loss (the "
                     f"seed's {SEED_ZERO_PLATEAU} was its own data's mean face)")
    verdict = ("pending" if not worse else "reproduced" if all(worse) and same and all(improving)
               else "partly" if all(worse) and same else "refuted")
    return "; ".join(parts), verdict


def adam_best(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Per model: how fast each optimizer reached a validation error all of them reach (the epochs its fastest
    learning rate took), and how much its learning rate mattered (worst / best rate's best val RMSE).

    The level is 1.1x the worst optimizer's best val RMSE at its best rate: every optimizer gets there, so "first"
    is a race all can finish. Reproduced when Adam gets there first on every model and each optimizer's rate
    matters by at least ``LR_MATTERS``."""
    parts, first, lr_matters = [], [], []
    for model, group in runs.groupby("model"):
        best = group.loc[group.groupby("optimizer")["best_val_loss"].idxmin()].set_index("optimizer")
        level = 1.1 * float(best["best_val_rmse_px"].max())
        reach = {o: min((e for r in g.itertuples() if (e := epochs_to(history, r.run, "val_rmse_px", level))),
                        default=None) for o, g in group.groupby("optimizer")}
        spread = {o: float(g["best_val_rmse_px"].max() / g["best_val_rmse_px"].min())
                  for o, g in group.groupby("optimizer")}
        summary = ", ".join(f"{o} lr {r.lr:g}: {r.best_val_rmse_px:.2f} px" for o, r in best.iterrows())
        epochs = ", ".join(f"{o} {'never' if e is None else e}" for o, e in reach.items())
        spreads = ", ".join(f"{o} {v:.1f}x" for o, v in spread.items())
        parts.append(f"{model}: best val RMSE {summary}; epochs to {level:.2f} px: {epochs}; worst/best lr: {spreads}")
        if "adam" in reach and reach["adam"] is not None:
            first.append(all(e is None or reach["adam"] <= e for e in reach.values()))
        lr_matters.append(all(v >= LR_MATTERS for v in spread.values()))
    if not first:
        return "; ".join(parts), "pending"
    if all(first) and all(lr_matters):
        return "; ".join(parts), "reproduced"
    return "; ".join(parts), "partly" if any(first) or any(lr_matters) else "refuted"


def augmentation(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Best validation RMSE with and without augmentation over the epochs both arms reached (arms a time budget
    stopped at different epochs are not compared at different lengths); the test RMSE for the record."""
    by_aug = {r.augmentation: r for r in runs.itertuples()}
    if not {"none", "flip_rotate"} <= set(by_aug):
        return "", "pending"
    none, aug = by_aug["none"], by_aug["flip_rotate"]
    common = int(min(runs.loc[runs["run"].isin([none.run, aug.run]), "epochs_reached"]))
    val = {r.augmentation: best_within(history, r.run, "val_rmse_px", common) for r in (none, aug)}
    text = (f"best val RMSE over the {common} epochs both trained: none {val['none']:.2f} px vs flip + rotation "
            f"{val['flip_rotate']:.2f} px (test {none.test_rmse_px:.2f} vs {aug.test_rmse_px:.2f} px)")
    return text, "reproduced" if val["flip_rotate"] < val["none"] else "refuted"


def dropout(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Dropout's effect on validation RMSE per optimizer, and the seed's two claims with dropout: momentum's
    train/val gap (its size: |val - train| at the last epoch, the train loss with dropout and augmentation on, as
    Keras logs it) is smaller than Adam's, and Adam converges first (reaches the slower one's best val loss first).

    A run still at the mean face's loss has learnt nothing, so its gap says nothing: the verdict is then
    inconclusive at that budget, naming the run."""
    parts, gaps, stuck, dropped = [], {}, [], {}
    floor = mean_face_loss(records, str(runs["dataset"].iloc[0])) if len(runs) else None
    for opt, group in runs.groupby("optimizer"):
        rmse = {float(r.dropout): r.best_val_rmse_px for r in group.itertuples()}
        for r in group.itertuples():
            if r.dropout:
                dropped[opt] = r
                gaps[opt] = abs(_last(history, r.run, "val_loss") - _last(history, r.run, "train_loss"))
                if floor is not None and r.best_val_loss > LEARNT_SHARE * floor:
                    stuck.append(f"{opt} (best {r.best_val_loss:.4f})")
        if {0.0, 0.5} <= set(rmse):
            parts.append(f"{opt}: best val RMSE {rmse[0.0]:.2f} -> {rmse[0.5]:.2f} px with dropout 0.5")
    if not {"adam", "momentum"} <= set(gaps):
        return "; ".join(parts), "pending"
    parts.append(f"size of the val-train gap with dropout: adam {gaps['adam']:.4f}, momentum {gaps['momentum']:.4f}")
    level = max(r.best_val_loss for r in dropped.values())
    reach = {o: epochs_to(history, r.run, "val_loss", level) for o, r in dropped.items()}
    parts.append(f"epochs to val loss {level:.4f}: " + ", ".join(f"{o} {e or 'never'}" for o, e in reach.items()))
    if floor is None:
        return "; ".join(parts), "pending (no zero-init run tells the mean face's loss)"
    if stuck:
        parts.append(f"not past the mean face's val loss ({floor:.4f}): " + ", ".join(stuck))
        return "; ".join(parts), f"inconclusive ({' and '.join(s.split(' ')[0] for s in stuck)} still at the mean face)"
    adam_first = reach["adam"] is not None and (reach["momentum"] is None or reach["adam"] <= reach["momentum"])
    smaller_gap = gaps["momentum"] < gaps["adam"]
    return "; ".join(parts), ("reproduced" if smaller_gap and adam_first else
                              "partly" if smaller_gap or adam_first else "refuted")


def cv(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    if len(runs) < 2:
        return "", "pending"
    val, test = runs["best_val_rmse_px"], runs["test_rmse_px"]
    spread = float(val.std() / val.mean())
    text = (f"{len(runs)} folds: val RMSE {val.mean():.2f} +- {val.std():.2f} px (spread {spread:.1%}), "
            f"test RMSE {test.mean():.2f} +- {test.std():.2f} px")
    return text, "reproduced" if spread < 0.10 else "refuted"


#: The settings two ``best`` runs must share to show what training longer alone does.
SAME_RECIPE = ["model", "tag", "optimizer", "lr", "schedule", "augmentation", "batch_size", "dataset", "train_subset"]


def longer_training(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Same recipe, more epochs: does the best validation RMSE fall? Each run's test RMSE beside it, and whether
    its weights still ship (a retired model's file is gone)."""
    parts, lower = [], []
    for _, group in runs.groupby(SAME_RECIPE, dropna=False):
        group = group.sort_values("epochs")
        for short, long in zip(group.itertuples(), group.iloc[1:].itertuples(), strict=False):
            lower.append(long.best_val_rmse_px < short.best_val_rmse_px)
            parts.append(f"{short.tag or short.model} {int(short.epochs)} -> {int(long.epochs)} epochs: val RMSE "
                         f"{short.best_val_rmse_px:.2f} -> {long.best_val_rmse_px:.2f} px "
                         f"(test {short.test_rmse_px:.2f} -> {long.test_rmse_px:.2f})")
    for r in runs.itertuples():
        if isinstance(r.checkpoint, str):
            weights = "shipped" if (Path(r.dir) / r.checkpoint).is_file() else "weights since retired"
            parts.append(f"{r.tag or r.model} {int(r.epochs)} epochs: test RMSE {r.test_rmse_px:.2f} px ({weights})")
    if not lower:
        return "; ".join(parts), "pending (no two runs of one recipe at different epochs)"
    return "; ".join(parts), "reproduced" if all(lower) else "refuted"


def mirror_on_pretrained(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seed 004's synthetic check: a decoder trained on the frozen reconstruction encoder draws the mirror image.

    Scored by IoU of the drawn triangle (0 for the blank image that L1 and SSIM would reward); reproduced when the
    mirror decoder draws it at least 90% as well as the reconstruction it was trained on top of.
    """
    iou = {r.tag + ("" if r.tag != "control" else f" {r.model} {r.loss}"): r.test_iou for r in runs.itertuples()}
    text = ", ".join(f"{tag} IoU {v:.2f}" for tag, v in sorted(iou.items()))
    if not {"reconstruct", "mirror_pretrained"} <= set(iou):
        return text, "pending"
    return text, "reproduced" if iou["mirror_pretrained"] >= 0.9 * iou["reconstruct"] else "refuted"


def paired_frontalization(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Paired training gives a model that beats both baselines (aligned input, mean frontal face) on L1 and SSIM,
    and the adversarial term does not improve on it (judged on validation: better on both L1 and SSIM).

    What it tests of the seed's claim: the GAN run here is paired too (L1 + PatchGAN, on a 1,024-pair subset), so
    "does an adversarial term help", not the seed's unpaired GAN, and nothing here times convergence."""
    from trainers.tools.frontalize_ship import beats_baselines

    tests = {r.run: {k.removeprefix("test_"): v for k, v in r._asdict().items() if k.startswith("test_")}
             for r in runs.itertuples()}
    val = {r.run: (r.best_val_l1_gray, r.best_val_ssim) for r in runs.itertuples()}
    first = next(iter(tests.values()))
    parts = [f"baselines: aligned input L1 {first['identity_l1_gray']:.1f} / SSIM {first['identity_ssim']:.2f}, "
             f"mean face {first['mean_l1_gray']:.1f} / {first['mean_ssim']:.2f} (test)"]
    parts += [f"{run.split('_light')[0]}: val {val[run][0]:.1f} / {val[run][1]:.2f}, test {t['l1_gray']:.1f} / "
              f"{t['ssim']:.2f}" for run, t in sorted(tests.items())]
    winners = [run for run, t in tests.items() if beats_baselines(t) and "patchgan" not in run]
    gan = [run for run in tests if "patchgan" in run]
    if not winners or not gan:
        return "; ".join(parts), "pending" if not gan else "refuted"
    gan_better = any(val[g][0] < val[w][0] and val[g][1] > val[w][1] for g in gan for w in winners)
    return "; ".join(parts), "refuted" if gan_better else "reproduced"


#: PFLD 0.25X's 300-W common-set NME (0.73 M parameters, 112 px; inter-ocular), the published lightweight anchor
#: (PFLD paper, Guo et al. 2019, Table 3; the full-width 1X: 3.32%).
PFLD_COMMON_NME = 0.0338


def drawn(run: object) -> str:
    """How a run drew its training faces when not each once an epoch (``sampling``; records before the setting have
    none), for its label."""
    sampling = getattr(run, "sampling", None)
    return f", {sampling} sampling" if isinstance(sampling, str) and sampling != "uniform" else ""


def pip_vs_direct(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """The landmark family's grid: every 68-point run's 300-W common-set NME (ground-truth crops), and the PIP
    head against direct regression at the same epochs (on validation NME); reproduced when PIP wins that comparison
    and the PIP run best on validation reaches PFLD's figure on the test set."""
    faces = runs[runs["dataset"].isin(["faces68_wide160", "faces68_ytfval_wide160", "w300_wide160"])]
    usual = faces["augmentation"].mode().iloc[0] if len(faces) else None  # a run on another recipe says which
    parts = [f"{r.tag} ({int(r.epochs)} ep{'' if r.augmentation == usual else f', {r.augmentation}'}"
             f"{drawn(r)}): {r.test_nme:.2%}" for r in faces.sort_values("test_nme").itertuples()]
    pip = faces[faces["model"] == "pip"]
    pairs = [(p, d) for p in pip.itertuples() for d in faces[faces["model"] != "pip"].itertuples()
             if p.epochs == d.epochs and p.dataset == d.dataset]
    if not pairs:
        return "; ".join(parts), "pending (no direct-regression run at a PIP run's budget)"
    pip_wins = all(p.best_val_nme < d.best_val_nme for p, d in pairs)
    chosen = pip.loc[pip["best_val_nme"].idxmin()]
    parts.append(f"best PIP run on validation: {chosen['tag']} ({int(chosen['epochs'])} ep), test "
                 f"{chosen['test_nme']:.2%} against PFLD's {PFLD_COMMON_NME:.2%}")
    reaches = float(chosen["test_nme"]) <= PFLD_COMMON_NME
    verdict = "reproduced" if pip_wins and reaches else "refuted" if not pip_wins else "PIP wins; PFLD not reached"
    return "; ".join(parts), verdict


def lr_insensitive(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seeds 002/003's nose-tip grid: per loss, whether every learning rate ends near the same validation error
    (best val RMSE within 20% of the best rate's). Turned faces are not scored here."""
    parts, close = [], []
    for loss, group in runs.groupby("loss"):
        by_lr = group.sort_values("lr")
        spread = float(by_lr["best_val_rmse_px"].max() / by_lr["best_val_rmse_px"].min())
        close.append(spread <= 1.2)
        rates = ", ".join(f"lr {r.lr:g} {r.best_val_rmse_px:.2f} px" for r in by_lr.itertuples())
        parts.append(f"{loss}: best val RMSE {rates} (worst/best {spread:.2f}x)")
    if not close:
        return "", "pending"
    return "; ".join(parts) + "; turned faces not scored", "reproduced" if all(close) else "refuted"


def augmentation_regularises(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seed 002: with augmentation the validation loss sits below the training loss. Counted per input (the seed's
    whole 160x120 photo, and the 128 px face crop the app serves): the epochs where val < train, with and without
    augmentation. Reproduced when it holds on most epochs of the seed's own input; the filters are not scored."""
    parts, holds = [], {}
    for tag, group in runs.groupby("tag"):
        counts = {}
        for r in group.itertuples():
            curve = history[history["run"] == r.run]
            counts[r.augmentation] = (int((curve["val_loss"] < curve["train_loss"]).sum()), len(curve))
        parts.append(f"{tag}: val < train on " + ", ".join(
            f"{below} of {n} epochs {'with' if aug != 'none' else 'without'} augmentation"
            for aug, (below, n) in sorted(counts.items())))
        augmented = [below > n / 2 for aug, (below, n) in counts.items() if aug != "none"]
        if augmented:
            holds["whole photos" if tag.startswith("whole") else "face crops"] = augmented[0]
    text = "; ".join(parts) + "; filters not scored"
    if "whole photos" not in holds:
        return text, "pending"
    if holds["whole photos"]:
        return text, "reproduced"
    return text, "refuted" + ("; holds on face crops" if holds.get("face crops") else "")


def pretraining_and_jaw(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seed 002: the jaw is the worst region (its common-set NME above the face's); seed 003: a model pre-trained
    on YouTube-Faces fine-tunes to a better validation NME than the same net from scratch at the same epochs."""
    by = {(r.tag, int(r.epochs)): r for r in runs.itertuples()}
    pairs = [(by[("finetune", e)], by[("scratch", e)]) for t, e in by if t == "finetune" and ("scratch", e) in by]
    if not pairs:
        return "", "pending"
    parts = [f"{e} epochs: fine-tuned val NME {f.best_val_nme:.2%} vs scratch {s.best_val_nme:.2%}"
             for f, s in pairs for e in [int(f.epochs)]]
    longest = max(pairs, key=lambda pair: pair[0].epochs)[0]
    jaw_worst = longest.test_common_nme_jaw > longest.test_common_nme
    parts.append(f"jaw NME {longest.test_common_nme_jaw:.2%} vs {longest.test_common_nme:.2%} over all points "
                 f"(fine-tuned, {int(longest.epochs)} epochs, test)")
    finetune_better = all(f.best_val_nme < s.best_val_nme for f, s in pairs)
    return "; ".join(parts), ("reproduced" if finetune_better and jaw_worst else
                              "partly" if finetune_better or jaw_worst else "refuted")


def pca_head(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seed 002: a PCA shape head ends worse than the direct head (validation NME), both fine-tuned from the same
    pre-trained net for the same epochs (``w300``'s fine-tuned runs). Smoothness is not scored."""
    direct = {int(r.epochs): r for r in records.of("w300").itertuples() if r.tag == "finetune"}
    pairs = [(p, direct[int(p.epochs)]) for p in runs.itertuples() if int(p.epochs) in direct]
    if not pairs:
        return "", "pending (no w300 fine-tuned run at a PCA run's epochs)"
    parts = [f"{int(p.epochs)} epochs: PCA head val NME {p.best_val_nme:.2%} vs direct {d.best_val_nme:.2%}"
             for p, d in pairs]
    return "; ".join(parts) + "; smoothness not scored", ("reproduced" if all(p.best_val_nme > d.best_val_nme
                                                                              for p, d in pairs) else "refuted")


CHECKS: dict[str, Callable[[pd.DataFrame, pd.DataFrame, Records], Finding]] = {
    "init": zero_init, "optimizers": adam_best, "augmentation": augmentation, "dropout": dropout, "cv": cv,
    "best": longer_training, "imm_nose": lr_insensitive, "imm_full": augmentation_regularises,
    "w300": pretraining_and_jaw, "w300_pca": pca_head, "polygons": mirror_on_pretrained,
    "frontalize": paired_frontalization, "landmarks": pip_vs_direct,
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


def judge(name: str, finished: pd.DataFrame, history: pd.DataFrame, records: Records) -> dict[str, str]:
    """One table row's numbers, budget and verdict. A seed grid's runs at different budgets (a CPU profile beside
    the GPU campaign's 500 epochs) are judged apart: the numbers are the largest budget's, and the verdict names each
    other budget's when they disagree (e.g. refuted after 6 CPU epochs, reproduced after 500), so a verdict never
    silently mixes or hides them. Other claims compare runs of different budgets on purpose and read them all."""
    if not len(finished):
        return {"our numbers": "no finished runs", "budget": "", "verdict": "pending"}
    groups = by_budget(finished) if name in SEED_GRIDS else [finished]
    judged = [(group, *CHECKS[name](group, history, records)) for group in groups]
    top, numbers, verdict = judged[0]
    if len({v for _, _, v in judged}) > 1:
        verdict = f"{verdict} ({'; '.join(f'{v} at {budget(g)}' for g, _, v in judged[1:])})"
    return {"our numbers": numbers or "no finished runs", "budget": budget(top), "verdict": verdict}


def findings(roots: list[Path]) -> pd.DataFrame:
    runs, history = load_runs(roots)
    if len(runs):
        runs = runs[runs["status"].isin(FINISHED)]
        runs = runs.assign(epochs_reached=epochs_reached(runs, history))
    records, rows = Records(runs, history), []
    for name in CHECKS:
        finished = runs[runs["experiment"] == name] if len(runs) else runs
        # the checks find a run's curve by its name, which other grids reuse (init's xavier runs are optimizers')
        own = history[history["experiment"] == name] if len(history) else history
        rows.append({"experiment": name, "seed claim": EXPERIMENTS[name].claim} | judge(name, finished, own, records)
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
