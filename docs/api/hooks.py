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
* ``api/jaxopt_course.md``, the package root's page, lists every name the
  root exports (``jaxopt_course.__all__``, read from ``_EXPORTS`` without
  importing the package), each linked to where it is documented.
* MathJax is served by the site itself (it must work offline): the hook
  installs the pinned npm package with ``docs/javascripts/vendor.py`` when
  ``build/vendor`` lacks it, and adds its files as ``javascripts/mathjax/``.
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
REPORT_DIR = ROOT / "build" / "report"  # the --out folder of `jaxopt-course lecture`

#: The lecture's order; modules not named here follow, alphabetically.
ORDER = (
    "model",
    "losses",
    "analytic",
    "data",
    "search",
    "toys",
    "finite_differences",
    "gradcheck",
    "complex_step",
    "sgd",
    "optimizers",
    "train",
    "hostloop",
    "divergence",
    "compare",
    "curvature",
    "distributed",
    "checkpoint",
    "files",
    "cache",
    "plots",
    "cli",
)


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
        {f"jaxopt_course.{m}": f"api/{m}.md"} for m in public_modules()
    ]


def _fill_nav(nav: list) -> bool:
    """Replace the placeholder entry ``API reference: api/index.md`` with every module's page."""
    for i, item in enumerate(nav):
        if isinstance(item, dict) and "API reference" in item:
            nav[i] = {"API reference": _api_nav()}
            return True
    return False


def _load(name: str, path: Path):
    """A helper script of this repository as a module (it is not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_startup(command, dirty):
    """The notebooks' kernels (mkdocs-jupyter executes them) start like ``make notebooks``'s."""
    os.environ.update(_load("notebooks_execute", ROOT / "notebooks" / "execute.py").kernel_environment())


def _vendor():
    return _load("docs_vendor", ROOT / "docs" / "javascripts" / "vendor.py")


def on_config(config):
    from mkdocs.exceptions import PluginError

    try:
        _vendor().ensure_mathjax()
    except RuntimeError as err:
        raise PluginError(f"the site serves MathJax itself: {err}") from err
    if config.nav is not None and not _fill_nav(config.nav):
        log.warning("mkdocs.yml's nav has no 'API reference' entry for the module pages")
    if (REPORT_DIR / "lecture" / "report.md").is_file() and config.nav is not None:
        config.nav.insert(2, {"Lecture report": "report/lecture/report.md"})
    return config


def _index_page() -> str:
    lines = [
        "# API reference",
        "",
        "One page per public module, generated from the docstrings (Google style) by",
        "[mkdocstrings](https://mkdocstrings.github.io/): every public function and class",
        "with its signature. The package root re-exports the names most scripts need:",
        "`from jaxopt_course import svm_loss, numerical_gradient, fit, sweep`.",
        "",
        "| module | what it holds |",
        "|--------|---------------|",
    ]
    for m in public_modules():
        lines.append(f"| [`jaxopt_course.{m}`]({m}.md) | {first_line(m).replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _module_page(module: str) -> str:
    return f"# `jaxopt_course.{module}`\n\n::: jaxopt_course.{module}\n"


def root_exports(package: Path = PACKAGE) -> dict[str, tuple[str, ...]]:
    """``_EXPORTS`` of the package root, ``{module: names}``, read with ast (importing it would load JAX)."""
    tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"{package / '__init__.py'} has no _EXPORTS dict")


def _top_level(module: str) -> tuple[dict, dict]:
    """A module's top-level definitions ``{name: docstring's first line}`` and imports ``{name: module}``."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    defined, imported = {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node) or ""
            defined[node.name] = doc.strip().splitlines()[0] if doc.strip() else ""
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    defined[target.id] = ""
        elif isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = node.module
    return defined, imported


def documented_at(module: str, name: str) -> tuple[str, str]:
    """``(module, first docstring line)`` of the module that defines ``name`` (following re-exports)."""
    for _ in range(5):
        defined, imported = _top_level(module)
        if name in defined:
            return module, defined[name]
        if name not in imported:
            break
        module = imported[name]
    raise ValueError(f"jaxopt_course.{module} neither defines nor imports {name!r}")


def _root_page() -> str:
    lines = [
        "# `jaxopt_course`",
        "",
        "::: jaxopt_course",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
        "## The names of the package root",
        "",
        "`from jaxopt_course import NAME` for each of these (`jaxopt_course.__all__`); the module is",
        "imported on first use. Each links to its documentation.",
        "",
        "| name | from | what it is |",
        "|------|------|------------|",
    ]
    for module, names in root_exports().items():
        for name in names:
            where, summary = documented_at(module, name)
            lines.append(
                f"| [`{name}`][jaxopt_course.{where}.{name}] | `jaxopt_course.{module}` | {summary.replace('|', '/')} |"
            )
    return "\n".join(lines) + "\n"


def on_files(files, config):
    files.append(File.generated(config, "api/index.md", content=_index_page()))
    files.append(File.generated(config, "api/jaxopt_course.md", content=_root_page()))
    for module in public_modules():
        files.append(File.generated(config, f"api/{module}.md", content=_module_page(module)))
    vendor = _vendor()
    for dest, path in vendor.site_files():
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    if (REPORT_DIR / "lecture" / "report.md").is_file():
        for path in sorted(REPORT_DIR.rglob("*")):
            if path.is_file() and path.suffix in (".png", ".svg") or path.name == "report.md":
                rel = path.relative_to(REPORT_DIR).as_posix()
                files.append(File.generated(config, f"report/{rel}", abs_src_path=str(path)))
    return files
