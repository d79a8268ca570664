"""Reading and writing the assignment's notebooks: jupytext percent sources, ``.ipynb`` files, solution regions.

The source (``source/assignment.py``) is a jupytext "percent" notebook: a
cell starts at a ``# %%`` line (``# %% [markdown]`` for prose, whose lines
are ``#``-comments; ``# %% tags=["graded"]`` for a graded cell). Solution
regions are marked as in otter-grader's and nbgrader's sources:

* ``# BEGIN SOLUTION`` ... ``# END SOLUTION``: kept in the teacher's
  version; in the student's replaced by ``raise NotImplementedError(...)``
  at the region's indentation, unless the cell has ``# STUDENT:`` lines;
* ``# STUDENT: code``: ``code`` in the student's version only.

Written here without jupytext or nbformat, so ``build`` and ``grade`` need
only the package; the tests check the files with nbformat and jupytext.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

GRADED_TAG = "graded"
_CELL = re.compile(r"^# %%(?P<rest>.*)$")
_STUDENT = re.compile(r"^(?P<indent>\s*)# STUDENT: ?(?P<code>.*)$")
STUB = 'raise NotImplementedError("write your solution here")'


class Cell(NamedTuple):
    kind: str  # "code" or "markdown"
    source: str
    tags: tuple = ()


def parse_percent(text: str) -> tuple[str, list[Cell]]:
    """A percent-format notebook's text as ``(header, cells)``; the header is the ``# ---`` block."""
    lines = text.splitlines()
    header, start = [], 0
    if lines and lines[0] == "# ---":
        end = lines.index("# ---", 1)
        header, start = lines[: end + 1], end + 1
    cells: list[Cell] = []
    current: list[str] | None = None
    kind: str = "code"
    tags: tuple[str, ...] = ()
    for line in lines[start:]:
        match = _CELL.match(line)
        if match:
            if current is not None:
                cells.append(Cell(kind, "\n".join(current).strip("\n"), tags))
            rest = match["rest"]
            kind = "markdown" if "[markdown]" in rest else "code"
            found = re.search(r"tags=\[(.*?)\]", rest)
            tags = tuple(t.strip().strip("\"'") for t in found[1].split(",")) if found else ()
            current = []
        elif current is not None:
            current.append(line)
    if current is not None:
        cells.append(Cell(kind, "\n".join(current).strip("\n"), tags))
    return "\n".join(header), cells


def _markdown_text(source: str) -> str:
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in source.splitlines())


def write_percent(header: str, cells: list[Cell]) -> str:
    """The percent-format text of ``cells`` (the inverse of :func:`parse_percent`)."""
    parts = [header] if header else []
    for cell in cells:
        marker = "# %%" + (" [markdown]" if cell.kind == "markdown" else "")
        if cell.tags:
            marker += " tags=[" + ", ".join(f'"{t}"' for t in cell.tags) + "]"
        parts.append(f"{marker}\n{cell.source}")
    return "\n\n".join(parts) + "\n"


def strip_solutions(source: str, keep: bool) -> str:
    """A code cell's text as the teacher's (``keep=True``) or the student's version."""
    has_student_lines = any(_STUDENT.match(line) for line in source.splitlines())
    out, in_solution = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == "# BEGIN SOLUTION":
            in_solution = True
            if not keep and not has_student_lines:
                out.append(line[: len(line) - len(line.lstrip())] + STUB)
            continue
        if stripped == "# END SOLUTION":
            in_solution = False
            continue
        student = _STUDENT.match(line)
        if student:
            if not keep:
                out.append(student["indent"] + student["code"])
            continue
        if in_solution and not keep:
            continue
        out.append(line)
    return "\n".join(out)


def version(cells: list[Cell], teacher: bool) -> list[Cell]:
    """The teacher's or the student's cells."""
    return [c._replace(source=strip_solutions(c.source, keep=teacher)) if c.kind == "code" else c for c in cells]


def to_ipynb(cells: list[Cell]) -> dict:
    """An nbformat 4 notebook (a dict, no outputs) of ``cells``."""

    def lines(text):
        split = text.splitlines(keepends=True)
        return split

    nb_cells = []
    for i, cell in enumerate(cells):
        entry = {
            "cell_type": cell.kind,
            "id": f"cell-{i}",
            "metadata": {"tags": list(cell.tags)} if cell.tags else {},
            "source": lines(_markdown_text(cell.source) if cell.kind == "markdown" else cell.source),
        }
        if cell.kind == "code":
            entry.update(execution_count=None, outputs=[])
        nb_cells.append(entry)
    return {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def read_cells(path: Path) -> list[Cell]:
    """The cells of a submission: an ``.ipynb`` (JSON) or a ``.py`` (percent cells, or one cell)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file (not UTF-8): a submission is a .py or .ipynb file") from None
    if Path(path).suffix == ".ipynb":
        try:
            nb = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not a Jupyter notebook: it is not JSON ({error})") from None
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError(f"{path} is not a Jupyter notebook: it has no list of cells")
        cells = []
        for cell in nb["cells"]:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            cells.append(Cell(cell.get("cell_type", "code"), source, tuple(cell.get("metadata", {}).get("tags", ()))))
        return cells
    _, cells = parse_percent(text)
    return cells or [Cell("code", text)]


def graded_source(path: Path) -> str:
    """The code the grader runs: the cells tagged ``graded`` (all code cells when none is), no shell lines.

    Lines starting with ``%`` or ``!`` (IPython magics and shell commands) are dropped.
    """
    cells = [c for c in read_cells(path) if c.kind == "code"]
    if any(GRADED_TAG in c.tags for c in cells):
        cells = [c for c in cells if GRADED_TAG in c.tags]
    code = [
        "\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!"))) for c in cells
    ]
    return "\n\n".join(code) + "\n"
