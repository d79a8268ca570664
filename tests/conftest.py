"""Shared test set-up.

* ``jax_numpy_rank_promotion="raise"`` catches ``(n,)`` vs ``(n, 1)`` bugs.
* ``cifar10_root``: a folder holding the official ``cifar-10-batches-py``.
  First ``$JAXOPT_COURSE_CIFAR10`` (a user's own copy: the folder holding
  ``cifar-10-batches-py/``, or that folder itself); else the JPEG copy in
  ``../shared/data/cifar10`` next to the repository, rebuilt once with its
  ``to_batches.py`` into a cache folder (``$JAXOPT_COURSE_CACHE`` or
  ``.cache/`` in the repo). Tests that use it skip cleanly when neither is
  there (a user's clone without CIFAR-10).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

REPO = Path(__file__).resolve().parents[1]
SHARED_CIFAR = REPO.parent / "shared" / "data" / "cifar10"
CIFAR10_FOLDER = "cifar-10-batches-py"  # the official archive's folder (data.CIFAR10_FOLDER)


def cifar10_cache_dir() -> Path:
    return Path(os.environ.get("JAXOPT_COURSE_CACHE", REPO / ".cache")) / "cifar10"


def build_cifar10() -> Path | None:
    """Write ``cifar-10-batches-py`` from the shared JPEG copy (once); None if absent."""
    root = cifar10_cache_dir()
    if (root / "cifar-10-batches-py" / "test_batch").is_file():
        return root
    script = SHARED_CIFAR / "to_batches.py"
    if not script.is_file():
        return None
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".cifar10-build.", dir=root.parent))
    subprocess.run([sys.executable, str(script), str(tmp)], check=True, stdout=subprocess.DEVNULL)
    root.mkdir(parents=True, exist_ok=True)
    os.replace(tmp / "cifar-10-batches-py", root / "cifar-10-batches-py")
    tmp.rmdir()
    return root


def interrupt_after_first_checkpoint(args, ckpt, *, start_timeout=240, exit_timeout=120):
    """Run ``jaxopt-course ARGS``, send SIGINT once its first checkpoint exists; ``(returncode, stderr)``.

    The checkpoint file appearing means the first chunk is done: training is under way.
    """
    import signal
    import time

    from jaxopt_course.checkpoint import CHECKPOINT_FILE

    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxopt_course", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + start_timeout
        while not (Path(ckpt) / CHECKPOINT_FILE).exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=exit_timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def user_cifar10(value: str, holder: Path) -> Path | None:
    """The folder holding ``cifar-10-batches-py`` for ``$JAXOPT_COURSE_CIFAR10 = value``; None if it holds none.

    ``value`` may name the folder that holds ``cifar-10-batches-py/`` or that folder itself
    (under any name: then ``holder`` gets a link to it under the official name).
    """
    given = Path(value).expanduser()
    if (given / CIFAR10_FOLDER / "test_batch").is_file():
        return given
    if not (given / "test_batch").is_file():
        return None
    if given.name == CIFAR10_FOLDER:
        return given.parent
    holder.mkdir(parents=True, exist_ok=True)
    (holder / CIFAR10_FOLDER).symlink_to(given.resolve(), target_is_directory=True)
    return holder


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory):
    value = os.environ.get("JAXOPT_COURSE_CIFAR10")
    if value:
        root = user_cifar10(value, tmp_path_factory.mktemp("cifar10"))
        if root is None:
            pytest.skip(f"$JAXOPT_COURSE_CIFAR10={value} holds no {CIFAR10_FOLDER} (no test_batch there)")
        return root
    root = build_cifar10()
    if root is None:
        pytest.skip(
            "no CIFAR-10: set $JAXOPT_COURSE_CIFAR10 to a folder holding cifar-10-batches-py/ "
            f"(the copy in {SHARED_CIFAR} is absent too)"
        )
    return root


@pytest.fixture(scope="session")
def digits():
    from jaxopt_course import load_digits

    return load_digits()
