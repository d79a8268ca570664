"""The package's one divergence rule: when did a run blow up?

A run diverged at the first step whose loss is NaN or Inf, or above
:data:`DIVERGENCE_FACTOR` (10) times the run's loss at step 0. :func:`fit
<jaxopt_course.train.fit>` raises :class:`DivergenceError` naming the step;
:func:`sweep <jaxopt_course.train.sweep>` marks the model and goes on;
``compare`` and the command line apply the same rule.

Why 10: measured on digits (softmax and SVM, ``1e-4 * randn`` start, batch
256, 2000 steps), lr 0.01 .. 30 never rise above the start (at most 1.006
x), lr 100 peaks at 2.7 x (softmax) and 6.7 x (SVM) and still ends below the
start; lr 1000 reaches 66 x / 273 x and ends above the start (51 and 25),
lr 1e4 reaches 1e9 x / 1e10 x with no NaN at all. Minibatch noise stays far
below 10 x; a run that passes it is going nowhere good.

This module imports nothing heavy (NumPy only when the rule is applied), so
``jaxopt-course --help`` states the rule with this very number before it
loads NumPy or JAX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DIVERGENCE_FACTOR", "DivergenceError", "divergence_step"]

#: A run diverged when its loss rises above this many times its loss at step 0 (or turns NaN/Inf).
DIVERGENCE_FACTOR = 10.0


def divergence_step(losses, start: int = 0) -> np.ndarray:
    """The step at which each run diverged, -1 where it did not.

    Step ``t`` breaks the rule when ``loss_t`` is NaN or Inf, or when
    ``loss_t > DIVERGENCE_FACTOR * loss_0`` (``loss_0 > 0``: the run's loss
    at step 0).

    Args:
      losses: ``(..., T)`` per-step losses (one run, or a sweep's models).
      start: the first step to judge: the steps before it are a resumed
        run's earlier steps, NaN when unknown (then ``loss_0`` is the loss
        of step ``start``).

    Returns:
      An int NumPy array of shape ``losses.shape[:-1]``.

    Examples:
      >>> divergence_step([[2.3, 1.0, 0.5], [2.3, 30.0, 1e9], [2.3, float("nan"), 1.0]]).tolist()
      [-1, 1, 1]
    """
    import numpy as np

    losses = np.asarray(losses, np.float64)
    if losses.shape[-1] <= start:
        return np.full(losses.shape[:-1], -1)
    first = losses[..., 0]
    first = np.where(np.isnan(first), losses[..., start], first)
    with np.errstate(invalid="ignore", over="ignore"):
        too_high = (first[..., None] > 0) & (losses > DIVERGENCE_FACTOR * first[..., None])
    bad = (~np.isfinite(losses) | too_high) & (np.arange(losses.shape[-1]) >= start)
    return np.where(bad.any(axis=-1), bad.argmax(axis=-1), -1)


class DivergenceError(FloatingPointError):
    """The run diverged (see :func:`divergence_step`): the step size is (almost always) too large.

    Raised by :func:`~jaxopt_course.train.fit` at the end of the chunk in which it happened.

    Attributes:
      step: the first step whose loss broke the rule.
      last_finite_loss: the loss of step ``step - 1`` (NaN when ``step == 0``).
      params: the weights of step ``step - 1`` (the weights the run started
        from when it diverged at its first step: step 0, or the first step
        after ``init_state``).
      metrics: :class:`~jaxopt_course.hostloop.Metrics` as NumPy arrays for steps ``0 .. step``.
    """

    def __init__(self, message, *, step, last_finite_loss, params, metrics):
        super().__init__(message)
        self.step = step
        self.last_finite_loss = last_finite_loss
        self.params = params
        self.metrics = metrics
