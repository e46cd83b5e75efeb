"""Held-out error of every landmark checkpoint shipped in ``checkpoints/``, on the split it never saw.

Each checkpoint is scored by :func:`trainers.tools.evaluate.evaluate_checkpoint` on its own dataset's ``test``
split, from the ground-truth crops the trainer uses (so this isolates the landmark model; ``bench/accuracy.py``
measures the full detect-then-landmark path against peers). Columns: RMSE in crop pixels (px @96 for ``kaggle15``),
NME by the outer-eye-corner distance, per-region NME, file size. Writes ``bench/results/checkpoint_eval.csv``.

    python bench/checkpoint_eval.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kpdemo.checkpoints import load_checkpoint  # noqa: E402
from kpdemo.detection import available_predictors  # noqa: E402
from kpdemo.detection.registry import shipped_checkpoint_path  # noqa: E402
from trainers.tools.evaluate import evaluate_checkpoint  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def landmark_checkpoints() -> list[Path]:
    """The landmark checkpoints in ``checkpoints/`` as the app's predictor registry finds them (so not e.g. the
    frontalizer, and not user runs)."""
    return [path for e in available_predictors(refresh=True) if (path := shipped_checkpoint_path(e.key)) is not None]


def evaluate_all(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in tqdm(paths, desc="checkpoints", unit="ckpt"):
        meta = load_checkpoint(path)[1]
        size = "x".join(map(str, meta.input_size))
        rows.append({"checkpoint": f"checkpoints/{path.name}", "model": meta.model, "schema": meta.schema,
                     "file_mib": round(path.stat().st_size / 2**20, 2), "input_size": size,
                     **evaluate_checkpoint(path)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "checkpoint_eval.csv")
    args = parser.parse_args(argv)
    table = evaluate_all(landmark_checkpoints())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
