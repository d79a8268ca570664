"""The teacher's kit (issue 22): build, grade in a child process, hints, the bug zoo, the CLI.

Grading runs the student's code in a child process (runner.py) that imports
JAX, so one grade costs a few seconds; the tests that grade a whole
submission are marked slow, and a fast subset (the build, the unfilled
notebook, one bad submission per kind of failure, the CLI's JSON) is not.
The zoo is graded in this process with the same checks (checks.run_check:
the same code and hints the child runs), except the specimen that hangs,
which only the child's time limit can stop.
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jaxopt_course.assignment import build, checks, grade, gradescope, notebook, runner
from jaxopt_course.assignment.zoo import ZOO
from jaxopt_course.diagnosis import HINTS

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / ".venv" / "bin" / "jaxopt-course"
MAX_SCORE = sum(c.points for c in checks.CHECKS)
NOT_TUNING = ["svm", "softmax", "numerical_gradient", "sgd"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assignment")
    build(out)
    return out


def cli(*args, timeout=300):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def write(path: Path, code: str) -> Path:
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


def by_name(result: dict) -> dict:
    return {t["name"]: t for t in result["tests"]}


def part_score(result: dict, part: str) -> float:
    return sum(t["points"] for t in result["tests"] if t["part"] == part and t["passed"])


# ---------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------


def test_build_writes_student_teacher_tests_and_a_gradescope_zip(built):
    for version in ("student", "teacher"):
        assert (built / version / "assignment.ipynb").is_file()
        assert (built / version / "assignment.py").is_file()
    for part in checks.PARTS:
        assert (built / "student" / "tests" / f"{part}.py").is_file()
        assert (built / "autograder" / "tests" / f"{part}.py").is_file()
    with zipfile.ZipFile(built / "autograder.zip") as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    # otter assign's layout: the entry points, the requirements, otter's config, tests/ and files/.
    for name in ("run_autograder", "setup.sh", "requirements.txt", "otter_config.json"):
        assert name in names
    assert {f"tests/{part}.py" for part in checks.PARTS} <= names
    assert "files/jaxopt_course/assignment/runner.py" in names
    assert not any("/zoo/" in n or "__pycache__" in n for n in names)  # the zoo is teaching material, not shipped
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    config = json.loads((built / "autograder" / "otter_config.json").read_text())
    assert config["points_possible"] == MAX_SCORE


def test_public_tests_hold_no_hidden_case_and_the_autograders_hold_all(built):
    """Otter's exception-based test files: each case is a test_case with the check's points and visibility."""
    for folder, with_hidden in (("student", False), ("autograder", True)):
        cases = {}
        for part in checks.PARTS:
            tree = ast.parse((built / folder / "tests" / f"{part}.py").read_text())
            for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
                keywords = {k.arg: ast.literal_eval(k.value) for k in fn.decorator_list[0].keywords}
                cases[fn.name.removeprefix("test_")] = keywords
        expected = {
            c.name: {"points": c.points, "hidden": c.hidden} for c in checks.CHECKS if with_hidden or not c.hidden
        }
        assert cases == expected


def test_student_version_has_stubs_and_the_teacher_version_the_solutions(built):
    import jupytext
    import nbformat

    student = (built / "student" / "assignment.py").read_text()
    teacher = (built / "teacher" / "assignment.py").read_text()
    assert "BEGIN SOLUTION" not in student and "BEGIN SOLUTION" not in teacher
    assert student.count(notebook.STUB) == 5  # svm, softmax, numerical gradient, minibatch, step
    assert notebook.STUB not in teacher
    assert "best_step_size = None" in student and "best_step_size = 1.0" in teacher
    for version in ("student", "teacher"):
        nb = nbformat.read(built / version / "assignment.ipynb", as_version=4)
        nbformat.validate(nb)
        graded = [c for c in nb.cells if "graded" in c.metadata.get("tags", [])]
        assert len(graded) == 6  # the imports, svm, softmax, numerical gradient, minibatch + step, tuning
        # jupytext reads the percent file as the same cells.
        again = jupytext.reads((built / version / "assignment.py").read_text(), fmt="py:percent")
        assert [c.source for c in again.cells if c.cell_type == "code"] == [
            c.source for c in nb.cells if c.cell_type == "code"
        ]


@pytest.mark.slow
def test_both_notebooks_run_top_to_bottom(built):
    """What a student and a teacher see: the teacher's checks print tiny errors; the student's say 'not written'."""
    out = {}
    for version in ("teacher", "student"):
        done = subprocess.run(
            [sys.executable, "assignment.py"], cwd=built / version, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        out[version] = done.stdout
    assert "svm_loss_and_grad: not written yet" in out["student"]
    errors = [float(e) for e in re.findall(r"relative error of the gradient ([\d.e+-]+)", out["teacher"])]
    assert len(errors) == 2 and max(errors) < 1e-7, out["teacher"]


def test_build_through_the_cli(tmp_path):
    out = tmp_path / "kit"
    done = cli("assignment", "build", out)
    assert done.returncode == 0, done.stderr
    assert str(out / "autograder.zip") in done.stdout
    assert zipfile.is_zipfile(out / "autograder.zip")


def test_build_into_a_file_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "a-file").write_text("in the way")
    done = cli("assignment", "build", tmp_path / "a-file")
    assert done.returncode == 2
    assert done.stderr.startswith("jaxopt-course: error: assignment build: out must be a folder")
    assert len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------
# grade: the unfilled notebook, bad submissions, errors
# ---------------------------------------------------------------------------


def test_the_unfilled_student_notebook_does_not_pass(built):
    result = grade(built / "student" / "assignment.ipynb")
    assert result["score"] == 0 and result["max_score"] == MAX_SCORE
    tests = by_name(result)
    assert "not written yet" in tests["svm_gradient"]["hint"]
    assert "best_step_size must be a number" in tests["tuning"]["hint"]
    assert all(t["hint"] for t in result["tests"])


@pytest.mark.slow
def test_one_bad_function_per_part_costs_that_part_only(tmp_path):
    """A hang, an exception, a wrong shape and a memory hog, one per part: those parts get 0, the rest passes."""
    submission = write(
        tmp_path / "bad.py",
        """
        import numpy as np

        def svm_loss_and_grad(W, X, y, reg):
            while True:
                pass

        def softmax_loss_and_grad(W, X, y, reg):
            return 0.0, np.zeros(3)

        def numerical_gradient(f, W, h=1e-5):
            hog = np.ones(5 * 2**27)  # 5 GiB: past the grader's 3 GiB memory limit
            return hog[: W.size].reshape(W.shape)

        def sgd_step(W, dW, step_size):
            raise ValueError("not today")

        def sample_minibatch(X, y, batch_size, seed):
            idx = np.random.default_rng(seed).integers(0, X.shape[0], size=batch_size)
            return X[idx], y[idx]
    """,
    )
    result = grade(submission, parts=NOT_TUNING, time_limit=3.0)
    tests = by_name(result)
    for part in ("svm", "softmax", "numerical_gradient"):
        assert part_score(result, part) == 0
    assert "took over 3 s (the time limit)" in tests["svm_returns"]["hint"]
    assert all("not run: svm_returns" in tests[n]["hint"] for n in ("svm_loss_values", "svm_gradient", "svm_digits"))
    assert "dW must have W's shape (C, D) = (4, 6), got (3,)" in tests["softmax_returns"]["hint"]
    assert "ran out of memory" in tests["numerical_gradient_values"]["hint"]
    assert tests["sgd_step"]["hint"] == "sgd_step raised ValueError: not today"
    assert tests["sample_minibatch"]["passed"]
    assert result["score"] == 1


def test_a_submission_that_hangs_while_loading_gets_zero_with_a_time_limit_hint(tmp_path):
    submission = write(tmp_path / "hangs.py", "while True:\n    pass\n")
    result = grade(submission, parts=["sgd"], time_limit=1.0)
    assert result["score"] == 0
    assert all("running the submission's code took over 1 s (the time limit)" in t["hint"] for t in result["tests"])


@pytest.mark.slow
def test_a_hang_that_swallows_the_alarm_is_killed_by_the_parents_deadline(tmp_path, monkeypatch):
    """`except BaseException: pass` in a loop outlives the alarm: the parent's wall-clock deadline kills the child."""
    monkeypatch.setattr(runner, "STARTUP_ALLOWANCE", 10.0)  # the parent's margin, shortened for the test
    submission = write(
        tmp_path / "stubborn.py",
        """
        def sgd_step(W, dW, step_size):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass

        def sample_minibatch(X, y, batch_size, seed):
            return X[:batch_size], y[:batch_size]
    """,
    )
    result = grade(submission, parts=["sgd"], time_limit=1.0)
    tests = by_name(result)
    assert not tests["sgd_step"]["passed"]
    # Whichever stops it first: the kernel's CPU-time limit (an idle machine) or the parent's wall-clock
    # deadline (a loaded one, where the child gets less CPU than wall time).
    hint = tests["sgd_step"]["hint"]
    assert "the grader stopped it after its time limit" in hint or "stopped by the CPU-time limit" in hint
    # A new child ran the test left: the minibatch's own mistake (the same rows for every seed) is reported.
    assert "same batch for seeds 0 and 1" in tests["sample_minibatch"]["hint"]


def test_grade_rejects_a_missing_file_and_an_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="path must be a student's .py or .ipynb file, got .* \\(no such file\\)"):
        grade(tmp_path / "nothing.py")
    (tmp_path / "answers.txt").write_text("x = 1\n")
    with pytest.raises(ValueError, match="path must end in .py or .ipynb, got 'answers.txt'"):
        grade(tmp_path / "answers.txt")
    (tmp_path / "a.py").write_text("x = 1\n")
    with pytest.raises(ValueError, match=r"parts must be a non-empty list of \[.*\], got \['svn'\]"):
        grade(tmp_path / "a.py", parts=["svn"])
    with pytest.raises(ValueError, match="time_limit must be a finite positive number of seconds, got 0"):
        grade(tmp_path / "a.py", time_limit=0)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("nothing.py", None, "(no such file)"),
        ("answers.txt", "x = 1\n", "path must end in .py or .ipynb, got 'answers.txt'"),
        ("broken.ipynb", "[1, 2]", "is not a Jupyter notebook: it has no list of cells"),
        ("truncated.ipynb", '{"cells": [', "is not a Jupyter notebook: it is not JSON"),
        ("binary.py", b"\x89PNG\r\n\x1a\n\xff\xfe", "is not a text file (not UTF-8)"),
    ],
)
def test_grade_through_the_cli_bad_file_is_one_line_and_exit_2(tmp_path, name, text, message):
    if isinstance(text, bytes):
        (tmp_path / name).write_bytes(text)
    elif text is not None:
        (tmp_path / name).write_text(text)
    done = cli("assignment", "grade", tmp_path / name, "--json")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("jaxopt-course: error: assignment grade: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_grade_json_through_the_cli_has_exactly_the_documented_keys(tmp_path):
    """`--json` prints {"score", "max_score", "tests": [{"name", "passed", "hint"}]}, and nothing else on stdout."""
    submission = write(
        tmp_path / "sgd_only.py",
        """
        import numpy as np

        print("a student's print, on the child's stdout only")

        def sgd_step(W, dW, step_size):
            return W - step_size * dW
    """,
    )
    done = cli("assignment", "grade", submission, "--json", "--time-limit", "10")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"score", "max_score", "tests"}
    assert all(set(t) == {"name", "passed", "hint"} for t in result["tests"])
    assert [t["name"] for t in result["tests"]] == [c.name for c in checks.CHECKS]
    assert result["max_score"] == MAX_SCORE
    passed = {t["name"] for t in result["tests"] if t["passed"]}
    assert passed == {"sgd_step"} and result["score"] == checks.CHECKS_BY_NAME["sgd_step"].points
    assert all(t["hint"] is None for t in result["tests"] if t["passed"])
    assert "svm_loss_and_grad is not defined" in by_name(result)["svm_returns"]["hint"]


# ---------------------------------------------------------------------------
# grade: full marks for right answers, as .ipynb and .py, in NumPy and in JAX
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_grade_a_folder_grades_every_submission_by_name_and_reports_a_bad_one_without_losing_the_others(tmp_path):
    """`grade FOLDER`: each .py/.ipynb in name order, a line each; a broken one is reported, the rest still graded."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder / "b_sgd_only.py", "def sgd_step(W, dW, step_size):\n    return W - step_size * dW\n")
    (folder / "a_broken.ipynb").write_text("not a notebook")
    (folder / "notes.txt").write_text("not a submission: skipped")
    done = cli("assignment", "grade", folder, "--json", "--time-limit", "10")
    assert done.returncode == 2  # one submission could not be graded: said, and the others are still there
    results = json.loads(done.stdout)
    assert [r["file"] for r in results] == ["a_broken.ipynb", "b_sgd_only.py"]
    assert set(results[0]) == {"file", "error"} and "notebook" in results[0]["error"]
    assert results[1]["score"] == checks.CHECKS_BY_NAME["sgd_step"].points and results[1]["max_score"] == MAX_SCORE
    assert set(results[1]) == {"file", "score", "max_score", "tests"}
    assert done.stderr.splitlines()[-1] == f"b_sgd_only.py: {results[1]['score']:g} / {MAX_SCORE:g}"
    (folder / "a_broken.ipynb").unlink()
    done = cli("assignment", "grade", folder)
    assert done.returncode == 0 and done.stdout == f"b_sgd_only.py: {results[1]['score']:g} / {MAX_SCORE:g}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("assignment", "grade", empty)
    assert done.returncode == 2 and "holds no .py or .ipynb submission" in done.stderr


def test_the_teacher_notebook_as_py_gets_full_marks(built):
    """The percent-format .py; the .ipynb gets its full marks through the zip's run_autograder below."""
    result = grade(built / "teacher" / "assignment.py")
    assert result["score"] == result["max_score"] == MAX_SCORE, [t for t in result["tests"] if not t["passed"]]


JAX_SUBMISSION = """
    import jax
    import jax.numpy as jnp


    def svm_loss(W, X, y, reg):
        scores = X @ W.T
        correct = jnp.take_along_axis(scores, y[:, None], axis=1)
        margins = jnp.maximum(0.0, scores - correct + 1.0)
        margins = jnp.where(jax.nn.one_hot(y, W.shape[0]) > 0, 0.0, margins)
        return margins.sum() / X.shape[0] + reg * jnp.sum(W**2)


    def softmax_loss(W, X, y, reg):
        log_p = jax.nn.log_softmax(X @ W.T)
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1)) + reg * jnp.sum(W**2)


    svm_loss_and_grad = jax.jit(jax.value_and_grad(svm_loss))
    softmax_loss_and_grad = jax.jit(jax.value_and_grad(softmax_loss))


    def numerical_gradient(f, W, h=1e-5):
        flat = jnp.asarray(W).ravel()
        rows = []
        for k in range(flat.size):
            step = jnp.zeros_like(flat).at[k].set(h)
            rows.append((f((flat + step).reshape(W.shape)) - f((flat - step).reshape(W.shape))) / (2 * h))
        return jnp.asarray(rows).reshape(W.shape)


    def sgd_step(W, dW, step_size):
        return W - step_size * dW


    def sample_minibatch(X, y, batch_size, seed):
        idx = jax.random.randint(jax.random.key(seed), (batch_size,), 0, X.shape[0])
        return X[idx], y[idx]


    best_step_size = 1.0
    best_reg = 1e-4
"""


@pytest.mark.slow
def test_a_jax_submission_gets_full_marks(tmp_path):
    result = grade(write(tmp_path / "jax_answer.py", JAX_SUBMISSION))
    assert result["score"] == MAX_SCORE, [t for t in result["tests"] if not t["passed"]]


# ---------------------------------------------------------------------------
# Gradescope: the zip's run_autograder, run as Gradescope runs it
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_zips_run_autograder_gives_the_teacher_ipynb_full_marks(built, tmp_path):
    """Gradescope's run: the zip unpacked in autograder/source, the notebook in autograder/submission."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(built / "autograder.zip") as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "submission" / "assignment.ipynb").write_bytes((built / "teacher" / "assignment.ipynb").read_bytes())
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable)
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == MAX_SCORE, [t for t in results["tests"] if t["score"] < t["max_score"]]
    assert {t["name"] for t in results["tests"]} == {c.name for c in checks.CHECKS}
    hidden = {t["name"] for t in results["tests"] if t["visibility"] == "after_published"}
    assert hidden == {c.name for c in checks.CHECKS if c.hidden}


def test_gradescope_results_format_and_submission_lookup(tmp_path):
    result = {
        "score": 1,
        "max_score": 3,
        "tests": [
            {"name": "a", "points": 1, "hidden": False, "passed": True, "hint": None},
            {"name": "b", "points": 2, "hidden": True, "passed": False, "hint": "look at b"},
        ],
    }
    assert gradescope.to_gradescope(result) == {
        "score": 1,
        "tests": [
            {"name": "a", "score": 1, "max_score": 1, "output": "passed", "visibility": "visible"},
            {"name": "b", "score": 0, "max_score": 2, "output": "hint: look at b", "visibility": "after_published"},
        ],
    }
    (tmp_path / "b.py").write_text("")
    assert gradescope.find_submission(tmp_path).name == "b.py"
    (tmp_path / "a.ipynb").write_text("{}")
    assert gradescope.find_submission(tmp_path).name == "a.ipynb"
    with pytest.raises(ValueError, match="folder must hold a .ipynb or .py submission"):
        gradescope.find_submission(tmp_path / "b.py")


# ---------------------------------------------------------------------------
# The bug zoo: every specimen loses marks, with its hint.
# ---------------------------------------------------------------------------

#: A fast representative subset runs unmarked; the rest of the zoo is slow.
FAST_ZOO = {"svm_no_reg_gradient", "softmax_raises", "sgd_step_uphill", "numerical_gradient_no_restore"}
ZOO_PARAMS = [
    pytest.param(name, marks=() if name in FAST_ZOO else pytest.mark.slow) for name in ZOO if name != "svm_hangs"
]


def test_the_zoo_has_at_least_twelve_wrong_loss_functions():
    loss_specimens = [name for name, s in ZOO.items() if s.part in ("svm", "softmax")]
    assert len(loss_specimens) >= 12
    for name, specimen in ZOO.items():
        assert specimen.part in checks.PARTS
        assert specimen.path(name).is_file()


def expected_text(specimen) -> str:
    return HINTS.get(specimen.expected, specimen.expected)


@pytest.mark.parametrize("name", ZOO_PARAMS)
def test_each_zoo_specimen_loses_marks_with_its_hint(name):
    specimen = ZOO[name]
    namespace = {"__name__": "submission"}
    exec(compile(specimen.path(name).read_text(), str(specimen.path(name)), "exec"), namespace)
    part_checks = [c for c in checks.CHECKS if c.part == specimen.part]
    with np.errstate(all="ignore"):
        hints = {c.name: checks.run_check(c.name, namespace) for c in part_checks}
    lost = sum(c.points for c in part_checks if hints[c.name] is not None)
    assert lost > 0
    matching = [n for n, h in hints.items() if h is not None and expected_text(specimen) in h]
    assert matching, hints


@pytest.mark.slow
def test_the_hanging_specimen_gets_zero_in_bounded_time():
    name = "svm_hangs"
    result = grade(ZOO[name].path(name), parts=["svm"], time_limit=1.0)
    assert result["score"] == 0
    assert expected_text(ZOO[name]) in by_name(result)["svm_returns"]["hint"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["svm_sum_not_mean"])  # its hint needs the student loss, called back
def test_zoo_specimens_through_the_child_process(name):
    """The child gives the same hints as the in-process checks above (the same checks, behind the sandbox)."""
    result = grade(ZOO[name].path(name), parts=[ZOO[name].part])
    assert result["score"] < result["max_score"]
    assert any(expected_text(ZOO[name]) in (t["hint"] or "") for t in result["tests"])


def test_each_zoo_file_shows_the_fix_above_its_bug():
    """The line right above each `# BUG` line is the correct line, as a comment, so a teacher sees the fix."""
    for name in ZOO:
        lines = ZOO[name].path(name).read_text().splitlines()
        bugs = [i for i, line in enumerate(lines) if "# BUG" in line]
        assert bugs, name
        for i in bugs:
            above = lines[i - 1].strip()
            assert above.startswith("# FIX: "), (name, lines[i - 1])
            fix = above.removeprefix("# FIX: ")
            ast.parse(fix + ("\n    pass" if fix.endswith(":") else ""))  # the fix is a line of Python


def fixed_source(name: str) -> str:
    """A zoo file with each `# BUG` line replaced by the `# FIX:` line above it."""
    lines = ZOO[name].path(name).read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.strip().startswith("# FIX: "):
            continue
        if "# BUG" in line:
            indent = line[: len(line) - len(line.lstrip())]
            line = indent + lines[i - 1].strip().removeprefix("# FIX: ")
        out.append(line)
    return "\n".join(out) + "\n"


#: Specimens whose mistake is their whole body (a loop that never ends, a one-line placeholder): no fix of one line.
NOT_ONE_LINE_FIXES = {"svm_hangs", "softmax_raises"}


@pytest.mark.parametrize("name", [p for p in ZOO_PARAMS if p.values[0] not in NOT_ONE_LINE_FIXES])
def test_each_zoo_fix_gets_full_marks(name):
    """The FIX lines are right: with them in place of the BUG lines, the specimen's part gets every point."""
    namespace = {"__name__": "submission"}
    exec(compile(fixed_source(name), f"{name} (fixed)", "exec"), namespace)
    # The sgd part is two functions, each its own test; a specimen defines one of them.
    part_checks = [c for c in checks.CHECKS if c.part == ZOO[name].part and (c.part != "sgd" or c.name in namespace)]
    hints = {c.name: checks.run_check(c.name, namespace) for c in part_checks}
    assert hints and all(h is None for h in hints.values()), hints


# ---------------------------------------------------------------------------
# docs/teachers.md names every test, hint code and specimen (so it cannot fall behind the code).
# ---------------------------------------------------------------------------


def test_the_teachers_page_names_every_test_code_and_specimen():
    page = (REPO / "docs" / "teachers.md").read_text()
    for check in checks.CHECKS:
        row = f"| `{check.name}` | {check.part} | {check.points:g} | {'hidden' if check.hidden else 'yes'} |"
        assert row in page, row
    assert f"{MAX_SCORE:g} points in all" in page
    for code in HINTS:
        assert f"| `{code}` |" in page, code
    for name, specimen in ZOO.items():
        assert f"| `{name}` | {specimen.part} |" in page, name
    loss_specimens = sum(s.part in ("svm", "softmax") for s in ZOO.values())
    assert f"{loss_specimens} of them are wrong SVM or softmax functions" in page
