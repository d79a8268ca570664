"""The inputs of ``fit``, ``sweep`` and ``make_train``, checked once where they enter.

The data are checked (shapes, labels, NaN/Inf, float32's range) and placed on
their device(s) once per call; ``W0`` and the hyperparameters are checked
against them. The compiled steps of :mod:`jaxopt_course.train` then check
nothing: a traced function cannot raise on a value.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, distributed


class Data(NamedTuple):
    """The training set and the optional validation set, checked and on their device(s)."""

    X: jax.Array
    y: jax.Array
    X_val: jax.Array | None
    y_val: jax.Array | None


def _local(x):
    """What this process can read of ``x``, for value checks: ``x`` itself, or -- for
    an array spread over several processes -- the values of its local shards, flattened."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.concatenate([np.asarray(shard.data).reshape(-1) for shard in x.addressable_shards])
    return x


@jax.jit
def _sum_is_finite(x):
    return jnp.isfinite(jnp.sum(x))


def _placed_and_finite(x, name: str, mesh) -> jax.Array:
    """``x`` on its device(s), checked for NaN/Inf in one pass there (the cheapest full pass over a large ``X``).

    A NaN or an Inf makes the sum non-finite, so a finite sum proves there
    are none; only a non-finite sum (NaN/Inf present, or finite values whose
    sum overflows) takes the exact check, which counts them and names ``x``.
    """
    placed = distributed.place_data(x, mesh)
    if not bool(_sum_is_finite(placed)):
        _checks.check_finite(_local(x), name)
    return placed


def make_data(X, y, X_val, y_val, mesh=None) -> Data:
    x_shape = _checks.check_real_array(X, "X", ndim=2)
    _checks.check_fits_dtype(X, "X")  # float64 data beyond float32's range: an error about the data (issue 24.6)
    if x_shape[0] == 0:
        raise ValueError(f"X must hold at least one example, got shape {x_shape}")
    _checks.check_labels(y, None, n=x_shape[0])
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together, got only " + ("X_val" if y_val is None else "y_val"))
    if X_val is not None:
        v_shape = _checks.check_real_array(X_val, "X_val", ndim=2)
        _checks.check_fits_dtype(X_val, "X_val")
        if v_shape[1] != x_shape[1]:
            raise ValueError(f"X_val must have D = {x_shape[1]} columns like X, got shape {v_shape}")
        _checks.check_labels(y_val, None, name="y_val", n=v_shape[0])
        X_val, y_val = _placed_and_finite(X_val, "X_val", mesh), distributed.place_data(y_val, mesh)
    return Data(_placed_and_finite(X, "X", mesh), distributed.place_data(y, mesh), X_val, y_val)


def check_params(params, data: Data, name: str = "W0") -> None:
    # The data were checked once in make_data; here only W against them (no second pass over a large X).
    w_shape = _checks.check_real_array(params, name, ndim=2)
    if w_shape[1] != data.X.shape[1]:
        raise ValueError(
            f"{name} must have shape (C, D) with D = {data.X.shape[1]} like X (N, D), got {name} of "
            f"shape {w_shape}" + _checks.dimension_hint(w_shape, data.X.shape[1], name)
        )
    _checks.check_finite(params, name)
    _checks.check_labels(_local(data.y), w_shape[0])  # its shape was checked in make_data
    if data.X_val is not None:
        _checks.check_labels(_local(data.y_val), w_shape[0], name="y_val")


def check_learning_rate(value, name: str = "lr") -> None:
    """A learning rate (or an array of them): > 0, and nonzero in the compute dtype (1e-320 is 0 in float32).

    The one rule for ``fit``'s ``lr`` and every one of ``sweep``'s ``learning_rates``.
    """
    _checks.check_positive(value, name)
    _checks.check_representable(value, name, _checks.compute_dtype(np.float64))


def check_hyper(lr, reg) -> None:
    if lr is None:
        raise ValueError("lr must be given: Run.optimizer is a factory of the learning rate (e.g. lr=1e-3)")
    # A number, or a pytree of them (e.g. {"lr": 0.1, "decay": 0.5} for a
    # factory that builds a schedule): every value traced, every value > 0.
    for value in jax.tree_util.tree_leaves(lr):
        check_learning_rate(value)
    _checks.check_nonnegative(reg, "reg")
