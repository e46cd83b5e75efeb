"""The load bench (bench/load.py) end to end with tiny counts: a real app, API and stream clients, every answer
checked; and its checks themselves catch a truncated image."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from bench.load import image_problem, main, shares
from bench.report import load


@pytest.mark.slow
def test_tiny_load_answers_every_request_whole(tmp_path: Path) -> None:
    table = main(["--clients", "3", "--stream-clients", "1", "--requests", "6", "--rss-after", "4",
                  "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "load.csv")
    assert list(written["endpoint"]) == ["/align", "/detect", "stream", "all"]
    total = written.set_index("endpoint").loc["all"]
    assert total["requests"] >= 6 and total["identical_inputs"] == 4  # every other API request
    assert total["failed"] == 0 and total["truncated"] == 0, table
    assert total["server_tracebacks"] == 0
    assert total["rss_after_run_mib"] > 0 and total["rss_after_mark_mib"] > 0
    assert (tmp_path / "load.png").stat().st_size > 0
    assert "| all | " in load(tmp_path) and "tracebacks in the server's log" in load(tmp_path)  # the README's table


def test_a_cut_short_image_counts_as_truncated(tmp_path: Path, fixtures_dir: Path) -> None:
    whole = (fixtures_dir / "astronaut.png").read_bytes()
    (tmp_path / "short.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    size = Image.open(fixtures_dir / "astronaut.png").size
    assert image_problem(str(fixtures_dir / "astronaut.png"), size) == ""
    assert "does not decode" in image_problem(str(tmp_path / "short.png"), size)
    assert "does not decode" in image_problem(str(tmp_path / "empty.png"), size)
    assert "expected (1, 1)" in image_problem(str(fixtures_dir / "astronaut.png"), (1, 1))


def test_requests_are_shared_evenly() -> None:
    assert shares(10, 3) == [4, 3, 3] and sum(shares(1000, 6)) == 1000
