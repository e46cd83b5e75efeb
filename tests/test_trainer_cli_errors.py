"""The training CLIs' expected user errors: each a one-line ``prog: error: ...`` and exit code 2, never a traceback,
and nothing left behind (no run folder, no shipped record). No real data needed: runs read a synthetic Kaggle CSV."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from kpdemo.checkpoints import CheckpointMeta, save_checkpoint
from kpdemo.models import build_model
from tests.test_trainers import _write_kaggle_csv
from trainers.__main__ import main as trainers_main
from trainers.engine.data import cached_dataset
from trainers.tools.ship import main as ship_main

#: One small ConvNet run of the ``best`` grid on the synthetic CSV: its data load takes well under a second.
COMPACT = ["best", "--only", "compact", "--set", "dataset=kaggle_csv", "--device", "cpu", "--epochs", "1"]


@pytest.fixture
def kaggle_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$KPDEMO_KAGGLE_CSV`` at a synthetic training.csv (the ``kaggle_csv`` dataset), read afresh by this test."""
    csv = tmp_path / "training.csv"
    _write_kaggle_csv(csv)
    monkeypatch.setenv("KPDEMO_KAGGLE_CSV", str(csv))
    cached_dataset.cache_clear()
    yield csv
    cached_dataset.cache_clear()


def refused(main: object, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The error line ``main(argv)`` exits with (code 2, as argparse's usage errors), checked to be the only
    thing on stderr: no traceback, and none of torch's advice to load a file unsafely."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)  # type: ignore[operator]
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "weights_only" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m trainers"), err
    return lines[0]


def write_weights(path: Path, kind: str) -> Path:
    """A weights file that no ConvNet can start from, of one kind."""
    if kind == "not a checkpoint":
        path.write_text("these are no weights")
    elif kind == "truncated":
        torch.save(build_model("convnet", num_points=15, in_channels=1, input_size=96).state_dict(), path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "pickled objects":
        torch.save(torch.nn.Linear(2, 2), path)  # a whole module, not its state_dict
    elif kind == "plain pickle":
        path.write_bytes(pickle.dumps({"weights": ValueError("not a tensor")}))  # Python's own pickle, not torch.save
    elif kind == "training state":
        torch.save({"epoch": 3, "model": {"w": torch.zeros(1)}}, path)
    elif kind == "another model's checkpoint":
        resnet = build_model("resnet18", num_points=68, in_channels=3, input_size=64, stages=3)
        meta = CheckpointMeta(model="resnet18", schema="ibug68", input_size=(64, 64), in_channels=3,
                              model_kwargs={"stages": 3}, run="finetune_resnet18_e10")
        save_checkpoint(path, resnet.state_dict(), meta)
    elif kind == "another model's state_dict":
        torch.save(build_model("resnet18", num_points=68, in_channels=3, input_size=64, stages=3).state_dict(), path)
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("not a checkpoint", "is not a PyTorch weights file, or it is truncated"),
    ("truncated", "is not a PyTorch weights file, or it is truncated"),
    ("pickled objects", "holds Python objects besides tensors (a whole pickled model"),
    pytest.param("plain pickle", "holds Python objects besides tensors",  # torch warns of pickle protocol 4
                 marks=pytest.mark.filterwarnings("ignore:Detected pickle protocol")),
    ("training state", "neither a kpdemo checkpoint nor a state_dict (a dict of tensors); it holds a dict of 2 "
                       "entries ('epoch', 'model')"),
    ("another model's checkpoint", "none of its weights fits this ConvNet (no name and shape in common): it is the "
                                   "checkpoint of a resnet18 model for ibug68 points, run finetune_resnet18_e10"),
    ("another model's state_dict", "none of its weights fits this ConvNet (no name and shape in common); start"),
])
def test_a_weights_file_no_run_can_start_from_is_refused_by_name(
        kind: str, message: str, kaggle_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``--weights`` once surfaced torch's traceback (advising to load the file unsafely), and another
    architecture's checkpoint copied nothing and trained from scratch without a word."""
    weights = write_weights(tmp_path / "start.pt", kind)
    line = refused(trainers_main, [*COMPACT, "--weights", str(weights), "--runs", str(tmp_path / "runs")], capsys)
    assert str(weights) in line and message in line
    assert not (tmp_path / "runs").exists()  # refused before any run folder was made


def test_a_run_without_the_run_it_starts_from_is_refused_before_its_data_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """w300's fine-tune starts from its pre-training (``run:pretrain_ytf``): asked for alone, it says which run to
    train first, before its dataset is looked for (none is here)."""
    monkeypatch.setenv("KPDEMO_DATA", str(tmp_path / "no_data"))
    line = refused(trainers_main, ["w300", "--only", "finetune", "--quick", "--device", "cpu", "--runs",
                                   str(tmp_path / "runs")], capsys)
    assert "no finished run tagged 'pretrain_ytf' under" in line
    assert "train it first (python -m trainers w300 --only pretrain_ytf --quick" in line

    pretrain = tmp_path / "runs" / "w300-quick" / "pretrain_ytf_run"  # finished, its best.pt deleted since
    pretrain.mkdir(parents=True)
    (pretrain / "record.json").write_text(json.dumps({"status": "done", "checkpoint": "best.pt",
                                                      "config": {"tag": "pretrain_ytf"}}))
    line = refused(trainers_main, ["w300", "--only", "finetune", "--quick", "--device", "cpu", "--runs",
                                   str(tmp_path / "runs")], capsys)
    assert f"the run tagged 'pretrain_ytf' to start from, {pretrain}, has lost its checkpoint best.pt" in line


@pytest.mark.parametrize("case", ["no GPU", "no data", "no Kaggle CSV"])
def test_what_this_machine_lacks_is_named_in_one_line(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["best", "--only", "compact", "--epochs", "1", "--runs", str(tmp_path / "runs")]
    monkeypatch.setenv("KPDEMO_CACHE", str(tmp_path / "cache"))  # no derived dataset cached from elsewhere
    cached_dataset.cache_clear()
    if case == "no GPU":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        argv += ["--device", "cuda"]
        expected = "device 'cuda' was asked for, but PyTorch sees no CUDA GPU here (use --device cpu"
    elif case == "no data":
        monkeypatch.setenv("KPDEMO_DATA", str(tmp_path / "no_data"))
        argv += ["--device", "cpu"]
        expected = f"missing dataset file: {tmp_path / 'no_data'}"
    else:
        monkeypatch.setenv("KPDEMO_KAGGLE_CSV", str(tmp_path / "absent.csv"))
        argv += ["--device", "cpu", "--set", "dataset=kaggle_csv"]
        expected = f"missing Kaggle CSV: {tmp_path / 'absent.csv'} (the kaggle_csv dataset is Kaggle's training.csv"
    try:
        line = refused(trainers_main, argv, capsys)
    finally:
        cached_dataset.cache_clear()
    assert expected in line
    assert not (tmp_path / "runs").exists()


def last_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The ``error:`` line of a usage error (argparse prints the usage above it), checked to carry no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        trainers_main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("record", "message"), [
    ("not json", "is not a run record (record.json is JSON; reading it: Expecting value"),
    ("folder", "--from-record takes a run's record.json; {path} is a folder, and holds no record.json"),
    ("run folder", "--from-record takes a run's record.json; {path} is a folder: its record is {path}/record.json"),
    ("no config", "holds no run config (a record.json that a training run wrote has one)"),
    ("missing", "--from-record: {path} not found"),
    ("mistyped config", "--from-record: {path}: config epochs should be an int (a whole number), got '3'"),
])
def test_from_record_says_what_the_file_is_instead(record: str, message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "given"
    if record == "not json":
        path.write_text("epoch,train_loss\n1,0.5\n")
    elif record in ("folder", "run folder"):
        path.mkdir()
        if record == "run folder":
            (path / "record.json").write_text("{}")
    elif record == "no config":
        path.write_text(json.dumps({"status": "done", "best": {"epoch": 1}}))
    elif record == "mistyped config":
        path.write_text(json.dumps({"status": "done", "config": {"experiment": "init", "epochs": "3"}}))
    line = last_error_line(["--from-record", str(path)], capsys)
    assert line.startswith("python -m trainers: error: ") and message.format(path=path) in line


def test_a_negative_subset_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    """It once reached numpy as "negative dimensions are not allowed", after the data had loaded."""
    for key in ("train_subset", "eval_subset"):
        line = last_error_line(["init", "--set", f"{key}=-5"], capsys)
        assert line.endswith(f"error: {key} is a number of images (0 = all of them), got -5")


@pytest.mark.parametrize(("overrides", "message"), [
    (["folds=1"], "folds is 0 (no cross-validation) or at least 2, got 1"),
    (["folds=5", "fold=5"], "fold 5 is not in 0..4 (folds=5)"),
    (["variant=../elsewhere"], "variant names a folder: letters, digits, '.', '-' and '_' only, got '../elsewhere'"),
])
def test_a_setting_no_run_can_have_is_refused_before_the_data_loads(
        overrides: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """make_splits found the folds only once the data had loaded, as a traceback; a variant with a path in it put
    the run outside its experiment's folder."""
    line = last_error_line(["init", *[a for o in overrides for a in ("--set", o)]], capsys)
    assert line.endswith(f"error: {message}"), line


@pytest.mark.parametrize(("record", "message"), [
    (None, "is not a run folder (no record.json)"),
    ({"status": "failed"}, "has no checkpoint to ship (status failed"),
    ({"status": "done", "checkpoint": "best.pt"}, "best.pt is not there (a shipped or copied record keeps no weights"),
])
def test_ship_best_without_a_checkpoint_is_refused_before_anything_ships(
        record: dict | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    for name, status in (("other", "done"), ("best", None)):  # a finished run that would ship beside it
        run_dir = runs / "init" / name
        run_dir.mkdir(parents=True)
        (run_dir / "history.csv").write_text("epoch,train_loss\n1,0.5\n")
        content = {"experiment": "init", "name": name, "status": status} if status else record
        if content is not None:
            (run_dir / "record.json").write_text(json.dumps({"experiment": "init", "name": name} | content))
    line = refused(ship_main, [str(runs), "--best", str(runs / "init" / "best"), "--to", str(tmp_path / "m.pt"),
                               "--dest", str(tmp_path / "shipped")], capsys)
    assert line.startswith("python -m trainers.tools.ship: error: ") and message in line
    assert not (tmp_path / "shipped").exists() and not (tmp_path / "m.pt").exists()
