"""What the Detect, Webcam, Video and Align tabs share: the model picker and turning failures into user messages."""

from __future__ import annotations

import logging

import gradio as gr
import numpy as np

from kpdemo.align import AlignError
from kpdemo.checkpoints import CheckpointError
from kpdemo.config import REPO_ROOT
from kpdemo.detection import (
    DEFAULT_KEY,
    Face,
    ImageInputError,
    LandmarkPredictor,
    get_predictor,
    predictor_choices,
    read_image,
)
from kpdemo.ui.image_path import ImagePath
from kpdemo.video import VideoInputError

log = logging.getLogger(__name__)

EXAMPLES_DIR = REPO_ROOT / "examples"
#: The shortest side of an image the image tabs read: the app finds faces from about 40 px wide (README), and in a
#: smaller image the face detector, which enlarges it to its input, "found" a face in noise (an 8x8 image).
MIN_IMAGE_SIDE = 32


class UserError(ValueError):
    """A request the app cannot serve, with a message written for the user (no face, no image given)."""


class NoFaceError(UserError):
    """The predictor ran but found no face."""


def example_images() -> list[str]:
    """Example image paths shipped in ``examples/`` (relative to the working directory when possible)."""
    return [str(p) for p in sorted(EXAMPLES_DIR.glob("*.png")) + sorted(EXAMPLES_DIR.glob("*.jpg"))]


def model_picker() -> gr.Dropdown:
    """A dropdown of the available predictors, and beside it a button that rescans for new user runs.

    Labels name a run's folder and can pass 110 characters: place the picker in a full-width row (above the tab's
    columns), where the dropdown and its option list are wide enough to show them whole.
    """
    with gr.Row():
        dropdown = gr.Dropdown(
            # custom values: a run trained after the page (or the server) started is named by its key through the
            # API, where "Refresh models" cannot be pressed; an unknown key gets get_predictor's readable refusal
            choices=predictor_choices(), value=DEFAULT_KEY, label="Model", scale=8, allow_custom_value=True,
            info="Starts on the shipped 68-point model; MediaPipe face mesh, the other checkpoints and your finished "
                 "runs are listed too.",
        )
        refresh = gr.Button("Refresh models", scale=1, min_width=120, size="sm")
    refresh.click(_refreshed, inputs=dropdown, outputs=dropdown, api_name=False)
    return dropdown


def image_upload(prefix: str) -> ImagePath:
    """The image input of an image tab (``#<prefix>-upload``: upload, paste or webcam snapshot), and the shipped
    examples under it as thumbnails. The handler gets a file path (see :class:`ImagePath`)."""
    upload = ImagePath(label="Image (upload, paste or webcam snapshot)", type="filepath", image_mode=None,
                       sources=["upload", "clipboard", "webcam"], webcam_options=gr.WebcamOptions(mirror=False),
                       height=360, elem_id=f"{prefix}-upload")
    gr.Examples(example_images(), inputs=upload, label="Examples")
    return upload


def _refreshed(current: str) -> gr.Dropdown:
    choices = predictor_choices(refresh=True)
    keys = [key for _, key in choices]
    return gr.Dropdown(choices=choices, value=current if current in keys else DEFAULT_KEY)


def message_for(exc: Exception) -> str:
    """A one-line message for the user (the technical detail of unexpected errors goes to the log)."""
    if isinstance(exc, UserError | ImageInputError | VideoInputError | CheckpointError | AlignError):
        return str(exc)
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "unknown model"
    log.exception("unexpected error while processing a request")
    return f"Something went wrong ({type(exc).__name__}); the next request will start afresh."


def report(exc: Exception) -> str:
    """Show ``exc`` as a warning toast and return the Markdown for the tab's status line."""
    text = message_for(exc)
    gr.Warning(text)
    return f"**Error:** {text}"


def predict_faces(model_key: str, image: np.ndarray) -> tuple[LandmarkPredictor, list[Face]]:
    """Run the chosen predictor; :class:`NoFaceError` when it finds nothing."""
    predictor = get_predictor(model_key or DEFAULT_KEY)
    faces = predictor.predict(image)
    if not faces:
        raise NoFaceError(f"No face found by {predictor.name}. Try a larger, frontal, well-lit face.")
    return predictor, faces


def faces_in_upload(path: str | None, model_key: str) -> tuple[np.ndarray, LandmarkPredictor, list[Face]]:
    """Read an uploaded file and run the chosen predictor on it: (image, predictor, faces), or a user error."""
    if not path:
        raise UserError("Upload an image first.")
    image = read_image(path, min_side=MIN_IMAGE_SIDE)
    predictor, faces = predict_faces(model_key, image)
    return image, predictor, faces


def uncertain_note(faces: list[Face]) -> str:
    """A sentence naming the faces whose points are uncertain (magenta boxes), or "" when none is."""
    unsure = [str(i + 1) for i, face in enumerate(faces) if face.uncertain]
    if not unsure:
        return ""
    which = f"face {unsure[0]}" if len(unsure) == 1 else f"faces {', '.join(unsure)}"
    return (f" The points of {which} (magenta box) are uncertain: the model's answers on its crops disagree, as on a "
            "blurred, dark, cut-off or covered face, or a crop that is no face.")
