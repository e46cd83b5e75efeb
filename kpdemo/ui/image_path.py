"""The image input of the Detect and Align tabs: Gradio's Image component, handing the handler an undecoded path.

Gradio writes an ``image_path.pyi`` beside this module (its stub for every component subclass): keep the class
alone here so that stub stays this small.
"""

from __future__ import annotations

import binascii

import gradio as gr
from gradio import processing_utils
from gradio import utils as gradio_utils
from gradio.data_classes import ImageData


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
            try:
                return processing_utils.save_base64_to_cache(payload.url, self.GRADIO_CACHE, payload.orig_name)
            except (binascii.Error, ValueError) as exc:
                raise gr.Error(f"The image sent as a data: URL could not be decoded ({exc}): send it as base64 "
                               "or upload the file.", print_exception=False) from None
        if payload.path is None:
            raise gr.Error("No image came with the request: upload one.", print_exception=False)
        uploads = gradio_utils.get_upload_folder()
        if not gradio_utils.is_in_or_equal(gradio_utils.abspath(payload.path), uploads):
            raise gr.Error("Only an uploaded image can be read: upload the file rather than naming a path on the "
                           "server.", print_exception=False)
        return payload.path
