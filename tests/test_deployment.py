"""A public server's limits (kpdemo.deployment): when they apply, how the owner changes them, and that the Train tab
enforces them: capped epochs and images, a wall-time stop inside the training thread, one training at a time, and a
user area cleaned oldest first.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from kpdemo.config import REPO_ROOT, runs_dir
from kpdemo.datasets import uploads
from kpdemo.datasets.registry import refresh_imported
from kpdemo.deployment import cap_training, clean_user_area, current_limits, is_public
from kpdemo.runs import read_record
from kpdemo.ui import train as tab
from trainers.engine.config import TrainConfig
from trainers.engine.job import TrainingJob
from trainers.engine.train import run_config

UPLOADS = Path(__file__).parent / "fixtures" / "uploads"
LIMIT_VARS = ("SPACE_ID", "KPDEMO_PUBLIC", "KPDEMO_MAX_EPOCHS", "KPDEMO_MAX_TRAIN_IMAGES", "KPDEMO_MAX_TRAIN_SECONDS",
              "KPDEMO_MAX_UPLOAD_IMAGES", "KPDEMO_MAX_FILE_SIZE", "KPDEMO_USER_AREA_MAX_MB",
              "KPDEMO_USER_AREA_MAX_AGE_HOURS", "KPDEMO_MAX_VIDEO_SECONDS", "KPDEMO_MAX_VIDEO_FPS")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No limit variable set, a private user area and runs folder; set what a test needs on the returned patch."""
    for name in LIMIT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KPDEMO_USER_AREA", str(tmp_path / "area"))
    monkeypatch.setenv("KPDEMO_RUNS", str(tmp_path / "runs"))
    yield monkeypatch
    monkeypatch.undo()
    refresh_imported()


def test_public_when_on_a_space_or_asked(env: pytest.MonkeyPatch) -> None:
    assert not is_public()
    env.setenv("SPACE_ID", "someone/kpdemo")
    assert is_public()
    env.setenv("KPDEMO_PUBLIC", "0")  # the owner's word beats the Space's
    assert not is_public()
    env.delenv("SPACE_ID")
    env.setenv("KPDEMO_PUBLIC", "1")
    assert is_public()
    env.setenv("KPDEMO_PUBLIC", "maybe")
    with pytest.raises(ValueError, match="KPDEMO_PUBLIC must be 1 or 0"):
        is_public()


def test_local_server_is_unlimited_and_public_defaults_apply(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local = current_limits()
    assert (local.max_epochs, local.max_train_images, local.max_train_seconds, local.max_upload_images) == (0, 0, 0, 0)
    assert (local.user_area_max_mb, local.user_area_max_age_hours, local.max_file_size) == (0, 0, "20mb")
    assert local.describe() == ""
    env.setenv("SPACE_ID", "someone/kpdemo")
    public = current_limits()
    assert (public.max_epochs, public.max_train_images, public.max_train_seconds) == (20, 2000, 600)
    assert (public.max_upload_images, public.max_file_size, public.user_area_max_mb) == (1000, "10mb", 500)
    assert (public.max_video_seconds, public.max_video_fps, local.max_video_fps) == (30, 30, 0)
    assert public.user_area == tmp_path / "area" and runs_dir() == tmp_path / "runs"  # KPDEMO_RUNS wins
    env.delenv("KPDEMO_RUNS")
    assert runs_dir() == tmp_path / "area" / "runs"  # a public server's runs live in the cleaned user area
    assert "Public server" in public.describe() and "20 epochs" in public.describe()
    env.delenv("SPACE_ID")
    assert runs_dir() == REPO_ROOT / "runs"


def test_owner_lifts_or_tightens_limits(env: pytest.MonkeyPatch) -> None:
    env.setenv("KPDEMO_PUBLIC", "1")
    env.setenv("KPDEMO_MAX_EPOCHS", "0")  # lifted
    env.setenv("KPDEMO_MAX_TRAIN_SECONDS", "90")  # tightened
    env.setenv("KPDEMO_MAX_FILE_SIZE", "2mb")
    limits = current_limits()
    assert (limits.max_epochs, limits.max_train_seconds, limits.max_file_size) == (0, 90.0, "2mb")
    env.setenv("KPDEMO_MAX_EPOCHS", "lots")
    with pytest.raises(ValueError, match="KPDEMO_MAX_EPOCHS must be a int, got 'lots'"):
        current_limits()
    env.setenv("KPDEMO_MAX_EPOCHS", "-3")
    with pytest.raises(ValueError, match="KPDEMO_MAX_EPOCHS must be >= 0"):
        current_limits()

    from app import parse_args  # the app's upload limit follows the policy

    env.delenv("KPDEMO_MAX_EPOCHS")
    assert parse_args([]).max_file_size == 2 * 1024**2
    env.delenv("KPDEMO_MAX_FILE_SIZE")
    assert parse_args([]).max_file_size == 10 * 1024**2


def test_training_settings_are_capped_with_a_note(env: pytest.MonkeyPatch) -> None:
    config = replace(TrainConfig(), epochs=50, train_subset=0, eval_subset=100)
    assert cap_training(config, current_limits()) == (config, [])
    env.setenv("KPDEMO_PUBLIC", "1")
    capped, notes = cap_training(config, current_limits())
    assert (capped.epochs, capped.train_subset, capped.eval_subset) == (20, 2000, 100)
    assert notes == ["epochs 50 -> 20 (KPDEMO_MAX_EPOCHS)",
                     "training images: the first 2000 at most (KPDEMO_MAX_TRAIN_IMAGES)"]
    _, notes = cap_training(replace(config, eval_subset=5000), current_limits())
    assert notes[-1] == "val/test images 5000 -> 2000 (KPDEMO_MAX_TRAIN_IMAGES)"  # each note names its variable


def test_start_caps_the_run_and_refuses_a_second(env: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the tab's own start(), on an imported dataset, with the real trainer held at its start by a gate."""
    env.setenv("KPDEMO_PUBLIC", "1")
    env.setenv("KPDEMO_MAX_EPOCHS", "2")
    dataset = uploads.import_upload(UPLOADS / "ibug_ok.zip", "capped", current_limits()).name
    gate, entered = threading.Event(), threading.Event()

    def gated(*args: object, **kwargs: object) -> Path:
        entered.set()
        gate.wait(60)
        return run_config(*args, **kwargs)

    job = TrainingJob(trainer=gated)
    monkeypatch.setattr(tab, "JOB", job)
    values = [getattr(replace(TrainConfig(), dataset=dataset, device="cpu", epochs=9), n) for n in tab.FORM_FIELDS]
    started, ok = tab.start("adhoc / default settings", *values)
    assert ok and "Capped on this server: epochs 9 -> 2 (KPDEMO_MAX_EPOCHS)" in started
    assert entered.wait(60)
    assert "Capped on this server: epochs 9 -> 2" in tab.status_text(job.snapshot())  # the page's status lines too
    assert tab.start("adhoc / default settings", *values) == (
        f"**Error:** A training is already running on this server ({job.snapshot().config.run_name()}); wait for it "
        "to finish or stop it first.", False)
    gate.set()
    updates = list(tab.watch())
    snap = job.snapshot()
    assert snap.state == "done" and len(snap.rows) == 2, updates[-1][1]
    assert all("Capped on this server" in text for _, text in updates), updates
    assert read_record(snap.run_dir)["config"]["epochs"] == 2


def test_wall_time_cap_stops_the_run_inside_the_training_thread(env: pytest.MonkeyPatch,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A cap already passed when the first batch ends: the run stops there, keeps its checkpoint and says why."""
    dataset = uploads.import_upload(UPLOADS / "ibug_ok.zip", "timed", current_limits()).name
    job = TrainingJob()
    monkeypatch.setattr(tab, "JOB", job)
    job.start(replace(TrainConfig(), experiment="timed", dataset=dataset, device="cpu", epochs=5), max_seconds=1e-9)
    updates = list(tab.watch())
    snap = job.snapshot()
    assert snap.state == "stopped" and len(snap.rows) == 1
    assert updates[-1][1].startswith("**Time limit reached:** this server stops a run after")
    record = read_record(snap.run_dir)
    assert record["status"] == "stopped" and (snap.run_dir / record["checkpoint"]).is_file()


def make_entry(path: Path, megabytes: float, age_hours: float, now: float) -> Path:
    path.mkdir(parents=True)
    (path / "data.bin").write_bytes(b"\0" * int(megabytes * 1024**2))
    for item in (path / "data.bin", path):
        os.utime(item, (now - age_hours * 3600,) * 2)
    return path


def test_user_area_is_cleaned_oldest_first(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    now = 1_000_000_000.0
    limits = replace(current_limits(), user_area_max_mb=2.5, user_area_max_age_hours=24)
    datasets, runs = limits.datasets_dir, limits.runs_dir
    expired = make_entry(datasets / "expired", 0.1, 30, now)
    oldest = make_entry(runs / "adhoc" / "oldest", 1, 10, now)
    running = make_entry(runs / "adhoc" / "running", 1, 9, now)  # older than `middle`, but in use
    middle = make_entry(datasets / "middle", 1, 5, now)
    newest = make_entry(runs / "mine" / "newest", 1, 1, now)
    removed = clean_user_area(limits, keep=[running], now=now)
    assert removed == [expired, oldest, middle]  # expired by age, then oldest first until within 2.5 MB
    assert running.exists() and newest.exists() and not (runs / "adhoc" / "oldest").exists()
    assert clean_user_area(replace(limits, user_area_max_mb=0, user_area_max_age_hours=0), now=now + 1e6) == []


def test_imports_left_by_a_crash_are_removed_even_without_caps(env: pytest.MonkeyPatch) -> None:
    """A process killed mid-import leaves its temp folder in .incoming: the next clean-up removes it, not a live one."""
    now = 1_000_000_000.0
    limits = replace(current_limits(), user_area_max_mb=0, user_area_max_age_hours=0)
    crashed = make_entry(limits.incoming_dir / "import-crashed", 0.1, 2, now)
    live = make_entry(limits.incoming_dir / "import-live", 0.1, 0.01, now)
    assert clean_user_area(limits, now=now) == [crashed]
    assert live.exists() and not crashed.exists()


def test_import_and_start_clean_the_user_area(env: pytest.MonkeyPatch) -> None:
    """An import past the size cap removes older datasets (never the new one) and the menu forgets them."""
    env.setenv("KPDEMO_USER_AREA_MAX_MB", "0.01")  # less than one imported dataset
    assert tab.import_dataset(str(UPLOADS / "ibug_ok.zip"), "first")[1] == "user_first"
    assert tab.get_dataset("user_first").schema == "ibug68"
    assert tab.import_dataset(str(UPLOADS / "points68_ok.zip"), "second")[1] == "user_second"
    names = [n for _, n in tab._dataset_choices()]
    assert "user_second" in names and "user_first" not in names
    assert [p.name for p in current_limits().datasets_dir.iterdir()] == ["second"]


def test_a_malformed_upload_limit_names_its_variable(env: pytest.MonkeyPatch) -> None:
    """``KPDEMO_MAX_FILE_SIZE=abc`` was reported as a bad ``--max-file-size``, a flag the owner never passed."""
    env.setenv("KPDEMO_MAX_FILE_SIZE", "abc")
    with pytest.raises(ValueError, match="KPDEMO_MAX_FILE_SIZE: not a file size: 'abc'"):
        current_limits()
