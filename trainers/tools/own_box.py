"""Give a checkpoint trained before ``CheckpointMeta.own_box`` existed the own box of the crops it was trained on.

    python -m trainers.tools.own_box checkpoints/kaggle15_pip.pt [--check]

Why: a ``kaggle15`` model learnt on crops cut around 68 points it does not predict, so it could not cut a crop
around its own answer: photos got no refine pass and a webcam stream ran the face detector on every frame (~3x
MediaPipe's time a frame here). Training now records where that box lies from the model's own points
(:func:`kpdemo.datasets.kaggle15.own_box`, fitted on the train split); this writes the same record into a checkpoint
made before, its weights untouched. Export it again after (``python -m trainers.tools.export``): an export is used
only while the checkpoint it was made from is unchanged. ``--check`` only says whether the file's record is current.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kpdemo.checkpoints import load_checkpoint, save_checkpoint
from kpdemo.datasets import get_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m trainers.tools.own_box", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--check", action="store_true", help="say whether the record is current; write nothing")
    args = parser.parse_args(argv)
    state, meta = load_checkpoint(args.checkpoint)
    spec = get_dataset(meta.dataset)
    if spec.own_box is None:
        raise SystemExit(f"{args.checkpoint.name}: its dataset {meta.dataset!r} has no own box to fit (its crops are "
                         "cut around the model's own points, or around nothing it can know)")
    record = spec.crop_record()
    current = all(getattr(meta, field) == value for field, value in record.items())
    print(f"{args.checkpoint.name}: own box {'already current' if current else 'fitted on the train split'}")
    if args.check:
        raise SystemExit(0 if current else 1)
    if not current:
        save_checkpoint(args.checkpoint, state, replace(meta, **record))


if __name__ == "__main__":
    main()
