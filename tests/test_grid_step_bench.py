"""``bench/grid_step.py`` (where a stacked training step's time goes) runs end to end on the CPU and writes one row
per setting it times plus the profiler's table; its GPU numbers come from a device call."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.grid_step import main


def test_grid_step_times_both_modes_and_writes_a_profile(tmp_path: Path) -> None:
    assert main(["--device", "cpu", "--runs", "2", "--steps", "1", "--warmup", "1", "--out", str(tmp_path)]) == 0
    rows = pd.read_csv(tmp_path / "grid_step_cpu.csv")
    # autocast is bf16 on CUDA only: on a CPU each mode is timed in both layouts, in fp32; the compiled step only in
    # the campaign's (contiguous)
    assert sorted(zip(rows["mode"], rows["channels_last"], strict=True)) == [
        ("grid_at_once", False), ("grid_at_once", True), ("grid_at_once_compiled", False),
        ("grid_at_once_gemm", False), ("grid_at_once_gemm", True), ("grid_at_once_vmap", False),
        ("grid_at_once_vmap", True), ("one_by_one", False), ("one_by_one", True)]
    assert rows["mode"][0] == "grid_at_once_compiled"  # first: a device call cut short still returns it
    assert (rows["compiled"] == rows["mode"].map({"grid_at_once_compiled": "yes"}).fillna("no")).all()
    assert not rows["bf16"].any() and (rows["runs"] == 2).all() and (rows["ms_per_step"] > 0).all()
    assert "convolution" in (tmp_path / "grid_step_cpu_profile.txt").read_text()
