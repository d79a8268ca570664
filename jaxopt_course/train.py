"""The runner around the lecture's loop: ``fit``, ``sweep``, and the chunks of steps between them.

The loop itself -- sample a minibatch, ``value_and_grad``, the optimizer's
update, ``apply_updates``, scanned over the steps -- is
:mod:`jaxopt_course.sgd`, on one screen. This module is what a user calls,
in layers around it, each in one place:

* **what users pass, normalized once.** A loss with ``reg`` bound
  (``partial(svm_loss, reg=2.5e4)``) or unbound (``reg=`` given), an optax
  ``GradientTransformation`` or a factory of the learning rate (``lr=``
  given), an optimizer with or without extra arguments: all become the
  loop's one convention (:class:`jaxopt_course.sgd.Config`) before
  anything is traced. Inputs are checked here too, once, with errors that
  name the argument.
* **the chunks.** :func:`make_chunk` prepares a problem (checked data on
  its devices) and runs ``n`` steps from a :class:`TrainState` as one
  compiled call, with the validation accuracy measured after every
  ``eval_every``-th update; :func:`make_sweep_chunk` does the same for a
  grid of models. They are public: benchmarks and the CLI build on them.
* **the host loop** of :func:`fit` and :func:`sweep`: chunk after chunk, a
  progress bar, the divergence check, one hook (``on_chunk``; ``checkpoint``
  is the same hook with the state alone), Ctrl-C as
  :class:`TrainingInterrupted`, and ``init_state=`` to resume bit for bit.
* **devices**: with ``mesh=`` the inputs are placed on the mesh and the
  outputs laid out once per compiled call; inside the step one hook splits
  the minibatch along ``"data"`` (see :mod:`jaxopt_course.distributed`).

Step ``t`` draws its minibatch from ``jax.random.fold_in(key, t)``, so
splitting a run into chunks never changes it. Gradient descent is
``batch_size=None``; minibatch SGD samples ``batch_size`` examples per
step, with replacement like the lecture's ``X.sample(n=256)``
(``sampling="with_replacement"``) or from a fresh order every epoch
(``sampling="shuffle"``).

One argument order for the three entry points -- the loss, the
optimizer, the starting weights, the data, then keywords:
``make_train(loss_fn, optimizer, X, y, ...)`` (its ``train`` takes the
weights), ``fit(loss_fn, optimizer, W0, X, y, *, key, ...)`` and
``sweep(loss_fn, optimizer, W0, X, y, *, key, ...)``. The older
``fit(loss_fn, W0, X, y, *, key, optimizer=...)`` still works.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks, distributed, model, sgd
from ._checks import check_int as _check_int
from ._checks import check_key as _check_key
from .distributed import MODEL_AXIS
from .sgd import SAMPLINGS, TrainState

__all__ = ["OPTIMIZER_NAMES", "OPTIMIZERS", "SAMPLINGS", "Chunk", "DivergenceError", "FitResult", "Metrics",
           "SweepChunk", "SweepResult", "TrainOutput", "TrainState", "TrainingInterrupted", "evaluate", "fit",
           "get_optimizer", "initial_state", "initial_sweep_state", "make_chunk", "make_sweep_chunk", "make_train",
           "sweep"]


# ---------------------------------------------------------------------------
# The metrics, the results and the errors
# ---------------------------------------------------------------------------


class Metrics(NamedTuple):
    """Per-step metrics, stacked (each of shape ``(num_steps,)``; a sweep's ``(M, num_steps)``).

    Attributes:
      loss: the loss of step ``t``'s minibatch (the whole training set for
        gradient descent), measured at the weights *before* update ``t``.
      val_accuracy: the validation accuracy after update ``t`` when
        ``(t + 1) % eval_every == 0``; NaN at the other steps (and everywhere
        when no validation set is given, and in a sweep).
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
    """What :func:`sweep` returns, for ``L`` learning rates by ``R`` regs (by ``S`` seeds).

    With ``seeds=1`` the grid axes are ``(L, R)``; with ``seeds=S > 1`` a seed
    axis follows them, ``(L, R, S)``.

    Attributes:
      params: the trained weights of every model, ``(L, R[, S], C, D)``.
      losses: the per-step losses, ``(L, R[, S], num_steps)`` (NaN/Inf where
        a model diverged: a sweep does not stop for one bad model).
      train_accuracy: the final training accuracy, ``(L, R[, S])``.
      val_accuracy: the final validation accuracy, ``(L, R[, S])`` (NaN
        without a validation set).
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

#: The optimizers :func:`get_optimizer` knows by name (the CLI's ``--optimizer`` choices).
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")
OPTIMIZERS = OPTIMIZER_NAMES  # the older name, kept for existing imports


def get_optimizer(name: str, lr, **kwargs) -> optax.GradientTransformation:
    """An optax optimizer by name, with learning rate (step size) ``lr``.

    * ``"sgd"``: ``W <- W - lr * dW`` -- the lecture's update, ``optax.sgd(lr)``;
    * ``"momentum"``: ``v <- momentum * v + dW; W <- W - lr * v`` (momentum 0.9
      unless given);
    * ``"nesterov"``: the same with Nesterov's look-ahead;
    * ``"adam"``, ``"rmsprop"``, ``"adagrad"``: ``optax.adam(lr)`` etc.

    Args:
      name: one of :data:`OPTIMIZER_NAMES`.
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


# ---------------------------------------------------------------------------
# What users pass, in the loop's one convention (sgd.Config)
# ---------------------------------------------------------------------------


class _RegArgument(NamedTuple):
    """An unbound loss given ``reg=``: called ``loss_fn(W, X, y, reg=reg)``."""

    loss_fn: Callable

    def __call__(self, W, X, y, reg):
        return self.loss_fn(W, X, y, reg=reg)


class _RegBound(NamedTuple):
    """A loss whose ``reg`` is already bound (``partial(svm_loss, reg=2.5e4)``): the loop's ``reg`` goes unused."""

    loss_fn: Callable

    def __call__(self, W, X, y, reg):
        del reg
        return self.loss_fn(W, X, y)


class _Factory(NamedTuple):
    """A factory of the learning rate; its optimizers take the extra arguments (ignoring those they do not use)."""

    make: Callable

    def __call__(self, lr):
        return optax.with_extra_args_support(self.make(lr))


class _Fixed(NamedTuple):
    """A ready ``GradientTransformation``: the learning rate it was built with, whatever ``lr`` (None) comes."""

    tx: optax.GradientTransformation

    def __call__(self, lr):
        del lr
        return optax.with_extra_args_support(self.tx)


class _Setup(NamedTuple):
    """What is static about a run here (hashable: it keys the compilation cache)."""

    core: sgd.Config
    eval_every: int | None = None
    mesh: Any = None


def _is_transformation(optimizer) -> bool:
    return isinstance(optimizer, optax.GradientTransformation)


def _check_optimizer(optimizer) -> None:
    if not (_is_transformation(optimizer) or callable(optimizer)):
        raise TypeError(
            "optimizer must be an optax GradientTransformation (e.g. optax.sgd(1e-3)) or a factory "
            f"lr -> GradientTransformation, got {type(optimizer).__name__}")


def _as_factory(optimizer) -> Callable:
    return _Fixed(optimizer) if _is_transformation(optimizer) else _Factory(optimizer)


def _check_sampling(batch_size, sampling, num_examples: int):
    _checks.check_choice(sampling, "sampling", SAMPLINGS)
    if batch_size is None:
        return None
    batch_size = _check_int(batch_size, "batch_size")
    if sampling == "shuffle" and batch_size > num_examples:
        raise ValueError(f"batch_size must be <= the number of training examples ({num_examples}) with "
                         f"sampling='shuffle', got {batch_size}")
    return batch_size


def _setup(loss_fn, optimizer, *, batch_size, sampling, unroll, num_examples, eval_every=None, mesh=None,
           reg_given: bool = False) -> _Setup:
    """Check the static arguments and put them in the loop's convention (the loss takes ``reg``, and so on)."""
    _checks.check_callable(loss_fn, "loss_fn", "a function loss_fn(W, X, y)")
    _check_optimizer(optimizer)
    batch_size = _check_sampling(batch_size, sampling, num_examples)
    if eval_every is not None:
        eval_every = _check_int(eval_every, "eval_every")
    if not isinstance(unroll, bool):
        unroll = _check_int(unroll, "unroll")
    core = sgd.Config(loss_fn=(_RegArgument if reg_given else _RegBound)(loss_fn), optimizer=_as_factory(optimizer),
                      batch_size=batch_size, sampling=sampling, unroll=unroll,
                      place_batch=sgd.unchanged if mesh is None else distributed.BatchSplit(mesh))
    return _Setup(core, eval_every, mesh)


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


def _checked_optimizer_state(setup: _Setup, W0, lr):
    """What the optimizer keeps for ``W0``; an optimizer that cannot update ``W0`` fails here, named (not in optax)."""
    lr_tree = (jax.tree.structure(lr), jnp.result_type(jnp.asarray(W0).dtype, jnp.float32))
    try:
        return _optimizer_state(setup.core.optimizer, tuple(np.shape(W0)), jnp.asarray(W0).dtype, lr_tree)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"optimizer cannot update weights of shape {tuple(np.shape(W0))}: optax raised {type(err).__name__}: "
            f"{err} -- is its learning rate a number? (optax.sgd(0.1), not optax.sgd('0.1'))") from None


def _with_gradients_reused(setup: _Setup, W0, lr) -> _Setup:
    """Check the optimizer on ``W0``; a line search on the full batch then hands the next step its stored gradient."""
    opt_state = _checked_optimizer_state(setup, W0, lr)
    if setup.core.batch_size is not None:
        return setup
    try:
        stored = optax.tree.get(opt_state, "value") is not None and optax.tree.get(opt_state, "grad") is not None
    except KeyError:  # several of them: ambiguous, so compute afresh
        stored = False
    if not stored:
        return setup
    return setup._replace(core=setup.core._replace(value_and_grad=sgd.stored_value_and_grad))


# ---------------------------------------------------------------------------
# The data, checked once where they enter
# ---------------------------------------------------------------------------


class _Data(NamedTuple):
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


_sum_is_finite = jax.jit(lambda x: jnp.isfinite(jnp.sum(x)))


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


def _make_data(X, y, X_val, y_val, mesh=None) -> _Data:
    x_shape = _checks.check_real_array(X, "X", ndim=2)
    if x_shape[0] == 0:
        raise ValueError(f"X must hold at least one example, got shape {x_shape}")
    _checks.check_labels(y, None, n=x_shape[0])
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together, got only "
                         + ("X_val" if y_val is None else "y_val"))
    if X_val is not None:
        v_shape = _checks.check_real_array(X_val, "X_val", ndim=2)
        if v_shape[1] != x_shape[1]:
            raise ValueError(f"X_val must have D = {x_shape[1]} columns like X, got shape {v_shape}")
        _checks.check_labels(y_val, None, name="y_val", n=v_shape[0])
        X_val, y_val = _placed_and_finite(X_val, "X_val", mesh), distributed.place_data(y_val, mesh)
    return _Data(_placed_and_finite(X, "X", mesh), distributed.place_data(y, mesh), X_val, y_val)


def _check_params(params, data: _Data, name: str = "W0") -> None:
    # The data were checked once in _make_data; here only W against them (no second pass over a large X).
    w_shape = _checks.check_real_array(params, name, ndim=2)
    if w_shape[1] != data.X.shape[1]:
        raise ValueError(f"{name} must have shape (C, D) with D = {data.X.shape[1]} like X (N, D), got {name} of "
                         f"shape {w_shape}" + _checks.dimension_hint(w_shape, data.X.shape[1], name))
    _checks.check_finite(params, name)
    _checks.check_labels(_local(data.y), w_shape[0])  # its shape was checked in _make_data
    if data.X_val is not None:
        _checks.check_labels(_local(data.y_val), w_shape[0], name="y_val")


def _check_hyper(optimizer, lr, reg) -> None:
    if _is_transformation(optimizer):
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
# The compiled programs: one model
# ---------------------------------------------------------------------------


def _init(setup: _Setup, W, key, lr, num_examples: int) -> TrainState:
    return distributed.constrain(sgd.init_state(setup.core, W, key, lr, num_examples), setup.mesh)


def _plan(start: int, num_steps: int, eval_every: int | None) -> tuple[int, int, int]:
    """Steps ``start .. start + num_steps`` cut where the validation accuracy is due: ``(head, blocks, tail)``.

    ``head`` steps reach the first multiple of ``eval_every`` (0: ``start``
    is one), then ``blocks`` blocks of ``eval_every`` steps, each ending at
    one, then ``tail`` steps without a validation. No validation: ``(0, 0, num_steps)``.
    """
    if eval_every is None:
        return 0, 0, num_steps
    head = -start % eval_every
    if head > num_steps:
        return 0, 0, num_steps
    blocks, tail = divmod(num_steps - head, eval_every)
    return head, blocks, tail


def _val_accuracy(params, data: _Data):
    return model.accuracy_core(params, data.X_val, data.y_val).astype(jnp.float32)


def _steps(setup: _Setup, plan: tuple, state: TrainState, data: _Data, lr, reg):
    """The steps of one chunk (``plan`` from :func:`_plan`): ``(state, Metrics)``, validated where due."""
    head, blocks, tail = plan

    def steps(state, n, validate):
        state, loss_n = sgd.run_steps(setup.core, state, data.X, data.y, lr, reg, n)
        val_n = jnp.full(n, jnp.nan, jnp.float32)
        if validate:  # after the last of these n updates
            val_n = val_n.at[-1].set(_val_accuracy(state.params, data))
        return state, Metrics(loss_n, val_n)

    pieces = []
    if head:
        state, metrics = steps(state, head, True)
        pieces.append(metrics)
    if blocks:
        state, metrics = jax.lax.scan(lambda s, _: steps(s, setup.eval_every, True), state, None, length=blocks)
        pieces.append(jax.tree.map(lambda x: x.reshape(-1), metrics))
    if tail:
        state, metrics = steps(state, tail, False)
        pieces.append(metrics)
    metrics = jax.tree.map(lambda *parts: jnp.concatenate(parts), *pieces)
    return distributed.constrain((state, metrics), setup.mesh)


def _train(setup: _Setup, num_steps: int, W, key, data: _Data, lr, reg) -> TrainOutput:
    state = sgd.init_state(setup.core, W, key, lr, data.X.shape[0])
    return TrainOutput(*_steps(setup, _plan(0, num_steps, setup.eval_every), state, data, lr, reg))


def _replay(setup: _Setup, state: TrainState, data: _Data, lr, reg, num_steps):
    """``num_steps`` (traced: one program for any count) steps from ``state``, keeping only the final state."""
    return jax.lax.fori_loop(0, num_steps, lambda i, s: sgd.train_step(setup.core, data.X, data.y, lr, reg, s)[0],
                             state)


# The static setup is part of the cache key: a second call with the same loss function and optimizer
# objects and the same shapes reuses the compiled program.
_init_jit = jax.jit(_init, static_argnums=(0, 4))
_steps_jit = jax.jit(_steps, static_argnums=(0, 1))
_train_jit = jax.jit(_train, static_argnums=(0, 1))
_replay_jit = jax.jit(_replay, static_argnums=(0,))


# ---------------------------------------------------------------------------
# The compiled programs: a grid of models (by seeds)
# ---------------------------------------------------------------------------

# A grid's state is a TrainState over M models: params and opt_state have a leading (M,) axis; key,
# step and the epoch order are shared, so every model's step t draws the same minibatch, gathered once.
_MODELS = TrainState(params=0, opt_state=0, key=None, step=None, order=None)


def _spmd(mesh) -> str | None:
    """The mesh axis that splits the models (``vmap``'s ``spmd_axis_name``), if there is one."""
    return MODEL_AXIS if mesh is not None and MODEL_AXIS in mesh.axis_names else None


def _place_models(mesh, state: TrainState) -> TrainState:
    """A sweep's state over the mesh: each model's weights and optimizer state on its ``"model"`` slice."""
    if mesh is None:
        return state
    per_model = functools.partial(distributed.constrain, mesh=mesh)
    return TrainState(distributed.constrain(state.params, mesh, MODEL_AXIS),
                      distributed.constrain(state.opt_state, mesh, MODEL_AXIS),
                      *per_model((state.key, state.step, state.order)))


def _sweep_init(setup: _Setup, seeds: int, W, key, lr_M, num_examples: int) -> TrainState:
    """The state of M models before step 0: ``W`` copied M times, one optimizer state per ``lr_M[m]``."""
    state = jax.vmap(lambda lr: sgd.init_state(setup.core, W, key, lr, num_examples), out_axes=_MODELS)(lr_M)
    if seeds > 1 and state.order is not None:  # one epoch order per seed
        state = state._replace(order=jnp.broadcast_to(state.order, (seeds,) + state.order.shape))
    return _place_models(setup.mesh, state)


def _grid_steps(setup: _Setup, num_steps: int, data: _Data, state: TrainState, lr_G, reg_G, spmd=None):
    """``num_steps`` steps of G models sharing key, step and epoch order: one minibatch a step for all."""

    def one_model(state, lr, reg):
        return sgd.run_steps(setup.core, state, data.X, data.y, lr, reg, num_steps)

    return jax.vmap(one_model, in_axes=(_MODELS, 0, 0), out_axes=(_MODELS, 0), spmd_axis_name=spmd)(
        state, lr_G, reg_G)


def _seeded_steps(setup: _Setup, seeds: int, num_steps: int, data: _Data, state: TrainState, lr_M, reg_M):
    """The grid once per seed: seed ``s`` draws from ``fold_in(key, s)``; model ``m = g * S + s``."""

    def by_seed(x):  # (M, ...) -> (G, S, ...)
        return x.reshape((-1, seeds) + x.shape[1:])

    def merged(x):  # (G, S, ...) -> (M, ...)
        return x.reshape((-1,) + x.shape[2:])

    keys_S = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(state.key, jnp.arange(seeds))
    seeded = TrainState(jax.tree.map(by_seed, state.params), jax.tree.map(by_seed, state.opt_state), keys_S,
                        state.step, state.order)
    axes = TrainState(params=1, opt_state=1, key=0, step=None, order=None if state.order is None else 0)
    grid = functools.partial(_grid_steps, setup, num_steps, data)
    seeded, loss_GxSxT = jax.vmap(grid, in_axes=(axes, 1, 1), out_axes=(axes, 1), spmd_axis_name=_spmd(setup.mesh))(
        seeded, by_seed(lr_M), by_seed(reg_M))
    state = TrainState(jax.tree.map(merged, seeded.params), jax.tree.map(merged, seeded.opt_state), state.key,
                       seeded.step, seeded.order)
    return state, merged(loss_GxSxT)


def _sweep_steps(setup: _Setup, seeds: int, num_steps: int, state: TrainState, data: _Data, lr_M, reg_M):
    """``num_steps`` steps of all M models from ``state``: ``(state, Metrics of shape (M, num_steps))``."""
    if seeds == 1:
        state, loss_MxT = _grid_steps(setup, num_steps, data, state, lr_M, reg_M, _spmd(setup.mesh))
    else:
        state, loss_MxT = _seeded_steps(setup, seeds, num_steps, data, state, lr_M, reg_M)
    metrics = Metrics(loss_MxT, jnp.full_like(loss_MxT, jnp.nan))  # a sweep scores the validation set at the end
    return _place_models(setup.mesh, state), distributed.constrain(metrics, setup.mesh)


def _sweep_accuracies(setup: _Setup, W_MxCxD, data: _Data):
    """The training and validation accuracy of each of the M models (NaN without a validation set)."""
    accuracy_M = jax.vmap(lambda W, X, y: model.accuracy_core(W, X, y).astype(jnp.float32), in_axes=(0, None, None))
    train_acc = accuracy_M(W_MxCxD, data.X, data.y)
    val_acc = jnp.full_like(train_acc, jnp.nan) if data.X_val is None else accuracy_M(W_MxCxD, data.X_val, data.y_val)
    return distributed.constrain((train_acc, val_acc), setup.mesh)


_sweep_init_jit = jax.jit(_sweep_init, static_argnums=(0, 1, 5))
_sweep_steps_jit = jax.jit(_sweep_steps, static_argnums=(0, 1, 2))
_sweep_accuracies_jit = jax.jit(_sweep_accuracies, static_argnums=(0,))
_place_models_jit = jax.jit(_place_models, static_argnums=(0,))
_gathered_jit = jax.jit(distributed.constrain, static_argnums=(1,))


# ---------------------------------------------------------------------------
# The initial state and the chunks (public: the CLI and the benchmarks build on them)
# ---------------------------------------------------------------------------


def _init_setup(setup: _Setup) -> _Setup:
    """What the initial state depends on (so that every way of building it shares one program)."""
    core = setup.core
    return _Setup(sgd.Config(None, core.optimizer, core.batch_size, core.sampling), mesh=setup.mesh)


def initial_state(optimizer, W0, key, *, lr=None, batch_size: int | None = 256, sampling: str = "with_replacement",
                  num_examples: int, mesh=None) -> TrainState:
    """The :class:`TrainState` of one model before step 0, exactly as :func:`fit` starts it.

    The weights ``W0``, the optimizer's fresh state (strongly typed, so a
    second chunk reuses the first one's program), the key, step 0 and, with
    ``sampling="shuffle"``, a placeholder epoch order of ``num_examples``
    entries. Use it as the ``like`` of
    :func:`~jaxopt_course.checkpoint.load_checkpoint` before a resume.

    Args:
      optimizer: an optax ``GradientTransformation``, or a factory of ``lr`` (then give ``lr``).
      W0: the initial weights ``(C, D)``.
      key: the run's ``jax.random`` key.
      lr: the learning rate, for a factory.
      batch_size, sampling: as in :func:`fit`.
      num_examples: ``N``, the number of training examples.
      mesh: a :class:`jax.sharding.Mesh`: the state is then replicated over it.

    Examples:
      >>> import jax, optax
      >>> state = initial_state(optax.adam(1e-3), jax.numpy.zeros((3, 5)), jax.random.key(0), num_examples=100)
      >>> state.params.shape, int(state.step), state.order is None
      ((3, 5), 0, True)
    """
    _check_optimizer(optimizer)
    num_examples = _check_int(num_examples, "num_examples")
    setup = _Setup(sgd.Config(None, _as_factory(optimizer), _check_sampling(batch_size, sampling, num_examples),
                              sampling), mesh=mesh)
    _checks.check_real_array(W0, "W0", ndim=2)
    _checks.check_finite(W0, "W0")
    _check_key(key)
    _check_hyper(optimizer, lr, None)
    _checked_optimizer_state(setup, W0, lr)
    return _init_jit(setup, *distributed.place((jnp.asarray(W0), key, lr), mesh), num_examples)


class Chunk:
    """A training problem prepared once -- its data checked and on their devices -- run chunk by chunk.

    Made by :func:`make_chunk`. ``chunk.init(W0, key, lr=None)`` is the
    state before step 0; ``chunk(state, num_steps, lr=None, reg=None)`` runs
    ``num_steps`` steps from ``state`` as one compiled call and returns
    ``(state, Metrics)`` as JAX arrays: what :func:`fit` runs between two
    chunk boundaries. Metrics hold the validation accuracy after every
    update that completes a multiple of ``eval_every`` (NaN elsewhere).
    """

    def __init__(self, loss_fn, optimizer, data: _Data, **static):
        self.loss_fn, self.optimizer, self.data, self.mesh = loss_fn, optimizer, data, static["mesh"]
        self._setups = {reg_given: _setup(loss_fn, optimizer, reg_given=reg_given, **static)
                        for reg_given in (False, True)}

    def setup(self, W, lr, reg) -> _Setup:
        """The static setup for these hyperparameters (the optimizer checked on ``W`` once)."""
        return _with_gradients_reused(self._setups[reg is not None], W, lr)

    def init(self, W0, key, lr=None) -> TrainState:
        """The state before step 0 (see :func:`initial_state`), ``W0``, ``key`` and ``lr`` checked."""
        _check_params(W0, self.data)
        _check_key(key)
        _check_hyper(self.optimizer, lr, None)
        setup = self.setup(W0, lr, None)
        return _init_jit(_init_setup(setup), *distributed.place((jnp.asarray(W0), key, lr), self.mesh),
                         int(self.data.X.shape[0]))

    def run(self, setup: _Setup, start: int, num_steps: int, state: TrainState, lr, reg):
        """``num_steps`` steps from ``state`` (after ``start`` updates), nothing checked: :func:`fit`'s inner call."""
        return _steps_jit(setup, _plan(start, num_steps, setup.eval_every), state, self.data, lr, reg)

    def _arguments(self, state: TrainState, num_steps: int, lr, reg) -> tuple:
        num_steps = _check_int(num_steps, "num_steps")
        _check_hyper(self.optimizer, lr, reg)
        setup = self.setup(state.params, lr, reg)
        lr, reg = distributed.place((lr, reg), self.mesh)
        return setup, _plan(int(state.step), num_steps, setup.eval_every), state, self.data, lr, reg

    def __call__(self, state: TrainState, num_steps: int, lr=None, reg=None):
        return _steps_jit(*self._arguments(state, num_steps, lr, reg))

    def lower(self, state: TrainState, num_steps: int, lr=None, reg=None):
        """The program ``chunk(state, num_steps)`` runs, lowered: ``.compile().as_text()`` shows what XLA made of it."""
        return _steps_jit.lower(*self._arguments(state, num_steps, lr, reg))


def make_chunk(loss_fn, optimizer, X, y, *, batch_size: int | None = 256, X_val=None, y_val=None,
               eval_every: int | None = 100, sampling: str = "with_replacement", unroll=1, mesh=None) -> Chunk:
    """Prepare a training problem for running in chunks: the chunk-level entry point of the engine.

    Checks ``X``, ``y`` (and the validation set) once and places them on the
    device(s); the arguments mean what they mean in :func:`make_train`.

    Returns:
      A :class:`Chunk`: ``state = chunk.init(W0, key)``, then
      ``state, metrics = chunk(state, num_steps)`` as often as wanted.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> chunk = make_chunk(softmax_loss, optax.sgd(0.1), X, y, batch_size=16)
      >>> state, metrics = chunk(chunk.init(jax.numpy.zeros((3, 6)), jax.random.key(0)), 30)
      >>> state, metrics = chunk(state, 20)
      >>> int(state.step), metrics.loss.shape
      (50, (20,))
    """
    if mesh is not None:
        distributed.check_mesh(mesh, one_model=True)
    data = _make_data(X, y, X_val, y_val, mesh)
    if eval_every is not None:
        eval_every = _check_int(eval_every, "eval_every")
    return Chunk(loss_fn, optimizer, data, batch_size=batch_size, sampling=sampling, unroll=unroll,
                 num_examples=int(data.X.shape[0]), eval_every=None if X_val is None else eval_every, mesh=mesh)


class _Grid(NamedTuple):
    """A sweep's ``L`` learning rates by ``R`` regs by ``S`` seeds, flattened to ``M = L * R * S`` models."""

    learning_rates: np.ndarray
    regs: np.ndarray
    seeds: int

    @property
    def shape(self) -> tuple:
        L, R, S = len(self.learning_rates), len(self.regs), self.seeds
        return (L, R) if S == 1 else (L, R, S)

    def hyperparameters(self, W0):
        """``(lr_M, reg_M)``: model ``m = (i * R + j) * S + s`` trains with ``learning_rates[i]``, ``regs[j]``."""
        dtype = jnp.result_type(jnp.asarray(W0).dtype, jnp.float32)
        L, R, S = len(self.learning_rates), len(self.regs), self.seeds
        return (jnp.asarray(np.repeat(self.learning_rates, R * S), dtype=dtype),
                jnp.asarray(np.tile(np.repeat(self.regs, S), L), dtype=dtype))


def _grid(learning_rates, regs, seeds) -> _Grid:
    values = []
    for name, given in (("learning_rates", learning_rates), ("regs", regs)):
        arr = np.asarray(given, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
        (_checks.check_positive if name == "learning_rates" else _checks.check_nonnegative)(arr, name)
        values.append(arr)
    return _Grid(*values, _check_int(seeds, "seeds"))


def _check_factory(optimizer) -> None:
    _check_optimizer(optimizer)
    if _is_transformation(optimizer):
        raise TypeError(
            "sweep needs optimizer as a factory of the learning rate (e.g. lambda lr: optax.sgd(lr) or "
            "functools.partial(get_optimizer, 'adam')), got a GradientTransformation with a fixed lr")


def initial_sweep_state(optimizer, W0, key, *, learning_rates, regs, seeds: int = 1, batch_size: int | None = 256,
                        sampling: str = "with_replacement", num_examples: int, mesh=None) -> TrainState:
    """The :class:`TrainState` of a sweep's ``M = L * R * S`` models before step 0, as :func:`sweep` starts it.

    ``params`` ``(M, C, D)`` and every ``opt_state`` leaf have a leading
    model axis (model ``m = (i * R + j) * S + s``); ``key`` and ``step`` are
    shared; with ``sampling="shuffle"`` the epoch order is ``(N,)`` for one
    seed, ``(S, N)`` for several. The ``like`` of
    :func:`~jaxopt_course.checkpoint.load_checkpoint` for a sweep's checkpoint.

    Examples:
      >>> import jax, optax
      >>> state = initial_sweep_state(optax.sgd, jax.numpy.zeros((3, 5)), jax.random.key(0), learning_rates=[0.1, 1.0],
      ...                             regs=[0.0], seeds=4, num_examples=100)
      >>> state.params.shape, state.step.shape
      ((8, 3, 5), ())
    """
    _check_factory(optimizer)
    num_examples = _check_int(num_examples, "num_examples")
    grid = _grid(learning_rates, regs, seeds)
    setup = _Setup(sgd.Config(None, _as_factory(optimizer), _check_sampling(batch_size, sampling, num_examples),
                              sampling), mesh=mesh)
    _checks.check_real_array(W0, "W0", ndim=2)
    _checks.check_finite(W0, "W0")
    _check_key(key)
    lr_M, _ = grid.hyperparameters(W0)
    _checked_optimizer_state(setup, W0, lr_M[0])
    W0, key, lr_M = distributed.place((jnp.asarray(W0), key, lr_M), mesh)
    return _sweep_init_jit(setup, grid.seeds, W0, key, lr_M, num_examples)


class SweepChunk:
    """A grid of models prepared once, run chunk by chunk: made by :func:`make_sweep_chunk`.

    ``sweep_chunk.init(W0, key)`` is the state of all M models before step
    0 (see :func:`initial_sweep_state`); ``sweep_chunk(state, num_steps)``
    runs ``num_steps`` steps of all of them in one compiled call and returns
    ``(state, Metrics of shape (M, num_steps))`` as JAX arrays.
    """

    def __init__(self, loss_fn, optimizer, data: _Data, grid: _Grid, **static):
        self.optimizer, self.data, self.grid, self.mesh = optimizer, data, grid, static["mesh"]
        self.setup = _setup(loss_fn, optimizer, reg_given=True, **static)
        self.num_models = int(np.prod(grid.shape))
        self._hyper = None

    def init(self, W0, key) -> TrainState:
        _check_params(W0, self.data)
        _check_key(key)
        lr_M, reg_M = self.grid.hyperparameters(W0)
        self.setup = _with_gradients_reused(self.setup, W0, lr_M[0])
        W0, key, *self._hyper = distributed.place((jnp.asarray(W0), key, lr_M, reg_M), self.mesh)
        return _sweep_init_jit(_init_setup(self.setup), self.grid.seeds, W0, key, self._hyper[0],
                               int(self.data.X.shape[0]))

    def placed(self, state: TrainState) -> TrainState:
        """A state from the host (a checkpoint) laid out over the mesh as the chunks expect it."""
        return state if self.mesh is None else _place_models_jit(self.mesh, distributed.place(state, self.mesh))

    def __call__(self, state: TrainState, num_steps: int):
        if self._hyper is None:
            raise ValueError("call sweep_chunk.init(W0, key) first: it fixes the dtype of the grid's hyperparameters")
        return _sweep_steps_jit(self.setup, self.grid.seeds, _check_int(num_steps, "num_steps"), state, self.data,
                                *self._hyper)

    def result(self, W_MxCxD, loss_MxT) -> SweepResult:
        """The :class:`SweepResult` of the trained models: accuracies, and every array on the grid's axes."""
        train_acc, val_acc = _sweep_accuracies_jit(self.setup, W_MxCxD, self.data)
        if self.mesh is not None:
            W_MxCxD = _gathered_jit(W_MxCxD, self.mesh)  # every model's weights on every device (and host)
        shape = self.grid.shape
        return SweepResult(params=W_MxCxD.reshape(shape + W_MxCxD.shape[1:]),
                           losses=np.asarray(loss_MxT).reshape(shape + np.shape(loss_MxT)[-1:]),
                           train_accuracy=np.asarray(train_acc).reshape(shape),
                           val_accuracy=np.asarray(val_acc).reshape(shape),
                           learning_rates=self.grid.learning_rates, regs=self.grid.regs)


def make_sweep_chunk(loss_fn, optimizer, X, y, *, learning_rates, regs, seeds: int = 1,
                     batch_size: int | None = 256, X_val=None, y_val=None, sampling: str = "with_replacement",
                     unroll=1, mesh=None) -> SweepChunk:
    """Prepare a sweep (``learning_rates x regs x seeds``) for running in chunks; arguments as in :func:`sweep`.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> grid = make_sweep_chunk(softmax_loss, optax.sgd, X, y, learning_rates=[0.01, 0.1], regs=[0.0], seeds=3,
      ...                         batch_size=16)
      >>> state, metrics = grid(grid.init(jax.numpy.zeros((3, 6)), jax.random.key(0)), 10)
      >>> state.params.shape, metrics.loss.shape
      ((6, 3, 6), (6, 10))
    """
    if mesh is not None:
        distributed.check_mesh(mesh)
    data = _make_data(X, y, X_val, y_val, mesh)
    _check_factory(optimizer)
    return SweepChunk(loss_fn, optimizer, data, _grid(learning_rates, regs, seeds), batch_size=batch_size,
                      sampling=sampling, unroll=unroll, num_examples=int(data.X.shape[0]), mesh=mesh)


# ---------------------------------------------------------------------------
# The whole run as one pure function
# ---------------------------------------------------------------------------


def make_train(loss_fn, optimizer, X, y, batch_size, num_steps, *, X_val=None, y_val=None,
               eval_every: int | None = 100, sampling: str = "with_replacement", unroll=1, mesh=None):
    """Build ``train(params, key, lr=None, reg=None)``: a whole training run as one pure function.

    Arguments in the engine's one order: the loss, the optimizer, the data
    (``train`` takes the weights). ``train`` runs ``num_steps`` steps of
    :func:`jaxopt_course.sgd.train_step`::

        X_b, y_b = minibatch(fold_in(key, t))          # or all of X, y
        loss_t, dW = value_and_grad(loss_fn)(W, X_b, y_b)
        W = W + optimizer_update(dW)                    # optax.sgd: W - lr * dW

    inside ``lax.scan`` whose carry is a :class:`TrainState`, and returns
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
        all traced, so new values reuse the compiled program). Every update
        gets the extra arguments ``value=loss, grad=dW, value_fn=W -> loss of
        the step's examples`` (``optax.with_extra_args_support``: optimizers
        that do not use them ignore them; ``optax.lbfgs()``'s line search
        does); on the full batch the loss and gradient a line search stored
        at the accepted point are reused (``optax.value_and_grad_from_state``).
      X, y: the training set ``(N, D)``, ``(N,)`` int32.
      batch_size: examples per step; ``None`` for gradient descent (the full batch).
      num_steps: the number of updates (the lecture's ``maxIterations``).
      X_val, y_val: an optional validation set, scored after every
        ``eval_every``-th update (between the scans of ``eval_every`` steps).
      eval_every: the validation interval (``None``: never).
      sampling: ``"with_replacement"`` (the lecture, CS231n) or ``"shuffle"``
        (a fresh random order every epoch of ``N // batch_size`` steps).
      unroll: ``lax.scan``'s ``unroll`` (steps per loop iteration).
      mesh: train on several devices: a :class:`jax.sharding.Mesh` from
        :func:`jaxopt_course.distributed.make_mesh` (axes ``"data"``, and
        ``"model"`` of size 1). Step ``t`` draws the same global minibatch
        indices as without a mesh; the ``"data"`` axis splits the rows
        gathered across the devices, and the compiler all-reduces the
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
    chunk = make_chunk(loss_fn, optimizer, X, y, batch_size=batch_size, X_val=X_val, y_val=y_val,
                       eval_every=eval_every, sampling=sampling, unroll=unroll, mesh=mesh)
    num_steps = _check_int(num_steps, "num_steps")

    def train(params, key, lr=None, reg=None) -> TrainOutput:
        _check_params(params, chunk.data, "params")
        _check_key(key)
        _check_hyper(optimizer, lr, reg)
        setup = chunk.setup(params, lr, reg)
        params, key, lr, reg = distributed.place((params, key, lr, reg), mesh)
        return _train_jit(setup, num_steps, params, key, chunk.data, lr, reg)

    return train


# ---------------------------------------------------------------------------
# The host loop shared by fit and sweep: chunks, progress, one hook, Ctrl-C
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


def _one_hook(checkpoint=None, on_chunk=None):
    """``checkpoint(state)`` and ``on_chunk(state, metrics)`` fire at the same point: one hook ``(state, metrics)``."""
    for name, hook in (("checkpoint", checkpoint), ("on_chunk", on_chunk)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be a function, got {type(hook).__name__}")
    if checkpoint is None:
        return on_chunk

    def hook(state, metrics):
        checkpoint(state)
        if on_chunk is not None:
            on_chunk(state, metrics)

    return hook


def _latest_loss(chunk_losses) -> str:
    """For the progress bar: the last step's loss (the lowest finite one among a sweep's models)."""
    last = np.asarray(chunk_losses)[..., -1]
    finite = last[np.isfinite(last)]
    return f"{finite.min():.4g}" if finite.size else "nan"


def _chunk_size(chunk_size, num_steps: int) -> int:
    return num_steps if chunk_size is None else min(_check_int(chunk_size, "chunk_size"), num_steps)


def _run_in_chunks(run_chunk, so_far: _SoFar, num_steps: int, chunk_size: int, *, progress, hook,
                   desc: str, what: str, resume: str) -> _SoFar:
    """Run ``so_far`` on to ``num_steps`` steps, chunk by chunk: the host loop of :func:`fit` and :func:`sweep`.

    ``run_chunk(so_far, length) -> (state, Metrics)`` runs ``length`` steps
    (one compiled call) from the last chunk boundary; between chunks a tqdm
    bar moves and ``hook(state, metrics so far)`` is called (checkpoints).
    Ctrl-C (``KeyboardInterrupt``) anywhere in the loop becomes
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
            if hook is not None:
                hook(so_far.state, so_far.metrics())
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
                             f"{tuple(np.shape(w))} for this run, got {jnp.result_type(g)} of shape "
                             f"{tuple(np.shape(g))}")
    step = int(init_state.step)
    if not 0 <= step <= num_steps:
        raise ValueError(f"init_state.step must lie in [0, num_steps = {num_steps}], got {step}")
    if not np.array_equal(_key_data(init_state.key), _key_data(fresh.key)):
        raise ValueError("init_state.key is not key: a run continues with the key it started with (pass the "
                         "same key= as the interrupted run)")
    if finite:
        _checks.check_finite(init_state.params, "init_state.params")


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------


def _fit_arguments(arrays: tuple, optimizer) -> tuple:
    """``(optimizer, W0, X, y)`` from ``fit``'s positional arguments, in the one order or the older one."""
    if len(arrays) == 4 and optimizer is None:
        return arrays
    if len(arrays) == 3 and optimizer is not None:  # the older fit(loss_fn, W0, X, y, *, optimizer=...)
        return (optimizer, *arrays)
    raise TypeError(f"fit takes fit(loss_fn, optimizer, W0, X, y, *, key, ...) or fit(loss_fn, W0, X, y, *, key, "
                    f"optimizer, ...), got {1 + len(arrays)} positional argument(s)"
                    + (" and optimizer=" if optimizer is not None else " and no optimizer"))


def _divergence(chunk: Chunk, setup, lr, reg, *, bad_step, losses, vals, starts, num_steps):
    """Build the :class:`DivergenceError` for the first non-finite loss at ``bad_step``."""
    metrics = Metrics(losses[:bad_step + 1], vals[:bad_step + 1])
    earlier = [(s, st) for s, st in starts if s <= bad_step - 1]
    last = float(losses[bad_step - 1]) if bad_step else float("nan")
    if not earlier:
        # The very first step of this run (step 0, or the first after
        # init_state): no earlier weights exist here, keep the starting ones.
        params = starts[-1][1].params
    else:
        # The weights of step bad_step - 1 are rebuilt from the latest chunk
        # start at or before it (steps are deterministic: fold_in(key, t)).
        start, state = earlier[-1]
        params = _replay_jit(setup, state, chunk.data, lr, reg, bad_step - 1 - start).params
    message = (
        f"training diverged: the loss is {losses[bad_step]} at step {bad_step} of {num_steps}"
        + (f" (the last finite loss was {last:.6g} at step {bad_step - 1})" if bad_step else "")
        + "; the step size (learning rate) is probably too large -- try a smaller lr. "
        "The error's .params hold the last weights with a finite loss.")
    return DivergenceError(message, step=bad_step, last_finite_loss=last, params=params, metrics=metrics)


def fit(loss_fn, *arrays, key, optimizer=None, batch_size: int | None = 256, num_steps: int = 1000,
        lr=None, reg=None, X_val=None, y_val=None, eval_every: int | None = 100,
        sampling: str = "with_replacement", unroll=1, chunk_size: int | None = 1000,
        progress: bool | None = None, checkpoint: Callable[[TrainState], Any] | None = None,
        init_state: TrainState | None = None, init_metrics: Metrics | None = None,
        on_chunk: Callable[[TrainState, Metrics], Any] | None = None, mesh=None) -> FitResult:
    """Train ``W`` by gradient descent or minibatch SGD: the everyday runner.

    Called ``fit(loss_fn, optimizer, W0, X, y, *, key, ...)``: the engine's
    one argument order (loss, optimizer, weights, data). The older
    ``fit(loss_fn, W0, X, y, *, key, optimizer=...)`` still works, and means
    the same.

    The same steps as :func:`make_train`'s ``train`` (same key, same result),
    run in chunks of ``chunk_size`` steps (:func:`make_chunk`). Between
    chunks, on the host:

    * a tqdm progress bar on stderr moves (``progress=None``: only when
      stderr is a terminal);
    * the losses are checked: the first NaN/Inf raises
      :class:`DivergenceError` naming the step, with the last weights whose
      loss was finite in ``.params``;
    * the chunk hook runs: ``checkpoint(state)`` with the :class:`TrainState`
      carry, and ``on_chunk(state, metrics)`` with the metrics of every step
      so far (the same point; give either or both);
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
      optimizer: an optax ``GradientTransformation``, e.g. ``optax.sgd(lr)``
        or ``get_optimizer("adam", 1e-3)``; or a factory of ``lr``.
      W0: the initial weights ``(C, D)``.
      X, y: the training set ``(N, D)``, ``(N,)``.
      key: a ``jax.random`` key for the minibatches.
      batch_size: examples per step, ``None`` for full-batch gradient descent.
      num_steps: the number of updates.
      lr, reg: traced hyperparameters (see :func:`make_train`).
      X_val, y_val, eval_every, sampling, unroll: as in :func:`make_train`.
      chunk_size: steps per compiled chunk (``None``: one call for the run).
      progress: show a progress bar (``None``: when stderr is a terminal).
      checkpoint: called as ``checkpoint(state)`` after every chunk.
      init_state: continue this run from a :class:`TrainState` saved after
        ``init_state.step`` updates (it must match ``W0``'s shape, the
        optimizer's state and ``key``: :func:`initial_state` builds the
        template to load it with); ``num_steps`` counts from step 0, so
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
      >>> result = fit(partial(softmax_loss, reg=1e-3), optax.sgd(0.1), jax.numpy.zeros((3, 6)), X, y,
      ...              key=jax.random.key(0), batch_size=32, num_steps=100)
      >>> result.losses.shape, bool(result.losses[-1] < result.losses[0])
      ((100,), True)
    """
    optimizer, W0, X, y = _fit_arguments(arrays, optimizer)
    chunk = make_chunk(loss_fn, optimizer, X, y, batch_size=batch_size, X_val=X_val, y_val=y_val,
                       eval_every=eval_every, sampling=sampling, unroll=unroll, mesh=mesh)
    num_steps = _check_int(num_steps, "num_steps")
    chunk_size = _chunk_size(chunk_size, num_steps)
    hook = _one_hook(checkpoint, on_chunk)
    state = chunk.init(W0, key, lr)
    _check_hyper(optimizer, lr, reg)
    if init_state is not None:
        _check_init_state(init_state, state, num_steps)
        state = distributed.place(init_state, mesh)
    setup = chunk.setup(W0, lr, reg)
    lr, reg = distributed.place((lr, reg), mesh)
    starts = []  # (first step, state at that step) of the last two chunks, for a divergence

    def run_chunk(so_far, length):
        starts[:] = starts[-1:] + [(so_far.done, so_far.state)]
        new_state, metrics = chunk.run(setup, so_far.done, length, so_far.state, lr, reg)
        metrics = Metrics(np.asarray(metrics.loss), np.asarray(metrics.val_accuracy))
        bad = np.flatnonzero(~np.isfinite(metrics.loss))
        if bad.size:
            raise _divergence(chunk, setup, lr, reg, bad_step=so_far.done + int(bad[0]),
                              losses=np.concatenate(so_far.losses + (metrics.loss,)),
                              vals=np.concatenate(so_far.vals + (metrics.val_accuracy,)),
                              starts=starts, num_steps=num_steps)
        return new_state, metrics

    start = _SoFar(int(state.step), state, *_prior_metrics(init_metrics, int(state.step)))
    so_far = _run_in_chunks(run_chunk, start, num_steps, chunk_size, progress=progress, hook=hook,
                            desc="train", what="training", resume="fit")
    metrics = so_far.metrics()
    val_steps = np.flatnonzero(~np.isnan(metrics.val_accuracy)) + 1
    return FitResult(params=so_far.state.params, losses=metrics.loss, val_steps=val_steps,
                     val_accuracies=metrics.val_accuracy[val_steps - 1], state=so_far.state)


# ---------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------


def sweep(loss_fn, optimizer, W0, X, y, *, key, learning_rates, regs, seeds: int = 1,
          batch_size: int | None = 256, num_steps: int = 1000, X_val=None, y_val=None,
          sampling: str = "with_replacement", unroll=1, chunk_size: int | None = 1000, progress: bool | None = None,
          init_state: TrainState | None = None, init_metrics: Metrics | None = None,
          on_chunk: Callable[[TrainState, Metrics], Any] | None = None, mesh=None) -> SweepResult:
    """Train one model per ``(lr, reg[, seed])`` of a grid, all at once: one vmapped program.

    Arguments in the engine's one order (loss, optimizer, weights, data).
    CS231n's hyperparameter search ("for lr in learning_rates: for reg in
    regularization_strengths: train, score on val") as a ``jax.vmap`` over
    the flattened grid of ``M = L * R * S`` models: ``lr`` and ``reg`` are
    traced, everything else is shared. Every model starts from ``W0``; the
    models of one seed see the *same* minibatch at every step (gathered once
    for all of them) -- faster, and a fairer comparison of the
    hyperparameters.

    Seeds: with ``seeds=1`` (the default) every model draws its minibatches
    from ``key`` itself, and the results have the grid axes ``(L, R)``. With
    ``seeds=S > 1``, seed ``s`` draws them from ``jax.random.fold_in(key,
    s)`` (so it equals ``sweep(..., key=fold_in(key, s))``), all ``L * R * S``
    models train in the same compiled call, and the seed axis comes right
    after the lr and reg axes: ``params (L, R, S, C, D)``, ``losses (L, R, S,
    num_steps)``, accuracies ``(L, R, S)``.

    The steps run in chunks of ``chunk_size``, like :func:`fit`: between
    chunks a progress bar moves and ``on_chunk`` is called, and Ctrl-C
    becomes :class:`TrainingInterrupted` holding the sweep's state at the last
    chunk boundary. Chunking never changes the result, and neither does
    stopping and resuming with ``init_state``: the final weights are those of
    one uninterrupted call, bit for bit. A sweep does not stop for a model
    that diverges (its losses turn NaN/Inf); the others go on.

    The sweep's state is a :class:`TrainState` over the M models
    (:func:`initial_sweep_state`): ``params`` ``(M, C, D)`` and every
    ``opt_state`` leaf have a leading model axis, model ``m = (i * R + j) *
    S + s`` being ``(learning_rates[i], regs[j], seed s)``; ``key`` (the
    ``key`` given) and ``step`` are shared, and so is ``order`` for one seed
    (``(S, N)``, one per seed, for several). Its :class:`Metrics` have shape
    ``(M, steps)`` (``val_accuracy`` is all NaN: a sweep scores the
    validation set once, at the end).

    Args:
      loss_fn: the unbound loss, called ``loss_fn(W, X, y, reg=reg)`` (e.g.
        :func:`~jaxopt_course.losses.svm_loss`).
      optimizer: a factory ``lr -> GradientTransformation``, e.g.
        ``optax.sgd`` or ``functools.partial(get_optimizer, "adam")``.
      W0: the initial weights ``(C, D)``, shared by all models.
      X, y: the training set.
      key: a ``jax.random`` key (see seeds above).
      learning_rates: ``(L,)`` learning rates.
      regs: ``(R,)`` regularization strengths.
      seeds: ``S``, how many seeds train each ``(lr, reg)``.
      batch_size, num_steps, sampling, unroll: as in :func:`make_train`.
      X_val, y_val: a validation set for the final accuracies.
      chunk_size: steps per compiled chunk (``None``: one call for the sweep).
      progress: show a progress bar (``None``: when stderr is a terminal).
      init_state: continue a sweep from its state after ``init_state.step``
        updates (a checkpoint, or a :class:`TrainingInterrupted`'s ``.state``;
        same grid, seeds, ``W0``, optimizer and ``key``); ``num_steps``
        counts from step 0.
      init_metrics: the :class:`Metrics` ``(M, init_state.step)`` of the steps
        before ``init_state`` (without them those losses are NaN).
      on_chunk: called as ``on_chunk(state, metrics)`` after every chunk, with
        the sweep's state and the metrics of steps ``0 .. state.step - 1``.
      mesh: train on several devices: a :class:`jax.sharding.Mesh` from
        :func:`jaxopt_course.distributed.make_mesh`. Its ``"model"`` axis
        splits the M models (M need not be a multiple of its size), its
        ``"data"`` axis splits every shared minibatch as in
        :func:`make_train`; the results equal the unsharded sweep's up to
        float32 rounding. The sweep's state (in ``on_chunk`` and
        :class:`TrainingInterrupted`) then has ``params`` and ``opt_state``
        split along ``"model"`` and ``key``, ``step``, ``order`` replicated;
        ``SweepResult.params`` is gathered, replicated over the mesh; the
        other fields are NumPy arrays as always.

    Returns:
      A :class:`SweepResult` on the grid's axes ``(L, R)`` (``(L, R, S)`` for several seeds).

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
      >>> sweep(softmax_loss, optax.sgd, jax.numpy.zeros((3, 6)), X, y, key=jax.random.key(0), seeds=4,
      ...       learning_rates=[0.01, 0.1], regs=[0.0, 1e-3, 1e-2], batch_size=16, num_steps=20).losses.shape
      (2, 3, 4, 20)
    """
    grid = make_sweep_chunk(loss_fn, optimizer, X, y, learning_rates=learning_rates, regs=regs, seeds=seeds,
                            batch_size=batch_size, X_val=X_val, y_val=y_val, sampling=sampling, unroll=unroll,
                            mesh=mesh)
    num_steps = _check_int(num_steps, "num_steps")
    chunk_size = _chunk_size(chunk_size, num_steps)
    hook = _one_hook(on_chunk=on_chunk)
    state = grid.init(W0, key)
    if init_state is not None:
        _check_init_state(init_state, state, num_steps, finite=False)
        state = grid.placed(init_state)

    def run_chunk(so_far, length):
        new_state, metrics = grid(so_far.state, length)
        return new_state, Metrics(np.asarray(metrics.loss), np.asarray(metrics.val_accuracy))

    start = _SoFar(int(state.step), state, *_prior_metrics(init_metrics, int(state.step), (grid.num_models,)))
    so_far = _run_in_chunks(run_chunk, start, num_steps, chunk_size, progress=progress, hook=hook,
                            desc=f"sweep ({grid.num_models} models)", what="sweep", resume="sweep")
    return grid.result(so_far.state.params, so_far.metrics().loss)


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
        out[name] = float(model.accuracy(W, X_s, y_s))
    return out
