"""The documentation site builds strictly, and its API reference is complete.

``mkdocs build --strict`` fails on a broken link, a missing page or a
docstring mkdocstrings cannot parse. The build here skips executing the
notebooks (``JAXOPT_DOCS_EXECUTE=false``: tests/test_notebooks.py executes
them); ``make docs`` executes them. The tools come with the ``docs`` extra,
which ``make docs`` installs (and ``.ci/run`` runs ``make docs``), so this
test skips where they are not installed.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxopt_course"


def _public_functions(module_path: Path) -> list[str]:
    """Top-level public functions and classes defined in a module (read with ast)."""
    tree = ast.parse(module_path.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        pytest.importorskip(name, reason=f"{name} is not installed: `make docs` installs the docs extra")
    site_dir = tmp_path_factory.mktemp("site")
    env = {**os.environ, "JAXOPT_DOCS_EXECUTE": "false", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return site_dir


@pytest.mark.slow
def test_every_public_module_has_a_page_with_every_public_function(site):
    modules = sorted(p for p in PACKAGE.glob("*.py") if not p.name.startswith("_"))
    assert len(modules) >= 10
    for module_path in modules:
        page = site / "api" / f"{module_path.stem}.html"
        assert page.is_file(), f"no API page for {module_path.stem}"
        html = page.read_text()
        for name in _public_functions(module_path):
            assert f'id="jaxopt_course.{module_path.stem}.{name}"' in html, (module_path.stem, name)


@pytest.mark.slow
def test_search_finds_the_lectures_functions(site):
    index = json.loads((site / "search" / "search_index.json").read_text())
    locations = {doc["location"] for doc in index["docs"]}
    for qualified in (
        "losses.svm_loss",
        "losses.softmax_loss",
        "gradcheck.check_gradient",
        "train.fit",
        "train.sweep",
        "search.random_search",
    ):
        module, name = qualified.split(".")
        assert f"api/{module}.html#jaxopt_course.{qualified}" in locations, qualified
    assert any(loc.endswith(".numerical_gradient") for loc in locations)


@pytest.mark.slow
def test_the_notebooks_are_pages(site):
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        page = site / "notebooks" / f"{source.stem}.html"
        assert page.is_file(), source.name
        assert "## Exercises" not in page.read_text()  # rendered as a heading, not left as source text
        assert "Exercises" in page.read_text()


@pytest.mark.slow
def test_the_lab_is_in_the_site_as_it_is_in_docs(site):
    """docs/lab/ is copied into the site unchanged (tests/test_lab.py tests that page), and the home page links it."""
    for name in ("index.html", "linear-lab.js", "lab.js", "lab.css"):
        assert (site / "lab" / name).read_bytes() == (ROOT / "docs" / "lab" / name).read_bytes(), name
    assert 'href="lab/index.html"' in (site / "index.html").read_text()
