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
from kpdemo.ui.common import faces_in_upload, image_upload, model_picker, report


def align(path: str | None, model_key: str, size: int, learned: bool = False) -> tuple[np.ndarray | None, list, str]:
    """(annotated input, gallery of (aligned face, caption), status Markdown)."""
    try:
        image, predictor, faces = faces_in_upload(path, model_key)
        aligned = [align_face(image, face.points, predictor.schema, int(size)) for face in faces]
        frontal = [np.dstack([frontalize(a.image)] * 3) for a in aligned] if learned else []
    except Exception as exc:  # every failure must leave the app usable for the next request
        return None, [], report(exc)
    gallery = [(a.image, f"face {i + 1} ({a.anchors})") for i, a in enumerate(aligned)]
    gallery += [(f, f"face {i + 1} frontalized (learned, 128 px gray)") for i, f in enumerate(frontal)]
    status = f"{len(aligned)} face{'s' if len(aligned) != 1 else ''} aligned to {size}x{size} with {predictor.name}."
    return draw_faces(image, faces, predictor.schema), gallery, status


def build_align_tab() -> gr.Tab:
    """Lay out the Align tab inside ``gr.Tabs`` and return it; the event's API name is ``align``."""
    with gr.Tab("Align") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                upload = image_upload("align")
                model, _ = model_picker()
                size = gr.Radio(choices=list(OUTPUT_SIZES), value=OUTPUT_SIZES[0], label="Output size (px)")
                learned = gr.Checkbox(False, label="Also frontalize (learned model, experimental)", info=model_note())
                run = gr.Button("Align faces", variant="primary")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload an image and press *Align faces*.", elem_id="align-status")
                with gr.Row():
                    annotated = gr.Image(label="Input with landmarks", type="numpy", format="png", interactive=False)
                    gallery = gr.Gallery(label="Aligned faces", format="png", columns=2, elem_id="align-gallery",
                                         buttons=["download", "fullscreen"])
        run.click(align, inputs=[upload, model, size, learned], outputs=[annotated, gallery, status], api_name="align")
    return tab
