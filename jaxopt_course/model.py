"""The linear score function of the lecture: ``f(x, W) = W x``.

Shapes: ``W`` is ``(C, D)`` -- one row, one *template*, per class, as in the
lecture's ``W = np.random.randn(10, 3072)``; ``X`` is ``(N, D)`` with one
example per row; the bias is folded into ``W`` by the bias trick (every row of
``X`` ends in a constant 1, so CIFAR-10 has D = 3073).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks


@jax.jit
def _scores(W_CxD, X_NxD):
    return X_NxD @ W_CxD.T


def scores(W, X):
    """Class scores ``s = f(x_i, W) = W x_i`` for every example.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, one per row (bias column included).

    Returns:
      ``(N, C)`` scores, ``scores[i, j] = W[j] . X[i]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> W = jnp.array([[1., 0.], [0., 2.]])
      >>> scores(W, jnp.array([[3., 4.]])).tolist()
      [[3.0, 8.0]]
    """
    _checks.check_problem(W, X, allow_complex_W=True)
    return _scores(W, X)


def predict(W, X):
    """The predicted class of every example: ``argmax_j s_j``, shape ``(N,)``."""
    return jnp.argmax(scores(W, X), axis=1).astype(jnp.int32)


def accuracy(W, X, y):
    """Fraction of examples whose predicted class equals the label ``y`` (N,)."""
    _checks.check_problem(W, X, y)
    return _accuracy(W, X, y)


@jax.jit
def _accuracy(W_CxD, X_NxD, y_N):
    return jnp.mean(jnp.argmax(X_NxD @ W_CxD.T, axis=1) == y_N)


def init_weights(key, num_classes: int, dim: int, scale: float = 1e-4, dtype=jnp.float32):
    """Small random weights ``W = scale * randn(num_classes, dim)`` (CS231n: 1e-4).

    Examples:
      >>> import jax
      >>> init_weights(jax.random.key(0), 10, 3073).shape
      (10, 3073)
    """
    for name, v in (("num_classes", num_classes), ("dim", dim)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    _checks.check_positive(scale, "scale", allow_zero=True)
    return scale * jax.random.normal(key, (num_classes, dim), dtype=dtype)
