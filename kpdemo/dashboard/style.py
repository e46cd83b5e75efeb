"""Colours, dash styles and axis labels that stay the same across every figure of the dashboard.

Why keyed by value: "adam" must be the same colour in the optimizers figure, the dropout figure and the small
multiples, whatever else is plotted beside it. Common values get fixed colours; any other value gets a colour from
a hash of its text (stable across processes, unlike Python's ``hash``), moved to the next free colour only when it
would clash with another value in the same figure.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from plotly.colors import qualitative

# Hashed values land in D3's ten well-separated colours; the extension is only for figures with more values.
PALETTE: tuple[str, ...] = tuple(qualitative.D3)
EXTRA: tuple[str, ...] = tuple(qualitative.Dark24)
FIXED: dict[str, str] = {
    # optimizers, inits, augmentation on/off, the seeds' two Kaggle models, losses, splits
    "sgd": qualitative.D3[0], "momentum": qualitative.D3[1], "adam": qualitative.D3[2], "adamw": qualitative.D3[4],
    "zeros": qualitative.D3[3], "xavier": qualitative.D3[0], "he": qualitative.D3[2],
    "none": qualitative.D3[7], "flip": qualitative.D3[1],
    "simplenet": qualitative.D3[9], "convnet": qualitative.D3[5],
    "mse": qualitative.D3[0], "l1": qualitative.D3[1],
    "train": qualitative.D3[0], "val": qualitative.D3[1],
}
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SPLIT_DASH = {"val": "solid", "train": "dash"}

# Units by column-name suffix; the loss is in whatever the run's loss function measures.
UNITS = {"_px": "px", "_s": "s", "nme": "fraction of inter-ocular distance"}
NAMES = {"loss": "loss", "rmse_px": "RMSE", "nme": "NME", "mean_px": "mean point error",
         "wall_time_s": "wall time", "epoch_time_s": "epoch time", "epoch": "epoch", "lr": "learning rate"}


def colour_map(values: Iterable[str]) -> dict[str, str]:
    """Colour for each value: fixed ones first, then hashed ones probing past colours already taken here."""
    values = list(dict.fromkeys(values))
    taken: dict[str, str] = {v: FIXED[v.lower()] for v in values if v.lower() in FIXED}
    used = set(taken.values())
    for v in sorted(v for v in values if v not in taken):
        start = zlib.crc32(v.encode()) % len(PALETTE)
        ring = [PALETTE[(start + step) % len(PALETTE)] for step in range(len(PALETTE))] + list(EXTRA)
        colour = next((c for c in ring if c not in used), ring[0])
        taken[v] = colour
        used.add(colour)
    return {v: taken[v] for v in values}


def dash_map(values: Iterable[str]) -> dict[str, str]:
    """Dash style per value: train/val keep theirs; others in sorted order (so the same set maps the same way)."""
    values = list(dict.fromkeys(values))
    if set(values) <= set(SPLIT_DASH):
        return {v: SPLIT_DASH[v] for v in values}
    return {v: DASHES[i % len(DASHES)] for i, v in enumerate(sorted(values))}


def rgba(colour: str, alpha: float) -> str:
    """A palette colour ('#rrggbb' or 'rgb(r,g,b)') with transparency, for min-max bands."""
    if colour.startswith("#"):
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    else:
        r, g, b = (int(float(x)) for x in colour[colour.index("(") + 1:colour.index(")")].split(","))
    return f"rgba({r},{g},{b},{alpha})"


def axis_label(column: str, loss_name: str | None = None) -> str:
    """``rmse_px`` -> ``RMSE (px)``, ``wall_time_s`` -> ``wall time (s)``, ``loss`` -> ``loss (mse)``."""
    name = NAMES.get(column, column.replace("_", " "))
    if column == "loss":
        return f"loss ({loss_name})" if loss_name else "loss"
    unit = next((u for suffix, u in UNITS.items() if column.endswith(suffix)), None)
    return f"{name} ({unit})" if unit else name
