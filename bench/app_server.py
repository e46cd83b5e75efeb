"""``python app.py`` in a subprocess on loopback for the load benches, and its memory, read from ``/proc``.

Why a real subprocess: the benches measure what a visitor meets (the CLI, Gradio's server and queue, the models),
and the server's resident memory must not include the load generator's. Start-up and the wait for the page reuse
``bench/footprint.py``'s helpers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.footprint import REPO, free_port, wait_for_page

START_TIMEOUT_S = 180.0  # torch + MediaPipe + Gradio imports on 2 busy cores


@dataclass(frozen=True)
class App:
    url: str  # http://127.0.0.1:PORT/
    pid: int

    def rss_mib(self) -> float:
        """The server's resident memory now (VmRSS), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")


@contextmanager
def running_app(log_path: Path, **env: str) -> Iterator[App]:
    """``python app.py --port N`` on 127.0.0.1 with ``env`` added, its output in ``log_path``; stopped on exit."""
    port = free_port()
    environ = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "NO_ALBUMENTATIONS_UPDATE": "1"} | env
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
                                env=environ, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:  # in short waits, so that an app that dies at start-up is reported at once
            try:
                wait_for_page(url, min(deadline, time.monotonic() + 2))
                break
            except TimeoutError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"app did not serve (exit code {proc.poll()}); its log:\n"
                                       f"{log_path.read_text(errors='replace')[-3000:]}") from None
        yield App(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
