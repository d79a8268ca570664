"""``grade FILE``: score a student's ``.py`` or ``.ipynb`` with the tests of :mod:`.checks`, in a child process."""

from __future__ import annotations

import math
from pathlib import Path

from . import checks, notebook, runner


def _check_parts(parts) -> list[str]:
    if parts is None:
        return list(checks.PARTS)
    parts = list(parts)
    unknown = [p for p in parts if p not in checks.PARTS]
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty list of {sorted(checks.PARTS)}, got {parts!r}")
    return parts


def grade(
    path,
    *,
    parts=None,
    hidden: bool = True,
    time_limit: float = runner.TIME_LIMIT,
    memory_mb: int = runner.MEMORY_LIMIT_MB,
) -> dict:
    """Grade the submission at ``path``: ``{"score", "max_score", "tests": [{"name", "passed", "hint", ...}]}``.

    Args:
      path: a ``.py`` file or an ``.ipynb`` notebook. From a notebook (or a
        percent-format ``.py``) only the cells tagged ``graded`` run, when
        any is tagged.
      parts: grade only these parts (keys of :data:`~.checks.PARTS`); ``None``: all.
      hidden: include the hidden tests (the grader's); ``False``: the public ones, as the student sees them.
      time_limit: seconds for each test, and for running the code.
      memory_mb: the child process's address-space limit.

    Returns:
      The score, the maximum, and per test its name, part, points, whether
      it is hidden, whether it passed and the hint (``None`` when it passed).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be a student's .py or .ipynb file, got {str(path)!r} (no such file)")
    if path.suffix not in (".py", ".ipynb"):
        raise ValueError(f"path must end in .py or .ipynb, got {path.name!r}")
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not 0 < time_limit < math.inf:
        raise ValueError(f"time_limit must be a finite positive number of seconds, got {time_limit!r}")
    if not (isinstance(memory_mb, int) and memory_mb >= 256):
        raise ValueError(f"memory_mb must be an integer >= 256 (MiB), got {memory_mb!r}")
    selected = [c for c in checks.CHECKS if c.part in _check_parts(parts) and (hidden or not c.hidden)]
    source = notebook.graded_source(path)
    hints = runner.run_tests(source, [c.name for c in selected], time_limit=time_limit, memory_mb=memory_mb)
    tests = [
        {
            "name": c.name,
            "part": c.part,
            "points": c.points,
            "hidden": c.hidden,
            "passed": hints.get(c.name) is None,
            "hint": hints.get(c.name),
            "description": c.description,
        }
        for c in selected
    ]
    return {
        "score": sum(t["points"] for t in tests if t["passed"]),
        "max_score": sum(c.points for c in selected),
        "tests": tests,
    }


def format_result(result: dict) -> str:
    """The grade as lines of text: one line per test, its hint below a failure, the score last."""
    lines = []
    for test in result["tests"]:
        mark = "PASS" if test["passed"] else "FAIL"
        hidden = " (hidden)" if test["hidden"] else ""
        lines.append(
            f"{mark}  {test['name']}{hidden}  [{test['points'] if test['passed'] else 0:g}/"
            f"{test['points']:g}]  {test['description']}"
        )
        if not test["passed"]:
            lines.append(f"      hint: {test['hint']}")
    lines.append(f"score: {result['score']:g} / {result['max_score']:g}")
    return "\n".join(lines)
