"""The prepared GPU campaign (``python -m trainers.campaign``), its quick CPU profile end to end, and the pack.

The campaign must run where the GPU is: no ``../shared`` (the training pack stands in), and none of torchvision,
mediapipe, gradio, albumentations, plotly or onnxscript installed. The end-to-end test therefore runs it in a
subprocess in which importing any of those fails, from a small pack, and checks what would come back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bench.report import gpu_campaign
from kpdemo.datasets.pack import PACK_BUDGET_MIB, TRAVEL_LIMIT_MIB, build_pack, packed_set, travelling_mib
from trainers import campaign
from trainers.campaign import GPU_BATCH, MAX_FILE_MB, MAX_FILES, SHIPPED_68, landmark_configs, on_gpu, unpack
from trainers.engine.config import TrainConfig
from trainers.engine.data import make_splits
from trainers.grids import get_experiment

REPO = Path(__file__).resolve().parents[1]
#: What the GPU machine does not have (see the developers' guide); importing any of them must not be needed.
ABSENT_ON_DEVICE = ("torchvision", "mediapipe", "gradio", "albumentations", "plotly", "onnxscript")


def test_the_working_tree_leaves_the_pack_its_share_of_a_device_call() -> None:
    """A device call carries the working tree and the pack, 64 MiB in all: a repository that grows past its share
    would make the prepared campaign fail to start on the one GPU session that gets it."""
    tree = travelling_mib(REPO)
    assert tree + PACK_BUDGET_MIB <= TRAVEL_LIMIT_MIB, f"working tree {tree:.1f} MiB + pack {PACK_BUDGET_MIB} MiB"


@pytest.fixture(scope="module")
def small_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pack(tmp_path_factory.mktemp("pack") / "faces.npz", every=10)


@pytest.mark.needs_data
def test_pack_round_trip(small_pack: Path) -> None:
    faces = packed_set("ibug300w", small_pack)
    assert faces.images.shape[1:] == (160, 160, 3) and faces.schema.num_points == 68
    assert set(faces.splits) == {"train", "val", "test"}
    assert np.isfinite(faces.points).all()


@pytest.mark.needs_data
def test_the_68_point_run_continues_the_shipped_model_and_small_sets_keep_their_batch() -> None:
    """The GPU's minutes go to one more cycle of the shipped model's chain, on the frame-cut, blur, noise and cover
    recipe it needs; the Kaggle fine-tune starts from that run (IMM's is a CPU job); a GPU batch scales the rate
    with it (by its square root: AdamW), except on a set as small as IMM's 80 faces."""
    main, kaggle = landmark_configs([])
    assert main.tag == "pip_r18" and main.weights == SHIPPED_68 and (REPO / SHIPPED_68).exists()
    assert main.augmentation == "wild_cover" and main.dataset == "faces68_ytfval_wide160"
    assert kaggle.tag == "kaggle15_pip" and kaggle.weights == "run:pip_r18"
    big = on_gpu(main)  # AdamW: the rate grows with the square root of the batch
    assert big.batch_size == GPU_BATCH and big.lr == pytest.approx(main.lr * (GPU_BATCH / main.batch_size) ** 0.5)
    imm = next(c for c in get_experiment("landmarks").configs if c.tag == "imm73_pip")
    assert on_gpu(imm) == imm


def _quick_campaign(pack: Path, tmp_path: Path, setup: str = "", args: tuple[str, ...] = ()) -> dict:
    """The quick campaign with two workers, in a subprocess where the packages the device lacks cannot be imported
    and the datasets are absent (only the pack), after the Python statements ``setup``; its ``campaign.json``."""
    bootstrap = (f"import sys, runpy; sys.modules.update(dict.fromkeys({ABSENT_ON_DEVICE!r})); {setup}"
                 f"sys.argv = ['trainers.campaign'] + sys.argv[1:]; runpy.run_module('trainers.campaign', "
                 f"run_name='__main__')")
    env = os.environ | {"KPDEMO_DATA": str(tmp_path / "no-data-here"), "KPDEMO_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", bootstrap, "--device", "cpu", "--quick", "--budget-s", "300", "--out",
         str(tmp_path / "out"), "--runs", str(tmp_path / "runs"), "--pack", str(pack), "--workers", "2", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp_path / "out" / "campaign.json").read_text())


@pytest.mark.needs_data
def test_quick_campaign_runs_without_the_datasets_or_missing_packages(small_pack: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = _quick_campaign(small_pack, tmp_path)
    assert report["finished"] and report["device"] == "cpu"
    for phase in ("smoke", "seed001", "landmarks", "throughput"):
        assert report[phase]["status"] == "done", (phase, report[phase])
    assert report["smoke"]["ok"], report["smoke"]
    assert report["seed001"]["workers"] == 2 and report["seed001"]["groups"] == 2  # init: one group per model
    assert {(r["status"], r["epochs"]) for r in report["seed001"]["init"]} == {("done", 2)}, report["seed001"]
    assert report["seed001"]["images_per_s_summed"] > 0
    # the 68-point run continues the shipped model (3.54% on all validation faces): two small steps on 64 crops
    # leave it near there, where a neighbour table refit on those 64 would have sent it to ~7-10%
    assert report["landmarks"]["pip_r18"]["best"]["val_nme"] < 0.05, report["landmarks"]["pip_r18"]
    section = gpu_campaign(out)  # the README's "GPU campaign" section renders what the campaign reports
    assert "| seed001 | done |" in section and "init: 4 runs, 2 of 2 epochs" in section, section
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= MAX_FILES and all(p.stat().st_size <= MAX_FILE_MB * 2**20 for p in files)
    assert {p.name for p in files} >= {"campaign.json", "seed001.tar.gz", "landmarks_finetunes.tar.gz",
                                       "grid_speed.csv", "grid_step_cpu.csv", "grid_step_cpu_profile.txt"}
    with tarfile.open(out / "landmarks_finetunes.tar.gz") as tar:
        assert any(name.endswith("best.pt") for name in tar.getnames())

    restored = unpack(out, tmp_path / "restored")
    assert restored
    records = list((tmp_path / "restored").glob("*/*/record.json"))
    assert {json.loads(r.read_text())["experiment"] for r in records} >= {"init", "landmarks"}


@pytest.mark.needs_data
def test_seed_groups_train_in_process_when_no_worker_can(small_pack: Path, tmp_path: Path) -> None:
    """If no worker process trains at all (spawning broken on that machine, say), the seed phase does not come back
    empty: it trains the groups in the campaign's own process in the time left, and says why."""
    no_workers = ("import trainers.engine.side_by_side as sbs; real = sbs.train_side_by_side; "
                  "sbs.train_side_by_side = lambda groups, root, deadline, workers, on_done=None: "
                  "[RuntimeError('no worker could start') for _ in groups] if workers > 1 "
                  "else real(groups, root, deadline, workers, on_done); ")
    seed = _quick_campaign(small_pack, tmp_path, no_workers)["seed001"]
    assert seed["status"] == "done" and seed["workers"] == 1
    assert "no worker could start" in seed["workers_failed"]
    assert {(r["status"], r["epochs"]) for r in seed["init"]} == {("done", 2)}, seed


@pytest.mark.needs_data
def test_chosen_seed_grids_train_grouped_across_grids(small_pack: Path, tmp_path: Path) -> None:
    """``--grids``: only those grids, grouped across them (``augmentation``'s flip + rotation run stacks with the four
    of ``dropout``), every run reported under its own grid."""
    report = _quick_campaign(small_pack, tmp_path, args=("--phases", "seed001", "--grids", "augmentation", "dropout"))
    seed = report["seed001"]
    assert report["phases"] == ["seed001"] and seed["groups"] == 2 and "init" not in seed
    assert [len(seed["augmentation"]), len(seed["dropout"])] == [2, 4]
    assert {(r["status"], r["epochs"]) for r in seed["augmentation"] + seed["dropout"]} == {("done", 2)}, seed
    section = gpu_campaign(tmp_path / "out")  # the README names the call as made
    assert "`python -m trainers.campaign --phases seed001 --grids augmentation dropout`" in section, section


def test_unpacking_a_folder_without_archives_says_so(tmp_path: Path) -> None:
    """A mistyped --unpack folder (or one the device call left empty) is an error, not a silent empty runs root."""
    (tmp_path / "out").mkdir()
    for out in (tmp_path / "out", tmp_path / "typo"):
        with pytest.raises(FileNotFoundError, match="no campaign archives"):
            unpack(out, tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_an_archive_is_written_whole_or_leaves_nothing_to_travel_back(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file in the campaign's folder comes back from the device: a failed archive (a run folder gone, or one
    too big to come back) must not leave its staging file there; it once left ``<name>.tar.gz.tmp``."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    run = runs / "init" / "convnet_x"
    run.mkdir(parents=True)
    (run / "record.json").write_text("{}")
    out.mkdir()
    with pytest.raises(FileNotFoundError):
        campaign.archive(out, "seed001", [run, runs / "init" / "gone"], runs)
    assert list(out.iterdir()) == []
    monkeypatch.setattr(campaign, "MAX_FILE_MB", 0)
    with pytest.raises(ValueError, match="would not come back"):
        campaign.archive(out, "seed001", [run], runs)
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    campaign.archive(out, "seed001", [run], runs)
    campaign.Report(out).update(finished=True)
    assert sorted(p.name for p in out.iterdir()) == ["campaign.json", "seed001.tar.gz"]
    with tarfile.open(out / "seed001.tar.gz") as tar:
        assert tar.getnames() == ["init/convnet_x/record.json"]


def test_a_run_trained_for_another_grid_is_marked_in_the_summaries(tmp_path: Path) -> None:
    """A run two grids share trains once (``env.trained_as`` on its second record): the summaries say so, so the
    campaign's images/s counts its images once."""
    dirs = []
    for grid, env in (("init", {}), ("optimizers", {"trained_as": "init/convnet_x"})):
        run_dir = tmp_path / grid / "convnet_x"
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text(json.dumps({"status": "done", "env": {"train_images": 64} | env}))
        (run_dir / "history.csv").write_text("epoch,train_loss\n1,0.5\n2,0.25\n")
        dirs.append(run_dir)
    group = [TrainConfig(experiment="init"), TrainConfig(experiment="optimizers")]
    first, second = (campaign.run_summaries(dirs, grid, group) for grid in ("init", "optimizers"))
    assert first == [{"run": "convnet_x", "status": "done", "epochs": 2, "train_images": 64}]
    assert second == [first[0] | {"trained_as": "init/convnet_x"}]


@pytest.mark.needs_data
def test_epoch_seconds_separates_an_epochs_fixed_cost_from_its_per_image_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 68-point run is sized from two probes: their difference is the per-image cost, the rest a fixed cost
    per epoch (evaluation, records). Scaling one probe's whole time by images took that fixed cost for image work
    and gave the H200 run 5 epochs of a phase that held ~150."""
    fixed, per_image = 0.3, 1e-4  # seconds: what the H200's 68-point probes measure, roughly
    monkeypatch.setattr(campaign, "steady_epoch_s", lambda config, root, images: fixed + per_image * images)
    main = landmark_configs([])[0]
    images = len(make_splits(main).train)
    assert campaign.epoch_seconds(main, Path("unused")) == pytest.approx(fixed + per_image * images)
