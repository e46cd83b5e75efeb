"""``bench/train_speed.py --grid``'s speed after the first epoch: images and wall time per group that trained
together, read back from the runs' records and histories."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.train_speed import after_first_epoch


def _run(root: Path, name: str, images: int, walls: list[float], group: list[str] | None = None) -> None:
    run_dir = root / "grid" / name
    run_dir.mkdir(parents=True)
    env = {"train_images": images} | ({"grid_group": group} if group else {})
    (run_dir / "record.json").write_text(json.dumps({"experiment": "grid", "name": name, "env": env}))
    pd.DataFrame({"epoch": range(1, len(walls) + 1), "wall_time_s": walls}).to_csv(run_dir / "history.csv")


def test_the_epochs_after_the_first_are_timed_per_group(tmp_path: Path) -> None:
    # two runs trained as one group (one clock: 10 s to the end of epoch 1, 12 s more for two epochs) ...
    _run(tmp_path, "a", 100, [10.0, 16.0, 22.0], group=["a", "b"])
    _run(tmp_path, "b", 50, [10.0, 16.0, 22.0], group=["a", "b"])
    # ... and one alone (its own clock: 5 s more for its second epoch)
    _run(tmp_path, "c", 100, [3.0, 8.0])
    images, seconds = after_first_epoch(tmp_path)
    assert images == 100 * 2 + 50 * 2 + 100 * 1
    assert seconds == pytest.approx(12.0 + 5.0)
