"""``python -m kpdemo.data``: the dataset summary with no data (each row names what is missing) and with real data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kpdemo.data import main, summarise

REPO = Path(__file__).resolve().parent.parent


def test_empty_data_root_lists_every_dataset_as_missing_with_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KPDEMO_DATA", str(tmp_path))  # data_root() reads it at call time
    monkeypatch.delenv("KPDEMO_KAGGLE_CSV", raising=False)
    # the summary lists datasets imported through the app too: none here (the session's user area may hold some
    # that other tests imported)
    monkeypatch.setenv("KPDEMO_USER_AREA", str(tmp_path / "user_area"))
    table = summarise()
    own = table["dataset"] == "kaggle_csv"  # users bring it: not a sign of a wrong KPDEMO_DATA
    assert len(table) and table["status"][~own].str.startswith(f"missing: {tmp_path}").all(), table["status"].tolist()
    assert table["status"][own].str.startswith("not supplied (optional: a genuine Kaggle training.csv").all()
    assert main([]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "ytf68_udacity" / "landmarks.csv") in out
    assert "export KPDEMO_DATA=/path/to/data" in out.splitlines()[-1]


@pytest.mark.needs_data
def test_real_data_summary_from_the_command_line() -> None:
    """Run as a module, as users do, in a fresh interpreter: the data, not the training sets cut from it."""
    out = subprocess.run([sys.executable, "-m", "kpdemo.data", "--markdown"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    header, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
                     if line.startswith("| ") and not line.startswith("|---")]
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert {"ibug300w", "ytf68"} <= set(table) and "w300_face64" not in table  # a cut of ibug300w, not data
    assert all(row["status"] == "ok" or row["status"].startswith(("missing", "not supplied"))
               for row in table.values()), table
    # a dataset users bring (kaggle_csv) is not a sign of a wrong KPDEMO_DATA: no hint while the rest is there
    assert ("Missing data" in out) == any(row["status"].startswith("missing") for row in table.values())
    w300 = table["ibug300w"]
    assert (w300["points"], w300["test"], w300["image"], w300["status"]) == ("68", "554", "256x256x3", "ok")
    assert table["ytf68"]["status"] == "ok"
