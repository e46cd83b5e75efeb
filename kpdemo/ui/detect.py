"""Detect tab: upload an image (or pick an example), choose a model, get the annotated image and coordinates."""

from __future__ import annotations

import time

import gradio as gr
import numpy as np

from kpdemo.draw import draw_faces
from kpdemo.ui.common import faces_in_upload, image_upload, model_picker, report, uncertain_note


def detect(image_file: str | None, model_key: str) -> tuple[np.ndarray | None, dict | None, str]:
    """Landmarks of every face in an image: (annotated image, coordinates as JSON, status Markdown).

    Errors (not an image, no face, unknown model) become the status message, never a crash.
    """
    try:
        start = time.perf_counter()
        image, predictor, faces = faces_in_upload(image_file, model_key)
        elapsed = time.perf_counter() - start
    except Exception as exc:  # every failure must leave the app usable for the next request
        return None, None, report(exc)
    coords = {
        "model": predictor.label, "schema": predictor.schema.id, "image_size": [image.shape[1], image.shape[0]],
        "faces": [face.as_dict(predictor.schema) for face in faces],
    }
    status = (
        f"{len(faces)} face{'s' if len(faces) != 1 else ''} found by {predictor.name} "
        f"({predictor.num_points} points each) in {elapsed * 1000:.0f} ms." + uncertain_note(faces)
    )
    return draw_faces(image, faces, predictor.schema), coords, status


def build_detect_tab() -> gr.Tab:
    """Lay out the Detect tab inside ``gr.Tabs`` and return it; the event's API is ``/detect``, its parameters
    named after :func:`detect`'s."""
    with gr.Tab("Detect") as tab:
        model = model_picker()
        with gr.Row():
            with gr.Column(scale=1):
                upload = image_upload("detect")
                run = gr.Button("Detect landmarks", variant="primary")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload an image and press *Detect landmarks*.", elem_id="detect-status",
                                     label="status", show_label=False)
                annotated = gr.Image(label="Annotated", type="numpy", format="png", interactive=False,
                                     buttons=["download", "fullscreen"], elem_id="detect-annotated")
                coords = gr.JSON(label="Coordinates (pixels of the annotated image)", elem_id="detect-coords")
        run.click(detect, inputs=[upload, model], outputs=[annotated, coords, status], api_name="detect")
    return tab
