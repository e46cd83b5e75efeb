"""The "Use via API" contract: every named endpoint of the running app has named parameters, and answers a call made
exactly as ``client.view_api()`` documents it (keyword arguments by the documented names, values of the documented
types). Also the upload limit: an upload over it is refused with a clear message and the app keeps serving.

The app runs with an empty data folder, so ``/train_start`` on a registered dataset is refused at once (dataset
missing); it trains only on a dataset imported through ``/dataset_import``, as a public server (``KPDEMO_PUBLIC=1``)
with 2 epochs at most, so that run is short and its cap is visible.
"""

from __future__ import annotations

import ast
import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from kpdemo.config import REPO_ROOT
from kpdemo.ui.train import FORM_FIELDS
from kpdemo.video import VideoReader, VideoWriter
from tests.test_app import serve_app

ENDPOINTS = {"/detect", "/align", "/track_video", "/dataset_import", "/train_start", "/train_stop"}  # webcam: private
MAX_FILE_SIZE = "1mb"  # the app's limit in these tests: above the 0.8 MB fixture image, below the 2 MB junk file


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api_runs")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, runs_root: Path) -> Iterator[str]:
    no_data = tmp_path_factory.mktemp("no_data")
    with serve_app(tmp_path_factory, KPDEMO_DATA=str(no_data), KPDEMO_MAX_FILE_SIZE=MAX_FILE_SIZE,
                   KPDEMO_PUBLIC="1", KPDEMO_MAX_EPOCHS="2", KPDEMO_RUNS=str(runs_root),
                   KPDEMO_USER_AREA=str(tmp_path_factory.mktemp("user_area"))) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def api(client: Client) -> dict[str, dict[str, dict[str, Any]]]:
    """The documented parameters of each named endpoint: ``{endpoint: {parameter name: its description}}``."""
    info = client.view_api(return_format="dict", print_info=False)
    assert not info["unnamed_endpoints"], "every public event should have an api_name"
    return {name: {p["parameter_name"]: p for p in endpoint["parameters"]}
            for name, endpoint in info["named_endpoints"].items()}


def fits(value: Any, documented: str) -> bool:
    """Whether ``value`` has the type that view_api documents (``filepath``, ``int``, ``Literal['a', 'b']``...)."""
    if documented.startswith("Literal["):
        return value in ast.literal_eval(f"[{documented.removeprefix('Literal[').removesuffix(']')}]")
    if documented == "filepath":
        return isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData"
    kinds = {"str": str, "int": int, "float": int | float, "bool": bool}
    return isinstance(value, kinds[documented])


def call(client: Client, api: dict, endpoint: str, **kwargs: Any) -> Any:
    """``client.predict`` by keyword, after checking the call is one the API documents."""
    params = api[endpoint]
    assert set(kwargs) <= set(params), f"undocumented parameters {set(kwargs) - set(params)} for {endpoint}"
    required = {name for name, p in params.items() if not p["parameter_has_default"]}
    assert required <= set(kwargs), f"{endpoint} needs {required - set(kwargs)}"
    for name, value in kwargs.items():
        documented = params[name]["python_type"]["type"]
        assert fits(value, documented), f"{endpoint}: {name}={value!r} is not a {documented}"
    return client.predict(api_name=endpoint, **kwargs)


def test_every_endpoint_names_its_parameters(api: dict) -> None:
    assert set(api) == ENDPOINTS
    for endpoint, params in api.items():
        unnamed = [name for name in params if name.startswith("param_")]
        assert not unnamed, f"{endpoint} has unnamed parameters {unnamed}"
    assert list(api["/train_start"]) == ["preset", *FORM_FIELDS]  # start()'s signature follows the form's order
    assert api["/align"]["size"]["python_type"]["type"] == "Literal['112', '256']"


def test_the_video_endpoint_answers_a_documented_call(client: Client, api: dict, fixtures_dir: Path,
                                                     tmp_path: Path) -> None:
    clip = tmp_path / "still.mp4"  # one second of the astronaut
    astronaut = np.asarray(Image.open(fixtures_dir / "astronaut.png").convert("RGB"))
    with VideoWriter(clip) as writer:
        for index in range(15):
            writer.write(astronaut, index / 15)
    copy, points, status = call(client, api, "/track_video", video_file=handle_file(str(clip)),
                                model_key="checkpoint:ibug68_pip", smooth=True, as_photos=False)
    assert status.startswith("Followed 15 frames") and "a face in 15 of them" in status, status
    with VideoReader(copy) as reader:
        assert len(list(reader.frames())) == 15
    assert len(Path(points).read_text().splitlines()) == 1 + 15

    renamed = tmp_path / "notes.mp4"
    renamed.write_text("not a video")
    copy, points, status = call(client, api, "/track_video", video_file=handle_file(str(renamed)),
                                model_key="checkpoint:ibug68_pip", smooth=True)
    assert (copy, points) == (None, None) and "notes.mp4 is not a video" in status


def test_image_endpoints_answer_documented_calls(client: Client, api: dict, fixtures_dir: Path, tmp_path: Path) -> None:
    for endpoint in ("/detect", "/align"):  # the page's image input (upload, paste, webcam), a file path to a client
        image = api[endpoint]["image_file"]
        assert (image["component"], image["python_type"]["type"]) == ("Image", "filepath"), endpoint
    astronaut = handle_file(str(fixtures_dir / "astronaut.png"))
    annotated, coords, status = call(client, api, "/detect", image_file=astronaut, model_key="mediapipe478")
    assert Image.open(annotated).size == (512, 512) and len(coords["faces"][0]["points"]) == 478, status

    annotated, gallery, status = call(client, api, "/align", image_file=astronaut, model_key="mediapipe468",
                                      size="256", learned=False)
    assert len(gallery) == 1 and Image.open(gallery[0]["image"]).size == (256, 256), status

    renamed = tmp_path / "notes.png"  # Gradio's Image component would fail on it with a bare "Error"
    renamed.write_text("not pixels")
    annotated, gallery, status = call(client, api, "/align", image_file=handle_file(str(renamed)),
                                      model_key="mediapipe468", size="112", learned=False)
    assert annotated is None and gallery == [] and "notes.png is not an image" in status


def test_train_endpoints_answer_documented_calls(client: Client, api: dict) -> None:
    defaults = {name: p["parameter_default"] for name, p in api["/train_start"].items()}
    assert "cannot be read: missing" in call(client, api, "/train_start", **defaults)  # the status line, alone
    assert call(client, api, "/train_start", **defaults | {"experiment": "../escape"}).startswith(
        "**Error:** Check the settings: experiment name")
    assert call(client, api, "/train_stop") == "No training is running."


def test_uploaded_dataset_trains_within_the_public_caps(client: Client, api: dict, fixtures_dir: Path,
                                                        runs_root: Path) -> None:
    uploads = fixtures_dir / "uploads"
    message, dataset = call(client, api, "/dataset_import", upload=handle_file(str(uploads / "ibug_wrong_count.zip")),
                            name="")
    assert "ibug_wrong_count.zip: faces/astro_2.pts: 67 points" in message and dataset == ""
    message, dataset = call(client, api, "/dataset_import", upload=handle_file(str(uploads / "ibug_ok.zip")),
                            name="api faces")
    assert dataset == "user_api_faces" and "Imported **user_api_faces**: 4 faces (ibug68" in message

    defaults = {name: p["parameter_default"] for name, p in api["/train_start"].items()}
    # Gradio documents a dropdown's start-up choices as a Literal even with allow_custom_value (Dropdown.api_info),
    # so a dataset imported later is passed as the plain string the server accepts, not through call()'s type check.
    started = client.predict(api_name="/train_start",
                             **defaults | {"dataset": dataset, "experiment": "api", "epochs": 50})
    assert "Capped on this server: epochs 50 -> 2 (KPDEMO_MAX_EPOCHS)" in started, started
    records = runs_root / "api"
    deadline = time.monotonic() + 300  # a bound on waiting, not a timing assertion
    while time.monotonic() < deadline:
        found = [json.loads(r.read_text()) for r in records.glob("*/record.json")]
        if found and found[0].get("status") != "running":
            break
        time.sleep(1)
    assert len(found) == 1 and found[0]["status"] == "done", found
    assert found[0]["config"]["epochs"] == 2 and found[0]["config"]["dataset"] == dataset
    # the run is a model at once, by its key, though the page's menus were built before it existed
    run = next(records.glob("*/record.json")).parent.name
    _, coords, status = client.predict(handle_file(str(fixtures_dir / "astronaut.png")), f"run:api/{run}",
                                       api_name="/detect")
    assert "faces" in coords and "not in the list" not in status, status
    _, _, status = client.predict(handle_file(str(fixtures_dir / "astronaut.png")), "run:api/no_such_run",
                                  api_name="/detect")
    assert "model 'run:api/no_such_run' is not available" in status


def test_a_raw_call_cannot_have_a_server_file_read(app_url: str) -> None:
    """gradio_client uploads its files, but a raw call may name any path on the server; Gradio checks it only when
    the payload names its type. The image endpoints read uploads alone, and do not say whether a file exists."""
    for endpoint, data in (("detect", ["checkpoint:ibug68_pip"]), ("align", ["mediapipe468", "112", False])):
        for path in (REPO_ROOT / "examples" / "astronaut.png", Path("/etc/no-such-file")):
            reply = httpx.post(f"{app_url}gradio_api/call/{endpoint}", json={"data": [{"path": str(path)}, *data]},
                               timeout=30)
            events = httpx.get(f"{app_url}gradio_api/call/{endpoint}/{reply.json()['event_id']}", timeout=60).text
            assert "Only an uploaded image can be read" in events and "not found" not in events, events
    # an image sent inline is read as an upload is: decoded by kpdemo, so a bad one is named, a good one answered
    for content, expected in ((b"not an image", "is not an image"), ((REPO_ROOT / "examples" / "astronaut.png")
                                                                     .read_bytes(), "1 face")):
        url = "data:image/png;base64," + base64.b64encode(content).decode()
        reply = httpx.post(f"{app_url}gradio_api/call/detect", json={"data": [{"url": url}, "checkpoint:ibug68_pip"]},
                           timeout=30)
        events = httpx.get(f"{app_url}gradio_api/call/detect/{reply.json()['event_id']}", timeout=60).text
        assert expected in events, events


def test_upload_over_the_limit_is_refused_and_the_app_keeps_serving(
    app_url: str, client: Client, api: dict, tmp_path: Path, fixtures_dir: Path,
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2 * 1024**2)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):  # gradio_client checks
        call(client, api, "/detect", image_file=handle_file(str(big)), model_key="mediapipe468")
    with big.open("rb") as f:  # the server refuses it too, whoever sends it (the browser checks first, like the client)
        reply = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.png", f)}, timeout=30)
    assert reply.status_code == 413 and "maximum allowed size of 1048576 bytes" in reply.text
    _, coords, status = call(client, api, "/detect", image_file=handle_file(str(fixtures_dir / "astronaut.png")),
                             model_key="mediapipe468")
    assert len(coords["faces"]) == 1, status


def test_upload_limit_defaults_to_20_mb_and_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import parse_args

    monkeypatch.delenv("KPDEMO_MAX_FILE_SIZE", raising=False)
    assert parse_args([]).max_file_size == 20 * 1024**2
    monkeypatch.setenv("KPDEMO_MAX_FILE_SIZE", "500kb")
    assert parse_args([]).max_file_size == 500 * 1024
    assert parse_args(["--max-file-size", "12345"]).max_file_size == 12345
    with pytest.raises(SystemExit):
        parse_args(["--max-file-size", "lots"])


def test_app_help_answers_without_importing_gradio_or_the_models() -> None:
    """`python app.py --help` (and a mistyped flag) must answer at once, before the ~7 s of UI imports."""
    probe = ("import sys, app\n"
             "try:\n    app.parse_args(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('gradio', 'torch', 'mediapipe', 'kpdemo.ui') if m in sys.modules)\n"
             "print('heavy:', heavy)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: " in done.stdout and "heavy: []" in done.stdout, done.stdout
