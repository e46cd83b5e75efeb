"""``python -m trainers EXPERIMENT [--quick] [--device cpu|cuda] [--epochs N] [--set key=value ...]``.

Runs every config of a named grid (see ``--list``), one after another, each recorded under the runs root.
``--from-record path/record.json`` re-runs exactly the config a record holds. ``--weights PATH`` starts every
config from a local weights file (e.g. an ImageNet ``resnet18-*.pth`` you have). ``--only SUBSTRING`` keeps the
configs whose run name contains it (e.g. ``--only convnet``). ``--grid-at-once`` trains the runs that share data and
architecture as one batched model (see :mod:`trainers.engine.grid`); each still writes its own record. ``--ray
[ADDRESS]`` fans the runs (or, with ``--grid-at-once``, the groups) out as tasks over a Ray cluster, or a local Ray
instance without an address, and gathers their records in the one runs root (see :mod:`trainers.engine.distributed`).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kpdemo.config import runs_dir
from kpdemo.runs import RECORD, epochs_recorded, read_record
from trainers.engine.config import TrainConfig, apply_overrides
from trainers.engine.distributed import RayNotInstalledError, import_ray, run_on_ray
from trainers.engine.grid import group_configs, run_grid
from trainers.engine.identity import check_recorded_weights, other_run_there, with_variant
from trainers.engine.run_end import stop_message, why_no_resume_state
from trainers.engine.train import RESUME_NAME, check_config, resolve_device, run_config
from trainers.engine.weights import RUN_PREFIX, resolve_weights
from trainers.errors import UsageError, reports_user_errors
from trainers.grids import EXPERIMENTS, QUICK, Experiment, get_experiment, own_runner, quick_name, registered


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainers", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", nargs="?", help=f"one of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--from-record", type=Path, help="re-run the config stored in a run's record.json")
    parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                        help="continue a stopped or killed run from its last finished epoch (same record)")
    parser.add_argument("--quick", action="store_true", help=f"CPU smoke profile: {QUICK}")
    parser.add_argument("--cpu-budget", action="store_true",
                        help="the experiment's CPU-minutes profile (fewer epochs, subsets) used for shipped records")
    parser.add_argument("--device", help="cpu | cuda | auto (default: the config's, auto)")
    parser.add_argument("--epochs", type=int, help="override every config's epochs")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="start from this file: a kpdemo checkpoint or a local torchvision state_dict, e.g. "
                             "ImageNet resnet18-*.pth (same as --set weights=PATH; never downloaded)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="typed config override, repeatable (e.g. --set lr=3e-4 --set augmentation=flip)")
    parser.add_argument("--only", help="run only configs whose run name contains this")
    parser.add_argument("--grid-at-once", action="store_true",
                        help="train the runs that share data and architecture together, as one batched model "
                             "(each keeps its own init, optimizer, lr, dropout, schedule and record)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="train the runs (groups, with --grid-at-once) as tasks on the Ray cluster at ADDRESS "
                             "(host:port), or on a local Ray instance without one; records are gathered in --runs "
                             "(needs: pip install -r requirements-ray.txt)")
    parser.add_argument("--runs", type=Path, default=None, help="runs root (default $KPDEMO_RUNS or ./runs)")
    parser.add_argument("--list", action="store_true", help="list experiments and their runs, then exit")
    return parser


def configs_for(args: argparse.Namespace) -> list[TrainConfig]:
    """The configs the arguments ask for: the grid's (or the record's) with its budget (--cpu-budget, --quick), then
    --device, --epochs, --weights and --set applied in that order, each named with what those changed
    (:func:`~trainers.engine.identity.with_variant`); a record's start weights checked against their hash."""
    if args.from_record:
        record = rerun_record(args.from_record)
        try:
            bases = [TrainConfig.from_dict(record["config"])]
        except ValueError as exc:  # another trainer's record, or a hand-edited one
            raise UsageError(f"--from-record: {args.from_record}: {exc}") from None
    else:
        bases = list(get_experiment(args.experiment).configs)
    profile = []  # a grid's own budgets: its runs keep their names
    if args.cpu_budget and args.experiment:
        profile += get_experiment(args.experiment).cpu_budget_overrides()
    if args.quick:
        profile += [f"{k}={v}" for k, v in QUICK.items()]
    bases = [apply_overrides(c, profile) for c in bases]
    overrides = []
    if args.device:
        overrides.append(f"device={args.device}")
    if args.epochs is not None:
        overrides.append(f"epochs={args.epochs}")
    if args.weights is not None:
        overrides.append(f"weights={args.weights}")
    overrides += args.overrides
    configs = [with_variant(c, apply_overrides(c, overrides)) for c in bases]
    if args.only:  # by the names --list shows: without what the overrides changed
        configs = [c for c, base in zip(configs, bases, strict=True)
                   if args.only in replace(c, variant=base.variant).run_name()]
    for config in configs:  # every setting checked before the first run loads its data
        check_config(config, landmarks=own_runner(config.experiment) is None)  # image grids: their own names
        if config.weights and not config.weights.startswith(RUN_PREFIX):  # run:TAG may be an earlier run's
            try:
                resolve_weights(config.weights, Path("."), config.experiment)
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"{config.run_name()} starts from weights that are not here ({exc}); "
                                        "--set weights=PATH points it at another copy") from None
    note = check_recorded_weights(args.from_record, record, configs[0]) if args.from_record and configs else None
    if note:
        print(note, file=sys.stderr, flush=True)
    return configs


def rerun_record(path: Path) -> dict[str, Any]:
    """The run record ``--from-record`` names, or a :class:`UsageError` saying what the file is instead (a folder,
    not JSON, JSON without a config), where json's and KeyError's own words named no file."""
    if path.is_dir():
        inside = path / RECORD
        hint = f": its record is {inside}" if inside.is_file() else f", and holds no {RECORD}"
        raise UsageError(f"--from-record takes a run's {RECORD}; {path} is a folder{hint}")
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"--from-record: {path} not found") from None
    except ValueError as exc:  # not JSON, or not text at all
        raise UsageError(f"--from-record: {path} is not a run record ({RECORD} is JSON; reading it: {exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise UsageError(f"--from-record: {path} holds no run config (a {RECORD} that a training run wrote has one)")
    return record


def other_runs_there(configs: list[TrainConfig], root: Path, quick: bool) -> str | None:
    """A refusal naming each run folder that holds another run (:func:`other_run_there`) which training ``configs``
    would overwrite: a name that cannot tell them apart."""
    taken = []
    for config in configs:
        folder = root / (quick_name(config.experiment) if quick else config.experiment) / config.run_name()
        other = other_run_there(folder, config)
        if other:
            taken.append(f"{folder} holds another run ({other})")
    if not taken:
        return None
    return (f"{'; '.join(taken)}: training now would overwrite what is there. Remove the folder to replace it, or "
            "keep both: --set variant=NAME (a name part of your own) or --runs DIR")


def print_experiments() -> None:
    for exp in EXPERIMENTS.values():
        print(f"{exp.name}: {exp.description} [{exp.dataset}]")
        for config in exp.configs:
            print(f"    {config.run_name()}")


def resume_run(run_dir: Path) -> int:
    """Continue the run in ``run_dir`` (its record names the config; its parent's parent is the runs root) with its
    experiment's trainer, then its ``after_run`` hook, as a run trained straight through gets."""
    if not (run_dir / RECORD).is_file():
        raise FileNotFoundError(f"--resume: {run_dir} holds no {RECORD}: not a run folder")
    record = read_record(run_dir)
    if record.get("status") == "done":
        raise ValueError(f"--resume: {run_dir} is finished ({epochs_recorded(run_dir)} epochs): nothing to resume")
    if not (run_dir / RESUME_NAME).is_file():
        raise FileNotFoundError(f"--resume: {run_dir} has no {RESUME_NAME}: {why_no_resume_state(run_dir, record)}")
    config = TrainConfig.from_dict(record["config"])
    experiment = registered(config.experiment)
    runner = (experiment.runner if experiment else None) or run_config
    print(f"resuming {run_dir}", flush=True)
    finish_run_dir(runner(config, run_dir.resolve().parent.parent, resume=True),
                   experiment.after_run if experiment else None)
    return 0


def exits_on_interrupt(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """``main``, ended by Ctrl-C with :func:`stop_message` and exit status 130 (a shell's for an interrupt) instead of
    a traceback: the runs it was training are recorded ``stopped`` by then (:mod:`trainers.engine.run_end`)."""
    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except KeyboardInterrupt as interrupt:
            print(stop_message(interrupt), file=sys.stderr, flush=True)
            return 130

    return wrapped


@reports_user_errors("python -m trainers")
@exits_on_interrupt
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print_experiments()
        return 0
    if args.resume:
        given = [flag for flag, value in (("an experiment", args.experiment), ("--from-record", args.from_record),
                                          ("--quick", args.quick), ("--cpu-budget", args.cpu_budget),
                                          ("--device", args.device), ("--epochs", args.epochs),
                                          ("--weights", args.weights), ("--set", args.overrides), ("--only", args.only),
                                          ("--grid-at-once", args.grid_at_once), ("--ray", args.ray is not None),
                                          ("--runs", args.runs)) if value]
        if given:
            parser.error(f"--resume continues a run exactly as its record says: it takes no {', '.join(given)}")
        try:
            return resume_run(args.resume)
        except (ValueError, OSError) as exc:
            parser.error(str(exc))
    if not args.experiment and not args.from_record:
        parser.error("name an experiment (see --list), or give --from-record or --resume")
    if args.ray is not None:
        try:
            import_ray()
        except RayNotInstalledError as exc:
            parser.error(str(exc))
    try:
        configs = configs_for(args)
    except (KeyError, ValueError, OSError) as exc:
        parser.error(str(exc.args[0] if isinstance(exc, KeyError) else exc))
    if not configs:
        parser.error(f"no config of {args.experiment or str(args.from_record)!r} matches --only {args.only!r}")
    root = args.runs or runs_dir()
    taken = other_runs_there(configs, root, args.quick)
    if taken:
        parser.error(taken)
    if args.ray is not None:
        return run_distributed(configs, root, args.quick, args.ray or None, args.grid_at_once)
    if args.grid_at_once:
        return run_at_once(configs, root, args.quick)
    for i, config in enumerate(configs, 1):
        experiment = registered(config.experiment)
        after_run = experiment.after_run if experiment else None
        runner = own_runner(config.experiment) or run_config
        if args.quick:
            config = replace(config, experiment=quick_name(config.experiment))
        print(f"[{i}/{len(configs)}] {config.experiment}/{config.run_name()}", flush=True)
        run_dir = runner(config, root)
        finish_run_dir(run_dir, after_run)
    return 0


def finish_run_dir(run_dir: Path, after_run: Callable[[Path], None] | None) -> None:
    """The experiment's ``after_run`` hook on a finished run, then its one-line summary."""
    if after_run is not None:
        after_run(run_dir)
    record = read_record(run_dir)
    print(f"    -> {run_dir}  best {record['best']}  test {record['test']}", flush=True)


def with_registry(configs: list[TrainConfig], quick: bool) -> tuple[list[TrainConfig], dict[str, Experiment | None]]:
    """The configs as they train (``--quick`` renames each experiment) and each experiment's registry entry
    (runner, after_run) by that name, since the renamed experiment is not in the registry."""
    registry = {}
    renamed = []
    for config in configs:
        experiment = registered(config.experiment)
        if quick:
            config = replace(config, experiment=quick_name(config.experiment))
        registry[config.experiment] = experiment
        renamed.append(config)
    return renamed, registry


def run_distributed(configs: list[TrainConfig], root: Path, quick: bool, address: str | None,
                    grid_at_once: bool) -> int:
    """``--ray``: tasks on a Ray cluster (:func:`trainers.engine.distributed.run_on_ray`); each gathered run gets its
    experiment's ``after_run`` hook and summary line on this machine, as it arrives."""
    renamed, registry = with_registry(configs, quick)
    runners = {name: exp.runner for name, exp in registry.items() if exp is not None and exp.runner is not None}

    def finish(run_dir: Path) -> None:
        experiment = registry.get(run_dir.parent.name)
        finish_run_dir(run_dir, experiment.after_run if experiment else None)

    run_on_ray(renamed, root, address=address, grid_at_once=grid_at_once, runners=runners, on_run=finish)
    return 0


def run_at_once(configs: list[TrainConfig], root: Path, quick: bool) -> int:
    """``--grid-at-once``: landmark configs train group by group (:func:`trainers.engine.grid.run_grid`); configs of
    experiments with their own runner (image-to-image grids) still train one by one with it."""
    renamed, registry = with_registry(configs, quick)

    def runner_of(config: TrainConfig) -> Callable[..., Path] | None:  # by the renamed (--quick) experiment
        experiment = registry[config.experiment]
        return experiment.runner if experiment else None

    groups = [[c] for c in renamed if runner_of(c)] + group_configs([c for c in renamed if not runner_of(c)])
    if any(len(g) > 1 and resolve_device(g[0].device).type == "cpu" for g in groups):
        print("note: on a CPU a grid at once is usually slower than its runs one by one (each convolution becomes "
              "one grouped convolution; bench/results/grid_speed.csv): --grid-at-once pays on a GPU", flush=True)
    for i, group in enumerate(groups, 1):
        together = " (together)" if len(group) > 1 else ""
        print(f"[{i}/{len(groups)}] {group[0].experiment}/{', '.join(c.run_name() for c in group)}{together}",
              flush=True)
        runner = runner_of(group[0])
        run_dirs = [runner(group[0], root)] if runner else run_grid(group, root)
        experiment = registry[group[0].experiment]
        for run_dir in run_dirs:
            finish_run_dir(run_dir, experiment.after_run if experiment else None)
    return 0

if __name__ == "__main__":
    sys.exit(main())
