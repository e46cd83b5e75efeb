"""Fit how each face detector's box relates to the 68-point landmark box that training crops are cut around.

Runs every detector on the 300-W train images (real faces with 68 annotated points), matches each image's best
overlapping detection to the landmark box, and takes medians of
``scale = landmark box longer side / detector side`` and ``dx, dy = (landmark centre - box centre) / side``
(side = sqrt(w*h)). The medians are the constants in :mod:`kpdemo.detection.face_finders`.

Writes ``face_box_calibration.json`` (constants, residuals, detection rate) and ``face_box_calibration.csv`` (one
row per image and detector) into ``--out`` (default ``bench/results``).

    nice -n 10 python bench/calibrate_face_box.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from kpdemo.datasets import load_dataset  # noqa: E402
from kpdemo.detection.face_finders import HaarFaceDetector, MediaPipeFaceDetector  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = np.maximum(a[:2], b[:2])
    x1, y1 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area) if area > 0 else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for face_box_calibration.csv and .json (default bench/results)")
    out = parser.parse_args(argv).out
    data = load_dataset("ibug300w").split("train")
    detectors = [MediaPipeFaceDetector(0), MediaPipeFaceDetector(1), HaarFaceDetector()]
    rows = []
    for i in tqdm(range(len(data)), desc="calibrating on 300-W train", unit="img"):
        image, pts = data.image(i), data.points[i]
        lo, hi = pts.min(0), pts.max(0)
        lm_box = np.concatenate([lo, hi])
        for det in detectors:
            found = det.detect(image)
            best = max(found, key=lambda d: iou(d.box, lm_box), default=None)
            row = {"index": i, "detector": det.name, "found": len(found)}
            if best is not None and iou(best.box, lm_box) > 0.3:
                x0, y0, x1, y1 = best.box.astype(float)
                side = np.sqrt((x1 - x0) * (y1 - y0))
                row |= {
                    "matched": True, "iou": iou(best.box, lm_box), "scale": float((hi - lo).max() / side),
                    "dx": float(((lo[0] + hi[0]) / 2 - (x0 + x1) / 2) / side),
                    "dy": float(((lo[1] + hi[1]) / 2 - (y0 + y1) / 2) / side),
                }
            else:
                row["matched"] = False
            rows.append(row)
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "face_box_calibration.csv", index=False)
    summary = {"data": f"ibug300w train ({len(data)} images)", "detectors": {}}
    for name, group in table.groupby("detector", sort=False):
        ok = group[group["matched"]]
        fit = {k: float(ok[k].median()) for k in ("scale", "dx", "dy")}
        # residual of the estimated landmark-box centre and size, relative to the true box's longer side
        centre_err = np.hypot(ok["dx"] - fit["dx"], ok["dy"] - fit["dy"]) / ok["scale"]
        summary["detectors"][name] = fit | {
            "images_matched": int(len(ok)), "match_rate": float(len(ok) / len(group)),
            "centre_error_median": float(centre_err.median()), "centre_error_p90": float(centre_err.quantile(0.9)),
            "scale_error_median": float((ok["scale"] / fit["scale"] - 1).abs().median()),
        }
    (out / "face_box_calibration.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
