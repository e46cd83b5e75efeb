"""The training CLI's run lifecycle (``python -m trainers``): re-running a ``--quick`` record, Ctrl-C, ``--resume``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from trainers.__main__ import build_parser, configs_for
from trainers.__main__ import main as trainers_main
from trainers.engine.config import TrainConfig
from trainers.grids import EXPERIMENTS


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
