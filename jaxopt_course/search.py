"""Optimization without gradients: the lecture's first three strategies.

From worst to best:

1. :func:`grid_search` -- *exhaustive search*: evaluate the cost at every
   point of a grid and keep the lowest (the tea-temperature toy, see
   :mod:`jaxopt_course.toys`). Hopeless in 30730 dimensions, perfect in one.
2. :func:`random_search` -- the lecture's loop: draw a random ``W``, keep it
   if its loss is the lowest so far, repeat ``trials`` times (CS231n: 1000
   trials of ``randn(10, 3073) * 1e-4`` reach 15.5 % test accuracy on
   CIFAR-10, against 10 % for chance).
3. :func:`random_local_search` -- start somewhere, try a small random step,
   keep it only if the loss drops (CS231n: 21.4 % with the same 1000 loss
   evaluations).

Each returns a :class:`SearchResult`: the best parameters, their loss, the
running best (``history``) and every loss that was evaluated.

Randomness comes from one explicit key: trial (or step) ``t`` draws from
``jax.random.fold_in(key, t)``, so the answer does not depend on how the
evaluations are chunked. The evaluations are vmapped (``jax.lax.map`` with a
``chunk_size``): many candidates ``W`` share one pass over the data, as one
big matrix product.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, limits


class SearchResult(NamedTuple):
    """What every search returns.

    Attributes:
      params: the best parameters found (a temperature, a grid point or ``W``).
      loss: their loss, a scalar.
      history: the running best, ``history[t] = min(losses[:t + 1])``, shape
        ``(evaluations,)`` -- the curve to plot against the number of loss
        evaluations.
      losses: every loss evaluated, in order (for :func:`grid_search`, shaped
        like the grid).
    """

    params: Any
    loss: jax.Array
    history: jax.Array
    losses: jax.Array


# ---------------------------------------------------------------------------
# Validation helpers (plain Python, before any tracing)
# ---------------------------------------------------------------------------


def _check_callable(f, name: str) -> None:
    _checks.check_callable(f, name, what="a function")


def _check_scalar_losses(losses, count: int, name: str) -> None:
    if tuple(losses.shape) != (count,):
        raise ValueError(
            f"{name} must return a scalar loss for each candidate, got an output of shape "
            f"{tuple(losses.shape[1:])} per candidate"
        )


def _lowest(losses):
    """Index of the lowest loss, NaN counted as +inf (a NaN never wins)."""
    return jnp.argmin(jnp.where(jnp.isnan(losses), jnp.inf, losses))


def _running_best(losses):
    return jax.lax.cummin(jnp.where(jnp.isnan(losses), jnp.inf, losses))


# ---------------------------------------------------------------------------
# 1. Exhaustive search
# ---------------------------------------------------------------------------


def _as_grids(grid):
    """A single 1-D grid -> ``[grid]``; a sequence of 1-D grids -> a list of them."""
    is_product = isinstance(grid, (list, tuple)) and len(grid) > 0 and all(np.ndim(g) == 1 for g in grid)
    grids = list(grid) if is_product else [grid]
    out = []
    for i, g in enumerate(grids):
        name = f"grid[{i}]" if is_product else "grid"
        arr = np.asarray(g) if not isinstance(g, jax.Array) else g
        if arr.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D array of candidate values (or a list of such arrays), "
                f"got shape {tuple(arr.shape)}"
            )
        if arr.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one value, got an empty grid")
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        _checks.check_finite(arr, name)
        out.append(jnp.asarray(arr, dtype=jnp.result_type(float)))
    return out, is_product


def grid_search(f, grid, *, chunk_size: int | None = None) -> SearchResult:
    """Exhaustive search: evaluate ``f`` at every grid point, keep the lowest.

    ``best = argmin_{g in grid} f(g)``. With one 1-D grid, ``f`` takes one
    number (the tea toy: ``grid_search(tea_cost, jnp.linspace(0, 100, 101))``).
    With several grids ``[g_1, ..., g_k]`` the search runs over their
    Cartesian product and ``f`` takes ``k`` numbers, ``f(a_1, ..., a_k)`` --
    the cost grows as the product of the grid sizes, which is why nobody
    searches 30730 weights this way.

    The evaluations are vmapped (in chunks of ``chunk_size`` points, default
    all at once).

    Args:
      f: the cost, a scalar function of one number per grid.
      grid: a 1-D array of candidates, or a list of 1-D arrays (one per
        argument of ``f``).
      chunk_size: evaluate this many points at a time (memory bound).

    Returns:
      A :class:`SearchResult`: ``params`` is the best value (a scalar) or, for
      several grids, the best point ``(k,)``; ``losses`` has the grid's shape
      ``(len(g_1), ..., len(g_k))``; ``history`` runs over the points in
      row-major order.

    Examples:
      >>> import jax.numpy as jnp
      >>> result = grid_search(lambda t: (t - 3.2) ** 2, jnp.arange(0.0, 10.0, 0.5))
      >>> float(result.params)
      3.0
      >>> float(grid_search(lambda a, b: (a - 1) ** 2 + (b + 2) ** 2,
      ...                   [jnp.arange(-3.0, 4.0), jnp.arange(-3.0, 4.0)]).params[1])
      -2.0
    """
    _check_callable(f, "f")
    grids, is_product = _as_grids(grid)
    shape = tuple(int(g.shape[0]) for g in grids)
    count = limits.check_int32(math.prod(shape), "the number of grid points")
    if chunk_size is not None:
        chunk_size = min(_checks.check_int(chunk_size, "chunk_size"), count)
    limits.check_memory(
        limits.grid_search_bytes(count, len(grids), chunk_size, grids[0].dtype.itemsize),
        f"an exhaustive search over {count} grid points",
        hint="use fewer points or a chunk_size",
    )
    points = [p.ravel() for p in jnp.meshgrid(*grids, indexing="ij")]
    losses = jax.lax.map(lambda xs: f(*xs), tuple(points), batch_size=chunk_size)
    _check_scalar_losses(losses, count, "f")
    best = _lowest(losses)
    if is_product:
        params = jnp.stack([p[best] for p in points])
    else:
        params = points[0][best]
    return SearchResult(params=params, loss=losses[best], history=_running_best(losses), losses=losses.reshape(shape))


# ---------------------------------------------------------------------------
# 2. Random search
# ---------------------------------------------------------------------------


def _check_shape(shape) -> tuple:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        if not isinstance(shape, (tuple, list)):
            raise TypeError
        return tuple(_checks.check_int(s, "shape") for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a tuple of positive integers such as (10, 3073), got {shape!r}") from None


def random_search(
    loss_fn, key, shape, trials: int = 100, scale: float = 1e-4, *, chunk_size: int = 50, dtype=jnp.float32
) -> SearchResult:
    """Random search: draw ``trials`` random ``W``, keep the one with the lowest loss.

    The lecture's loop, trial ``t = 0 .. trials - 1``::

        W_t = scale * randn(*shape)        # drawn from fold_in(key, t)
        if loss_fn(W_t) < best_loss: best_loss, best_W = loss_fn(W_t), W_t

    The trials are independent, so they are evaluated ``chunk_size`` at a
    time with ``vmap`` (one pass over the data scores a whole chunk). The
    winning ``W`` is drawn again from its key rather than stored, so memory
    does not grow with ``trials``.

    Args:
      loss_fn: ``loss_fn(W) -> scalar``, e.g.
        ``lambda W: svm_loss(W, X_train, y_train)``.
      key: a ``jax.random`` key.
      shape: the shape of ``W``, ``(C, D)`` (CS231n: ``(10, 3073)``).
      trials: how many random ``W`` to try (CS231n: 1000).
      scale: the standard deviation of the draws (CS231n: 1e-4).
      chunk_size: trials evaluated together (memory: ``chunk_size`` score
        matrices at once).
      dtype: the dtype of the draws.

    Returns:
      A :class:`SearchResult` with ``params`` the best ``W``; ``history`` and
      ``losses`` have shape ``(trials,)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> result = random_search(lambda W: jnp.sum((W - 1.0) ** 2), jax.random.key(0), (2,),
      ...                        trials=500, scale=1.0)
      >>> bool(result.loss < 0.1), result.history.shape
      (True, (500,))
    """
    _check_callable(loss_fn, "loss_fn")
    _checks.check_key(key)
    shape = _check_shape(shape)
    trials = limits.check_int32(trials, "trials")
    _checks.check_nonnegative(scale, "scale")
    chunk_size = min(_checks.check_int(chunk_size, "chunk_size"), trials)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    _checks.check_representable(scale, "scale", _checks.compute_dtype(dtype))
    limits.check_memory(
        limits.random_search_bytes(trials, math.prod(shape), chunk_size, _checks.compute_dtype(dtype).itemsize),
        f"a random search of {trials} trials of W {shape}",
        hint="use fewer trials or a smaller chunk_size",
    )

    def draw(t):
        return scale * jax.random.normal(jax.random.fold_in(key, t), shape, dtype)

    losses = jax.lax.map(lambda t: loss_fn(draw(t)), jnp.arange(trials), batch_size=chunk_size)
    _check_scalar_losses(losses, trials, "loss_fn")
    best = _lowest(losses)
    return SearchResult(params=draw(best), loss=losses[best], history=_running_best(losses), losses=losses)


# ---------------------------------------------------------------------------
# 3. Random local search
# ---------------------------------------------------------------------------


def random_local_search(loss_fn, key, W0, steps: int = 1000, step_size: float = 1e-4) -> SearchResult:
    """Random local search: try a random step from the current ``W``, keep it if the loss drops.

    CS231n's loop, step ``t = 0 .. steps - 1``::

        W_try = W + step_size * randn(*W.shape)     # drawn from fold_in(key, t)
        if loss_fn(W_try) < best_loss: W, best_loss = W_try, loss_fn(W_try)

    As in CS231n, ``best_loss`` starts at ``+inf`` (the first step is always
    taken), so the search spends exactly ``steps`` loss evaluations -- the
    same budget as :func:`random_search` with ``trials = steps``. The steps
    depend on each other, so they run one after another in a ``lax.scan``.

    Args:
      loss_fn: ``loss_fn(W) -> scalar``.
      key: a ``jax.random`` key.
      W0: the starting point (CS231n: ``randn(10, 3073) * 0.001``).
      steps: how many steps to try (= loss evaluations).
      step_size: the standard deviation of each step (CS231n: 1e-4).

    Returns:
      A :class:`SearchResult`: ``params`` the final (best) ``W``; ``losses``
      the loss of every try and ``history`` the running best, each
      ``(steps,)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> result = random_local_search(lambda W: jnp.sum((W - 1.0) ** 2), jax.random.key(0),
      ...                              jnp.zeros(2), steps=1000, step_size=0.1)
      >>> bool(result.loss < 0.05)
      True
    """
    _check_callable(loss_fn, "loss_fn")
    _checks.check_key(key)
    _checks.check_real_array(W0, "W0")
    _checks.check_finite(W0, "W0")
    steps = limits.check_int32(steps, "steps")
    _checks.check_positive(step_size, "step_size")
    _checks.check_representable(step_size, "step_size", _checks.compute_dtype(jnp.result_type(W0)))
    limits.check_memory(
        3 * steps * _checks.compute_dtype(jnp.result_type(W0)).itemsize,
        f"a random local search of {steps} steps",
        hint="use fewer steps",
    )
    W0 = jnp.asarray(W0)
    out = jax.eval_shape(loss_fn, W0)
    if getattr(out, "shape", None) != ():
        raise ValueError(f"loss_fn must return a scalar loss, got {out}")

    def try_step(carry, t):
        W, best_loss = carry
        W_try = W + step_size * jax.random.normal(jax.random.fold_in(key, t), W.shape, W.dtype)
        loss = loss_fn(W_try)
        better = loss < best_loss
        W = jnp.where(better, W_try, W)
        best_loss = jnp.where(better, loss, best_loss)
        return (W, best_loss), (loss, best_loss)

    start = (W0, jnp.full((), jnp.inf, dtype=out.dtype))
    (W, best_loss), (losses, history) = jax.lax.scan(try_step, start, jnp.arange(steps))
    return SearchResult(params=W, loss=best_loss, history=history, losses=losses)
