"""``build OUT``: the student's and the teacher's notebooks, the tests, and the autograder zip.

What ``OUT`` gets::

    student/assignment.ipynb, assignment.py    solutions removed (stubs raise NotImplementedError)
    student/tests/<part>.py                     the public tests (otter-grader's exception-based format)
    teacher/assignment.ipynb, assignment.py    solutions in
    autograder/tests/<part>.py                  public and hidden tests
    autograder/run_autograder, setup.sh,        Gradescope's entry points: setup installs the package's
      requirements.txt, otter_config.json,      dependencies; run_autograder grades with the sandboxed grader
      files/jaxopt_course/                      (the package, which holds the grader and its references)
    autograder.zip                              the autograder folder, zipped, to upload to Gradescope

The zip has the layout of the one ``otter assign`` writes (``run_autograder``,
``setup.sh``, ``requirements.txt``, ``otter_config.json``, ``tests/``,
``files/``), and the tests are in otter-grader's exception-based format
(``from otter.test_files import test_case``), so a teacher who uses otter can
run them with it; each calls :func:`~.checks.otter_check`, the same test and
hint the project's own ``grade`` runs. The zip's ``run_autograder`` calls
this package's grader, not ``otter run``: it runs the student's code in a
child process with a time and a memory limit per test, and its hints come
from :mod:`jaxopt_course.diagnosis`.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from importlib import metadata
from pathlib import Path

from . import checks, notebook

SOURCE = Path(__file__).with_name("source") / "assignment.py"
PACKAGE = Path(__file__).resolve().parents[1]


def otter_test_file(part: str, include_hidden: bool) -> str:
    """One part's tests as an otter-grader exception-based test file."""
    lines = [
        f'"""The {part} tests of the assignment, in otter-grader\'s exception-based format.',
        "",
        "Written by `jaxopt-course assignment build`; each case runs the same check, with the same hint,",
        'as `jaxopt-course assignment grade`."""',
        "",
        "from otter.test_files import test_case",
        "",
        "OK_FORMAT = False",
        "",
        f'name = "{part}"',
        "",
    ]
    for check in checks.CHECKS:
        if check.part != part or (check.hidden and not include_hidden):
            continue
        lines += [
            "",
            f"@test_case(points={check.points!r}, hidden={check.hidden!r})",
            f"def test_{check.name}(env):",
            f'    """{check.description}."""',
            "    from jaxopt_course.assignment.checks import otter_check",
            "",
            f'    otter_check("{check.name}", env)',
            "",
        ]
    return "\n".join(lines)


def _requirements() -> list[str]:
    try:
        requires = metadata.requires("jaxopt-course") or []
    except metadata.PackageNotFoundError:
        requires = ["jax", "optax", "chex", "numpy", "scikit-learn", "matplotlib", "tqdm", "filelock"]
    return [r for r in requires if "extra ==" not in r]


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade it in a child process with a time and a memory limit.
# AUTOGRADER_ROOT and PYTHON (defaults: Gradescope's /autograder and python3) let a teacher try it locally.
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
cd "$root/source"
PYTHONPATH="$root/source/files" "${PYTHON:-python3}" -m jaxopt_course.assignment.gradescope \\
    "$root/submission" "$root/results/results.json"
"""
SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when the autograder image is built.
set -euo pipefail
apt-get update && apt-get install -y python3 python3-pip
pip3 install -r /autograder/source/requirements.txt
"""


def _copy_package(target: Path) -> None:
    shutil.copytree(
        PACKAGE, target / "files" / "jaxopt_course", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "zoo")
    )


def _write_notebook(folder: Path, header: str, cells) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assignment.py").write_text(notebook.write_percent(header, cells), encoding="utf-8")
    (folder / "assignment.ipynb").write_text(json.dumps(notebook.to_ipynb(cells), indent=1) + "\n", encoding="utf-8")


def build(out) -> dict:
    """Write the assignment into the folder ``out`` (created; existing files of the same names are replaced).

    Returns:
      ``{"student", "teacher", "autograder", "zip"}``: the paths written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, got {str(out)!r}, which is a file")
    header, cells = notebook.parse_percent(SOURCE.read_text(encoding="utf-8"))
    _write_notebook(out / "student", header, notebook.version(cells, teacher=False))
    _write_notebook(out / "teacher", header, notebook.version(cells, teacher=True))
    autograder = out / "autograder"
    if autograder.exists():
        shutil.rmtree(autograder)
    for folder, include_hidden in ((out / "student" / "tests", False), (autograder / "tests", True)):
        folder.mkdir(parents=True, exist_ok=True)
        for part in checks.PARTS:
            (folder / f"{part}.py").write_text(otter_test_file(part, include_hidden), encoding="utf-8")
    (autograder / "requirements.txt").write_text("\n".join(_requirements()) + "\n")
    # otter's own configuration keys; read by otter, not by this grader (which has its defaults in runner.py).
    config = {"lang": "python", "points_possible": sum(c.points for c in checks.CHECKS), "show_hidden": False}
    (autograder / "otter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name, text in (("run_autograder", RUN_AUTOGRADER), ("setup.sh", SETUP)):
        (autograder / name).write_text(text)
        (autograder / name).chmod(0o755)
    _copy_package(autograder)
    zip_path = out / "autograder.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(autograder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(autograder).as_posix())
    return {"student": out / "student", "teacher": out / "teacher", "autograder": autograder, "zip": zip_path}
