"""The lecture's loop: minibatch stochastic gradient descent, one compiled ``lax.scan``.

The slide::

    while count < maxIterations:
        count = count + 1
        X_sample = X.sample(n=256)                                  # minibatch
        W_gradient_dW = calculateGradient(lossFunction, X_sample, W)
        W = W + -1 * (stepSize * W_gradient_dW)

is :func:`train_step`, line for line: sample a minibatch, the loss and its
gradient (``jax.value_and_grad``), the optimizer's update, ``W + update``.
The lecture's update ``W + -1 * (stepSize * dW)`` is ``optax.sgd(stepSize)``;
momentum, Adam or L-BFGS are another optax optimizer, the same call.

The rest follows PureJaxRL's shape: the carry of the loop is a
:class:`TrainState`, and :func:`run_steps` is the ``lax.scan`` over the
steps. :func:`jaxopt_course.train.make_train` wraps it into
``train(W0, key, lr, reg)``, a pure function of the whole run (``jax.jit``
compiles it, ``jax.vmap`` trains many models): the package's one ``make_train``.

One calling convention, no special cases inside:

* the loss always takes ``reg``: ``loss_fn(W, X_b, y_b, reg) -> scalar``;
* the optimizer is always a factory of the learning rate, ``lr ->
  optax.GradientTransformationExtraArgs``, and every update gets the extra
  arguments ``value, grad, value_fn`` (L-BFGS's line search needs them, the
  others ignore them);
* :attr:`Config.value_and_grad` is ``jax.value_and_grad``, or, for a line
  search on the full batch, the value and gradient it stored at the point
  it accepted (``optax.value_and_grad_from_state``);
* :attr:`Config.place_batch` is the one hook for several devices (it lays
  the minibatch out over them; on one device it does nothing).

A :class:`jaxopt_course.train.Run` is turned into this convention once, by
:mod:`jaxopt_course.train`, which also owns everything around the loop:
input checks, validation accuracy, progress, divergence, checkpoints and
devices.

Examples:
  >>> import jax, optax
  >>> from jaxopt_course import softmax_loss, synthetic_problem
  >>> X, y = synthetic_problem(num_examples=60)
  >>> config = Config(loss_fn=lambda W, X, y, reg: softmax_loss(W, X, y, reg=reg), optimizer=optax.sgd,
  ...                 batch_size=16)
  >>> state = init_state(config, jax.numpy.zeros((3, 6)), jax.random.key(0), 0.1, num_examples=60)
  >>> state, losses = jax.jit(run_steps, static_argnums=(0, 6))(config, state, X, y, 0.1, 1e-3, 50)
  >>> losses.shape, int(state.step), bool(losses[-1] < losses[0])
  ((50,), 50, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

SAMPLINGS = ("with_replacement", "shuffle")


class TrainState(NamedTuple):
    """The carry of the training scan.

    Attributes:
      params: the weights ``W`` (C, D).
      opt_state: the optimizer's state (empty for plain SGD).
      key: the run's key; step ``t`` uses ``jax.random.fold_in(key, t)``.
      step: how many updates were made so far, an int32 scalar.
      order: with ``sampling="shuffle"``, the current epoch's order of the
        training examples ``(N,)`` int32; ``None`` otherwise.
    """

    params: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array
    order: jax.Array | None = None


def fresh_value_and_grad(loss_of_W: Callable, W, opt_state):
    """The loss at ``W`` and its gradient, ``jax.value_and_grad`` (the optimizer state is not needed)."""
    del opt_state
    return jax.value_and_grad(loss_of_W)(W)


def stored_value_and_grad(loss_of_W: Callable, W, opt_state):
    """The loss and gradient a line search stored at the point it accepted (``optax.lbfgs``, full batch)."""
    return optax.value_and_grad_from_state(loss_of_W)(W, state=opt_state)


def unchanged(arrays):
    """The default placement hook: on one device there is nothing to lay out."""
    return arrays


class Config(NamedTuple):
    """Everything static about a run; hashable, so it keys the compilation cache.

    Attributes:
      loss_fn: ``loss_fn(W, X_b, y_b, reg) -> scalar``.
      optimizer: ``lr -> optax.GradientTransformationExtraArgs``, e.g. ``optax.sgd``.
      batch_size: examples per step; ``None``: gradient descent on the whole set.
      sampling: ``"with_replacement"`` (``X.sample(n=256)``, CS231n's
        ``np.random.choice``) or ``"shuffle"`` (a fresh order every epoch).
      unroll: ``lax.scan``'s ``unroll``.
      value_and_grad: :func:`fresh_value_and_grad` or :func:`stored_value_and_grad`.
      place_batch: ``(X_b, y_b) -> (X_b, y_b)`` laid out over the devices.
    """

    loss_fn: Callable
    optimizer: Callable
    batch_size: int | None
    sampling: str = "with_replacement"
    unroll: int | bool = 1
    value_and_grad: Callable = fresh_value_and_grad
    place_batch: Callable = unchanged


def init_state(config: Config, W, key, lr, num_examples: int) -> TrainState:
    """The carry before step 0: ``W``, the optimizer's fresh state, the key, step 0."""
    order = None
    if config.batch_size is not None and config.sampling == "shuffle":
        order = jnp.arange(num_examples, dtype=jnp.int32)  # replaced at step 0
    # Strong dtypes: optax starts some counters (L-BFGS's line search) weakly typed and returns them
    # strongly typed, and a second chunk would then compile again.
    opt_state = jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), config.optimizer(lr).init(W))
    return TrainState(W, opt_state, key, jnp.zeros((), jnp.int32), order)


def sample_with_replacement(key, num_examples: int, batch_size: int):
    """``X.sample(n=batch_size)``: ``batch_size`` indices drawn uniformly from ``0 .. N - 1``, with replacement."""
    return jax.random.randint(key, (batch_size,), 0, num_examples)


def next_in_epoch(key, order, step, batch_size: int):
    """The next ``batch_size`` indices of the epoch's order, and the order (a new one when an epoch begins)."""
    num_examples = order.shape[0]
    position = step % (num_examples // batch_size)
    order = jax.lax.cond(
        position == 0, lambda: jax.random.permutation(key, num_examples).astype(jnp.int32), lambda: order
    )
    return jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size), order


def minibatch(config: Config, X_NxD, y_N, state: TrainState):
    """Step ``state.step``'s examples ``(X_b, y_b)``, drawn from ``fold_in(key, step)``, and the epoch order."""
    if config.batch_size is None:  # gradient descent: the whole training set
        return X_NxD, y_N, state.order
    step_key = jax.random.fold_in(state.key, state.step)
    if config.sampling == "with_replacement":
        idx_B, order = sample_with_replacement(step_key, X_NxD.shape[0], config.batch_size), state.order
    else:
        idx_B, order = next_in_epoch(step_key, state.order, state.step, config.batch_size)
    return X_NxD[idx_B], y_N[idx_B], order


def train_step(config: Config, X_NxD, y_N, lr, reg, state: TrainState):
    """One step of the lecture's loop: ``(new state, the minibatch's loss at the old W)``."""
    X_b, y_b, order = minibatch(config, X_NxD, y_N, state)  # X_sample = X.sample(n=256)
    X_b, y_b = config.place_batch((X_b, y_b))  # several devices: each holds some of the rows

    def minibatch_loss(W):
        return config.loss_fn(W, X_b, y_b, reg)

    loss, dW = config.value_and_grad(minibatch_loss, state.params, state.opt_state)  # calculateGradient
    tx = config.optimizer(lr)
    updates, opt_state = tx.update(dW, state.opt_state, state.params, value=loss, grad=dW, value_fn=minibatch_loss)
    W = optax.apply_updates(state.params, updates)  # optax.sgd: W + -1 * (stepSize * dW)
    return TrainState(W, opt_state, state.key, state.step + 1, order), loss


def run_steps(config: Config, state: TrainState, X_NxD, y_N, lr, reg, num_steps: int):
    """``num_steps`` steps from ``state`` in one ``lax.scan``: ``(state, losses of shape (num_steps,))``."""

    def body(state, _):
        return train_step(config, X_NxD, y_N, lr, reg, state)

    return jax.lax.scan(body, state, None, length=num_steps, unroll=config.unroll)
