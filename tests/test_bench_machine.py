"""The machine columns beside every timing: the training benches, which also run on the lent GPU machine, record the
CPU model, its threads and the load as the other benches do (``bench/README.md`` says each timing script does), and
still import without the packages that machine lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kpdemo.cpuinfo import cpu_name
from tests.test_campaign import ABSENT_ON_DEVICE

REPO = Path(__file__).resolve().parents[1]


def test_training_benches_record_the_cpu_without_the_packages_the_device_lacks() -> None:
    script = (f"import sys, json; sys.modules.update(dict.fromkeys({ABSENT_ON_DEVICE!r})); "
              "import bench.grid_step; from bench.train_speed import timing_context; "
              "print(json.dumps(timing_context('cpu')))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          env=os.environ | {"NO_ALBUMENTATIONS_UPDATE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    columns = json.loads(done.stdout.splitlines()[-1])
    assert columns["cpu"] == cpu_name() and columns["cpu_threads"] == os.cpu_count(), columns
    assert columns["device_name"] == "cpu" and columns["threads"] >= 1 and columns["load_avg_1min"] >= 0, columns
