"""Checking the analytic gradient against the numerical one, coordinate by coordinate.

The lecture computes the gradient twice: numerically, by finite differences
(cheap to write, slow, approximate), and analytically (fast, exact, easy to
get wrong), and checks one against the other by the relative error

``|a - b| / max(|a|, |b|)``

-- the definition of the CS231n notes, where the thresholds come from
(CS231n's assignment code, ``grad_check_sparse`` and ``rel_error``, divides
by ``|a| + |b|`` instead, which gives between half and all of it: about
half near a match). :func:`check_gradient` returns a :class:`GradCheckReport`
with a verdict on the notes' scale, which depends on whether the objective
is smooth:

======================  =====================================  ==============================
error                   smooth objective (softmax)             objective with kinks (SVM)
======================  =====================================  ==============================
> 1e-2                  ``"wrong"``                            ``"wrong"``
1e-4 .. 1e-2            ``"uncomfortable"``                    ``"uncomfortable"``
1e-7 .. 1e-4            ``"uncomfortable"`` (too high)         ``"ok"``
<= 1e-7                 ``"good"``                             ``"good"``
======================  =====================================  ==============================

**The rule, in full.** A finite difference has an error of its own, so a
relative error alone cannot tell a right gradient from a wrong one: a right
softmax gradient at ``W = 1e-4 randn`` on digits, float64, ``h = 1e-4``,
shows 5e-7, all of it the ``h**2`` truncation error of central differences
on slopes of 1e-5. So for every checked weight ``k`` the check estimates
its own error ``e_k``, the sum of

* round-off: ``f`` is known to about ``eps |f(W)|``, so a difference quotient
  to about ``eps |f(W)| / h`` (``eps`` of the dtype: the float32 check's
  error is 5e8 times larger than float64's), and
* truncation: the same difference with step ``2h`` differs from the one with
  ``h`` by ``(2^p - 1)`` times the truncation error of the ``h`` one (``p =
  2`` central, ``p = 1`` forward), so ``|D(h) - D(2h)| / (2^p - 1)``
  estimates it -- and where ``2h`` crosses a kink that ``h`` did not, the
  estimate grows, so such a coordinate is not judged on a bend it may
  straddle,

times :data:`ERROR_BOUND_FACTOR` (4) for safety (the largest mismatch of a
right gradient seen on digits, both losses and dtypes, was 1.1 estimates).
Then:

1. each coordinate's **resolution** is ``e_k / max(|a_k|, |b_k|)``, the
   smallest relative error it can show, and its **proven mismatch** is
   ``max(0, |a_k - b_k| - e_k) / max(|a_k|, |b_k|)``, the part of the
   mismatch its own error does not explain: a lower bound on the analytic
   gradient's relative error. A coordinate thus crosses a threshold ``t``
   only when its relative error exceeds ``t`` plus its resolution: the
   thresholds follow what the dtype and the step resolve (float32, whose
   resolution is 5e8 times coarser, is judged on its own);
2. the largest proven mismatch away from flagged kinks, read on the scale
   above, gives ``"wrong"``, ``"uncomfortable"`` or (only for an objective
   with kinks: ``kinks`` given or ``smooth=False`` declared) ``"ok"``;
3. otherwise no mismatch is proven, and the verdict is ``"good"`` only if
   the check resolves 1e-7 itself: its resolution, the median over the
   coordinates that resolve :data:`RESOLUTION_LIMIT` (1e-3) or better, is
   at most 1e-7. Else ``"inconclusive"`` -- a float32 check, whose best
   resolution is near 1e-4, can prove a gradient wrong but never vouch for
   it to 1e-7;
4. a numerical slope that is NaN or Inf (``f`` not finite at ``W +- h e_k``)
   makes the check ``"inconclusive"`` unless another coordinate proves it
   wrong or uncomfortable; an analytic gradient that is NaN or Inf where the
   finite difference is finite is ``"wrong"``. Each comes with a hint.

A right gradient then reads ``"good"`` with the defaults in float64 for
both losses on digits; a gradient 1 % off, without its ``2 reg W`` term or
without the ``1/N`` reads ``"uncomfortable"`` or ``"wrong"`` (``tests/test_gradcheck.py``
checks each). The report shows the raw relative errors beside the verdict,
and a hint when round-off, truncation or kinks explain a mismatch.

This module gathers the gradient-checking API (its names are the public ones):

* :func:`numerical_gradient`, :func:`numerical_gradient_linear` -- the finite
  differences (from :mod:`jaxopt_course.finite_differences`);
* :func:`complex_step_gradient`, :func:`step_size_study` -- exact slopes
  without cancellation, and the error as ``h`` shrinks (from
  :mod:`jaxopt_course.complex_step`);
* :func:`relative_error`, :func:`svm_kink_crossings` (where the SVM's hinge
  makes a finite difference disagree, legitimately, with the gradient),
  :func:`check_gradient` and its :class:`GradCheckReport` (here).
"""

from __future__ import annotations

import dataclasses
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _checks, losses, model
from .complex_step import STUDY_METHODS, complex_step_gradient, step_size_study
from .finite_differences import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_LINEAR_CHUNK_SIZE,
    METHODS,
    PER_EXAMPLE_FROM_SCORES,
    check_fd_arguments,
    differences_at,
    numerical_gradient,
    numerical_gradient_linear,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_LINEAR_CHUNK_SIZE",
    "METHODS",
    "PER_EXAMPLE_FROM_SCORES",
    "STUDY_METHODS",
    "ERROR_BOUND_FACTOR",
    "RELATIVE_ERROR_DEFINITION",
    "RESOLUTION_LIMIT",
    "VERDICTS",
    "VERDICT_THRESHOLDS",
    "GradCheckReport",
    "check_gradient",
    "complex_step_gradient",
    "numerical_gradient",
    "numerical_gradient_linear",
    "relative_error",
    "step_size_study",
    "svm_kink_crossings",
    "verdict_of",
]

#: How this package measures the mismatch (the CS231n notes' definition).
RELATIVE_ERROR_DEFINITION = "|a - b| / max(|a|, |b|)"
#: CS231n's assignment code (``grad_check_sparse``, ``rel_error``) divides by the sum instead.
RELATIVE_ERROR_SUM_DEFINITION = "|a - b| / (|a| + |b|)"
#: The verdicts, worst first; ``"inconclusive"``: no coordinate could be judged, or a numerical slope was not finite.
VERDICTS = ("wrong", "uncomfortable", "ok", "good", "inconclusive")
#: CS231n's thresholds: above ``VERDICT_THRESHOLDS[v]`` the verdict is ``v`` (checked worst first); the
#: ``"ok"`` band (1e-7..1e-4) exists only for an objective with kinks: a smooth one reads ``"uncomfortable"``.
VERDICT_THRESHOLDS = {"wrong": 1e-2, "uncomfortable": 1e-4, "ok": 1e-7}
_VERDICT_WORDS = {
    "wrong": "PROBABLY WRONG",
    "uncomfortable": "UNCOMFORTABLE",
    "ok": "OK for an objective with kinks",
    "good": "GOOD",
    "inconclusive": "INCONCLUSIVE",
}
_SCALE = {
    False: "CS231n, objective with kinks: > 1e-2 probably wrong, 1e-4..1e-2 uncomfortable, 1e-7..1e-4 ok, <= 1e-7 good",
    True: "CS231n, smooth objective: > 1e-2 probably wrong, 1e-7..1e-2 uncomfortable (1e-7..1e-4 is ok only "
    "with kinks), <= 1e-7 good",
}
#: The check's own error at a coordinate is taken as this many times its estimate (round-off + truncation).
ERROR_BOUND_FACTOR = 4.0
#: Coordinates are judged only where the check resolves relative errors this small or smaller.
RESOLUTION_LIMIT = 1e-3


# ---------------------------------------------------------------------------
# Relative error and the SVM's kinks.
# ---------------------------------------------------------------------------


def relative_error(a, b):
    """The relative error, elementwise: ``|a - b| / max(|a|, |b|)``, 0 where both are 0.

    The CS231n notes' definition (their thresholds, see :func:`verdict_of`,
    are for it). CS231n's assignment code divides by ``|a| + |b|`` instead,
    which is between half of this and all of it (half when ``a`` and ``b``
    are close); :class:`GradCheckReport` shows both.

    Scale-free, unlike ``|a - b|``: 1e-7 or less is a match, above 1e-2 is
    probably a bug. It is ill-conditioned where the true value is tiny (two
    near-zero numbers have a large relative error), so look at the
    magnitudes too.

    Args:
      a, b: arrays of the same shape.

    Returns:
      An array of that shape, values in ``[0, 2]`` (2 when the signs differ).

    Examples:
      >>> import jax.numpy as jnp
      >>> err = relative_error(jnp.array([1.0, 0.0, 2.0]), jnp.array([1.1, 0.0, -2.0]))
      >>> [round(float(e), 4) for e in err]
      [0.0909, 0.0, 2.0]
    """
    if isinstance(a, (numbers.Number, list, tuple)):
        a = jnp.asarray(a)
    if isinstance(b, (numbers.Number, list, tuple)):
        b = jnp.asarray(b)
    shape_a = _checks.check_real_array(a, "a")
    shape_b = _checks.check_real_array(b, "b")
    if shape_a != shape_b:
        raise ValueError(f"a and b must have the same shape, got a {shape_a} and b {shape_b}")
    return _relative_error(a, b)


@jax.jit
def _relative_error(a, b):
    scale = jnp.maximum(jnp.abs(a), jnp.abs(b))
    both_zero = scale == 0
    return jnp.where(both_zero, 0.0, jnp.abs(a - b) / jnp.where(both_zero, 1.0, scale))


def _relative_error_sum(a, b):
    """CS231n's assignment-code relative error ``|a - b| / (|a| + |b|)`` (0 where both are 0), NumPy."""
    total = np.abs(a) + np.abs(b)
    return np.where(total == 0, 0.0, np.abs(a - b) / np.where(total == 0, 1.0, total))


def verdict_of(error, *, smooth: bool) -> str:
    """CS231n's reading of an error: ``"wrong"``, ``"uncomfortable"``, ``"ok"`` or ``"good"``.

    ``> 1e-2``: probably wrong; ``1e-4 .. 1e-2``: uncomfortable; ``1e-7 ..
    1e-4``: ok for an objective with kinks (``smooth=False``), uncomfortable
    -- too high -- for a smooth one; ``<= 1e-7``: good. NaN is ``"wrong"``.

    Examples:
      >>> [verdict_of(e, smooth=False) for e in (0.5, 1e-3, 1e-5, 1e-9)]
      ['wrong', 'uncomfortable', 'ok', 'good']
      >>> verdict_of(1e-5, smooth=True)
      'uncomfortable'
    """
    if not isinstance(smooth, bool):
        raise TypeError(f"smooth must be True or False, got {smooth!r}")
    error = float(error)
    for verdict in ("wrong", "uncomfortable", "ok"):
        if not error <= VERDICT_THRESHOLDS[verdict]:
            return "uncomfortable" if (verdict == "ok" and smooth) else verdict
    return "good"


@jax.jit
def _svm_kink_crossings(W_CxD, X_NxD, y_N, h, margin):
    num_classes = W_CxD.shape[0]
    margins_NxC, _ = losses.svm_margins(model.scores_core(W_CxD, X_NxD), y_N, margin)
    is_correct_NxC = jnp.arange(num_classes)[None, :] == y_N[:, None]
    # How far each wrong-class margin is from its kink at 0.
    distance_NxC = jnp.where(is_correct_NxC, jnp.inf, jnp.abs(margins_NxC))
    # Moving W[c, d] moves s_ic. For a wrong class c that moves the margin
    # m_ic; for the correct class c = y_i it moves every margin of example i,
    # so the nearest kink of the row counts.
    nearest_N = jnp.min(distance_NxC, axis=1)
    reach_NxC = jnp.where(is_correct_NxC, nearest_N[:, None], distance_NxC)
    # A step of at most h moves s_ic by at most h |X[i, d]|.
    step_NxD = h * jnp.abs(X_NxD)

    def crossings_of_class(reach_N):  # (D,): any example whose kink is within reach
        return jnp.any((reach_N[:, None] <= step_NxD) & (step_NxD > 0), axis=0)

    return lax.map(crossings_of_class, reach_NxC.T)


def svm_kink_crossings(W, X, y, h=1e-4, margin=1.0):
    """Which weights' finite-difference steps can cross a kink of the SVM's hinge.

    The SVM loss is piecewise linear: ``max(0, m_ij)`` bends where a margin
    ``m_ij = s_ij - s_{i,y_i} + margin`` is 0. Moving ``W[c, d]`` by up to
    ``h`` (forward: ``+h``; central: ``+-h``) moves ``s_ic`` by up to
    ``h |X[i, d]|``; when some affected margin lies that close to 0 the
    finite difference straddles the bend and can legitimately disagree with
    the (sub)gradient. Flagged: ``W[c, d]`` with some example ``i`` where

    * ``c != y_i`` and ``|m_ic| <= h |X[i, d]|``, or
    * ``c == y_i`` and ``min_{j != y_i} |m_ij| <= h |X[i, d]|``.

    (Symmetric in the step, so it covers both methods; for forward
    differences it may flag a few more than strictly cross.)

    Args:
      W: weights ``(C, D)``; X: examples ``(N, D)``; y: labels ``(N,)``.
      h: the finite-difference step, > 0.
      margin: the margin Delta.

    Returns:
      A boolean mask of ``W``'s shape, ``(C, D)``; pass it to
      :func:`check_gradient` as ``kinks``.

    Examples:
      One example on a kink (car's margin ``5.1 - 6.1 + 1 = 0``):

      >>> import jax.numpy as jnp
      >>> mask = svm_kink_crossings(jnp.eye(3), jnp.array([[6.1, 5.1, -1.7]]), jnp.array([0]))
      >>> mask.tolist()
      [[True, True, True], [True, True, True], [False, False, False]]
    """
    _checks.check_problem(W, X, y)
    _checks.check_step(h)
    _checks.check_nonnegative(margin, "margin")
    return _svm_kink_crossings(W, X, y, h, margin)


# ---------------------------------------------------------------------------
# check_gradient and its report.
# ---------------------------------------------------------------------------


def _roundoff_hint(dtype: str, loss_value: float, h: float, roundoff: float, num_zero: int, verdict: str) -> str:
    """Why a mismatch no larger than round-off is no sign of a bug, and how to shrink it."""
    zeros = f"; {num_zero} numerical slope(s) came out exactly 0" if num_zero else ""
    text = (
        f"the mismatch is no larger than {dtype} round-off: f(W) = {loss_value:.3g} is known only to about "
        f"eps*|f| = {float(np.finfo(dtype).eps) * abs(loss_value):.1e}, so a difference over h = {h:g} "
        f"resolves slopes only to about eps*|f|/h = {roundoff:.1e}{zeros}"
    )
    if verdict in ("wrong", "uncomfortable", "inconclusive"):
        text += ", so this check cannot tell a right gradient from one slightly wrong"
    if dtype == "float32":
        return text + (
            ". Check in float64 (with jax.enable_x64(True); on the command line --dtype float64), or "
            "take a larger step in float32 (h ~ 1e-2..1e-3: round-off shrinks as 1/h while the "
            "truncation error of central differences grows as h^2, and the piecewise-linear SVM "
            "has none until a step crosses a kink)."
        )
    return text + (
        ". A larger step lowers it (round-off shrinks as 1/h; the truncation error of central "
        "differences grows as h^2, and the piecewise-linear SVM has none until a step crosses a kink)."
    )


def _finite_or_zero(value: float) -> float:
    return value if np.isfinite(value) else 0.0


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """What :func:`check_gradient` found; ``print(report)`` shows a table, a verdict and a hint.

    Attributes:
      method, h, dtype: the finite differences used.
      num_params: the number of weights in ``W``.
      num_checked: how many were checked (all, or ``num_checks`` random ones).
      indices: the flat (row-major) indices checked, shape ``(K,)``.
      shape: ``W``'s shape when ``W`` is one array, else ``None`` (a pytree).
      numerical, analytic: the two gradients at those indices, ``(K,)``.
      relative_errors: elementwise :func:`relative_error`, ``(K,)``.
      kinks: ``(K,)`` True where the step may cross a kink (see :func:`svm_kink_crossings`).
      num_worst: rows in the table of worst coordinates.
      loss_value: ``f(W)``, for the round-off estimate (NaN: unknown).
      numerical_2h: the same finite differences with step ``2 h``, ``(K,)``, for the
        truncation estimate (``None``: no estimate, round-off only).
      smooth: whether the objective is judged as smooth (no ``"ok"`` band).

    The verdict (:attr:`verdict`, :meth:`verdict_line`) follows the rule in
    the module's docstring: each coordinate's error estimate
    (:attr:`error_bounds`), its resolution (:attr:`resolutions`), the judged
    coordinates and the part of each mismatch the check's own error does
    not explain (:attr:`excess_relative_errors`), read on CS231n's scale
    (:func:`verdict_of`). The relative error is ``|a - b| / max(|a|, |b|)``
    (:data:`RELATIVE_ERROR_DEFINITION`), and :attr:`max_relative_error_sum`
    gives CS231n's assignment-code ``|a - b| / (|a| + |b|)`` beside it.
    """

    method: str
    h: float
    dtype: str
    num_params: int
    num_checked: int
    indices: np.ndarray
    shape: tuple | None
    numerical: np.ndarray
    analytic: np.ndarray
    relative_errors: np.ndarray
    kinks: np.ndarray
    num_worst: int = 5
    loss_value: float = float("nan")
    numerical_2h: np.ndarray | None = None
    smooth: bool = True

    # -- the raw numbers -----------------------------------------------------

    @property
    def max_relative_error(self) -> float:
        """The largest relative error over the checked coordinates (NaN if any is NaN)."""
        return float(np.max(self.relative_errors))

    @property
    def mean_relative_error(self) -> float:
        return float(np.mean(self.relative_errors))

    @property
    def max_relative_error_sum(self) -> float:
        """The max of CS231n's assignment-code relative error ``|a - b| / (|a| + |b|)`` (at most ours)."""
        return float(np.max(_relative_error_sum(self.numerical.astype(np.float64), self.analytic.astype(np.float64))))

    @property
    def relative_error_definition(self) -> str:
        return RELATIVE_ERROR_DEFINITION

    @property
    def max_abs_error(self) -> float:
        return float(np.max(np.abs(self.numerical - self.analytic)))

    @property
    def num_kinks(self) -> int:
        return int(np.sum(self.kinks))

    @property
    def max_relative_error_away_from_kinks(self) -> float:
        """Max relative error over the checked coordinates not flagged as kinks (nan if none)."""
        smooth = self.relative_errors[~self.kinks]
        return float(np.max(smooth)) if smooth.size else float("nan")

    @property
    def mean_relative_error_away_from_kinks(self) -> float:
        smooth = self.relative_errors[~self.kinks]
        return float(np.mean(smooth)) if smooth.size else float("nan")

    @property
    def num_numerical_zero(self) -> int:
        """Checked coordinates whose numerical slope is exactly 0 while the analytic one is not."""
        return int(np.sum((self.numerical == 0) & (self.analytic != 0)))

    @property
    def num_nonfinite_numerical(self) -> int:
        """Checked coordinates whose numerical slope is NaN or Inf."""
        return int(np.sum(~np.isfinite(self.numerical)))

    @property
    def num_nonfinite_analytic(self) -> int:
        """Checked coordinates whose analytic gradient is NaN or Inf while the numerical slope is finite."""
        return int(np.sum(~np.isfinite(self.analytic) & np.isfinite(self.numerical)))

    # -- the check's own error -------------------------------------------------

    @property
    def roundoff_error(self) -> float:
        """About how much round-off a slope carries: ``eps * |f(W)| / h`` (NaN without ``loss_value``)."""
        return float(np.finfo(self.dtype).eps) * abs(self.loss_value) / self.h

    @property
    def truncation_errors(self) -> np.ndarray:
        """``(K,)`` the truncation estimate ``|D(h) - D(2h)| / (2^p - 1)``, ``p`` the formula's order.

        All 0s when the check ran without ``2h``.
        """
        if self.numerical_2h is None:
            return np.zeros(self.num_checked)
        order = 2 if self.method == "central" else 1
        with np.errstate(invalid="ignore"):
            return np.abs(self.numerical.astype(np.float64) - self.numerical_2h.astype(np.float64)) / (2**order - 1)

    @property
    def error_bounds(self) -> np.ndarray:
        """``(K,)`` the check's own error at each coordinate: ``ERROR_BOUND_FACTOR * (round-off + truncation)``."""
        return ERROR_BOUND_FACTOR * (_finite_or_zero(self.roundoff_error) + self.truncation_errors)

    @property
    def _scales(self) -> np.ndarray:
        return np.maximum(np.abs(self.numerical.astype(np.float64)), np.abs(self.analytic.astype(np.float64)))

    @property
    def resolutions(self) -> np.ndarray:
        """``(K,)`` the smallest relative error each coordinate can show: ``error_bounds / max(|a|, |b|)``.

        ``inf`` where both slopes are exactly 0 (no relative error to read) or not finite.
        """
        scale = self._scales
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.error_bounds / scale
        return np.where(np.isfinite(out) & (scale > 0), out, np.inf)

    @property
    def excess_relative_errors(self) -> np.ndarray:
        """``(K,)`` the mismatch beyond the check's own error, ``max(0, |a - b| - e) / max(|a|, |b|)``."""
        scale = self._scales
        excess = np.maximum(
            0.0, np.abs(self.numerical.astype(np.float64) - self.analytic.astype(np.float64)) - self.error_bounds
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(scale > 0, excess / np.where(scale > 0, scale, 1.0), 0.0)

    @property
    def resolved(self) -> np.ndarray:
        """``(K,)`` True where the coordinate resolves :data:`RESOLUTION_LIMIT` or better, both slopes finite."""
        return (self.resolutions <= RESOLUTION_LIMIT) & np.isfinite(self.numerical) & np.isfinite(self.analytic)

    @property
    def _away_from_kinks(self) -> np.ndarray:
        return ~self.kinks if np.any(~self.kinks) else np.ones_like(self.kinks)

    @property
    def _readable(self) -> np.ndarray:
        """Away from kinks (all if every one is a kink), both slopes finite: where a mismatch can be proven."""
        return self._away_from_kinks & np.isfinite(self.numerical) & np.isfinite(self.analytic)

    @property
    def _judged(self) -> np.ndarray:
        """The coordinates whose resolution is the check's: readable, and resolving :data:`RESOLUTION_LIMIT`."""
        return self._readable & (self.resolutions <= RESOLUTION_LIMIT)

    @property
    def num_judged(self) -> int:
        return int(np.sum(self._judged))

    @property
    def num_unresolved(self) -> int:
        """Checked coordinates (away from kinks) that do not resolve :data:`RESOLUTION_LIMIT`."""
        return int(np.sum(self._away_from_kinks & ~self.resolved))

    @property
    def num_both_zero(self) -> int:
        """Checked coordinates (away from kinks) where both slopes are exactly 0: agreed, but no relative error."""
        return int(np.sum(self._away_from_kinks & (self.numerical == 0) & (self.analytic == 0)))

    @property
    def resolution(self) -> float:
        """The check's resolution: the median :attr:`resolutions` over the judged coordinates (NaN: none).

        The smallest relative error the check can vouch for: ``"good"`` needs it at 1e-7 or below.
        """
        judged = self.resolutions[self._judged]
        return float(np.median(judged)) if judged.size else float("nan")

    # -- the verdict -----------------------------------------------------------

    @property
    def verdict_error(self) -> float:
        """The largest proven mismatch: :attr:`excess_relative_errors` over the coordinates away from kinks.

        A lower bound on the analytic gradient's relative error there (NaN: no finite coordinate).
        """
        readable = self.excess_relative_errors[self._readable]
        return float(np.max(readable)) if readable.size else float("nan")

    @property
    def verdict(self) -> str:
        """The rule of the module's docstring: a proven mismatch's band, else good if resolved, else inconclusive."""
        if self.num_nonfinite_analytic:
            return "wrong"
        reading = verdict_of(self.verdict_error, smooth=self.smooth) if np.any(self._readable) else None
        if reading in ("wrong", "uncomfortable"):
            return reading
        if self.num_nonfinite_numerical or reading is None:
            return "inconclusive"
        if reading == "ok":
            return "ok"
        return "good" if self.resolution <= VERDICT_THRESHOLDS["ok"] else "inconclusive"

    @property
    def passed(self) -> bool:
        """True for the verdicts ``"good"`` and ``"ok"``."""
        return self.verdict in ("good", "ok")

    @property
    def hint(self) -> str | None:
        """What most likely explains a verdict other than ``"good"`` (``None`` for ``"good"``)."""
        verdict = self.verdict
        if verdict == "good":
            return None
        if self.num_nonfinite_analytic:
            return (
                f"the analytic gradient is NaN or Inf at {self.num_nonfinite_analytic} coordinate(s) where the "
                "finite difference is finite: the gradient code overflows or divides by zero (a softmax "
                "without the max shift, a log of 0) where the loss itself is fine"
            )
        if verdict == "ok":
            return (
                "acceptable for an objective with kinks: near a bend a finite difference may straddle it and "
                "disagree with the subgradient without any bug"
            )
        if verdict in ("wrong", "uncomfortable"):
            readable = self._readable
            worst = int(np.argmax(self.excess_relative_errors[readable]))
            worst_abs = float(np.abs(self.numerical - self.analytic)[readable][worst])
            bound = float(self.error_bounds[readable][worst])
            text = (
                f"the mismatch ({worst_abs:.1e} at worst) is beyond this check's own error at that coordinate "
                f"({bound:.1e}: {ERROR_BOUND_FACTOR:g} x (round-off eps*|f|/h + the truncation estimate "
                "|D(h) - D(2h)| / (2^p - 1))), so the finite differences do not explain it: most likely the "
                "gradient is wrong (a factor, a missing term, a transposed index)"
            )
            if self.smooth:
                text += (
                    "; if f has kinks, declare them (kinks=svm_kink_crossings(...), or smooth=False), where "
                    "1e-7..1e-4 is acceptable"
                )
            return text
        if self.num_nonfinite_numerical:
            return (
                f"{self.num_nonfinite_numerical} numerical slope(s) are NaN or Inf: f is not finite at W + h e_k "
                "or W - h e_k (an overflow, a log of 0, a step out of f's domain), so those coordinates say "
                "nothing about the gradient. Evaluate f there, or take a smaller h"
            )
        zeros = int(np.sum((self.numerical == 0) & (self.analytic != 0) & self._away_from_kinks))
        truncation = self.truncation_errors[self._away_from_kinks]
        if np.median(truncation) <= _finite_or_zero(self.roundoff_error):
            return _roundoff_hint(self.dtype, self.loss_value, self.h, self.roundoff_error, zeros, verdict)
        return (
            "the steps h and 2h disagree by more than 1e-7 of the slopes (a large truncation error, or kinks "
            "the steps straddle), so this check cannot vouch for a right gradient. Take a smaller h (central "
            "differences: the truncation error falls as h^2), or check where the slopes are larger"
        )

    def verdict_line(self) -> str:
        """The verdict in one line: the word, the numbers it read (over which coordinates), and CS231n's scale."""
        scale = _SCALE[self.smooth]
        if self.num_nonfinite_analytic:
            return (
                f"verdict: PROBABLY WRONG -- the analytic gradient is NaN or Inf at "
                f"{self.num_nonfinite_analytic} coordinate(s) ({scale})"
            )
        left_out = []
        if self.num_kinks and np.any(~self.kinks):
            left_out.append(f"{self.num_kinks} near kinks")
        if self.num_nonfinite_numerical:
            left_out.append(f"{self.num_nonfinite_numerical} whose numerical slope is NaN or Inf")
        if self.num_both_zero:
            left_out.append(f"{self.num_both_zero} where both slopes are exactly 0")
        unresolved = self.num_unresolved - self.num_both_zero - self.num_nonfinite_numerical
        if unresolved > 0:
            left_out.append(f"{unresolved} that resolve less than {RESOLUTION_LIMIT:g}")
        where = f"; not judged: {', '.join(left_out)}" if left_out else ""
        mismatch = (
            "no coordinate to read"
            if np.isnan(self.verdict_error)
            else f"largest mismatch beyond the check's own error {self.verdict_error:.2e}"
        )
        resolution = (
            "no coordinate resolves 1e-3"
            if np.isnan(self.resolution)
            else f"the check resolves {self.resolution:.1e} (median over {self.num_judged} coordinates)"
        )
        return f"verdict: {_VERDICT_WORDS[self.verdict]} -- {mismatch}, {resolution}{where} ({scale})"

    # -- display ---------------------------------------------------------------

    def coordinate(self, flat_index: int):
        """A flat index as ``W``'s multi-index (a tuple), or the flat index for a pytree."""
        if self.shape is None:
            return int(flat_index)
        return tuple(int(i) for i in np.unravel_index(int(flat_index), self.shape))

    @property
    def worst(self) -> list[dict]:
        """The ``num_worst`` coordinates with the largest relative error, worst first (NaN first)."""
        errors = np.where(np.isnan(self.relative_errors), np.inf, self.relative_errors)
        order = np.argsort(-errors, kind="stable")[: self.num_worst]
        resolutions = self.resolutions
        return [
            {
                "coordinate": self.coordinate(self.indices[i]),
                "numerical": float(self.numerical[i]),
                "analytic": float(self.analytic[i]),
                "abs_error": float(abs(self.numerical[i] - self.analytic[i])),
                "relative_error": float(self.relative_errors[i]),
                "resolution": float(resolutions[i]),
                "kink": bool(self.kinks[i]),
            }
            for i in order
        ]

    def to_dict(self) -> dict:
        """The summary and the verdict as plain Python values (JSON-ready; ``NaN`` and ``inf`` become ``None``)."""

        def clean(v):
            return None if isinstance(v, float) and not np.isfinite(v) else v

        return {
            "method": self.method,
            "h": float(self.h),
            "dtype": self.dtype,
            "num_params": self.num_params,
            "num_checked": self.num_checked,
            "smooth": self.smooth,
            "relative_error_definition": RELATIVE_ERROR_DEFINITION,
            "max_relative_error": clean(self.max_relative_error),
            "mean_relative_error": clean(self.mean_relative_error),
            "max_relative_error_sum": clean(self.max_relative_error_sum),
            "relative_error_sum_definition": RELATIVE_ERROR_SUM_DEFINITION,
            "max_abs_error": clean(self.max_abs_error),
            "num_kinks": self.num_kinks,
            "max_relative_error_away_from_kinks": clean(self.max_relative_error_away_from_kinks),
            "mean_relative_error_away_from_kinks": clean(self.mean_relative_error_away_from_kinks),
            "loss_value": clean(float(self.loss_value)),
            "roundoff_error": clean(self.roundoff_error),
            "error_bound_factor": ERROR_BOUND_FACTOR,
            "resolution_limit": RESOLUTION_LIMIT,
            "resolution": clean(self.resolution),
            "num_judged": self.num_judged,
            "num_numerical_zero": self.num_numerical_zero,
            "num_nonfinite_numerical": self.num_nonfinite_numerical,
            "num_nonfinite_analytic": self.num_nonfinite_analytic,
            "num_unresolved": self.num_unresolved,
            "num_both_zero": self.num_both_zero,
            "verdict": self.verdict,
            "verdict_error": clean(self.verdict_error),
            "passed": self.passed,
            "verdict_line": self.verdict_line(),
            "hint": self.hint,
            "thresholds": dict(VERDICT_THRESHOLDS),
            "worst": [
                dict(
                    {k: clean(v) for k, v in row.items()},
                    coordinate=list(row["coordinate"]) if isinstance(row["coordinate"], tuple) else row["coordinate"],
                )
                for row in self.worst
            ],
        }

    def _table_rows(self) -> list[str]:
        lines = [
            f"  worst {min(self.num_worst, self.num_checked)} coordinate(s):",
            f"    {'coordinate':>14} {'numerical':>14} {'analytic':>14} {'abs error':>10} "
            f"{'rel error':>10} {'resolves':>10}  kink",
        ]
        for row in self.worst:
            lines.append(
                f"    {str(row['coordinate']):>14} {row['numerical']:>14.6e} {row['analytic']:>14.6e} "
                f"{row['abs_error']:>10.2e} {row['relative_error']:>10.2e} {row['resolution']:>10.1e}"
                f"  {'yes' if row['kink'] else ''}"
            )
        return lines

    def table(self) -> str:
        """The report as readable lines of text: summary, worst coordinates, verdict, hint."""
        checked = (
            "all" if self.num_checked == self.num_params else f"{self.num_checked} random"
        ) + f" of {self.num_params} coordinates"
        kind = "smooth objective" if self.smooth else "objective with kinks"
        lines = [
            f"gradient check: {self.method} differences, h={self.h:.0e}, {self.dtype}, {checked}, {kind}",
            f"  relative error   max {self.max_relative_error:.2e}   mean {self.mean_relative_error:.2e}"
            f"   (max abs error {self.max_abs_error:.2e})",
            f"  relative error = {RELATIVE_ERROR_DEFINITION} (the CS231n notes'); CS231n's assignment code's "
            f"{RELATIVE_ERROR_SUM_DEFINITION}: max {self.max_relative_error_sum:.2e}",
        ]
        if self.num_kinks:
            lines.append(
                f"  away from kinks  max {self.max_relative_error_away_from_kinks:.2e}"
                f"   mean {self.mean_relative_error_away_from_kinks:.2e}"
                f"   ({self.num_kinks} coordinate(s) whose step may cross a kink of the hinge max(0, .): "
                "there a finite difference straddles the bend and may disagree with the subgradient, "
                "legitimately)"
            )
        lines += self._table_rows()
        lines.append("  " + self.verdict_line())
        if self.hint:
            lines.append("  hint: " + self.hint)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _as_key(key):
    if key is None:
        return jax.random.key(0)
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,))
    ):
        return key
    raise TypeError(f"key must be a jax.random key or an integer seed, got {key!r}")


def _flat_like(tree, W, name: str):
    """Ravel ``tree``, which must have ``W``'s structure and shapes."""
    struct_w, struct_t = jax.tree_util.tree_structure(W), jax.tree_util.tree_structure(tree)
    # PyTreeDef compares with == and != at runtime; jaxlib's stubs do not declare the operators
    if struct_w != struct_t:  # type: ignore[operator]
        raise ValueError(f"{name} must have the structure of W ({struct_w}), got {struct_t}")
    for leaf_w, leaf_t in zip(jax.tree_util.tree_leaves(W), jax.tree_util.tree_leaves(tree), strict=True):
        if np.shape(leaf_w) != np.shape(leaf_t):
            raise ValueError(f"{name} must have W's shape {np.shape(leaf_w)}, got shape {np.shape(leaf_t)}")
    return ravel_pytree(tree)[0]


def _check_gradient_arguments(f, W, num_checks, h, method, chunk_size, num_worst) -> int:
    """Validate :func:`check_gradient`'s arguments; returns the number of weights."""
    _checks.check_callable(f)
    num_params = _checks.check_params(W)
    check_fd_arguments(h, method, chunk_size)
    if num_checks is not None:
        _checks.check_int(num_checks, "num_checks", expected="a positive integer or None")
        if num_checks > num_params:
            raise ValueError(f"num_checks must be at most the number of weights ({num_params}), got {num_checks}")
    _checks.check_int(num_worst, "num_worst", low=0, expected="a non-negative integer")
    _checks.check_scalar_loss(f, W)
    return num_params


def check_gradient(
    f,
    W,
    analytic_grad=None,
    num_checks=None,
    h=1e-4,
    method="central",
    key=None,
    kinks=None,
    chunk_size=DEFAULT_CHUNK_SIZE,
    num_worst=5,
    smooth=None,
) -> GradCheckReport:
    """Compare an analytic gradient with finite differences, coordinate by coordinate, and judge it.

    For each checked weight ``k``: the numerical slope (see
    :func:`numerical_gradient`), the analytic ``dW[k]`` and their
    :func:`relative_error` ``|a - b| / max(|a|, |b|)``. With ``num_checks``
    it checks that many random weights, like CS231n's ``grad_check_sparse``;
    otherwise all of them. The same differences with step ``2 h`` estimate
    the truncation error, so each weight costs twice the evaluations of
    :func:`numerical_gradient`.

    The report's :attr:`~GradCheckReport.verdict` follows the rule of this
    module's docstring: the part of each mismatch that the check's own error
    (round-off ``eps * |f(W)| / h`` plus the truncation estimate) does not
    explain, over the coordinates that resolve 1e-3 or better and are not
    flagged as kinks, read on CS231n's scale -- > 1e-2 probably wrong,
    1e-4..1e-2 uncomfortable, 1e-7..1e-4 ok only for an objective with kinks
    (uncomfortable for a smooth one), <= 1e-7 good; NaN or Inf slopes are
    never good. Its :attr:`~GradCheckReport.hint` names a likely cause:
    round-off (float32 with ``h = 1e-4`` on a loss near 9 resolves slopes to
    1e-2 only, more than most components of a gradient at ``W = 1e-4 *
    randn``), truncation, kinks, or a real mismatch.

    Args:
      f: the loss ``f(W) -> scalar``.
      W: the weights (an array, or a pytree of arrays).
      analytic_grad: the gradient to check, ``W``'s shape; ``None`` uses ``jax.grad(f)(W)``.
      num_checks: check this many random weights (``None``: all).
      h: the finite-difference step, > 0.
      method: ``"central"`` (default; the better formula) or ``"forward"``.
      key: a ``jax.random`` key or an integer seed for the random weights
        (``None``: seed 0).
      kinks: optional boolean mask of ``W``'s shape marking weights whose
        step may cross a kink (e.g. :func:`svm_kink_crossings`); their
        mismatches are shown in the report and left out of the verdict.
        Giving it declares that the objective has kinks.
      chunk_size: perturbed losses per vmap call (speed and memory only).
      num_worst: rows in the report's table of worst coordinates.
      smooth: whether ``f`` is smooth (no kinks), which decides whether
        1e-7..1e-4 is acceptable (``"ok"``); ``None``: smooth unless
        ``kinks`` is given. Declare ``smooth=False`` for an objective with
        kinks when you have no mask.

    Returns:
      A :class:`GradCheckReport` (``.max_relative_error``, ``.verdict``,
      ``.verdict_line()``, ``.hint``, ``.worst``, ``.to_dict()``, ...);
      ``print`` it for a table.

    Examples:
      Central differences of ``w**3`` are off by exactly ``h**2``, which
      the step ``2 h`` measures: with ``h = 1e-2`` the check resolves only
      about 1e-4 and cannot vouch for the gradient; with ``h = 1e-5`` a right
      gradient reads good and one 1 % off does not:

      >>> import jax, jax.numpy as jnp
      >>> f = lambda w: jnp.sum(w ** 3)
      >>> with jax.enable_x64(True):
      ...     w = jnp.array([1.0, 2.0], dtype=jnp.float64)
      ...     coarse = check_gradient(f, w, analytic_grad=3 * w ** 2, h=1e-2)
      ...     fine = check_gradient(f, w, analytic_grad=3 * w ** 2, h=1e-5)
      ...     off = check_gradient(f, w, analytic_grad=1.01 * 3 * w ** 2, h=1e-5)
      >>> coarse.verdict, f"{coarse.resolution:.0e}", fine.verdict, off.verdict
      ('inconclusive', '8e-05', 'good', 'uncomfortable')
    """
    if smooth is not None and not isinstance(smooth, bool):
        raise TypeError(f"smooth must be True, False or None, got {smooth!r}")
    num_params = _check_gradient_arguments(f, W, num_checks, h, method, chunk_size, num_worst)
    key = _as_key(key)
    w_P, _ = ravel_pytree(W)
    if analytic_grad is None:
        analytic_P = ravel_pytree(jax.grad(f)(W))[0]
    else:
        _checks.check_params(analytic_grad, "analytic_grad")
        analytic_P = _flat_like(analytic_grad, W, "analytic_grad")
    kinks_P = (
        np.zeros(num_params, dtype=bool) if kinks is None else np.asarray(_flat_like(kinks, W, "kinks")).astype(bool)
    )
    if num_checks is None or num_checks == num_params:
        indices = jnp.arange(num_params)
    else:
        indices = jnp.sort(jax.random.choice(key, num_params, (int(num_checks),), replace=False))
    numerical_K = differences_at(f, W, indices, h, method, int(chunk_size))
    # The same formula with twice the step: the difference estimates the truncation error.
    numerical_2h_K = differences_at(f, W, indices, 2 * h, method, int(chunk_size))
    analytic_K = analytic_P[indices]
    indices_np = np.asarray(indices)
    is_one_array = jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(W))
    return GradCheckReport(
        method=method,
        h=float(h),
        dtype=str(w_P.dtype),
        num_params=num_params,
        num_checked=int(indices_np.size),
        indices=indices_np,
        shape=tuple(np.shape(jax.tree_util.tree_leaves(W)[0])) if is_one_array else None,
        numerical=np.asarray(numerical_K),
        analytic=np.asarray(analytic_K),
        relative_errors=np.asarray(_relative_error(numerical_K, analytic_K.astype(numerical_K.dtype))),
        kinks=kinks_P[indices_np],
        num_worst=int(num_worst),
        loss_value=float(f(W)),
        numerical_2h=np.asarray(numerical_2h_K),
        smooth=(kinks is None) if smooth is None else smooth,
    )
