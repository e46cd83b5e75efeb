"""The README's results come from bench/results/, and what the repo ships fits a Hugging Face Space."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from bench.report import END, START, grid_speed, grid_step, render, replace_section
from kpdemo.config import CHECKPOINTS_DIR

REPO = Path(__file__).resolve().parents[1]
SPACE_FILE_LIMIT = 10 * 2**20  # Hugging Face Spaces refuse larger plain (non-LFS) files


def test_readme_results_match_the_measured_files() -> None:
    done = subprocess.run([sys.executable, "bench/report.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_missing_results_name_the_command_not_a_number(tmp_path: Path) -> None:
    section = render(tmp_path)
    assert section.startswith(START) and section.endswith(END)
    assert "Not measured yet: `python bench/accuracy.py` writes `accuracy.csv`" in section
    assert "Not measured yet: `python bench/webcam_latency.py`" in section
    assert "|" not in section  # no table without a file behind it


def test_stream_and_load_sections_name_their_commands_when_not_measured(tmp_path: Path) -> None:
    section = render(tmp_path)
    assert "### Webcam streams, several visitors\n\nNot measured yet: `python bench/webcam_stream.py` writes " \
           "`webcam_stream.csv`." in section
    assert "### Under load\n\nNot measured yet: `python bench/load.py` writes `load.csv`." in section


def test_replace_section_keeps_the_rest_of_the_readme() -> None:
    text = f"intro\n{START}\nold\n{END}\noutro\n"
    assert replace_section(text, f"{START}new{END}") == f"intro\n{START}new{END}\noutro\n"


def test_shipped_files_fit_a_space() -> None:
    large = [(p.relative_to(REPO), p.stat().st_size) for p in CHECKPOINTS_DIR.rglob("*") if p.is_file()
             and p.stat().st_size > SPACE_FILE_LIMIT]
    assert not large, f"over the 10 MiB Space limit: {large}"


def test_a_grid_step_row_whose_compile_failed_says_it_timed_eager(tmp_path: Path) -> None:
    """``bench/grid_step.py`` falls back to the eager step when compiling fails; the README row must not pass that
    time off as the compiled step's."""
    row = {"mode": "grid_at_once_compiled", "bf16": True, "channels_last": False, "runs": 9, "batch": 64,
           "ms_per_step": 12.0, "images_per_s_summed": 48000.0, "device_name": "NVIDIA H200"}
    pd.DataFrame([row | {"compiled": "failed, trained eagerly: BackendCompilerFailed"},
                  row | {"mode": "grid_at_once", "compiled": "no"}]).to_csv(tmp_path / "grid_step_cuda.csv")
    lines = grid_step(tmp_path).splitlines()
    assert "| NVIDIA H200 | grid at once compiled (compile failed: eager) | bf16 |" in lines[-2]
    assert "| NVIDIA H200 | grid at once | bf16 |" in lines[-1]


def test_training_bench_rows_name_the_cpu_where_they_record_it(tmp_path: Path) -> None:
    """``train_speed.py`` and ``grid_step.py`` record the CPU model since 2026-12-02; the committed rows from before
    have no ``cpu`` column and must still render, as ``cpu``, beside the new rows and a GPU's."""
    row = {"device": "cpu", "grid": "optimizers", "runs": 18, "groups": 2, "mode": "one_by_one", "seconds": 9.0,
           "images_per_s_summed": 200.0, "speedup": 1.0, "device_name": "cpu", "load_avg_1min": 1.5}
    pd.DataFrame([row]).to_csv(tmp_path / "grid_speed.csv", index=False)  # before: no cpu column
    pd.DataFrame([row | {"device": "cuda", "device_name": "NVIDIA H200", "cpu": "Intel Xeon"},
                  row | {"cpu": "AMD EPYC"}]).to_csv(tmp_path / "grid_speed_gpu.csv", index=False)
    devices = [line.split(" | ")[0] for line in grid_speed(tmp_path).splitlines()[-3:]]
    assert devices == ["| cpu", "| NVIDIA H200", "| AMD EPYC"]


def test_shipped_records_link_their_weights_inside_the_checkout() -> None:
    """A shipped record's checkpoint is a path relative to its folder that stays in ``checkpoints/`` (a retired
    model's file may be gone: the app says so); one record once held ``../../../../work/main/checkpoints/...``,
    which no other checkout resolves (``checkpoint_link`` in trainers/tools/ship.py)."""
    outside = []
    for record in (CHECKPOINTS_DIR / "runs").glob("*/*/record.json"):
        link = json.loads(record.read_text()).get("checkpoint")
        if link and not (record.parent / link).resolve().is_relative_to(CHECKPOINTS_DIR.resolve()):
            outside.append((record.parent.name, link))
    assert not outside, outside
