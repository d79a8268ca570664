"""The teacher's kit: an assignment built from the lecture, an autograder with hints, a zoo of wrong gradients.

* :func:`build` writes the student's and the teacher's notebooks, the public
  and hidden tests (otter-grader's format) and a Gradescope autograder zip
  (:mod:`.build`);
* :func:`grade` grades a ``.py`` or ``.ipynb`` in a child process with a time
  and a memory limit (:mod:`.runner`), with the tests and hints of
  :mod:`.checks` and the diagnosis of :mod:`jaxopt_course.diagnosis`;
* ``zoo/``: wrong implementations students typically write, each with the
  hint it must get (:data:`.zoo.ZOO`).

Command line: ``python -m jaxopt_course.assignment build OUT`` and
``python -m jaxopt_course.assignment grade FILE|FOLDER [--json]``; :func:`add_arguments`
and :func:`run` are the same sub-commands for ``jaxopt-course assignment``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..experiments._common import positive  # the CLI's one definition of "a finite number > 0"
from .build import build
from .grade import format_result, grade

__all__ = ["add_arguments", "build", "grade", "main", "run"]

PROG = "jaxopt-course assignment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``build OUT`` and ``grade FILE [--json]`` sub-commands to ``parser``."""
    commands = parser.add_subparsers(dest="assignment_command", metavar="{build,grade}", required=True)
    p = commands.add_parser("build", help="write the student and teacher notebooks, the tests and the autograder")
    p.add_argument("out", metavar="OUT", help="the folder to write into")
    p = commands.add_parser(
        "grade", help="grade a student's .py or .ipynb, or a folder of them (each in a child process, with limits)"
    )
    p.add_argument(
        "file", metavar="FILE", help="the submission, a .py or .ipynb file; a folder: every such file in it, by name"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"score", "max_score", "tests": [...]} as JSON (a folder: a list of them, each with its "file")',
    )
    p.add_argument("--public", action="store_true", help="only the public tests (what students see)")
    p.add_argument("--time-limit", type=positive, default=None, help="seconds per test (default 20)")


def _error(message: str) -> int:
    print(f"jaxopt-course: error: {message}", file=sys.stderr)
    return 2


def run(args) -> int:
    """Carry out the parsed sub-command; the exit code (2 and one line on stderr for a bad input)."""
    if args.assignment_command == "build":
        try:
            written = build(args.out)
        except (ValueError, OSError) as error:
            return _error(f"assignment build: {error}")
        for name, path in written.items():
            print(f"{name:<10} {path}")
        return 0
    kwargs = {} if args.time_limit is None else {"time_limit": args.time_limit}
    if Path(args.file).is_dir():
        return _grade_folder(Path(args.file), args, kwargs)
    try:
        result = grade(args.file, hidden=not args.public, **kwargs)
    except ValueError as error:
        return _error(f"assignment grade: {error}")
    print(json.dumps(_summary(result)) if args.json else format_result(result))
    return 0


def _summary(result: dict) -> dict:
    """What ``grade --json`` prints of a result: the score, the maximum, and each test's name, verdict and hint."""
    tests = [{k: t[k] for k in ("name", "passed", "hint")} for t in result["tests"]]
    return {"score": result["score"], "max_score": result["max_score"], "tests": tests}


def _grade_folder(folder: Path, args, kwargs: dict) -> int:
    """Grade every ``.py``/``.ipynb`` of ``folder`` in name order, one line each as it is graded (``--json``: a
    list at the end). A submission that cannot be graded is reported and the others still are: exit 2 then."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".ipynb"))
    if not files:
        return _error(f"assignment grade: {folder} holds no .py or .ipynb submission")
    results, failed = [], 0
    for path in files:
        try:
            entry = {"file": path.name, **_summary(grade(path, hidden=not args.public, **kwargs))}
        except ValueError as error:
            entry, failed = {"file": path.name, "error": str(error)}, failed + 1
        results.append(entry)
        line = f"error: {entry['error']}" if "error" in entry else f"{entry['score']:g} / {entry['max_score']:g}"
        print(f"{path.name}: {line}", file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(results))
    return 2 if failed else 0


def main(argv=None) -> int:
    """``python -m jaxopt_course.assignment ...`` (the same as ``jaxopt-course assignment ...``)."""
    parser = argparse.ArgumentParser(prog=PROG, description="the teacher's kit: build an assignment, grade it")
    add_arguments(parser)
    return run(parser.parse_args(argv))
