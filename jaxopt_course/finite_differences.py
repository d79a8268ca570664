"""The lecture's numerical gradient: one finite difference per weight.

``dL/dW_k ~ (L(W + h e_k) - L(W)) / h``          (forward, error O(h); the lecture's, h = 1e-4)

``dL/dW_k ~ (L(W + h e_k) - L(W - h e_k)) / 2h``  (central, error O(h^2))

where ``e_k`` is the one-hot direction of weight ``k``. Two ways to compute it:

* :func:`numerical_gradient` -- any loss ``f(W)``, any shape (or pytree) of
  ``W``; the perturbed losses are evaluated in chunks, each chunk one
  ``jax.vmap`` over one-hot directions, so memory stays bounded;
* :func:`numerical_gradient_linear` -- the same finite differences for a
  linear classifier's loss, fast: moving ``W[c, d]`` changes only the scores
  of class ``c``, by the step times ``X[:, d]``, so no new matrix product is
  needed (30730 perturbed losses of CIFAR-10's ``W`` in well under a second
  instead of 30730 products; ``benchmarks/bench_gradcheck.py`` times both).

Both are re-exported by :mod:`jaxopt_course.gradcheck`, which checks an
analytic gradient against them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _checks, losses, model

#: The two finite-difference formulas.
METHODS = ("forward", "central")

#: Perturbed losses evaluated per ``jax.vmap`` call. Tuned on 2 CPU cores for
#: W of 10 x 3073 and 500 examples (see docs/benchmarks.md); any value gives
#: the same numbers up to round-off, only speed and memory change.
DEFAULT_CHUNK_SIZE = 256
#: The same for :func:`numerical_gradient_linear`, whose perturbations are cheap.
DEFAULT_LINEAR_CHUNK_SIZE = 256


def check_fd_arguments(h, method, chunk_size) -> None:
    """The checks shared by every finite-difference entry point: ``h`` > 0, ``method``, ``chunk_size``."""
    _checks.check_step(h)
    _checks.check_choice(method, "method", METHODS)
    _checks.check_int(chunk_size, "chunk_size", expected="a positive integer")


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
        lambda k: (loss_moved(k, h), loss_moved(k, -h)), indices_K, batch_size=chunk_size
    )
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
#: The finite differences at some flat (row-major) indices only: what
#: :func:`jaxopt_course.gradcheck.check_gradient` evaluates.
differences_at = jax.jit(_differences_at, static_argnums=(0, 4, 5))


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
    _checks.check_callable(f)
    _checks.check_params(W)
    check_fd_arguments(h, method, chunk_size)
    _checks.check_scalar_loss(f, W)
    return _numerical_gradient_jit(f, W, h, method, int(chunk_size))


# ---------------------------------------------------------------------------
# The score-structured numerical gradient of the linear losses.
# ---------------------------------------------------------------------------


def _softmax_from_scores(scores_NxC, y_N, margin):
    del margin  # the softmax loss has none
    return losses.softmax_per_example_from_scores(scores_NxC, y_N)


#: Per-example losses as functions of the scores, ``(scores_NxC, y_N, margin) -> (N,)``:
#: the loss names :func:`numerical_gradient_linear` accepts.
PER_EXAMPLE_FROM_SCORES = {"svm": losses.svm_per_example_from_scores, "softmax": _softmax_from_scores}


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
    shifted_NxC = losses.shifted_scores(scores_NxC)
    others_CxNxC = jnp.where(jnp.eye(num_classes, dtype=bool)[:, None, :], -jnp.inf, shifted_NxC[None, :, :])
    log_sum_exp_without_CxN = jax.nn.logsumexp(others_CxNxC, axis=2)  # log sum_{j != c} e^{s_ij}
    shifted_CxN = shifted_NxC.T
    correct_N = losses.correct_class_scores(shifted_NxC, y_N)[:, 0]

    def data_loss(c, moved_N):
        log_sum_exp_N = jnp.logaddexp(log_sum_exp_without_CxN[c], shifted_CxN[c] + moved_N)
        correct_moved_N = correct_N + jnp.where(y_N == c, moved_N, 0.0)
        return jnp.mean(log_sum_exp_N - correct_moved_N)

    return data_loss


def _data_loss_moving(loss, scores_NxC, y_N, margin):
    """The data loss as a function of one moved score column: ``(c, moved_N) -> scalar``."""
    if loss == "softmax":
        return _data_loss_moving_softmax(scores_NxC, y_N)
    if isinstance(loss, str):
        return _data_loss_moving_rows(lambda s: PER_EXAMPLE_FROM_SCORES[loss](s, y_N, margin), scores_NxC)
    return _data_loss_moving_rows(lambda s: loss(s, y_N), scores_NxC)


def _numerical_gradient_linear(loss, W_CxD, X_NxD, y_N, reg, margin, h, method, chunk_size):
    num_classes, dim = W_CxD.shape
    # Computed once: the scores and the penalty at W.
    scores_NxC = model.scores_core(W_CxD, X_NxD)
    penalty = jnp.sum(W_CxD * W_CxD)
    XT_DxN = X_NxD.T  # column d of X as a contiguous row
    data_loss_moving = _data_loss_moving(loss, scores_NxC, y_N, margin)

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
        loss_plus, loss_minus = lax.map(lambda k: (loss_moved(k, h), loss_moved(k, -h)), indices, batch_size=chunk_size)
        grad_P = (loss_plus - loss_minus) / (2 * h)
    return grad_P.reshape(num_classes, dim)


_numerical_gradient_linear_jit = jax.jit(_numerical_gradient_linear, static_argnums=(0, 7, 8))


def _check_linear_loss(loss) -> None:
    if not (isinstance(loss, str) and loss in PER_EXAMPLE_FROM_SCORES) and not callable(loss):
        raise ValueError(
            f"loss must be one of {sorted(PER_EXAMPLE_FROM_SCORES)} or a per-example "
            f"function fn(scores_NxC, y_N) -> (N,), got {loss!r}"
        )


def _check_per_example_shape(loss, W, X, y) -> None:
    """A per-example loss of the scores must return ``(N,)``."""
    n, c = X.shape[0], W.shape[0]
    out = jax.eval_shape(loss, jax.ShapeDtypeStruct((n, c), jnp.result_type(W, X)), y)
    if getattr(out, "shape", None) != (n,):
        raise ValueError(
            f"loss must return one loss per example, shape ({n},), got {getattr(out, 'shape', type(out).__name__)}"
        )


def numerical_gradient_linear(
    loss, W, X, y, reg=0.0, margin=1.0, h=1e-4, method="forward", chunk_size=DEFAULT_LINEAR_CHUNK_SIZE
):
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
    contain the same truncation error). Use it to check a full CIFAR-10
    gradient (30730 weights) in about a second.

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
    _check_linear_loss(loss)
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(reg, "reg")
    _checks.check_nonnegative(margin, "margin")
    check_fd_arguments(h, method, chunk_size)
    if callable(loss):
        _check_per_example_shape(loss, W, X, y)
    return _numerical_gradient_linear_jit(loss, W, X, y, reg, margin, h, method, int(chunk_size))
