"""Shared test setup: real data when ``$KPDEMO_DATA`` has it, tiny committed fixtures otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from kpdemo.config import data_root  # noqa: E402

if TYPE_CHECKING:
    import numpy as np

    from kpdemo.detection import CheckpointPredictor

FIXTURES = Path(__file__).parent / "fixtures"


def has_data() -> bool:
    root = data_root()
    return all((root / p).exists() for p in ("ibug300w_subset", "ytf68_udacity", "imm_frontal_db"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if has_data():
        return
    skip = pytest.mark.skip(reason=f"real datasets not found under {data_root()} (set KPDEMO_DATA)")
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep user runs and imported datasets out of the repo during tests; the kaggle15 cache stays shared (building
    it takes ~10 s)."""
    os.environ.setdefault("KPDEMO_RUNS", str(tmp_path_factory.mktemp("runs")))
    os.environ.setdefault("KPDEMO_USER_AREA", str(tmp_path_factory.mktemp("user_area")))


@pytest.fixture(scope="module")
def shipped() -> CheckpointPredictor:
    """The shipped 68-point checkpoint's predictor (built once a process: the registry caches it)."""
    from kpdemo.detection import get_predictor

    return get_predictor("checkpoint:ibug68_pip")


@pytest.fixture(scope="module")
def astronaut(fixtures_dir: Path) -> np.ndarray:
    """The committed astronaut photo as the app reads it (RGB uint8)."""
    from kpdemo.detection import read_image

    return read_image(fixtures_dir / "astronaut.png")
