"""Webcam tab, "in this browser" mode: MediaPipe face mesh runs in the visitor's page, not on the server.

Why: the server path costs a round trip and a few milliseconds of a shared CPU per frame, so its frame rate falls as
visitors are added; in the page the model runs on the visitor's own machine at camera rate, and the frames never
leave it. The page's script is ``kpdemo/static/browser_mesh.js``; the model is the vendored npm package
``@mediapipe/face_mesh`` in ``kpdemo/static/mediapipe_face_mesh/`` (see its README), served by this app as static
files, so the mode works offline and fetches nothing from a CDN.

This module only wires it into Gradio: it declares the static folder, lays out the panel (a ``gr.HTML`` whose ``head``
loads the script and whose ``js_on_load`` mounts it) and switches between the two modes. The server does no work per
frame: the only requests in this mode are the mode switch and the static files.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
SCRIPT = STATIC_DIR / "browser_mesh.js"
SERVER, BROWSER = "on the server", "in this browser"

# The panel's elements keep fixed ids: the script finds them inside its element, the browser tests from outside.
# The button stays disabled until the script is mounted on it (a click before then would do nothing).
PANEL_HTML = """
<div class="kpdemo-browser-mesh">
  <p>MediaPipe face mesh (468 points) runs in this page: the camera's frames stay on your device.
     The first start loads the model (about 10 MB) from this app.</p>
  <button id="browser-mesh-toggle" type="button" disabled>Start camera</button>
  <canvas id="browser-mesh-view" width="640" height="480"></canvas>
  <div id="browser-mesh-status">frames: 0, with face: 0, fps: 0.0</div>
</div>
"""
PANEL_CSS = """
canvas { width: 100%; max-width: 640px; height: auto; background: #000; display: block; margin: 8px 0; }
button { padding: 4px 14px; border: 1px solid var(--border-color-primary); border-radius: var(--radius-md);
         background: var(--button-secondary-background-fill); }
#browser-mesh-status { font-family: var(--font-mono); }
"""

# Mounts the script on the panel, or says in the panel why it cannot (the script's file did not load).
MOUNT_JS = """
if (window.kpdemoBrowserMesh) window.kpdemoBrowserMesh.mount(element);
else element.querySelector("#browser-mesh-status").textContent =
  "error: the in-browser script did not load (reload the page, or use the server mode)";
"""


def static_url(path: Path) -> str:
    """The URL (relative to the page) under which Gradio serves ``path`` once it is a static path."""
    return f"gradio_api/file={path.as_posix()}"


def mode_choice() -> gr.Radio:
    """Where the model runs; the server stays the default (it offers every model, the page only MediaPipe)."""
    return gr.Radio([SERVER, BROWSER], value=SERVER, label="Run the model", elem_id="webcam-mode",
                    info="In this browser: MediaPipe face mesh runs in the page, and no frame is sent to the server.")


def build_browser_panel(mode: gr.Radio, server_view: gr.Row) -> gr.Column:
    """The in-browser panel, hidden until ``mode`` picks it; ``server_view`` (the server mode's layout) hides then.

    A hidden panel stops its camera by itself (the script checks that it is still shown before each frame).
    """
    gr.set_static_paths([STATIC_DIR])  # these files only: nothing else of the package is served
    with gr.Column(visible=False) as panel:
        gr.HTML(
            PANEL_HTML, css_template=PANEL_CSS, elem_id="browser-mesh",
            head=f'<script src="{static_url(SCRIPT)}"></script>',
            js_on_load=MOUNT_JS,
        )
    mode.change(lambda choice: (gr.update(visible=choice == SERVER), gr.update(visible=choice == BROWSER)),
                inputs=mode, outputs=[server_view, panel], api_visibility="private", queue=False)
    return panel
