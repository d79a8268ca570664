"""Timing on a shared, noisy machine: medians, pairs in the same round, compile apart from run.

* Every JAX result is passed through ``jax.block_until_ready`` inside the
  timer: JAX dispatches asynchronously, so without it a timer measures only
  the dispatch.
* :func:`paired` runs the competitors one after the other in every round
  (the order rotating from round to round), so a burst of load from another
  process falls on all of them; a speed-up is the median over rounds of the
  per-round ratio.
* :class:`CompileLog` counts XLA compilations and their seconds through
  ``jax.monitoring``: compile time is reported apart from run time, and a
  second call that compiles again is caught.
* :func:`roofline_floor` is ``max(flops / rate, bytes / bandwidth)``: the time
  an operation needs at the measured peak matmul rate or memory bandwidth,
  whichever binds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import jax


def timed(fn: Callable, *args):
    """``(seconds, result)`` of one call, waiting for JAX results to be computed."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def median_time(fn: Callable, *args, repeats: int = 5, warmup: int = 1) -> dict:
    """Median (and min, max) seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    runs = [timed(fn, *args)[0] for _ in range(repeats)]
    return summary(runs)


def summary(runs) -> dict:
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs), "repeats": len(runs)}


def paired(cases: dict, rounds: int) -> dict:
    """Time every zero-argument callable of ``cases`` once per round, in rotating order.

    Returns ``{name: [seconds of round 0, round 1, ...]}``.
    """
    names = list(cases)
    times = {name: [0.0] * rounds for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name][r] = timed(cases[name])[0]
    return times


def paired_ratio(times: dict, slow: str, fast: str) -> float:
    """Median over rounds of ``times[slow][r] / times[fast][r]``: how many times faster ``fast`` is."""
    return statistics.median(s / f for s, f in zip(times[slow], times[fast], strict=True))


def roofline_floor(flops: float, bytes_moved: float, ceilings: dict) -> float:
    """``max(flops / rate, bytes / bandwidth)`` in seconds, at the measured ceilings.

    Examples:
      >>> roofline_floor(2e9, 1e9, {"flops_per_s": 1e11, "bytes_per_s": 2e10})  # memory binds
      0.05
    """
    return max(flops / ceilings["flops_per_s"], bytes_moved / ceilings["bytes_per_s"])


class CompileLog:
    """Collects ``jax.monitoring``'s compile events while alive (a context manager).

    ``compiles`` is the number of XLA backend compilations, ``seconds`` the
    time spent tracing, lowering and compiling.
    """

    _EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    _listening: list = []

    def __init__(self):
        self.compiles = 0
        self.seconds = 0.0
        if not CompileLog._listening:
            jax.monitoring.register_event_duration_secs_listener(CompileLog._dispatch)
            CompileLog._listening.append(None)

    @staticmethod
    def _dispatch(event, duration, **_):
        for log in CompileLog._active:
            if event in CompileLog._EVENTS:
                log.seconds += duration
                log.compiles += event.endswith("backend_compile_duration")

    _active: list = []

    def __enter__(self):
        CompileLog._active.append(self)
        return self

    def __exit__(self, *exc):
        CompileLog._active.remove(self)
        return False
