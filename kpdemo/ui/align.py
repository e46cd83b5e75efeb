"""Align tab: detect landmarks, then warp each face onto the canonical ArcFace template (112 or 256 px).

Optionally each aligned face also goes through the learned frontalization model of seed 004
(:func:`kpdemo.frontalize.frontalize`), shown after the geometric results.
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from kpdemo.align import OUTPUT_SIZES, align_face
from kpdemo.draw import draw_faces
from kpdemo.frontalize import frontalize, model_note
from kpdemo.ui.common import faces_in_upload, image_upload, model_picker, report, uncertain_note


def align(image_file: str | None, model_key: str, size: str | int, learned: bool = False,
          ) -> tuple[np.ndarray | None, list, str]:
    """Warp every face onto the canonical template: (annotated input, gallery of (face, caption), status Markdown).

    Args:
        size: side of the aligned faces in pixels, "112" or "256" (the UI and the API send a string).
        learned: also frontalize each aligned face with the learned model (experimental).
    """
    try:
        size = int(size or OUTPUT_SIZES[0])  # an API call may leave it out, as it may the model
        image, predictor, faces = faces_in_upload(image_file, model_key)
        aligned = [align_face(image, face.points, predictor.schema, size) for face in faces]
        frontal = [np.dstack([frontalize(a.image)] * 3) for a in aligned] if learned else []
    except Exception as exc:  # every failure must leave the app usable for the next request
        return None, [], report(exc)
    gallery = [(a.image, f"face {i + 1} ({a.anchors})") for i, a in enumerate(aligned)]
    gallery += [(f, f"face {i + 1} frontalized (learned, 128 px gray)") for i, f in enumerate(frontal)]
    status = (f"{len(aligned)} face{'s' if len(aligned) != 1 else ''} aligned to {size}x{size} with "
              f"{predictor.name}." + uncertain_note(faces))
    return draw_faces(image, faces, predictor.schema), gallery, status


def build_align_tab() -> gr.Tab:
    """Lay out the Align tab inside ``gr.Tabs`` and return it; the event's API is ``/align``, its parameters
    named after :func:`align`'s."""
    with gr.Tab("Align") as tab:
        model = model_picker()
        with gr.Row():
            with gr.Column(scale=1):
                upload = image_upload("align")
                # String choices: Gradio documents a Radio's values as strings ("Use via API" shows
                # Literal['112', '256']) and checks a request against the choices as sent, so with int choices the
                # documented '256' was refused. align() converts the string.
                sizes = [str(s) for s in OUTPUT_SIZES]
                size = gr.Radio(choices=sizes, value=sizes[0], label="Output size (px)")
                learned = gr.Checkbox(False, label="Also frontalize (learned model, experimental)", info=model_note())
                run = gr.Button("Align faces", variant="primary")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload an image and press *Align faces*.", elem_id="align-status", label="status",
                                     show_label=False)
                with gr.Row():
                    annotated = gr.Image(label="Input with landmarks", type="numpy", format="png", interactive=False)
                    gallery = gr.Gallery(label="Aligned faces", format="png", columns=2, elem_id="align-gallery",
                                         buttons=["download", "fullscreen"])
        run.click(align, inputs=[upload, model, size, learned], outputs=[annotated, gallery, status], api_name="align")
    return tab
