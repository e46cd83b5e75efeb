"""Seed 001 (Kaggle Facial Keypoints, see ../shared/SEEDS.md section A) as grids of the experiment registry.

Each experiment reproduces one experiment of seed 001 on ``kaggle15`` (see ../shared/SEEDS.md section A); its
``claim`` is what the seed reported and :mod:`trainers.tools.findings` checks against the recorded runs.
"""

from __future__ import annotations

from dataclasses import replace

from trainers.engine.config import TrainConfig
from trainers.grids.registry import Experiment, grid, register

MODELS = ("simplenet", "convnet")
LRS = {"sgd": (1e-1, 1e-2, 1e-3), "momentum": (1e-2, 1e-3, 1e-4), "adam": (1e-3, 1e-4, 1e-5)}
#: The grids whose claims compare the runs of one grid with each other (``best`` ships models instead): the GPU
#: campaign trains these at the seed's budget, and the findings judge each budget of them apart.
SEED_GRIDS = ("init", "optimizers", "augmentation", "dropout", "cv")

#: The best configuration found (used by ``cv`` and for the shipped checkpoint).
BEST = TrainConfig(model="convnet", init="default", optimizer="adam", lr=1e-3, schedule="cosine",
                   augmentation="flip_rotate_jitter", epochs=16, batch_size=32)

#: BEST with a 256-256 dense head: the seed's 15488 -> 1000 layer alone makes a 32 MB checkpoint, over the
#: 10 MiB that Hugging Face Spaces accept as a plain file; this one ships at about 8 MB.
COMPACT = replace(BEST, tag="compact", model_kwargs={"hidden": [256, 256]}, epochs=20)


#: The CPU-budget data size: 1,500 training images, 300 val and 300 test images.
SUBSET = (("train_subset", 1500), ("eval_subset", 300))

register(
    Experiment(
        "init", "Weight init: zeros vs Xavier, SimpleNet and ConvNet, SGD + momentum lr 0.01",
        "Zero init stalls (loss plateau ~0.0044); Xavier keeps improving.",
        grid("init", [TrainConfig(model=m, init=i, optimizer="momentum", lr=1e-2)
                       for m in MODELS for i in ("zeros", "xavier")]),
        cpu_budget=(("epochs", 6), *SUBSET),
    ),
    Experiment(
        "optimizers", "SGD, SGD + momentum and Adam at three learning rates each, both models (Xavier init)",
        "Adam converges fastest; lr matters for each optimizer.",
        grid("optimizers", [TrainConfig(model=m, init="xavier", optimizer=o, lr=lr)
                             for m in MODELS for o, lrs in LRS.items() for lr in lrs]),
        cpu_budget=(("epochs", 5), *SUBSET),
    ),
    Experiment(
        "augmentation", "ConvNet + Adam: no augmentation vs flip (labels swapped) + rotation",
        "Augmentation helps (Adam lr 1e-5 + augmentation reached mean loss 0.000827; both arms here at Adam lr 1e-3, "
        "the best Adam rate of optimizers).",
        grid("augmentation", [TrainConfig(model="convnet", init="xavier", optimizer="adam", lr=1e-3,
                                           augmentation=a)
                               for a in ("none", "flip_rotate")]),
        cpu_budget=(("epochs", 10), *SUBSET),
    ),
    Experiment(
        "dropout", "ConvNet with and without dropout 0.5, Adam vs SGD + momentum, lr 1e-4, flip + rotation",
        "With dropout, momentum's train/val gap is smaller than Adam's; Adam converges first.",
        grid("dropout", [TrainConfig(model="convnet", init="xavier", optimizer=o, lr=1e-4, dropout=d,
                                      augmentation="flip_rotate")
                          for o in ("adam", "momentum") for d in (0.0, 0.5)]),
        cpu_budget=(("epochs", 6), *SUBSET),
    ),
    Experiment(
        "cv", "5-fold cross-validation (grouped by identity) of the best ConvNet configuration",
        "Cross-validation shows the model is robust across folds (small spread).",
        grid("cv", [replace(BEST, folds=5, fold=k) for k in range(5)]),
        cpu_budget=(("epochs", 4), *SUBSET),
    ),
    Experiment(
        "best", "The shipped ConvNets (seed head; compact 256-256 head): Adam, cosine, flip + rotation + jitter",
        "Longer training with augmentation lowers the error (seed: 2000 epochs, >10 h on a laptop).",
        grid("best", [BEST, COMPACT]),
        cpu_budget=(("device", "cpu"),),
    ),
)
