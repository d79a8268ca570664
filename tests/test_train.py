"""The training engine: gradient descent and minibatch SGD in one compiled scan, behind one door (Run)."""

from __future__ import annotations

import json
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxopt_course import load_cifar10, softmax_loss, svm_loss, synthetic_problem
from jaxopt_course.cli import main
from jaxopt_course.divergence import DIVERGENCE_FACTOR, DivergenceError, divergence_step
from jaxopt_course.model import evaluate
from jaxopt_course.optimizers import OPTIMIZER_NAMES, get_optimizer
from jaxopt_course.train import FitResult, Loop, Run, TrainState, fit, initial_state, make_train, sweep


def separable(num_examples=120, seed=0):
    X, y = synthetic_problem(seed, num_examples=num_examples, dim=5, num_classes=3, spread=0.3)
    return X, y, np.zeros((3, 6), np.float32)


def np_softmax_loss(W, X, y, reg=0.0):
    """NumPy float64 reference of the softmax loss."""
    s = np.asarray(X, np.float64) @ np.asarray(W, np.float64).T
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean() + reg * np.sum(np.asarray(W, np.float64) ** 2)


def by_name(name, **kwargs):
    """The factory of the learning rate for a named optimizer (the Run.optimizer form)."""
    return partial(get_optimizer, name, **kwargs)


# ---------------------------------------------------------------------------
# Every optimizer descends; gradient descent reaches the known minimizer
# ---------------------------------------------------------------------------


LEARNING_RATES = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adam": 0.05, "rmsprop": 0.01, "adagrad": 0.5}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
@pytest.mark.slow
def test_each_optimizer_decreases_the_loss_on_a_separable_problem(name):
    X, y, W0 = separable()
    result = fit(
        Run(softmax_loss, by_name(name), batch_size=32, num_steps=150),
        W0,
        X,
        y,
        key=jax.random.key(0),
        lr=LEARNING_RATES[name],
    )
    before, after = np_softmax_loss(W0, X, y), np_softmax_loss(result.params, X, y)
    assert before == pytest.approx(np.log(3))
    assert after < 0.25 * before
    assert np.mean(np.argmax(X @ np.asarray(result.params).T, axis=1) == y) == 1.0  # separable


def quadratic_loss(W, X, y, reg=0.0):
    """Least squares onto one-hot targets: 1/(2N) sum_i ||W x_i - e_{y_i}||^2 + reg sum W^2."""
    targets = jax.nn.one_hot(y, W.shape[0], dtype=W.dtype)
    return 0.5 * jnp.mean(jnp.sum((X @ W.T - targets) ** 2, axis=1)) + reg * jnp.sum(W * W)


def test_gradient_descent_reaches_the_minimizer_of_a_convex_quadratic():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = rng.integers(0, 3, 50).astype(np.int32)
    reg = 0.05
    # Closed form: grad = (W X^T - Y^T) X / N + 2 reg W = 0  =>  W (X^T X / N + 2 reg I) = Y^T X / N.
    Y = np.eye(3)[y]
    A = X.T @ X / len(X) + 2 * reg * np.eye(4)
    W_star = np.linalg.solve(A, (Y.T @ X / len(X)).T).T
    with jax.enable_x64(True):
        result = fit(
            Run(quadratic_loss, optax.sgd, batch_size=None, num_steps=400),
            np.zeros((3, 4)),
            X,
            y,
            key=jax.random.key(0),
            lr=0.5,
            reg=reg,
            loop=Loop(chunk_size=150),
        )
        assert result.params.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(result.params), W_star, rtol=1e-9, atol=1e-10)
    # Full-batch losses decrease monotonically for a small enough step on a convex quadratic.
    assert np.all(np.diff(result.losses) <= 1e-15)


@settings(derandomize=True, deadline=None, max_examples=15)
@given(lr=st.floats(1e-3, 1.0), seed=st.integers(0, 1000))
def test_one_sgd_step_is_the_lectures_update(lr, seed):
    # W = W + -1 * (stepSize * dW), with dW = (W X^T - Y^T) X / N (+ no reg), in NumPy.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, 8).astype(np.int32)
    W0 = rng.standard_normal((3, 4))
    dW = (W0 @ X.T - np.eye(3)[y].T) @ X / len(X)
    with jax.enable_x64(True):
        train = make_train(Run(quadratic_loss, by_name("sgd"), batch_size=None, num_steps=1), X, y)
        out = train(W0, jax.random.key(0), lr, 0.0)
    np.testing.assert_allclose(np.asarray(out.state.params), W0 + -1 * (lr * dW), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Determinism: fixed keys, chunks, sweeps
# ---------------------------------------------------------------------------


def test_a_fixed_key_gives_identical_results_and_another_key_does_not():
    X, y, W0 = separable()
    run = Run(softmax_loss, optax.sgd, batch_size=16, num_steps=60)
    a = fit(run, W0, X, y, key=jax.random.key(1), lr=0.1)
    b = fit(run, W0, X, y, key=jax.random.key(1), lr=0.1)
    c = fit(run, W0, X, y, key=jax.random.key(2), lr=0.1)
    np.testing.assert_array_equal(np.asarray(a.params), np.asarray(b.params))
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.allclose(a.losses, c.losses)


@pytest.mark.parametrize("sampling", ["with_replacement", "shuffle"])
@pytest.mark.slow
def test_chunked_and_single_scan_runs_agree_bit_for_bit(sampling):
    X, y, W0 = separable(100)
    X_val, y_val = X[:30], y[:30]
    key = jax.random.key(4)
    run = Run(softmax_loss, by_name("momentum"), batch_size=16, num_steps=47, eval_every=5, sampling=sampling)
    common = dict(key=key, lr=0.05, reg=1e-3, X_val=X_val, y_val=y_val)
    one = fit(run, W0, X, y, loop=Loop(chunk_size=None), **common)
    chunked = fit(run, W0, X, y, loop=Loop(chunk_size=10), **common)
    pure = make_train(run, X, y, X_val=X_val, y_val=y_val)(W0, key, 0.05, 1e-3)
    chex.assert_trees_all_equal(chunked.params, one.params, pure.state.params)
    chex.assert_trees_all_equal(chunked.state.opt_state, one.state.opt_state)
    np.testing.assert_array_equal(chunked.losses, one.losses)
    np.testing.assert_array_equal(chunked.losses, np.asarray(pure.metrics.loss))
    np.testing.assert_array_equal(chunked.val_steps, np.arange(5, 48, 5))
    np.testing.assert_array_equal(chunked.val_accuracies, one.val_accuracies)
    assert int(chunked.state.step) == 47


@pytest.mark.slow
def test_shuffle_sampling_visits_every_example_once_per_epoch():
    # X = identity, loss = -sum(X_b @ W^T): each step adds the one-hot rows of its minibatch
    # to W, so W counts how often every example was drawn.
    n, batch = 12, 4
    X, y, W0 = np.eye(n, dtype=np.float32), np.zeros(n, np.int32), np.zeros((1, n), np.float32)

    def count(W, X_b, y_b, reg):
        return -jnp.sum(X_b @ W.T)

    for epochs in (1, 2):
        steps = epochs * n // batch
        shuffled = fit(
            Run(count, optax.sgd, batch_size=batch, num_steps=steps, sampling="shuffle"),
            W0,
            X,
            y,
            key=jax.random.key(0),
            lr=1.0,
            loop=Loop(chunk_size=2),
        )
        np.testing.assert_array_equal(np.asarray(shuffled.params), np.full((1, n), float(epochs)))
    replaced = fit(
        Run(count, optax.sgd, batch_size=batch, num_steps=n // batch), W0, X, y, key=jax.random.key(0), lr=1.0
    )
    assert float(jnp.sum(replaced.params)) == n  # n draws...
    assert not np.all(np.asarray(replaced.params) == 1.0)  # ...but with repeats


@pytest.mark.slow
def test_sweep_equals_a_python_loop_of_fit_and_a_vmap_of_make_train():
    X, y, W0 = separable(90)
    X_val, y_val = synthetic_problem(0, num_examples=30, dim=5, num_classes=3, spread=0.3)
    key = jax.random.key(5)
    lrs, regs = [0.01, 0.1, 1.0], [0.0, 1e-2]
    run = Run(softmax_loss, lambda lr: optax.sgd(lr, momentum=0.5), batch_size=16, num_steps=40)
    result = sweep(run, W0, X, y, key=key, learning_rates=lrs, regs=regs, X_val=X_val, y_val=y_val)
    assert result.params.shape == (3, 2, 3, 6) and result.losses.shape == (3, 2, 40)
    # PureJaxRL: a sweep is jax.vmap of the one pure train over the grid's (lr, reg).
    lr_M, reg_M = jnp.repeat(jnp.asarray(lrs), 2), jnp.tile(jnp.asarray(regs), 3)
    vmapped = jax.vmap(make_train(run, X, y), in_axes=(None, None, 0, 0))(W0, key, lr_M, reg_M)
    chex.assert_trees_all_close(vmapped.state.params.reshape(result.params.shape), result.params, rtol=1e-6, atol=1e-7)
    for i, lr in enumerate(lrs):
        for j, reg in enumerate(regs):
            ref = fit(run, W0, X, y, key=key, lr=lr, reg=reg)
            chex.assert_trees_all_close(result.params[i, j], ref.params, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result.losses[i, j], ref.losses, rtol=1e-5, atol=1e-6)
            acc_val = np.mean(np.argmax(X_val @ np.asarray(ref.params).T, axis=1) == y_val)
            assert result.val_accuracy[i, j] == pytest.approx(acc_val)
            acc_train = np.mean(np.argmax(X @ np.asarray(ref.params).T, axis=1) == y)
            assert result.train_accuracy[i, j] == pytest.approx(acc_train)
    assert not result.diverged.any() and np.all(result.diverged_step == -1)


@pytest.mark.parametrize("seeds", [1, 2])
def test_sweep_gathers_each_minibatch_once_for_all_models(seeds):
    # Under the sweep's vmap only lr and reg are batched: the minibatch X[idx] is one (B, D) gather
    # shared by the models of a seed (one per seed: (S, B, D)), not M gathers of shape (M, B, D).
    import jax.extend.core

    from jaxopt_course import _inputs
    from jaxopt_course import train as T

    X, y, W0 = separable(100)
    run = Run(softmax_loss, optax.sgd, batch_size=16, num_steps=3)
    state = initial_state(
        run, W0, jax.random.key(0), num_examples=100, learning_rates=[0.1, 0.2, 0.3, 0.4], regs=[0.0], seeds=seeds
    )
    data = _inputs.make_data(X, y, None, None)
    setup = T._setup(run, 100)
    lr_M = reg_M = jnp.zeros(4 * seeds)
    jaxpr = jax.make_jaxpr(lambda state: T._sweep_steps(setup, seeds, 3, state, data, lr_M, reg_M))(state)

    def gather_shapes(jaxpr):  # every gather's output shape, in all nested jaxprs (jit, scan, cond)
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "gather":
                yield tuple(eqn.outvars[0].aval.shape)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else [value]:
                    if isinstance(sub, jax.extend.core.ClosedJaxpr):
                        yield from gather_shapes(sub.jaxpr)
                    elif isinstance(sub, jax.extend.core.Jaxpr):
                        yield from gather_shapes(sub)

    shapes = list(gather_shapes(jaxpr.jaxpr))
    one_per_seed = (16, 6) if seeds == 1 else (seeds, 16, 6)
    assert one_per_seed in shapes and (4 * seeds, 16, 6) not in shapes, shapes


@pytest.mark.slow
def test_unrolled_scan_gives_the_same_run():
    X, y, W0 = separable(60)
    run = Run(softmax_loss, optax.sgd, batch_size=8, num_steps=30)
    a = fit(run, W0, X, y, key=jax.random.key(0), lr=0.1)
    b = fit(run._replace(unroll=4), W0, X, y, key=jax.random.key(0), lr=0.1)
    chex.assert_trees_all_close(a.params, b.params, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_vmap_over_keys_trains_one_model_per_seed():
    X, y, W0 = separable(60)
    train = make_train(Run(softmax_loss, optax.sgd, batch_size=8, num_steps=20), X, y)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.vmap(train, in_axes=(None, 0, None, None))(W0, keys, 0.1, 0.0)
    for m in range(3):
        chex.assert_trees_all_close(
            batched.state.params[m], train(W0, keys[m], 0.1, 0.0).state.params, rtol=1e-5, atol=1e-6
        )


# ---------------------------------------------------------------------------
# Compilation, divergence, the chunk hook
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_no_retrace_on_a_second_call_with_the_same_shapes():
    X, y, W0 = separable(60)
    traces = []

    def counted_loss(W, X_b, y_b, reg):
        traces.append(1)  # runs only while JAX traces
        return softmax_loss(W, X_b, y_b, reg=reg)

    run = Run(counted_loss, optax.adam, batch_size=8, num_steps=10)
    train = make_train(run, X, y)
    train(W0, jax.random.key(0), 0.01, 0.0)
    after_first = len(traces)
    assert after_first >= 1
    train(W0 + 0.5, jax.random.key(1), 0.02, 1e-3)  # new weights, key, lr and reg: no new trace
    assert len(traces) == after_first
    # fit: the same run reuses the compiled chunk, for new lr and reg values too.
    fit(run, W0, X, y, key=jax.random.key(0), lr=0.01)
    after_fit = len(traces)
    fit(run, W0 - 1.0, X, y, key=jax.random.key(3), lr=0.3, reg=1e-3)
    assert len(traces) == after_fit
    # And the PureJaxRL way: jax.jit(train) traces once.
    jitted = jax.jit(chex.assert_max_traces(train, n=1))
    jitted(W0, jax.random.key(0), 0.01, 0.0)
    jitted(W0 + 1.0, jax.random.key(9), 0.03, 0.0)


# reg = 60 and lr = 0.02: the penalty's gradient 2 reg W multiplies W by about (1 - 2.4) every step, so the
# penalty grows about 2 x a step and passes 10 x the start loss after a few steps, long before any Inf.
DIVERGING = Run(softmax_loss, optax.sgd, batch_size=8, num_steps=60)


def diverging_run(chunk_size, W0=None, num_steps=60):
    X, y, W_default = separable(60)
    W0 = W_default + 0.01 if W0 is None else W0
    return fit(
        DIVERGING._replace(num_steps=num_steps),
        W0,
        X,
        y,
        key=jax.random.key(0),
        lr=0.02,
        reg=60.0,
        loop=Loop(chunk_size=chunk_size),
    )


def test_the_divergence_rule_on_hand_made_curves():
    k = DIVERGENCE_FACTOR
    assert k == 10.0
    curves = np.array(
        [
            [2.3, 2.0, 1.0, 0.5],  # descends
            [2.3, 6.0, 2.0, 1.0],  # a bump of 2.6 x: minibatch noise, lr 100 on digits
            [2.3, 5.0, 2.3 * k + 1e-3, 1.0],  # just above 10 x at step 2
            [2.3, 2.3 * k, 2.3 * k, 1.0],  # exactly 10 x is not above it
            [2.3, np.inf, 1.0, 1.0],  # Inf at step 1
            [2.3, 1.0, np.nan, 1.0],  # NaN at step 2
            [np.nan, 1.0, 1.0, 1.0],  # NaN at step 0
            [0.0, 1.0, 5.0, 1.0],  # a zero start: only NaN/Inf count
        ]
    )
    np.testing.assert_array_equal(divergence_step(curves), [-1, -1, 2, -1, 1, 2, 0, -1])
    # A resumed run without its earlier metrics: NaN before `start`, step `start` is the reference.
    resumed = np.array([[np.nan, np.nan, 2.0, 25.0], [np.nan, np.nan, 2.0, 19.0]])
    np.testing.assert_array_equal(divergence_step(resumed, start=2), [3, -1])
    assert divergence_step(np.zeros((2, 3)), start=3).tolist() == [-1, -1]


@pytest.mark.slow
def test_divergence_names_the_step_and_keeps_the_params_of_the_step_before():
    X, y, W_default = separable(60)
    W0 = W_default + 0.01
    # Where the run first breaks the rule, read off the pure scan's own metrics.
    pure = make_train(DIVERGING, X, y)(W0, jax.random.key(0), 0.02, 60.0)
    losses = np.asarray(pure.metrics.loss)
    first_bad = int(divergence_step(losses))
    assert 5 < first_bad < 30 and np.all(np.isfinite(losses))  # no NaN or Inf at all
    assert losses[first_bad] > DIVERGENCE_FACTOR * losses[0] >= np.max(losses[:first_bad])
    # Chunk boundaries before, inside, and exactly at the bad step.
    for chunk_size in (3, first_bad, None):
        with pytest.raises(
            DivergenceError,
            match=rf"at step {first_bad} of 60 and rose above 10 x the loss at "
            rf"step 0",
        ) as info:
            diverging_run(chunk_size)
        err = info.value
        assert isinstance(err, FloatingPointError)
        assert err.step == first_bad
        assert np.all(np.isfinite(np.asarray(err.params)))
        assert err.last_finite_loss == pytest.approx(float(losses[first_bad - 1]), rel=1e-5)
        np.testing.assert_allclose(err.metrics.loss, losses[: first_bad + 1], rtol=1e-5)
        # .params are the weights of step first_bad - 1: those of a run that stops there.
        stopped = diverging_run(None, num_steps=first_bad - 1)
        np.testing.assert_allclose(np.asarray(err.params), np.asarray(stopped.params), rtol=1e-5)


def test_divergence_at_step_zero_keeps_the_initial_params():
    X, y, _ = separable(60)
    W0 = np.full((3, 6), 3e38, np.float32)  # the very first scores overflow
    with pytest.raises(DivergenceError, match="at step 0 of 5 and is not finite") as info:
        fit(Run(softmax_loss, optax.sgd, batch_size=8, num_steps=5), W0, X, y, key=jax.random.key(0), lr=0.1)
    assert info.value.step == 0 and np.isnan(info.value.last_finite_loss)
    np.testing.assert_array_equal(np.asarray(info.value.params), W0)


@pytest.mark.slow
def test_the_lectures_lr_1e4_on_digits_diverges_without_a_nan_and_lr_1_does_not(digits):
    # issue 20.1: lr 1e4 reaches 1e10 x its start loss with every loss finite; lr 1 never rises above it.
    W0 = 1e-4 * jax.random.normal(jax.random.key(0), (digits.num_classes, digits.dim))
    run = Run(softmax_loss, optax.sgd, batch_size=256, num_steps=300)
    X, y = digits.train.X, digits.train.y
    grid = sweep(run, W0, X, y, key=jax.random.key(1), learning_rates=[1.0, 1e4], regs=[1e-4])
    assert np.all(np.isfinite(grid.losses))  # the old rule (NaN/Inf only) saw nothing
    np.testing.assert_array_equal(grid.diverged, [[False], [True]])
    bad = int(grid.diverged_step[1, 0])
    assert grid.losses[1, 0, bad] > DIVERGENCE_FACTOR * grid.losses[1, 0, 0]
    assert np.all(grid.losses[1, 0, :bad] <= DIVERGENCE_FACTOR * grid.losses[1, 0, 0])
    assert grid.diverged_step[0, 0] == -1 and grid.losses[0, 0].max() <= grid.losses[0, 0, 0]
    with pytest.raises(DivergenceError, match=rf"at step {bad} of 300") as info:
        fit(run, W0, X, y, key=jax.random.key(1), lr=1e4, reg=1e-4)
    assert info.value.step == bad
    fit(run, W0, X, y, key=jax.random.key(1), lr=1.0, reg=1e-4)  # no error


@pytest.mark.slow
def test_on_chunk_is_called_with_the_carry_and_metrics_at_every_chunk_boundary():
    X, y, W0 = separable(60)
    saved = []
    run = Run(softmax_loss, by_name("adam"), batch_size=8, num_steps=25)
    loop = Loop(chunk_size=10, on_chunk=lambda s, m: saved.append((s, m)))
    fit(run, W0, X, y, key=jax.random.key(0), lr=0.05, loop=loop)
    assert [int(s.step) for s, _ in saved] == [10, 20, 25]
    assert [len(m.loss) for _, m in saved] == [10, 20, 25]
    assert all(isinstance(s, TrainState) for s, _ in saved)
    for state, metrics in saved:
        # Each chunk boundary equals the end of a run stopped at that step, bit for bit.
        ref = fit(run._replace(num_steps=int(state.step)), W0, X, y, key=jax.random.key(0), lr=0.05)
        chex.assert_trees_all_equal(state.params, ref.params)
        chex.assert_trees_all_equal(state.opt_state, ref.state.opt_state)
        np.testing.assert_array_equal(metrics.loss, ref.losses)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def test_bad_arguments_are_reported_by_name():
    X, y, W0 = separable(30)
    key = jax.random.key(0)
    run = Run(softmax_loss, optax.sgd)
    with pytest.raises(ValueError, match=r"W0 must have shape \(C, D\) with D = 6"):
        fit(run, np.zeros((3, 5), np.float32), X, y, key=key, lr=0.1)
    with pytest.raises(ValueError, match="Run.batch_size must be >= 1"):
        fit(run._replace(batch_size=0), W0, X, y, key=key, lr=0.1)
    with pytest.raises(ValueError, match=r"Run.batch_size must be <= the number of training examples \(30\)"):
        fit(run._replace(batch_size=31, sampling="shuffle"), W0, X, y, key=key, lr=0.1)
    with pytest.raises(ValueError, match="Run.sampling must be one of"):
        fit(run._replace(sampling="bootstrap"), W0, X, y, key=key, lr=0.1)
    with pytest.raises(
        TypeError, match="Run.optimizer must be a factory of the learning rate.*got GradientTransformation"
    ):
        fit(Run(softmax_loss, optax.sgd(0.1)), W0, X, y, key=key, lr=0.1)
    with pytest.raises(TypeError, match="Run.optimizer must be a factory of the learning rate.*got str"):
        fit(Run(softmax_loss, "sgd"), W0, X, y, key=key, lr=0.1)
    with pytest.raises(TypeError, match="run must be a Run"):
        fit(softmax_loss, W0, X, y, key=key, lr=0.1)
    with pytest.raises(TypeError, match="loop must be a Loop"):
        fit(run, W0, X, y, key=key, lr=0.1, loop={"chunk_size": 10})
    with pytest.raises(ValueError, match="lr must be given"):
        fit(run, W0, X, y, key=key, lr=None)
    with pytest.raises(ValueError, match="lr must be > 0"):
        fit(run, W0, X, y, key=key, lr=-1.0)
    with pytest.raises(ValueError, match="reg must be >= 0"):
        fit(run, W0, X, y, key=key, lr=0.1, reg=-1.0)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        fit(run, W0, X, y, key=key, lr=0.1, X_val=X)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\)"):
        fit(run, W0[:2], X, y, key=key, lr=0.1)
    with pytest.raises(TypeError, match="key must be a JAX random key"):
        fit(run, W0, X, y, key=0, lr=0.1)
    with pytest.raises(ValueError, match="regs must be >= 0"):
        sweep(run, W0, X, y, key=key, learning_rates=[0.1], regs=[-1.0])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        get_optimizer("lbfgs", 0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        get_optimizer("adam", 0.0)


def test_a_learning_rate_of_the_wrong_type_fails_at_the_boundary_naming_it():
    # optax.sgd("0.1") builds without complaint and used to fail deep inside optax's update.
    X, y, W0 = separable(30)
    with pytest.raises(
        TypeError,
        match=r"optimizer cannot update weights of shape \(3, 6\).*does Run.optimizer "
        r"take the learning rate\?",
    ) as info:
        fit(
            Run(softmax_loss, lambda lr: optax.sgd("0.1"), batch_size=8, num_steps=3),
            W0,
            X,
            y,
            key=jax.random.key(0),
            lr=0.1,
        )
    assert info.value.__cause__ is None and str(info.traceback[-1].path).endswith("jaxopt_course/optimizers.py")


def test_fit_shows_X_and_at_most_12_parameters_per_public_function():
    import inspect

    from jaxopt_course import train as T

    assert list(inspect.signature(fit).parameters)[:4] == ["run", "W0", "X", "y"]
    assert list(inspect.signature(sweep).parameters)[:4] == ["run", "W0", "X", "y"]
    for name in T.__all__:
        value = getattr(T, name)
        if inspect.isfunction(value):
            assert len(inspect.signature(value).parameters) <= 12, name
    for gone in ("make_chunk", "make_sweep_chunk", "Chunk", "SweepChunk", "initial_sweep_state", "OPTIMIZERS"):
        assert not hasattr(T, gone), gone


@pytest.mark.slow
def test_initial_state_is_what_fit_and_sweep_start_from():
    X, y, W0 = separable(60)
    key = jax.random.key(1)
    run = Run(softmax_loss, by_name("adam"), batch_size=8, sampling="shuffle", num_steps=0 + 23, eval_every=5)
    saved = []
    fit(run, W0, X, y, key=key, lr=0.05, loop=Loop(chunk_size=23, on_chunk=lambda s, m: saved.append(s)))
    template = initial_state(run, W0, key, num_examples=len(y), lr=0.05)
    assert int(template.step) == 0 and template.order.shape == (60,)
    resumed = fit(run, W0, X, y, key=key, lr=0.05, loop=Loop(init_state=template))  # from step 0: the same run
    chex.assert_trees_all_equal(resumed.state, saved[-1])
    grid_state = initial_state(
        run, W0, key, num_examples=len(y), learning_rates=[0.1, 0.2], regs=[0.0, 1.0, 2.0], seeds=2
    )
    assert grid_state.params.shape == (12, 3, 6) and grid_state.order.shape == (2, 60)
    whole = sweep(run, W0, X, y, key=key, learning_rates=[0.1, 0.2], regs=[0.0, 1.0, 2.0], seeds=2)
    again = sweep(
        run,
        W0,
        X,
        y,
        key=key,
        learning_rates=[0.1, 0.2],
        regs=[0.0, 1.0, 2.0],
        seeds=2,
        loop=Loop(init_state=grid_state),
    )
    chex.assert_trees_all_equal(whole.params, again.params)


@pytest.mark.slow
def test_lbfgs_is_a_factory_of_lr_too():
    # L-BFGS with lr 1 is optax.lbfgs()'s update (its line search's step scaled by 1), the stored
    # gradient of the accepted point reused on the full batch.
    X, y, W0 = separable(60)
    run = Run(softmax_loss, lambda lr: optax.lbfgs(learning_rate=lr), batch_size=None, num_steps=15)
    result = fit(run, W0, X, y, key=jax.random.key(0), lr=1.0, reg=1e-3)
    tx, W = optax.lbfgs(), jnp.asarray(W0)
    value_and_grad = optax.value_and_grad_from_state(lambda W: softmax_loss(W, X, y, 1e-3))

    @jax.jit  # optax's documented loop, one step compiled (op by op it took 15 s)
    def step(W, state):
        value, grad = value_and_grad(W, state=state)
        updates, state = tx.update(
            grad, state, W, value=value, grad=grad, value_fn=lambda W: softmax_loss(W, X, y, 1e-3)
        )
        return optax.apply_updates(W, updates), state

    state = tx.init(W)
    for _ in range(15):
        W, state = step(W, state)
    chex.assert_trees_all_close(result.params, W, rtol=1e-5, atol=1e-6)
    assert result.losses[-1] < 0.5 * result.losses[0]


@pytest.mark.slow
def test_get_optimizer_builds_the_named_update_rules():
    g, W = jnp.array([1.0, -2.0]), jnp.zeros(2)
    for name in OPTIMIZER_NAMES:
        opt = get_optimizer(name, 0.1)
        updates, _ = opt.update(g, opt.init(W), W)
        assert np.all(np.sign(np.asarray(updates)) == -np.sign(np.asarray(g)))  # downhill
    opt = get_optimizer("momentum", 0.1)
    state = opt.init(W)
    u1, state = opt.update(g, state, W)
    u2, _ = opt.update(g, state, W)
    np.testing.assert_allclose(np.asarray(u2), -0.1 * (0.9 * np.asarray(g) + np.asarray(g)), rtol=1e-6)


def test_evaluate_scores_every_split(digits):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((digits.num_classes, digits.dim)).astype(np.float32)
    scores = evaluate(W, digits)
    assert set(scores) == {"train", "val", "test"}
    for name in scores:
        split = getattr(digits, name)
        assert scores[name] == pytest.approx(np.mean(np.argmax(split.X @ W.T, axis=1) == split.y))


# ---------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss, lr", [(softmax_loss, 1.0), (svm_loss, 0.1)])
@pytest.mark.slow
def test_sgd_on_digits_reaches_95_percent(digits, loss, lr):
    key, init_key = jax.random.split(jax.random.key(0))
    W0 = 1e-4 * jax.random.normal(init_key, (digits.num_classes, digits.dim))
    result = fit(
        Run(loss, optax.sgd, batch_size=256, num_steps=2000, eval_every=500),
        W0,
        digits.train.X,
        digits.train.y,
        key=key,
        lr=lr,
        reg=1e-4,
        X_val=digits.val.X,
        y_val=digits.val.y,
    )
    assert isinstance(result, FitResult)
    assert evaluate(result.params, digits)["test"] >= 0.95
    np.testing.assert_array_equal(result.val_steps, [500, 1000, 1500, 2000])
    assert result.val_accuracies[-1] >= 0.93


def test_cli_train_defaults_reach_95_percent_on_digits(capsys):
    assert main(["train", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"train_accuracy", "val_accuracy", "test_accuracy", "final_loss"} <= set(out)
    assert out["test_accuracy"] >= 0.95
    assert out["optimizer"] == "sgd" and out["batch_size"] == 256 and out["steps"] == 2000


@pytest.mark.slow
def test_cli_train_options_and_divergence(capsys):
    assert main(["train", "--optimizer", "adam", "--lr", "0.05", "--full-batch", "--steps", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batch_size"] is None and out["test_accuracy"] > 0.9
    assert main(["train", "--lr", "1000", "--reg", "1", "--steps", "100"]) == 1
    assert "diverged" in capsys.readouterr().err
    assert main(["train", "--optimizer", "lbfgs"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.cifar
@pytest.mark.slow
def test_cs231n_svm_recipe_on_cifar10_reaches_37_percent_val(cifar10_root):
    # CS231n's LinearSVM: W = 0.001 randn, 1500 steps of batch 200 drawn with replacement,
    # lr 1e-7, reg 2.5e4 (loss + reg * sum W^2). CS231n expects about 39 %.
    splits = load_cifar10(cifar10_root)
    key, init_key = jax.random.split(jax.random.key(0))
    W0 = 1e-3 * jax.random.normal(init_key, (splits.num_classes, splits.dim))
    result = fit(
        Run(svm_loss, optax.sgd, batch_size=200, num_steps=1500),
        W0,
        splits.train.X,
        splits.train.y,
        key=key,
        lr=1e-7,
        reg=2.5e4,
    )
    assert evaluate(result.params, {"val": splits.val})["val"] >= 0.37
