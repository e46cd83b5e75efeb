"""``python -m kpdemo.data [--markdown]``: what the dataset registry finds under ``$KPDEMO_DATA``.

Loads every dataset in :data:`kpdemo.datasets.registry.DATASETS` but the training sets cut from them
(:attr:`~kpdemo.datasets.spec.DatasetSpec.derived`) and prints one row each (schema, point count, images per split,
image size, labelled fraction), so a wrong ``KPDEMO_DATA`` shows up before a training run does.
A dataset whose files are missing is listed with the paths looked for, and a closing line says how to point
``KPDEMO_DATA`` at the data; one users bring themselves (a genuine Kaggle CSV) is "not supplied", with where it
goes. Loading ``kaggle15`` the first time builds its cache (progress bar, ~10 s).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

import pandas as pd

from kpdemo.config import data_root
from kpdemo.datasets.base import SPLITS, DatasetFormatError
from kpdemo.datasets.registry import DATASETS, refresh_imported
from kpdemo.markdown import markdown_table
from kpdemo.schemas import get_schema

COLUMNS = ["dataset", "schema", "points", *SPLITS, "image", "labelled", "status"]
NUMERIC = {"points", *SPLITS, "labelled"}  # right-aligned in the plain-text table
HINT = "Missing data: export KPDEMO_DATA=/path/to/data (default ../shared/data beside the repository); now: {root}"


def summarise() -> pd.DataFrame:
    """One row per dataset in the registry but the derived training sets, in registry order.

    ``image`` is the first image's ``HxWxC``: the sets are uniform crops (IMM: one camera), so one read
    says it without decoding thousands. A load error (a malformed file, an image missing beside its
    annotation) becomes that row's status instead of stopping the summary.
    """
    refresh_imported()  # datasets imported through the app are listed too
    rows = []
    for name, spec in list(DATASETS.items()):
        if spec.derived:
            continue
        row: dict[str, object] = {"dataset": name, "schema": spec.schema,
                                  "points": get_schema(spec.schema).num_points}
        missing = spec.missing_files()
        if missing and spec.bring_your_own:
            rows.append(row | {"status": f"not supplied (optional: {spec.bring_your_own})"})
            continue
        if missing:
            rows.append(row | {"status": "missing: " + ", ".join(map(str, missing))})
            continue
        try:
            data = spec.load()
            image = data.image(0)
        except (FileNotFoundError, DatasetFormatError) as exc:
            rows.append(row | {"status": f"error: {exc}"})
            continue
        height, width = image.shape[:2]
        channels = image.shape[2] if image.ndim == 3 else 1
        rows.append(row | data.split_counts() | {
            "image": f"{height}x{width}x{channels}", "labelled": float(data.mask.mean()), "status": "ok"})
    return pd.DataFrame(rows, columns=COLUMNS, dtype=object)


def _cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table as display strings: blanks where a dataset could not be read, the fraction as a percentage."""
    shown = table.where(table.notna(), "")
    shown["labelled"] = [f"{v:.1%}" if v != "" else "" for v in shown["labelled"]]
    return shown


def plain_table(table: pd.DataFrame) -> str:
    """Columns padded to their widest cell, numbers right-aligned (``DataFrame.to_string`` right-aligns text too)."""
    widths = {c: max(len(c), *(len(str(v)) for v in table[c])) for c in table.columns}

    def line(cells: Iterable[object]) -> str:
        return "  ".join(str(v).rjust(widths[c]) if c in NUMERIC else str(v).ljust(widths[c])
                         for c, v in zip(table.columns, cells, strict=True)).rstrip()

    return "\n".join([line(table.columns), *(line(row) for row in table.itertuples(index=False))])


def render(table: pd.DataFrame, markdown: bool = False) -> str:
    """The summary as an aligned plain-text table (or a GitHub table), plus the hint when anything is missing."""
    shown = _cells(table)
    text = (markdown_table(list(shown.columns), shown.itertuples(index=False)) if markdown
            else plain_table(shown))
    if table["status"].str.startswith("missing").any():
        text += "\n\n" + HINT.format(root=data_root())
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kpdemo.data", description=__doc__.split("\n\n")[1])
    parser.add_argument("--markdown", action="store_true", help="print a GitHub markdown table")
    args = parser.parse_args(argv)
    print(f"datasets under {data_root()}\n")
    print(render(summarise(), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
