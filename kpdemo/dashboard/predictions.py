"""What a recorded run's best checkpoint does on faces it never saw: a gallery of held-out test faces (truth green,
prediction red) and its NME per face region, for the Experiments tab.

Why here and computed on demand: curves say how the loss fell, not what the errors look like; a handful of faces,
best to worst, and the per-region error (jaw, brows, eyes...) show it at a glance. The predictions are exactly the
held-out evaluation's (:func:`trainers.tools.evaluate.held_out_predictions`, which ``bench/checkpoint_eval.py`` also
scores), so the numbers here match the benchmark's. One evaluation takes seconds on a CPU, so results are cached per
checkpoint file version. Unlike the rest of :mod:`kpdemo.dashboard`, this module needs the trainers (it runs models).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from kpdemo.checkpoints import CheckpointError
from kpdemo.config import DataNotFoundError, data_root
from kpdemo.draw import POINT_COLOUR, TRUTH_COLOUR, draw_points
from kpdemo.metrics import nme_per_image, point_errors
from kpdemo.runs import read_record
from trainers.grids import own_runner
from trainers.tools.evaluate import HeldOut, held_out_predictions

GALLERY_SIZE = 8
DISPLAY_SIDE = 256  # crops are 96-128 px: enlarged so that 68 dots stay apart
REGION_COLUMNS = ["region", "points", "NME (%)"]


class PredictionsUnavailable(ValueError):
    """The run has no usable checkpoint or its test data is not here; the message says which, for the user."""


@dataclass(frozen=True)
class RunPredictions:
    """``gallery``: (image, caption) pairs, best face first; ``regions``: NME per region (``REGION_COLUMNS``);
    ``summary``: one Markdown line naming the checkpoint, the data and the overall error."""

    gallery: list[tuple[np.ndarray, str]]
    regions: pd.DataFrame
    summary: str


def run_checkpoint(run_dir: Path) -> Path:
    """The best checkpoint a run's record points to, or :class:`PredictionsUnavailable` saying why there is none."""
    record = read_record(run_dir)
    name = record.get("name", Path(run_dir).name)
    if own_runner(record.get("experiment", "")) is not None:
        raise PredictionsUnavailable(f"Run {name} trains an image-to-image model, not landmarks: its examples are "
                                     "the figures in its run folder.")
    if record.get("status") == "running":
        raise PredictionsUnavailable(f"Run {name} is still training: its best checkpoint is written when it ends.")
    if not record.get("checkpoint"):
        raise PredictionsUnavailable(
            f"Run {name} kept no checkpoint (status: {record.get('status')}): there is no model to run on held-out "
            "faces. Shipped records carry weights only where a shipped model came from that run; train it here "
            f"(`python -m trainers --from-record <its record.json>`) to see its faces.")
    path = (Path(run_dir) / record["checkpoint"]).resolve()
    if not path.exists():
        raise PredictionsUnavailable(f"Run {name}'s checkpoint {path.name} is not in this checkout (a retired "
                                     "model: its record stays, its file is gone).")
    return path


def run_predictions(run_dir: str | Path, count: int = GALLERY_SIZE) -> RunPredictions:
    """Gallery, region table and summary of the run in ``run_dir`` on its dataset's test split (cached)."""
    path = run_checkpoint(Path(run_dir))
    return _predictions(str(path), path.stat().st_mtime_ns, str(data_root()), count)


@lru_cache(maxsize=8)
def _predictions(path: str, version: int, root: str, count: int) -> RunPredictions:
    """Keyed by the checkpoint's modification time and the data root, so a retrained run or other data is re-run."""
    try:
        held = held_out_predictions(Path(path))
    except DataNotFoundError as exc:
        raise PredictionsUnavailable(f"The held-out faces this run was trained for are not on this machine: {exc}. "
                                     "The datasets are research-only and never shipped.") from None
    except (CheckpointError, KeyError) as exc:
        raise PredictionsUnavailable(f"{Path(path).name} cannot be evaluated as a landmark model: "
                                     f"{exc.args[0] if exc.args else exc}") from None
    metrics = held.metrics()
    h, w = held.tensors.hw
    overall = f"NME {metrics['nme']:.2%}, " if "nme" in metrics else ""
    summary = (f"`{Path(path).name}` on {held.data.name} {held.split} ({len(held.part)} faces, {w}x{h} crops): "
               f"{overall}RMSE {metrics['rmse_px']:.2f} px. Faces below run from best to worst; "
               "**green: truth, red: prediction**.")
    return RunPredictions(gallery_faces(held, count), region_table(held, metrics), summary)


def face_errors(held: HeldOut) -> tuple[np.ndarray, str]:
    """Per-face error and its name: NME where the schema has eyes to normalise by, else mean point error in px."""
    mask = held.part.mask
    if held.data.schema.has_eyes and mask.all():
        return nme_per_image(held.pred_px, held.true_px, held.data.schema), "NME"
    return point_errors(held.pred_px, held.true_px, mask), "error"


def gallery_faces(held: HeldOut, count: int = GALLERY_SIZE) -> list[tuple[np.ndarray, str]]:
    """``count`` test faces at evenly spaced ranks of their error (best, ..., median, ..., worst), each enlarged to
    ``DISPLAY_SIDE`` with its labelled true points in green and predicted points in red."""
    errors, kind = face_errors(held)
    order = np.argsort(errors, kind="stable")
    ranks = np.unique(np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int))
    images = held.tensors.images.cpu().numpy()  # (N, C, H, W) uint8
    mask = held.part.mask
    out = []
    for rank in ranks:
        i = int(order[rank])
        crop = images[i].transpose(1, 2, 0)
        crop = np.repeat(crop, 3, axis=2) if crop.shape[2] == 1 else crop
        scale = DISPLAY_SIDE / max(crop.shape[:2])
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        marked = draw_points(big, held.true_px[i][mask[i]] * scale, TRUTH_COLOUR, radius=2.5)
        marked = draw_points(marked, held.pred_px[i] * scale, POINT_COLOUR, radius=1.8)
        value = f"{errors[i]:.1%}" if kind == "NME" else f"{errors[i]:.2f} px"
        place = " (best)" if rank == 0 else " (worst)" if rank == len(order) - 1 else ""
        out.append((marked, f"face {i}: {kind} {value}{place}"))
    return out


def region_table(held: HeldOut, metrics: dict[str, float]) -> pd.DataFrame:
    """NME per schema region from the evaluation's own ``nme_<region>`` metrics, then all points together."""
    regions = held.data.schema.regions
    rows = [(name, len(regions[name]), round(100 * metrics[f"nme_{name}"], 2))
            for name in regions if f"nme_{name}" in metrics]
    if "nme" in metrics:
        rows.append(("all points", held.data.schema.num_points, round(100 * metrics["nme"], 2)))
    return pd.DataFrame(rows, columns=REGION_COLUMNS)
