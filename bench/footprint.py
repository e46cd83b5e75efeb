"""Model size and cold start of ``app.py``: what a Space (or a laptop) pays before the first answer.

* Model size: every predictor the app can serve (MediaPipe's bundled ``.tflite`` files, ``checkpoints/*.pt``), with
  file size and parameter count.
* Cold start: a fresh ``python app.py`` process, timed (a) until the page is served and (b) until the first Detect
  request on the astronaut photo returns with the app's default model (which includes loading it lazily), over
  ``--repeats`` starts.

Writes ``bench/results/model_size.csv`` and ``bench/results/cold_start.csv``.

    python bench/footprint.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.machine import machine_context  # noqa: E402
from kpdemo.detection import DEFAULT_KEY  # noqa: E402

RESULTS = REPO / "bench" / "results"
IMAGE = REPO / "tests" / "fixtures" / "astronaut.png"


def model_sizes() -> pd.DataFrame:
    import torch

    from kpdemo.config import CHECKPOINTS_DIR

    rows = []
    mp_dir = Path(importlib.util.find_spec("mediapipe").origin).parent / "modules"
    for name in ("face_detection/face_detection_short_range.tflite",
                 "face_detection/face_detection_full_range_sparse.tflite",
                 "face_landmark/face_landmark.tflite", "face_landmark/face_landmark_with_attention.tflite"):
        path = mp_dir / name
        if path.exists():
            rows.append({"model": f"mediapipe/{name}", "file_mib": path.stat().st_size / 2**20, "parameters": None})
    for path in sorted(CHECKPOINTS_DIR.glob("*.pt")):  # landmark checkpoints and the frontalizer share the layout
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = payload["meta"]
        params = sum(t.numel() for t in payload["state_dict"].values() if t.is_floating_point())
        what = f"{meta['model']}, {meta['schema']}" if "schema" in meta else f"frontalizer, {meta.get('family')}"
        rows.append({"model": f"checkpoints/{path.name} ({what})", "file_mib": path.stat().st_size / 2**20,
                     "parameters": params})
    for path in sorted(CHECKPOINTS_DIR.glob("*.onnx")):  # exports the app serves (python -m trainers.tools.export)
        rows.append({"model": f"checkpoints/{path.name} (ONNX export)", "file_mib": path.stat().st_size / 2**20,
                     "parameters": None})
    return pd.DataFrame(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer")


def cold_start_once() -> dict[str, float]:
    from gradio_client import Client, handle_file

    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url, start + 120)
        page_s = time.monotonic() - start
        client = Client(url, verbose=False)
        client.predict(handle_file(str(IMAGE)), DEFAULT_KEY, api_name="/detect")
        first_s = time.monotonic() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"page_served_s": page_s, "first_detect_s": first_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for model_size.csv and cold_start.csv; default bench/results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = model_sizes()
    sizes.to_csv(args.out / "model_size.csv", index=False)
    print(sizes.to_string(index=False))
    starts = pd.DataFrame([{"run": i, **cold_start_once()} for i in range(args.repeats)])
    starts["model"] = DEFAULT_KEY  # what the first Detect loaded
    starts = starts.assign(**machine_context())  # a start's seconds are this machine's, and depend on its load
    starts.to_csv(args.out / "cold_start.csv", index=False)
    print(starts.to_string(index=False))


if __name__ == "__main__":
    main()
