"""The runner around the lecture's loop: one run description, ``fit``, ``sweep`` and one host loop.

The loop itself -- sample a minibatch, ``value_and_grad``, the optimizer's
update, ``apply_updates``, scanned over the steps -- is
:mod:`jaxopt_course.sgd`, on one screen. This module is what a user calls.

The API, one form per input::

    run = Run(loss_fn=svm_loss, optimizer=optax.sgd, batch_size=256, num_steps=1000)
    result = fit(run, W0, X, y, key=key, lr=1e-7, reg=2.5e4)              # one model
    grid = sweep(run, W0, X, y, key=key, learning_rates=[1e-7, 5e-7],    # L x R (x S) models,
                 regs=[2.5e4, 5e4], seeds=1)                             # one vmapped program
    train = make_train(run, X, y)        # the whole run as one pure function:
    out = train(W0, key, lr, reg)        # TrainOutput(state, metrics); jax.vmap trains a grid
    fit(run, W0, X, y, key=key, lr=0.1, loop=Loop(chunk_size=100, on_chunk=save, init_state=s))

* :class:`Run` describes a run (loss, optimizer, batch size, sampling,
  steps, validation interval, devices): what every function here takes first.
* **The loss takes reg as an argument**, ``loss_fn(W, X, y, reg)``
  (``svm_loss``, ``softmax_loss``): ``reg`` is traced, so a new value
  reuses the compiled program and a sweep vmaps it.
* **The optimizer is a factory of the learning rate**, ``lr ->
  optax.GradientTransformation`` (``optax.sgd``, ``functools.partial(
  get_optimizer, "momentum")``), not a ready transformation with
  ``optax.inject_hyperparams``: a factory keeps the optimizer state exactly
  optax's own (checkpoints, resumes and numbers those of ``optax.sgd(lr)``)
  and a vmapped ``lr`` needs nothing in it; ``inject_hyperparams`` would put
  ``lr`` in every state, a second layout to resume and vmap over. Every
  update gets the extra arguments ``value, grad, value_fn``
  (``optax.with_extra_args_support``) that L-BFGS's line search uses.
* :class:`Loop` groups the host loop's options (:mod:`jaxopt_course.hostloop`:
  chunks, progress, the divergence rule of :mod:`jaxopt_course.divergence`,
  the hook, Ctrl-C, resume); the inputs are checked once where they enter
  (``jaxopt_course/_inputs.py``).

``fit`` calls :func:`_steps` (jitted), which calls
:func:`jaxopt_course.sgd.run_steps`, which scans
:func:`jaxopt_course.sgd.train_step`. A sweep is ``jax.vmap`` of the same
``_steps`` over the grid's ``(lr, reg)``, seeds one more ``vmap``. Step ``t``
draws its minibatch from ``fold_in(key, t)``, so chunks never change a run.
Gradient descent is ``batch_size=None``; minibatch SGD samples with
replacement like the lecture (``sampling="with_replacement"``) or from a
fresh order every epoch (``sampling="shuffle"``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks, _inputs, distributed, hostloop, limits, model, optimizers, sgd
from ._checks import check_int as _check_int
from ._checks import check_key as _check_key
from .distributed import MODEL_AXIS
from .hostloop import Loop, Metrics
from .sgd import SAMPLINGS, TrainState

# Loop and Metrics are jaxopt_course.hostloop's: documented and exported there.
__all__ = [
    "SAMPLINGS",
    "FitResult",
    "Run",
    "SweepResult",
    "TrainOutput",
    "TrainState",
    "fit",
    "initial_state",
    "make_train",
    "sweep",
]


# ---------------------------------------------------------------------------
# The run and the results
# ---------------------------------------------------------------------------


class Run(NamedTuple):
    """One description of a training run: what :func:`fit`, :func:`sweep` and :func:`make_train` take first.

    Attributes:
      loss_fn: ``loss_fn(W, X, y, reg) -> scalar``, e.g. ``svm_loss`` or
        ``softmax_loss`` (``reg`` is passed to ``fit``/``sweep``, traced).
      optimizer: a factory ``lr -> optax.GradientTransformation``, e.g.
        ``optax.sgd`` (the lecture's ``W - lr * dW``), ``optax.adam`` or
        ``functools.partial(get_optimizer, "momentum")``; L-BFGS:
        ``lambda lr: optax.lbfgs(learning_rate=lr)`` with ``lr=1.0``.
      batch_size: examples per step; ``None``: gradient descent on the whole set.
      num_steps: the number of updates (the lecture's ``maxIterations``).
      sampling: ``"with_replacement"`` (the lecture, CS231n's
        ``np.random.choice``) or ``"shuffle"`` (a fresh order every epoch of
        ``N // batch_size`` steps).
      eval_every: with a validation set, its accuracy after every
        ``eval_every``-th update (``None``: never). A sweep scores the
        validation set once, at the end.
      unroll: ``lax.scan``'s ``unroll`` (steps per loop iteration).
      mesh: several devices: a :class:`jax.sharding.Mesh` from
        :func:`jaxopt_course.distributed.make_mesh` (``None``: one device).
        Its ``"data"`` axis splits every minibatch's rows (the compiler
        all-reduces the gradient), its ``"model"`` axis a sweep's models;
        the results equal the one-device run's up to float32 rounding. What
        ``fit`` and ``make_train`` return is replicated over the mesh.
    """

    loss_fn: Callable
    optimizer: Callable = optax.sgd
    batch_size: int | None = 256
    num_steps: int = 1000
    sampling: str = "with_replacement"
    eval_every: int | None = 100
    unroll: int | bool = 1
    mesh: Any = None


class TrainOutput(NamedTuple):
    """What ``train(W0, key, lr, reg)`` returns: the final carry and the stacked metrics."""

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
      losses: the per-step losses, ``(L, R[, S], num_steps)`` (a sweep does
        not stop for one bad model: a diverged one goes on).
      train_accuracy: the final training accuracy, ``(L, R[, S])``.
      val_accuracy: the final validation accuracy, ``(L, R[, S])`` (NaN
        without a validation set).
      learning_rates: ``(L,)``; regs: ``(R,)``.
      diverged: ``(L, R[, S])`` bool, the models that diverged by
        :func:`divergence_step`'s rule (never choose them).
      diverged_step: ``(L, R[, S])`` int, the step at which each diverged
        (-1 for the others).
    """

    params: jax.Array
    losses: np.ndarray
    train_accuracy: np.ndarray
    val_accuracy: np.ndarray
    learning_rates: np.ndarray
    regs: np.ndarray
    diverged: np.ndarray
    diverged_step: np.ndarray


# ---------------------------------------------------------------------------
# The run, checked once, in the loop's convention (sgd.Config)
# ---------------------------------------------------------------------------


class _Setup(NamedTuple):
    """What is static about a run here (hashable: it keys the compilation cache)."""

    core: sgd.Config
    eval_every: int | None = None
    mesh: Any = None


def _check_run(run) -> Run:
    if not isinstance(run, Run):
        raise TypeError(f"run must be a Run(loss_fn, optimizer, ...), got {type(run).__name__}")
    _checks.check_callable(run.loss_fn, "Run.loss_fn", "a function loss_fn(W, X, y, reg)")
    if isinstance(run.optimizer, optax.GradientTransformation) or not callable(run.optimizer):
        raise TypeError(
            "Run.optimizer must be a factory of the learning rate, lr -> GradientTransformation (e.g. optax.sgd "
            "or functools.partial(get_optimizer, 'adam')), with lr given to fit/sweep; got "
            f"{type(run.optimizer).__name__}"
        )
    _checks.check_choice(run.sampling, "Run.sampling", SAMPLINGS)
    _check_int(run.num_steps, "Run.num_steps")
    if run.batch_size is not None:
        _check_int(run.batch_size, "Run.batch_size")
    if run.eval_every is not None:
        _check_int(run.eval_every, "Run.eval_every")
    if not isinstance(run.unroll, bool):
        _check_int(run.unroll, "Run.unroll")
    return run


def _setup(run: Run, num_examples: int, *, validate: bool = False) -> _Setup:
    """The run in the loop's convention; ``validate``: a validation set is scored every ``eval_every`` steps."""
    batch_size = None if run.batch_size is None else int(run.batch_size)
    if run.sampling == "shuffle" and batch_size is not None and batch_size > num_examples:
        raise ValueError(
            f"Run.batch_size must be <= the number of training examples ({num_examples}) with "
            f"sampling='shuffle', got {batch_size}"
        )
    core = sgd.Config(
        loss_fn=run.loss_fn,
        optimizer=optimizers.WithExtraArgs(run.optimizer),
        batch_size=batch_size,
        sampling=run.sampling,
        unroll=run.unroll,
        place_batch=sgd.unchanged if run.mesh is None else distributed.BatchSplit(run.mesh),
    )
    return _Setup(core, run.eval_every if validate else None, run.mesh)


def _with_gradients_reused(setup: _Setup, W0, lr) -> _Setup:
    """Check the optimizer on ``W0``; a line search on the full batch then hands the next step its stored gradient.

    Only shapes and dtypes are used, so ``W0`` and ``lr`` may be traced.
    """
    opt_state = optimizers.optimizer_state(setup.core.optimizer, W0, lr)
    if setup.core.batch_size is None and optimizers.stores_value_and_grad(opt_state):
        return setup._replace(core=setup.core._replace(value_and_grad=sgd.stored_value_and_grad))
    return setup


# ---------------------------------------------------------------------------
# The compiled programs: the steps of one model, and of a grid (a vmap of them)
# ---------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(0, 4))
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


@functools.partial(jax.jit, static_argnums=(0, 1))
def _steps(setup: _Setup, plan: tuple, state: TrainState, data: _inputs.Data, lr, reg):
    """The steps of one chunk (``plan`` from :func:`_plan`): ``(state, Metrics)``, validated where due."""
    head, blocks, tail = plan

    def steps(state, n, validate):
        state, loss_n = sgd.run_steps(setup.core, state, data.X, data.y, lr, reg, n)
        val_n = jnp.full(n, jnp.nan, jnp.float32)
        if validate:  # after the last of these n updates
            val_n = val_n.at[-1].set(model.accuracy_core(state.params, data.X_val, data.y_val).astype(jnp.float32))
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


def _init_setup(setup: _Setup) -> _Setup:
    """What the state before step 0 depends on (so that every way of building it shares one program)."""
    core = setup.core
    # no loss: the state before step 0 does not depend on it (Config's loss_fn is annotated Callable)
    init_core = sgd.Config(None, core.optimizer, core.batch_size, core.sampling)  # type: ignore[arg-type]
    return _Setup(init_core, mesh=setup.mesh)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _train(setup: _Setup, num_steps: int, W, key, data: _inputs.Data, lr, reg) -> TrainOutput:
    state = sgd.init_state(setup.core, W, key, lr, data.X.shape[0])
    return TrainOutput(*_steps(setup, _plan(0, num_steps, setup.eval_every), state, data, lr, reg))


@functools.partial(jax.jit, static_argnums=(0,))
def _replay(setup: _Setup, state: TrainState, data: _inputs.Data, lr, reg, num_steps):
    """``num_steps`` (traced: one program for any count) steps from ``state``, keeping only the final state."""
    return jax.lax.fori_loop(
        0, num_steps, lambda i, s: sgd.train_step(setup.core, data.X, data.y, lr, reg, s)[0], state
    )


# A grid's state is a TrainState over M models: params and opt_state have a leading (M,) axis; key,
# step and the epoch order are shared, so every model's step t draws the same minibatch, gathered once.
# (vmap's axes: a TrainState of axis numbers, built with _make since its fields are annotated as arrays.)
_MODELS = TrainState._make((0, 0, None, None, None))


def _spmd(mesh) -> str | None:
    """The mesh axis that splits the models (``vmap``'s ``spmd_axis_name``), if there is one."""
    return MODEL_AXIS if mesh is not None and MODEL_AXIS in mesh.axis_names else None


@functools.partial(jax.jit, static_argnums=(0,))
def _place_models(mesh, state: TrainState) -> TrainState:
    """A sweep's state over the mesh: each model's weights and optimizer state on its ``"model"`` slice."""
    if mesh is None:
        return state
    return TrainState(
        distributed.constrain(state.params, mesh, MODEL_AXIS),
        distributed.constrain(state.opt_state, mesh, MODEL_AXIS),
        *distributed.constrain((state.key, state.step, state.order), mesh),
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 5))
def _sweep_init(setup: _Setup, seeds: int, W, key, lr_M, num_examples: int) -> TrainState:
    """The state of M models before step 0: ``W`` copied M times, one optimizer state per ``lr_M[m]``."""
    state = jax.vmap(lambda lr: sgd.init_state(setup.core, W, key, lr, num_examples), out_axes=_MODELS)(lr_M)
    if seeds > 1 and state.order is not None:  # one epoch order per seed
        state = state._replace(order=jnp.broadcast_to(state.order, (seeds,) + state.order.shape))
    return _place_models(setup.mesh, state)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _sweep_steps(setup: _Setup, seeds: int, num_steps: int, state: TrainState, data: _inputs.Data, lr_M, reg_M):
    """``num_steps`` steps of all M models: ``jax.vmap`` of :func:`_steps` over ``(lr, reg)``, then over seeds.

    Model ``m = g * S + s``: seed ``s`` draws from ``fold_in(key, s)``.
    Returns ``(state, Metrics of shape (M, num_steps))``.
    """
    one_model = functools.partial(_steps, setup._replace(mesh=None), (0, 0, num_steps), data=data)
    grid = jax.vmap(
        lambda state, lr, reg: one_model(state, lr=lr, reg=reg),
        in_axes=(_MODELS, 0, 0),
        out_axes=(_MODELS, 0),
        spmd_axis_name=None if seeds > 1 else _spmd(setup.mesh),
    )
    if seeds == 1:
        state, metrics = grid(state, lr_M, reg_M)
    else:

        def by_seed(x):  # (M, ...) -> (G, S, ...)
            return x.reshape((-1, seeds) + x.shape[1:])

        def merged(x):  # (G, S, ...) -> (M, ...)
            return x.reshape((-1,) + x.shape[2:])

        keys_S = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(state.key, jnp.arange(seeds))
        seeded = TrainState(
            jax.tree.map(by_seed, state.params), jax.tree.map(by_seed, state.opt_state), keys_S, state.step, state.order
        )
        axes = TrainState._make((1, 1, 0, None, None if state.order is None else 0))  # params, opt_state, key, ...
        seeded, metrics = jax.vmap(grid, in_axes=(axes, 1, 1), out_axes=(axes, 1), spmd_axis_name=_spmd(setup.mesh))(
            seeded, by_seed(lr_M), by_seed(reg_M)
        )
        state = TrainState(
            jax.tree.map(merged, seeded.params),
            jax.tree.map(merged, seeded.opt_state),
            state.key,
            seeded.step,
            seeded.order,
        )
        metrics = jax.tree.map(merged, metrics)
    return _place_models(setup.mesh, state), distributed.constrain(metrics, setup.mesh)


@functools.partial(jax.jit, static_argnums=(0,))
def _sweep_accuracies(setup: _Setup, W_MxCxD, data: _inputs.Data):
    """The training and validation accuracy of each of the M models (NaN without a validation set)."""
    accuracy_M = jax.vmap(lambda W, X, y: model.accuracy_core(W, X, y).astype(jnp.float32), in_axes=(0, None, None))
    train_acc = accuracy_M(W_MxCxD, data.X, data.y)
    val_acc = jnp.full_like(train_acc, jnp.nan) if data.X_val is None else accuracy_M(W_MxCxD, data.X_val, data.y_val)
    return distributed.constrain((train_acc, val_acc), setup.mesh)


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
        return (
            jnp.asarray(np.repeat(self.learning_rates, R * S), dtype=dtype),
            jnp.asarray(np.tile(np.repeat(self.regs, S), L), dtype=dtype),
        )


def _grid(learning_rates, regs, seeds) -> _Grid:
    values = []
    for name, given in (("learning_rates", learning_rates), ("regs", regs)):
        arr = np.asarray(given, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
        if name == "learning_rates":
            _inputs.check_learning_rate(arr, name)  # fit's rule for lr
        else:
            _checks.check_nonnegative(arr, name)
        values.append(arr)
    return _Grid(values[0], values[1], _check_int(seeds, "seeds"))


# ---------------------------------------------------------------------------
# The state before step 0, and the whole run as one pure function
# ---------------------------------------------------------------------------


def initial_state(
    run: Run, W0, key, *, num_examples: int, lr=None, learning_rates=None, regs=None, seeds: int = 1
) -> TrainState:
    """The :class:`TrainState` before step 0, exactly as :func:`fit` (give ``lr``) or :func:`sweep` starts it.

    For ``fit``: ``W0``, the optimizer's fresh state (strongly typed, so a
    second chunk reuses the first one's program), the key, step 0 and, with
    ``sampling="shuffle"``, a placeholder epoch order of ``num_examples``
    entries. For ``sweep`` (give ``learning_rates``, ``regs``, ``seeds``):
    the same for its ``M = L * R * S`` models, ``params`` ``(M, C, D)`` and
    every ``opt_state`` leaf with a leading model axis, the epoch order
    ``(S, N)`` for several seeds. Use it as the ``like`` of
    :func:`~jaxopt_course.checkpoint.load_checkpoint` before a resume.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss
      >>> run = Run(softmax_loss, optax.adam)
      >>> initial_state(run, jax.numpy.zeros((3, 5)), jax.random.key(0), num_examples=100, lr=1e-3).params.shape
      (3, 5)
      >>> initial_state(run, jax.numpy.zeros((3, 5)), jax.random.key(0), num_examples=100, learning_rates=[0.1, 1.0],
      ...               regs=[0.0], seeds=4).params.shape
      (8, 3, 5)
    """
    run = _check_run(run)
    setup = _init_setup(_setup(run, _check_int(num_examples, "num_examples")))
    _checks.check_real_array(W0, "W0", ndim=2)
    _checks.check_finite(W0, "W0")
    _check_key(key)
    W0 = jnp.asarray(W0)
    if learning_rates is None:
        _inputs.check_hyper(lr, 0.0)
        _with_gradients_reused(setup, W0, lr)
        return _init(setup, *distributed.place((W0, key, lr), run.mesh), num_examples)
    lr_M, _ = _grid(learning_rates, regs, seeds).hyperparameters(W0)
    _with_gradients_reused(setup, W0, lr_M[0])
    W0, key, lr_M = distributed.place((W0, key, lr_M), run.mesh)
    return _sweep_init(setup, seeds, W0, key, lr_M, num_examples)


def make_train(run: Run, X, y, *, X_val=None, y_val=None) -> Callable[..., TrainOutput]:
    """Build ``train(W0, key, lr, reg) -> TrainOutput``: a whole training run as one pure function (PureJaxRL).

    ``train`` runs ``run.num_steps`` steps of :func:`jaxopt_course.sgd.train_step`::

        X_b, y_b = minibatch(fold_in(key, t))          # or all of X, y
        loss_t, dW = value_and_grad(loss_fn)(W, X_b, y_b, reg)
        W = W + optimizer(lr).update(dW)                # optax.sgd: W - lr * dW

    inside ``lax.scan`` (the carry a :class:`TrainState`) and returns
    ``TrainOutput(state, metrics)``, the per-step :class:`Metrics` stacked.
    ``X``, ``y`` are checked here, once, and passed to the compiled program
    as arguments. ``train`` is pure, so ``jax.vmap(train, in_axes=(None,
    None, 0, 0))`` trains one model per ``(lr, reg)`` (what :func:`sweep`
    compiles), ``in_axes=(None, 0, None, None)`` one per key. It equals
    :func:`fit`, bit for bit.

    Args:
      run: the :class:`Run`.
      X, y: the training set ``(N, D)``, ``(N,)`` int32.
      X_val, y_val: an optional validation set, scored after every
        ``run.eval_every``-th update.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> train = make_train(Run(softmax_loss, optax.sgd, batch_size=16, num_steps=50), X, y)
      >>> out = train(jax.numpy.zeros((3, 6)), jax.random.key(0), 0.1, 1e-3)
      >>> out.metrics.loss.shape, int(out.state.step), bool(out.metrics.loss[-1] < out.metrics.loss[0])
      ((50,), 50, True)
    """
    run = _check_run(run)
    if run.mesh is not None:
        distributed.check_mesh(run.mesh, one_model=True)
    data = _inputs.make_data(X, y, X_val, y_val, run.mesh)
    base = _setup(run, int(data.X.shape[0]), validate=X_val is not None)

    def train(W0, key, lr, reg) -> TrainOutput:
        W0, key, lr, reg = distributed.place((jnp.asarray(W0), key, lr, reg), run.mesh)
        setup = _with_gradients_reused(base, W0, lr)
        return _train(setup, run.num_steps, W0, key, data, lr, reg)

    return train


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------


def fit(run: Run, W0, X, y, *, key, lr, reg=0.0, X_val=None, y_val=None, loop: Loop | None = None) -> FitResult:
    """Train ``W`` by gradient descent or minibatch SGD: the everyday runner.

    The steps of :func:`make_train`'s ``train(W0, key, lr, reg)`` (bit for
    bit), in chunks of ``loop.chunk_size``: ``fit`` -> :func:`_steps` ->
    :func:`jaxopt_course.sgd.run_steps` -> :func:`jaxopt_course.sgd.train_step`.
    Between chunks the host loop (:mod:`jaxopt_course.hostloop`) moves a
    progress bar, applies the divergence rule (NaN/Inf, or above 10 x the
    step-0 loss: :class:`~jaxopt_course.divergence.DivergenceError`), calls
    ``loop.on_chunk`` and turns Ctrl-C into ``TrainingInterrupted``. Step
    ``t`` draws from ``fold_in(key, t)``, so chunks never change the result,
    and ``Loop(init_state=...)`` resumes a run to the same weights, bit for bit.

    Args:
      run: the :class:`Run` (loss, optimizer, batch size, steps, ...).
      W0: the initial weights ``(C, D)``.
      X, y: the training examples ``(N, D)`` (bias column included) and their labels ``(N,)`` in ``0 .. C - 1``.
        Checked and placed on the device(s) once (``_inputs.make_data``), then passed to ``_steps`` as ``data``.
      key: a ``jax.random`` key for the minibatches.
      lr: the learning rate given to ``run.optimizer`` (a number, or a
        pytree of numbers for a factory that builds a schedule); traced.
      reg: the regularization strength given to ``run.loss_fn``; traced.
      X_val, y_val: a validation set, scored every ``run.eval_every`` steps.
      loop: the host loop's :class:`Loop` options (chunks, progress, hook, resume).

    Returns:
      A :class:`FitResult`.

    Raises:
      DivergenceError: the run diverged (:mod:`jaxopt_course.divergence`).
      TrainingInterrupted: Ctrl-C; holds the run up to the last chunk boundary.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=90)
      >>> run = Run(softmax_loss, optax.sgd, batch_size=32, num_steps=100)
      >>> result = fit(run, jax.numpy.zeros((3, 6)), X, y, key=jax.random.key(0), lr=0.1, reg=1e-3)
      >>> result.losses.shape, bool(result.losses[-1] < result.losses[0])
      ((100,), True)
    """
    run, loop = _check_run(run), hostloop.check_loop(loop)
    if run.mesh is not None:
        distributed.check_mesh(run.mesh, one_model=True)
    data = _inputs.make_data(X, y, X_val, y_val, run.mesh)
    _inputs.check_params(W0, data)
    _check_key(key)
    _inputs.check_hyper(lr, reg)
    W0, key, lr, reg = distributed.place((jnp.asarray(W0), key, lr, reg), run.mesh)
    setup = _with_gradients_reused(_setup(run, int(data.X.shape[0]), validate=X_val is not None), W0, lr)
    state = _init(_init_setup(setup), W0, key, lr, int(data.X.shape[0]))
    if loop.init_state is not None:
        hostloop.check_init_state(loop.init_state, state, run.num_steps)
        state = distributed.place(loop.init_state, run.mesh)
    # (first step, state at that step) of the last two chunks, for a divergence
    starts: list[tuple[int, TrainState]] = []

    def run_chunk(so_far, length):
        starts[:] = starts[-1:] + [(so_far.done, so_far.state)]
        return _steps(setup, _plan(so_far.done, length, setup.eval_every), so_far.state, data, lr, reg)

    def on_divergence(so_far, diverged):
        def replay(state, num_steps):  # the steps from a chunk start to the step before the bad one
            return _replay(setup, state, data, lr, reg, num_steps)

        raise hostloop.divergence_error(so_far, int(diverged), start.done, starts, run.num_steps, replay)

    start = hostloop.SoFar(int(state.step), state, *hostloop.prior_metrics(loop.init_metrics, int(state.step)))
    so_far, _ = hostloop.host_loop(
        run_chunk, start, run.num_steps, loop, on_divergence=on_divergence, desc="train", what="fit"
    )
    metrics = so_far.metrics()
    val_steps = np.flatnonzero(~np.isnan(metrics.val_accuracy)) + 1
    return FitResult(
        params=so_far.state.params,
        losses=np.asarray(metrics.loss),
        val_steps=val_steps,
        val_accuracies=np.asarray(metrics.val_accuracy)[val_steps - 1],
        state=so_far.state,
    )


# ---------------------------------------------------------------------------
# sweep
# ---------------------------------------------------------------------------


def sweep(
    run: Run, W0, X, y, *, key, learning_rates, regs, seeds: int = 1, X_val=None, y_val=None, loop: Loop | None = None
) -> SweepResult:
    """Train one model per ``(lr, reg[, seed])`` of a grid, all at once: one vmapped program.

    CS231n's hyperparameter search ("for lr in learning_rates: for reg in
    regularization_strengths: train, score on val") as ``jax.vmap`` of the
    one model's steps over the flattened grid of ``M = L * R * S`` models:
    ``lr`` and ``reg`` are traced, everything else is shared. Every model
    starts from ``W0``; the models of one seed see the *same* minibatch at
    every step (gathered once for all of them) -- faster, and a fairer
    comparison of the hyperparameters.

    Seeds: with ``seeds=1`` every model draws its minibatches from ``key``
    (each equals ``fit`` with its ``lr`` and ``reg``); with ``seeds=S > 1``
    seed ``s`` draws them from ``fold_in(key, s)`` (one more ``vmap``) and a
    seed axis follows the lr and reg axes. The host loop is ``fit``'s, but a
    model that diverges is marked (``SweepResult.diverged``), never raised
    for. The sweep's state over its M models: see :func:`initial_state`.

    Args:
      run: the :class:`Run` (a sweep scores the validation set once, at the
        end: ``eval_every`` is unused). ``run.mesh``'s ``"model"`` axis
        splits the M models, its ``"data"`` axis every shared minibatch.
      W0, X, y, key: as for :func:`fit`; every model starts from ``W0``.
      learning_rates, regs: the grid, ``(L,)`` and ``(R,)``.
      seeds: ``S``, how many seeds train each ``(lr, reg)``.
      X_val, y_val: a validation set for the final accuracies.
      loop: the host loop's options; ``init_state``/``init_metrics`` the sweep's (``(M, ...)``).

    Returns:
      A :class:`SweepResult` on the grid's axes ``(L, R)`` (``(L, R, S)`` for several seeds).

    Raises:
      TrainingInterrupted: Ctrl-C; holds the sweep up to the last chunk boundary.

    Examples:
      >>> import jax, optax
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=60)
      >>> run = Run(softmax_loss, optax.sgd, batch_size=16, num_steps=20)
      >>> result = sweep(run, jax.numpy.zeros((3, 6)), X, y, key=jax.random.key(0), learning_rates=[0.01, 0.1],
      ...                regs=[0.0, 1e-3, 1e-2], seeds=4)
      >>> result.params.shape, result.losses.shape, result.diverged.shape
      ((2, 3, 4, 3, 6), (2, 3, 4, 20), (2, 3, 4))
    """
    run, loop = _check_run(run), hostloop.check_loop(loop)
    if run.mesh is not None:
        distributed.check_mesh(run.mesh)
    data = _inputs.make_data(X, y, X_val, y_val, run.mesh)
    grid = _grid(learning_rates, regs, seeds)
    num_models = int(np.prod(grid.shape))
    _inputs.check_params(W0, data)
    _check_key(key)
    limits.check_sweep(
        num_models,
        int(np.size(W0)),
        run.num_steps,
        run.batch_size or int(data.X.shape[0]),
        int(np.shape(W0)[0]),
        what=f"a sweep of {num_models} models",
        yes=True,
    )  # before allocating
    lr_M, reg_M = grid.hyperparameters(W0)
    W0, key, lr_M, reg_M = distributed.place((jnp.asarray(W0), key, lr_M, reg_M), run.mesh)
    setup = _with_gradients_reused(_setup(run, int(data.X.shape[0])), W0, lr_M[0])
    state = _sweep_init(_init_setup(setup), grid.seeds, W0, key, lr_M, int(data.X.shape[0]))
    if loop.init_state is not None:
        hostloop.check_init_state(loop.init_state, state, run.num_steps, finite=False)
        state = distributed.place(loop.init_state, run.mesh)
        if run.mesh is not None:
            state = _place_models(run.mesh, state)

    def run_chunk(so_far, length):
        return _sweep_steps(setup, grid.seeds, length, so_far.state, data, lr_M, reg_M)

    prior = hostloop.prior_metrics(loop.init_metrics, int(state.step), (num_models,))
    start = hostloop.SoFar(int(state.step), state, *prior)
    so_far, diverged_M = hostloop.host_loop(
        run_chunk, start, run.num_steps, loop, desc=f"sweep ({num_models} models)", what="sweep"
    )
    W_MxCxD = so_far.state.params
    train_acc, val_acc = _sweep_accuracies(setup, W_MxCxD, data)
    if run.mesh is not None:  # every model's weights on every device (and host)
        W_MxCxD = jax.jit(distributed.constrain, static_argnums=(1,))(W_MxCxD, run.mesh)
    shape = grid.shape
    return SweepResult(
        params=W_MxCxD.reshape(shape + W_MxCxD.shape[1:]),
        losses=np.asarray(so_far.metrics().loss).reshape(shape + (run.num_steps,)),
        train_accuracy=np.asarray(train_acc).reshape(shape),
        val_accuracy=np.asarray(val_acc).reshape(shape),
        learning_rates=grid.learning_rates,
        regs=grid.regs,
        diverged=(diverged_M >= 0).reshape(shape),
        diverged_step=diverged_M.reshape(shape),
    )
