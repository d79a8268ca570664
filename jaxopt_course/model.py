"""The linear score function of the lecture: ``f(x, W) = W x``.

Shapes: ``W`` is ``(C, D)`` -- one row, one *template*, per class, as in the
lecture's ``W = np.random.randn(10, 3072)``; ``X`` is ``(N, D)`` with one
example per row; the bias is folded into ``W`` by the bias trick (every row of
``X`` ends in a constant 1, so CIFAR-10 has D = 3073). :func:`accuracy`
scores one set, :func:`evaluate` every split of a data set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks

# ---------------------------------------------------------------------------
# The pure cores: the formulas, no validation (safe under jit, grad, vmap and
# scan). Every other module that needs scores calls scores_core: this is the
# one place where the package computes X @ W.T (analytic.py writes it once
# more, on purpose, as the by-hand twin).
# ---------------------------------------------------------------------------


def scores_core(W_CxD, X_NxD):
    """``X W^T``, shape ``(N, C)``: :func:`scores` without the checks, for use inside ``jit``/``grad``.

    Examples:
      >>> import jax.numpy as jnp
      >>> scores_core(jnp.array([[1., 0.], [0., 2.]]), jnp.array([[3., 4.]])).tolist()
      [[3.0, 8.0]]
    """
    return X_NxD @ W_CxD.T


def accuracy_core(W_CxD, X_NxD, y_N):
    """The fraction of rows whose ``argmax_j s_j`` equals ``y``: :func:`accuracy` without the checks."""
    return jnp.mean(jnp.argmax(scores_core(W_CxD, X_NxD), axis=1) == y_N)


_scores = jax.jit(scores_core)
_accuracy = jax.jit(accuracy_core)


# ---------------------------------------------------------------------------
# The public, validated functions.
# ---------------------------------------------------------------------------


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
    """Fraction of examples whose predicted class equals the label ``y`` (N,).

    ``mean_i [argmax_j s_ij == y_i]`` with ``s = scores(W, X)``; the one
    accuracy of the package (the training loop calls :func:`accuracy_core`).

    Examples:
      >>> import jax.numpy as jnp
      >>> float(accuracy(jnp.eye(2), jnp.array([[1., 0.], [0., 1.]]), jnp.array([0, 0])))
      0.5
    """
    _checks.check_problem(W, X, y)
    return _accuracy(W, X, y)


def init_weights(key, num_classes: int, dim: int, scale: float = 1e-4, dtype=jnp.float32):
    """Small random weights ``W = scale * randn(num_classes, dim)`` (CS231n: 1e-4).

    Examples:
      >>> import jax
      >>> init_weights(jax.random.key(0), 10, 3073).shape
      (10, 3073)
    """
    _checks.check_int(num_classes, "num_classes", expected="a positive integer")
    _checks.check_int(dim, "dim", expected="a positive integer")
    _checks.check_positive(scale, "scale", allow_zero=True)
    return scale * jax.random.normal(key, (num_classes, dim), dtype=dtype)


def evaluate(W, splits) -> dict:
    """Accuracy of ``W`` on every split: ``{"train": ..., "val": ..., "test": ...}``.

    Args:
      W: weights ``(C, D)``.
      splits: a :class:`~jaxopt_course.data.Splits` (from ``load_digits`` or
        ``load_cifar10``; its ``dev`` split is scored too when present) or a
        mapping ``name -> (X, y)``.

    Returns:
      ``{name: accuracy}`` as Python floats.

    Examples:
      >>> import jax.numpy as jnp
      >>> W = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> evaluate(W, {"toy": (jnp.array([[2.0, 1.0], [0.0, 3.0]]), jnp.array([0, 0]))})
      {'toy': 0.5}
    """
    if hasattr(splits, "train") and hasattr(splits, "test"):
        named = {name: getattr(splits, name) for name in ("train", "val", "test", "dev")}
    elif isinstance(splits, dict):
        named = dict(splits)
    else:
        raise TypeError(f"splits must be a Splits or a dict name -> (X, y), got {type(splits).__name__}")
    out = {}
    for name, split in named.items():
        if split is None:
            continue
        X_s, y_s = split
        if len(y_s) == 0:
            continue
        out[name] = float(accuracy(W, X_s, y_s))
    return out
