"""Knowing when it is wrong: how well a face's ``uncertainty`` flags the answers that are off.

A checkpoint's photo path reads each face on several crops (turned by -10/0/+10 degrees, each also mirrored) and
averages the answers; ``Face.uncertainty`` is the mean of how far those answers lie from their mean and how far the
network's and its live-frame companion's answers on the upright crop lie from theirs, as a share of the face's size
(:meth:`kpdemo.detection.CheckpointPredictor.refine`). A pipeline that feeds the points on (alignment for face
recognition, measurements, a filter) wants to know which faces to drop or send to a person, so this bench scores the
full path of one model on 68-point faces, clean and made hard in the ways the sweeps make them (blurred, cut by the
frame, in dim light, partly covered), and asks of each face: was it wrong (NME > 10%), and did its uncertainty pass
:data:`kpdemo.detection.UNCERTAIN`? Per condition: the ROC AUC of the uncertainty for the wrong answers, the share
of wrong answers flagged, the share of good ones (NME < 5%) flagged. Faces not found are left out (nothing to flag).
One more row asks the same of pictures with no face: the 100 non-face patches of scikit-image's LFW subset in the
demo data (25x25 gray), where every face found is wrong. The threshold was chosen on the validation split (``--split
val``); the test split reports. Writes ``bench/results/uncertainty.csv`` (the table),
``uncertainty_faces.csv`` (every face) and ``uncertainty.png``.

    python bench/uncertainty.py [--split test] [--model checkpoint:ibug68_pip] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.accuracy import PRESENTATION, RESULTS, first, picked_face, score  # noqa: E402
from bench.blur import blurred  # noqa: E402
from bench.closeup import framed  # noqa: E402
from bench.low_light import dimmed  # noqa: E402
from bench.occlusion import covered  # noqa: E402
from kpdemo.config import data_root  # noqa: E402
from kpdemo.datasets import LandmarkSet, load_dataset  # noqa: E402
from kpdemo.detection import UNCERTAIN, LandmarkPredictor, get_predictor  # noqa: E402

#: condition -> (dataset, how its faces are made harder); the harder copies are the sweeps' own.
CONDITIONS: dict[str, tuple[str, Callable[[LandmarkSet], LandmarkSet]]] = {
    "300-W": ("ibug300w", lambda faces: faces),
    "YouTube-Faces": ("ytf68", lambda faces: faces),
    "300-W, blur sigma 8 px": ("ibug300w", lambda faces: blurred(faces, 8)),
    "300-W, window 0.7": ("ibug300w", lambda faces: framed(faces, 0.7)),
    "300-W, light 1/64": ("ibug300w", lambda faces: dimmed(faces, 1 / 64)),
    "300-W, 30% covered": ("ibug300w", lambda faces: covered(faces, 0.3)),
}
WRONG, GOOD = 0.10, 0.05
#: scikit-image's ``lfw_subset``, under ``$KPDEMO_DATA``: 100 face patches, then 100 without a face (25x25 gray).
LFW_SUBSET = Path("demo") / "lfw_subset_25x25.npy"
NO_FACE = "no face: 100 LFW non-face patches"


def faces_scored(predictor: LandmarkPredictor, condition: str, split: str, limit: int | None) -> pd.DataFrame:
    """One row per face of the condition: its NME (inf when not found) and its uncertainty (NaN when not found)."""
    name, harder = CONDITIONS[condition]
    faces = first(load_dataset(name).split(split), limit)
    uncertainties: list[float] = []

    def locate(model: LandmarkPredictor, image: np.ndarray, truth: np.ndarray) -> np.ndarray | None:
        face = picked_face(model, image, truth)
        uncertainties.append(np.nan if face is None or face.uncertainty is None else face.uncertainty)
        return None if face is None else face.points

    result = score(predictor, harder(faces), None, PRESENTATION[name], locate)
    return pd.DataFrame({"condition": condition, "face": np.arange(len(result.nme)), "nme": result.nme,
                         "uncertainty": uncertainties})


def no_faces_scored(predictor: LandmarkPredictor) -> pd.DataFrame:
    """One row per non-face patch: a face found there is wrong (NME 100%), with the uncertainty of the surest one;
    a patch where none is found has NME inf (not found), as in :func:`faces_scored`."""
    patches = np.load(data_root() / LFW_SUBSET)[100:]
    nme, uncertainties = [], []
    for patch in patches:
        found = predictor.predict(np.repeat(np.round(255 * patch).astype(np.uint8)[..., None], 3, axis=2))
        nme.append(1.0 if found else np.inf)
        uncertainties.append(found[0].uncertainty if found and found[0].uncertainty is not None else np.nan)
    return pd.DataFrame({"condition": NO_FACE, "face": np.arange(len(patches)), "nme": nme,
                         "uncertainty": uncertainties})


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The chance that a positive scores above a negative (ties half): NaN without both kinds."""
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    above = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
    return float(above / (len(pos) * len(neg)))


def summary_row(condition: str, part: pd.DataFrame) -> dict[str, object]:
    found = part[np.isfinite(part["nme"]) & np.isfinite(part["uncertainty"])]
    nme, uncertainty = found["nme"].to_numpy(), found["uncertainty"].to_numpy()
    wrong, good, flagged = nme > WRONG, nme < GOOD, uncertainty > UNCERTAIN
    return {"condition": condition, "faces": len(part), "found": len(found), "wrong": int(wrong.sum()),
            "median_uncertainty": float(np.median(uncertainty)) if len(found) else float("nan"),
            "auc_wrong": roc_auc(uncertainty, wrong),
            "wrong_flagged": float(flagged[wrong].mean()) if wrong.any() else float("nan"),
            "good_flagged": float(flagged[good].mean()) if good.any() else float("nan"),
            "flagged": float(flagged.mean()) if len(found) else float("nan"), "threshold": UNCERTAIN}


def summarise(faces: pd.DataFrame) -> pd.DataFrame:
    """Per condition, then over the faces of every condition with a face ("all"), then the no-face row when
    measured: found, wrong, AUC, and the shares flagged at :data:`UNCERTAIN`."""
    with_faces = faces[faces["condition"] != NO_FACE]
    rows = [summary_row(condition, part) for condition, part in with_faces.groupby("condition", sort=False)]
    rows.append(summary_row("all", with_faces))
    if (faces["condition"] == NO_FACE).any():
        rows.append(summary_row(NO_FACE, faces[faces["condition"] == NO_FACE]))
    return pd.DataFrame(rows)


def plot(faces: pd.DataFrame, path: Path) -> None:
    """Each found face's NME against its uncertainty (log-log), one colour a condition, the threshold and the
    wrong-answer line drawn (the no-face row has no NME to draw)."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    found = faces[np.isfinite(faces["nme"]) & np.isfinite(faces["uncertainty"]) & (faces["condition"] != NO_FACE)]
    for condition, part in found.groupby("condition", sort=False):
        ax.scatter(100 * part["uncertainty"], 100 * part["nme"], s=6, alpha=0.5, label=condition)
    ax.axvline(100 * UNCERTAIN, color="k", lw=1, ls="--", label=f"flagged above {100 * UNCERTAIN:g}%")
    ax.axhline(100 * WRONG, color="r", lw=1, ls=":", label=f"wrong: NME > {100 * WRONG:g}%")
    ax.set(xscale="log", yscale="log", xlabel="uncertainty: spread of the face's answers (% of face size)",
           ylabel="NME (%)", title=f"Knowing when it is wrong ({faces.attrs.get('model', '')})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", help="test reports; val is for choosing the threshold")
    parser.add_argument("--model", default="checkpoint:ibug68_pip", help="a 68-point checkpoint's predictor key")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces of each condition")
    parser.add_argument("--out", type=Path, default=RESULTS / "uncertainty.csv")
    args = parser.parse_args(argv)
    predictor = get_predictor(args.model)
    faces = pd.concat([*(faces_scored(predictor, condition, args.split, args.limit) for condition in CONDITIONS),
                       no_faces_scored(predictor)], ignore_index=True)
    faces.attrs["model"] = predictor.name
    table = summarise(faces)
    table.insert(1, "model", predictor.name)
    table.insert(2, "split", np.where(table["condition"] == NO_FACE, "demo", args.split))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    faces.to_csv(args.out.with_name(args.out.stem + "_faces.csv"), index=False, float_format="%.6g")
    plot(faces, args.out.with_suffix(".png"))
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
