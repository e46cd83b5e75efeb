"""What a visitor sees in the Webcam tab: annotated frames shown per second, and the lag from capture to display.

A real ``python app.py`` on loopback and headless Debian Chromium, whose fake camera plays a 30 fps 640x480 clip of the
public-domain astronaut (``bench/fake_webcam.py``). Every clip frame carries its index as a row of black and
white squares in the top-left corner. A script in the page watches the annotated output image: each time a new frame
is shown it reads the index stamped in it and the index of the frame the live camera preview shows at that moment; the
difference (in 1/30 s frames) is the time from the frame's capture to its annotated display, server and both
encodings included. Browser and server share this machine's cores, as they would on a laptop running the app.

The models take turns (``--rounds``, each ``--seconds`` long after a warm-up): one browser on two cores drifts by
a few frames a second over a minute, so a model measured only after another would be scored on a different machine.

Writes ``bench/results/webcam_browser.csv`` (one row per model over its rounds: shown fps, the slowest and fastest
round's, lag median and p95, server-side processing) and ``webcam_browser.png``.

    nice -n 10 python bench/webcam_browser.py [--rounds 3] [--seconds 10] [--models mediapipe468 ibug68_pip]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.app_server import running_app  # noqa: E402
from bench.browser import choose, launch_with_fake_camera, open_tab, start_webcam  # noqa: E402
from bench.fake_webcam import ASTRONAUT, ASTRONAUT_FACE_CENTRE, face_frames, write_y4m  # noqa: E402
from bench.machine import machine_context  # noqa: E402
from kpdemo.ui.webcam import STATUS_LINE  # noqa: E402

RESULTS = REPO / "bench" / "results"
CLIP_FPS = 30
CLIP_FRAMES = 120  # 4 s: lags up to 4 s are read without wrapping around
STAMP_BITS = 7  # 2**7 >= CLIP_FRAMES
STAMP_CELL = 14  # px per square: survives 4:2:0 chroma, the browser's and the server's JPEG
STAMP_ORIGIN = (6, 6)
WARMUP_S = 5.0

# Runs in the page: on every new annotated frame, the stamp in it and the one in the live preview at that moment.
WATCH_JS = """([bits, cell, x0, y0]) => {
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const read = (source, w, h) => {
    canvas.width = w; canvas.height = h; ctx.drawImage(source, 0, 0, w, h);
    let value = 0;
    for (let b = 0; b < bits; b++) {
      const p = ctx.getImageData(x0 + b * cell + cell / 2, y0 + cell / 2, 1, 1).data;
      if (p[0] + p[1] + p[2] > 384) value |= 1 << b;
    }
    return value;
  };
  window.__shown = [];
  let last = '';
  const onChange = async () => {
    const img = document.querySelector('#webcam-output img');
    const video = document.querySelector('#webcam-camera video');
    if (!img || !video || img.src === last) return;
    last = img.src;
    try { await img.decode(); } catch (e) { return; }
    const live = read(video, video.videoWidth, video.videoHeight);
    window.__shown.push([performance.now(), read(img, img.naturalWidth, img.naturalHeight), live]);
  };
  new MutationObserver(onChange).observe(document.querySelector('#webcam-output'),
                                         {subtree: true, childList: true, attributes: true});
}"""


def stamp(frame: np.ndarray, index: int) -> np.ndarray:
    """``frame`` (BGR) with ``index`` written as STAMP_BITS squares, least significant first, white = 1."""
    x0, y0 = STAMP_ORIGIN
    out = frame.copy()
    for bit in range(STAMP_BITS):
        value = 255 if index >> bit & 1 else 0
        out[y0:y0 + STAMP_CELL, x0 + bit * STAMP_CELL:x0 + (bit + 1) * STAMP_CELL] = value
    return out


def make_clip(path: Path) -> Path:
    """The stamped 30 fps astronaut clip as Y4M, for ``--use-file-for-fake-video-capture``."""
    image = cv2.imread(str(ASTRONAUT), cv2.IMREAD_COLOR)
    frames = face_frames(image, ASTRONAUT_FACE_CENTRE, fps=CLIP_FPS, seconds=CLIP_FRAMES / CLIP_FPS)
    return write_y4m(path, [stamp(f, i) for i, f in enumerate(frames)], CLIP_FPS)


def shown_fps(shown: list[list[float]]) -> float:
    """Frames shown per second in one round of the page's ``[time_ms, shown_index, live_index]`` rows."""
    if len(shown) < 2:
        return 0.0
    return (len(shown) - 1) / ((shown[-1][0] - shown[0][0]) / 1000)


def summarise(rounds: list[list[list[float]]], seconds: float) -> dict[str, float]:
    """Shown fps (over all rounds, and the slowest and fastest round's) and capture-to-display lag of one model."""
    fps = [shown_fps(shown) for shown in rounds]
    lag_frames = np.array([(live - index) % CLIP_FRAMES for shown in rounds for _, index, live in shown])
    lag_ms = lag_frames * 1000.0 / CLIP_FPS
    spans = sum((shown[-1][0] - shown[0][0]) / 1000 for shown in rounds if len(shown) > 1)
    gaps = sum(len(shown) - 1 for shown in rounds if len(shown) > 1)
    return {"shown_fps": gaps / spans if spans else 0.0, "shown_fps_min": min(fps), "shown_fps_max": max(fps),
            "frames_shown": sum(len(shown) for shown in rounds), "rounds": len(rounds), "seconds": seconds,
            "lag_median_ms": float(np.median(lag_ms)) if len(lag_ms) else float("nan"),
            "lag_p95_ms": float(np.percentile(lag_ms, 95)) if len(lag_ms) else float("nan")}


def watch(page, model_label: str, seconds: float) -> tuple[str, list[list[float]], dict[str, float]]:
    """Switch the running stream to ``model_label``, let it settle, then watch ``seconds`` of frames: the model's
    full label, the page's rows and the server's status line."""
    chosen = choose(page, "Model", model_label)
    time.sleep(WARMUP_S)
    page.evaluate("() => { window.__shown = []; }")
    time.sleep(seconds)
    shown = page.evaluate("() => window.__shown")
    status = page.locator("#webcam-status textarea").input_value()
    line = STATUS_LINE.search(status)
    return chosen, shown, {"server_fps": float(line["fps"]) if line else float("nan"),
                           "server_ms_last_frame": float(line["last_ms"]) if line and line["last_ms"] else float("nan")}


def measure(page, models: list[str], rounds: int, seconds: float) -> list[dict[str, float]]:
    """Each model watched ``rounds`` times, the models taking turns; one row per model."""
    seen: dict[str, list] = {label: [] for label in models}
    for _ in range(rounds):
        for label in models:
            seen[label].append(watch(page, label, seconds))
    rows = []
    for watched in seen.values():
        server = pd.DataFrame([status for _, _, status in watched]).median()
        rows.append({"model": watched[0][0], **summarise([shown for _, shown, _ in watched], seconds),
                     **server.to_dict()})
    return rows


def run(models: list[str], rounds: int, seconds: float) -> pd.DataFrame:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "stamped.y4m")
        with running_app(Path(tmp) / "app.log", PYTHONUNBUFFERED="1") as app, sync_playwright() as pw:
            browser = launch_with_fake_camera(pw, clip)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(app.url, wait_until="domcontentloaded")
            open_tab(page, "Webcam")
            start_webcam(page, "webcam-camera")
            page.locator("#webcam-output img").wait_for()
            page.evaluate(WATCH_JS, [STAMP_BITS, STAMP_CELL, *STAMP_ORIGIN])
            rows = measure(page, models, rounds, seconds)
            browser.close()
    table = pd.DataFrame(rows)
    table["clip_fps"] = CLIP_FPS
    return table.assign(**machine_context())


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_fps, ax_lag) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [m.split(" (")[0] for m in table["model"]]
    ax_fps.barh(names, table["shown_fps"], color="#4c72b0",
                xerr=[table["shown_fps"] - table["shown_fps_min"], table["shown_fps_max"] - table["shown_fps"]])
    ax_fps.axvline(CLIP_FPS, color="grey", ls=":", label="camera rate")
    ax_fps.set_xlabel("annotated frames shown per second (bar: rounds' range)")
    ax_fps.legend(loc="lower right", fontsize=8)
    ax_lag.barh(names, table["lag_median_ms"], color="#dd8452",
                xerr=[np.zeros(len(table)), table["lag_p95_ms"] - table["lag_median_ms"]])
    ax_lag.set_xlabel("capture -> display lag, ms (median, bar to p95)")
    ax_lag.set_yticks([])
    fig.suptitle("Webcam tab in Chromium, one visitor, server on the same 2 cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="turns each model takes, the models alternating")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured seconds per model and round (after 5 s warm-up)")
    parser.add_argument("--models", nargs="+", default=["MediaPipe face mesh (", "ibug68_pip"],
                        help="model picker labels (prefixes) to measure, in order")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for webcam_browser.csv and webcam_browser.png; default bench/results")
    args = parser.parse_args(argv)
    table = run(args.models, args.rounds, args.seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "webcam_browser.csv", index=False, float_format="%.4g")
    plot(table, args.out / "webcam_browser.png")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
