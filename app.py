"""kpdemo web app: Detect, Webcam, Align, Experiments and Train tabs on Gradio Blocks.

    python app.py [--host 127.0.0.1] [--port 7860]

Host and port also come from ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (Hugging Face Spaces sets them).
The app only wires the UI to kpdemo; models load lazily on first use, so it starts fast and offline.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at run time, not even telemetry

import gradio as gr  # noqa: E402

from kpdemo.ui.align import build_align_tab  # noqa: E402
from kpdemo.ui.detect import build_detect_tab  # noqa: E402
from kpdemo.ui.experiments import build_experiments_tab  # noqa: E402
from kpdemo.ui.train import build_train_tab  # noqa: E402
from kpdemo.ui.webcam import build_webcam_tab  # noqa: E402

INTRO = """# kpdemo: facial keypoints lab
Detect landmarks with MediaPipe or a kpdemo-trained model, follow them live on a webcam, align faces to a canonical
template, and compare or launch training runs."""


def build_app() -> gr.Blocks:
    with gr.Blocks(title="kpdemo", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            build_detect_tab()
            build_webcam_tab()
            build_align_tab()
            build_experiments_tab()
            build_train_tab()
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (env GRADIO_SERVER_NAME; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (env GRADIO_SERVER_PORT; default 7860)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    build_app().queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
