"""One writer per folder: a run holds a lock on each folder it writes for as long as it runs.

Two runs writing one checkpoint folder (or one ``--out``) at once would mix
their files: the checkpoint of one beside the ``config.json`` of the other.
A check made once before training cannot see a second run that starts
later; a lock held for the whole run can. So a run does::

    with locks.hold(checkpoint_dir, out_dir):
        ...  # train, checkpoint, write the results

and a second run on the same folder gets, at once, :class:`FolderInUse`:
one line that names the folder and the holder (its pid, host and start
time), e.g. ``runs/a is in use by another run (pid 4242 on host box, since
2026-12-07 01:02:03 UTC); wait for it to finish or stop it, or use another
folder``.

How: the lock is an OS file lock (:mod:`filelock`, ``flock`` on Linux) on
the hidden file ``FOLDER/.jaxopt-course.lock``, and the holder's identity is
written beside it, ``FOLDER/.jaxopt-course.lock.owner`` (JSON). The kernel
releases the lock when its process ends, however it ends (SIGKILL, a
crash): a lock left by a killed run never blocks the next one, which takes
it and overwrites the stale owner file. One process may hold a folder more
than once (say the checkpoint folder is the ``--out`` folder): the holds are
counted, not taken twice (an ``flock`` taken twice by one process would
block itself).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .files import atomic_write_json, file_mode

if TYPE_CHECKING:  # for the annotation only: at run time filelock is imported by the one function that locks
    import filelock

LOCK_FILE = ".jaxopt-course.lock"
OWNER_FILE = ".jaxopt-course.lock.owner"

_held: dict[str, tuple[filelock.BaseFileLock, int]] = {}  # real path -> (the FileLock, how many holds)


class FolderInUse(OSError):
    """Another process holds the lock on ``folder``; ``holder`` is what it wrote about itself (or ``{}``).

    An ``OSError`` (``errno.EBUSY``): the command line reports it as one line
    and exit code 2.
    """

    def __init__(self, folder, holder: dict):
        super().__init__(errno.EBUSY, "in use by another run", str(folder))
        self.folder, self.holder = Path(folder), dict(holder)

    def __str__(self) -> str:
        return (
            f"{self.folder} is in use by another run ({describe(self.holder)}); wait for it to finish or stop "
            "it, or use another folder"
        )


def describe(holder: dict) -> str:
    """``"pid 4242 on host box, since 2026-12-07 01:02:03 UTC"`` (or what of it is known).

    Examples:
      >>> describe({"pid": 7, "host": "box"})
      'pid 7 on host box'
      >>> describe({})
      'its pid is not known yet: it is starting'
    """
    if not holder.get("pid"):
        return "its pid is not known yet: it is starting"
    words = f"pid {holder['pid']} on host {holder.get('host', '?')}"
    if isinstance(holder.get("started"), (int, float)):
        words += ", since " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder["started"]))
    return words


def holder(folder) -> dict:
    """What the current (or last) holder of ``folder`` wrote about itself: ``{"pid", "host", "started"}``, or ``{}``."""
    try:
        with open(Path(folder) / OWNER_FILE) as f:
            text = f.read(4096)
        found = json.loads(text)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _acquire(folder: Path) -> None:
    import filelock  # here: only a run that writes needs it

    key = os.path.realpath(folder)
    if key in _held:
        lock, count = _held[key]
        _held[key] = (lock, count + 1)
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(folder / LOCK_FILE, mode=file_mode())
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise FolderInUse(folder, holder(folder)) from None
    try:
        atomic_write_json(
            folder / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        )
    except BaseException:
        lock.release()
        raise
    _held[key] = (lock, 1)


def _release(folder: Path) -> None:
    key = os.path.realpath(folder)
    lock, count = _held[key]
    if count > 1:
        _held[key] = (lock, count - 1)
        return
    del _held[key]
    try:
        if holder(folder).get("pid") == os.getpid():
            os.unlink(folder / OWNER_FILE)
    except OSError:
        pass
    finally:
        lock.release()


@contextlib.contextmanager
def hold(*folders):
    """Hold the lock on each of ``folders`` (created if needed; ``None`` entries skipped) for the block.

    Raises:
      FolderInUse: another process holds one of them (none is then held).
    """
    paths = [Path(f).expanduser() for f in folders if f is not None]
    taken = []
    try:
        for path in paths:
            _acquire(path)
            taken.append(path)
        yield
    finally:
        for path in reversed(taken):
            _release(path)
