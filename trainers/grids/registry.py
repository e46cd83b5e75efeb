"""The experiment registry: every named grid in one place, so the CLI, the app and the dashboard list the same.

Grid modules (:mod:`trainers.grids.seed001`, ``imm``, ``w300``, ``align``, ``landmarks``) call :func:`register`;
:mod:`trainers.grids` imports them all. Nothing here imports a grid module, so there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from trainers.engine.config import QUICK_SUFFIX, TrainConfig


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    claim: str
    configs: tuple[TrainConfig, ...]
    dataset: str = "kaggle15"
    after_run: Callable[[Path], None] | None = None  # extra metrics/figures written into a finished run's folder
    #: Overrides that fit the grid into a few CPU minutes (``--cpu-budget``): the shipped records used these.
    cpu_budget: tuple[tuple[str, object], ...] = ()
    #: Trains one config, ``run_config``'s signature; None = the landmark trainer (image-to-image grids set theirs).
    runner: Callable[..., Path] | None = None
    #: What ``dataset`` is when the grid's runner draws it itself (polygons) rather than reading a registered dataset
    #: (:data:`kpdemo.datasets.DATASETS`): the Train tab lists it by this title and asks for no files.
    own_data: str = ""

    def cpu_budget_overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.cpu_budget]



EXPERIMENTS: dict[str, Experiment] = {}

#: What ``--quick`` changes: a few epochs on a subset, enough to check the pipeline end to end on a CPU.
QUICK = {"epochs": 3, "train_subset": 256, "eval_subset": 256}


def grid(name: str, configs: list[TrainConfig]) -> tuple[TrainConfig, ...]:
    """The configs of one grid, each tagged with the grid's name as its experiment (its runs' folder)."""
    return tuple(replace(c, experiment=name) for c in configs)


def register(*experiments: Experiment) -> None:
    for experiment in experiments:
        if experiment.name in EXPERIMENTS:
            raise ValueError(f"experiment {experiment.name!r} registered twice")
        EXPERIMENTS[experiment.name] = experiment


def registered(experiment: str) -> Experiment | None:
    """The registry's entry of a run's experiment, a ``--quick`` run's (``polygons-quick``) included: a record of it
    names the experiment so, and re-running or resuming it needs its grid's runner and hooks."""
    return EXPERIMENTS.get(experiment.removesuffix(QUICK_SUFFIX))


def quick_name(experiment: str) -> str:
    """The experiment of a ``--quick`` run of ``experiment``: suffixed once (a quick record re-run with ``--quick``
    stays in its folder)."""
    return experiment if experiment.endswith(QUICK_SUFFIX) else experiment + QUICK_SUFFIX


def own_runner(experiment: str) -> Callable[..., Path] | None:
    """The trainer of a registered experiment that has its own (image-to-image grids; their ``--quick`` runs too);
    None for the landmark trainer or a name the registry does not hold (a user's own experiment name trains
    landmarks)."""
    entry = registered(experiment)
    return entry.runner if entry else None


def own_datasets() -> dict[str, str]:
    """The datasets no file holds, drawn by their grid's own runner, by name, each with what it is (``own_data``)."""
    return {e.dataset: e.own_data for e in EXPERIMENTS.values() if e.own_data}


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise KeyError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}") from None
