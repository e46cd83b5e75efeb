"""An output image for live streams that travels inline as a JPEG, instead of as a file in Gradio's cache.

Why not a plain ``gr.Image(streaming=True)``: Gradio 6.31 saves every returned frame as a new file in the server's
cache (WebP by default, about 24 ms to encode at 640x480; JPEG about 1 ms) and the browser fetches each one in a second
HTTP request. At camera rate that is thousands of files over a 10-minute stream, which only the hourly cache sweep
removes, and one extra round trip per frame. :class:`StreamedFrame` encodes the frame once with OpenCV and hands the
page a ``data:`` URL in the same event message: nothing is written to disk, and the cache does not grow with the stream.
"""

from __future__ import annotations

import base64

import cv2
import gradio as gr
import numpy as np
from gradio.data_classes import ImageData

#: JPEG quality of streamed frames: 80 keeps the drawn points crisp at 640x480 while a frame stays near 40 KB.
JPEG_QUALITY = 80


def jpeg_data_url(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """``rgb`` (HxWx3 uint8) as a ``data:image/jpeg;base64,...`` URL."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not JPEG-encode a frame of shape {rgb.shape}")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


class StreamedFrame(gr.Image):
    """A ``gr.Image`` output whose values (RGB arrays) reach the page as inline JPEG data URLs.

    Built with ``gr.Image``'s own arguments (``streaming=True, interactive=False``): Gradio sends the page the
    constructor's named parameters as the component's props, so a narrower ``__init__`` would lose them.
    """

    is_template = True  # rendered by the page's own Image component: only the payload differs

    def postprocess(self, value: np.ndarray | None) -> ImageData | None:
        if value is None:
            return None
        return ImageData(url=jpeg_data_url(value), orig_name="frame.jpeg")
