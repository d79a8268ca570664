"""Limits checked before JAX allocates: integer ranges, memory and time estimates.

A request that cannot be met should be refused in plain Python, with one
line that says why, before any array is made -- not end, minutes and
gigabytes later, in ``OverflowError``, ``RESOURCE_EXHAUSTED`` or an abort
inside XLA. Three kinds of check:

* **Integer ranges.** JAX counts steps and indexes arrays with ``int32``
  (64-bit integers are off by default), and a seed must fit an ``int64``.
  :func:`check_int32` and :func:`check_seed` refuse what would overflow.
* **Memory.** :func:`check_memory` compares an estimate of the bytes a
  computation needs (from its shapes alone: :func:`nbytes`,
  :func:`grid_search_bytes`, :func:`random_search_bytes`,
  :func:`sweep_bytes`) with :func:`available_memory`: the smallest of
  ``MemAvailable`` in ``/proc/meminfo``, the cgroup's limit less its usage,
  the address-space limit (``ulimit -v``, ``RLIMIT_AS``) less this process's
  size, and ``$JAXOPT_COURSE_MEMORY_LIMIT`` (bytes, or with a
  ``K``/``M``/``G``/``T`` suffix) when that is set.
* **Time.** :func:`check_duration` refuses a run estimated (from its
  floating-point operations, :func:`sweep_seconds`) to take longer than an
  hour unless the caller confirms (``yes=True``, the command line's
  ``--yes``).

Every refusal is a :class:`LimitError` (a ``ValueError``: the command line
turns it into one line on stderr and exit code 2) whose text names the
argument, the estimate and the limit. The estimates are deliberately simple
upper bounds of the arrays a computation holds at once; they are there to
catch requests that are off by orders of magnitude, not to predict the last
megabyte.

This module imports nothing heavy (no JAX).
"""

from __future__ import annotations

import math
import numbers
import os
import re

#: The largest count JAX's default (32-bit) integers can hold: steps, trials, grid points, array lengths.
INT32_MAX = 2**31 - 1
#: The range of a seed (``jax.random.key`` takes an ``int64``).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Set to a number of bytes (``"2G"``, ``"512M"``, ``"1000000"``) to cap the memory a computation may plan for.
MEMORY_LIMIT_ENV = "JAXOPT_COURSE_MEMORY_LIMIT"
#: A run estimated to take longer than this many seconds needs ``yes=True`` (``--yes``).
LONG_RUN_SECONDS = 3600.0
#: Floating-point operations per second assumed by the time estimates: a conservative figure for a CPU.
#: Digits sweeps of 100 and 400 models (softmax, SGD, batch 256) ran at 1.3e10 and 3.8e10 flop/s on a
#: loaded 2-core box, compilation included: the estimates err on the long side.
ASSUMED_FLOPS = 1e10


class LimitError(ValueError):
    """A request over a limit, refused before anything was allocated; the text names estimate and limit."""


# ---------------------------------------------------------------------------
# Integers
# ---------------------------------------------------------------------------


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_int32(value, name: str, low: int = 1) -> int:
    """``value`` as an ``int`` in ``[low, 2**31 - 1]``: a count JAX will index or step with.

    Examples:
      >>> check_int32(1000, "trials")
      1000
      >>> check_int32(3_000_000_000, "trials")
      Traceback (most recent call last):
      ...
      jaxopt_course.limits.LimitError: trials must be <= 2147483647 (2**31 - 1, JAX's 32-bit integers), got 3000000000
    """
    value = _integer(value, name)
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if value > INT32_MAX:
        raise LimitError(f"{name} must be <= {INT32_MAX} (2**31 - 1, JAX's 32-bit integers), got {value}")
    return value


def check_seed(value, name: str = "seed") -> int:
    """``value`` as an ``int`` that ``jax.random.key`` takes: an ``int64``, ``[-2**63, 2**63 - 1]``."""
    value = _integer(value, name)
    if not INT64_MIN <= value <= INT64_MAX:
        raise LimitError(f"{name} must lie in [-2**63, 2**63 - 1] (a 64-bit integer), got {value}")
    return value


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str, name: str = MEMORY_LIMIT_ENV) -> int:
    """``"512M"`` -> 536870912: a number of bytes, optionally with a binary K/M/G/T suffix.

    Examples:
      >>> parse_bytes("2G"), parse_bytes("1000")
      (2147483648, 1000)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"{name} must be a number of bytes such as 2G, 512M or 1000000, got {text!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 says "max" for no limit


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """The cgroup's memory limit less what it uses (v2, else v1); ``None`` when there is no limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = _read_int(limit_file)
        if limit is not None and limit < 2**60:  # v1 writes a huge number for "no limit"
            return max(0, limit - (_read_int(usage_file) or 0))
    return None


def _address_space_available() -> int | None:
    """``RLIMIT_AS`` (``ulimit -v``, what batch systems and ``prlimit`` set) less this process's size, or ``None``.

    Past it every allocation fails, whatever the machine has free: XLA then
    reports ``RESOURCE_EXHAUSTED`` or aborts. The size is ``VmSize`` (the
    address space the limit counts), which includes what JAX has reserved.
    """
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    size = 0
    try:
        with open("/proc/self/status") as f:
            size = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft - size)


def available_memory(environ=None) -> tuple[int | None, str]:
    """``(bytes, where the figure comes from)``: the memory a new computation may use.

    The smallest of ``$JAXOPT_COURSE_MEMORY_LIMIT``, the cgroup's limit less
    its usage, the address-space limit (``ulimit -v``) less this process's
    size and ``MemAvailable``; ``(None, "unknown")`` where none can be read
    (then nothing is refused).
    """
    env = os.environ if environ is None else environ
    candidates = []
    if env.get(MEMORY_LIMIT_ENV):
        candidates.append((parse_bytes(env[MEMORY_LIMIT_ENV]), f"${MEMORY_LIMIT_ENV}"))
    for figure, where in (
        (_cgroup_available(), "the cgroup's memory limit less its usage"),
        (_address_space_available(), "the address-space limit (ulimit -v) less this process's size"),
        (_meminfo_available(), "MemAvailable in /proc/meminfo"),
    ):
        if figure is not None:
            candidates.append((figure, where))
    return min(candidates) if candidates else (None, "unknown")


def format_bytes(n: float) -> str:
    """``1.5e9`` -> ``"1.4 GiB"``.

    Examples:
      >>> format_bytes(512), format_bytes(3 * 2 ** 30)
      ('512 B', '3.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def nbytes(shape, itemsize: int = 4) -> int:
    """The bytes of an array of ``shape`` with ``itemsize``-byte elements (a Python int: no overflow).

    Examples:
      >>> nbytes((10, 3073))
      122920
    """
    return math.prod(int(n) for n in shape) * int(itemsize)


def check_memory(estimate: int, what: str, *, hint: str = "", environ=None) -> int:
    """Refuse ``what`` when ``estimate`` bytes exceed :func:`available_memory`; returns the estimate.

    Args:
      estimate: the bytes the computation would hold at once.
      what: the request in the user's words, e.g. ``"a grid of 1000000000 points"``.
      hint: what to do instead, appended to the message (e.g. ``"use fewer --points"``).

    Raises:
      LimitError: ``"{what} needs about {estimate} of memory, more than the
        {limit} available ({where})..."``.
    """
    limit, where = available_memory(environ)
    if limit is not None and estimate > limit:
        tail = f"; {hint}" if hint else ""
        raise LimitError(
            f"{what} needs about {format_bytes(estimate)} of memory, more than the "
            f"{format_bytes(limit)} available ({where}){tail}"
        )
    return estimate


#: Bytes per evaluated point that a vmapped scalar cost holds beside its input (its temporaries), per element.
_TEMPORARIES = 8


def grid_search_bytes(points: int, dims: int = 1, chunk_size: int | None = None, itemsize: int = 4) -> int:
    """What :func:`~jaxopt_course.search.grid_search` holds: the grid, every loss, the running best, one chunk.

    ``points`` is the number of grid points (the product of the grids'
    lengths), ``dims`` the number of grids. The flattened coordinates are
    ``dims * points`` numbers, the losses and their running minimum
    ``2 * points``; the chunk being evaluated holds about
    ``_TEMPORARIES`` temporaries per point.
    """
    chunk = points if chunk_size is None else min(chunk_size, points)
    return itemsize * (dims * points + 2 * points + _TEMPORARIES * chunk)


def random_search_bytes(trials: int, params: int, chunk_size: int, itemsize: int = 4) -> int:
    """What :func:`~jaxopt_course.search.random_search` holds beside the data: the trial numbers, losses,
    the running best, and one chunk of ``chunk_size`` random ``W`` of ``params`` numbers each (twice: the
    draws and their scaled copy)."""
    return 4 * trials + 2 * itemsize * trials + 2 * itemsize * min(chunk_size, trials) * params


def sweep_bytes(
    models: int,
    params: int,
    steps: int,
    batch_size: int,
    num_classes: int,
    *,
    optimizer_slots: int = 2,
    itemsize: int = 4,
) -> int:
    """What a sweep of ``models`` models (a vmapped training run) holds at once, from its shapes.

    Per model: the weights, their gradient and ``optimizer_slots`` optimizer
    buffers of ``params`` numbers each, twice (the scan's carry in and out);
    the per-step metrics (two numbers a step, for ``steps`` steps); and one
    step's scores and their gradient, ``batch_size x num_classes`` each.
    ``compare`` (optimizers x seeds x learning rates) is a sweep of their
    product.
    """
    per_model = (2 * (2 + optimizer_slots) * params + 2 * steps + 2 * batch_size * num_classes) * itemsize
    return models * per_model


# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------


def sweep_seconds(models: int, steps: int, batch_size: int, params: int) -> float:
    """A rough time for ``models`` x ``steps`` minibatch steps: about ``6 * batch * params`` flops a step
    (the scores, their gradient, the weights' gradient), at :data:`ASSUMED_FLOPS`."""
    return 6.0 * models * steps * batch_size * params / ASSUMED_FLOPS


def format_seconds(seconds: float) -> str:
    """``7200`` -> ``"2.0 h"``.

    Examples:
      >>> format_seconds(42), format_seconds(5400), format_seconds(3 * 86400)
      ('42 s', '1.5 h', '3.0 days')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check_duration(
    seconds: float, what: str, *, yes: bool = False, flag: str = "--yes", limit: float = LONG_RUN_SECONDS
) -> float:
    """Refuse ``what`` when it would run longer than ``limit`` seconds, unless ``yes``; returns ``seconds``.

    Raises:
      LimitError: ``"{what} would take about {time} (at an assumed 1e+10
        flop/s); pass --yes to run it anyway, or make it smaller"``.
    """
    if seconds > limit and not yes:
        raise LimitError(
            f"{what} would take about {format_seconds(seconds)} (estimated at an assumed "
            f"{ASSUMED_FLOPS:.0e} flop/s); pass {flag} to run it anyway, or make it smaller"
        )
    return seconds


def check_sweep(
    models: int,
    params: int,
    steps: int,
    batch_size: int,
    num_classes: int,
    *,
    what: str,
    optimizer_slots: int = 2,
    itemsize: int = 4,
    yes: bool = False,
    environ=None,
) -> None:
    """The checks a sweep (or ``compare``: a sweep of optimizers x seeds x learning rates) makes before it starts.

    ``models`` and ``steps`` are counts JAX indexes with (:func:`check_int32`);
    :func:`sweep_bytes` must fit :func:`available_memory`
    (:func:`check_memory`); :func:`sweep_seconds` must be under an hour
    unless ``yes`` (:func:`check_duration`).

    Args:
      models: the models trained at once (``len(lrs) * len(regs) * seeds``).
      params: the weights of one model, ``C * D``.
      steps, batch_size, num_classes: the run's.
      what: the request in the user's words, e.g. ``"a sweep of 300 x 300 learning rates and regs"``.

    Raises:
      LimitError: over a limit; the message names the estimate and the limit.

    Examples:
      >>> check_sweep(9, 650, 100, 256, 10, what="a 3 x 3 sweep")
      >>> tight = {MEMORY_LIMIT_ENV: "1M"}
      >>> check_sweep(9 * 10**6, 650, 1000, 256, 10, what="a 3000 x 3000 sweep", environ=tight)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      jaxopt_course.limits.LimitError: a 3000 x 3000 sweep needs about 413.1 GiB of memory, more than the 1.0 MiB ...
    """
    check_int32(models, "the number of models")
    check_int32(steps, "steps")
    check_memory(
        sweep_bytes(models, params, steps, batch_size, num_classes, optimizer_slots=optimizer_slots, itemsize=itemsize),
        what,
        hint="use a smaller grid, fewer seeds or fewer steps",
        environ=environ,
    )
    check_duration(sweep_seconds(models, steps, batch_size, params), what, yes=yes)
