"""Markdown for the documents the repo writes from measured files (README results, findings, frontalize doc).

One table writer, one marker-section splicer and one way to write a sweep's steps, so every generated table, section
and plot is formatted alike.
"""

from __future__ import annotations

from collections.abc import Iterable


def markdown_table(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """A GitHub table; a ``|`` inside a cell becomes ``/`` so it cannot split the cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """``text`` with whatever lies between the ``start`` and ``end`` markers replaced by ``body``."""
    if start not in text or end not in text:
        raise ValueError(f"no {start} ... {end} markers to write between")
    head, rest = text.split(start, 1)
    return head + start + body + end + rest.split(end, 1)[1]


def step_text(step: float) -> str:
    """A sweep's step as people write it: 1/8 rather than 0.125 for a fraction of one, else the number."""
    inverse = 1 / step if 0 < step < 1 else 0.0
    return f"1/{round(inverse)}" if inverse and abs(inverse - round(inverse)) < 1e-9 else f"{step:g}"
