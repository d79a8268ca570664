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

The command line also keeps the preprocessed digits beside it
(:func:`cached_digits`), so that a repeated command on digits does not import
scikit-learn (about a second of a short run's start-up).
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


def _digits_key() -> str:
    """What the preprocessed digits depend on: the loader's source and the versions of the libraries it uses."""
    import hashlib
    from importlib import metadata

    source = (Path(__file__).parent / "data.py").read_bytes()
    versions = [metadata.version(name) for name in ("scikit-learn", "numpy")]
    return hashlib.sha256(source + repr(versions).encode()).hexdigest()[:16]


def cached_digits(load, environ=None):
    """``load()`` -- the digits :class:`~jaxopt_course.data.Splits` -- kept on disk, so a second run skips scikit-learn.

    The file is ``cache_dir().parent / "digits-<key>.npz"``, its key a hash of
    ``data.py``'s source and the scikit-learn and NumPy versions: a change to
    any of them makes a new file. ``JAXOPT_COURSE_NO_CACHE`` turns it off;
    a file that cannot be read or written is simply not used.

    Args:
      load: a function of no arguments returning the digits' ``Splits``
        (``lambda: data.load_data("digits")``).
      environ: the environment to read (default ``os.environ``).
    """
    import zipfile

    import numpy as np

    from .data import Split, Splits

    env = os.environ if environ is None else environ
    if env.get(NO_CACHE_ENV, "") not in ("", "0"):
        return load()
    path = cache_dir(env).parent / f"digits-{_digits_key()}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return Splits(*(Split(z[f"{s}_X"], z[f"{s}_y"]) for s in ("train", "val", "test")), dev=None,
                          class_names=tuple(str(c) for c in z["class_names"]), mean=z["mean"],
                          image_shape=tuple(int(n) for n in z["image_shape"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # not made yet (or unreadable): make it
        pass
    splits = load()
    arrays = {f"{s}_{a}": getattr(getattr(splits, s), a) for s in ("train", "val", "test") for a in ("X", "y")}
    try:
        from .files import atomic_save_npz

        atomic_save_npz(path, **arrays, class_names=np.asarray(splits.class_names), mean=splits.mean,
                        image_shape=np.asarray(splits.image_shape, np.int64))
    except OSError:
        pass
    return splits
