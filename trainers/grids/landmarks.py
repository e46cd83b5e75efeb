"""The landmark models that ship: the PIP family (:mod:`kpdemo.models.pip`) against direct regression, one grid.

Data (declared in :mod:`kpdemo.datasets.derived`): every 68-point face we hold is cut once into 160 px RGB crops
1.5 x the landmark box (``*_wide160``); the model sees the central 128 px (1.2 x the box, as the app cuts a
detector box), so rotations and zoom-outs show real surroundings instead of black corners (``context=1.25``).
``faces68_wide160`` is the 300-W train split plus the YouTube-Faces train and val identities (its test identities
stay unseen: ``kaggle15`` tests on them); the validation split, which picks every checkpoint, is 300-W's own 10%
hold-out. The 300-W common set is the test.
``faces68_ytfval_wide160`` leaves YouTube-Faces' val people out too, so that a fine-tune on it can be scored on
them unseen (``bench/accuracy.py --split val --datasets ytf68``): what the shipped model's last fine-tune used.

Runs of ``landmarks`` (tags):

* ``pip_r18``: PIP heads (8x8 score maps, offsets, 10 neighbours) on a ResNet18 trunk to stride 16, trained on all
  68-point faces (the self-pre-training: no ImageNet weights may be had) with the ``wild`` recipe (+-30 deg,
  zoom/shift, occlusion, blur, grey, brightness/contrast, label-swapping flip) and an EMA of the weights;
* ``pip_r18_ft300w``: ``pip_r18`` fine-tuned on 300-W alone at a lower rate (its labels are cleaner than YTF's);
* ``pip_mnv3``: the same head on a MobileNetV3-Large trunk (faster on a CPU, fewer weights);
* ``pip_r18_live``: the live-frame network: ``pip_r18`` at half width (~3x faster a face), seeded with the shipped
  68-point model's most used channels (:mod:`trainers.engine.slim`) and fine-tuned on ``faces68_ytfval_wide160``
  with the shipped model's last recipe (``wild_cover``);
* ``direct_r18``: the same trunk and data with a pooled fc head and wing loss (the regression baseline);
* ``imm73_pip``, ``kaggle15_pip``: ``pip_r18`` fine-tuned to the IMM 73-point and Kaggle 15-point schemas;
* ``imm73_live``: a live-frame network for the IMM model, as ``pip_r18_live`` is the 68-point model's: half
  width, started from that companion (``ibug68_pip_live.pt``, as ``imm73_pip`` started from the full 68-point model)
  and trained with ``imm73_pip``'s recipe; not shipped (``trainers/README.md``);
* ``imm73_live_distill``: the same network distilled from ``imm73_pip``: slimmed from it, then trained on its
  answers on the 68-point sets' wild train faces beside IMM's own faces (``imm73_distill_wide160``,
  :mod:`trainers.engine.pseudo_labels`).
"""

from __future__ import annotations

from kpdemo.datasets.derived import WIDE_CONTEXT
from trainers.engine.config import TrainConfig
from trainers.grids.registry import Experiment, grid, register

PIP = TrainConfig(
    tag="pip_r18", dataset="faces68_wide160", model="pip", model_kwargs={"backbone": "resnet18", "stages": 3,
                                                                        "neighbors": 10},
    optimizer="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", loss="l1", augmentation="wild",
    context=WIDE_CONTEXT, ema=0.998, batch_size=32, epochs=50,
)

#: A live-frame network's trunk: ``PIP``'s at half width (:mod:`kpdemo.detection.checkpoint`'s companions).
LIVE_KWARGS = PIP.model_kwargs | {"width": 0.5}


def _with(base: TrainConfig, **changes: object) -> TrainConfig:
    return TrainConfig(**(base.to_dict() | changes))


register(
    Experiment(
        "landmarks", "PIP heatmap + offset heads vs direct regression, ResNet18 / MobileNetV3 trunks, 128 px, "
        "trained on every 68-point face with the 'wild' recipe and an EMA; fine-tuned to 300-W, IMM, Kaggle 15",
        "A sub-pixel head (PIPNet) beats direct regression on the same trunk and data, and reaches the "
        "published lightweight anchor (PFLD 0.25X: 3.38% inter-ocular NME on the 300-W common set).",
        grid("landmarks", [
            PIP,
            _with(PIP, tag="pip_r18_ft300w", dataset="w300_wide160", weights="run:pip_r18", lr=2e-4, epochs=15),
            _with(PIP, tag="pip_mnv3", model_kwargs={"backbone": "mobilenet_v3", "stages": 3, "neighbors": 10}),
            _with(PIP, tag="pip_r18_live", dataset="faces68_ytfval_wide160", weights="checkpoints/ibug68_pip.pt",
                  augmentation="wild_cover", epochs=40, model_kwargs=LIVE_KWARGS),
            _with(PIP, tag="direct_r18", model="resnet18", model_kwargs={"stages": 3}, loss="wing"),
            _with(PIP, tag="imm73_pip", dataset="imm_wide160", weights="run:pip_r18", epochs=200, batch_size=16),
            _with(PIP, tag="imm73_live", dataset="imm_wide160", weights="checkpoints/ibug68_pip_live.pt", epochs=200,
                  batch_size=16, model_kwargs=LIVE_KWARGS),
            _with(PIP, tag="imm73_live_distill", dataset="imm73_distill_wide160", weights="checkpoints/imm73_pip.pt",
                  epochs=30, model_kwargs=LIVE_KWARGS),
            _with(PIP, tag="kaggle15_pip", dataset="kaggle15", context=1.0, weights="run:pip_r18", lr=5e-4,
                  epochs=15, model_kwargs={"backbone": "resnet18", "stages": 3, "neighbors": 4}),
        ]),
        dataset="faces68_wide160",
        cpu_budget=(("epochs", 8),),
    ),
)

