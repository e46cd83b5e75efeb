"""Fan a grid out over a Ray cluster (``python -m trainers GRID --ray [ADDRESS]``): one task per run, or per
grid-at-once group, each with its own GPU/CPU request, and every record gathered in the driver's one runs root.

Why Ray: a grid is many independent runs, and a single machine trains them one after another. Ray schedules each
unit of work on whichever node has the resources it asks for, so a grid of 18 runs on three GPU nodes takes a third
of the time, with nothing else to set up than ``ray start`` on each node.

Units of work: without ``grid_at_once`` each config is one task (its experiment's runner, else
:func:`trainers.engine.train.run_config`); with it, each group of :func:`trainers.engine.grid.group_configs` is one
task (:func:`trainers.engine.grid.run_grid`, i.e. ``train_together`` for groups of several), and configs of
experiments with their own runner (image-to-image grids) stay one task each, as the CLI trains them.

Records: a worker may sit on another machine with another disk, so each task trains into a temporary runs root of
its own and returns its run folders' files as bytes (``record.json``, ``history.csv``, ``best.pt``, figures; not
``last.pt``, the resume state of a temporary copy, so a gathered run is re-run rather than resumed). The driver writes
them into ``runs_root/<experiment>/<run>/``: its runs directory gathers every run whether or not the workers share a
filesystem. A run that fails still sends its record (``status: "failed"``); the driver raises once all tasks ended.

Starting weights ``run:TAG`` (a fine-tune from another run of the grid): such a config's task is submitted only
once the tasks that train runs tagged ``TAG`` have finished (chains work too); the driver then resolves the reference
in its own runs root exactly as :func:`trainers.engine.weights.resolve_weights` does on one machine, and ships that
run's ``record.json`` and checkpoint into the task's temporary runs root, where the worker resolves it to the same
file (and records the same relative ``weights_file``). A plain weights *file* is not shipped: it must exist at the
same path on the workers (a local instance shares the driver's disk).

Where Ray runs: with ``address`` (``host:port`` of a head node, or ``auto``) the driver joins that cluster, whose
nodes need the repository checked out, importable (``PYTHONPATH``) and the data at ``$KPDEMO_DATA``, all set in the
shell that ran ``ray start`` (workers inherit it). Without one, a ``$RAY_ADDRESS`` in the environment is joined the
same way (Ray's own convention); otherwise a local instance starts with ``num_cpus`` CPUs, and the driver's
``KPDEMO_*`` settings and the repository root (``PYTHONPATH``) reach its workers through ``runtime_env``. A Ray the
caller already initialised is used as it is and left running; one started here is shut down at the end. A cluster
that uses Ray's token authentication (``RAY_AUTH_MODE=token``) wants the driver to hold its token too
(``RAY_AUTH_TOKEN``, or the file ``ray get-auth-token`` reads).

Ray is optional (``requirements-ray.txt``) and imported only when called, so nothing else needs it.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from kpdemo.config import REPO_ROOT
from kpdemo.runs import RECORD, read_record
from trainers.engine.config import TrainConfig
from trainers.engine.grid import group_configs, run_grid
from trainers.engine.train import RESUME_NAME, run_config
from trainers.engine.weights import resolve_weights, run_reference

RAY_INSTALL_HINT = "pip install -r requirements-ray.txt"
#: Files of a worker's run folder the driver does not gather (see the module docstring).
NOT_GATHERED = frozenset({RESUME_NAME})
#: Files under a runs root, by path relative to it (``<experiment>/<run>/<file>``), as tasks send and receive them.
Files = dict[str, bytes]
Runner = Callable[..., Path]


class RayNotInstalledError(ImportError):
    """``--ray`` without Ray installed; the message says how to install it."""


def import_ray() -> ModuleType:
    """The ``ray`` module, imported on demand so that Ray stays an optional dependency."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(f"--ray needs Ray, which is optional: {RAY_INSTALL_HINT}") from exc
    return ray


@dataclass(frozen=True)
class Unit:
    """One task: a single config trained by ``runner``, or (``runner`` None) a grid-at-once group for ``run_grid``."""

    configs: tuple[TrainConfig, ...]
    runner: Runner | None = None

    def train(self, runs_root: Path) -> None:
        if self.runner is not None:
            self.runner(self.configs[0], runs_root, show_progress=False)
        else:
            run_grid(list(self.configs), runs_root, show_progress=False)

    def wants_gpu(self) -> bool:
        """Whether its runs may use a GPU (device ``auto`` or ``cuda``): a ``cpu`` run must not hold one."""
        device = self.configs[0].device
        return device == "auto" or device.startswith("cuda")


def make_units(configs: Sequence[TrainConfig], grid_at_once: bool, runners: Mapping[str, Runner]) -> list[Unit]:
    """The tasks for ``configs``, in their order of first appearance; ``runners`` maps an experiment name to its
    own runner (the landmark trainer otherwise), as in the registry."""
    if not grid_at_once:
        return [Unit((c,), runners.get(c.experiment, run_config)) for c in configs]
    own = [Unit((c,), runners[c.experiment]) for c in configs if c.experiment in runners]
    return own + [Unit(tuple(group)) for group in group_configs([c for c in configs if c.experiment not in runners])]


def referenced_run(config: TrainConfig) -> tuple[str, str] | None:
    """(experiment folder, tag) of the run a config starts from, as :func:`resolve_weights` reads it; None when it
    starts from no run."""
    return run_reference(config.weights, config.experiment)


def dependencies(units: Sequence[Unit]) -> list[set[int]]:
    """For each unit, the other units that train a run its ``run:TAG`` weights name: it starts after them."""
    produces = [{(c.experiment, c.tag) for c in unit.configs if c.tag} for unit in units]
    needs = [{ref for c in unit.configs if (ref := referenced_run(c))} for unit in units]
    return [{j for j, made in enumerate(produces) if j != i and made & needs[i]} for i in range(len(units))]


def read_files(runs_root: Path, run_dirs: Sequence[Path]) -> Files:
    """The files of ``run_dirs`` (subfolders too, e.g. figures), by path relative to ``runs_root``."""
    files: Files = {}
    for run_dir in run_dirs:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.name not in NOT_GATHERED and not path.name.endswith(".tmp"):
                files[path.relative_to(runs_root).as_posix()] = path.read_bytes()
    return files


def write_files(runs_root: Path, files: Files) -> None:
    """Write ``files`` under ``runs_root``; each ``record.json`` last, so a record never names a missing file."""
    for name in sorted(files, key=lambda n: Path(n).name == RECORD):
        path = runs_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])


def run_dir_of(runs_root: Path, config: TrainConfig) -> Path:
    """Where ``config``'s run folder is under a runs root (as :class:`kpdemo.runs.RunWriter` places it)."""
    return Path(runs_root) / config.experiment / config.run_name()


def train_unit(unit: Unit, shipped: Files) -> tuple[Files, str | None]:
    """The task body, on a worker: train ``unit`` in a temporary runs root holding ``shipped`` (the runs its
    ``run:TAG`` weights name); returns its run folders' files and the error that stopped it, if one did.

    The error is returned rather than raised so that a failed run's record still reaches the driver."""
    with tempfile.TemporaryDirectory(prefix="kpdemo-ray-") as tmp:
        root = Path(tmp)
        write_files(root, shipped)
        error = None
        try:
            unit.train(root)
        except Exception:  # reported by the driver with the run's name, after the other tasks ended
            error = traceback.format_exc()
        run_dirs = [d for d in (run_dir_of(root, c) for c in unit.configs) if (d / RECORD).exists()]
        return read_files(root, run_dirs), error


def shipped_runs(unit: Unit, runs_root: Path) -> Files:
    """The record and checkpoint of each run that ``unit``'s ``run:TAG`` weights resolve to in ``runs_root``. An
    unresolvable reference ships nothing: the worker then fails with the error a run on one machine gives."""
    files: Files = {}
    for config in unit.configs:
        if referenced_run(config) is None:
            continue
        try:
            checkpoint = resolve_weights(config.weights, runs_root, config.experiment)
        except FileNotFoundError:
            continue
        for path in (checkpoint.parent / RECORD, checkpoint):
            files[path.relative_to(runs_root).as_posix()] = path.read_bytes()
    return files


def local_runtime_env() -> dict[str, object]:
    """What a local instance's workers need: the repository importable and the driver's ``KPDEMO_*`` settings
    (data, cache, Kaggle CSV, pack), so that they train on the data the driver would."""
    env = {k: v for k, v in os.environ.items() if k.startswith("KPDEMO_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": env}


def connect(ray: ModuleType, address: str | None, num_cpus: int | None) -> bool:
    """Join or start Ray (see the module docstring); returns whether this call started it (and so shuts it down)."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
    elif os.environ.get("RAY_ADDRESS"):
        ray.init()  # Ray reads $RAY_ADDRESS itself; num_cpus belongs to the cluster's nodes then
    else:
        ray.init(num_cpus=num_cpus, runtime_env=local_runtime_env())
    return True


def receive(runs_root: Path, files: Files) -> None:
    """Write a task's run folders into the driver's runs root. A ``last.pt`` left there by an earlier, stopped run
    of the same name is removed: it is not this run's state."""
    for run in {Path(name).parent for name in files if Path(name).name == RECORD}:
        (runs_root / run / RESUME_NAME).unlink(missing_ok=True)
    write_files(runs_root, files)


def trained_runs(runs_root: Path, unit: Unit) -> list[Path]:
    """``unit``'s gathered run folders whose run did not fail (``on_run`` hooks expect a checkpoint, as after a
    plain run, which raises instead of reaching them)."""
    dirs = [run_dir_of(runs_root, c) for c in unit.configs]
    return [d for d in dirs if (d / RECORD).exists() and read_record(d)["status"] != "failed"]


def run_on_ray(
    configs: Sequence[TrainConfig],
    runs_root: Path,
    address: str | None = None,
    gpus_per_task: float | None = None,
    cpus_per_task: float = 1,
    grid_at_once: bool = False,
    show_progress: bool = True,
    *,
    num_cpus: int | None = None,
    runners: Mapping[str, Runner] | None = None,
    on_run: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Train ``configs`` as Ray tasks and gather their records under ``runs_root``; returns the run directories in
    ``configs``' order.

    ``gpus_per_task``: what a task whose runs may use a GPU (device ``auto``/``cuda``) asks for; None = 1 when the
    cluster has GPUs, else 0 (a ``cuda`` run then fails with the plain path's "no CUDA GPU" error instead of waiting
    forever for a GPU). ``num_cpus``: the size of a local instance (None: all CPUs). ``runners``: experiment name
    -> its own runner (image-to-image grids). ``on_run(run_dir)`` is called on the driver for each gathered run as
    its task finishes (the CLI's ``after_run`` hook and summary line). Raises ``RuntimeError`` naming the failed runs
    once every task has ended; their records (``status: "failed"``) are gathered too."""
    ray = import_ray()
    runs_root = Path(runs_root)
    units = make_units(configs, grid_at_once, runners or {})
    waits_for = dependencies(units)
    started = connect(ray, address, num_cpus)
    try:
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        gpus = (1.0 if gpus_per_task is None else gpus_per_task) if has_gpus else 0.0
        task = ray.remote(train_unit)
        pending, running, finished, errors = list(range(len(units))), {}, set(), []
        with tqdm(total=len(units), desc=f"{len(configs)} runs on Ray", unit="task", disable=not show_progress) as bar:
            while pending or running:
                for i in [i for i in pending if waits_for[i] <= finished]:
                    pending.remove(i)
                    options = {"num_cpus": cpus_per_task, "num_gpus": gpus if units[i].wants_gpu() else 0.0}
                    running[task.options(**options).remote(units[i], shipped_runs(units[i], runs_root))] = i
                if not running:
                    raise ValueError(f"run: weights that wait for each other: {[units[i].configs for i in pending]}")
                [ref], _ = ray.wait(list(running), num_returns=1)
                i = running.pop(ref)
                files, error = ray.get(ref)
                receive(runs_root, files)
                finished.add(i)
                bar.update(1)
                if error:
                    errors.append(f"{', '.join(c.run_name() for c in units[i].configs)}:\n{error}")
                for run_dir in trained_runs(runs_root, units[i]) if on_run is not None else []:
                    with tqdm.external_write_mode():  # its lines go above the bar, not through it
                        on_run(run_dir)
    finally:
        if started:
            ray.shutdown()
    if errors:
        raise RuntimeError(f"{len(errors)} Ray task(s) failed (their records say status: failed):\n"
                           + "\n".join(errors))
    return [run_dir_of(runs_root, c) for c in configs]
