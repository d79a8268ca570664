"""Gradescope's side of the autograder zip: grade ``/autograder/submission`` and write ``results.json``.

Gradescope runs ``run_autograder`` from the zip that ``build`` writes; it
calls ``python3 -m jaxopt_course.assignment.gradescope SUBMISSION_DIR RESULTS_JSON``,
which grades the first ``.ipynb`` (else ``.py``) in the folder with the
sandboxed grader and writes Gradescope's format: ``{"score", "tests":
[{"name", "score", "max_score", "output", "visibility"}]}`` (hidden tests
are ``"after_published"``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def find_submission(folder) -> Path:
    """The submission in ``folder``: the first ``.ipynb``, else the first ``.py`` (sorted by name)."""
    folder = Path(folder)
    for pattern in ("*.ipynb", "*.py"):
        found = sorted(folder.rglob(pattern))
        if found:
            return found[0]
    raise ValueError(f"folder must hold a .ipynb or .py submission, got none in {str(folder)!r}")


def to_gradescope(result: dict) -> dict:
    """A :func:`~.grade.grade` result in Gradescope's ``results.json`` format."""
    return {
        "score": result["score"],
        "tests": [
            {
                "name": t["name"],
                "score": t["points"] if t["passed"] else 0,
                "max_score": t["points"],
                "output": "passed" if t["passed"] else f"hint: {t['hint']}",
                "visibility": "after_published" if t["hidden"] else "visible",
            }
            for t in result["tests"]
        ],
    }


def main(argv=None) -> int:
    from .grade import grade

    submission_dir, results_path = (sys.argv[1:] if argv is None else argv)[:2]
    result = grade(find_submission(submission_dir))
    Path(results_path).parent.mkdir(parents=True, exist_ok=True)
    Path(results_path).write_text(json.dumps(to_gradescope(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
