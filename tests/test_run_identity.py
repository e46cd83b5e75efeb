"""Run identity (:mod:`trainers.engine.identity`): a run trained with a setting its name leaves out changed gets a name
of its own, a name that still cannot tell two runs apart is refused before it overwrites one, and ``--from-record``
re-runs from the very weights its record started from."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from kpdemo.config import SHIPPED_RUNS_DIR
from kpdemo.files import file_sha256
from trainers.__main__ import build_parser, configs_for
from trainers.__main__ import main as trainers_main
from trainers.engine.config import TrainConfig, apply_overrides
from trainers.engine.identity import other_run_there, with_variant
from trainers.engine.weights import init_weights_from
from trainers.grids import EXPERIMENTS


def _configs(*argv: str) -> list[TrainConfig]:
    return configs_for(build_parser().parse_args(list(argv)))


def _names(*argv: str) -> list[str]:
    return [c.run_name() for c in _configs(*argv)]


def _weights(path: Path, value: float) -> Path:
    torch.save({"weight": torch.full((2, 2), value), "bias": torch.zeros(2)}, path)
    return path


def test_plain_runs_and_their_budgets_keep_their_names() -> None:
    """A grid as registered, at its CPU budget or quick, names its runs as before: no variant."""
    for name, experiment in EXPERIMENTS.items():
        assert _names(name) == [c.run_name() for c in experiment.configs], name
        budget = [apply_overrides(c, experiment.cpu_budget_overrides()).run_name() for c in experiment.configs]
        assert _names(name, "--cpu-budget") == budget, name
        assert all(not c.variant for c in _configs(name, "--quick")), name


def test_every_shipped_record_re_runs_under_its_own_name() -> None:
    """The shipped records are looked up by name (ship, findings, the dashboard, the predictor menus): re-running
    one, as the README's chains do, names it as it was (their start weights are the record's own)."""
    checked = 0
    for path in sorted(SHIPPED_RUNS_DIR.glob("*/*/record.json")):
        record = json.loads(path.read_text())
        config = TrainConfig.from_dict(record["config"])
        assert with_variant(config, config).run_name() == record["name"] == path.parent.name
        if not config.weights or config.weights.startswith("run:") or Path(config.weights).exists():
            assert _names("--from-record", str(path)) == [record["name"]], path
            checked += 1
    assert checked > 100


def test_an_override_the_name_leaves_out_gives_the_run_a_name_of_its_own(tmp_path: Path) -> None:
    """The dataset, start weights, batch size and model arguments each show in the name (the QA report: they wrote
    to the plain run's folder and replaced it), after the tag; ``--only`` still picks runs by their grid names."""
    plain = _names("init", "--only", "convnet_xavier")[0]
    weights = _weights(tmp_path / "resnet18-imagenet.pth", 1.0)
    variants = {"--set dataset=kaggle_csv": "kaggle_csv", f"--weights {weights}": "from_resnet18-imagenet",
                "--set batch_size=16": "b16", "--set model_kwargs={'hidden':[32,32]}": "hidden32-32",
                "--set weight_decay=0.01 --set momentum=0.5": "mom0.5_wd0.01"}
    for flags, variant in variants.items():
        (config,) = _configs("init", "--only", "convnet_xavier", *flags.split())
        assert config.variant == variant and config.run_name() == f"{variant}_{plain}", flags
    (landmark,) = _configs("landmarks", "--only", "pip_r18_pip", "--set", "weights=checkpoints/ibug68_pip.pt",
                           "--set", "dataset=faces68_ytfval_wide160", "--set", "lr=2e-4")
    assert landmark.run_name().startswith("pip_r18_faces68_ytfval_wide160_from_ibug68_pip_pip_default_adamw_lr0.0002")
    # a start weights file of another name; its own weights (a grid's) are no change
    live = next(c for c in EXPERIMENTS["landmarks"].configs if c.tag == "pip_r18_live")
    assert with_variant(live, replace(live, weights="/elsewhere/ibug68_pip.pt")).variant == ""
    assert with_variant(live, replace(live, weights="")).variant == "from_scratch"


def test_a_name_that_cannot_tell_two_runs_apart_is_refused(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Two weights files of one name, or one replaced in place: the run folder holds another run, and training is
    refused before it overwrites it, with the way to keep both; the same run again is no refusal."""
    first, second = (tmp_path / d for d in ("a", "b"))
    first.mkdir(), second.mkdir()
    config = _configs("init", "--only", "convnet_xavier", "--weights", str(_weights(first / "start.pt", 1.0)))[0]
    run_dir = tmp_path / "runs" / config.experiment / config.run_name()
    run_dir.mkdir(parents=True)
    sha = file_sha256(first / "start.pt")
    (run_dir / "record.json").write_text(json.dumps({"config": config.to_dict(), "env": {"weights_sha256": sha}}))
    assert other_run_there(run_dir, replace(config, device="cpu", amp=True)) is None  # how, not what: the same run
    other = replace(config, weights=str(_weights(second / "start.pt", 2.0)))
    assert other.run_name() == config.run_name()
    assert "weights" in other_run_there(run_dir, other)
    _weights(first / "start.pt", 3.0)  # replaced in place
    assert "held other weights then" in other_run_there(run_dir, config)
    with pytest.raises(SystemExit):
        trainers_main(["init", "--only", "convnet_xavier", "--weights", str(first / "start.pt"),
                       "--runs", str(tmp_path / "runs")])
    said = capsys.readouterr().err
    assert f"{run_dir} holds another run" in said and "--set variant=NAME" in said


def test_a_run_records_its_start_weights_hash_and_a_re_run_checks_it(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The record keeps the SHA-256 of the start weights; ``--from-record`` refuses a file of that name that holds
    other weights now, and re-runs an older record (no hash) saying once that it cannot check."""
    weights = _weights(tmp_path / "start.pt", 1.0)
    env = init_weights_from(nn.Linear(2, 2), str(weights), tmp_path, "init")
    assert env["weights_sha256"] == file_sha256(weights)
    config = replace(EXPERIMENTS["init"].configs[0], weights=str(weights))
    record = tmp_path / "record.json"
    record.write_text(json.dumps({"config": config.to_dict(), "env": env}))
    assert _configs("--from-record", str(record)) == [config]
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "start.pt").write_bytes(weights.read_bytes())  # another copy of the same weights
    assert _configs("--from-record", str(record), "--set", f"weights={copy / 'start.pt'}")[0].variant == ""

    _weights(weights, 2.0)
    with pytest.raises(ValueError, match=r"held other weights \(sha256 .*Put those weights back"):
        _configs("--from-record", str(record))
    assert _configs("--from-record", str(record), "--set", "weights=")[0].variant == "from_scratch"

    record.write_text(json.dumps({"config": config.to_dict(), "env": {"weights_file": str(weights)}}))
    capsys.readouterr()
    assert _configs("--from-record", str(record)) == [config]
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "older than recorded weight hashes" in said[0] and str(weights) in said[0]
