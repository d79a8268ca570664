"""Optimizers: optax's by name, and what the runner needs to know of one.

Every optimizer here is an ``optax.GradientTransformation``; a run takes a
factory of the learning rate (``optax.sgd``, ``functools.partial(
get_optimizer, "adam")``, see :class:`~jaxopt_course.train.Run`).
:func:`get_optimizer` names the ones the command line offers.
:class:`WithExtraArgs` and :func:`optimizer_state` are the runner's: every
update is given ``value, grad, value_fn`` (L-BFGS's line search uses them,
the others ignore them), and an optimizer that stores the value and the
gradient it computed (a line search, on the full batch) lets the next step
reuse them instead of computing them again.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from . import _checks

__all__ = ["OPTIMIZER_NAMES", "get_optimizer"]


#: The optimizers :func:`get_optimizer` knows by name (the CLI's ``--optimizer`` choices).
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")


def get_optimizer(name: str, lr, **kwargs) -> optax.GradientTransformation:
    """An optax optimizer by name, with learning rate (step size) ``lr``.

    * ``"sgd"``: ``W <- W - lr * dW`` -- the lecture's update, ``optax.sgd(lr)``;
    * ``"momentum"``: ``v <- momentum * v + dW; W <- W - lr * v`` (momentum 0.9
      unless given);
    * ``"nesterov"``: the same with Nesterov's look-ahead;
    * ``"adam"``, ``"rmsprop"``, ``"adagrad"``: ``optax.adam(lr)`` etc.

    ``functools.partial(get_optimizer, "adam")`` is a factory of the
    learning rate: the :attr:`~jaxopt_course.train.Run.optimizer` form.

    Args:
      name: one of :data:`OPTIMIZER_NAMES`.
      lr: the learning rate: a number, a traced scalar (for :func:`~jaxopt_course.train.sweep`)
        or an optax schedule ``step -> lr``.
      **kwargs: passed on to the optax factory (e.g. ``momentum=0.5``,
        ``b1=0.8``).

    Examples:
      >>> import jax.numpy as jnp
      >>> opt = get_optimizer("sgd", 0.5)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> updates.tolist()  # -lr * dW
      [-1.0]
    """
    _checks.check_choice(name, "optimizer", OPTIMIZER_NAMES)
    if not callable(lr):
        _checks.check_positive(lr, "lr")
    if name == "sgd":
        return optax.sgd(lr, **kwargs)
    if name == "momentum":
        return optax.sgd(lr, **{"momentum": 0.9, **kwargs})
    if name == "nesterov":
        return optax.sgd(lr, **{"momentum": 0.9, "nesterov": True, **kwargs})
    return getattr(optax, name)(lr, **kwargs)


@dataclasses.dataclass(frozen=True)  # hashable and equal by its factory: it keys the compilation cache
class WithExtraArgs:
    """The run's factory of ``lr``, its optimizers taking the extra arguments (ignoring those they do not use)."""

    make: Callable

    def __call__(self, lr):
        return optax.with_extra_args_support(self.make(lr))


@functools.lru_cache(maxsize=64)
def _optimizer_state(factory, W_shape, W_dtype, lr_tree) -> Any:
    """The optimizer's state for weights of this shape, traced once with one update (cached, no computation)."""
    W = jax.ShapeDtypeStruct(W_shape, W_dtype)
    lr = jax.tree.unflatten(lr_tree[0], [jax.ShapeDtypeStruct((), lr_tree[1])] * lr_tree[0].num_leaves)

    def first_update(W, lr):
        tx = factory(lr)
        state = tx.init(W)
        tx.update(W, state, W, value=jnp.zeros((), W.dtype), grad=W, value_fn=lambda V: jnp.sum(V * V))
        return state

    return jax.eval_shape(first_update, W, lr)


def optimizer_state(factory, W0, lr) -> Any:
    """The state ``factory(lr)`` keeps for weights like ``W0`` (shapes only: ``W0`` and ``lr`` may be traced).

    Raises a ``TypeError`` that says what is wrong when the optimizer cannot update ``W0``.
    """
    lr_tree = (jax.tree.structure(lr), jnp.result_type(W0.dtype, jnp.float32))
    try:
        return _optimizer_state(factory, tuple(W0.shape), W0.dtype, lr_tree)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"optimizer cannot update weights of shape {tuple(W0.shape)}: optax raised {type(err).__name__}: "
            f"{err} -- does Run.optimizer take the learning rate? (optax.sgd, not optax.sgd('0.1'))"
        ) from None


def stores_value_and_grad(opt_state) -> bool:
    """Does the optimizer keep the value and the gradient it computed (optax's line search does)?"""
    try:
        return optax.tree.get(opt_state, "value") is not None and optax.tree.get(opt_state, "grad") is not None
    except KeyError:  # several of them: ambiguous, so compute afresh
        return False
