"""Following the gradient: gradient descent and minibatch SGD as one compiled function.

The lecture's loop::

    while count < maxIterations:
        count = count + 1
        X_sample = X.sample(n=256)                                  # minibatch
        W_gradient_dW = calculateGradient(lossFunction, X_sample, W)
        W = W + -1 * (stepSize * W_gradient_dW)

becomes, PureJaxRL-style, a pure function built once by :func:`make_train`
and run as a single ``lax.scan`` over the steps:

* the carry is a :class:`TrainState` ``(params, opt_state, key, step, order)``;
* step ``t`` draws its minibatch from ``jax.random.fold_in(key, t)``, so
  splitting a run into chunks can never change its randomness;
* the update is any optax ``GradientTransformation``: the lecture's
  ``W = W + -1 * (stepSize * dW)`` is ``optax.sgd(stepSize)``, and momentum,
  Nesterov, Adam, RMSProp, Adagrad or a schedule are one argument away
  (:func:`get_optimizer`);
* the per-step :class:`Metrics` (the loss; the validation accuracy every
  ``eval_every`` steps) come back stacked from the scan.

Gradient descent is ``batch_size=None`` (every step sees the whole training
set); minibatch SGD samples ``batch_size`` examples per step, *with
replacement* like the lecture's ``X.sample(n=256)`` and CS231n's
``np.random.choice(N, batch_size, replace=True)`` (``sampling=
"with_replacement"``), or from a fresh random order each epoch
(``sampling="shuffle"``).

The learning rate ``lr`` and the regularization strength ``reg`` may be
traced arguments: give the optimizer as a *factory* of the learning rate
(``lambda lr: optax.sgd(lr)``, or ``functools.partial(get_optimizer,
"adam")``) and the loss unbound (``svm_loss``, called as ``loss_fn(W, X, y,
reg=reg)``). Then :func:`sweep` trains a whole ``lr x reg`` grid as one
vmapped program, every model seeing the same minibatches.

Around the pure core, :func:`fit` and :func:`sweep` are the host-side
runners for everyday use: they scan in chunks, and between chunks they move
a progress bar and call a checkpoint hook; Ctrl-C becomes
:class:`TrainingInterrupted` holding the run at its last chunk boundary, and
``init_state=`` resumes it bit for bit. :func:`fit` also stops with a
:class:`DivergenceError` when the loss turns NaN/Inf (a sweep goes on with
its other models).

Data are passed to the compiled functions as arguments (never baked into
the program as constants) and indexed in place: a minibatch is a gather
``X[idx]``, scores are ``X @ W.T`` with ``W`` of shape ``(C, D)``.

On several devices, ``mesh=`` (a :class:`jax.sharding.Mesh` from
:func:`jaxopt_course.distributed.make_mesh`) runs the same core with
sharding annotations: step ``t`` draws the same global minibatch indices as
on one device, the ``"data"`` axis splits them (and the gathered rows)
across devices, and the compiler averages the gradients with its own
all-reduce; a sweep's models are split along ``"model"``. See
:mod:`jaxopt_course.distributed`.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from . import _checks
from .distributed import DATA_AXIS, MODEL_AXIS
from .distributed import check_mesh as _check_mesh
from .distributed import replicate as _replicate
from .model import accuracy as _accuracy
from ._checks import check_int as _check_int
from ._checks import check_key as _check_key

SAMPLINGS = ("with_replacement", "shuffle")


# ---------------------------------------------------------------------------
# The state, the metrics and the results
# ---------------------------------------------------------------------------


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


class Metrics(NamedTuple):
    """Per-step metrics, stacked by the scan (each of shape ``(num_steps,)``).

    Attributes:
      loss: the loss of step ``t``'s minibatch (the whole training set for
        gradient descent), measured at the weights *before* update ``t``.
      val_accuracy: the validation accuracy after update ``t`` when
        ``(t + 1) % eval_every == 0``; NaN at the other steps (and everywhere
        when no validation set is given).
    """

    loss: jax.Array
    val_accuracy: jax.Array


class TrainOutput(NamedTuple):
    """What ``train(params, key)`` returns: the final carry and the stacked metrics."""

    state: TrainState
    metrics: Metrics


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
      params: the trained weights ``W`` (C, D).
      losses: the loss of every step, ``(num_steps,)`` (see :class:`Metrics`).
      val_steps: after how many updates the validation accuracy was measured.
      val_accuracies: the validation accuracies measured then (empty without
        a validation set).
      state: the final :class:`TrainState` (optimizer state included).
    """

    params: jax.Array
    losses: np.ndarray
    val_steps: np.ndarray
    val_accuracies: np.ndarray
    state: TrainState


class SweepResult(NamedTuple):
    """What :func:`sweep` returns, for a grid of ``L`` learning rates by ``R`` regs.

    Attributes:
      params: the trained weights of every model, ``(L, R, C, D)``.
      losses: the per-step losses, ``(L, R, num_steps)`` (NaN/Inf where a
        model diverged: a sweep does not stop for one bad model).
      train_accuracy: the final training accuracy, ``(L, R)``.
      val_accuracy: the final validation accuracy, ``(L, R)`` (NaN without a
        validation set).
      learning_rates: ``(L,)``; regs: ``(R,)``.
    """

    params: jax.Array
    losses: np.ndarray
    train_accuracy: np.ndarray
    val_accuracy: np.ndarray
    learning_rates: np.ndarray
    regs: np.ndarray


class DivergenceError(FloatingPointError):
    """The loss turned NaN or Inf: the step size is (almost always) too large.

    Raised by :func:`fit` at the end of the chunk in which it happened.

    Attributes:
      step: the first step whose loss was not finite.
      last_finite_loss: the loss of step ``step - 1`` (NaN when ``step == 0``).
      params: the weights of step ``step - 1``, whose loss was finite (the
        weights the run started from when it diverged at its first step:
        step 0, or the first step after ``init_state``).
      metrics: :class:`Metrics` as NumPy arrays for steps ``0 .. step``.
    """

    def __init__(self, message, *, step, last_finite_loss, params, metrics):
        super().__init__(message)
        self.step = step
        self.last_finite_loss = last_finite_loss
        self.params = params
        self.metrics = metrics


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped :func:`fit` or :func:`sweep`: the run so far, at its last chunk boundary.

    A ``KeyboardInterrupt`` (so an uncaught one still stops a script the
    usual way) that carries everything needed to continue:
    ``fit(..., init_state=err.state, init_metrics=err.metrics)`` (or
    ``sweep(...)`` likewise) finishes the run with the same final weights,
    bit for bit, as a run never interrupted (see
    :mod:`jaxopt_course.checkpoint` to keep them on disk).

    Attributes:
      step: the updates completed (a chunk boundary; the chunk running when
        Ctrl-C came is dropped and redone on resume).
      state: the :class:`TrainState` after ``step`` updates (a sweep's: with
        a leading model axis on ``params`` and ``opt_state``, see :func:`sweep`).
      metrics: :class:`Metrics` as NumPy arrays for steps ``0 .. step - 1``
        (a sweep's: ``(M, step)``).
    """

    def __init__(self, message, *, step, state, metrics):
        super().__init__(message)
        self.step = step
        self.state = state
        self.metrics = metrics


# ---------------------------------------------------------------------------
# Optimizers by name
# ---------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")


def get_optimizer(name: str, lr, **kwargs) -> optax.GradientTransformation:
    """An optax optimizer by name, with learning rate (step size) ``lr``.

    * ``"sgd"``: ``W <- W - lr * dW`` -- the lecture's update, ``optax.sgd(lr)``;
    * ``"momentum"``: ``v <- momentum * v + dW; W <- W - lr * v`` (momentum 0.9
      unless given);
    * ``"nesterov"``: the same with Nesterov's look-ahead;
    * ``"adam"``, ``"rmsprop"``, ``"adagrad"``: ``optax.adam(lr)`` etc.

    Args:
      name: one of :data:`OPTIMIZERS`.
      lr: the learning rate: a number, a traced scalar (for :func:`sweep`)
        or an optax schedule ``step -> lr``.
      **kwargs: passed on to the optax factory (e.g. ``momentum=0.5``,
        ``b1=0.8``).

    ``functools.partial(get_optimizer, "adam")`` is a factory of the
    learning rate, what :func:`sweep` and a traced ``lr`` need.

    Examples:
      >>> import jax.numpy as jnp
      >>> opt = get_optimizer("sgd", 0.5)
      >>> updates, _ = opt.update(jnp.array([2.0]), opt.init(jnp.zeros(1)))
      >>> updates.tolist()  # -lr * dW
      [-1.0]
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")
    if not callable(lr):
        _checks.check_positive(lr, "lr")
    if name == "sgd":
        return optax.sgd(lr, **kwargs)
    if name == "momentum":
        return optax.sgd(lr, **{"momentum": 0.9, **kwargs})
    if name == "nesterov":
        return optax.sgd(lr, **{"momentum": 0.9, "nesterov": True, **kwargs})
    return getattr(optax, name)(lr, **kwargs)


# ---------------------------------------------------------------------------
# The pure core (traced; no validation here)
# ---------------------------------------------------------------------------


class _Config(NamedTuple):
    """Everything static about a run: hashable, it keys the compilation cache."""

    loss_fn: Callable
    optimizer: Any  # a GradientTransformation, or a factory lr -> GradientTransformation
    batch_size: int | None
    sampling: str
    eval_every: int | None
    unroll: int | bool
    mesh: Any = None  # a jax.sharding.Mesh: the same steps, sharded (see _constrain)


class _Data(NamedTuple):
    X: jax.Array
    y: jax.Array
    X_val: jax.Array | None
    y_val: jax.Array | None


def _optimizer(config: _Config, lr):
    return config.optimizer if lr is None else config.optimizer(lr)


def _loss(config: _Config, reg):
    return config.loss_fn if reg is None else partial(config.loss_fn, reg=reg)


def _accuracy_core(W_CxD, X_NxD, y_N):
    return jnp.mean(jnp.argmax(X_NxD @ W_CxD.T, axis=1) == y_N).astype(jnp.float32)


def _constrain(config: _Config, x, *axes):
    """``x`` laid out as ``PartitionSpec(*axes)`` over ``config.mesh`` (no mesh: ``x`` unchanged).

    An annotation for the compiler, not a computation: ``_constrain(config,
    X_b, "data")`` splits the minibatch's rows across the ``"data"`` devices,
    ``_constrain(config, W)`` keeps ``W`` whole on every device. Under
    ``jax.vmap(..., spmd_axis_name="model")`` (the sweep) the models' axis is
    split along ``"model"`` on top. An axis the mesh lacks is not split.
    """
    if config.mesh is None:
        return x
    spec = P(*(axis if axis in config.mesh.axis_names else None for axis in axes))
    return jax.lax.with_sharding_constraint(x, NamedSharding(config.mesh, spec))


def _replicated(config: _Config, tree):
    """Every array of ``tree`` whole on every device of the mesh (no mesh: ``tree`` unchanged)."""
    return tree if config.mesh is None else jax.tree.map(lambda x: _constrain(config, x), tree)


def _init_state(config: _Config, params, key, lr, num_examples: int) -> TrainState:
    order = None
    if config.batch_size is not None and config.sampling == "shuffle":
        order = jnp.arange(num_examples, dtype=jnp.int32)  # replaced at step 0
    # Strong types throughout: optax initializes some entries (L-BFGS's line-search counters) as weakly
    # typed scalars that its update returns strongly typed, and fit's second chunk would compile again.
    opt_state = jax.tree.map(lambda x: jnp.asarray(x, dtype=x.dtype), _optimizer(config, lr).init(params))
    return _replicated(config, TrainState(params, opt_state, key, jnp.zeros((), jnp.int32), order))


def _minibatch(config: _Config, data: _Data, state: TrainState):
    """Step ``state.step``'s examples ``(X_b, y_b)`` and the (possibly new) epoch order.

    With a mesh the indices are the same global ones; their rows are split
    across the ``"data"`` devices, each gathering its share.
    """
    if config.batch_size is None:  # gradient descent: the whole training set
        return _constrain(config, data.X, DATA_AXIS), _constrain(config, data.y, DATA_AXIS), state.order
    num_examples, batch_size = data.X.shape[0], config.batch_size
    step_key = jax.random.fold_in(state.key, state.step)
    if config.sampling == "with_replacement":
        idx = jax.random.randint(step_key, (batch_size,), 0, num_examples)
        order = state.order
    else:
        # A fresh random order at the start of every epoch (drawn from the
        # key of the epoch's first step), then consecutive slices of it.
        steps_per_epoch = num_examples // batch_size
        position = state.step % steps_per_epoch
        order = jax.lax.cond(
            position == 0,
            lambda: jax.random.permutation(step_key, num_examples).astype(jnp.int32),
            lambda: state.order,
        )
        idx = jax.lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)
    idx = _constrain(config, idx, DATA_AXIS)
    return _constrain(config, data.X[idx], DATA_AXIS), _constrain(config, data.y[idx], DATA_AXIS), order


def _stored_value_and_grad(opt_state) -> bool:
    """Whether the optimizer state keeps the loss and gradient at the current weights.

    A line search (``optax.lbfgs``'s zoom search) evaluates the loss and its
    gradient at the point it accepts and stores them as ``value`` and
    ``grad``; on the full batch the next step can reuse them instead of
    computing them again (``optax.value_and_grad_from_state``).
    """
    try:
        return optax.tree.get(opt_state, "value") is not None and optax.tree.get(opt_state, "grad") is not None
    except KeyError:  # several of them: ambiguous, so compute afresh
        return False


def _train_step(config: _Config, data: _Data, lr, reg, state: TrainState):
    """One step of the lecture's loop: sample, gradient, update."""
    X_b, y_b, order = _minibatch(config, data, state)
    loss_fn = _loss(config, reg)

    def batch_loss(params):  # this step's loss as a function of W alone, for line searches
        return loss_fn(params, X_b, y_b)

    optimizer = _optimizer(config, lr)
    if config.batch_size is None and _stored_value_and_grad(state.opt_state):
        loss, grads = optax.value_and_grad_from_state(batch_loss)(state.params, state=state.opt_state)
    else:
        loss, grads = jax.value_and_grad(batch_loss)(state.params)
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        # Optimizers that need the loss (L-BFGS's line search, reduce-on-plateau)
        # get it, its gradient and the function itself; the others ignore them.
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params,
                                              value=loss, grad=grads, value_fn=batch_loss)
    else:
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    step = state.step + 1
    if config.eval_every is None or data.X_val is None:
        val_accuracy = jnp.float32(jnp.nan)
    else:
        val_accuracy = jax.lax.cond(
            step % config.eval_every == 0,
            lambda: _accuracy_core(params, data.X_val, data.y_val),
            lambda: jnp.float32(jnp.nan),
        )
    # With a mesh: the new weights (and the loss) whole on every device -- the
    # gradient of the mean over the split batch is where the compiler all-reduces.
    return _replicated(config, (TrainState(params, opt_state, state.key, step, order), Metrics(loss, val_accuracy)))


def _run_steps(config: _Config, num_steps: int, state: TrainState, data: _Data, lr, reg):
    """``num_steps`` steps from ``state`` in one ``lax.scan``: ``(state, Metrics)``."""

    def body(state, _):
        return _train_step(config, data, lr, reg, state)

    return jax.lax.scan(body, state, None, length=num_steps, unroll=config.unroll)


def _train(config: _Config, num_steps: int, params, key, data: _Data, lr, reg) -> TrainOutput:
    state = _init_state(config, params, key, lr, data.X.shape[0])
    return TrainOutput(*_run_steps(config, num_steps, state, data, lr, reg))


def _replay(config: _Config, state: TrainState, data: _Data, lr, reg, num_steps):
    """``num_steps`` (traced) steps from ``state``, keeping only the final state."""
    return jax.lax.fori_loop(0, num_steps, lambda i, s: _train_step(config, data, lr, reg, s)[0], state)


# A sweep's state is a TrainState over M models: params and opt_state get a
# leading (M,) axis, while key, step and the epoch order stay shared (unbatched),
# so every model's step t draws the same minibatch, gathered once for all.
_SWEEP_AXES = TrainState(params=0, opt_state=0, key=None, step=None, order=None)


def _spmd_models(config: _Config) -> str | None:
    """The mesh axis that splits a sweep's models (``vmap``'s ``spmd_axis_name``), if there is one."""
    return MODEL_AXIS if config.mesh is not None and MODEL_AXIS in config.mesh.axis_names else None


def _models_sharded(config: _Config, state: TrainState) -> TrainState:
    """A sweep's state laid out over the mesh: each model's weights and optimizer
    state on the devices of its ``"model"`` slice; key, step and order on all."""
    if config.mesh is None:
        return state

    def per_model(x):
        return _constrain(config, x, MODEL_AXIS)

    return TrainState(jax.tree.map(per_model, state.params), jax.tree.map(per_model, state.opt_state),
                      *_replicated(config, (state.key, state.step, state.order)))


def _sweep_init_state(config: _Config, params, key, lr_M, num_examples: int) -> TrainState:
    """The state of M models before step 0: ``params`` (C, D) copied M times, one optimizer state per ``lr_M[m]``."""
    state = jax.vmap(lambda lr: _init_state(config, params, key, lr, num_examples), out_axes=_SWEEP_AXES,
                     spmd_axis_name=_spmd_models(config))(lr_M)
    return _models_sharded(config, state)


def _sweep_steps(config: _Config, num_steps: int, state: TrainState, data: _Data, lr_M, reg_M):
    """``num_steps`` steps of all M models from ``state``: ``(state, Metrics of shape (M, num_steps))``.

    Only ``lr``, ``reg``, the weights and the optimizer state are batched:
    the key, the step counter and so the minibatch indices stay unbatched
    under ``vmap``, so every model's step uses the same gathered minibatch
    (computed once).
    """

    def one_model(state, lr, reg):
        return _run_steps(config, num_steps, state, data, lr, reg)

    # With a mesh, spmd_axis_name splits the models' axis along "model" in every
    # annotation of the step; each chunk's metrics are then gathered to all devices.
    state, metrics = jax.vmap(one_model, in_axes=(_SWEEP_AXES, 0, 0), out_axes=(_SWEEP_AXES, 0),
                              spmd_axis_name=_spmd_models(config))(state, lr_M, reg_M)
    return _models_sharded(config, state), _replicated(config, metrics)


def _sweep_accuracies(config: _Config, W_MxCxD, data: _Data):
    """The training and validation accuracy of each of the M models (NaN without a validation set)."""
    train_acc = jax.vmap(_accuracy_core, in_axes=(0, None, None))(W_MxCxD, data.X, data.y)
    if data.X_val is None:
        return _replicated(config, (train_acc, jnp.full_like(train_acc, jnp.nan)))
    val_acc = jax.vmap(_accuracy_core, in_axes=(0, None, None))(W_MxCxD, data.X_val, data.y_val)
    return _replicated(config, (train_acc, val_acc))


def _sweep(config: _Config, num_steps: int, params, key, data: _Data, lr_M, reg_M):
    """Train one model per ``(lr_M[m], reg_M[m])``, all from ``params`` and ``key``, in one go.

    The whole sweep as one pure function: :func:`sweep` runs the same pieces
    (initial state, steps, accuracies) with the steps in chunks.
    """
    state = _sweep_init_state(config, params, key, lr_M, data.X.shape[0])
    state, metrics = _sweep_steps(config, num_steps, state, data, lr_M, reg_M)
    return (state.params, metrics.loss, *_sweep_accuracies(config, state.params, data))


# The compiled entry points. The static configuration is part of the cache
# key, so a second call with the same loss function and optimizer objects
# and the same shapes reuses the compiled program.
_init_state_jit = jax.jit(_init_state, static_argnums=(0, 4))
_run_steps_jit = jax.jit(_run_steps, static_argnums=(0, 1))
_train_jit = jax.jit(_train, static_argnums=(0, 1))
_replay_jit = jax.jit(_replay, static_argnums=(0,))
_sweep_jit = jax.jit(_sweep, static_argnums=(0, 1))
_sweep_init_state_jit = jax.jit(_sweep_init_state, static_argnums=(0, 4))
_sweep_steps_jit = jax.jit(_sweep_steps, static_argnums=(0, 1))
_sweep_accuracies_jit = jax.jit(_sweep_accuracies, static_argnums=(0,))
_models_sharded_jit = jax.jit(_models_sharded, static_argnums=(0,))
_replicated_jit = jax.jit(_replicated, static_argnums=(0,))


# ---------------------------------------------------------------------------
# Validation (plain Python, before tracing)
# ---------------------------------------------------------------------------


def _is_transformation(optimizer) -> bool:
    return isinstance(optimizer, optax.GradientTransformation)


def _make_config(loss_fn, optimizer, batch_size, sampling, eval_every, unroll, num_examples, mesh=None) -> _Config:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(W, X, y), got {type(loss_fn).__name__}")
    if not (_is_transformation(optimizer) or callable(optimizer)):
        raise TypeError(
            "optimizer must be an optax GradientTransformation (e.g. optax.sgd(1e-3)) or a factory "
            f"lr -> GradientTransformation, got {type(optimizer).__name__}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {list(SAMPLINGS)}, got {sampling!r}")
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size")
        if sampling == "shuffle" and batch_size > num_examples:
            raise ValueError(
                f"batch_size must be <= the number of training examples ({num_examples}) with "
                f"sampling='shuffle', got {batch_size}")
    if eval_every is not None:
        eval_every = _check_int(eval_every, "eval_every")
    if not isinstance(unroll, bool):
        unroll = _check_int(unroll, "unroll")
    return _Config(loss_fn, optimizer, batch_size, sampling, eval_every, unroll, mesh)


def _make_data(X, y, X_val, y_val, mesh=None) -> _Data:
    x_shape = _checks.check_real_array(X, "X", ndim=2)
    if x_shape[0] == 0:
        raise ValueError(f"X must hold at least one example, got shape {x_shape}")
    _checks.check_labels(y, None, n=x_shape[0])
    _checks.check_finite(_local(X), "X")
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together, got only "
                         + ("X_val" if y_val is None else "y_val"))
    if X_val is not None:
        v_shape = _checks.check_real_array(X_val, "X_val", ndim=2)
        if v_shape[1] != x_shape[1]:
            raise ValueError(f"X_val must have D = {x_shape[1]} columns like X, got shape {v_shape}")
        _checks.check_labels(y_val, None, name="y_val", n=v_shape[0])
        _checks.check_finite(_local(X_val), "X_val")
        X_val, y_val = _to_device(X_val, mesh), _to_device(y_val, mesh)
    return _Data(_to_device(X, mesh), _to_device(y, mesh), X_val, y_val)


def _to_device(x, mesh=None) -> jax.Array:
    """``x`` as a JAX array, copied at most once.

    ``jnp.asarray`` of a NumPy array makes a transient second copy on the way
    (1.2 GB at once for CIFAR-10's 600 MB training matrix); ``jax.device_put``
    makes one, and none when the NumPy buffer is 64-byte aligned: the CPU
    device then shares it (so modify ``X`` in place only after training).

    With a mesh: an array already laid out over the mesh's devices (say, split
    by rows with :func:`jaxopt_course.distributed.shard_rows`) stays as it
    is; anything else is copied whole to every device of the mesh.
    """
    if mesh is None:
        return jax.device_put(x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x))
    if isinstance(x, jax.Array) and x.sharding.device_set == set(mesh.devices.flat):
        return x
    return _replicate(x, mesh)


def _local(x):
    """What this process can read of ``x``, for value checks: ``x`` itself, or -- for
    an array spread over several processes -- the values of its local shards, flattened."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.concatenate([np.asarray(shard.data).reshape(-1) for shard in x.addressable_shards])
    return x


def _put_replicated(config: _Config, tree):
    """Host values (``W0``, the key, ``lr``, ``reg``, a saved state) copied to every device of the mesh.

    Done once before the compiled calls, so they find every argument on the
    mesh (which several processes need). Without a mesh, or for traced
    values (``train`` under the user's own ``jit``/``vmap``): unchanged.
    """
    if config.mesh is None:
        return tree
    return jax.tree.map(lambda x: x if _checks.is_traced(x) else _replicate(x, config.mesh), tree)


def _check_params(params, data: _Data, name: str = "W0") -> None:
    # The data were checked once in _make_data; here only W against them
    # (no second pass over a large X).
    w_shape = _checks.check_real_array(params, name, ndim=2)
    if w_shape[1] != data.X.shape[1]:
        raise ValueError(f"{name} must have shape (C, D) with D = {data.X.shape[1]} like X (N, D), "
                         f"got {name} of shape {w_shape}")
    _checks.check_finite(params, name)
    _checks.check_labels(_local(data.y), w_shape[0])  # its shape was checked in _make_data
    if data.X_val is not None:
        _checks.check_labels(_local(data.y_val), w_shape[0], name="y_val")


def _check_hyper(config: _Config, lr, reg) -> None:
    if _is_transformation(config.optimizer):
        if lr is not None:
            raise ValueError(
                "lr was given but optimizer is already a GradientTransformation with its own learning "
                "rate; to pass lr, give a factory such as functools.partial(get_optimizer, 'sgd')")
    elif lr is None:
        raise ValueError("optimizer is a factory of the learning rate, so lr must be given (e.g. lr=1e-3)")
    else:
        # A number, or a pytree of them (e.g. {"lr": 0.1, "decay": 0.5} for a
        # factory that builds a schedule): every value traced, every value > 0.
        for value in jax.tree_util.tree_leaves(lr):
            _checks.check_positive(value, "lr")
    if reg is not None:
        _checks.check_nonnegative(reg, "reg")


# ---------------------------------------------------------------------------
# The public functions
# ---------------------------------------------------------------------------


def make_train(loss_fn, optimizer, X, y, batch_size, num_steps, *, X_val=None, y_val=None,
               eval_every: int | None = 100, sampling: str = "with_replacement", unroll=1, mesh=None):
    """Build ``train(params, key, lr=None, reg=None)``: a whole training run as one pure function.

    ``train`` runs ``num_steps`` steps of::

        X_b, y_b = minibatch(fold_in(key, t))          # or all of X, y
        loss_t, dW = value_and_grad(loss_fn)(W, X_b, y_b)
        W = W + optimizer_update(dW)                    # optax.sgd: W - lr * dW

    inside one ``lax.scan`` whose carry is a :class:`TrainState`, and returns
    ``TrainOutput(state, metrics)`` with the per-step :class:`Metrics`
    stacked. It is compiled on its first call (``X``, ``y`` are passed to the
    compiled program as arguments, not baked in) and reused afterwards; it is
    jit-able and vmap-able (``jax.vmap(train, in_axes=(None, 0))`` trains one
    model per key). Wrapping it in your own ``jax.jit`` works too but turns
    the closed-over data into constants of your program: fine for small data,
    slow to compile for CIFAR-10.

    Args:
      loss_fn: ``loss_fn(W, X, y) -> scalar``, e.g.
        ``functools.partial(svm_loss, reg=2.5e4)``; when ``train`` gets
        ``reg``, it is called as ``loss_fn(W, X, y, reg=reg)``.
      optimizer: an optax ``GradientTransformation`` (``optax.sgd(1e-7)``),
        or a factory ``lr -> GradientTransformation`` when ``train`` gets ``lr``
        (``lr`` may also be a dict of numbers, e.g. a schedule's parameters:
        all traced, so new values reuse the compiled program). Optimizers
        with extra arguments (``optax.GradientTransformationExtraArgs``, e.g.
        ``optax.lbfgs()`` and its line search) are called with
        ``value=loss, grad=dW, value_fn=W -> loss of the step's examples``;
        on the full batch the loss and gradient a line search stored at the
        accepted point are reused (``optax.value_and_grad_from_state``).
      X, y: the training set ``(N, D)``, ``(N,)`` int32.
      batch_size: examples per step; ``None`` for gradient descent (the full batch).
      num_steps: the number of updates (the lecture's ``maxIterations``).
      X_val, y_val: an optional validation set, scored every ``eval_every`` steps.
      eval_every: the validation interval (``None``: never).
      sampling: ``"with_replacement"`` (the lecture, CS231n) or ``"shuffle"``
        (a fresh random order every epoch of ``N // batch_size`` steps).
      unroll: ``lax.scan``'s ``unroll`` (steps per loop iteration).
      mesh: train on several devices: a :class:`jax.sharding.Mesh` from
        :func:`jaxopt_course.distributed.make_mesh` (axes ``"data"``, and
        ``"model"`` of size 1). Step ``t`` draws the same global minibatch
        indices as without a mesh; the ``"data"`` axis splits them, and the
        rows gathered, across the devices, and the compiler all-reduces the
        gradient. ``X``, ``y`` (and the validation set) are copied whole to
        every device unless they are laid out on the mesh already
        (:func:`~jaxopt_course.distributed.shard_rows`). Every array that
        ``train`` returns is then replicated over the mesh
        (``NamedSharding(mesh, PartitionSpec())``). ``None``: one device.

    Returns:
      ``train(params, key, lr=None, reg=None) -> TrainOutput``.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> train = make_train(softmax_loss, optax.sgd(0.1), X, y, batch_size=16, num_steps=50)
      >>> out = train(jax.numpy.zeros((3, 6)), jax.random.key(0))
      >>> out.metrics.loss.shape, int(out.state.step)
      ((50,), 50)
      >>> bool(out.metrics.loss[-1] < out.metrics.loss[0])
      True
    """
    if mesh is not None:
        _check_mesh(mesh, one_model=True)
    data = _make_data(X, y, X_val, y_val, mesh)
    config = _make_config(loss_fn, optimizer, batch_size, sampling, eval_every, unroll, data.X.shape[0], mesh)
    num_steps = _check_int(num_steps, "num_steps")

    def train(params, key, lr=None, reg=None) -> TrainOutput:
        _check_params(params, data, "params")
        _check_key(key)
        _check_hyper(config, lr, reg)
        params, key, lr, reg = _put_replicated(config, (params, key, lr, reg))
        return _train_jit(config, num_steps, params, key, data, lr, reg)

    return train


def _divergence(config, data, lr, reg, *, bad_step, losses, vals, chunks, num_steps):
    """Build the :class:`DivergenceError` for the first non-finite loss at ``bad_step``."""
    metrics = Metrics(losses[:bad_step + 1], vals[:bad_step + 1])
    earlier = [(s, st) for s, st in chunks if s <= bad_step - 1]
    last = float(losses[bad_step - 1]) if bad_step else float("nan")
    if not earlier:
        # The very first step of this run (step 0, or the first after
        # init_state): no earlier weights exist here, keep the starting ones.
        params = chunks[-1][1].params
    else:
        # The weights of step bad_step - 1 are rebuilt from the latest chunk
        # start at or before it (steps are deterministic: fold_in(key, t)).
        start, state = earlier[-1]
        params = _replay_jit(config, state, data, lr, reg, bad_step - 1 - start).params
    message = (
        f"training diverged: the loss is {losses[bad_step]} at step {bad_step} of {num_steps}"
        + (f" (the last finite loss was {last:.6g} at step {bad_step - 1})" if bad_step else "")
        + "; the step size (learning rate) is probably too large -- try a smaller lr. "
        "The error's .params hold the last weights with a finite loss.")
    return DivergenceError(message, step=bad_step, last_finite_loss=last, params=params, metrics=metrics)


def fit(loss_fn, W0, X, y, *, key, optimizer, batch_size: int | None = 256, num_steps: int = 1000,
        lr=None, reg=None, X_val=None, y_val=None, eval_every: int | None = 100,
        sampling: str = "with_replacement", unroll=1, chunk_size: int | None = 1000,
        progress: bool | None = None, checkpoint: Callable[[TrainState], Any] | None = None,
        init_state: TrainState | None = None, init_metrics: Metrics | None = None,
        on_chunk: Callable[[TrainState, Metrics], Any] | None = None, mesh=None) -> FitResult:
    """Train ``W`` by gradient descent or minibatch SGD: the everyday runner.

    The same steps as :func:`make_train`'s ``train`` (same key, same result),
    scanned in chunks of ``chunk_size`` steps. Between chunks, on the host:

    * a tqdm progress bar on stderr moves (``progress=None``: only when
      stderr is a terminal);
    * the losses are checked: the first NaN/Inf raises
      :class:`DivergenceError` naming the step, with the last weights whose
      loss was finite in ``.params``;
    * ``checkpoint(state)`` is called with the :class:`TrainState` carry
      (and ``on_chunk(state, metrics)`` with the metrics of every step so far);
    * Ctrl-C (``KeyboardInterrupt``) becomes :class:`TrainingInterrupted`,
      holding the state and metrics of the last chunk boundary.

    Chunking never changes the result: step ``t``'s randomness is
    ``fold_in(key, t)`` wherever the chunk boundaries fall. Neither does
    stopping and resuming: ``init_state`` continues a run from a saved
    :class:`TrainState` (a checkpoint, or a :class:`TrainingInterrupted`'s
    ``.state``) to the same final weights, bit for bit.

    Args:
      loss_fn: ``loss_fn(W, X, y) -> scalar`` (``reg`` bound by
        ``functools.partial``, or passed as ``reg=``).
      W0: the initial weights ``(C, D)``.
      X, y: the training set ``(N, D)``, ``(N,)``.
      key: a ``jax.random`` key for the minibatches.
      optimizer: an optax ``GradientTransformation``, e.g. ``optax.sgd(lr)``
        or ``get_optimizer("adam", 1e-3)``; or a factory of ``lr``.
      batch_size: examples per step, ``None`` for full-batch gradient descent.
      num_steps: the number of updates.
      lr, reg: traced hyperparameters (see :func:`make_train`).
      X_val, y_val, eval_every, sampling, unroll: as in :func:`make_train`.
      chunk_size: steps per compiled chunk (``None``: one scan for the run).
      progress: show a progress bar (``None``: when stderr is a terminal).
      checkpoint: called as ``checkpoint(state)`` after every chunk.
      init_state: continue this run from a :class:`TrainState` saved after
        ``init_state.step`` updates (it must match ``W0``'s shape, the
        optimizer's state and ``key``); ``num_steps`` counts from step 0, so
        ``num_steps - init_state.step`` steps remain.
      init_metrics: the :class:`Metrics` of the steps before ``init_state``
        (length ``init_state.step``), so the result's curves are whole;
        without them those steps' losses are NaN.
      on_chunk: called as ``on_chunk(state, metrics)`` after every chunk,
        ``metrics`` holding steps ``0 .. state.step - 1`` (what a checkpoint
        file needs besides the state).
      mesh: train on several devices (see :func:`make_train`): the same
        steps, each minibatch split along the mesh's ``"data"`` axis, the
        same result up to float32 rounding. ``.params``, ``.state`` (and
        the hooks' states) are then replicated over the mesh,
        ``NamedSharding(mesh, PartitionSpec())``.

    Returns:
      A :class:`FitResult`: ``.params``, ``.losses`` (per step), the
      validation curve and the final state.

    Raises:
      DivergenceError: the loss became NaN or Inf.
      TrainingInterrupted: Ctrl-C; holds the run up to the last chunk boundary.

    Examples:
      >>> import jax, optax
      >>> from functools import partial
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=90)
      >>> result = fit(partial(softmax_loss, reg=1e-3), jax.numpy.zeros((3, 6)), X, y,
      ...              key=jax.random.key(0), optimizer=optax.sgd(0.1), batch_size=32, num_steps=100)
      >>> result.losses.shape, bool(result.losses[-1] < result.losses[0])
      ((100,), True)
    """
    if mesh is not None:
        _check_mesh(mesh, one_model=True)
    data = _make_data(X, y, X_val, y_val, mesh)
    num_examples = int(data.X.shape[0])
    config = _make_config(loss_fn, optimizer, batch_size, sampling, eval_every, unroll, num_examples, mesh)
    num_steps = _check_int(num_steps, "num_steps")
    chunk_size = num_steps if chunk_size is None else min(_check_int(chunk_size, "chunk_size"), num_steps)
    _check_params(W0, data)
    _check_key(key)
    _check_hyper(config, lr, reg)
    lr, reg = _put_replicated(config, (lr, reg))
    _check_hooks(checkpoint=checkpoint, on_chunk=on_chunk)

    state = _init_state_jit(config, *_put_replicated(config, (jnp.asarray(W0), key)), lr, num_examples)
    if init_state is not None:
        _check_init_state(init_state, state, num_steps)
        state = _put_replicated(config, init_state)
    start = _SoFar(int(state.step), state, *_prior_metrics(init_metrics, int(state.step)))
    chunks = []  # (first step, state at that step) of the last two chunks, for a divergence

    def run_chunk(so_far, length):
        chunks[:] = chunks[-1:] + [(so_far.done, so_far.state)]
        new_state, metrics = _run_steps_jit(config, length, so_far.state, data, lr, reg)
        chunk_losses = np.asarray(metrics.loss)
        chunk_vals = np.asarray(metrics.val_accuracy)
        bad = np.flatnonzero(~np.isfinite(chunk_losses))
        if bad.size:
            raise _divergence(config, data, lr, reg, bad_step=so_far.done + int(bad[0]),
                              losses=np.concatenate(so_far.losses + (chunk_losses,)),
                              vals=np.concatenate(so_far.vals + (chunk_vals,)),
                              chunks=chunks, num_steps=num_steps)
        return new_state, Metrics(chunk_losses, chunk_vals)

    def after_chunk(so_far):
        if checkpoint is not None:
            checkpoint(so_far.state)
        if on_chunk is not None:
            on_chunk(so_far.state, so_far.metrics())

    so_far = _run_in_chunks(run_chunk, start, num_steps, chunk_size, progress=progress, after_chunk=after_chunk,
                            desc="train", what="training", resume="fit")
    all_vals = so_far.metrics().val_accuracy
    val_steps = np.flatnonzero(~np.isnan(all_vals)) + 1
    return FitResult(params=so_far.state.params, losses=so_far.metrics().loss, val_steps=val_steps,
                     val_accuracies=all_vals[val_steps - 1], state=so_far.state)


# ---------------------------------------------------------------------------
# The host-side loop shared by fit and sweep: chunks, progress, Ctrl-C
# ---------------------------------------------------------------------------


class _SoFar(NamedTuple):
    """A run's progress at a chunk boundary: steps done, the state, the metrics chunk by chunk.

    ``losses`` and ``vals`` are tuples of arrays with the steps on their last
    axis: ``(steps,)`` for :func:`fit`, ``(M, steps)`` for the M models of
    :func:`sweep`. The first holds the steps before a resumed run (possibly
    none), so there is always one.
    """

    done: int
    state: TrainState
    losses: tuple
    vals: tuple

    def metrics(self) -> Metrics:
        return Metrics(np.concatenate(self.losses, axis=-1), np.concatenate(self.vals, axis=-1))

    def extended(self, length: int, state: TrainState, metrics: Metrics) -> _SoFar:
        return _SoFar(self.done + length, state, self.losses + (metrics.loss,), self.vals + (metrics.val_accuracy,))


def _prior_metrics(init_metrics, start: int, models: tuple = ()) -> tuple[tuple, tuple]:
    """The metrics of the ``start`` steps before a resumed run, as one chunk (NaN when unknown).

    ``models`` is ``()`` for :func:`fit` and ``(M,)`` for :func:`sweep`:
    the metrics then have shape ``models + (start,)``.
    """
    shape = tuple(models) + (start,)
    if init_metrics is None:
        unknown = np.full(shape, np.nan, np.float32)
        return (unknown,), (unknown,)
    if not isinstance(init_metrics, Metrics):
        raise TypeError(f"init_metrics must be a Metrics(loss, val_accuracy), got {type(init_metrics).__name__}")
    loss, val = np.asarray(init_metrics.loss), np.asarray(init_metrics.val_accuracy)
    if loss.shape != shape or val.shape != shape:
        raise ValueError(f"init_metrics must hold the {start} steps before init_state (shape {shape}), got "
                         f"loss of shape {loss.shape} and val_accuracy of shape {val.shape}")
    return (loss,), (val,)


def _check_hooks(**hooks) -> None:
    for name, hook in hooks.items():
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be a function, got {type(hook).__name__}")


def _latest_loss(chunk_losses) -> str:
    """For the progress bar: the last step's loss (the lowest finite one among a sweep's models)."""
    last = np.asarray(chunk_losses)[..., -1]
    finite = last[np.isfinite(last)]
    return f"{finite.min():.4g}" if finite.size else "nan"


def _run_in_chunks(run_chunk, so_far: _SoFar, num_steps: int, chunk_size: int, *, progress, after_chunk,
                   desc: str, what: str, resume: str) -> _SoFar:
    """Run ``so_far`` on to ``num_steps`` steps, chunk by chunk: the host loop of :func:`fit` and :func:`sweep`.

    ``run_chunk(so_far, length) -> (state, Metrics)`` runs ``length`` steps
    (one compiled scan) from the last chunk boundary; between chunks a tqdm
    bar moves and ``after_chunk(so_far)`` is called (checkpoints). Ctrl-C
    (``KeyboardInterrupt``) anywhere in the loop becomes
    :class:`TrainingInterrupted` holding the last chunk boundary's state and
    metrics: the chunk that was running is dropped, and redone on resume.
    """
    from tqdm.auto import tqdm

    bar = tqdm(total=num_steps, initial=so_far.done, unit="step", desc=desc, file=sys.stderr, leave=False,
               disable=None if progress is None else not progress)
    try:
        while so_far.done < num_steps:
            length = min(chunk_size, num_steps - so_far.done)
            state, metrics = run_chunk(so_far, length)
            # The run so far is replaced whole, in one assignment, so a Ctrl-C
            # arriving between any two lines finds it consistent.
            so_far = so_far.extended(length, state, metrics)
            bar.update(length)
            bar.set_postfix(loss=_latest_loss(metrics.loss), refresh=False)
            if after_chunk is not None:
                after_chunk(so_far)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"{what} interrupted (Ctrl-C) after {so_far.done} of {num_steps} steps; the error's .state and "
            f".metrics continue the run: {resume}(..., init_state=err.state, init_metrics=err.metrics)",
            step=so_far.done, state=so_far.state, metrics=so_far.metrics()) from None
    finally:
        bar.close()
    return so_far


# ---------------------------------------------------------------------------
# Resuming: is init_state a state of this run?
# ---------------------------------------------------------------------------


def _key_data(key):
    return np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)


def _check_init_state(init_state, fresh: TrainState, num_steps: int, *, finite: bool = True) -> None:
    """``init_state`` must be a state of *this* run: same structure, shapes, dtypes and key.

    ``finite=False`` for a sweep, whose diverged models keep their NaN/Inf weights.
    """
    if not isinstance(init_state, TrainState):
        raise TypeError(f"init_state must be a TrainState (from a checkpoint or a TrainingInterrupted), "
                        f"got {type(init_state).__name__}")
    structure = jax.tree_util.tree_structure
    if structure(init_state.opt_state) != structure(fresh.opt_state):
        raise ValueError(f"init_state.opt_state does not fit the optimizer (was the run started with another "
                         f"one?): expected {structure(fresh.opt_state)}, got {structure(init_state.opt_state)}")
    if (init_state.order is None) != (fresh.order is None):
        raise ValueError("init_state.order does not fit sampling: a run with sampling='shuffle' (and a batch_size) "
                         "keeps its epoch order there, others keep None")
    want, got = jax.tree_util.tree_flatten_with_path(fresh), jax.tree_util.tree_flatten_with_path(init_state)
    if want[1] != got[1]:
        raise ValueError(f"init_state does not match this run: expected a state structured as {want[1]}, "
                         f"got {got[1]}")
    for (path, w), (_, g) in zip(want[0], got[0]):
        if tuple(np.shape(w)) != tuple(np.shape(g)) or jnp.result_type(w) != jnp.result_type(g):
            raise ValueError(f"init_state{jax.tree_util.keystr(path)} must be {jnp.result_type(w)} of shape "
                             f"{tuple(np.shape(w))} for this run, got {jnp.result_type(g)} of shape {tuple(np.shape(g))}")
    step = int(init_state.step)
    if not 0 <= step <= num_steps:
        raise ValueError(f"init_state.step must lie in [0, num_steps = {num_steps}], got {step}")
    if not np.array_equal(_key_data(init_state.key), _key_data(fresh.key)):
        raise ValueError("init_state.key is not key: a run continues with the key it started with (pass the "
                         "same key= as the interrupted run)")
    if finite:
        _checks.check_finite(init_state.params, "init_state.params")


def sweep(loss_fn, optimizer, W0, X, y, *, key, learning_rates, regs, batch_size: int | None = 256,
          num_steps: int = 1000, X_val=None, y_val=None, sampling: str = "with_replacement",
          unroll=1, chunk_size: int | None = 1000, progress: bool | None = None,
          init_state: TrainState | None = None, init_metrics: Metrics | None = None,
          on_chunk: Callable[[TrainState, Metrics], Any] | None = None, mesh=None) -> SweepResult:
    """Train one model per ``(lr, reg)`` of a grid, all at once: one vmapped program.

    CS231n's hyperparameter search ("for lr in learning_rates: for reg in
    regularization_strengths: train, score on val") as a ``jax.vmap`` over
    the flattened grid of ``M = L * R`` models: ``lr`` and ``reg`` are
    traced, everything else is shared. Every model starts from ``W0`` and,
    because the key is shared, sees the *same* minibatch at every step
    (gathered once for all models) -- faster, and a fairer comparison of the
    hyperparameters.

    The steps run in chunks of ``chunk_size``, like :func:`fit`: between
    chunks a progress bar moves and ``on_chunk`` is called, and Ctrl-C
    becomes :class:`TrainingInterrupted` holding the sweep's state at the last
    chunk boundary. Chunking never changes the result, and neither does
    stopping and resuming with ``init_state``: the final weights are those of
    one uninterrupted call, bit for bit. A sweep does not stop for a model
    that diverges (its losses turn NaN/Inf); the others go on.

    The sweep's state is a :class:`TrainState` over the M models: ``params``
    ``(M, C, D)`` and every ``opt_state`` leaf have a leading model axis,
    model ``m`` being ``(learning_rates[m // R], regs[m % R])``; ``key``,
    ``step`` and ``order`` are shared. Its :class:`Metrics` have shape
    ``(M, steps)`` (``val_accuracy`` is all NaN: a sweep scores the
    validation set once, at the end).

    Args:
      loss_fn: the unbound loss, called ``loss_fn(W, X, y, reg=reg)`` (e.g.
        :func:`~jaxopt_course.losses.svm_loss`).
      optimizer: a factory ``lr -> GradientTransformation``, e.g.
        ``lambda lr: optax.sgd(lr)`` or ``functools.partial(get_optimizer, "adam")``.
      W0: the initial weights ``(C, D)``, shared by all models.
      X, y: the training set.
      key: a ``jax.random`` key, shared by all models.
      learning_rates: ``(L,)`` learning rates.
      regs: ``(R,)`` regularization strengths.
      batch_size, num_steps, sampling, unroll: as in :func:`make_train`.
      X_val, y_val: a validation set for the final accuracies.
      chunk_size: steps per compiled chunk (``None``: one scan for the sweep).
      progress: show a progress bar (``None``: when stderr is a terminal).
      init_state: continue a sweep from its state after ``init_state.step``
        updates (a checkpoint, or a :class:`TrainingInterrupted`'s ``.state``;
        same grid, ``W0``, optimizer and ``key``); ``num_steps`` counts from
        step 0.
      init_metrics: the :class:`Metrics` ``(M, init_state.step)`` of the steps
        before ``init_state`` (without them those losses are NaN).
      on_chunk: called as ``on_chunk(state, metrics)`` after every chunk, with
        the sweep's state and the metrics of steps ``0 .. state.step - 1``.
      mesh: train on several devices: a :class:`jax.sharding.Mesh` from
        :func:`jaxopt_course.distributed.make_mesh`. Its ``"model"`` axis
        splits the M models (each of ``m`` devices trains ``M / m`` of them;
        M need not be a multiple of ``m``), its ``"data"`` axis splits every
        shared minibatch as in :func:`make_train`; the results equal the
        unsharded sweep's up to float32 rounding. The sweep's state (in
        ``on_chunk`` and :class:`TrainingInterrupted`) then has ``params``
        and ``opt_state`` split along ``"model"``
        (``NamedSharding(mesh, PartitionSpec("model"))``) and ``key``,
        ``step``, ``order`` replicated; ``SweepResult.params`` is gathered,
        replicated over the mesh; the other fields are NumPy arrays as always.

    Returns:
      A :class:`SweepResult` with a leading ``(L, R)`` grid axis.

    Raises:
      TrainingInterrupted: Ctrl-C; holds the sweep up to the last chunk boundary.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> result = sweep(softmax_loss, optax.sgd, jax.numpy.zeros((3, 6)), X, y, key=jax.random.key(0),
      ...                learning_rates=[0.01, 0.1], regs=[0.0, 1e-3, 1e-2], batch_size=16, num_steps=20)
      >>> result.params.shape, result.losses.shape
      ((2, 3, 3, 6), (2, 3, 20))
    """
    if mesh is not None:
        _check_mesh(mesh)
    data = _make_data(X, y, X_val, y_val, mesh)
    num_examples = int(data.X.shape[0])
    config = _make_config(loss_fn, optimizer, batch_size, sampling, None, unroll, num_examples, mesh)
    if _is_transformation(optimizer):
        raise TypeError(
            "sweep needs optimizer as a factory of the learning rate (e.g. lambda lr: optax.sgd(lr) or "
            "functools.partial(get_optimizer, 'adam')), got a GradientTransformation with a fixed lr")
    num_steps = _check_int(num_steps, "num_steps")
    chunk_size = num_steps if chunk_size is None else min(_check_int(chunk_size, "chunk_size"), num_steps)
    _check_params(W0, data)
    _check_key(key)
    _check_hooks(on_chunk=on_chunk)
    grid = []
    for name, values in (("learning_rates", learning_rates), ("regs", regs)):
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
        (_checks.check_positive if name == "learning_rates" else _checks.check_nonnegative)(arr, name)
        grid.append(arr)
    lrs, regs_ = grid
    L, R = len(lrs), len(regs_)
    dtype = jnp.result_type(jnp.asarray(W0).dtype, jnp.float32)
    lr_M = jnp.asarray(np.repeat(lrs, R), dtype=dtype)
    reg_M = jnp.asarray(np.tile(regs_, L), dtype=dtype)
    W0, key, lr_M, reg_M = _put_replicated(config, (jnp.asarray(W0), key, lr_M, reg_M))

    state = _sweep_init_state_jit(config, W0, key, lr_M, num_examples)
    if init_state is not None:
        _check_init_state(init_state, state, num_steps, finite=False)
        state = init_state if mesh is None else _models_sharded_jit(config, _put_replicated(config, init_state))
    start = _SoFar(int(state.step), state, *_prior_metrics(init_metrics, int(state.step), models=(L * R,)))

    def run_chunk(so_far, length):
        new_state, metrics = _sweep_steps_jit(config, length, so_far.state, data, lr_M, reg_M)
        return new_state, Metrics(np.asarray(metrics.loss), np.asarray(metrics.val_accuracy))

    def after_chunk(so_far):
        if on_chunk is not None:
            on_chunk(so_far.state, so_far.metrics())

    so_far = _run_in_chunks(run_chunk, start, num_steps, chunk_size, progress=progress, after_chunk=after_chunk,
                            desc=f"sweep ({L * R} models)", what="sweep", resume="sweep")
    W = so_far.state.params
    train_acc, val_acc = _sweep_accuracies_jit(config, W, data)
    if mesh is not None:
        W = _replicated_jit(config, W)  # every model's weights on every device (and host)
    return SweepResult(
        params=W.reshape((L, R) + W.shape[1:]),
        losses=so_far.metrics().loss.reshape(L, R, num_steps),
        train_accuracy=np.asarray(train_acc).reshape(L, R),
        val_accuracy=np.asarray(val_acc).reshape(L, R),
        learning_rates=lrs,
        regs=regs_,
    )


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
        out[name] = float(_accuracy(W, X_s, y_s))
    return out
