"""Words that match the numbers (issue 20, points 7-9): licence, citation, GPU extra, the docs' claims, make docs.

* LICENSE is the MIT licence that pyproject.toml declares; CITATION.cff is
  Citation File Format 1.2.0 and agrees with pyproject.toml;
* the ``cuda`` extra installs JAX's CUDA build, and the install notes say
  that no GPU figure has been measured;
* every timing in README.md and docs/*.md carries the load it was measured
  at (docs/compare.md is checked by its owner; docs/errors.md is generated);
* every CS231n figure says what it is: a run the notes report, or the
  assignment's target after tuning;
* ``make docs`` reruns the lecture only when the code that computes its
  report changed (a real ``make`` over a copy of the Makefile).

The gradient check's verdicts are in tests/test_gradcheck.py, the offline
site in tests/test_site_offline.py, the kernels in tests/test_notebooks.py.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


# ---------------------------------------------------------------------------
# LICENSE, CITATION.cff, the cuda extra.
# ---------------------------------------------------------------------------


def test_license_is_the_mit_licence_pyproject_declares():
    assert PYPROJECT["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"Copyright \(c\) \d{4} \S", text)
    # The licence's three operative sentences, word for word.
    for sentence in (
        "Permission is hereby granted, free of charge, to any person obtaining a copy",
        "The above copyright notice and this permission notice shall be included in all",
        'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR',
    ):
        assert sentence in text, sentence


def _citation() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads CITATION.cff")
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_cff_has_what_cff_1_2_0_requires_and_agrees_with_pyproject():
    cff = _citation()
    # CFF 1.2.0's required keys: cff-version, message, title, authors (each a person or an entity).
    assert cff["cff-version"] == "1.2.0"
    assert isinstance(cff["message"], str) and cff["message"].strip()
    assert isinstance(cff["title"], str) and cff["title"].strip()
    assert cff["authors"] and all(("family-names" in a) or ("name" in a) for a in cff["authors"])
    assert cff["type"] in ("software", "dataset")
    assert str(cff["version"]) == PYPROJECT["version"]
    assert cff["license"] == PYPROJECT["license"]
    assert isinstance(cff["date-released"], datetime.date)
    for ref in cff.get("references", []):
        assert ref["type"] and ref["title"] and ref["authors"]


def test_citation_cff_validates_against_the_official_schema_where_cffconvert_is_installed():
    """cffconvert (not a dependency: it pins an old jsonschema) ships the CFF 1.2.0 JSON schema."""
    try:
        import cffconvert  # noqa: F401
    except ImportError:
        pytest.skip(
            "cffconvert is not installed (`pip install cffconvert` in a separate venv, then "
            "`cffconvert --validate -i CITATION.cff`)"
        )
    import json

    import jsonschema

    schema = json.loads((Path(cffconvert.__file__).parent / "schemas" / "1.2.0" / "schema.json").read_text())
    data = json.loads(json.dumps(_citation(), default=str))
    jsonschema.validate(data, schema)


def test_the_cuda_extra_installs_jax_for_cuda_at_the_projects_jax_floor():
    extras = PYPROJECT["optional-dependencies"]
    jax_floor = next(d for d in PYPROJECT["dependencies"] if re.match(r"jax\b(?!lib)", d)).split(">=")[1]
    (cuda,) = extras["cuda"]
    assert re.fullmatch(r"jax\[cuda1[23]\]>=" + re.escape(jax_floor), cuda), cuda
    # Install notes in both places, each saying honestly that no GPU figure exists yet.
    readme = (ROOT / "README.md").read_text()
    index = (ROOT / "docs" / "index.md").read_text()
    for text in (readme, index):
        assert "'.[cuda]'" in text
        assert re.search(r"No\s+figure[^.]*?measured\s+on\s+a\s+GPU\s+yet", text), "the GPU note must say so"


# ---------------------------------------------------------------------------
# The docs' claims.
# ---------------------------------------------------------------------------

#: A timing: a number and a unit of time (``7 s``, ``43 ms``, ``1 min 46 s``, ``4.5 minutes``).
TIMING = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|us|µs|s|min|minutes|seconds|hours?)(?![\w/])")
_LOAD = re.compile(r"\bload|\bidle\b", re.IGNORECASE)
CHECKED_PAGES = ["README.md"] + sorted(
    f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md") if p.name not in ("compare.md", "errors.md")
)


def timings_without_load(text: str) -> list[str]:
    """Paragraphs and tables with a timing but no load, neither in them nor in their section's text.

    A load stated in a section's prose (``load average 2 to 8``, ``2 idle
    cores``, ``load not recorded``) covers that section's tables and its
    subsections; code blocks are commands, not measurements.
    """
    offenders, loads_by_level = [], {0: False}
    in_code = False
    for block in re.split(r"\n\s*\n", text):
        stripped = block.lstrip()
        if stripped.startswith("```") or in_code:
            in_code = (stripped.count("```") % 2 == 1) != in_code
            continue
        heading = re.match(r"(#+)\s", stripped)
        if heading:
            level = len(heading.group(1))
            loads_by_level = {k: v for k, v in loads_by_level.items() if k < level}
            loads_by_level[level] = False
        level = max(loads_by_level)
        lines = block.strip().splitlines()
        if lines and all(line.lstrip().startswith("|") for line in lines):  # a table: row by row
            offenders += [
                row.strip()[:200]
                for row in lines
                if TIMING.search(row) and not _LOAD.search(row) and not any(loads_by_level.values())
            ]
            continue
        if _LOAD.search(block):
            loads_by_level[level] = True
        if TIMING.search(block) and not any(loads_by_level.values()):
            offenders.append(block.strip()[:200])
    return offenders


def test_the_timing_rule_by_hand():
    assert timings_without_load("It took 7 s.") == ["It took 7 s."]
    assert timings_without_load("It took 7 s at load 0.3.") == []
    assert timings_without_load("## A\n\nOn 2 idle cores.\n\n### B\n\n| x | 3 ms |") == []
    assert timings_without_load("## A\n\nOn 2 idle cores.\n\n## B\n\n| x | 3 ms |") == ["| x | 3 ms |"]
    assert timings_without_load("```\nmake test   # 7 s\n```\n\nNo timing here.") == []
    assert timings_without_load("Split 20 seeds, 1000 steps of 64.") == []
    # In a table each row carries its own load, unless the section's prose gives it.
    table = "| a | 7 s (load 0.3) |\n| b | 10 s |"
    assert timings_without_load(table) == ["| b | 10 s |"]
    assert timings_without_load("At load 2:\n\n" + table) == []


@pytest.mark.parametrize("page", CHECKED_PAGES)
def test_every_timing_carries_its_load(page):
    offenders = timings_without_load((ROOT / page).read_text())
    assert not offenders, f"{page}: timings without the load they were measured at:\n" + "\n---\n".join(offenders)


def test_every_cs231n_figure_says_whether_it_is_a_run_or_a_target():
    readme = (ROOT / "README.md").read_text()
    quoted = re.findall(r"\(CS231n[^)]*\d %[^)]*\)", readme)
    assert len(quoted) >= 4, quoted
    for q in quoted:
        assert re.search(r"\brun\b|\btarget\b", q), f"README: {q} does not say whether it is a run or a target"
    # docs/results.md: the CS231n column of the CIFAR-10 table.
    results = (ROOT / "docs" / "results.md").read_text()
    table = results.split("| what | result | CS231n | command |", 1)[1].split("\n\n", 1)[0]
    cells = [row.split(" | ")[2].strip() for row in table.strip().splitlines()[1:] if row.count(" | ") >= 3]
    figures = [c for c in cells if "%" in c]
    assert len(figures) >= 8, figures
    for cell in figures:
        assert re.search(r"\(a run\)|\(the target", cell), f"docs/results.md: CS231n figure {cell!r} says neither"
    # The SVM recipe's 39 % is a target after tuning (a run of the recipe itself gives less).
    assert "about 39 % (the target after tuning)" in results
    assert "CS231n's target after tuning: val about 39 %" in readme


# ---------------------------------------------------------------------------
# make docs reuses the lecture report.
# ---------------------------------------------------------------------------


def _make_tree(tmp_path: Path) -> Path:
    """A copy of the Makefile beside stand-ins for what its report rule reads, all older than the report."""
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    tree = tmp_path / "tree"
    (tree / "jaxopt_course" / "experiments").mkdir(parents=True)
    (tree / "experiments").mkdir()
    shutil.copy(ROOT / "Makefile", tree / "Makefile")
    for rel in (
        "pyproject.toml",
        "jaxopt_course/model.py",
        "jaxopt_course/experiments/sweep.py",
        "experiments/sweep.py",
        ".venv/.installed",
        "build/report/lecture/report.md",
    ):
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    base = 1_700_000_000
    for i, rel in enumerate(
        (
            "pyproject.toml",
            "jaxopt_course/model.py",
            "jaxopt_course/experiments/sweep.py",
            "experiments/sweep.py",
            ".venv/.installed",
            "build/report/lecture/report.md",
        )
    ):
        os.utime(tree / rel, (base + i, base + i))  # the report is the newest
    return tree


def _would_run_the_lecture(tree: Path) -> bool:
    proc = subprocess.run(
        ["make", "-n", "build/report/lecture/report.md"], cwd=tree, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return "jaxopt-course lecture" in proc.stdout


def test_make_docs_reuses_the_report_until_the_code_behind_it_changes(tmp_path):
    tree = _make_tree(tmp_path)
    assert not _would_run_the_lecture(tree), "an up-to-date report must be reused"
    # make docs itself names the report as a prerequisite, and vendors MathJax before mkdocs.
    dry = subprocess.run(["make", "-n", "docs"], cwd=tree, capture_output=True, text=True, timeout=60).stdout
    assert "jaxopt-course lecture" not in dry and "vendor.py" in dry and "mkdocs build" in dry
    assert dry.index("vendor.py") < dry.index("mkdocs build")
    for changed in (
        "jaxopt_course/model.py",
        "jaxopt_course/experiments/sweep.py",
        "experiments/sweep.py",
        "pyproject.toml",
    ):
        tree = _make_tree(tmp_path / changed.replace("/", "_"))
        os.utime(tree / changed, (1_800_000_000, 1_800_000_000))  # edited after the report
        assert _would_run_the_lecture(tree), f"a change to {changed} must rerun the lecture"
