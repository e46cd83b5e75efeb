"""Training throughput: kpdemo's on-device tensor pipeline vs a plain per-sample DataLoader + albumentations.

Both train the same ConvNet (seed 001) on the same real ``kaggle15`` images with the same augmentation (random
horizontal flip with left/right labels swapped, rotation within +-15 degrees), batch 64, Adam:

* ``tensor``: the dataset as one uint8 tensor, batches gathered by index, flip + rotation applied to the whole
  batch with ``affine_grid``/``grid_sample`` (:mod:`kpdemo.training.augment`), channels-last convs;
* ``naive``: a ``torch.utils.data.Dataset`` whose ``__getitem__`` flips one sample with numpy and rotates it with
  ``albumentations.Affine``, a default ``DataLoader`` (``num_workers=0``), contiguous (NCHW) tensors.

Each is timed twice: data only (producing augmented batches) and end to end (data + forward/backward/step).
Writes ``bench/results/train_speed.csv`` and ``train_speed.png``; the CPU model, its threads and the machine's load
average are recorded because the CPU may be shared. Run:
``nice -n 10 python bench/train_speed.py [--images 512] [--device cpu]``.

``--grid NAME`` times a whole registered grid instead, trained two ways on the same subset: ``one_by_one``
(``run_config`` per config, as ``python -m trainers NAME``) and ``grid_at_once`` (``run_grid``, as
``--grid-at-once``: runs sharing data and architecture stacked into one vmapped model). Both are timed end to end,
records, per-epoch validation on ``--eval-images`` and checkpoints included, and reported as training images per
second summed over the grid's runs; and again over the epochs after each run's first (``steady_*``: start-up and
the final test left out, see :func:`after_first_epoch`); writes ``bench/results/grid_speed.csv``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from bench.machine import machine_context  # noqa: E402
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.models import build_model  # noqa: E402
from kpdemo.training.augment import get_augmentation  # noqa: E402
from kpdemo.training.losses import masked_loss  # noqa: E402
from kpdemo.training.tensors import TensorSet, pixels_to_input, points_to_network  # noqa: E402

RESULTS = Path(__file__).parent / "results"
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class NaiveKeypointDataset(Dataset):
    """The textbook pipeline: one sample at a time, numpy flip with label swap, albumentations rotation."""

    def __init__(self, data: LandmarkSet) -> None:
        import albumentations as A  # here, not at the top: --grid runs where albumentations is not installed
        import cv2

        self.data = data
        self.perm = data.schema.flip_permutation
        self.rotate = A.Compose([A.Affine(rotate=(-15, 15), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)],
                                keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, points, mask = self.data.images[i], self.data.points[i].copy(), self.data.mask[i]
        h, w = image.shape
        if np.random.rand() < 0.5:
            image = image[:, ::-1]
            points[:, 0] = w - points[:, 0]
            points, mask = points[self.perm], mask[self.perm]
        out = self.rotate(image=np.ascontiguousarray(image), keypoints=points)
        x = torch.from_numpy(out["image"].astype(np.float32) / 255.0)[None]
        target = torch.from_numpy(points_to_network(np.asarray(out["keypoints"], np.float32), h, w))
        return (x - 0.5) / 0.5, target, torch.from_numpy(mask.copy())


def naive_batches(data: LandmarkSet) -> Iterator[Batch]:
    yield from DataLoader(NaiveKeypointDataset(data), batch_size=64, shuffle=True, num_workers=0)


def tensor_batches(data: LandmarkSet, device: torch.device) -> Callable[[], Iterator[Batch]]:
    tensors = TensorSet.from_landmarks(data, device)
    augment = get_augmentation("flip_rotate")
    perm = torch.from_numpy(data.schema.flip_permutation).to(device)

    def batches() -> Iterator[Batch]:
        order = torch.randperm(len(tensors), device=device)
        for start in range(0, len(tensors), 64):
            idx = order[start:start + 64]
            images, points, mask = augment(tensors.images[idx].float() / 255.0, tensors.points[idx],
                                           tensors.mask[idx], perm)
            yield pixels_to_input(images, 0.5, 0.5).contiguous(memory_format=torch.channels_last), points, mask

    return batches


def time_epoch(batches: Callable[[], Iterator[Batch]], train: bool, channels_last: bool,
               device: torch.device) -> float:
    """Seconds for one pass (after one warm-up batch), with or without the training step."""
    model = build_model("convnet").to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def step(batch: Batch) -> None:
        x, y, m = (t.to(device) for t in batch)
        loss = masked_loss(model(x), y, m)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    if train:
        step(next(iter(batches())))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches():
        if train:
            step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def grid_speed(grid: str, images: int = 512, epochs: int = 2, eval_images: int = 64, device: str = "cpu",
               out: Path | None = None) -> list[dict[str, object]]:
    """One-by-one vs grid-at-once training of every config of ``grid`` on ``images`` training images per run; the
    rows (also written to ``out`` as CSV when given), ``speedup`` relative to one-by-one."""
    from trainers.engine.data import cached_dataset, make_splits
    from trainers.engine.grid import group_configs, run_grid
    from trainers.engine.train import run_config
    from trainers.grids import get_experiment

    configs = [replace(c, train_subset=images, eval_subset=eval_images, epochs=epochs, device=device,
                       amp=device.startswith("cuda"))
               for c in get_experiment(grid).configs]
    cached_dataset(configs[0].dataset)  # read the dataset before either clock starts
    trained = sum(len(make_splits(c).train) * c.epochs for c in configs)
    modes: dict[str, Callable[[Path], object]] = {
        "one_by_one": lambda root: [run_config(c, root, show_progress=False) for c in configs],
        "grid_at_once": lambda root: run_grid(configs, root, show_progress=False),
    }
    rows = []
    for mode, train in modes.items():
        with tempfile.TemporaryDirectory() as root:
            sync(device)
            start = time.perf_counter()
            train(Path(root))
            sync(device)
            seconds = time.perf_counter() - start
            steady_images, steady_seconds = after_first_epoch(Path(root))
        rows.append({"device": device, "grid": grid, "runs": len(configs), "mode": mode,
                     "images_per_s_summed": trained / seconds, "seconds": seconds,
                     "steady_images_per_s_summed": steady_images / steady_seconds if steady_seconds else math.nan,
                     "groups": len(group_configs(configs)), "images": images, "epochs": epochs,
                     "eval_images": eval_images, **timing_context(device)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("seconds") + 1, "speedup",
                 table["images_per_s_summed"] / table["images_per_s_summed"].iloc[0])
    table.insert(table.columns.get_loc("steady_images_per_s_summed") + 1, "steady_speedup",
                 table["steady_images_per_s_summed"] / table["steady_images_per_s_summed"].iloc[0])
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    print(table[["device", "grid", "runs", "mode", "images_per_s_summed", "seconds", "speedup",
                 "steady_speedup"]].to_string(index=False))
    return table.to_dict("records")


def after_first_epoch(runs_root: Path) -> tuple[int, float]:
    """The training images of every run's epochs after its first, and the wall time they took: per group that
    trained together (a run alone, or a grid-at-once group, ``env.grid_group``), from the end of its first epoch to
    the end of its last (``history.csv``'s ``wall_time_s``).

    Why: a grid-at-once group pays once, and one-by-one once per run, what a long run never notices: building the
    models, the data on the device, the first steps' compiles and cuDNN's tuning, the final test and checkpoints. In
    two short epochs that start-up weighs as much as the steps. After the first epoch, what is left is what 500
    epochs repeat: the steps, each epoch's evaluation and, one by one, each epoch's resume state (``last.pt``)."""
    groups: dict[tuple[str, ...], list[tuple[int, pd.DataFrame]]] = {}
    for path in runs_root.glob("*/*/record.json"):
        record = json.loads(path.read_text())
        key = tuple(record["env"].get("grid_group") or [f"{record['experiment']}/{record['name']}"])
        groups.setdefault(key, []).append((record["env"]["train_images"], pd.read_csv(path.parent / "history.csv")))
    images, seconds = 0, 0.0
    for members in groups.values():
        images += sum(size * (len(history) - 1) for size, history in members)
        seconds += (max(history["wall_time_s"].iloc[-1] for _, history in members)
                    - min(history["wall_time_s"].iloc[0] for _, history in members))
    return images, seconds


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timing_context(device: str) -> dict[str, object]:
    """What a training timing on ``device`` depends on, the columns written beside it: the device's name (the GPU's,
    or ``cpu``), torch's threads and version, and the machine's (:func:`bench.machine.machine_context`: the CPU model,
    its threads and load), which a GPU's host shares too."""
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"  # the CPU model is machine_context's
    return {"device_name": name, "threads": torch.get_num_threads(), "torch": torch.__version__, **machine_context()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512, help="training images per timed pass (per run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--grid", help="time this registered grid one by one vs at once (writes grid_speed.csv)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="--grid: epochs per run (from 2, the speed after the first epoch too)")
    parser.add_argument("--eval-images", type=int, default=64, help="--grid: val/test images evaluated per run")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for train_speed.csv and .png, or grid_speed.csv with --grid (bench/results)")
    args = parser.parse_args()
    if args.grid:
        grid_speed(args.grid, args.images, args.epochs, args.eval_images, args.device, args.out / "grid_speed.csv")
        return
    device = torch.device(args.device)
    full = load_dataset("kaggle15").split("train")
    data = full.select(np.arange(min(args.images, len(full))))
    pipelines = {"naive": (lambda: naive_batches(data), False), "tensor": (tensor_batches(data, device), True)}
    rows = []
    for part, train in (("data_only", False), ("end_to_end", True)):
        for name, (batches, channels_last) in pipelines.items():
            seconds = time_epoch(batches, train, channels_last, device)
            rows.append({"pipeline": name, "part": part, "images": len(data), "seconds": seconds,
                         "images_per_s": len(data) / seconds, "epochs_per_s": len(data) / seconds / len(full),
                         "device": str(device), **timing_context(str(device))})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    speed = table.pivot(index="part", columns="pipeline", values="images_per_s")
    table["speedup_vs_naive"] = [speed.loc[r.part, r.pipeline] / speed.loc[r.part, "naive"] for r in table.itertuples()]
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "train_speed.csv", index=False)
    plot(table, args.out / "train_speed.png")
    print(table[["pipeline", "part", "images_per_s", "epochs_per_s", "speedup_vs_naive"]].to_string(index=False))


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (part, group) in zip(axes, table.groupby("part"), strict=True):
        ax.bar(group["pipeline"], group["images_per_s"], color=["#999999", "#2a7ab9"])
        ax.set_title(f"{part.replace('_', ' ')} ({table['device'].iloc[0]})")
        ax.set_ylabel("images / s")
        for x, (v, s) in enumerate(zip(group["images_per_s"], group["speedup_vs_naive"], strict=True)):
            ax.text(x, v, f"{v:.0f}/s  x{s:.1f}", ha="center", va="bottom", fontsize=8)
    fig.suptitle("ConvNet training throughput, flip + rotation augmentation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
