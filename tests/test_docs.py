"""The READMEs say what the code does: their commands run as pasted, and the call forms and defaults they quote are
the code's. Each test reads the text a user copies from, so a change on either side that breaks it fails here."""

from __future__ import annotations

import ast
import inspect
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

from kpdemo.config import REPO_ROOT
from kpdemo.deployment import DEFAULTS
from kpdemo.detection import Detection, LandmarkPredictor
from kpdemo.video import track_video
from trainers.grids import get_experiment

README = REPO_ROOT / "README.md"
DOCS = [README, REPO_ROOT / "trainers" / "README.md", REPO_ROOT / "bench" / "README.md"]


def shell_lines(path: Path) -> list[str]:
    """The lines of a document's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines()]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_a_continued_shell_line_ends_with_its_backslash(path: Path) -> None:
    """``cmd \\  # note`` escapes a space instead of continuing the line: bash runs ``cmd`` alone and then the next
    line as a command of its own (a ``ship`` that copied every record, then ``--best: command not found``)."""
    broken = [line for line in shell_lines(path) if re.search(r"\\[ \t]+\S", line)]
    assert not broken, broken


def test_each_landmarks_command_trains_the_one_run_it_names() -> None:
    """``--only`` keeps every run whose name contains it: ``--only imm73_live`` also trained ``imm73_live_distill``."""
    runs = [config.run_name() for config in get_experiment("landmarks").configs]
    picks = {match for path in DOCS
             for match in re.findall(r"python -m trainers landmarks[^\n`]*?--only ([\w.-]+)", path.read_text())}
    assert picks
    for pick in picks:
        assert len([run for run in runs if pick in run]) == 1, (pick, [run for run in runs if pick in run])


def test_the_space_upload_keeps_the_page_and_the_app_and_leaves_out_what_git_ignores() -> None:
    """``hf upload`` reads no ``.gitignore``: the README's excludes must leave out the git-ignored folders a checkout
    holds (virtual environment, caches, runs) and keep everything the app runs and the images the README (the Space's
    page) shows."""
    text = README.read_text()
    start = text.index("hf upload ")
    command = text[start:text.index("\n```", start)].replace("\\\n", " ")
    words = shlex.split(command.split("#")[0])
    excludes = [words[i + 1] for i, word in enumerate(words) if word == "--exclude"]

    def uploaded(paths: list[str]) -> set[str]:
        return set(filter_repo_objects(paths, ignore_patterns=excludes + DEFAULT_IGNORE_PATTERNS))

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    needed = [p for p in tracked if not p.startswith(("tests/", "bench/", ".")) and (REPO_ROOT / p).exists()]
    shown = re.findall(r"\]\(((?:docs|bench)/[^)#]+)\)", text)
    assert shown and needed
    assert not (missing := set(needed + shown + ["checkpoints/ibug68_pip.onnx"]) - uploaded(
        needed + shown + ["checkpoints/ibug68_pip.onnx"])), missing
    ignored = [".venv/lib/python3.11/site-packages/torch/__init__.py", "kpdemo/ui/__pycache__/app.cpython-311.pyc",
               "__pycache__/app.cpython-311.pyc", ".pytest_cache/v/cache/nodeids", ".ruff_cache/0.8.0/123",
               ".benchmarks/Linux-CPython-3.11-64bit/0001_x.json", "kpdemo.egg-info/PKG-INFO",
               "runs/init/convnet_x/record.json", "artifacts/pack/faces.npz", "user_area/user_x/manifest.json",
               "logs/app.log", "test-artifacts/page.png", "tests/test_docs.py", "bench/report.py",
               "bench/results/accuracy.csv"]
    assert not uploaded(ignored)


#: Call forms the README quotes, with the parameters it names otherwise: (the callable, {its name: the README's}).
QUOTED_CALLS: dict[str, tuple[Callable, dict[str, str]]] = {
    "Detection": (Detection, {}),
    "track": (LandmarkPredictor.track, {"image": "frame"}),
    "track_video": (track_video, {"predictor": "model"}),
}


@pytest.mark.parametrize("name", QUOTED_CALLS)
def test_quoted_calls_name_the_parameters_in_order_with_their_defaults(name: str) -> None:
    function, renamed = QUOTED_CALLS[name]
    quoted = re.findall(rf"`{name}\(([^`]*)\)`", README.read_text())
    assert quoted, name
    parameters = [p for p in inspect.signature(function).parameters.values() if p.name != "self"]
    for arguments in quoted:
        said = [argument.split("=") for argument in arguments.split(", ")]
        assert len(said) >= sum(p.default is p.empty for p in parameters), (name, arguments)  # every required one
        for (word, *default), parameter in zip(said, parameters, strict=False):
            assert word == renamed.get(parameter.name, parameter.name), (name, arguments)
            assert not default or ast.literal_eval(default[0]) == parameter.default, (name, arguments)


def test_the_deployment_table_gives_the_code_defaults() -> None:
    rows = dict(re.findall(r"^\| `(KPDEMO_\w+)`[^|]*\| ([^|]+ \| [^|]+) \|$", README.read_text(), flags=re.MULTILINE))
    assert set(rows) == set(DEFAULTS)

    def shown(value: object) -> str:
        if isinstance(value, float | int):
            return f"{value:g}"
        return str(value).replace(str(REPO_ROOT), "<repo>")

    for name, (public, local) in DEFAULTS.items():
        assert [cell.strip().strip("`") for cell in rows[name].split(" | ")] == [shown(public), shown(local)], name


def test_the_shared_files_the_docs_name_are_there() -> None:
    """The seeds' notes lie beside the checkout (``../shared``, where ``KPDEMO_DATA`` defaults); ``/shared/SEEDS.md``
    named a folder that exists nowhere."""
    if not (REPO_ROOT.parent / "shared").is_dir():
        pytest.skip("no ../shared beside this checkout")
    named = {name for path in DOCS for name in re.findall(r"`((?:\.\.)?/shared/[^`\s]+)`", path.read_text())}
    assert named
    assert not [name for name in named if not (REPO_ROOT / name).exists()], named
