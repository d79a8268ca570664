"""Ctrl-C and ``kill``, from the first line: SIGINT and SIGTERM handled at safe points only.

Python's own Ctrl-C handler raises ``KeyboardInterrupt`` wherever the main
thread happens to be. In a JAX program that is often inside a callback
called from C++: JAX's garbage-collection callback prints "Exception ignored
in _xla_gc_callback" and the interrupt is *lost* (the run goes on and exits
0), and an exception thrown through nanobind during start-up can abort the
process (SIGABRT) or crash it (SIGSEGV). SIGTERM -- what ``kill``, systemd,
docker and Slurm send -- has no Python handler at all: the process just
dies, saving nothing.

So :func:`install`, called at the very start of a program (before JAX is
imported), replaces both handlers with one that never raises:

* **Outside training** (importing JAX, loading data, compiling, writing
  results), a signal ends the process at once with one line on stderr,
  ``jaxopt-course: interrupted (SIGINT)``, and exit code ``128 + signal``:
  **130** for SIGINT, **143** for SIGTERM -- the codes a shell reports for a
  process killed by that signal, so scripts and schedulers read them as
  usual. No traceback, nothing half-written: every file this package writes
  is written to a temporary and renamed (the next writer removes a killed
  writer's temporary), and locks are released by the kernel.
* **During training**, inside ``with deferred():``, a signal is only
  recorded. The training loop calls :func:`check` at each chunk boundary (as
  ``fit``'s ``on_chunk`` hook, say), which raises :class:`Interrupted` -- a
  ``KeyboardInterrupt`` -- there, so the existing Ctrl-C path (the state at
  the last chunk boundary, a checkpoint, the resume line) runs for SIGTERM
  exactly as for SIGINT. A *second* signal while the first waits ends the
  process at once (the last checkpoint written is whole: checkpoints are
  written atomically).

Examples:
  >>> import signal
  >>> from jaxopt_course import signals
  >>> signals.exit_code(signal.SIGINT), signals.exit_code(signal.SIGTERM)
  (130, 143)

This module imports only the standard library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

#: The signals handled: Ctrl-C and the polite ``kill``.
SIGNALS = (signal.SIGINT, signal.SIGTERM)
PREFIX = "jaxopt-course:"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived during ``deferred()``; raised at the next :func:`check`.

    A ``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` (the
    training loop's checkpoint path) handles SIGTERM like Ctrl-C.

    Attributes:
      signum: the signal's number; ``exit_code`` is ``128 + signum``.
    """

    def __init__(self, signum: int):
        super().__init__(f"interrupted ({signal.Signals(signum).name})")
        self.signum = int(signum)
        self.exit_code = exit_code(signum)


class _State:
    installed = False
    deferring = 0  # depth of nested deferred() blocks
    pending: int | None = None  # a signal recorded in deferred(), not yet raised by check()
    last: int | None = None  # the last signal received, raised or not


_state = _State()


def exit_code(signum: int) -> int:
    """The exit code for a run ended by ``signum``: ``128 + signum`` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


def _leave(signum: int, words: str) -> None:
    """One line on stderr, then exit at once with ``128 + signum`` (no Python clean-up, no traceback)."""
    try:
        os.write(2, f"{PREFIX} {words} ({signal.Signals(signum).name})\n".encode())
    except OSError:
        pass
    os._exit(exit_code(signum))


def _handler(signum, frame):
    del frame
    _state.last = signum
    if _state.deferring <= 0:
        _leave(signum, "interrupted")
    if _state.pending is not None:
        _leave(signum, "interrupted again, stopping at once")
    _state.pending = signum


def install() -> bool:
    """Handle SIGINT and SIGTERM from now on as this module says; call it first, before importing JAX.

    Idempotent. Returns ``False`` (and changes nothing) outside the main
    thread, where Python cannot set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    _state.installed = True
    return True


def installed() -> bool:
    """Whether :func:`install` has run (and so :func:`check` is what turns a signal into an exception)."""
    return _state.installed


@contextlib.contextmanager
def deferred():
    """Within the block, a signal is recorded and raised as :class:`Interrupted` at the next :func:`check`.

    Put it around the training loop *and* what runs on an interrupt (saving
    the checkpoint), so that neither is cut short by the first signal. A
    signal still pending when the block ends normally is raised there.
    Without :func:`install` the block changes nothing (Python's own Ctrl-C
    handling applies).
    """
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    check()


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived since the last check: call it at safe points.

    Cheap (one attribute read); a no-op when nothing is pending.
    """
    signum = _state.pending
    if signum is not None:
        _state.pending = None
        raise Interrupted(signum)


def check_hook(*args) -> None:
    """:func:`check` with any arguments ignored: pass it as ``fit(..., on_chunk=signals.check_hook)``."""
    del args
    check()


def last_signal() -> int | None:
    """The last SIGINT/SIGTERM received since :func:`install` (``None``: none), e.g. to pick the exit code."""
    return _state.last
