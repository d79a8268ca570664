"""The numerical gradient, and checking the analytic one against it.

The lecture computes the slope of the loss along each weight with a finite
difference, ``h = 1e-4``:

``dL/dW_k ~ (L(W + h e_k) - L(W)) / h``          (forward, error O(h))

``dL/dW_k ~ (L(W + h e_k) - L(W - h e_k)) / 2h``  (central, error O(h^2))

where ``e_k`` is the one-hot direction of weight ``k``. One loss evaluation per
weight is slow -- 30730 of them for CIFAR-10's ``W`` of shape (10, 3073) -- so
it is only used to *check* the analytic gradient, by the relative error
``|a - b| / max(|a|, |b|)``.

This module offers:

* :func:`numerical_gradient` -- any loss ``f(W)``, any shape (or pytree) of
  ``W``; the perturbed losses are evaluated in chunks, each chunk one
  ``jax.vmap`` over one-hot directions, so memory stays bounded;
* :func:`numerical_gradient_linear` -- the same finite differences for the
  linear losses, fast: moving ``W[c, d]`` changes only the scores of class
  ``c``, by the step times ``X[:, d]``, so no new matrix product is needed;
* :func:`relative_error`, :func:`check_gradient` (a printable
  :class:`GradCheckReport`) and :func:`svm_kink_crossings` (where the SVM's
  hinge makes a finite difference disagree, legitimately, with the gradient);
* :func:`complex_step_gradient` -- ``Im f(W + i h e_k) / h``: no subtraction,
  so no round-off; machine precision for any tiny ``h`` (analytic losses only);
* :func:`step_size_study` -- the error of both formulas (and of the complex
  step) as ``h`` shrinks: truncation error on the right, round-off on the left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _checks

#: The two finite-difference formulas.
METHODS = ("forward", "central")
#: What :func:`step_size_study` compares: the two formulas and the complex step.
STUDY_METHODS = METHODS + ("complex",)

#: Perturbed losses evaluated per ``jax.vmap`` call. Tuned on 2 CPU cores for
#: W of 10 x 3073 and 500 examples (see benchmarks/NOTES.md); any value gives
#: the same numbers up to round-off, only speed and memory change.
DEFAULT_CHUNK_SIZE = 256
#: The same for :func:`numerical_gradient_linear`, whose perturbations are cheap.
DEFAULT_LINEAR_CHUNK_SIZE = 256


# ---------------------------------------------------------------------------
# Validation helpers (plain Python, before any tracing).
# ---------------------------------------------------------------------------


def _check_method(method) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")


def _check_step(h) -> None:
    if _checks.is_traced(h):
        return
    _checks.check_positive(h, "h")
    if np.ndim(h) != 0:
        raise ValueError(f"h must be one step (a scalar), got shape {np.shape(h)}")


def _check_chunk_size(chunk_size) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _check_callable(f, name: str = "f") -> None:
    if not callable(f):
        raise TypeError(f"{name} must be a callable loss f(W) -> scalar, got {type(f).__name__}")


def _check_params(W, name: str = "W") -> int:
    """``W`` is a floating array or a pytree of them; returns the number of weights."""
    leaves = jax.tree_util.tree_leaves(W)
    if not leaves:
        raise ValueError(f"{name} must hold at least one floating array, got an empty pytree {W!r}")
    size = 0
    for i, leaf in enumerate(leaves):
        leaf_name = name if len(leaves) == 1 else f"{name} (leaf {i})"
        shape = _checks.check_real_array(leaf, leaf_name)
        _checks.check_finite(leaf, leaf_name)
        size += int(np.prod(shape, dtype=np.int64))
    if size == 0:
        raise ValueError(f"{name} must hold at least one weight, got {size}")
    return size


def _check_scalar_loss(f, W) -> None:
    out = jax.eval_shape(f, W)
    if not (hasattr(out, "shape") and out.shape == ()):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"f must return a scalar loss, got output of shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"f must return a floating scalar loss, got dtype {out.dtype}")


# ---------------------------------------------------------------------------
# The generic numerical gradient: vmapped one-hot directions, in chunks.
# ---------------------------------------------------------------------------


def _differences_along(loss_P, w_P, indices_K, h, method, chunk_size):
    """Finite differences of ``loss_P`` (a function of the flat weights) along ``e_k``, k in ``indices_K``."""
    num_weights = w_P.shape[0]

    def loss_moved(k, step):
        # L(w + step e_k): the one-hot direction e_k, scaled by the step.
        e_k = (jnp.arange(num_weights) == k).astype(w_P.dtype)
        return loss_P(w_P + step * e_k)

    # lax.map with batch_size: a sequential loop over chunks, each chunk one
    # vmap over `chunk_size` directions -- bounded memory, vectorized work.
    if method == "forward":
        loss_plus_K = lax.map(lambda k: loss_moved(k, h), indices_K, batch_size=chunk_size)
        return (loss_plus_K - loss_P(w_P)) / h
    loss_plus_K, loss_minus_K = lax.map(
        lambda k: (loss_moved(k, h), loss_moved(k, -h)), indices_K, batch_size=chunk_size)
    return (loss_plus_K - loss_minus_K) / (2 * h)


def _numerical_gradient(f, W, h, method, chunk_size):
    w_P, unravel = ravel_pytree(W)
    loss_P = lambda w: f(unravel(w))  # noqa: E731 - the loss of the flat weights
    indices = jnp.arange(w_P.shape[0])
    return unravel(_differences_along(loss_P, w_P, indices, h, method, chunk_size))


def _differences_at(f, W, indices_K, h, method, chunk_size):
    w_P, unravel = ravel_pytree(W)
    return _differences_along(lambda w: f(unravel(w)), w_P, indices_K, h, method, chunk_size)


# f, method and chunk_size are static; h is traced, so a sweep over h (the
# step-size study) compiles once per (f, method, shape, dtype).
_numerical_gradient_jit = jax.jit(_numerical_gradient, static_argnums=(0, 3, 4))
_differences_at_jit = jax.jit(_differences_at, static_argnums=(0, 4, 5))


def numerical_gradient(f, W, h=1e-4, method="forward", chunk_size=DEFAULT_CHUNK_SIZE):
    """The lecture's numerical gradient: one finite difference per weight.

    For every weight ``k`` (every entry of ``W``, in any shape or pytree):

    * ``method="forward"``: ``(f(W + h e_k) - f(W)) / h`` -- the lecture's formula;
    * ``method="central"``: ``(f(W + h e_k) - f(W - h e_k)) / (2 h)``.

    The perturbed losses are evaluated ``chunk_size`` at a time, each chunk
    one ``jax.vmap`` over one-hot directions ``e_k`` (a ``lax.map`` over the
    chunks), so memory stays about ``chunk_size`` copies of ``W`` plus what
    ``chunk_size`` evaluations of ``f`` need. The whole computation is
    jit-compiled once per ``f`` (by identity), shape and dtype; ``h`` is not
    static, so a new step size does not recompile.

    Args:
      f: the loss, a pure function ``f(W) -> scalar`` (close over ``X`` and
        ``y``, e.g. ``lambda W: svm_loss(W, X, y)``).
      W: the weights: a floating array of any shape, or a pytree of them.
      h: the step (1e-4 in the lecture), > 0.
      method: ``"forward"`` or ``"central"``.
      chunk_size: perturbed losses evaluated per vmap call (speed and memory;
        the values change only by round-off).

    Returns:
      The numerical gradient, the same shape (pytree) and dtype as ``W``.

    Examples:
      ``f(w) = w0**2 + 3 w1`` has gradient ``(2 w0, 3)``:

      >>> import jax.numpy as jnp
      >>> f = lambda w: w[0] ** 2 + 3.0 * w[1]
      >>> g = numerical_gradient(f, jnp.array([1.0, 2.0]), h=1e-2, method="central")
      >>> [round(float(v), 3) for v in g]
      [2.0, 3.0]
    """
    _check_callable(f)
    _check_params(W)
    _check_step(h)
    _check_method(method)
    _check_chunk_size(chunk_size)
    _check_scalar_loss(f, W)
    return _numerical_gradient_jit(f, W, h, method, int(chunk_size))


# ---------------------------------------------------------------------------
# The complex-step derivative: no subtraction, so no cancellation.
# ---------------------------------------------------------------------------


def _complex_dtype(dtype):
    """complex64 for float32 (and smaller), complex128 for float64."""
    return jnp.result_type(dtype, jnp.complex64)


def _is_svm(f) -> bool:
    """``f`` is the SVM loss itself, or a ``functools.partial`` of it (however nested)."""
    from . import losses

    while isinstance(f, functools.partial):
        f = f.func
    return f in (losses.svm_loss, losses.svm_per_example, losses._svm_loss)


_NOT_ANALYTIC = ("the multiclass SVM's hinge max(0, s_j - s_y + margin) is not analytic (it has kinks), "
                 "so it has no complex extension for the complex step to follow; check the SVM with "
                 "numerical_gradient(..., method='central') instead")


def _check_complex_loss(f, W_complex) -> None:
    """``f`` must accept a complex ``W`` and return a complex scalar (an analytic loss)."""
    if _is_svm(f):
        raise ValueError(f"complex_step_gradient cannot differentiate the SVM loss: {_NOT_ANALYTIC}")
    try:
        out = jax.eval_shape(f, W_complex)
    except TypeError as err:
        raise ValueError(
            "complex_step_gradient evaluates f at a complex W, and f refused it "
            f"({type(err).__name__}: {err}). It needs a real-analytic loss that accepts a complex W, "
            f"such as softmax_loss; if f is the SVM: {_NOT_ANALYTIC}") from err
    if not (hasattr(out, "shape") and out.shape == ()):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"f must return a scalar loss, got output of shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise ValueError(
            f"f must return a complex scalar for a complex W, got dtype {out.dtype}: it dropped the "
            "imaginary part (abs, real, a comparison or a cast), where the complex step reads the slope; "
            "the loss must be real-analytic, written without them")


def _complex_step_gradient(f, W, h, chunk_size):
    w_P, unravel = ravel_pytree(W)
    W_complex = jax.tree_util.tree_map(lambda leaf: leaf.astype(_complex_dtype(leaf.dtype)), W)
    w_complex_P, unravel_complex = ravel_pytree(W_complex)
    num_weights = w_P.shape[0]
    h = jnp.asarray(h, dtype=w_P.dtype)

    def slope(k):
        # Im f(W + i h e_k) / h: the one-hot direction e_k, taken an imaginary step h.
        e_k = (jnp.arange(num_weights) == k).astype(w_P.dtype)
        moved = w_complex_P + jax.lax.complex(jnp.zeros_like(e_k), h * e_k)
        return jnp.imag(f(unravel_complex(moved))) / h

    indices = jnp.arange(num_weights)
    return unravel(lax.map(slope, indices, batch_size=chunk_size).astype(w_P.dtype))


# f and chunk_size are static, h is traced: a new h does not recompile.
_complex_step_gradient_jit = jax.jit(_complex_step_gradient, static_argnums=(0, 3))


def complex_step_gradient(f, W, h=1e-20, chunk_size=DEFAULT_CHUNK_SIZE):
    """The complex-step derivative: ``Im f(W + i h e_k) / h`` for every weight ``k``.

    For a real-analytic ``f`` the Taylor series along an *imaginary* step is
    ``f(W + i h e_k) = f(W) + i h df/dW_k - h^2/2 d2f/dW_k^2 - i h^3/6 ... ``,
    so the imaginary part divided by ``h`` is the slope with an ``O(h^2)``
    error -- and no subtraction of two nearly equal losses: unlike the
    finite differences there is no cancellation, no round-off growing like
    ``eps / h``. Any tiny ``h`` works; with the default ``1e-20`` the result
    agrees with the exact gradient to machine precision (about 1e-15
    relative in float64).

    The loss must be real-analytic and written to accept a complex ``W``
    (no ``abs``, ``max`` of ``W``-dependent values, comparisons or casts to
    real): :func:`~jaxopt_course.losses.softmax_loss` is (its max shift is
    taken on the real part; the data stay real). The multiclass SVM is not
    -- its hinge ``max(0, .)`` has kinks -- and asking for it raises
    ``ValueError``.

    The losses are evaluated like :func:`numerical_gradient`'s: ``chunk_size``
    complex perturbations per ``jax.vmap`` call, in a ``lax.map``;
    compiled once per ``f`` (by identity), shape and dtype (``h`` is traced).

    Args:
      f: the loss ``f(W) -> scalar``, accepting a complex ``W``
        (e.g. ``lambda W: softmax_loss(W, X, y, reg=reg)``).
      W: the real weights: a float32/float64 array (or a pytree of them);
        they are evaluated as complex64/complex128.
      h: the imaginary step, > 0 and at least the dtype's smallest normal
        number (1e-20, 1e-100 or 1e-200 all give the same float64 result).
      chunk_size: perturbed losses evaluated per vmap call (speed and memory only).

    Returns:
      The gradient, the same shape (pytree) and dtype as ``W``.

    Raises:
      ValueError: ``f`` is the SVM loss, refuses a complex ``W``, or drops
        the imaginary part of its result.

    References:
      Squire and Trapp, "Using complex variables to estimate derivatives of
      real functions", SIAM Review 40(1), 1998.

    Examples:
      ``f(w) = sum(exp(w))`` has gradient ``exp(w)``, and the complex step
      finds it to the last digit:

      >>> import jax.numpy as jnp
      >>> g = complex_step_gradient(lambda w: jnp.sum(jnp.exp(w)), jnp.array([0.0, 1.0]))
      >>> [round(float(v), 6) for v in g]
      [1.0, 2.718282]
    """
    _check_callable(f)
    _check_params(W)
    _check_step(h)
    _check_chunk_size(chunk_size)
    if not _checks.is_traced(h):
        tiny = min(float(jnp.finfo(leaf.dtype).tiny) for leaf in jax.tree_util.tree_leaves(W))
        if float(h) < tiny:
            dtype = jax.tree_util.tree_leaves(W)[0].dtype
            raise ValueError(f"h must be at least the smallest normal number of W's dtype {dtype} ({tiny:.1e}), "
                             f"got h={float(h):g}: the imaginary step would underflow (use float64 for a smaller h)")
    W_complex = jax.tree_util.tree_map(lambda leaf: jax.ShapeDtypeStruct(
        np.shape(leaf), _complex_dtype(jnp.asarray(leaf).dtype)), W)
    _check_complex_loss(f, W_complex)
    return _complex_step_gradient_jit(f, W, h, int(chunk_size))


# ---------------------------------------------------------------------------
# The score-structured numerical gradient of the linear losses.
# ---------------------------------------------------------------------------


def _svm_per_example_from_scores(scores_NxC, y_N, margin):
    # The same formula, in the same order, as losses._svm_per_example.
    correct_Nx1 = jnp.take_along_axis(scores_NxC, y_N[:, None], axis=1)
    margins_NxC = scores_NxC - correct_Nx1 + margin
    wrong_class_NxC = jnp.arange(scores_NxC.shape[1])[None, :] != y_N[:, None]
    active_NxC = wrong_class_NxC & (margins_NxC > 0)
    return jnp.sum(jnp.where(active_NxC, margins_NxC, 0.0), axis=1)


def _softmax_per_example_from_scores(scores_NxC, y_N, margin):
    del margin  # the softmax loss has none
    # The same formula, in the same order, as losses._softmax_per_example:
    # shifted scores throughout, so nothing is lost next to a huge shift.
    shift_Nx1 = jax.lax.stop_gradient(jnp.max(scores_NxC, axis=1, keepdims=True))
    shifted_NxC = scores_NxC - shift_Nx1
    log_sum_exp_N = jnp.log(jnp.sum(jnp.exp(shifted_NxC), axis=1))
    return log_sum_exp_N - jnp.take_along_axis(shifted_NxC, y_N[:, None], axis=1)[:, 0]


#: Per-example losses as functions of the scores ``(scores_NxC, y_N, margin) -> (N,)``.
PER_EXAMPLE_FROM_SCORES = {"svm": _svm_per_example_from_scores, "softmax": _softmax_per_example_from_scores}


def _data_loss_moving_rows(per_example, scores_NxC):
    """``(c, moved_N) -> 1/N sum_i L_i(s_i + moved_i e_c)``: any per-example loss, whole rows."""
    num_classes = scores_NxC.shape[1]

    def data_loss(c, moved_N):
        is_c_1xC = (jnp.arange(num_classes) == c)[None, :]
        scores_moved_NxC = jnp.where(is_c_1xC, scores_NxC + moved_N[:, None], scores_NxC)
        return jnp.mean(per_example(scores_moved_NxC))

    return data_loss


def _data_loss_moving_softmax(scores_NxC, y_N):
    """The same for softmax, in O(N) per move instead of O(N C).

    ``L_i = log sum_j e^{s_ij} - s_{i,y_i}``. Moving ``s_ic`` changes one term
    of the sum, so ``log sum_j e^{s'_ij} = logaddexp(log sum_{j != c} e^{s_ij}, s_ic + moved_i)``,
    where the first part is computed once for every ``(i, c)``. As in
    losses.py, the scores are shifted by their row maximum at ``W`` first
    (``L_i`` does not change), so nothing is lost next to a huge shift.
    """
    num_classes = scores_NxC.shape[1]
    shifted_NxC = scores_NxC - jnp.max(scores_NxC, axis=1, keepdims=True)
    others_CxNxC = jnp.where(jnp.eye(num_classes, dtype=bool)[:, None, :], -jnp.inf, shifted_NxC[None, :, :])
    log_sum_exp_without_CxN = jax.nn.logsumexp(others_CxNxC, axis=2)  # log sum_{j != c} e^{s_ij}
    shifted_CxN = shifted_NxC.T
    correct_N = jnp.take_along_axis(shifted_NxC, y_N[:, None], axis=1)[:, 0]

    def data_loss(c, moved_N):
        log_sum_exp_N = jnp.logaddexp(log_sum_exp_without_CxN[c], shifted_CxN[c] + moved_N)
        correct_moved_N = correct_N + jnp.where(y_N == c, moved_N, 0.0)
        return jnp.mean(log_sum_exp_N - correct_moved_N)

    return data_loss


def _numerical_gradient_linear(loss, W_CxD, X_NxD, y_N, reg, margin, h, method, chunk_size):
    num_classes, dim = W_CxD.shape
    # Computed once: the scores and the penalty at W.
    scores_NxC = X_NxD @ W_CxD.T
    penalty = jnp.sum(W_CxD * W_CxD)
    XT_DxN = X_NxD.T  # column d of X as a contiguous row
    if loss == "softmax":
        data_loss_moving = _data_loss_moving_softmax(scores_NxC, y_N)
    elif isinstance(loss, str):
        data_loss_moving = _data_loss_moving_rows(
            lambda s: PER_EXAMPLE_FROM_SCORES[loss](s, y_N, margin), scores_NxC)
    else:
        data_loss_moving = _data_loss_moving_rows(lambda s: loss(s, y_N), scores_NxC)

    def loss_moved(k, step):
        # L(W + step e_{c,d}) for the flat (row-major) index k of W[c, d].
        c, d = k // dim, k % dim
        w_old = W_CxD[c, d]
        w_new = w_old + step
        # Only the scores of class c move, by (w_new - w_old) * X[:, d]. The
        # step is taken as the float arithmetic took it, w_new - w_old, which
        # is what the full product X @ (W + step e_{c,d}).T sees too.
        moved_N = (w_new - w_old) * XT_DxN[d]
        # sum W**2 changes in one term: the actual perturbed value w_new**2.
        penalty_moved = penalty - w_old * w_old + w_new * w_new
        return data_loss_moving(c, moved_N) + reg * penalty_moved

    indices = jnp.arange(num_classes * dim)
    if method == "forward":
        loss_plus = lax.map(lambda k: loss_moved(k, h), indices, batch_size=chunk_size)
        # L(W) by the same formula (a move by 0), so both terms round alike.
        grad_P = (loss_plus - loss_moved(0, 0.0)) / h
    else:
        loss_plus, loss_minus = lax.map(
            lambda k: (loss_moved(k, h), loss_moved(k, -h)), indices, batch_size=chunk_size)
        grad_P = (loss_plus - loss_minus) / (2 * h)
    return grad_P.reshape(num_classes, dim)


_numerical_gradient_linear_jit = jax.jit(_numerical_gradient_linear, static_argnums=(0, 7, 8))


def numerical_gradient_linear(loss, W, X, y, reg=0.0, margin=1.0, h=1e-4, method="forward",
                              chunk_size=DEFAULT_LINEAR_CHUNK_SIZE):
    """The numerical gradient of a linear classifier's loss, without a matrix product per weight.

    Exactly the finite differences of :func:`numerical_gradient` applied to
    ``L(W) = 1/N sum_i L_i(s_i) + reg * sum W**2`` with scores ``s = X W^T``,
    but cheap: moving ``W[c, d]`` by a step ``t`` changes only column ``c``
    of the scores, by ``t * X[:, d]``, and the penalty in one term
    (``W[c, d]**2`` becomes ``(W[c, d] + t)**2``). So every perturbed loss
    comes from the base scores in ``O(N C)`` work instead of a new
    ``O(N C D)`` product -- ``O(N)`` for softmax, whose log-sum-exp changes
    in one term: ``logaddexp(log sum_{j != c} e^{s_ij}, s_ic + t X[i, d])``.
    The values agree with the generic version to float round-off (both
    contain the same truncation error).

    Args:
      loss: ``"svm"``, ``"softmax"``, or a per-example loss of the scores,
        ``fn(scores_NxC, y_N) -> (N,)``.
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, bias column included.
      y: integer labels ``(N,)`` in ``[0, C)``.
      reg: regularization strength lambda (>= 0).
      margin: the SVM margin Delta (used by ``"svm"`` only).
      h: the step (1e-4 in the lecture), > 0.
      method: ``"forward"`` or ``"central"``.
      chunk_size: perturbed losses evaluated per vmap call (speed and memory;
        the values change only by round-off).

    Returns:
      The numerical gradient, shape ``(C, D)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> W = jnp.eye(3)
      >>> X = jnp.array([[3.2, 5.1, -1.7]])
      >>> dW = numerical_gradient_linear("svm", W, X, jnp.array([0]), h=1e-3)
      >>> [round(float(v), 2) for v in dW[:, 1]]
      [-5.1, 5.1, 0.0]
    """
    if not (isinstance(loss, str) and loss in PER_EXAMPLE_FROM_SCORES) and not callable(loss):
        raise ValueError(f"loss must be one of {sorted(PER_EXAMPLE_FROM_SCORES)} or a per-example "
                         f"function fn(scores_NxC, y_N) -> (N,), got {loss!r}")
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(reg, "reg")
    _checks.check_nonnegative(margin, "margin")
    _check_step(h)
    _check_method(method)
    _check_chunk_size(chunk_size)
    if callable(loss):
        n, c = X.shape[0], W.shape[0]
        out = jax.eval_shape(loss, jax.ShapeDtypeStruct((n, c), jnp.result_type(W, X)), y)
        if getattr(out, "shape", None) != (n,):
            raise ValueError(f"loss must return one loss per example, shape ({n},), "
                             f"got {getattr(out, 'shape', type(out).__name__)}")
    return _numerical_gradient_linear_jit(loss, W, X, y, reg, margin, h, method, int(chunk_size))


# ---------------------------------------------------------------------------
# Relative error and the SVM's kinks.
# ---------------------------------------------------------------------------


def relative_error(a, b):
    """CS231n's relative error, elementwise: ``|a - b| / max(|a|, |b|)``, 0 where both are 0.

    Scale-free, unlike ``|a - b|``: 1e-7 or less is a match, around 1e-2 is
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


@jax.jit
def _svm_kink_crossings(W_CxD, X_NxD, y_N, h, margin):
    num_classes = W_CxD.shape[0]
    scores_NxC = X_NxD @ W_CxD.T
    margins_NxC = scores_NxC - jnp.take_along_axis(scores_NxC, y_N[:, None], axis=1) + margin
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
    _check_step(h)
    _checks.check_nonnegative(margin, "margin")
    return _svm_kink_crossings(W, X, y, h, margin)


# ---------------------------------------------------------------------------
# check_gradient and its report.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """What :func:`check_gradient` found; ``print(report)`` shows a table.

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

    @property
    def max_relative_error(self) -> float:
        return float(np.max(self.relative_errors))

    @property
    def mean_relative_error(self) -> float:
        return float(np.mean(self.relative_errors))

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

    def coordinate(self, flat_index: int):
        """A flat index as ``W``'s multi-index (a tuple), or the flat index for a pytree."""
        if self.shape is None:
            return int(flat_index)
        return tuple(int(i) for i in np.unravel_index(int(flat_index), self.shape))

    @property
    def worst(self) -> list[dict]:
        """The ``num_worst`` coordinates with the largest relative error, worst first."""
        order = np.argsort(-self.relative_errors, kind="stable")[: self.num_worst]
        return [
            {
                "coordinate": self.coordinate(self.indices[i]),
                "numerical": float(self.numerical[i]),
                "analytic": float(self.analytic[i]),
                "abs_error": float(abs(self.numerical[i] - self.analytic[i])),
                "relative_error": float(self.relative_errors[i]),
                "kink": bool(self.kinks[i]),
            }
            for i in order
        ]

    def to_dict(self) -> dict:
        """The summary as plain Python values (JSON-ready; ``NaN`` becomes ``None``)."""
        def clean(v):
            return None if isinstance(v, float) and not np.isfinite(v) else v

        return {
            "method": self.method,
            "h": float(self.h),
            "dtype": self.dtype,
            "num_params": self.num_params,
            "num_checked": self.num_checked,
            "max_relative_error": self.max_relative_error,
            "mean_relative_error": self.mean_relative_error,
            "max_abs_error": self.max_abs_error,
            "num_kinks": self.num_kinks,
            "max_relative_error_away_from_kinks": clean(self.max_relative_error_away_from_kinks),
            "mean_relative_error_away_from_kinks": clean(self.mean_relative_error_away_from_kinks),
            "worst": [dict(row, coordinate=list(row["coordinate"]) if isinstance(row["coordinate"], tuple)
                           else row["coordinate"]) for row in self.worst],
        }

    def table(self) -> str:
        """The report as readable lines of text."""
        checked = ("all" if self.num_checked == self.num_params else f"{self.num_checked} random") + \
            f" of {self.num_params} coordinates"
        lines = [
            f"gradient check: {self.method} differences, h={self.h:.0e}, {self.dtype}, {checked}",
            f"  relative error   max {self.max_relative_error:.2e}   mean {self.mean_relative_error:.2e}"
            f"   (max abs error {self.max_abs_error:.2e})",
        ]
        if self.num_kinks:
            lines.append(
                f"  away from kinks  max {self.max_relative_error_away_from_kinks:.2e}"
                f"   mean {self.mean_relative_error_away_from_kinks:.2e}"
                f"   ({self.num_kinks} coordinate(s) whose step may cross a kink of the hinge)")
        lines.append(f"  worst {min(self.num_worst, self.num_checked)} coordinate(s):")
        lines.append(f"    {'coordinate':>14} {'numerical':>14} {'analytic':>14} {'abs error':>10} "
                     f"{'rel error':>10}  kink")
        for row in self.worst:
            lines.append(
                f"    {str(row['coordinate']):>14} {row['numerical']:>14.6e} {row['analytic']:>14.6e} "
                f"{row['abs_error']:>10.2e} {row['relative_error']:>10.2e}  {'yes' if row['kink'] else ''}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _as_key(key):
    if key is None:
        return jax.random.key(0)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                        or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    raise TypeError(f"key must be a jax.random key or an integer seed, got {key!r}")


def _flat_like(tree, W, name: str):
    """Ravel ``tree``, which must have ``W``'s structure and shapes."""
    struct_w, struct_t = jax.tree_util.tree_structure(W), jax.tree_util.tree_structure(tree)
    if struct_w != struct_t:
        raise ValueError(f"{name} must have the structure of W ({struct_w}), got {struct_t}")
    for leaf_w, leaf_t in zip(jax.tree_util.tree_leaves(W), jax.tree_util.tree_leaves(tree)):
        if np.shape(leaf_w) != np.shape(leaf_t):
            raise ValueError(f"{name} must have W's shape {np.shape(leaf_w)}, got shape {np.shape(leaf_t)}")
    return ravel_pytree(tree)[0]


def check_gradient(f, W, analytic_grad=None, num_checks=None, h=1e-4, method="central", key=None,
                   kinks=None, chunk_size=DEFAULT_CHUNK_SIZE, num_worst=5) -> GradCheckReport:
    """Compare an analytic gradient with finite differences, coordinate by coordinate.

    For each checked weight ``k``: the numerical slope (see
    :func:`numerical_gradient`), the analytic ``dW[k]`` and their
    :func:`relative_error`. With ``num_checks`` it checks that many random
    weights, like CS231n's ``grad_check_sparse``; otherwise all of them.

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
        mismatches are explained in the report instead of hidden.
      chunk_size: perturbed losses per vmap call (speed and memory only).
      num_worst: rows in the report's table of worst coordinates.

    Returns:
      A :class:`GradCheckReport` (``.max_relative_error``,
      ``.mean_relative_error``, ``.worst``, ...); ``print`` it for a table.

    Examples:
      >>> import jax.numpy as jnp
      >>> f = lambda w: jnp.sum(w ** 3)
      >>> report = check_gradient(f, jnp.array([1.0, 2.0]), analytic_grad=jnp.array([3.0, 12.0]), h=1e-2)
      >>> report.num_checked, report.max_relative_error < 1e-3
      (2, True)
    """
    _check_callable(f)
    num_params = _check_params(W)
    _check_step(h)
    _check_method(method)
    _check_chunk_size(chunk_size)
    if num_checks is not None:
        if isinstance(num_checks, bool) or not isinstance(num_checks, (int, np.integer)) or num_checks <= 0:
            raise ValueError(f"num_checks must be a positive integer or None, got {num_checks!r}")
        if num_checks > num_params:
            raise ValueError(f"num_checks must be at most the number of weights ({num_params}), got {num_checks}")
    if isinstance(num_worst, bool) or not isinstance(num_worst, (int, np.integer)) or num_worst < 0:
        raise ValueError(f"num_worst must be a non-negative integer, got {num_worst!r}")
    key = _as_key(key)
    _check_scalar_loss(f, W)

    w_P, _ = ravel_pytree(W)
    if analytic_grad is None:
        analytic_P = ravel_pytree(jax.grad(f)(W))[0]
    else:
        _check_params(analytic_grad, "analytic_grad")
        analytic_P = _flat_like(analytic_grad, W, "analytic_grad")
    if kinks is None:
        kinks_P = np.zeros(num_params, dtype=bool)
    else:
        kinks_P = np.asarray(_flat_like(kinks, W, "kinks")).astype(bool)

    if num_checks is None or num_checks == num_params:
        indices = jnp.arange(num_params)
    else:
        indices = jnp.sort(jax.random.choice(key, num_params, (int(num_checks),), replace=False))
    numerical_K = _differences_at_jit(f, W, indices, h, method, int(chunk_size))
    analytic_K = analytic_P[indices]
    leaves = jax.tree_util.tree_leaves(W)
    indices_np = np.asarray(indices)
    return GradCheckReport(
        method=method,
        h=float(h),
        dtype=str(w_P.dtype),
        num_params=num_params,
        num_checked=int(indices_np.size),
        indices=indices_np,
        shape=tuple(np.shape(leaves[0])) if jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(W))
        else None,
        numerical=np.asarray(numerical_K),
        analytic=np.asarray(analytic_K),
        relative_errors=np.asarray(_relative_error(numerical_K, analytic_K.astype(numerical_K.dtype))),
        kinks=kinks_P[indices_np],
        num_worst=int(num_worst),
    )


# ---------------------------------------------------------------------------
# The step-size study.
# ---------------------------------------------------------------------------


def _default_study_problem():
    """A small softmax problem: ``f(W)`` in the dtype of ``W``, and ``W`` (3, 5)."""
    from .losses import softmax_loss

    kx, ky, kw = jax.random.split(jax.random.key(0), 3)
    # Features of spread 3 give the loss enough curvature that truncation
    # error shows clearly within h <= 0.1, in float32 too.
    X = 3.0 * np.asarray(jax.random.normal(kx, (50, 5), dtype=jnp.float32))
    y = np.asarray(jax.random.randint(ky, (50,), 0, 3), dtype=np.int32)
    W = np.asarray(jax.random.normal(kw, (3, 5), dtype=jnp.float32))

    def f(W):
        # The data in W's real dtype (float64 for a complex128 W: data stay real).
        return softmax_loss(W, jnp.asarray(X, dtype=jnp.finfo(W.dtype).dtype), jnp.asarray(y))

    return f, W


def step_size_study(f=None, W=None, grad=None, hs=None, methods=METHODS, dtypes=("float32", "float64")) -> dict:
    """The error of forward and central differences as the step ``h`` shrinks.

    For each dtype, method and ``h`` the numerical gradient ``g_h`` of ``f``
    at ``W`` is compared with the exact gradient ``g`` by the norm-wise
    relative error ``||g_h - g|| / ||g||`` (one number per ``h``; unlike the
    elementwise relative error it is not thrown by tiny components). Two
    errors compete:

    * truncation, from the Taylor series: ``~ h |f''| / 2`` (forward) and
      ``~ h^2 |f'''| / 6`` (central) -- it dominates for large ``h``;
    * round-off: ``f`` is only known to about ``eps |f|``, and dividing by
      ``h`` magnifies that to ``~ eps |f| / h`` -- it dominates for small ``h``.

    Balancing them puts the best ``h`` near ``sqrt(eps)`` (forward) and
    ``cbrt(eps)`` (central), up to problem-dependent factors: about 3e-4 and
    5e-3 in float32, 1.5e-8 and 6e-6 in float64.

    ``method="complex"`` adds the complex step (:func:`complex_step_gradient`;
    ``f`` must then accept a complex ``W``): its truncation error is
    ``~ h^2 |f'''| / 6`` like the central difference's, but it subtracts
    nothing, so there is no round-off term: once ``h`` is below about
    ``sqrt(eps)`` (its ``theory_h``) the error stays flat at machine
    precision, however small ``h`` gets.

    Float64 runs happen inside ``with jax.enable_x64(True):``.

    Args:
      f: the function, ``f(W) -> scalar``, computing in the dtype of ``W``.
        ``None``: the softmax loss on a fixed small random problem
        (50 examples, D = 5 with features ~ 3 N(0, 1), C = 3, W ~ N(0, 1)).
      W: the point (cast to each dtype); ``None`` with the default ``f``.
      grad: the exact gradient at ``W``; ``None``: ``jax.grad(f)`` in float64.
      hs: the steps; ``None``: ``logspace(-12, -1, 45)`` (4 per decade).
      methods: which of ``"forward"``, ``"central"``, ``"complex"``.
      dtypes: which of ``"float32"``, ``"float64"``.

    Returns:
      A dict of plain Python lists and floats (JSON-ready)::

        {"h": [...],
         "error": {dtype: {method: [one per h]}},
         "best_h": {dtype: {method: h with the smallest error}},
         "best_error": {dtype: {method: that error}},
         "theory_h": {dtype: {"forward": sqrt(eps), "central": cbrt(eps),
                              "complex": sqrt(eps)}},
         "eps": {dtype: machine epsilon},
         "metric": "..."}

    Examples:
      ``sin`` at 1: the central error is ``1 - sin(h)/h ~ h**2 / 6``.

      >>> import jax.numpy as jnp
      >>> study = step_size_study(lambda w: jnp.sum(jnp.sin(w)), jnp.ones(3),
      ...                         hs=[1e-1, 1e-3], methods=("central",), dtypes=("float64",))
      >>> [float(f"{e:.3g}") for e in study["error"]["float64"]["central"]]
      [0.00167, 1.67e-07]
    """
    if f is None:
        if W is not None:
            raise ValueError("W must be None when f is None (the default problem brings its own W), "
                             f"got W of type {type(W).__name__}")
        f, W = _default_study_problem()
    else:
        _check_callable(f)
        if W is None:
            raise ValueError("W must be given when f is given, got None")
    W = np.asarray(W)
    _checks.check_real_array(W, "W")
    hs = np.logspace(-12, -1, 45) if hs is None else np.asarray(hs, dtype=np.float64).ravel()
    if hs.size == 0 or not np.all(np.isfinite(hs)) or np.any(hs <= 0):
        raise ValueError(f"hs must be a non-empty list of finite steps > 0, got {hs.tolist()}")
    for m in methods:
        if m not in STUDY_METHODS:
            raise ValueError(f"methods must hold some of {list(STUDY_METHODS)}, got {m!r}")
    for d in dtypes:
        if d not in ("float32", "float64"):
            raise ValueError(f"dtypes must hold 'float32' and/or 'float64', got {d!r}")

    with jax.enable_x64(True):
        W64 = jnp.asarray(W, dtype=jnp.float64)
        _check_scalar_loss(f, W64)
        exact = np.asarray(jax.grad(f)(W64) if grad is None else grad, dtype=np.float64)
    if exact.shape != W.shape:
        raise ValueError(f"grad must have W's shape {W.shape}, got shape {exact.shape}")
    exact_norm = np.linalg.norm(exact)
    if exact_norm == 0:
        raise ValueError("the exact gradient is 0 at W, so no relative error is defined; pick another W")

    error, best_h, best_error, theory_h, eps = {}, {}, {}, {}, {}
    for dtype in dtypes:
        context = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
        with context:
            Wd = jnp.asarray(W, dtype=dtype)
            error[dtype] = {}
            for method in methods:
                errs = []
                for h in hs:
                    if method == "complex":
                        g_h = complex_step_gradient(f, Wd, h=float(h))
                    else:
                        g_h = numerical_gradient(f, Wd, h=float(h), method=method)
                    g_h = np.asarray(g_h, dtype=np.float64)
                    errs.append(float(np.linalg.norm(g_h - exact) / exact_norm))
                error[dtype][method] = errs
        e = float(np.finfo(dtype).eps)
        eps[dtype] = e
        # forward: sqrt(eps); central: cbrt(eps); complex: below sqrt(eps) its h^2 truncation is under eps.
        theory_h[dtype] = {m: (e ** (1.0 / 3.0) if m == "central" else e ** 0.5) for m in methods}
        best_h[dtype] = {m: float(hs[int(np.argmin(error[dtype][m]))]) for m in methods}
        best_error[dtype] = {m: float(np.min(error[dtype][m])) for m in methods}
    return {
        "h": [float(h) for h in hs],
        "error": error,
        "best_h": best_h,
        "best_error": best_error,
        "theory_h": theory_h,
        "eps": eps,
        "metric": "||g_h - g||_2 / ||g||_2, g the exact gradient (jax.grad in float64)",
    }
