"""Trainers: typed config overrides, the experiment registry, re-creating a run from its record, a masked
Kaggle-CSV run on a synthetic CSV (no data needed), and the ``--quick`` CPU profile on real ``kaggle15``."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kpdemo.checkpoints import load_checkpoint, save_checkpoint
from kpdemo.datasets.kaggle15 import train_own_box
from kpdemo.models import load_model
from kpdemo.runs import load_runs
from kpdemo.schemas import KAGGLE15_NAMES
from kpdemo.training.tensors import TensorSet
from tests.fixtures.make_fixtures import turned_cylinder_points
from trainers.__main__ import build_parser, configs_for
from trainers.__main__ import main as trainers_main
from trainers.engine.config import TrainConfig, apply_overrides
from trainers.engine.data import cached_dataset
from trainers.engine.train import epoch_order, run_config, yaw_weights
from trainers.grids import EXPERIMENTS

SEED001 = ("init", "optimizers", "augmentation", "dropout", "cv")


def test_overrides_are_typed_and_checked() -> None:
    config = apply_overrides(TrainConfig(), ["lr=3e-4", "epochs=5", "amp=true", "augmentation=flip", "dropout=1"])
    assert (config.lr, config.epochs, config.amp, config.augmentation, config.dropout) == (3e-4, 5, True, "flip", 1.0)
    for bad, message in (("nope=1", "unknown config key"), ("epochs=2.5", "expects an int"), ("lr", "key=value"),
                         ("amp=maybe", "true/false"), ("lr=1e999", "finite number")):
        with pytest.raises(ValueError, match=message):
            apply_overrides(TrainConfig(), [bad])


def test_registry_covers_seed_001() -> None:
    assert set(SEED001) <= set(EXPERIMENTS)
    for name in SEED001:
        exp = EXPERIMENTS[name]
        assert exp.configs and all(c.experiment == name for c in exp.configs)
        names = [c.run_name() for c in exp.configs]
        assert len(set(names)) == len(names), f"{name}: run names collide"
        assert all(apply_overrides(c, exp.cpu_budget_overrides()) for c in exp.configs)
    optimizers = EXPERIMENTS["optimizers"].configs
    for model in ("simplenet", "convnet"):
        for opt in ("sgd", "momentum", "adam"):
            assert len({c.lr for c in optimizers if c.model == model and c.optimizer == opt}) >= 3
    assert {c.init for c in EXPERIMENTS["init"].configs} == {"zeros", "xavier"}


def test_from_record_recreates_the_config(tmp_path: Path) -> None:
    config = replace(EXPERIMENTS["dropout"].configs[1], epochs=7, seed=3)
    (tmp_path / "record.json").write_text(json.dumps({"config": config.to_dict()}))
    args = build_parser().parse_args(["--from-record", str(tmp_path / "record.json")])
    assert configs_for(args) == [config]


def test_weights_flag_names_a_local_file(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18-imagenet.pth"
    weights.write_bytes(b"")
    args = build_parser().parse_args(["w300", "--weights", str(weights)])
    assert {c.weights for c in configs_for(args)} == {str(weights)}
    missing = build_parser().parse_args(["w300", "--weights", str(tmp_path / "absent.pth")])
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        configs_for(missing)


@pytest.mark.parametrize(("override", "message"), [
    ("model=nosuchmodel", "unknown model 'nosuchmodel'; known: "), ("optimizer=adma", "unknown optimizer 'adma'"),
    ("init=glorot", "unknown init"), ("schedule=step", "unknown schedule"), ("loss=huber", "unknown loss 'huber'"),
    ("augmentation=mixup", "unknown augmentation"), ("dataset=celeba", "unknown dataset 'celeba'"),
    ("sampling=pose", "unknown sampling"), ("epochs=0", "epochs must be at least 1"),
    ("batch_size=0", "batch_size must be at least 1"), ("lr=-1", "lr must be above 0"),
    ("dropout=1.5", "dropout must be in"), ("device=tpu", "device must be auto, cpu or cuda"),
])
def test_a_setting_no_run_can_train_with_is_refused_before_any_data_loads(override: str, message: str) -> None:
    """Each names the setting (and the known values): the CLI turns it into a usage error, where a typo once
    surfaced as a traceback after the data had loaded, and a bad loss left a failed run folder behind."""
    args = build_parser().parse_args(["init", "--set", override])
    with pytest.raises(ValueError, match=re.escape(message)):
        configs_for(args)


def test_a_record_whose_starting_weights_are_gone_is_refused_up_front(tmp_path: Path) -> None:
    """A shipped landmark record may name the copy of the weights it started from (``/tmp/...``): re-running it
    says so before any data loads, and how to point it elsewhere."""
    config = replace(EXPERIMENTS["init"].configs[0], weights=str(tmp_path / "gone.pt"))
    (tmp_path / "record.json").write_text(json.dumps({"config": config.to_dict()}))
    args = build_parser().parse_args(["--from-record", str(tmp_path / "record.json")])
    with pytest.raises(FileNotFoundError, match="gone.pt.*--set weights=PATH"):
        configs_for(args)
    fixed = build_parser().parse_args(["--from-record", str(tmp_path / "record.json"), "--set", "weights="])
    assert configs_for(fixed)[0].weights == ""


def test_resume_says_why_a_run_cannot_go_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A finished run, a run folder without its resume state (a shipped record), and settings the record already
    fixes: each a usage error naming the reason, before any data loads."""
    run_dir = tmp_path / "init" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "history.csv").write_text("epoch,train_loss\n1,0.5\n2,0.4\n")
    cases = [({"status": "done"}, [], "is finished (2 epochs): nothing to resume"),
             ({"status": "stopped"}, [], "has no last.pt"),
             ({"status": "stopped"}, ["--epochs", "9", "--set", "lr=0.1"], "it takes no --epochs, --set")]
    for record, extra, message in cases:
        (run_dir / "record.json").write_text(json.dumps(record | {"config": {}}))
        with pytest.raises(SystemExit):
            trainers_main(["--resume", str(run_dir), *extra])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        trainers_main(["--resume", str(tmp_path)])
    assert "not a run folder" in capsys.readouterr().err


def _write_kaggle_csv(path: Path, rows: int = 40) -> None:
    """A synthetic training.csv in Kaggle's layout: a random 96x96 image per row, a third of coordinates blank."""
    rng = np.random.default_rng(0)
    table = {}
    for name in KAGGLE15_NAMES:
        for axis in "xy":
            values = rng.uniform(20, 76, rows).round(3).astype(str)
            values[rng.random(rows) < 0.33] = ""
            table[f"{name}_{axis}"] = values
    table["Image"] = [" ".join(map(str, rng.integers(0, 256, 96 * 96))) for _ in range(rows)]
    pd.DataFrame(table).to_csv(path, index=False)


def test_kaggle_csv_run_uses_the_mask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "training.csv"
    _write_kaggle_csv(csv)
    monkeypatch.setenv("KPDEMO_KAGGLE_CSV", str(csv))
    cached_dataset.cache_clear()
    try:
        run_dir = run_config(TrainConfig(experiment="csv", dataset="kaggle_csv", model="simplenet", epochs=2,
                                         device="cpu", batch_size=16), tmp_path / "runs", show_progress=False)
    finally:
        cached_dataset.cache_clear()
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "done"
    assert np.isfinite(record["test"]["rmse_px"]) and "nme" not in record["test"]  # nme needs every point


@pytest.mark.needs_data
def test_quick_profile_writes_a_complete_record(tmp_path: Path) -> None:
    assert trainers_main(["augmentation", "--quick", "--device", "cpu", "--only", "flip", "--runs",
                          str(tmp_path)]) == 0
    runs, history = load_runs([tmp_path])
    assert len(runs) == 1
    run = runs.iloc[0]
    record = json.loads((Path(run["dir"]) / "record.json").read_text())
    assert record["status"] == "done" and record["experiment"] == "augmentation-quick"
    assert record["config"]["train_subset"] == 256 and record["config"]["augmentation"] == "flip_rotate"
    assert {"device", "torch", "seed"} <= set(record["env"])
    assert {"epoch", "val_loss", "val_rmse_px"} <= set(record["best"])
    assert record["test"]["rmse_px"] > 0
    assert {"epoch", "train_loss", "val_loss", "val_rmse_px", "epoch_time_s", "wall_time_s"} <= set(history.columns)
    assert len(history) == 3
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    checkpoint = Path(run["dir"]) / record["checkpoint"]
    assert torch.load(checkpoint, weights_only=True)["meta"]["schema"] == "kaggle15"
    model, meta = load_model(checkpoint, expect_schema="kaggle15")
    assert meta.input_size == (96, 96) and model(torch.zeros(1, 1, 96, 96)).shape == (1, 30)
    assert meta.refine and meta.own_box == train_own_box()  # it can cut its next crop around its own answer


def _fake_run(root: Path, config: TrainConfig, val_losses: list[float], status: str = "done",
              train_images: int | None = None, train_losses: list[float] | None = None) -> None:
    """A record written by the real RunWriter, with given validation (and training: the same unless given) losses
    (findings logic only)."""
    from kpdemo.runs import RunWriter

    env = {"device": "cpu"} | ({"train_images": train_images} if train_images else {})
    writer = RunWriter(root, config.experiment, config.run_name(), config.to_dict(), env)
    for epoch, (loss, train) in enumerate(zip(val_losses, train_losses or val_losses, strict=True), 1):
        writer.log_epoch({"epoch": epoch, "train_loss": train, "val_loss": loss, "val_rmse_px": 48 * loss**0.5})
    best = min(val_losses)
    writer.finish(status, best={"epoch": 1, "val_loss": best, "val_rmse_px": 48 * best**0.5},
                  test={"rmse_px": 48 * best**0.5})


#: Eight epochs of a zero-init run's plateau and of a Xavier run still improving (its last quarter below the one
#: before: the findings' test of "keeps improving").
ZEROS = [0.0046] + [0.0045] * 7
XAVIER = [0.004, 0.003, 0.0025, 0.002, 0.0017, 0.0014, 0.0012, 0.0008]


def test_findings_judge_claims_from_records(tmp_path: Path) -> None:
    from trainers.tools.findings import findings

    for config in EXPERIMENTS["init"].configs:
        _fake_run(tmp_path, config, ZEROS if config.init == "zeros" else XAVIER)
    table = findings([tmp_path]).set_index("experiment")
    assert table.loc["init", "verdict"] == "reproduced"
    assert "zeros val loss 0.0046 -> 0.0045" in table.loc["init", "our numbers"]
    assert (table.drop(index="init")["verdict"] == "pending").all()


def test_findings_say_an_experiment_has_only_quick_runs(tmp_path: Path) -> None:
    """``--quick`` runs live in ``<experiment>-quick`` and are never judged: the row says they are all there is and
    how to train the grid, where it once said "no finished runs" as if nothing had been run."""
    from trainers.tools.findings import findings

    for config in EXPERIMENTS["init"].configs:
        _fake_run(tmp_path, replace(config, experiment="init-quick"), ZEROS if config.init == "zeros" else XAVIER)
    table = findings([tmp_path]).set_index("experiment")
    assert table.loc["init", "verdict"] == "pending" and table.loc["init", "runs"] == 0
    assert table.loc["init", "our numbers"].startswith("only --quick runs (4), a smoke test too short to judge: "
                                                       "python -m trainers init trains the grid")
    assert table.loc["optimizers", "our numbers"] == "no finished runs"


def test_findings_judge_each_budget_of_a_grid_apart(tmp_path: Path) -> None:
    """A GPU campaign's 500-epoch records shipped beside a CPU profile's must not be mixed into one verdict: the row
    shows the largest budget's numbers and budget, and names the smaller budget's differing verdict."""
    from dataclasses import replace

    from trainers.tools.findings import findings

    for config in EXPERIMENTS["init"].configs:  # short CPU runs: zeros ends better than Xavier -> refuted
        _fake_run(tmp_path, replace(config, epochs=6, train_subset=1500),
                  [0.0046, 0.0030, 0.0020] if config.init == "zeros" else [0.004, 0.0035, 0.003])
    for config in EXPERIMENTS["init"].configs:  # the long runs on every image: zeros stalls -> reproduced
        _fake_run(tmp_path, replace(config, epochs=500, train_subset=0),
                  ZEROS if config.init == "zeros" else XAVIER)
    row = findings([tmp_path]).set_index("experiment").loc["init"]
    assert row["budget"] == "500 epochs, all train images"
    assert row["verdict"] == "reproduced (at 6 epochs, 1500 train images: refuted)"
    assert "over its last 0.0010" in row["our numbers"] and "0.0030" not in row["our numbers"]


def test_findings_read_runs_a_time_budget_stopped_at_the_epochs_they_reached(tmp_path: Path) -> None:
    """The GPU campaign stops runs at its deadline: their records are complete ("stopped"), so the verdict reads
    them, and the budget says how far they got, not the 500 epochs they planned."""
    from dataclasses import replace

    from trainers.tools.findings import findings

    for config in EXPERIMENTS["init"].configs:
        long = replace(config, epochs=500, train_subset=0)
        if config.init == "zeros":
            _fake_run(tmp_path, long, ZEROS, status="stopped", train_images=4673)
        else:
            _fake_run(tmp_path, long, [*XAVIER, 0.0007], status="stopped", train_images=4673)
    row = findings([tmp_path]).set_index("experiment").loc["init"]
    assert row["runs"] == 4 and row["verdict"] == "reproduced"
    assert row["budget"] == "8-9 of 500 epochs, all train images"

    for config in EXPERIMENTS["init"].configs:  # a CPU profile that went through more images leads the row
        _fake_run(tmp_path, replace(config, epochs=30, train_subset=1500),
                  [0.0046, 0.0030, 0.0020] if config.init == "zeros" else [0.004, 0.0035, 0.003], train_images=1500)
    row = findings([tmp_path]).set_index("experiment").loc["init"]
    assert row["budget"] == "30 epochs, 1500 train images"  # 30 x 1,500 images beat 9 x 4,673
    assert row["verdict"] == "refuted (at 8-9 of 500 epochs, all train images: reproduced)"


def test_dropout_finding_judges_no_gap_of_a_run_at_the_mean_face(tmp_path: Path) -> None:
    """A run no better than predicting the mean face (the plateau of ``init``'s zero-init runs) has learnt nothing,
    so neither its train/val gap nor a race to its level says anything. Once both runs learn, the race is judged and
    the gaps compare by their size relative to the val loss, not their sign."""
    from trainers.tools.findings import findings

    mean_face = [0.03, 0.027] + [0.026] * 6  # a zero-init curve that has plateaued
    for config in EXPERIMENTS["init"].configs:
        _fake_run(tmp_path, config, mean_face if config.init == "zeros" else XAVIER)
    momentum_losses = [0.04, 0.035, 0.032, 0.031, 0.03, 0.03, 0.029, 0.029]  # never below the mean face's 0.026
    adam_losses = [0.01, 0.004, 0.003, 0.0025, 0.0023, 0.0022, 0.0021, 0.002]
    for config in EXPERIMENTS["dropout"].configs:
        _fake_run(tmp_path, config, momentum_losses if config.optimizer == "momentum" else adam_losses)
    row = findings([tmp_path]).set_index("experiment").loc["dropout"]
    assert row["verdict"] == "inconclusive: momentum not past the mean face"
    assert "not past half the mean face's val loss (0.0260): momentum (best 0.0290)" in row["our numbers"]

    second = tmp_path / "second"
    for config in EXPERIMENTS["init"].configs:
        _fake_run(second, config, mean_face if config.init == "zeros" else XAVIER)
    for config in EXPERIMENTS["dropout"].configs:
        if config.optimizer == "momentum":  # learns, but slower; its gap is the larger one, relative to its loss too
            _fake_run(second, config, [v / 4 for v in momentum_losses],
                      train_losses=[v / 4 * 1.5 for v in momentum_losses])
        else:
            _fake_run(second, config, adam_losses, train_losses=[v * 1.05 for v in adam_losses])
    row = findings([second]).set_index("experiment").loc["dropout"]
    assert "share of the val loss over the last 10 epochs: adam 5.0%, momentum 50.0%" in row["our numbers"]
    assert row["verdict"] == "partly: Adam first, momentum's gap larger"


def test_seed004_findings_read_iou_and_both_baselines(tmp_path: Path) -> None:
    from kpdemo.runs import RunWriter
    from trainers.tools.findings import findings

    def record(config: TrainConfig, test: dict[str, float]) -> None:
        writer = RunWriter(tmp_path, config.experiment, config.run_name(), config.to_dict(), {"device": "cpu"})
        val = {f"val_{k}": v for k, v in test.items() if k in ("l1_gray", "ssim")}  # validation as on test
        writer.finish(best={"epoch": 1, "val_loss": 0.5} | val, test=test)

    for config in EXPERIMENTS["polygons"].configs:  # the mirror decoder draws far worse than the reconstruction
        record(config, {"iou": 0.3 if config.tag == "mirror_pretrained" else 0.8})
    baselines = {"identity_l1_gray": 40.0, "identity_ssim": 0.42, "mean_l1_gray": 37.0, "mean_ssim": 0.45}
    for config in EXPERIMENTS["frontalize"].configs:  # a paired run beats both baselines; the GAN run beats it
        gan = "patchgan" in config.tag
        record(config, baselines | {"l1_gray": 30.0 if gan else 35.0, "ssim": 0.6 if gan else 0.5})
    table = findings([tmp_path]).set_index("experiment")
    assert table.loc["polygons", "verdict"] == "refuted"
    assert "mirror_pretrained IoU 0.30" in table.loc["polygons", "our numbers"]
    # the GAN trained on 1,024 pairs, the plain runs on all: no fair pair to judge by yet
    assert table.loc["frontalize", "verdict"] == "inconclusive: no run without the adversarial term on the GAN's " \
        "1024 training pairs"
    assert "mean face 37.0 / 0.45" in table.loc["frontalize", "our numbers"]
    plain = next(c for c in EXPERIMENTS["frontalize"].configs if c.tag == "l1")
    record(replace(plain, tag="l1_n1024", train_subset=1024), baselines | {"l1_gray": 35.0, "ssim": 0.5})
    assert findings([tmp_path]).set_index("experiment").loc["frontalize", "verdict"] == "refuted"


def test_shipping_a_new_best_unlinks_the_record_it_replaced(tmp_path: Path) -> None:
    from trainers.tools.ship import unlink_superseded

    target = tmp_path / "model.pt"
    target.write_bytes(b"weights")
    records = {}
    for name, pointer in (("old", "../../../model.pt"), ("new", "../../../model.pt"), ("other", "../../../x.pt")):
        folder = tmp_path / "runs" / "exp" / name
        folder.mkdir(parents=True)
        (folder / "record.json").write_text(json.dumps({"name": name, "checkpoint": pointer}))
        records[name] = folder / "record.json"
    cleared = unlink_superseded(tmp_path / "runs", target, keep=records["new"].parent)
    assert cleared == [records["old"]]
    assert json.loads(records["old"].read_text())["checkpoint"] is None
    assert json.loads(records["new"].read_text())["checkpoint"] == "../../../model.pt"
    assert json.loads(records["other"].read_text())["checkpoint"] == "../../../x.pt"


def test_a_run_of_a_shipped_runs_name_does_not_take_its_record(tmp_path: Path) -> None:
    """Rerunning a shipped model's config (the GPU campaign's IMM fine-tune) gives a run of the same name: shipping
    its record must not replace the shipped one and inherit the link to the shipped weights; re-shipping the
    shipped run itself still works."""
    from trainers.tools.ship import TakenName, ship_record

    (tmp_path / "model.pt").write_bytes(b"weights")
    shipped = tmp_path / "shipped" / "exp" / "run"
    shipped.mkdir(parents=True)
    (shipped / "record.json").write_text(json.dumps({"experiment": "exp", "name": "run", "started": "t0",
                                                     "checkpoint": "../../../model.pt"}))
    for started in ("t0", "t1"):
        run_dir = tmp_path / started / "exp" / "run"
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text(json.dumps({"experiment": "exp", "name": "run", "started": started,
                                                         "checkpoint": "best.pt"}))
        (run_dir / "history.csv").write_text(f"epoch,train_loss\n1,{0.5 if started == 't0' else 0.25}\n")
    with pytest.raises(TakenName, match="another run of that name"):
        ship_record(tmp_path / "t1" / "exp" / "run", tmp_path / "shipped")
    assert json.loads((shipped / "record.json").read_text())["started"] == "t0"
    assert ship_record(tmp_path / "t0" / "exp" / "run", tmp_path / "shipped") == shipped
    assert json.loads((shipped / "record.json").read_text())["checkpoint"] == "../../../model.pt"


def test_a_run_stopped_sooner_does_not_replace_a_shipped_record_that_got_further(tmp_path: Path) -> None:
    """A GPU call's seed runs stop at its deadline under the names of the 500 epochs they aim at: one that got less
    far than the shipped record of its name leaves it (the others still ship), unless told to replace it."""
    from trainers.tools.ship import main as ship_main

    def run(root: Path, name: str, epochs: int) -> Path:
        run_dir = root / "init" / name
        run_dir.mkdir(parents=True)
        (run_dir / "record.json").write_text(json.dumps({"experiment": "init", "name": name, "status": "stopped",
                                                         "started": str(root)}))
        (run_dir / "history.csv").write_text("epoch,train_loss\n" + "".join(f"{e},0.5\n" for e in range(1, epochs + 1)))
        return run_dir

    shipped = tmp_path / "shipped"
    for name in ("far", "near"):
        run(shipped, name, 310)
    run(tmp_path / "call", "far", 150)  # got less far: stays as shipped
    run(tmp_path / "call", "near", 311)  # got further: ships
    run(tmp_path / "call", "new", 5)  # nothing of its name shipped: ships
    assert ship_main([str(tmp_path / "call"), "--dest", str(shipped)]) == 0
    started = {d.name: json.loads((d / "record.json").read_text())["started"] for d in (shipped / "init").iterdir()}
    assert started == {"far": str(shipped), "near": str(tmp_path / "call"), "new": str(tmp_path / "call")}
    with pytest.raises(SystemExit):  # a mistyped runs root ships nothing, and says so
        ship_main([str(tmp_path / "cal"), "--dest", str(shipped)])
    assert ship_main([str(tmp_path / "call"), "--dest", str(shipped), "--replace-longer"]) == 0
    assert json.loads((shipped / "init" / "far" / "record.json").read_text())["started"] == str(tmp_path / "call")
    assert sum(1 for _ in (shipped / "init" / "far" / "history.csv").open()) == 151


def test_a_soup_averages_one_architecture_and_names_what_differs() -> None:
    from trainers.tools.ship import soup

    a = {"w": torch.tensor([1.0, 3.0]), "bn.num_batches_tracked": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 5.0]), "bn.num_batches_tracked": torch.tensor(9)}
    mixed = soup(a, b)
    assert torch.equal(mixed["w"], torch.tensor([2.0, 4.0]))
    assert int(mixed["bn.num_batches_tracked"]) == 5
    with pytest.raises(ValueError, match="'w' is \\(2,\\) in one, \\(3,\\)"):
        soup(a, {**b, "w": torch.zeros(3)})
    with pytest.raises(ValueError, match="'extra' is in one only"):
        soup(a, {**b, "extra": torch.zeros(1)})


def test_shipping_a_soup_records_its_partner_as_it_was(tmp_path: Path) -> None:
    """The soup may replace the very file it was averaged with: the record keeps that file's hash from before."""
    from trainers.tools.ship import main as ship_main

    assert trainers_main(["augmentation", "--quick", "--device", "cpu", "--only", "flip", "--runs",
                          str(tmp_path / "runs")]) == 0
    run_dir = next((tmp_path / "runs").glob("*/*/record.json")).parent
    record = json.loads((run_dir / "record.json").read_text())
    partner = tmp_path / "shipped.pt"
    state, meta = load_checkpoint(run_dir / record["checkpoint"])
    save_checkpoint(partner, {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}, meta)
    before = hashlib.sha256(partner.read_bytes()).hexdigest()
    assert ship_main([str(tmp_path / "runs"), "--best", str(run_dir), "--soup-with", str(partner), "--to",
                      str(partner), "--dest", str(tmp_path / "shipped")]) == 0
    souped, _ = load_checkpoint(partner)
    key = next(k for k, v in state.items() if v.is_floating_point())
    torch.testing.assert_close(souped[key].float(), (state[key] + 0.5).half().float())
    shipped = json.loads(next((tmp_path / "shipped").glob("*/*/record.json")).read_text())
    assert shipped["soup_with"] == {"path": partner.as_posix(), "sha256": before}


def test_landmark_findings_name_a_run_trained_on_another_recipe() -> None:
    from trainers.tools.findings import Records, pip_vs_direct

    runs = pd.DataFrame([
        {"dataset": "faces68_wide160", "model": "pip", "tag": "pip_r18", "epochs": 8, "augmentation": "wild",
         "test_nme": 0.045},
        {"dataset": "faces68_wide160", "model": "pip", "tag": "pip_r18", "epochs": 30, "augmentation": "wild_cut",
         "test_nme": 0.034},
        {"dataset": "faces68_wide160", "model": "resnet18", "tag": "direct_r18", "epochs": 8, "augmentation": "wild",
         "test_nme": 0.065},
    ])
    runs["best_val_nme"] = runs["test_nme"] + 0.001
    numbers, verdict = pip_vs_direct(runs, pd.DataFrame(), Records(runs, pd.DataFrame()))
    assert numbers.startswith("pip_r18 (30 ep, wild_cut): 3.40%; pip_r18 (8 ep): 4.50%")
    assert "best PIP run on validation: pip_r18 (30 ep, wild_cut), test 3.40%" in numbers
    assert verdict == "reproduced: PIP wins, on par with PFLD"  # 3.40% against PFLD 0.25X's 3.38%: within noise
    runs.loc[1, ["test_nme", "best_val_nme"]] = 0.036, 0.037
    assert pip_vs_direct(runs, pd.DataFrame(), Records(runs, pd.DataFrame()))[1] == "partly: PIP wins, PFLD not reached"
    runs.loc[1, ["test_nme", "best_val_nme"]] = 0.032, 0.033
    assert pip_vs_direct(runs, pd.DataFrame(), Records(runs, pd.DataFrame()))[1] == "reproduced: PIP wins, beats PFLD"


def _faces_turned_by(yaws: list[float]) -> TensorSet:
    """68-point faces of a cylinder head turned by each yaw, as a training set."""
    points = torch.from_numpy(turned_cylinder_points(np.array(yaws))).float()
    images = torch.zeros(len(yaws), 1, 8, 8, dtype=torch.uint8)
    return TensorSet(images, points, torch.ones(len(yaws), 68, dtype=torch.bool))


def test_yaw_sampling_draws_the_few_turned_faces_more_often() -> None:
    """30 frontal faces and 10 turned by 60 deg: each bin's share of the draws goes as the square root of its count
    (10 turned faces: sqrt(10) / (sqrt(30) + sqrt(10)) = 37% of the draws, not 25%); uniform is one shuffle."""
    data = _faces_turned_by([0.0] * 30 + [-60.0] * 5 + [60.0] * 5)
    weights = yaw_weights(data.points.numpy())
    assert weights.sum() == pytest.approx(1.0)
    assert weights[30:].sum() == pytest.approx(np.sqrt(10) / (np.sqrt(30) + np.sqrt(10)))
    generator = torch.Generator().manual_seed(0)
    drawn = epoch_order(data, "yaw", generator)
    assert len(drawn) == 40 and drawn.min() >= 0 and drawn.max() < 40
    assert sorted(epoch_order(data, "uniform", generator).tolist()) == list(range(40))
    with pytest.raises(ValueError, match="unknown sampling 'pose'"):
        epoch_order(data, "pose", generator)
    fifteen = TensorSet(data.images, data.points[:, :15], data.mask[:, :15])
    with pytest.raises(ValueError, match="68-point iBUG faces, not 15"):
        epoch_order(fifteen, "yaw", generator)


def test_a_model_too_big_for_its_images_is_refused_before_any_memory_is_taken() -> None:
    """The seed ConvNet's dense head grows with the image: on IMM's whole 800x600 photos it has 939 M parameters,
    which filled a server's memory (20 GB) before the first batch. Counted on the meta device, it is refused."""
    from kpdemo.schemas import get_schema
    from trainers.engine.train import new_model

    photos = TensorSet(torch.zeros(1, 3, 600, 800, dtype=torch.uint8), torch.zeros(1, 73, 2),
                       torch.ones(1, 73, dtype=torch.bool))
    config = TrainConfig(model="convnet", dataset="imm_frontal")
    with pytest.raises(ValueError, match="convnet on imm_frontal's 800x600 images would have 939 M parameters"):
        new_model(config, get_schema("imm73"), photos)
    crops = TensorSet(torch.zeros(1, 1, 96, 96, dtype=torch.uint8), torch.zeros(1, 15, 2),
                      torch.ones(1, 15, dtype=torch.bool))
    assert sum(p.numel() for p in new_model(TrainConfig(), get_schema("kaggle15"), crops).parameters()) < 20e6


def test_every_claim_of_the_registry_is_judged() -> None:
    """The findings table is built from ``CHECKS``: an experiment registered with a claim but no check would never
    appear in it."""
    from trainers.tools.findings import CHECKS

    assert {name for name, experiment in EXPERIMENTS.items() if experiment.claim} <= set(CHECKS)
