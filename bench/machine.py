"""The machine a timing was taken on, as the columns the timing benches write beside their numbers.

Timings depend on the CPU, its thread count and what else ran (``bench/README.md``), so each timing table carries
them, under one set of names that ``bench/report.py`` reads the same way from every table. The training benches
(``train_speed.py``, ``grid_step.py``) write them too: they also run on the lent GPU machine, which lacks MediaPipe,
Gradio and Plotly, so this module imports nothing but the standard library and :mod:`kpdemo.cpuinfo`.
"""

from __future__ import annotations

import os

from kpdemo.cpuinfo import cpu_name


def machine_context() -> dict[str, str | int | float]:
    """``cpu`` (model name), ``cpu_threads`` and ``load_avg_1min`` (the 1-minute load average, now)."""
    return {"cpu": cpu_name(), "cpu_threads": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2)}
