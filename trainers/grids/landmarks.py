"""The landmark models that ship: the PIP family (:mod:`kpdemo.models.pip`) against direct regression, one grid.

Data: every 68-point face we hold is cut once into 160 px RGB crops 1.5 x the landmark box (``*_wide160``); the
model sees the central 128 px (1.2 x the box, as the app cuts a detector box), so rotations and zoom-outs show
real surroundings instead of black corners (``context=1.25``). ``faces68_wide160`` is the 300-W train split plus
the YouTube-Faces train and val identities (its test identities stay unseen: ``kaggle15`` tests on them); the
validation split, which picks every checkpoint, is 300-W's own 10% hold-out. The 300-W common set is the test.
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

from kpdemo.datasets.kaggle15 import CROP_SCALE
from kpdemo.datasets.pack import SCALE as WIDE_SCALE
from kpdemo.datasets.pack import SIZE as STORED
from kpdemo.training.crops import register_crops, register_union
from trainers.engine.config import TrainConfig
from trainers.engine.pseudo_labels import register_distilled
from trainers.grids.registry import Experiment, grid, register

#: How much wider the stored crops (160 px, 1.5 x the landmark box, as the training pack holds them) are than the
#: model's crop (1.2 x the box, as the app cuts a detector box): 1.25, so the model sees 128 px.
CONTEXT = WIDE_SCALE / CROP_SCALE

register_crops("w300_wide160", "300-W HELEN+LFPW, 160x160 RGB (1.5 x landmark box; model sees 128 px)", "ibug300w",
               "face", (STORED, STORED), 3, scale=WIDE_SCALE)
register_crops("ytf_wide160", "YouTube-Faces 68-point frames, 160x160 RGB (1.5 x landmark box)", "ytf68", "face",
               (STORED, STORED), 3, scale=WIDE_SCALE)
register_crops("imm_wide160", "IMM Frontal 73 points, 160x160 RGB (1.5 x landmark box)", "imm_frontal", "face",
               (STORED, STORED), 3, scale=WIDE_SCALE)
register_union("faces68_wide160", "All 68-point faces: 300-W train/val/test + YouTube-Faces train and val (as train)",
               [("w300_wide160", {"train": "train", "val": "val", "test": "test"}),
                ("ytf_wide160", {"train": "train", "val": "train"})])
register_union("faces68_ytfval_wide160", "All 68-point faces but YouTube-Faces' val people: 300-W train/val/test + "
               "YouTube-Faces train (validate on ytf68's val split, people this set never shows)",
               [("w300_wide160", {"train": "train", "val": "val", "test": "test"}),
                ("ytf_wide160", {"train": "train"})])
#: The wild faces a teacher labels for a distilled set: the 68-point sets' train faces (300-W train, YouTube-Faces
#: train people; no validation or test face).
WILD_TRAIN_FACES = [("w300_wide160", {"train": "train"}), ("ytf_wide160", {"train": "train"})]
#: The IMM model's 73 points on those faces, beside IMM's own faces (train ones 10 times): what a slim IMM network
#: distils the full one from.
register_distilled("imm73_distill_wide160", "IMM Frontal 73 points (train x10) + 300-W and YouTube-Faces train faces "
                   "labelled by imm73_pip.pt, 160x160 RGB", "imm_wide160", WILD_TRAIN_FACES,
                   "checkpoints/imm73_pip.pt", CONTEXT, real_repeats=10)
#: The 68-point model's answers on those faces beside their real points: what the 68-point live-frame companion was
#: tried on, and not shipped (``--only pip_r18_live --set dataset=ibug68_distill_wide160``, trainers/README.md).
register_distilled("ibug68_distill_wide160", "All 68-point faces but YouTube-Faces' val people + their train faces "
                   "labelled by ibug68_pip.pt, 160x160 RGB", "faces68_ytfval_wide160", WILD_TRAIN_FACES,
                   "checkpoints/ibug68_pip.pt", CONTEXT, real_repeats=1)

PIP = TrainConfig(
    tag="pip_r18", dataset="faces68_wide160", model="pip", model_kwargs={"backbone": "resnet18", "stages": 3,
                                                                        "neighbors": 10},
    optimizer="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", loss="l1", augmentation="wild",
    context=CONTEXT, ema=0.998, batch_size=32, epochs=50,
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

