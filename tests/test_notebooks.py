"""The lecture notebooks (notebooks/NN_*.py) run end to end in a real Jupyter kernel.

Each notebook is converted by jupytext and executed by nbclient exactly as
``make notebooks`` does (``notebooks/execute.py``), on digits. A failing
cell -- an exercise's check included -- fails the test with its traceback.
jupytext, nbclient and ipykernel are in the ``test`` extra, so these tests
never skip.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _load_execute_module():
    spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_module = _load_execute_module()
SOURCES = execute_module.notebook_sources(NOTEBOOKS)


def test_there_are_four_notebooks_in_the_lectures_order():
    names = [p.stem for p in SOURCES]
    assert len(names) >= 4, names
    assert names[:4] == [
        "01_scores_and_losses",
        "02_search_without_gradients",
        "03_numerical_vs_analytic_gradients",
        "04_gradient_descent_and_sgd",
    ]


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_uses_only_public_names(source):
    """No ``_private`` name of the package is imported or reached through an attribute."""
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxopt_course"):
            assert not any(part.startswith("_") for part in node.module.split(".")), node.module
            assert not any(alias.name.startswith("_") for alias in node.names), ast.dump(node)
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("jaxopt_course._") for a in node.names)
    assert "jaxopt_course._" not in source.read_text()


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_is_a_percent_script_with_exercises(source):
    import jupytext

    notebook = jupytext.read(source)
    assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "## Exercises" in markdown
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") for c in code), "a notebook in git must carry no outputs"
    after_exercises = notebook.cells[
        [i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown" and "## Exercises" in c.source][0] :
    ]
    # Every exercise has a check: an assert against the library after the section starts.
    assert any("assert" in c.source for c in after_exercises if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes_on_digits(source, tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setenv("JAXOPT_COURSE_DATA", "digits")  # the kernel inherits the environment
    target = execute_module.execute(source, tmp_path, timeout=300)
    executed = nbformat.read(target, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell ran"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "every notebook draws at least one figure"


# ---------------------------------------------------------------------------
# The kernels: a clean IPython profile, encrypted sockets (issues 20 and 24).
# ---------------------------------------------------------------------------

_PROBE = """# %%
import os
print("IPYTHONDIR=" + os.environ.get("IPYTHONDIR", ""))
print("startup ran:", "STARTUP_RAN" in globals())
"""


def _hostile_home(tmp_path: Path) -> Path:
    """A HOME whose IPython profile has a startup file that would change the kernel's state."""
    home = tmp_path / "home"
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    marker = tmp_path / "startup-ran"
    (startup / "00-hostile.py").write_text(f"STARTUP_RAN = True\nopen({str(marker)!r}, 'w').write('ran')\n")
    return home


@pytest.mark.slow
def test_a_kernel_runs_no_startup_file_of_the_users_and_warns_nothing(tmp_path, monkeypatch, capfd):
    import nbformat

    home = _hostile_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("IPYTHONDIR", raising=False)  # so IPython would take HOME/.ipython
    source = tmp_path / "probe.py"
    source.write_text(_PROBE)
    target = execute_module.execute(source, tmp_path / "out", timeout=120)
    text = "".join(o.get("text", "") for c in nbformat.read(target, as_version=4).cells for o in c.get("outputs", []))
    assert "startup ran: False" in text, text
    assert not (tmp_path / "startup-ran").exists()
    ipython_dir = text.split("IPYTHONDIR=", 1)[1].splitlines()[0]
    assert ipython_dir and not ipython_dir.startswith(str(home)), ipython_dir
    err = capfd.readouterr().err  # the kernel writes its log to the stderr it inherits
    assert "without encryption" not in err and "WARNING" not in err, err


def test_the_same_startup_file_does_run_in_a_plain_kernel(tmp_path):
    """The check above can fail: without execute.py's environment, IPython runs the startup file."""
    import subprocess
    import sys

    home = _hostile_home(tmp_path)
    env = {k: v for k, v in __import__("os").environ.items() if k != "IPYTHONDIR"}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "-c", "print('startup ran:', 'STARTUP_RAN' in globals())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "startup ran: True" in proc.stdout, proc.stdout + proc.stderr
    clean = {**env, "IPYTHONDIR": str(execute_module.clean_ipython_dir())}
    proc = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "-c", "print('startup ran:', 'STARTUP_RAN' in globals())"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "startup ran: False" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_sites_kernels_get_the_same_clean_start(tmp_path):
    """mkdocs-jupyter builds its kernels from nbconvert's configuration: run its converter as the hook does."""
    import subprocess
    import sys

    pytest.importorskip("mkdocs_jupyter", reason="mkdocs-jupyter is not installed: `make docs` installs it")
    home = _hostile_home(tmp_path)
    source = tmp_path / "probe.py"
    source.write_text(_PROBE)
    script = (
        "import importlib.util, os, sys\n"
        f"spec = importlib.util.spec_from_file_location('ex', {str(NOTEBOOKS / 'execute.py')!r})\n"
        "ex = importlib.util.module_from_spec(spec); spec.loader.exec_module(ex)\n"
        "os.environ.update(ex.kernel_environment())\n"
        "from mkdocs_jupyter.nbconvert2 import nb2html\n"
        f"html = nb2html({str(source)!r}, execute=True)\n"
        "print('RAN' if 'startup ran: True' in html else ('CLEAN' if 'startup ran: False' in html else 'NONE'))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "IPYTHONDIR"}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "CLEAN", proc.stdout + proc.stderr
    assert "without encryption" not in proc.stderr, proc.stderr
    assert not (tmp_path / "startup-ran").exists()
