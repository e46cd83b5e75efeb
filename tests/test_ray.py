"""``--ray`` (:mod:`trainers.engine.distributed`): a grid trained as tasks on a local 2-CPU Ray instance gathers, in
the driver's runs root, the records the same configs write trained in this process; without Ray the flag says how
to install it.

Data as in ``test_grid_engine``: the real ``kaggle15`` when ``$KPDEMO_DATA`` has it, else the committed Kaggle CSV
fixture (``$KPDEMO_KAGGLE_CSV``, which the local instance's workers get through their ``runtime_env``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import test_grid_engine
from trainers.__main__ import build_parser, configs_for, with_registry
from trainers.__main__ import main as trainers_main
from trainers.engine.config import TrainConfig
from trainers.engine.distributed import dependencies, make_units, run_on_ray
from trainers.engine.train import run_config

dataset = test_grid_engine.dataset  # the same module-scoped fixture: kaggle15, else the fixture CSV

#: Per-epoch losses on a Ray worker vs in this process, same seed and data. Equality is not guaranteed: Ray runs a
#: 1-CPU task with one thread (OMP_NUM_THREADS=1), this process with several, and a CPU kernel may split its sums
#: across threads differently. Measured on the 2-core CPU (1 vs 2 threads, SimpleNet): bit for bit equal. 1e-4 (as
#: for grid-at-once) leaves room for other CPUs' kernels, while a real difference (another seed, batch order, init
#: or starting weights) moves these losses by percents.
RTOL = 1e-4


def _quick_init(dataset: str) -> list[TrainConfig]:
    """``python -m trainers init --quick`` made smaller, with the experiment renamed as the CLI renames it, plus
    a pre-train / fine-tune pair (``weights=run:pre``) listed fine-tune first: its task must wait for the other."""
    args = build_parser().parse_args(["init", "--quick", "--device", "cpu", "--only", "simplenet", "--set",
                                      "train_subset=64", "--set", "eval_subset=64", "--set", "epochs=2",
                                      "--set", f"dataset={dataset}"])
    configs, _ = with_registry(configs_for(args), quick=True)
    pre = replace(configs[-1], tag="pre")
    return [*configs, replace(pre, tag="ft", weights="run:pre"), pre]


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "record.json").read_text())


def test_ray_gathers_the_records_of_the_plain_path(dataset: str, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    configs = _quick_init(dataset)
    plain = {c.run_name(): run_config(c, tmp_path / "plain", show_progress=False)
             for c in sorted(configs, key=lambda c: c.tag == "ft")}  # the fine-tune after its pre-training
    seen: list[Path] = []
    gathered = run_on_ray(configs, tmp_path / "ray", num_cpus=2, show_progress=False, on_run=seen.append)
    assert [d.name for d in gathered] == [c.run_name() for c in configs] and sorted(seen) == sorted(gathered)
    for run_dir, config in zip(gathered, configs, strict=True):
        solo = plain[config.run_name()]
        assert run_dir == tmp_path / "ray" / config.experiment / config.run_name()
        assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in solo.iterdir())
        record, expected = _record(run_dir), _record(solo)
        assert record["status"] == "done" and record["checkpoint"] == "best.pt"
        assert record["config"] == expected["config"] == config.to_dict()
        for key in ("weights_file", "weights_not_copied", "train_images", "val_images", "test_images"):
            assert record["env"].get(key) == expected["env"].get(key), key
        a, b = pd.read_csv(solo / "history.csv"), pd.read_csv(run_dir / "history.csv")
        assert len(b) == config.epochs
        for column in ("train_loss", "val_loss"):
            np.testing.assert_allclose(b[column], a[column], rtol=RTOL, err_msg=f"{run_dir.name} {column}")
    assert _record(gathered[-2])["env"]["weights_file"] == f"init-quick/{configs[-1].run_name()}/best.pt"


def test_units_and_their_order(dataset: str) -> None:
    """One task per config, or per grid-at-once group; a ``run:TAG`` fine-tune waits for the task that trains TAG."""
    configs = _quick_init(dataset)
    assert [len(u.configs) for u in make_units(configs, grid_at_once=False, runners={})] == [1, 1, 1, 1]
    units = make_units(configs, grid_at_once=True, runners={})  # the tag may differ inside a group, weights not
    assert [u.configs for u in units] == [(configs[0], configs[1], configs[3]), (configs[2],)]
    assert dependencies(units) == [set(), {0}]


def test_ray_flag_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["init", "--ray"]).ray == ""
    assert build_parser().parse_args(["init", "--ray", "head:6379"]).ray == "head:6379"
    assert build_parser().parse_args(["init"]).ray is None
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if Ray were not installed
    with pytest.raises(SystemExit) as exit_info:
        trainers_main(["init", "--ray"])
    assert exit_info.value.code == 2 and "pip install -r requirements-ray.txt" in capsys.readouterr().err
