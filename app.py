"""kpdemo web app: Detect, Webcam, Video, Align, Experiments and Train tabs on Gradio Blocks.

    python app.py [--host 127.0.0.1] [--port 7860] [--max-file-size 20mb]

Host and port also come from ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (Hugging Face Spaces sets them), the
upload limit from ``KPDEMO_MAX_FILE_SIZE`` (default 20mb, 10mb on a public server: see ``kpdemo/deployment.py``).
The app only wires the UI to kpdemo; models load lazily on first use, so it starts fast and offline.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network at run time, not even telemetry

from kpdemo.deployment import current_limits, parse_file_size  # noqa: E402

if TYPE_CHECKING:
    import gradio as gr

INTRO = """# kpdemo: facial keypoints lab
Detect landmarks with MediaPipe or a kpdemo-trained model, follow them live on a webcam or through a video, align
faces to a canonical template, and compare or launch training runs."""


def build_app() -> gr.Blocks:
    """The whole UI. Gradio and the tabs are imported here, not at the top, so ``python app.py --help`` and a bad
    flag answer in a fraction of a second instead of after the ~7 s those imports take."""
    import gradio as gr

    from kpdemo.ui import cache_writes
    from kpdemo.ui.align import build_align_tab
    from kpdemo.ui.detect import build_detect_tab
    from kpdemo.ui.experiments import build_experiments_tab
    from kpdemo.ui.train import build_train_tab
    from kpdemo.ui.video import build_video_tab
    from kpdemo.ui.webcam import build_webcam_tab

    cache_writes.install()  # identical requests must not rewrite a file another request is downloading
    with gr.Blocks(title="kpdemo", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            build_detect_tab()
            build_webcam_tab()
            build_video_tab()
            build_align_tab()
            build_experiments_tab()
            build_train_tab()
    return demo


def file_size(text: str) -> int:
    """``--max-file-size``'s type: :func:`~kpdemo.deployment.parse_file_size`, its error in argparse's terms. Uploads
    above the limit are refused before they reach a handler: the browser says "File(s) exceed the maximum allowed
    size of ...", gradio_client raises ValueError, a raw POST gets HTTP 413; the server goes on serving."""
    try:
        return parse_file_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (env GRADIO_SERVER_NAME; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                        help="port (env GRADIO_SERVER_PORT; default 7860)")
    try:
        limits = current_limits()
    except ValueError as exc:  # a malformed KPDEMO_* variable: say which, without a traceback
        parser.error(str(exc))
    parser.add_argument("--max-file-size", type=file_size, default=limits.max_file_size,
                        help=f"largest upload accepted (env KPDEMO_MAX_FILE_SIZE; default here {limits.max_file_size}"
                             f"{', a public server' if limits.public else ''})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    build_app().queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, max_file_size=args.max_file_size)


if __name__ == "__main__":
    main()
