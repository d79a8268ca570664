"""Execute the lecture notebooks: ``python notebooks/execute.py [--out build/notebooks] [NAME ...]``.

Each notebook is a jupytext percent-format ``.py`` file (kept in git without
outputs). This script converts it with jupytext, runs it top to bottom in a
real Jupyter kernel with nbclient, and writes the executed ``.ipynb`` (with
its figures) under ``--out``. It stops at the first notebook that fails,
printing the failing cell's error, and exits 1.

The data set is chosen by ``$JAXOPT_COURSE_DATA`` (``digits``, the default,
or ``cifar10`` with ``$JAXOPT_COURSE_CIFAR10`` naming the folder that holds
``cifar-10-batches-py/``); it is passed through to the kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def notebook_sources(folder: Path = HERE) -> list[Path]:
    """The notebooks, in the lecture's order: ``NN_*.py`` files of ``folder``."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.py"))


def kernel_environment(environ=None) -> dict:
    """The environment the notebooks' kernel starts with.

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

    notebook = jupytext.read(source)
    client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(source.parent)}})
    client.execute(env=kernel_environment())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (source.stem + ".ipynb")
    nbformat.write(notebook, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook stems to run (default: all)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "notebooks",
                        help="where the executed .ipynb copies go (default: build/notebooks)")
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
