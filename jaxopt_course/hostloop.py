"""The host loop of ``fit`` and ``sweep``: what happens between two compiled chunks.

A long run is compiled steps in chunks (``Loop.chunk_size``); between two
chunks, on the host: a tqdm bar moves, :func:`~jaxopt_course.divergence.divergence_step`
judges the losses so far, ``Loop.on_chunk`` runs (a checkpoint), and a
Ctrl-C becomes :class:`TrainingInterrupted`, which holds the last chunk
boundary's state and metrics. :func:`check_init_state` decides whether a
saved state is one of *this* run, so that a resume continues it bit for bit.
Nothing here is traced: the compiled steps are :mod:`jaxopt_course.train`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._checks import check_int as _check_int
from .divergence import DIVERGENCE_FACTOR, DivergenceError, divergence_step
from .sgd import TrainState

__all__ = ["Loop", "Metrics", "TrainingInterrupted"]


class Metrics(NamedTuple):
    """Per-step metrics, stacked (each of shape ``(num_steps,)``; a sweep's ``(M, num_steps)``).

    Attributes:
      loss: the loss of step ``t``'s minibatch (the whole training set for
        gradient descent), measured at the weights *before* update ``t``.
      val_accuracy: the validation accuracy after update ``t`` when
        ``(t + 1) % eval_every == 0``; NaN at the other steps (and everywhere
        when no validation set is given, and in a sweep).
    """

    loss: jax.Array | np.ndarray  # in the compiled program; the host loop keeps NumPy copies
    val_accuracy: jax.Array | np.ndarray


class Loop(NamedTuple):
    """The host loop's options: one argument of :func:`~jaxopt_course.train.fit` and ``sweep``.

    Attributes:
      chunk_size: steps per compiled call (``None``: the whole run in one).
      progress: a tqdm bar on stderr (``None``: when stderr is a terminal).
      on_chunk: called as ``on_chunk(state, metrics)`` after every chunk,
        with the :class:`~jaxopt_course.sgd.TrainState` and the :class:`Metrics` of steps
        ``0 .. state.step - 1`` (what a checkpoint file needs).
      init_state: continue a run from its state after ``init_state.step``
        updates (a checkpoint, or a :class:`TrainingInterrupted`'s
        ``.state``; :func:`~jaxopt_course.train.initial_state` builds the template to load it
        with). ``Run.num_steps`` counts from step 0.
      init_metrics: the :class:`Metrics` of the steps before ``init_state``,
        so the curves (and the divergence rule's step-0 loss) are whole;
        without them those steps' losses are NaN.
    """

    chunk_size: int | None = 1000
    progress: bool | None = None
    on_chunk: Callable[[TrainState, Metrics], Any] | None = None
    init_state: TrainState | None = None
    init_metrics: Metrics | None = None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped ``fit`` or ``sweep``: the run so far, at its last chunk boundary.

    A ``KeyboardInterrupt`` (so an uncaught one still stops a script the
    usual way) that carries everything needed to continue:
    ``fit(..., loop=Loop(init_state=err.state, init_metrics=err.metrics))``
    (or ``sweep(...)`` likewise) finishes the run with the same final
    weights, bit for bit, as a run never interrupted (see
    :mod:`jaxopt_course.checkpoint` to keep them on disk).

    Attributes:
      step: the updates completed (a chunk boundary; the chunk running when
        Ctrl-C came is dropped and redone on resume).
      state: the :class:`~jaxopt_course.sgd.TrainState` after ``step`` updates (a sweep's: with
        a leading model axis on ``params`` and ``opt_state``, see :func:`~jaxopt_course.train.sweep`).
      metrics: :class:`Metrics` as NumPy arrays for steps ``0 .. step - 1``
        (a sweep's: ``(M, step)``).
    """

    def __init__(self, message, *, step, state, metrics):
        super().__init__(message)
        self.step = step
        self.state = state
        self.metrics = metrics


class SoFar(NamedTuple):
    """A run's progress at a chunk boundary: steps done, the state, the metrics chunk by chunk.

    ``losses`` and ``vals`` are tuples of arrays with the steps on their last
    axis: ``(steps,)`` for :func:`~jaxopt_course.train.fit`, ``(M, steps)`` for the M models of
    :func:`~jaxopt_course.train.sweep`. The first holds the steps before a resumed run (possibly
    none), so there is always one.
    """

    done: int
    state: TrainState
    losses: tuple
    vals: tuple

    def metrics(self) -> Metrics:
        return Metrics(np.concatenate(self.losses, axis=-1), np.concatenate(self.vals, axis=-1))

    def extended(self, length: int, state: TrainState, metrics: Metrics) -> SoFar:
        return SoFar(self.done + length, state, self.losses + (metrics.loss,), self.vals + (metrics.val_accuracy,))


def prior_metrics(init_metrics, start: int, models: tuple = ()) -> tuple[tuple, tuple]:
    """The metrics of the ``start`` steps before a resumed run, as one chunk (NaN when unknown)."""
    shape = tuple(models) + (start,)
    if init_metrics is None:
        unknown = np.full(shape, np.nan, np.float32)
        return (unknown,), (unknown,)
    if not isinstance(init_metrics, Metrics):
        raise TypeError(f"init_metrics must be a Metrics(loss, val_accuracy), got {type(init_metrics).__name__}")
    loss, val = np.asarray(init_metrics.loss), np.asarray(init_metrics.val_accuracy)
    if loss.shape != shape or val.shape != shape:
        raise ValueError(
            f"init_metrics must hold the {start} steps before init_state (shape {shape}), got "
            f"loss of shape {loss.shape} and val_accuracy of shape {val.shape}"
        )
    return (loss,), (val,)


def latest_loss(chunk_losses) -> str:
    """For the progress bar: the last step's loss (the lowest finite one among a sweep's models)."""
    last = np.asarray(chunk_losses)[..., -1]
    finite = last[np.isfinite(last)]
    return f"{finite.min():.4g}" if finite.size else "nan"


def check_loop(loop) -> Loop:
    loop = Loop() if loop is None else loop
    if not isinstance(loop, Loop):
        raise TypeError(
            f"loop must be a Loop(chunk_size, progress, on_chunk, init_state, init_metrics), got {type(loop).__name__}"
        )
    if loop.chunk_size is not None:
        _check_int(loop.chunk_size, "Loop.chunk_size")
    if loop.on_chunk is not None and not callable(loop.on_chunk):
        raise TypeError(f"Loop.on_chunk must be a function, got {type(loop.on_chunk).__name__}")
    return loop


def host_loop(
    run_chunk, start: SoFar, num_steps: int, loop: Loop, *, on_divergence=None, desc: str, what: str
) -> tuple[SoFar, np.ndarray]:
    """Run ``start`` on to ``num_steps`` steps, chunk by chunk: the host loop of ``fit`` and ``sweep``.

    ``run_chunk(so_far, length) -> (state, Metrics)`` runs ``length`` steps
    (one compiled call) from the last chunk boundary. Between chunks a tqdm
    bar moves, :func:`~jaxopt_course.divergence.divergence_step` judges the losses so far (a run that
    breaks the rule calls ``on_divergence(so_far, steps)``, which raises for
    :func:`~jaxopt_course.train.fit`; a sweep only marks), and ``loop.on_chunk(state, metrics so
    far)`` is called. Ctrl-C (``KeyboardInterrupt``) anywhere in the loop
    becomes :class:`TrainingInterrupted` holding the last chunk boundary's
    state and metrics: the chunk that was running is dropped, and redone on
    resume. Returns the run and its divergence steps (-1: none).
    """
    from tqdm.auto import tqdm

    chunk_size = num_steps if loop.chunk_size is None else min(loop.chunk_size, num_steps)
    # A resumed run's earlier steps are judged too when their metrics are known (the same verdict as
    # the uninterrupted run's); unknown (NaN) ones are not.
    so_far, first = start, start.done if loop.init_metrics is None else 0
    diverged = divergence_step(so_far.metrics().loss, first)
    bar = tqdm(
        total=num_steps,
        initial=so_far.done,
        unit="step",
        desc=desc,
        file=sys.stderr,
        leave=False,
        disable=None if loop.progress is None else not loop.progress,
    )
    try:
        while so_far.done < num_steps:
            length = min(chunk_size, num_steps - so_far.done)
            state, metrics = run_chunk(so_far, length)
            metrics = Metrics(np.asarray(metrics.loss), np.asarray(metrics.val_accuracy))
            diverged = divergence_step(np.concatenate(so_far.losses + (metrics.loss,), axis=-1), first)
            if on_divergence is not None and np.any(diverged >= 0):
                on_divergence(so_far.extended(length, state, metrics), diverged)
            # The run so far is replaced whole, in one assignment, so a Ctrl-C
            # arriving between any two lines finds it consistent.
            so_far = so_far.extended(length, state, metrics)
            bar.update(length)
            bar.set_postfix(loss=latest_loss(metrics.loss), refresh=False)
            if loop.on_chunk is not None:
                loop.on_chunk(so_far.state, so_far.metrics())
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"{what} interrupted (Ctrl-C) after {so_far.done} of {num_steps} steps; the error's .state and "
            f".metrics continue the run: {what}(..., loop=Loop(init_state=err.state, init_metrics=err.metrics))",
            step=so_far.done,
            state=so_far.state,
            metrics=so_far.metrics(),
        ) from None
    finally:
        bar.close()
    return so_far, diverged


def key_data(key):
    return np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)


def check_init_state(init_state, fresh: TrainState, num_steps: int, *, finite: bool = True) -> None:
    """``init_state`` must be a state of *this* run: same structure, shapes, dtypes and key.

    ``finite=False`` for a sweep, whose diverged models keep their NaN/Inf weights.
    """
    if not isinstance(init_state, TrainState):
        raise TypeError(
            f"init_state must be a TrainState (from a checkpoint or a TrainingInterrupted), "
            f"got {type(init_state).__name__}"
        )
    structure: Any = jax.tree_util.tree_structure  # Any: jaxlib ships no type for PyTreeDef's comparisons
    if structure(init_state.opt_state) != structure(fresh.opt_state):
        raise ValueError(
            f"init_state.opt_state does not fit the optimizer (was the run started with another "
            f"one?): expected {structure(fresh.opt_state)}, got {structure(init_state.opt_state)}"
        )
    if (init_state.order is None) != (fresh.order is None):
        raise ValueError(
            "init_state.order does not fit sampling: a run with sampling='shuffle' (and a batch_size) "
            "keeps its epoch order there, others keep None"
        )
    want: Any = jax.tree_util.tree_flatten_with_path(fresh)
    got: Any = jax.tree_util.tree_flatten_with_path(init_state)
    if want[1] != got[1]:
        raise ValueError(f"init_state does not match this run: expected a state structured as {want[1]}, got {got[1]}")
    for (path, w), (_, g) in zip(want[0], got[0], strict=True):  # same structure, checked above
        if tuple(np.shape(w)) != tuple(np.shape(g)) or jnp.result_type(w) != jnp.result_type(g):
            raise ValueError(
                f"init_state{jax.tree_util.keystr(path)} must be {jnp.result_type(w)} of shape "
                f"{tuple(np.shape(w))} for this run, got {jnp.result_type(g)} of shape "
                f"{tuple(np.shape(g))}"
            )
    step = int(init_state.step)
    if not 0 <= step <= num_steps:
        raise ValueError(f"init_state.step must lie in [0, num_steps = {num_steps}], got {step}")
    if not np.array_equal(key_data(init_state.key), key_data(fresh.key)):
        raise ValueError(
            "init_state.key is not key: a run continues with the key it started with (pass the "
            "same key= as the interrupted run)"
        )
    if finite:
        _checks.check_finite(init_state.params, "init_state.params")


def divergence_error(so_far: SoFar, bad_step: int, first: int, starts, num_steps: int, replay) -> DivergenceError:
    """The :class:`~jaxopt_course.divergence.DivergenceError` of a run that broke the rule at ``bad_step``.

    ``starts`` holds ``(step, state)`` at the last chunk starts; ``replay(state,
    n)`` runs ``n`` steps from ``state`` (the compiled steps of the run), so
    the error's ``.params`` are the weights of step ``bad_step - 1``, rebuilt
    from the latest chunk start before it (steps are deterministic:
    ``fold_in(key, t)``). At the run's first step (step 0, or the first after
    ``init_state``) no earlier weights exist: they are the starting ones.
    """
    losses, vals = so_far.metrics()
    metrics = Metrics(losses[: bad_step + 1], vals[: bad_step + 1])
    earlier = [(s, st) for s, st in starts if s <= bad_step - 1]
    last = float(losses[bad_step - 1]) if bad_step else float("nan")
    if not earlier:
        params = starts[-1][1].params
    else:
        start, state = earlier[-1]
        params = replay(state, bad_step - 1 - start).params
    step_0 = 0 if np.isfinite(losses[0]) else first
    cause = (
        "is not finite"
        if not np.isfinite(losses[bad_step])
        else f"rose above {DIVERGENCE_FACTOR:g} x the loss at step {step_0} ({losses[step_0]:.6g})"
    )
    message = (
        f"training diverged: the loss is {losses[bad_step]:.6g} at step {bad_step} of {num_steps} and {cause}"
        + (f" (the loss was {last:.6g} at step {bad_step - 1})" if bad_step else "")
        + "; the step size (learning rate) is probably too large -- try a smaller lr. "
        "The error's .params hold the weights of the step before."
    )
    return DivergenceError(message, step=bad_step, last_finite_loss=last, params=params, metrics=metrics)
