"""JAX's persistent compilation cache, on by default for the command line and the experiments.

Most of the time of a short run (``jaxopt-course train`` on digits) is JAX
compiling the training scan. With the persistent cache a second run of the
same program reads the compiled code from disk instead:

* the folder is ``$XDG_CACHE_HOME/jaxopt-course/jax`` (``~/.cache/...``
  when ``XDG_CACHE_HOME`` is unset), or ``$JAX_COMPILATION_CACHE_DIR`` when
  that is set;
* ``JAXOPT_COURSE_NO_CACHE=1`` turns it off.

It is switched on through JAX's own environment variables before JAX is
imported, so a process that imported JAX already (a notebook, a test run,
your own script) keeps its own settings: library code never changes JAX's
global configuration. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Set to anything but ``""``/``"0"`` to turn the cache off.
NO_CACHE_ENV = "JAXOPT_COURSE_NO_CACHE"


def cache_dir(environ=None) -> Path:
    """The cache folder: ``$XDG_CACHE_HOME/jaxopt-course/jax``, else ``~/.cache/jaxopt-course/jax``.

    Examples:
      >>> str(cache_dir({"XDG_CACHE_HOME": "/tmp/c"}))
      '/tmp/c/jaxopt-course/jax'
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaxopt-course" / "jax"


def enable_compilation_cache(environ=None) -> Path | None:
    """Turn JAX's persistent compilation cache on for this process, if JAX is not imported yet.

    Sets ``JAX_COMPILATION_CACHE_DIR`` (unless already set) and caches every
    compiled program however quick its compilation
    (``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``, unless already set).

    Args:
      environ: the environment to read and update (default ``os.environ``).

    Returns:
      The cache folder, or ``None`` when ``JAXOPT_COURSE_NO_CACHE`` is set
      or JAX was imported before (its configuration is then left alone).
    """
    env = os.environ if environ is None else environ
    if env.get(NO_CACHE_ENV, "") not in ("", "0") or "jax" in sys.modules:
        return None
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_dir(env)))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return Path(env["JAX_COMPILATION_CACHE_DIR"])
