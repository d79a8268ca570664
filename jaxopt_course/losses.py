"""The lecture's total loss: ``L(W) = 1/N sum_i L_i(f(x_i, W), y_i) + reg * R(W)``.

Two data losses ``L_i`` and one penalty ``R``:

* multiclass SVM (Weston--Watkins hinge):
  ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)``;
* softmax cross-entropy: ``L_i = -log(e^{s_{y_i}} / sum_j e^{s_j})``;
* ``R(W) = sum W**2`` (CS231n convention, so its gradient is ``2 reg W``).

Every function is pure with the parameters first, so ``jax.grad(svm_loss)``
is the gradient with respect to ``W``. The public functions validate their
inputs in plain Python (see :mod:`jaxopt_course._checks`) and then call a
jit-compiled core; ``reg`` and ``margin`` are traced arguments, so changing
them never recompiles and ``jax.vmap`` can sweep them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, model

# ---------------------------------------------------------------------------
# The pure cores (no validation; safe under jit / grad / vmap / scan).
# The losses are written as functions of the scores, once; the gradient
# checks (analytic.py, gradcheck_linear.py) reuse the same margins, mask and
# shift.
# ---------------------------------------------------------------------------


def correct_class_scores(scores_NxC, y_N):
    """``s_{i, y_i}``, the score of each example's correct class, shape ``(N, 1)``."""
    return jnp.take_along_axis(scores_NxC, y_N[:, None], axis=1)


def svm_margins(scores_NxC, y_N, margin):
    """The SVM's margins and which of them count: ``(margins_NxC, active_NxC)``.

    ``m_ij = s_ij - s_{i, y_i} + margin``; ``active_ij = (j != y_i) and (m_ij > 0)``,
    the wrong classes that violate the margin. Pure (no validation).

    ``active`` is an indicator mask, not ``jnp.maximum``: at a kink (a margin
    exactly 0) ``jax.grad`` of ``where(active, m, 0)`` is then 0, exactly the
    hand-derived subgradient ``m > 0`` (``jnp.maximum`` would split it and give 0.5).

    Examples:
      The lecture's cat image (scores cat 3.2, car 5.1, frog -1.7; label cat):

      >>> import jax.numpy as jnp
      >>> m, active = svm_margins(jnp.array([[3.2, 5.1, -1.7]]), jnp.array([0]), 1.0)
      >>> [round(float(v), 4) for v in m[0]], active[0].tolist()
      ([1.0, 2.9, -3.9], [False, True, False])
    """
    margins_NxC = scores_NxC - correct_class_scores(scores_NxC, y_N) + margin
    wrong_class_NxC = jnp.arange(scores_NxC.shape[1])[None, :] != y_N[:, None]
    return margins_NxC, wrong_class_NxC & (margins_NxC > 0)


def shifted_scores(scores_NxC):
    """The softmax's stable shift: ``s_ij - max_k s_ik`` for each row (the largest becomes 0).

    ``e^{s_j - m} / sum_k e^{s_k - m}`` is the same probability for any ``m``,
    and with ``m`` the row maximum nothing overflows. The maximum is taken on
    the real part (so a complex ``W`` -- the complex-step derivative -- also
    works) and is a constant for differentiation (``stop_gradient``): it
    cancels exactly. Pure (no validation).

    Examples:
      >>> import jax.numpy as jnp
      >>> shifted_scores(jnp.array([[1000.0, 999.0]])).tolist()
      [[0.0, -1.0]]
    """
    shift_Nx1 = jax.lax.stop_gradient(jnp.max(jnp.real(scores_NxC), axis=1, keepdims=True))
    return scores_NxC - shift_Nx1


def svm_per_example_from_scores(scores_NxC, y_N, margin=1.0):
    """``L_i = sum_{j != y_i} max(0, s_ij - s_{i, y_i} + margin)`` from the scores, shape ``(N,)`` (pure)."""
    margins_NxC, active_NxC = svm_margins(scores_NxC, y_N, margin)
    return jnp.sum(jnp.where(active_NxC, margins_NxC, 0.0), axis=1)


def softmax_per_example_from_scores(scores_NxC, y_N):
    """``L_i = log sum_j e^{s_ij} - s_{i, y_i}`` from the scores, shape ``(N,)`` (pure).

    Computed on the shifted scores throughout (log-sum-exp minus the shifted
    correct score), so the small terms are not lost to rounding next to a
    huge shift.
    """
    shifted_NxC = shifted_scores(scores_NxC)
    log_sum_exp_N = jnp.log(jnp.sum(jnp.exp(shifted_NxC), axis=1))
    return log_sum_exp_N - correct_class_scores(shifted_NxC, y_N)[:, 0]


def _svm_per_example(W_CxD, X_NxD, y_N, margin):
    return svm_per_example_from_scores(model.scores_core(W_CxD, X_NxD), y_N, margin)


def _softmax_per_example(W_CxD, X_NxD, y_N):
    return softmax_per_example_from_scores(model.scores_core(W_CxD, X_NxD), y_N)


def _l2_penalty(W):
    # sum W**2, not sum |W|**2: it stays analytic for a complex W.
    return jnp.sum(W * W)


_svm_per_example_jit = jax.jit(_svm_per_example)
_softmax_per_example_jit = jax.jit(_softmax_per_example)


@jax.jit
def _svm_loss(W, X, y, reg, margin):
    return jnp.mean(_svm_per_example(W, X, y, margin)) + reg * _l2_penalty(W)


@jax.jit
def _softmax_loss(W, X, y, reg):
    return jnp.mean(_softmax_per_example(W, X, y)) + reg * _l2_penalty(W)


# ---------------------------------------------------------------------------
# Overflow: finite W and X can still give an infinite loss.
# ---------------------------------------------------------------------------


def _check_no_overflow(value, what: str, W, X, reg=0.0):
    """Raise a clear ValueError when finite ``W``, ``X`` gave a non-finite loss.

    The inputs were checked finite, so an Inf/NaN here is an overflow of the
    floating type: the scores ``X @ W.T`` (e.g. 1e20 * 1e20 in float32), a
    score difference ``s_j - s_y`` (two scores near +-3e38), or the penalty
    ``reg * sum W**2``. Only concrete values can be checked (an eager call);
    under ``jit``/``grad`` the NaN/Inf is returned and the training loop's
    divergence check reports it. The diagnosis runs only when the check fails.
    """
    if _checks.is_traced(value) or np.all(np.isfinite(np.asarray(value))):
        return value
    dtype = jnp.result_type(W, X)
    big = float(jnp.finfo(dtype).max)
    W64 = np.real(np.asarray(W)).astype(np.float64)
    X64 = np.asarray(X, dtype=np.float64)
    with jax.enable_x64(True):  # the same scores in float64, where they do not overflow
        scores64 = np.asarray(model.scores_core(jnp.asarray(W64), jnp.asarray(X64)))
    largest = float(np.max(np.abs(scores64)))
    sizes = f"(max |W| = {np.max(np.abs(W64)):.3g}, max |X| = {np.max(np.abs(X64)):.3g})"
    if not largest <= big:
        cause = f"the scores X @ W.T overflow {dtype}: the largest |score| is {largest:.3g} > {big:.3g} {sizes}"
    elif float(np.ptp(scores64, axis=1).max()) > big:
        cause = (
            f"the score differences s_j - s_y overflow {dtype}: scores span "
            f"{float(np.ptp(scores64, axis=1).max()):.3g} > {big:.3g} within one example {sizes}"
        )
    elif float(np.max(reg)) * float(np.sum(W64 * W64)) > big:
        cause = (
            f"the penalty reg * sum(W**2) = {float(np.max(reg)) * float(np.sum(W64 * W64)):.3g} overflows {dtype} "
            f"(max |W| = {np.max(np.abs(W64)):.3g})"
        )
    else:
        cause = f"a sum of its terms (over classes or examples) overflows {dtype} (largest |score| {largest:.3g})"
    raise ValueError(
        f"{what} is not finite for the finite W and X given: {cause}. Scale W or X down "
        "(CS231n starts from W = 1e-4 * randn) or compute in float64 (with jax.enable_x64(True))"
    )


# ---------------------------------------------------------------------------
# The public, validated functions.
# ---------------------------------------------------------------------------


def l2_penalty(W):
    """The regularization penalty ``R(W) = sum_{k,l} W[k, l]**2``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(l2_penalty(jnp.array([[1., 2.], [0., -3.]])))
      14.0
    """
    _checks.check_real_array(W, "W", allow_complex=True)
    return _l2_penalty(W)


def svm_per_example(W, X, y, margin=1.0):
    """Per-example multiclass SVM loss ``L_i``, shape ``(N,)``.

    ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + margin)`` with ``s = W x_i``.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``.
      y: integer labels ``(N,)`` in ``[0, C)``.
      margin: the safety margin Delta (1.0 in the lecture).
    """
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(margin, "margin")
    return _check_no_overflow(_svm_per_example_jit(W, X, y, margin), "svm_per_example", W, X)


def softmax_per_example(W, X, y):
    """Per-example softmax cross-entropy ``L_i = -log(e^{s_{y_i}} / sum_j e^{s_j})``, shape ``(N,)``."""
    _checks.check_problem(W, X, y, allow_complex_W=True)
    return _check_no_overflow(_softmax_per_example_jit(W, X, y), "softmax_per_example", W, X)


def svm_loss(W, X, y, reg=0.0, margin=1.0):
    """Total multiclass SVM (Weston--Watkins hinge) loss.

    ``L(W) = 1/N sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin) + reg * sum W**2``

    This is the lecture's SVM, *not* optax's ``multiclass_hinge_loss`` (the
    Crammer--Singer form, which keeps only the largest wrong-class margin).
    Its gradient (``jax.grad``) follows the indicator ``margin > 0``, so at a
    kink it equals the hand-derived subgradient.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, bias column included.
      y: integer labels ``(N,)`` in ``[0, C)``.
      reg: regularization strength lambda (>= 0).
      margin: the margin Delta (1.0 in the lecture).

    Returns:
      The scalar loss.

    Raises:
      ValueError: a bad input (shapes, dtypes, NaN/Inf, labels, reg < 0), or
        finite ``W`` and ``X`` whose loss overflows (scores ``X @ W.T`` or
        their differences beyond the dtype's maximum, 3.4e38 in float32).
        Scores up to +-1e30 in float32 give a finite loss. Under
        ``jit``/``grad`` values are not checked: an overflow comes back as
        Inf/NaN (and :func:`~jaxopt_course.train.fit` reports it).

    Examples:
      The lecture's cat image (scores cat 3.2, car 5.1, frog -1.7; label cat):
      ``max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1) = 2.9``.

      >>> import jax.numpy as jnp
      >>> W = jnp.eye(3)                      # scores = X
      >>> X = jnp.array([[3.2, 5.1, -1.7]])
      >>> round(float(svm_loss(W, X, jnp.array([0]))), 4)
      2.9
    """
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(reg, "reg")
    _checks.check_nonnegative(margin, "margin")
    return _check_no_overflow(_svm_loss(W, X, y, reg, margin), "svm_loss", W, X, reg)


def softmax_loss(W, X, y, reg=0.0):
    """Total softmax (cross-entropy) loss.

    ``L(W) = 1/N sum_i -log(e^{s_{y_i}} / sum_j e^{s_j}) + reg * sum W**2``

    Natural log, computed stably through a shifted log-sum-exp, so scores of
    +-1e4 (and far beyond) stay finite. ``W`` may be complex (for the
    complex-step derivative); the data ``X`` must be real.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, bias column included.
      y: integer labels ``(N,)`` in ``[0, C)``.
      reg: regularization strength lambda (>= 0).

    Returns:
      The scalar loss.

    Raises:
      ValueError: as :func:`svm_loss`: bad inputs, or an overflow of finite
        ``W`` and ``X`` (the row-max shift keeps every score up to the
        dtype's maximum finite, but scores that differ by more than it, or
        that overflow themselves, cannot give a finite loss).

    Examples:
      The lecture's cat image: ``-log(e^3.2 / (e^3.2 + e^5.1 + e^-1.7)) = 2.04``.

      >>> import jax.numpy as jnp
      >>> W = jnp.eye(3)
      >>> X = jnp.array([[3.2, 5.1, -1.7]])
      >>> round(float(softmax_loss(W, X, jnp.array([0]))), 2)
      2.04
    """
    _checks.check_problem(W, X, y, allow_complex_W=True)
    _checks.check_nonnegative(reg, "reg")
    return _check_no_overflow(_softmax_loss(W, X, y, reg), "softmax_loss", W, X, reg)


#: The losses by name, for the command line and the experiments.
LOSSES = {"svm": svm_loss, "softmax": softmax_loss}


def get_loss(name: str):
    """The loss function called ``name`` (``"svm"`` or ``"softmax"``)."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}") from None
