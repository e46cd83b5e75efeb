"""Output images reach Gradio's cache by rename, so a file being served is never rewritten under its reader.

Why: Gradio 6.31 saves every output image (``gr.Image``, ``gr.Gallery``, ``gr.AnnotatedImage``, all through
``gradio.processing_utils.save_pil_to_cache``) as ``<cache>/<hash of its bytes>/image.<format>`` with
``Path.write_bytes``, which truncates the file before writing it. Identical requests (the same example sent by two
visitors) produce the same path, so one request truncates and rewrites the file while another request's
``FileResponse`` streams it with the Content-Length it read before: the download ends short (the client's "peer
closed connection without sending complete message body", the server's h11 ``LocalProtocolError: Too little data
for declared Content-Length``) or, when the size was read while the file was empty, arrives as an empty image. The
load bench (``bench/load.py``) saw 4 of 200 requests so on 2 cores. Gradio's own ``save_file_to_cache`` already
writes under a temporary name and renames for this reason; ``save_pil_to_cache`` does not.

:func:`install` points ``processing_utils.save_pil_to_cache`` at :func:`save_pil_to_cache` here: the same bytes at
the same path, written to a temporary file in the same folder and moved into place with ``os.replace``
(:func:`kpdemo.files.write_by_rename`). A reader that
opened the old file keeps reading it whole; one that opens afterwards reads the new, identical one. (POSIX rename
semantics: on Windows ``os.replace`` fails while the target is open.)
"""

from __future__ import annotations

from pathlib import Path

from gradio import processing_utils
from PIL import Image

from kpdemo.files import write_by_rename


def save_pil_to_cache(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's ``save_pil_to_cache`` (same signature, same path), written by rename instead of in place."""
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    write_by_rename(path, lambda out: out.write(data))
    return str(path)


def install() -> None:
    """Make every Gradio image output in this process save through :func:`save_pil_to_cache` (idempotent).

    Gradio's components call it as ``processing_utils.save_pil_to_cache`` (``save_img_array_to_cache`` too), so
    replacing the module attribute reaches them all.
    """
    processing_utils.save_pil_to_cache = save_pil_to_cache
