"""Execute the lecture notebooks: ``python notebooks/execute.py [--out build/notebooks] [NAME ...]``.

Each notebook is a jupytext percent-format ``.py`` file (kept in git without
outputs). This script converts it with jupytext, runs it top to bottom in a
real Jupyter kernel with nbclient, and writes the executed ``.ipynb`` (with
its figures) under ``--out``. It stops at the first notebook that fails,
printing the failing cell's error, and exits 1.

The data set is chosen by ``$JAXOPT_COURSE_DATA`` (``digits``, the default,
or ``cifar10`` with ``$JAXOPT_COURSE_CIFAR10`` naming the folder that holds
``cifar-10-batches-py/``); it is passed through to the kernel.

The kernel runs the notebook and nothing else: it starts with an empty
IPython profile (not ``~/.ipython/profile_default/startup/*.py``, which
would run before the first cell and could change the numbers), and its
sockets are encrypted with CurveZMQ keys the kernel manager provisions, so
ipykernel has no "running over TCP without encryption" warning to print.
``docs/api/hooks.py`` starts mkdocs-jupyter's kernels the same way.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The kernels' traitlets configuration: the kernel manager gives each kernel CurveZMQ keys, so this process
#: and the kernel talk over encrypted sockets ("auto": where pyzmq has CurveZMQ and the kernelspec declares
#: it, as ipykernel 7's does; elsewhere plain TCP, as before).
KERNEL_CONFIG = {"KernelManager": {"transport_encryption": "auto"}}


def notebook_sources(folder: Path = HERE) -> list[Path]:
    """The notebooks, in the lecture's order: ``NN_*.py`` files of ``folder``."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.py"))


def _private_folder(prefix: str) -> Path:
    """A new empty folder, readable by this user only, removed when this process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def clean_ipython_dir() -> Path:
    """An empty ``IPYTHONDIR``: the kernel's profile has no startup files, config or history of the user's."""
    return _private_folder("jaxopt-course-ipython-")


def jupyter_config_dir() -> Path:
    """A folder holding ``jupyter_nbconvert_config.json`` = :data:`KERNEL_CONFIG`, for ``$JUPYTER_CONFIG_PATH``.

    mkdocs-jupyter builds its kernels from nbconvert's configuration files,
    so this is how the site's kernels get the same encrypted sockets.
    """
    folder = _private_folder("jaxopt-course-jupyter-config-")
    (folder / "jupyter_nbconvert_config.json").write_text(json.dumps(KERNEL_CONFIG), encoding="utf-8")
    return folder


def kernel_environment(environ=None) -> dict:
    """The environment the notebooks' kernel starts with.

    * ``IPYTHONDIR`` is a new empty folder (:func:`clean_ipython_dir`): the
      user's IPython profile -- its ``startup/*.py`` files above all -- does
      not run in the kernel;
    * ``JUPYTER_CONFIG_PATH`` starts with :func:`jupyter_config_dir`, whose
      nbconvert configuration encrypts the kernels' sockets (it matters to
      mkdocs-jupyter; :func:`execute` passes :data:`KERNEL_CONFIG` itself);
    * ``MPLBACKEND`` is the kernel's inline backend, so figures become outputs
      (a caller's ``MPLBACKEND=Agg``, usual in a headless shell, would send
      them nowhere);
    * JAX's persistent compilation cache is on, in the folder the command line
      uses (:func:`jaxopt_course.cache.cache_dir`), unless
      ``$JAXOPT_COURSE_NO_CACHE`` is set: a second run of the notebooks reads
      the compiled programs instead of compiling them again (about 70 s -> 25 s
      for notebooks 03 and 04 on a loaded 2-core machine).
    """
    from jaxopt_course import cache

    env = dict(os.environ if environ is None else environ)
    env["IPYTHONDIR"] = str(clean_ipython_dir())
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
        [str(jupyter_config_dir())] + ([env["JUPYTER_CONFIG_PATH"]] if env.get("JUPYTER_CONFIG_PATH") else [])
    )
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if env.get(cache.NO_CACHE_ENV, "") in ("", "0"):
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache.cache_dir(env)))
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return env


def execute(source: Path, out_dir: Path, *, timeout: int = 600, kernel_name: str = "python3") -> Path:
    """Run one jupytext notebook and write the executed copy ``out_dir/<name>.ipynb``.

    Raises:
      nbclient.exceptions.CellExecutionError: a cell raised (the message holds
        the cell and its traceback).
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    notebook = jupytext.read(source)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        config=Config(KERNEL_CONFIG),
        resources={"metadata": {"path": str(source.parent)}},
    )
    client.execute(env=kernel_environment())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (source.stem + ".ipynb")
    nbformat.write(notebook, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook stems to run (default: all)")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE.parent / "build" / "notebooks",
        help="where the executed .ipynb copies go (default: build/notebooks)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    from nbclient.exceptions import CellExecutionError

    sources = notebook_sources()
    if args.names:
        sources = [s for s in sources if s.stem in args.names or s.name in args.names]
        if not sources:
            parser.error(f"no notebook named {args.names}")
    for source in sources:
        start = time.perf_counter()
        try:
            target = execute(source, args.out, timeout=args.timeout)
        except CellExecutionError as err:
            print(f"FAILED {source.name}:\n{err}", file=sys.stderr)
            return 1
        print(f"ran {source.name} in {time.perf_counter() - start:.1f} s -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
