"""MkDocs hooks: one API reference page per public module, and the lecture report.

* Every ``jaxopt_course/<name>.py`` whose name does not start with ``_`` gets
  a generated page ``api/<name>.md`` holding ``::: jaxopt_course.<name>``
  (mkdocstrings renders every public function, class and constant with its
  signature and docstring), listed under "API reference" in the lecture's
  order. A new module appears in the site without editing anything; a module
  that fails to render fails the strict build.
* ``api/index.md`` lists the modules with the first line of their docstrings.
* When ``build/report/lecture/report.md`` exists (``make docs`` writes it
  with ``jaxopt-course lecture --out build/report``), it becomes the page
  "Lecture report", with its figures (``build/report/<experiment>/*.png``,
  which the report links as ``../<experiment>/<figure>.png``).
"""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.api_pages")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "jaxopt_course"
REPORT_DIR = ROOT / "build" / "report"   # the --out folder of `jaxopt-course lecture`

#: The lecture's order; modules not named here follow, alphabetically.
ORDER = ("model", "losses", "analytic", "data", "search", "toys", "finite_differences", "gradcheck",
         "complex_step", "sgd", "train", "compare", "curvature", "distributed", "checkpoint", "files",
         "cache", "plots", "cli")


def public_modules(package: Path = PACKAGE) -> list[str]:
    """The package's public modules (``<name>.py``, no leading underscore), in the lecture's order."""
    names = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    known = [n for n in ORDER if n in names]
    return known + sorted(names - set(known))


def first_line(module: str) -> str:
    """The first line of a module's docstring (read without importing it)."""
    doc = ast.get_docstring(ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8")))
    return (doc or "").strip().splitlines()[0] if doc else ""


def _api_nav() -> list:
    return [{"Overview": "api/index.md"}, {"jaxopt_course (the package root)": "api/jaxopt_course.md"}] + [
        {f"jaxopt_course.{m}": f"api/{m}.md"} for m in public_modules()]


def _fill_nav(nav: list) -> bool:
    """Replace the placeholder entry ``API reference: api/index.md`` with every module's page."""
    for i, item in enumerate(nav):
        if isinstance(item, dict) and "API reference" in item:
            nav[i] = {"API reference": _api_nav()}
            return True
    return False


def on_startup(command, dirty):
    """The notebooks' kernels (mkdocs-jupyter executes them) start like ``make notebooks``'s."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("notebooks_execute", ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ.update(module.kernel_environment())


def on_config(config):
    if config.nav is not None and not _fill_nav(config.nav):
        log.warning("mkdocs.yml's nav has no 'API reference' entry for the module pages")
    if (REPORT_DIR / "lecture" / "report.md").is_file() and config.nav is not None:
        config.nav.insert(2, {"Lecture report": "report/lecture/report.md"})
    return config


def _index_page() -> str:
    lines = ["# API reference", "",
             "One page per public module, generated from the docstrings (Google style) by",
             "[mkdocstrings](https://mkdocstrings.github.io/): every public function and class",
             "with its signature. The package root re-exports the names most scripts need:",
             "`from jaxopt_course import svm_loss, numerical_gradient, fit, sweep`.", "",
             "| module | what it holds |", "|--------|---------------|"]
    for m in public_modules():
        lines.append(f"| [`jaxopt_course.{m}`]({m}.md) | {first_line(m).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _module_page(module: str) -> str:
    return f"# `jaxopt_course.{module}`\n\n::: jaxopt_course.{module}\n"


def _root_page() -> str:
    return ("# `jaxopt_course`\n\n"
            "::: jaxopt_course\n"
            "    options:\n"
            "      members: false\n"
            "      show_root_heading: false\n")


def on_files(files, config):
    files.append(File.generated(config, "api/index.md", content=_index_page()))
    files.append(File.generated(config, "api/jaxopt_course.md", content=_root_page()))
    for module in public_modules():
        files.append(File.generated(config, f"api/{module}.md", content=_module_page(module)))
    if (REPORT_DIR / "lecture" / "report.md").is_file():
        for path in sorted(REPORT_DIR.rglob("*")):
            if path.is_file() and path.suffix in (".png", ".svg") or path.name == "report.md":
                rel = path.relative_to(REPORT_DIR).as_posix()
                files.append(File.generated(config, f"report/{rel}", abs_src_path=str(path)))
    return files
