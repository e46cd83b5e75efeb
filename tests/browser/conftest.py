"""Browser-test fixtures: the real app in a subprocess, headless Debian Chromium driven by Playwright, artifacts.

Why these choices:
- The app runs as ``python app.py --port N`` exactly as a user starts it (``bench/app_server.py``, as the load
  benches start it), so the tests cover the CLI, the Gradio
  server, the frontend and the models together. One app and one browser serve the whole session (start-up is the
  expensive part: importing torch + MediaPipe + Gradio takes most of the suite's time on 2 cores).
- Chromium is Debian's ``/usr/bin/chromium``, launched as ``bench/browser.py`` says (the browser bench drives it the
  same way). When it is absent every browser test skips with the reason instead of failing.
- The browser is launched with Chromium's fake camera fed by a Y4M clip of a real face (``bench/fake_webcam.py``), so
  the Webcam tab streams real frames; the fake-UI flag auto-accepts the camera permission prompt.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bench.app_server import running_app
from bench.browser import CHROMIUM, launch_with_fake_camera
from bench.fake_webcam import make_face_video
from kpdemo.config import runs_dir

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
README_SCREENSHOTS = REPO / "docs" / "screenshots"
#: Refresh docs/screenshots/ from this run (and show real run records in them, not the synthetic fixtures).
UPDATE_README_SCREENSHOTS = os.environ.get("KPDEMO_UPDATE_SCREENSHOTS") == "1"
#: The user's runs, read at import: tests/conftest.py later points KPDEMO_RUNS at a temporary folder.
USER_RUNS_DIR = runs_dir()


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium, or a skip saying why the browser tests cannot run here."""
    pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -r requirements-dev.txt)")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (Debian's), or set KPDEMO_CHROMIUM")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def app_runs_dir(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """The app's ``KPDEMO_RUNS``: a copy of the fixture run records, so the Experiments tab always has curves.

    When refreshing the README screenshots, the user's real runs instead (a README must not show synthetic curves).
    """
    if UPDATE_README_SCREENSHOTS:
        return USER_RUNS_DIR
    root = tmp_path_factory.mktemp("app") / "runs"
    shutil.copytree(fixtures_dir / "runs", root)
    return root


@pytest.fixture(scope="session")
def app_url(chromium_path: Path, artifacts_dir: Path, app_runs_dir: Path) -> Iterator[str]:
    """``python app.py --port N`` in a subprocess (its log in test-artifacts/app.log); stopped at session end."""
    with running_app(artifacts_dir / "app.log", PYTHONUNBUFFERED="1", KPDEMO_RUNS=str(app_runs_dir)) as app:
        yield app.url


@pytest.fixture(scope="session")
def webcam_clip(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    return make_face_video(fixtures_dir / "astronaut.png", tmp_path_factory.mktemp("webcam") / "face.y4m")


@pytest.fixture(scope="session")
def browser(chromium_path: Path, webcam_clip: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_with_fake_camera(pw, webcam_clip, chromium_path)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Remember each phase's report on the item so the ``page`` fixture can screenshot failures."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, app_url: str, artifacts_dir: Path, request: pytest.FixtureRequest):
    """A fresh tab on the app (own context: no state shared between tests); a screenshot is kept if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"])
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(app_url, wait_until="domcontentloaded")
    page.wait_for_selector("gradio-app .gradio-container, .gradio-container", timeout=60_000)
    yield page
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        page.screenshot(path=str(artifacts_dir / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture(scope="session")
def save_screenshot(artifacts_dir: Path):
    """``save_screenshot(page, name)``: test-artifacts/<name>.png, and docs/screenshots/ when refreshing the README.

    Set ``KPDEMO_UPDATE_SCREENSHOTS=1`` to write the screenshots over the README's (``docs/screenshots/<name>.jpg``):
    JPEG, since the repository travels to a lent GPU with the training pack, 64 MiB in all, and the six PNGs took
    3.3 MB of it (JPEG at quality 85: 1.0 MB).
    """

    def save(page, name: str, selector: str | None = None) -> Path:
        path = artifacts_dir / f"{name}.png"
        if selector:
            page.locator(selector).screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=True)
        if UPDATE_README_SCREENSHOTS:
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            Image.open(path).convert("RGB").save(README_SCREENSHOTS / f"{name}.jpg", quality=85, optimize=True,
                                                 progressive=True)
        return path

    return save
