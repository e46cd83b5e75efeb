"""The image input of the Detect and Align tabs: Gradio's Image component, handing the handler an undecoded path.

Gradio writes an ``image_path.pyi`` beside this module (its stub for every component subclass): keep the class
alone here so that stub stays this small.
"""

from __future__ import annotations

import binascii
from pathlib import Path

import gradio as gr
from gradio import processing_utils
from gradio import utils as gradio_utils
from gradio.data_classes import ImageData
from gradio_client import utils as client_utils

from kpdemo.files import write_by_rename


class ImagePath(gr.Image):
    """A ``gr.Image`` input whose value reaches the handler as the uploaded file's path, not yet decoded.

    Why: ``gr.Image`` gives the page a preview, paste and a webcam snapshot, and examples as thumbnails, but its own
    preprocessing opens every upload with PIL, even with ``type="filepath"``: a text file, an empty or corrupt file,
    a checkpoint renamed ``.png`` or a 30000x30000 PNG then fails inside Gradio with a bare "Error". Handing the path
    on lets :func:`kpdemo.detection.read_image` decode it and say what is wrong ("notes.txt is not an image", "too
    large to open safely"). ``is_template`` makes Gradio render it with its own Image frontend.
    """

    is_template = True

    def preprocess(self, payload: ImageData | None) -> str | None:
        """The upload's path; a path outside Gradio's upload folder is refused. Gradio checks that itself only for
        a payload that names its type (``meta``), so a raw API call leaving it out could otherwise have any file on
        the server read, or learn which exist. An image sent inline (a base64 ``data:`` URL) is written to Gradio's
        cache as sent, undecoded, for the same checks as an upload: Gradio would decode it with PIL first."""
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return self._inline_to_cache(payload.url, payload.orig_name)
        if payload.path is None:
            raise gr.Error("No image came with the request: upload one.", print_exception=False)
        uploads = gradio_utils.get_upload_folder()
        if not gradio_utils.is_in_or_equal(gradio_utils.abspath(payload.path), uploads):
            raise gr.Error("Only an uploaded image can be read: upload the file rather than naming a path on the "
                           "server.", print_exception=False)
        return payload.path

    def _inline_to_cache(self, url: str, name: str | None) -> str:
        """An inline image's bytes as sent, in Gradio's cache under the hash of its bytes, written by rename: two
        identical requests write one path, and Gradio's own ``save_base64_to_cache`` writes it in place, so one could
        read the other's half-written file."""
        try:
            data, extension = client_utils.decode_base64_to_binary(url)
        except (binascii.Error, ValueError) as exc:
            raise gr.Error(f"The image sent as a data: URL could not be decoded ({exc}): send it as base64 or upload "
                           "the file.", print_exception=False) from None
        folder = Path(self.GRADIO_CACHE) / processing_utils.hash_bytes(data)
        folder.mkdir(parents=True, exist_ok=True)
        filename = client_utils.strip_invalid_filename_characters(name or f"image.{extension or 'bin'}")
        path = folder / (filename or "image")
        write_by_rename(path, lambda out: out.write(data))
        return str(path)
