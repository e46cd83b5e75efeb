"""``python -m trainers.tools.findings [--runs ROOT ...]``: check each seed claim against the recorded runs.

Reads run records (default: the shipped ones in ``checkpoints/runs/``), decides for every claim whether the runs
reproduce or refute it, and writes the table into ``trainers/README.md`` (between the findings markers) and
``trainers/findings.csv``. Nothing in the table is typed by hand; an experiment with no finished runs is
reported as pending (saying so where it has only ``--quick`` runs, which are never judged). A seed grid recorded
at several budgets (the CPU profile and the GPU campaign's 500 epochs) is judged at each apart: the row gives the
largest budget, and its verdict names any other budget's that differs. Runs a time budget stopped early count at
the epochs they reached, which the budget column gives.
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
from trainers.engine.config import QUICK_SUFFIX
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
#: Two errors (best val RMSE, worst over best) are "about the same" up to SAME, "apart" from APART; in between the
#: difference is too small to call either way on one seed (the cv folds of one config spread 2-5%).
SAME, APART = 1.05, 1.25
#: A race (epochs to reach a level) is won by a lead of at least this many epochs; a closer one is undecided.
LEAD_EPOCHS = 2
#: The last epochs a gap is averaged over: one epoch's train/val difference swings sign from epoch to epoch.
GAP_EPOCHS = 10


@dataclass(frozen=True)
class Records:
    """Every finished run and its history, for the checks that need another grid's runs: the mean face's loss
    (``init``'s zero-init runs) or the head a ``w300_pca`` run is compared with (``w300``)."""

    runs: pd.DataFrame
    history: pd.DataFrame

    def of(self, experiment: str) -> pd.DataFrame:
        return self.runs[self.runs["experiment"] == experiment] if len(self.runs) else self.runs


def mean_face_loss(records: Records, like: pd.Series) -> float | None:
    """The validation loss of predicting one constant face on the validation faces ``like`` (a run) is scored on:
    the plateau of a zero-init run on the same dataset and validation subset, or None where none has plateaued.

    With zero weights no hidden unit ever learns, only the output bias, so a zero-init run converges to the best
    constant shape (the mean training face); two architectures giving the same zero-init curve shows it
    (:func:`zero_init`). A short run is still on its way down (0.051 after 6 CPU epochs, 0.026 at the plateau):
    only a curve whose last five epochs moved less than 1% counts."""
    zeros = records.of("init")
    if not len(zeros):
        return None
    zeros = zeros[(zeros["init"] == "zeros") & (zeros["dataset"] == like.dataset)
                  & (zeros["eval_subset"] == like.eval_subset)]  # findings() fills a missing subset with 0 (all)
    plateaus = []
    for r in zeros.itertuples():
        curve = records.history.loc[(records.history["experiment"] == "init") & (records.history["run"] == r.run),
                                    "val_loss"].to_numpy()
        if len(curve) > 5 and abs(curve[-1] - curve[-6]) < 0.01 * curve[-1]:
            plateaus.append(float(curve.min()))
    return min(plateaus) if plateaus else None


def epochs_to(history: pd.DataFrame, run: str, column: str, level: float) -> int | None:
    """The first epoch at which ``run``'s ``column`` reached ``level`` (None: never): how fast it converged."""
    curve = history[history["run"] == run]
    reached = curve.loc[curve[column] <= level * (1 + 1e-6), "epoch"]  # the CSV rounds what the record holds
    return int(reached.iloc[0]) if len(reached) else None


def best_within(history: pd.DataFrame, run: str, column: str, epochs: int) -> float:
    """``run``'s best ``column`` over its first ``epochs`` epochs: arms that trained for different lengths are
    compared at the epochs both reached."""
    curve = history[(history["run"] == run) & (history["epoch"] <= epochs)]
    return float(curve[column].min())


def zero_init(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Zeros stall: worse than Xavier, and no hidden unit ever learns, so only the output bias moves; Xavier
    keeps improving (its validation loss lower over the last quarter of its epochs than over the quarter before).

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
        quarter = max(1, len(xavier) // 4)  # the mean of its last quarter below that of the quarter before
        third, last = xavier[-2 * quarter:-quarter].mean(), xavier[-quarter:].mean()
        improving.append(len(xavier) >= 8 and last < third)
        # a run a time budget stopped logged its last epoch part-way: only its whole epochs are compared
        zero_curves.append(zeros[:-1] if by_init["zeros"].status == "stopped" else zeros)
        parts.append(f"{model}: zeros val loss {zeros[0]:.4f} -> {zeros[-1]:.4f} (xavier's mean over its third quarter "
                     f"of epochs {third:.4f}, over its last {last:.4f})")
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


def race(reach: dict[str, int | None], runner: str) -> str:
    """``runner``'s place in a race to a level: "first" (ahead of every other by :data:`LEAD_EPOCHS`; never
    arriving counts as behind), "behind" (another ahead of it by as much), else "undecided"."""
    mine = reach.get(runner)
    others = [e for name, e in reach.items() if name != runner]
    if mine is not None and all(e is None or mine + LEAD_EPOCHS <= e for e in others):
        return "first"
    if any(e is not None and (mine is None or e + LEAD_EPOCHS <= mine) for e in others):
        return "behind"
    return "undecided"


def spread_word(spread: float) -> str:
    return "same" if spread <= SAME else "apart" if spread >= APART else "close"


def adam_best(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Per model: how fast each optimizer reached a validation error all of them reach (the epochs its fastest
    learning rate took), and how much its learning rate mattered (worst / best rate's best val RMSE).

    The level is 1.1x the worst optimizer's best val RMSE at its best rate: every optimizer gets there, so "first"
    is a race all can finish (won by :data:`LEAD_EPOCHS`). "lr matters" where an optimizer's rates end
    :data:`APART`; between :data:`SAME` and that, too close to call on one seed."""
    parts, places, lr_words = [], [], []
    for model, group in runs.groupby("model"):
        best = group.loc[group.groupby("optimizer")["best_val_loss"].idxmin()].set_index("optimizer")
        level = 1.1 * float(best["best_val_rmse_px"].max())
        reach = {o: min((e for r in g.itertuples() if (e := epochs_to(history, r.run, "val_rmse_px", level))),
                        default=None) for o, g in group.groupby("optimizer")}
        spread = {o: float(g["best_val_rmse_px"].max() / g["best_val_rmse_px"].min())
                  for o, g in group.groupby("optimizer")}
        summary = ", ".join(f"{o} lr {r.lr:g}: {r.best_val_rmse_px:.2f} px" for o, r in best.iterrows())
        epochs = ", ".join(f"{o} {'never' if e is None else e}" for o, e in reach.items())
        spreads = ", ".join(f"{o} {v:.2f}x" for o, v in spread.items())
        parts.append(f"{model}: best val RMSE {summary}; epochs to {level:.2f} px: {epochs}; worst/best lr: {spreads}")
        if "adam" in reach:
            places.append(race(reach, "adam"))
        lr_words += [spread_word(v) for v in spread.values()]
    if not places:
        return "; ".join(parts), "pending"
    fastest = ("Adam first" if all(p == "first" for p in places) else "Adam behind" if "behind" in places
               else "race undecided")
    matters = ("lr matters for each" if all(w == "apart" for w in lr_words) else
               "lr makes no difference" if all(w == "same" for w in lr_words) else "lr matters for some")
    if fastest == "Adam first" and matters == "lr matters for each":
        return "; ".join(parts), "reproduced"
    if fastest == "race undecided":
        return "; ".join(parts), f"inconclusive: {fastest}, {matters}"
    return "; ".join(parts), f"{'partly' if fastest == 'Adam first' else 'refuted'}: {fastest}, {matters}"


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
    ratio = max(val.values()) / min(val.values())
    if ratio < SAME:
        return text, f"inconclusive: within {SAME - 1:.0%}, one seed"
    return text, "reproduced" if val["flip_rotate"] < val["none"] else "refuted"


def gap_share(history: pd.DataFrame, run: str) -> float:
    """The size of a run's train/val gap relative to its val loss, averaged over its last :data:`GAP_EPOCHS`: one
    epoch's difference swings sign, and an absolute gap grows with the loss (momentum's is ~25x Adam's here)."""
    tail = history[history["run"] == run].tail(GAP_EPOCHS)
    return float(abs((tail["val_loss"] - tail["train_loss"]).mean()) / tail["val_loss"].mean())


def dropout(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Dropout's effect on validation RMSE per optimizer, and the seed's two claims with dropout: Adam converges
    first (reaches the slower one's best val loss first, by :data:`LEAD_EPOCHS`), and momentum's train/val gap is
    smaller than Adam's (:func:`gap_share`; the train loss with dropout and augmentation on, as Keras logs it).

    A run no better than the mean face (:func:`mean_face_loss`) has learnt nothing, so neither its gap nor a race to
    its level says anything: the verdict is then inconclusive at this budget, naming the run."""
    parts, gaps, stuck, dropped = [], {}, [], {}
    floor = mean_face_loss(records, runs.iloc[0]) if len(runs) else None
    for opt, group in runs.groupby("optimizer"):
        rmse = {float(r.dropout): r.best_val_rmse_px for r in group.itertuples() if pd.notna(r.dropout)}
        for r in group.itertuples():
            if pd.notna(r.dropout) and r.dropout > 0:
                dropped[opt] = r
                gaps[opt] = gap_share(history, r.run)
                if floor is not None and r.best_val_loss > LEARNT_SHARE * floor:
                    stuck.append(f"{opt} (best {r.best_val_loss:.4f})")
        if {0.0, 0.5} <= set(rmse):
            parts.append(f"{opt}: best val RMSE {rmse[0.0]:.2f} -> {rmse[0.5]:.2f} px with dropout 0.5")
    if not {"adam", "momentum"} <= set(gaps):
        return "; ".join(parts), "pending"
    parts.append(f"val-train gap with dropout, share of the val loss over the last {GAP_EPOCHS} epochs: adam "
                 f"{gaps['adam']:.1%}, momentum {gaps['momentum']:.1%}")
    level = max(r.best_val_loss for r in dropped.values())
    reach = {o: epochs_to(history, r.run, "val_loss", level) for o, r in dropped.items()}
    parts.append(f"epochs to val loss {level:.4f}: " + ", ".join(f"{o} {e or 'never'}" for o, e in reach.items()))
    place = race(reach, "adam")
    first = {"first": "Adam first", "behind": "Adam behind", "undecided": "race undecided"}[place]
    if floor is None:
        return "; ".join(parts), "pending: no plateaued zero-init run on these validation faces gives the mean face"
    if stuck:  # a race to a level no better than the mean face is no race, and the gap of such a run says nothing
        parts.append(f"not past half the mean face's val loss ({floor:.4f}): " + ", ".join(stuck))
        names = " and ".join(s.split(" ")[0] for s in stuck)
        return "; ".join(parts), f"inconclusive: {names} not past the mean face"
    smaller = gaps["momentum"] * APART <= gaps["adam"]
    larger = gaps["adam"] * APART <= gaps["momentum"]
    gap = "momentum's gap smaller" if smaller else "momentum's gap larger" if larger else "gaps alike"
    if place == "first" and smaller:
        return "; ".join(parts), "reproduced"
    return "; ".join(parts), f"{'partly' if place == 'first' or smaller else 'refuted'}: {first}, {gap}"


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

    Scored by validation IoU of the drawn triangle (0 for the blank image that L1 and SSIM would reward); reproduced
    when the mirror decoder draws it at least 90% as well as the reconstruction it was trained on top of. The
    mirror learnt from scratch is shown beside it: whether the pre-trained embedding was needed, not only enough.
    """
    column = "best_val_iou" if "best_val_iou" in runs and runs["best_val_iou"].notna().all() else "test_iou"
    iou = {r.tag + ("" if r.tag != "control" else f" {r.model} {r.loss}"): getattr(r, column)
           for r in runs.itertuples()}
    text = f"{'val' if column == 'best_val_iou' else 'test'} " + ", ".join(
        f"{tag} IoU {v:.2f}" for tag, v in sorted(iou.items()))
    if not {"reconstruct", "mirror_pretrained"} <= set(iou):
        return text, "pending"
    return text, "reproduced" if iou["mirror_pretrained"] >= 0.9 * iou["reconstruct"] else "refuted"


def paired_frontalization(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Paired training gives a model that beats both baselines (aligned input, mean frontal face) on L1 and SSIM,
    and the adversarial term does not improve on it (judged on validation: better on both L1 and SSIM).

    What it tests of the seed's claim: the GAN run here is paired too (L1 + PatchGAN), so "does an adversarial term
    help", not the seed's unpaired GAN, and nothing here times convergence. The GAN run is compared with the run of
    the same model, loss and training pairs without it; the GAN trained on a 1,024-pair subset, and until a plain
    L1 run on those pairs exists the comparison is inconclusive (the runs on every pair had 2.8x its data).
    Whether a paired run beats the baselines is read on test, the only split they are recorded on."""
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
    by_run = {r.run: r for r in runs.itertuples()}
    gan = [run for run in tests if "patchgan" in run]
    if not winners or not gan:
        return "; ".join(parts), "pending" if not gan else "refuted: no paired run beats both baselines"
    twins = [(g, w) for g in gan for w in tests if "patchgan" not in w and plain_twin(by_run[g], by_run[w])]
    if not twins:
        return "; ".join(parts), ("inconclusive: no run without the adversarial term on the GAN's "
                                  f"{int(by_run[gan[0]].train_subset)} training pairs")
    gan_better = any(val[g][0] < val[w][0] and val[g][1] > val[w][1] for g, w in twins)
    return "; ".join(parts), "refuted" if gan_better else "reproduced"


def plain_twin(a: object, b: object) -> bool:
    """Whether two image-to-image runs differ only in their adversarial term: same model (and its settings), loss
    and training pairs."""
    keys = ("model", "loss", "train_subset")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and str(getattr(a, "model_kwargs", "")) == str(
        getattr(b, "model_kwargs", ""))


#: PFLD 0.25X's 300-W common-set NME (0.73 M parameters, 112 px; inter-ocular), the published lightweight anchor
#: (PFLD paper, Guo et al. 2019, Table 3; the full-width 1X: 3.32%).
PFLD_COMMON_NME = 0.0338
#: NMEs this close are on par: the standard error of a mean NME over the 554 common-set faces is ~0.05-0.1 points.
ON_PAR_NME = 0.001


def drawn(run: object) -> str:
    """How a run drew its training faces when not each once an epoch (``sampling``; records before the setting have
    none), for its label."""
    sampling = getattr(run, "sampling", None)
    return f", {sampling} sampling" if isinstance(sampling, str) and sampling != "uniform" else ""


def pip_vs_direct(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """The landmark family's grid: every 68-point run's 300-W common-set NME (ground-truth crops), and the PIP
    head against direct regression at the same epochs (on validation NME); reproduced when PIP wins that comparison
    and the PIP run best on validation reaches PFLD's figure on the test set. The three training sets share one
    validation split, 300-W's own hold-out (:mod:`kpdemo.datasets.derived`), so runs on different ones compare."""
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
    recipe = "" if chosen["augmentation"] == usual else f", {chosen['augmentation']}"
    parts.append(f"best PIP run on validation: {chosen['tag']} ({int(chosen['epochs'])} ep{recipe}), test "
                 f"{chosen['test_nme']:.2%} against PFLD's {PFLD_COMMON_NME:.2%} (on ground-truth crops)")
    gap = float(chosen["test_nme"]) - PFLD_COMMON_NME
    anchor = "beats PFLD" if gap < -ON_PAR_NME else "on par with PFLD" if gap <= ON_PAR_NME else "PFLD not reached"
    if not pip_wins:
        return "; ".join(parts), "refuted: direct regression as good"
    return "; ".join(parts), ("reproduced: PIP wins, " + anchor) if gap <= ON_PAR_NME else f"partly: PIP wins, {anchor}"


def lr_insensitive(runs: pd.DataFrame, history: pd.DataFrame, records: Records) -> Finding:
    """Seeds 002/003's nose-tip grid: per loss, whether every learning rate ends near the same validation error
    (worst / best rate's best val RMSE, read with :func:`spread_word`), and whether the worst was still improving
    at its last epoch (then the claim is about speed as much as the end). Turned faces are not scored here."""
    parts, words, improving = [], [], []
    for loss, group in runs.groupby("loss"):
        by_lr = group.sort_values("lr")
        spread = float(by_lr["best_val_rmse_px"].max() / by_lr["best_val_rmse_px"].min())
        words.append(spread_word(spread))
        worst = by_lr.loc[by_lr["best_val_rmse_px"].idxmax()]
        if int(worst["best_epoch"]) == int(worst["epochs_reached"]):
            improving.append(f"{loss} lr {worst['lr']:g}")
        rates = ", ".join(f"lr {r.lr:g} {r.best_val_rmse_px:.2f} px" for r in by_lr.itertuples())
        parts.append(f"{loss}: best val RMSE {rates} (worst/best {spread:.2f}x)")
    if not words:
        return "", "pending"
    text = "; ".join(parts) + "; turned faces not scored"
    note = f"; still improving at its last epoch: {', '.join(improving)}" if improving else ""
    if all(w == "same" for w in words):
        return text, "reproduced"
    if improving:  # the claim is where the rates end up: a rate still improving has not ended up anywhere yet
        return text, f"inconclusive: rates {'apart' if all(w == 'apart' for w in words) else 'close'}{note}"
    return text, "refuted" if all(w == "apart" for w in words) else "inconclusive: rates close"


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


def unjudged(name: str, records: Records) -> str:
    """What a claim without a finished run says: that only ``--quick`` runs exist where that is so (their own
    folder, ``<name>-quick``, which no claim reads: 3 epochs on 256 faces settle nothing), and how to train the grid
    for real; a bare "no finished runs" there read as if the runs had never been made."""
    quick = len(records.of(f"{name}{QUICK_SUFFIX}"))
    if not quick:
        return "no finished runs"
    return (f"only --quick runs ({quick}), a smoke test too short to judge: python -m trainers {name} trains the "
            "grid at its configs' epochs (--epochs N: the seed's budget, as python -m trainers.campaign trains it; "
            "--cpu-budget: its CPU profile)")


def judge(name: str, finished: pd.DataFrame, history: pd.DataFrame, records: Records) -> dict[str, str]:
    """One table row's numbers, budget and verdict. A seed grid's runs at different budgets (a CPU profile beside
    the GPU campaign's 500 epochs) are judged apart: the numbers are the largest budget's, and the verdict names each
    other budget's when they disagree ("reproduced (at 6 epochs, 1500 train images: refuted)"), so a verdict never
    silently mixes or hides them. Other claims compare runs of different budgets on purpose and read them all."""
    if not len(finished):
        return {"our numbers": unjudged(name, records), "budget": "", "verdict": "pending"}
    groups = by_budget(finished) if name in SEED_GRIDS else [finished]
    try:
        judged = [(group, *CHECKS[name](group, history, records)) for group in groups]
    except (AttributeError, KeyError) as exc:  # records written before a metric this check reads existed
        return {"our numbers": "", "budget": budget(groups[0]), "verdict": f"pending: the records lack {exc}"}
    top, numbers, verdict = judged[0]
    if len({v for _, _, v in judged}) > 1:
        verdict = f"{verdict} ({'; '.join(f'at {budget(g)}: {v}' for g, _, v in judged[1:])})"
    return {"our numbers": numbers or "no finished runs", "budget": budget(top), "verdict": verdict}


def findings(roots: list[Path]) -> pd.DataFrame:
    runs, history = load_runs(roots)
    if len(runs):
        runs = runs[runs["status"].isin(FINISHED)]
        runs = runs.assign(epochs_reached=epochs_reached(runs, history),
                           train_subset=runs["train_subset"].fillna(0), eval_subset=runs["eval_subset"].fillna(0))
        # a run a time budget stopped inside its first epoch has no whole epoch to judge (the campaign still starts
        # the groups left when the time is up, and stops them after a batch)
        runs = runs[(runs["status"] == "done") | (runs["epochs_reached"] >= 2)]
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
