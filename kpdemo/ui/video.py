"""Video tab: upload or record a clip, follow its faces as the Webcam tab does, get the annotated copy and the points.

Why a tab of its own: the Webcam tab shows points live but keeps nothing, and Detect reads one picture. Someone
measuring a clip (a talk, an experiment's recording, a phone video) wants every frame's points in a table and a
copy to watch, in the clip's own time.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from kpdemo.deployment import Limits, current_limits
from kpdemo.detection import DEFAULT_KEY, get_predictor
from kpdemo.ui.common import UserError, model_picker, report
from kpdemo.video import TrackedVideo, track_video

#: Where each request's annotated copy and points table are written before Gradio copies them to its cache;
#: folders older than :data:`KEEP_OUTPUTS_S` are removed when a request comes.
OUTPUTS_DIR = Path(tempfile.gettempdir()) / "kpdemo-video"
KEEP_OUTPUTS_S = 3600
#: The progress bar moves at most this often (each move is a message to the page).
PROGRESS_EVERY_S = 0.25
#: Frames that end this much before the length a file states mean the rest could not be read.
SHORT_BY_S = 0.5


#: Under the upload. Why: the page previews an upload itself, and for a codec the browser cannot play (an AVI, an
#: MP4 in MPEG-4 Part 2 as OpenCV writes it) Gradio's player says "Video not playable", which reads as a refusal. It
#: cannot be made to play: gr.Video's ``format=`` converts an upload only when its file extension differs (an mp4v
#: clip is an .mp4) and only through an ffmpeg program, which the app does without; and the browser tries the
#: upload before any handler of ours could convert it.
PREVIEW_NOTE = ("<small>Browsers preview H.264, VP8, VP9 and AV1 clips. Another (an AVI, an MP4 coded as MPEG-4 "
                "Part 2 or Motion JPEG) may say *Video not playable*: only the preview fails. *Follow faces* still "
                "reads it, and the annotated copy plays here.</small>")


def remove_old_outputs(now: float | None = None) -> None:
    """Remove the output folders of requests older than :data:`KEEP_OUTPUTS_S` (Gradio keeps its own copies)."""
    now = time.time() if now is None else now
    for folder in OUTPUTS_DIR.glob("*"):
        if folder.is_dir() and now - folder.stat().st_mtime > KEEP_OUTPUTS_S:
            shutil.rmtree(folder, ignore_errors=True)


def summary(result: TrackedVideo, predictor_name: str, limits: Limits) -> str:
    """The status Markdown: what was read, what was found, how long it took, and any limit that cut the clip."""
    width, height = result.size
    rate = result.frames / result.processing_s if result.processing_s else 0.0
    text = (f"Followed {result.frames} frames ({result.seconds:.1f} s, {width}x{height}) with {predictor_name} in "
            f"{result.processing_s:.1f} s ({rate:.0f} frames/s): a face in {result.frames_with_face} of them, at "
            f"most {result.most_faces} at a time. The table has a row per face per frame, in the video's own pixels; a "
            "face keeps its id while it is followed.")
    if result.frames_uncertain:
        text += (f" In {result.frames_uncertain} frames a face's points are uncertain (magenta box; the table's "
                 "uncertainty column): blurred, dark, cut off or covered.")
    if result.annotated_size != result.size:
        text += f" The annotated copy is shrunk to {result.annotated_size[0]}x{result.annotated_size[1]}."
    if result.cut:
        length = f" of {result.duration_s:.0f} s" if result.duration_s else ""
        text += (f" Only the first {limits.max_video_seconds:g} s{length} were read: this server's limit "
                 "(`KPDEMO_MAX_VIDEO_SECONDS`).")
    if result.skipped:
        text += (f" {result.skipped} frames in between were skipped to keep to this server's "
                 f"{limits.max_video_fps:g} frames a second (`KPDEMO_MAX_VIDEO_FPS`).")
    if not result.cut and result.duration_s and result.seconds < result.duration_s - SHORT_BY_S:
        text += (f" **The file says the clip lasts {result.duration_s:.1f} s, but its frames end at "
                 f"{result.seconds:.1f} s:** the rest could not be read (a file cut short?).")
    if not result.browser_plays:
        text += (f" Your clip's video ({result.coding}) is not one browsers play, so its preview could not show it; "
                 "it was read all the same, and the annotated copy (H.264 MP4) plays here.")
    if not result.frames_with_face:
        text += " **No face was found in any frame.** Try a clip with a larger, frontal, well-lit face."
    return text


def track(video_file: str | None, model_key: str, smooth: bool, as_photos: bool = False,
          progress: gr.Progress = gr.Progress()) -> tuple[str | None, str | None, str]:  # noqa: B008 - Gradio's idiom
    """Follow the faces of an uploaded or recorded video: (annotated MP4, points CSV, status Markdown); with
    ``as_photos`` each followed face is read again as a photo is (slower, an uncertainty per face).

    Errors (not a video, an unknown model) become the status message, never a crash.
    """
    try:
        if not video_file:
            raise UserError("Upload or record a video first.")
        predictor = get_predictor(model_key or DEFAULT_KEY)
        limits = current_limits()
        remove_old_outputs()
        OUTPUTS_DIR.mkdir(parents=True, exist_ok=True)
        shown = [0.0]

        def moved(seconds: float, total: float | None) -> None:
            if time.monotonic() - shown[0] >= PROGRESS_EVERY_S:
                shown[0] = time.monotonic()
                progress((round(seconds, 1), round(total, 1) if total else None), desc="Following faces",
                         unit="s of video")

        result = track_video(video_file, predictor, tempfile.mkdtemp(dir=OUTPUTS_DIR), smooth,
                             limits.max_video_seconds, moved, as_photos, limits.max_video_fps)
    except Exception as exc:  # every failure must leave the app usable for the next request
        return None, None, report(exc)
    return str(result.video), str(result.points), summary(result, predictor.name, limits)


def build_video_tab() -> gr.Tab:
    """Lay out the Video tab inside ``gr.Tabs`` and return it; the event's API is ``/track_video``, its parameters
    named after :func:`track`'s."""
    with gr.Tab("Video") as tab:
        model = model_picker()
        with gr.Row():
            with gr.Column(scale=1):
                # include_audio: kept as uploaded, so Gradio needs no ffmpeg to strip it (the copy has no sound).
                upload = gr.Video(label="Video (upload or record)", sources=["upload", "webcam"], include_audio=True,
                                  webcam_options=gr.WebcamOptions(mirror=False), height=360, elem_id="video-upload")
                gr.Markdown(PREVIEW_NOTE, elem_id="video-preview-note")
                smooth = gr.Checkbox(value=True, label="One-Euro temporal smoothing",
                                     info="Steadies points when the face is still; follows fast moves without lag.")
                as_photos = gr.Checkbox(
                    value=False, label="Read every frame as a photo",
                    info="Each followed face read again as the Detect tab reads a photo: refined and averaged "
                         "views, uncertain faces flagged. Several times slower; for a clip whose points matter.")
                run = gr.Button("Follow faces", variant="primary")
            with gr.Column(scale=2):
                status = gr.Markdown("Upload or record a video and press *Follow faces*. Each frame's faces are "
                                     "followed from the last frame's, as on the Webcam tab.", elem_id="video-status",
                                     label="status", show_label=False)
                annotated = gr.Video(label="Annotated", interactive=False, elem_id="video-annotated")
                points = gr.File(label="Points (CSV: a row per face per frame)", interactive=False,
                                 elem_id="video-points")
        run.click(track, inputs=[upload, model, smooth, as_photos], outputs=[annotated, points, status],
                  api_name="track_video")
    return tab
