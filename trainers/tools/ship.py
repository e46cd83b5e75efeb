"""``python -m trainers.tools.ship RUNS_ROOT [--experiments ...] [--best RUN_DIR --to checkpoints/NAME.pt]``.

Copies the records of finished runs (``record.json`` + ``history.csv``, never weights; done, or stopped early by a
time budget, as the GPU campaign's runs may be) from a runs root into the repo's shipped runs
(``checkpoints/runs/<experiment>/<run>/``) so the dashboard has results on a fresh clone. ``--best`` also ships one
run's checkpoint as a single file beside them, its weights stored as fp16 (``load_model`` widens them back to
float32), and points that run's shipped record at it. ``--soup-with`` ships instead the mean of that run's weights and
another checkpoint's (a weight soup: both must be one architecture, and the run fine-tuned from the other, so their
weights lie in one basin); the record then names that file and its SHA-256 as they were in ``soup_with`` (the file
may be the very one the soup replaces). A record is not replaced by a run of its name that trained fewer epochs
(a GPU call's seed runs, stopped by its deadline, share their names with the runs of earlier calls):
``--replace-longer`` replaces it anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

from kpdemo.checkpoints import load_checkpoint, save_checkpoint
from kpdemo.config import SHIPPED_RUNS_DIR
from kpdemo.datasets import get_dataset
from kpdemo.files import file_sha256
from kpdemo.runs import FINISHED, HISTORY, RECORD, epochs_recorded, read_record
from trainers.errors import UsageError, reports_user_errors


class TakenName(ValueError):
    """A shipped record of that name belongs to another run whose weights ship: copying over it would credit that
    shipped file to this run (the GPU campaign's IMM fine-tune has the shipped IMM run's name: same config)."""


class ShorterRun(ValueError):
    """A shipped record of that name trained more epochs: a run stopped by a time budget (a GPU call's seed grids,
    named for the 500 epochs they aim at) must not replace a namesake that got further, or the findings' budget
    would fall back."""


def ship_record(run_dir: Path, dest_root: Path, checkpoint: str | None = None,
                soup_with: dict[str, str] | None = None, replace_longer: bool = False) -> Path:
    """Copy one run's record and history under ``dest_root``; ``checkpoint`` is a path relative to the copy;
    ``soup_with`` (path, sha256) names the checkpoint its shipped weights were averaged with.

    Refuses (:class:`TakenName`) to replace the record of another run of the same name that a shipped checkpoint
    links to, or (:class:`ShorterRun`) one with more epochs in its history (unless ``replace_longer``), except when
    ``checkpoint`` is given (``--best``: this run's weights then take that place, and its record goes with them)."""
    record = read_record(run_dir)
    dest = dest_root / record["experiment"] / record["name"]
    before, now = epochs_recorded(dest), epochs_recorded(run_dir)
    if checkpoint is None and not replace_longer and before > now:
        raise ShorterRun(f"{run_dir} not shipped: {dest} got further ({before} epochs against {now}); "
                         "--replace-longer ships it anyway")
    linked = shipped_checkpoint(dest)
    if linked and checkpoint is None and (started := read_record(dest).get("started")) != record.get("started"):
        raise TakenName(f"{run_dir} not shipped: {dest} is another run of that name (started {started}), and "
                        f"{linked} ships its weights")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run_dir / HISTORY, dest / HISTORY)
    for figure in run_dir.glob("*.png"):  # small figures; predictions_*.png show dataset faces and stay behind
        if not figure.name.startswith("predictions"):
            shutil.copy2(figure, dest / figure.name)
    record["checkpoint"] = checkpoint or linked
    if soup_with is not None:
        record["soup_with"] = soup_with
    (dest / RECORD).write_text(json.dumps(record, indent=2, default=str))
    return dest


def shipped_checkpoint(dest: Path) -> str | None:
    """The checkpoint an already shipped record points at, if that file exists: re-shipping a grid's records must
    not cut the link between a shipped model and its record."""
    if not (dest / RECORD).exists():
        return None
    pointer = read_record(dest).get("checkpoint")
    return pointer if pointer and (dest / pointer).is_file() else None


def checkpoint_link(target: Path, run_dest: Path) -> str:
    """The checkpoint path a shipped record holds: ``target`` relative to the record's folder, both resolved first
    (a relative ``--to`` or ``--dest`` read from another folder than the other once gave a record
    ``../../../../work/main/checkpoints/...``, which no checkout resolves)."""
    return Path(os.path.relpath(target.resolve(), run_dest.resolve())).as_posix()


def unlink_superseded(dest_root: Path, target: Path, keep: Path) -> list[Path]:
    """Clear the checkpoint link of every shipped record (but ``keep``'s) that points at ``target``: a shipped
    file that now holds another run's weights must not be credited to the run it replaced. Returns those records."""
    cleared = []
    for record_path in sorted(dest_root.glob(f"*/*/{RECORD}")):
        record = json.loads(record_path.read_text())
        pointer = record.get("checkpoint")
        if record_path.parent.resolve() == keep.resolve() or not pointer:
            continue
        if (record_path.parent / pointer).resolve() == target.resolve():
            record["checkpoint"] = None
            record_path.write_text(json.dumps(record, indent=2, default=str))
            cleared.append(record_path)
    return cleared


def soup(state: dict[str, torch.Tensor], other: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean of two state dicts of one architecture (integer buffers, such as BatchNorm's batch count, are
    ``state``'s); a UsageError names the first tensor that does not match."""
    if state.keys() != other.keys():
        raise UsageError(f"cannot average weights of different models: {sorted(state.keys() ^ other.keys())[0]!r} "
                         "is in one only")
    for key, value in state.items():
        if value.shape != other[key].shape:
            raise UsageError(f"cannot average weights of different models: {key!r} is {tuple(value.shape)} in one, "
                             f"{tuple(other[key].shape)} in the other")
    return {k: (v.float() + other[k].float()) / 2 if v.is_floating_point() else v for k, v in state.items()}


def best_checkpoint(run_dir: Path) -> Path:
    """The checkpoint file of the run in ``run_dir``, or a :class:`UsageError` saying why there is none to ship: no
    run there, a run that wrote none (failed, or still in its first epochs), or a record whose file is gone (a
    shipped or copied record keeps no weights)."""
    if not (run_dir / RECORD).is_file():
        raise UsageError(f"{run_dir} is not a run folder (no {RECORD})")
    record = read_record(run_dir)
    if not record.get("checkpoint"):
        raise UsageError(f"{run_dir} has no checkpoint to ship (status {record.get('status')}: a run writes one "
                         "when it ends, done or stopped)")
    path = run_dir / record["checkpoint"]
    if not path.is_file():
        raise UsageError(f"{run_dir}'s checkpoint {path} is not there (a shipped or copied record keeps no weights: "
                         "ship from the runs root the run trained in)")
    return path


def ship_checkpoint(run_dir: Path, target: Path, soup_with: Path | None = None) -> Path:
    """Write ``run_dir``'s best checkpoint (averaged with ``soup_with``'s weights when given) to ``target`` with
    floating-point weights as fp16.

    ``meta.refine`` and ``meta.own_box`` are set from the training set's registry entry, so a run recorded before
    those existed ships with them too."""
    state, meta = load_checkpoint(best_checkpoint(run_dir))
    if soup_with is not None:
        other, other_meta = load_checkpoint(soup_with)
        if (other_meta.model, other_meta.schema) != (meta.model, meta.schema):
            raise UsageError(f"{soup_with} is a {other_meta.model} for {other_meta.schema}, the run a {meta.model} "
                             f"for {meta.schema}: only one architecture's weights can be averaged")
        state = soup(state, other)
    meta = replace(meta, **(get_dataset(meta.dataset).crop_record() if meta.dataset else {"refine": False}))
    save_checkpoint(target, {k: v.half() if v.is_floating_point() else v for k, v in state.items()}, meta)
    return target


@reports_user_errors("python -m trainers.tools.ship")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.ship", description=__doc__.split("\n\n")[1])
    parser.add_argument("runs_root", type=Path,
                        help="where the runs trained: <runs_root>/<experiment>/<run>/record.json (e.g. runs)")
    parser.add_argument("--experiments", nargs="*", help="only these experiments (default: all finished runs)")
    parser.add_argument("--best", type=Path, help="a run directory whose checkpoint to ship")
    parser.add_argument("--soup-with", type=Path, help="ship the mean of --best's weights and this checkpoint's")
    parser.add_argument("--to", type=Path, help="where --best's checkpoint goes, e.g. checkpoints/ibug68_pip.pt")
    parser.add_argument("--dest", type=Path, default=SHIPPED_RUNS_DIR,
                        help="where the records go (default: this repo's checkpoints/runs, what the app and the "
                             "findings read)")
    parser.add_argument("--replace-longer", action="store_true",
                        help="replace shipped records even by runs of the same name that trained fewer epochs")
    args = parser.parse_args(argv)
    if args.best and not args.to:
        parser.error("--best needs --to checkpoints/<name>.pt")
    if args.soup_with and not args.best:
        parser.error("--soup-with needs --best RUN_DIR")
    if args.best:  # before any record ships: a refused --best leaves checkpoints/runs as it was
        best_checkpoint(args.best)
    if args.soup_with and not args.soup_with.is_file():
        raise UsageError(f"--soup-with: {args.soup_with} not found")
    records = sorted(args.runs_root.glob(f"*/*/{RECORD}"))
    if not records:
        parser.error(f"{args.runs_root}: no runs (<experiment>/<run>/{RECORD}) to ship")
    present = {path.parent.parent.name for path in records}
    if absent := sorted(set(args.experiments or ()) - present):
        print(f"warning: no runs of {', '.join(absent)} under {args.runs_root} (it holds {', '.join(sorted(present))})",
              file=sys.stderr)
    shipped = 0
    for record_path in records:
        run_dir = record_path.parent
        record = read_record(run_dir)
        if record.get("status") not in FINISHED or (args.experiments and record["experiment"] not in args.experiments):
            continue
        if args.best and run_dir.resolve() == args.best.resolve():
            continue
        try:
            ship_record(run_dir, args.dest, replace_longer=args.replace_longer)
        except (TakenName, ShorterRun) as exc:  # the other records still ship
            print(f"warning: {exc}", file=sys.stderr)
            continue
        shipped += 1
    if args.best:
        partner = None if args.soup_with is None else {
            "path": args.soup_with.as_posix(), "sha256": file_sha256(args.soup_with)}
        target = ship_checkpoint(args.best, args.to, args.soup_with)
        record = read_record(args.best)
        run_dest = args.dest / record["experiment"] / record["name"]
        dest = ship_record(args.best, args.dest, checkpoint=checkpoint_link(target, run_dest),
                           soup_with=partner)
        print(f"checkpoint -> {target} ({target.stat().st_size / 2**20:.1f} MiB), record -> {dest}")
        for superseded in unlink_superseded(args.dest, target, keep=dest):
            print(f"{superseded.parent.name}: no longer linked to {target.name}")
        shipped += 1
    print(f"shipped {shipped} run record(s) to {args.dest}")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
