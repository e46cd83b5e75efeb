"""What CPU this machine has, read from Linux's /proc/cpuinfo.

Why a module of its own, outside :mod:`kpdemo.detection`: the training benches (``bench/train_speed.py``,
``bench/grid_step.py``) record the CPU beside their timings too, and they also run on the lent GPU machine, where
the detection package's imports (MediaPipe among them) are absent; this one imports nothing but the standard
library.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in Linux's /proc/cpuinfo, or None (no such field, or no such file)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field), None)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows; benchmarks record it beside timings."""
    return cpuinfo("model name") or platform.processor() or platform.machine()
