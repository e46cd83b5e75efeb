"""The training CLI's run lifecycle (``python -m trainers``): re-running a ``--quick`` record, Ctrl-C, ``--resume``."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trainers.__main__ as cli
from kpdemo.runs import read_record
from trainers.__main__ import build_parser, configs_for
from trainers.__main__ import main as trainers_main
from trainers.engine.config import TrainConfig
from trainers.engine.grid import run_grid
from trainers.engine.run_end import RunInterrupted
from trainers.engine.train import RESUME_NAME, run_config
from trainers.grids import EXPERIMENTS

#: A small ConvNet on 64 kaggle15 faces, two batches an epoch: seconds a run on a loaded CPU.
SMALL = TrainConfig(experiment="clitest", dataset="kaggle15", model="convnet", init="xavier",
                    model_kwargs={"filters": [8, 16, 32], "hidden": [64, 64]}, train_subset=64, eval_subset=64,
                    epochs=3, batch_size=32, device="cpu")
#: A Light polygons control on 32 triangles, two batches an epoch.
POLYGONS = replace(next(c for c in EXPERIMENTS["polygons"].configs if c.model == "light"), train_subset=32,
                   eval_subset=16, epochs=3, batch_size=16)


def _record(path: Path, config: TrainConfig, **fields: object) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "record.json").write_text(json.dumps({"config": config.to_dict()} | fields))
    return path / "record.json"


@pytest.mark.parametrize("quick", [[], ["--quick"]])
def test_a_quick_image_grid_record_re_runs_with_its_grids_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 quick: list[str]) -> None:
    """A ``--quick`` polygons record names the experiment ``polygons-quick``: its runner (not the landmark trainer,
    which refused the model 'light') trains it, in that folder, also when ``--quick`` is given again."""
    trained: list[TrainConfig] = []

    def runner(config: TrainConfig, root: Path, **_: object) -> Path:
        trained.append(config)
        return _record(root / config.experiment / config.run_name(), config, status="done", best={}, test={}).parent

    monkeypatch.setitem(EXPERIMENTS, "polygons", replace(EXPERIMENTS["polygons"], runner=runner, after_run=None))
    control = next(c for c in EXPERIMENTS["polygons"].configs if c.model == "light")
    record = _record(tmp_path / "record", replace(control, experiment="polygons-quick", epochs=1))
    assert configs_for(build_parser().parse_args(["--from-record", str(record)]))[0].model == "light"
    assert trainers_main(["--from-record", str(record), "--runs", str(tmp_path / "runs"), *quick]) == 0
    assert [c.experiment for c in trained] == ["polygons-quick"]


def _ctrl_c_at(poll: int) -> Callable[[], bool]:
    """A ``should_stop`` that raises KeyboardInterrupt at its ``poll``-th call (one a batch, one an epoch's end), as
    Ctrl-C does at any point of a batch."""
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        if len(calls) == poll:
            raise KeyboardInterrupt
        return False

    return should_stop


def _history(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")


@pytest.mark.needs_data
def test_ctrl_c_stops_a_run_cleanly_and_resume_finishes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in the second epoch: the CLI says in one line how to go on (no traceback), the run is ``stopped`` with
    its best checkpoint and the resume state of its first epoch; ``--resume`` ends it ``done``, with the history
    of a run trained straight through and no ``error``."""
    straight = run_config(SMALL, tmp_path / "straight", show_progress=False)
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"config": SMALL.to_dict()}))
    monkeypatch.setattr(cli, "run_config", lambda config, root: run_config(config, root, should_stop=_ctrl_c_at(4),
                                                                           show_progress=False))
    assert trainers_main(["--from-record", str(record), "--runs", str(tmp_path / "runs")]) == 130
    run_dir = tmp_path / "runs" / SMALL.experiment / SMALL.run_name()
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [f"stopped: {run_dir} keeps its best checkpoint; python -m trainers --resume {run_dir} goes on "
                    "from its last finished epoch"]
    stopped = read_record(run_dir)
    assert stopped["status"] == "stopped" and "error" not in stopped and (run_dir / stopped["checkpoint"]).is_file()
    assert (run_dir / RESUME_NAME).is_file() and stopped["best"]["epoch"] == 1

    monkeypatch.undo()
    assert trainers_main(["--resume", str(run_dir)]) == 0
    done = read_record(run_dir)
    assert done["status"] == "done" and "error" not in done and not (run_dir / RESUME_NAME).exists()
    assert list(_history(run_dir)["epoch"]) == [1, 2, 3]
    for column in ("train_loss", "val_loss", "val_rmse_px"):
        assert np.allclose(_history(run_dir)[column], _history(straight)[column], rtol=1e-5), column


@pytest.mark.needs_data
def test_a_stop_that_comes_with_the_last_batch_leaves_the_run_done(tmp_path: Path) -> None:
    """A stop polled after the last batch of the last epoch (the Train tab's time cap running out then) left nothing
    undone: alone and in a grid at once the runs are ``done``; one a batch earlier, ``stopped``."""
    config = replace(SMALL, epochs=2)
    polls: list[int] = []

    def stop_from(poll: int) -> Callable[[], bool]:
        polls.clear()
        return lambda: polls.append(1) or len(polls) >= poll

    # alone: polls after each batch and at each epoch's end, so the 5th follows epoch 2's second and last batch
    for poll, status in ((5, "done"), (4, "stopped")):
        run_dir = run_config(config, tmp_path / f"alone{poll}", should_stop=stop_from(poll), show_progress=False)
        assert read_record(run_dir)["status"] == status, poll
    # a grid at once polls after each of its 4 steps
    grid = [replace(config, optimizer="sgd", lr=1e-2), replace(config, optimizer="adam", lr=1e-3)]
    for poll, status in ((4, "done"), (3, "stopped")):
        for run_dir in run_grid(grid, tmp_path / f"grid{poll}", should_stop=stop_from(poll), show_progress=False):
            assert read_record(run_dir)["status"] == status, poll


@pytest.mark.needs_data
def test_ctrl_c_in_a_grid_at_once_keeps_its_runs_and_resume_says_why_it_cannot_go_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The stacked runs end ``stopped`` with their best checkpoints; they keep no resume state, and ``--resume``
    says so and what to do instead, not that the record was shipped or copied."""
    grid = [replace(SMALL, optimizer="sgd", lr=1e-2), replace(SMALL, optimizer="adam", lr=1e-3)]
    stale = tmp_path / SMALL.experiment / grid[0].run_name() / RESUME_NAME  # left by an earlier lone run of it
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's state")
    with pytest.raises(RunInterrupted) as interrupt:
        run_grid(grid, tmp_path, should_stop=_ctrl_c_at(3), show_progress=False)
    assert not stale.exists()  # --resume would have gone on from the other run's weights
    assert not interrupt.value.resumable and len(interrupt.value.run_dirs) == 2
    carried = pickle.loads(pickle.dumps(interrupt.value))  # as from a worker process
    assert (carried.run_dirs, carried.resumable) == (interrupt.value.run_dirs, False)
    for run_dir in interrupt.value.run_dirs:
        record = read_record(run_dir)
        assert record["status"] == "stopped" and (run_dir / record["checkpoint"]).is_file()
    with pytest.raises(SystemExit):
        trainers_main(["--resume", str(interrupt.value.run_dirs[0])])
    said = capsys.readouterr().err
    assert "trained at once with its grid (--grid-at-once), which keeps no resume state" in said
    assert "shipped" not in said and f"--from-record {interrupt.value.run_dirs[0] / 'record.json'}" in said


def test_an_image_grid_run_interrupted_resumes_to_the_run_trained_straight_through(tmp_path: Path) -> None:
    """The image trainer keeps the same resume state: a polygons run stopped by Ctrl-C in its second epoch, then
    ``--resume``d, ends ``done`` with the history, checkpoint and figure of the run trained straight through."""
    runner = EXPERIMENTS["polygons"].runner
    straight = runner(POLYGONS, tmp_path / "straight", show_progress=False)
    with pytest.raises(RunInterrupted) as interrupt:
        runner(POLYGONS, tmp_path / "runs", should_stop=_ctrl_c_at(4), show_progress=False)
    (run_dir,) = interrupt.value.run_dirs
    assert interrupt.value.resumable and read_record(run_dir)["status"] == "stopped"
    assert (run_dir / "net.pt").is_file() and list(_history(run_dir)["epoch"]) == [1]
    assert trainers_main(["--resume", str(run_dir)]) == 0
    assert read_record(run_dir)["status"] == "done" and (run_dir / "examples_test.png").is_file()
    for column in ("train_loss", "val_loss", "val_iou"):
        assert np.allclose(_history(run_dir)[column], _history(straight)[column], rtol=1e-5), column
