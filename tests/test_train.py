"""The training engine: gradient descent and minibatch SGD in one compiled scan."""

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
from jaxopt_course.train import (
    OPTIMIZER_NAMES,
    DivergenceError,
    FitResult,
    TrainState,
    evaluate,
    fit,
    get_optimizer,
    make_train,
    sweep,
)


def separable(num_examples=120, seed=0):
    X, y = synthetic_problem(seed, num_examples=num_examples, dim=5, num_classes=3, spread=0.3)
    return X, y, np.zeros((3, 6), np.float32)


def np_softmax_loss(W, X, y, reg=0.0):
    """NumPy float64 reference of the softmax loss."""
    s = np.asarray(X, np.float64) @ np.asarray(W, np.float64).T
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean() + reg * np.sum(np.asarray(W, np.float64) ** 2)


# ---------------------------------------------------------------------------
# Every optimizer descends; gradient descent reaches the known minimizer
# ---------------------------------------------------------------------------


LEARNING_RATES = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adam": 0.05, "rmsprop": 0.01, "adagrad": 0.5}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
@pytest.mark.slow
def test_each_optimizer_decreases_the_loss_on_a_separable_problem(name):
    X, y, W0 = separable()
    result = fit(softmax_loss, W0, X, y, key=jax.random.key(0), optimizer=get_optimizer(name, LEARNING_RATES[name]),
                 batch_size=32, num_steps=150)
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
        result = fit(partial(quadratic_loss, reg=reg), np.zeros((3, 4)), X, y, key=jax.random.key(0),
                     optimizer=optax.sgd(0.5), batch_size=None, num_steps=400, chunk_size=150)
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
        train = make_train(quadratic_loss, partial(get_optimizer, "sgd"), X, y, batch_size=None, num_steps=1)
        out = train(W0, jax.random.key(0), lr=lr)
    np.testing.assert_allclose(np.asarray(out.state.params), W0 + -1 * (lr * dW), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Determinism: fixed keys, chunks, sweeps
# ---------------------------------------------------------------------------


def test_a_fixed_key_gives_identical_results_and_another_key_does_not():
    X, y, W0 = separable()
    kw = dict(optimizer=optax.sgd(0.1), batch_size=16, num_steps=60)
    a = fit(softmax_loss, W0, X, y, key=jax.random.key(1), **kw)
    b = fit(softmax_loss, W0, X, y, key=jax.random.key(1), **kw)
    c = fit(softmax_loss, W0, X, y, key=jax.random.key(2), **kw)
    np.testing.assert_array_equal(np.asarray(a.params), np.asarray(b.params))
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.allclose(a.losses, c.losses)


@pytest.mark.parametrize("sampling", ["with_replacement", "shuffle"])
@pytest.mark.slow
def test_chunked_and_single_scan_runs_agree(sampling):
    X, y, W0 = separable(100)
    X_val, y_val = X[:30], y[:30]
    key = jax.random.key(4)
    common = dict(batch_size=16, X_val=X_val, y_val=y_val, eval_every=5, sampling=sampling)
    optimizer = get_optimizer("momentum", 0.05)
    one = fit(softmax_loss, W0, X, y, key=key, optimizer=optimizer, num_steps=47, chunk_size=None, **common)
    chunked = fit(softmax_loss, W0, X, y, key=key, optimizer=optimizer, num_steps=47, chunk_size=10, **common)
    pure = make_train(softmax_loss, optimizer, X, y, num_steps=47, **common)(W0, key)
    chex.assert_trees_all_close(chunked.params, one.params, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(chunked.state.opt_state, one.state.opt_state, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(pure.state.params, one.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked.losses, one.losses, rtol=1e-6)
    np.testing.assert_array_equal(chunked.val_steps, np.arange(5, 48, 5))
    np.testing.assert_allclose(chunked.val_accuracies, one.val_accuracies)
    assert int(chunked.state.step) == 47


@pytest.mark.slow
def test_shuffle_sampling_visits_every_example_once_per_epoch():
    # X = identity, loss = -sum(X_b @ W^T): each step adds the one-hot rows of its minibatch
    # to W, so W counts how often every example was drawn.
    n, batch = 12, 4
    X, y, W0 = np.eye(n, dtype=np.float32), np.zeros(n, np.int32), np.zeros((1, n), np.float32)

    def count(W, X_b, y_b):
        return -jnp.sum(X_b @ W.T)

    for epochs in (1, 2):
        steps = epochs * n // batch
        shuffled = fit(count, W0, X, y, key=jax.random.key(0), optimizer=optax.sgd(1.0), batch_size=batch,
                       num_steps=steps, sampling="shuffle", chunk_size=2)
        np.testing.assert_array_equal(np.asarray(shuffled.params), np.full((1, n), float(epochs)))
    replaced = fit(count, W0, X, y, key=jax.random.key(0), optimizer=optax.sgd(1.0), batch_size=batch,
                   num_steps=n // batch, sampling="with_replacement")
    assert float(jnp.sum(replaced.params)) == n  # n draws...
    assert not np.all(np.asarray(replaced.params) == 1.0)  # ...but with repeats


@pytest.mark.slow
def test_sweep_equals_a_python_loop_over_the_same_hyperparameters():
    X, y, W0 = separable(90)
    X_val, y_val = synthetic_problem(0, num_examples=30, dim=5, num_classes=3, spread=0.3)
    key = jax.random.key(5)
    lrs, regs = [0.01, 0.1, 1.0], [0.0, 1e-2]
    result = sweep(softmax_loss, lambda lr: optax.sgd(lr, momentum=0.5), W0, X, y, key=key,
                   learning_rates=lrs, regs=regs, batch_size=16, num_steps=40, X_val=X_val, y_val=y_val)
    assert result.params.shape == (3, 2, 3, 6) and result.losses.shape == (3, 2, 40)
    for i, lr in enumerate(lrs):
        for j, reg in enumerate(regs):
            # The everyday path: reg bound by partial, the optimizer built with its lr.
            ref = fit(partial(softmax_loss, reg=reg), W0, X, y, key=key,
                      optimizer=optax.sgd(lr, momentum=0.5), batch_size=16, num_steps=40)
            chex.assert_trees_all_close(result.params[i, j], ref.params, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result.losses[i, j], ref.losses, rtol=1e-5, atol=1e-6)
            acc_val = np.mean(np.argmax(X_val @ np.asarray(ref.params).T, axis=1) == y_val)
            assert result.val_accuracy[i, j] == pytest.approx(acc_val)
            acc_train = np.mean(np.argmax(X @ np.asarray(ref.params).T, axis=1) == y)
            assert result.train_accuracy[i, j] == pytest.approx(acc_train)


@pytest.mark.parametrize("seeds", [1, 2])
def test_sweep_gathers_each_minibatch_once_for_all_models(seeds):
    # Under the sweep's vmap only lr and reg are batched: the minibatch X[idx] is one (B, D) gather
    # shared by the models of a seed (one per seed: (S, B, D)), not M gathers of shape (M, B, D).
    import jax.extend.core

    from jaxopt_course.train import make_sweep_chunk

    X, y, W0 = separable(100)
    grid = make_sweep_chunk(softmax_loss, optax.sgd, X, y, learning_rates=[0.1, 0.2, 0.3, 0.4], regs=[0.0],
                            seeds=seeds, batch_size=16)
    jaxpr = jax.make_jaxpr(lambda state: grid(state, 3))(grid.init(W0, jax.random.key(0)))

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
    kw = dict(key=jax.random.key(0), optimizer=optax.sgd(0.1), batch_size=8, num_steps=30)
    a = fit(softmax_loss, W0, X, y, unroll=1, **kw)
    b = fit(softmax_loss, W0, X, y, unroll=4, **kw)
    chex.assert_trees_all_close(a.params, b.params, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_vmap_over_keys_trains_one_model_per_seed():
    X, y, W0 = separable(60)
    train = make_train(softmax_loss, optax.sgd(0.1), X, y, batch_size=8, num_steps=20)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.vmap(train, in_axes=(None, 0))(W0, keys)
    for m in range(3):
        chex.assert_trees_all_close(batched.state.params[m], train(W0, keys[m]).state.params, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Compilation, divergence, checkpoints
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_no_retrace_on_a_second_call_with_the_same_shapes():
    X, y, W0 = separable(60)
    traces = []

    def counted_loss(W, X_b, y_b, reg=0.0):
        traces.append(1)  # runs only while JAX traces
        return softmax_loss(W, X_b, y_b, reg=reg)

    optimizer = optax.adam(0.01)
    train = make_train(counted_loss, optimizer, X, y, batch_size=8, num_steps=10)
    train(W0, jax.random.key(0))
    after_first = len(traces)
    assert after_first >= 1
    train(W0 + 0.5, jax.random.key(1))
    assert len(traces) == after_first
    # fit: the same loss and optimizer objects reuse the compiled chunk.
    fit(counted_loss, W0, X, y, key=jax.random.key(0), optimizer=optimizer, batch_size=8, num_steps=10)
    after_fit = len(traces)
    fit(counted_loss, W0 - 1.0, X, y, key=jax.random.key(3), optimizer=optimizer, batch_size=8, num_steps=10)
    assert len(traces) == after_fit
    # A traced lr / reg: new values, no new trace.
    factory = partial(get_optimizer, "sgd")
    fit(counted_loss, W0, X, y, key=jax.random.key(0), optimizer=factory, lr=0.1, reg=0.0, batch_size=8,
        num_steps=10)
    after_traced = len(traces)
    fit(counted_loss, W0, X, y, key=jax.random.key(0), optimizer=factory, lr=0.3, reg=1e-3, batch_size=8,
        num_steps=10)
    assert len(traces) == after_traced
    # And the PureJaxRL way: jax.jit(train) traces once.
    jitted = jax.jit(chex.assert_max_traces(train, n=1))
    jitted(W0, jax.random.key(0))
    jitted(W0 + 1.0, jax.random.key(9))


def diverging_run(chunk_size, W0=None, num_steps=60):
    # reg = 1 and lr = 10: the penalty's gradient 2 reg W multiplies W by (1 - 20) every step.
    X, y, W_default = separable(60)
    W0 = W_default + 0.01 if W0 is None else W0
    return fit(partial(softmax_loss, reg=1.0), W0, X, y, key=jax.random.key(0), optimizer=optax.sgd(10.0),
               batch_size=8, num_steps=num_steps, chunk_size=chunk_size)


@pytest.mark.slow
def test_divergence_names_the_step_and_keeps_the_last_finite_params():
    X, y, W_default = separable(60)
    W0 = W_default + 0.01
    # Where the loss first stops being finite, read off the pure scan's own metrics.
    pure = make_train(partial(softmax_loss, reg=1.0), optax.sgd(10.0), X, y, batch_size=8, num_steps=60)(
        W0, jax.random.key(0))
    losses = np.asarray(pure.metrics.loss)
    first_bad = int(np.flatnonzero(~np.isfinite(losses))[0])
    assert 5 < first_bad < 50
    # Chunk boundaries before, inside, and exactly at the bad step.
    for chunk_size in (7, first_bad, None):
        with pytest.raises(DivergenceError, match=rf"at step {first_bad} of 60") as info:
            diverging_run(chunk_size)
        err = info.value
        assert isinstance(err, FloatingPointError)
        assert err.step == first_bad
        assert np.all(np.isfinite(np.asarray(err.params)))
        assert err.last_finite_loss == pytest.approx(float(losses[first_bad - 1]), rel=1e-5)
        np.testing.assert_allclose(err.metrics.loss[:first_bad], losses[:first_bad], rtol=1e-5)
        assert len(err.metrics.loss) == first_bad + 1 and not np.isfinite(err.metrics.loss[-1])
        # .params are the weights of step first_bad - 1: those of a run that stops there.
        stopped = diverging_run(None, num_steps=first_bad - 1)
        np.testing.assert_allclose(np.asarray(err.params), np.asarray(stopped.params), rtol=1e-5)


def test_divergence_at_step_zero_keeps_the_initial_params():
    X, y, _ = separable(60)
    W0 = np.full((3, 6), 3e38, np.float32)  # the very first scores overflow
    with pytest.raises(DivergenceError, match="at step 0 of 5") as info:
        fit(softmax_loss, W0, X, y, key=jax.random.key(0), optimizer=optax.sgd(0.1), batch_size=8, num_steps=5)
    assert info.value.step == 0 and np.isnan(info.value.last_finite_loss)
    np.testing.assert_array_equal(np.asarray(info.value.params), W0)


@pytest.mark.slow
def test_checkpoint_is_called_with_the_carry_at_every_chunk_boundary():
    X, y, W0 = separable(60)
    saved = []
    kw = dict(key=jax.random.key(0), optimizer=get_optimizer("adam", 0.05), batch_size=8)
    fit(softmax_loss, W0, X, y, num_steps=25, chunk_size=10, checkpoint=saved.append, **kw)
    assert [int(s.step) for s in saved] == [10, 20, 25]
    assert all(isinstance(s, TrainState) for s in saved)
    for state in saved:
        # Each checkpoint equals the end of a run stopped at that step.
        ref = fit(softmax_loss, W0, X, y, num_steps=int(state.step), **kw)
        chex.assert_trees_all_close(state.params, ref.params, rtol=1e-6, atol=1e-7)
        chex.assert_trees_all_close(state.opt_state, ref.state.opt_state, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


def test_bad_arguments_are_reported_by_name():
    X, y, W0 = separable(30)
    key = jax.random.key(0)
    sgd = optax.sgd(0.1)
    with pytest.raises(ValueError, match=r"W0 must have shape \(C, D\) with D = 6"):
        fit(softmax_loss, np.zeros((3, 5), np.float32), X, y, key=key, optimizer=sgd)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=sgd, batch_size=0)
    with pytest.raises(ValueError, match=r"batch_size must be <= the number of training examples \(30\)"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=sgd, batch_size=31, sampling="shuffle")
    with pytest.raises(ValueError, match="sampling must be one of"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=sgd, sampling="bootstrap")
    with pytest.raises(ValueError, match="lr was given but optimizer is already a GradientTransformation"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=sgd, lr=0.1)
    with pytest.raises(ValueError, match="so lr must be given"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=optax.sgd)
    with pytest.raises(ValueError, match="lr must be > 0"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=optax.sgd, lr=-1.0)
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        fit(softmax_loss, W0, X, y, key=key, optimizer=sgd, X_val=X)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 2\)"):
        fit(softmax_loss, W0[:2], X, y, key=key, optimizer=sgd)
    with pytest.raises(TypeError, match="key must be a JAX random key"):
        fit(softmax_loss, W0, X, y, key=0, optimizer=sgd)
    with pytest.raises(TypeError, match="optimizer must be an optax GradientTransformation"):
        fit(softmax_loss, W0, X, y, key=key, optimizer="sgd")
    with pytest.raises(TypeError, match="sweep needs optimizer as a factory"):
        sweep(softmax_loss, sgd, W0, X, y, key=key, learning_rates=[0.1], regs=[0.0])
    with pytest.raises(ValueError, match="regs must be >= 0"):
        sweep(softmax_loss, optax.sgd, W0, X, y, key=key, learning_rates=[0.1], regs=[-1.0])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        get_optimizer("lbfgs", 0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        get_optimizer("adam", 0.0)


def test_a_learning_rate_of_the_wrong_type_fails_at_the_boundary_naming_it():
    # optax.sgd("0.1") builds without complaint and used to fail deep inside optax's update.
    X, y, W0 = separable(30)
    with pytest.raises(TypeError, match=r"optimizer cannot update weights of shape \(3, 6\).*is its learning rate "
                                        r"a number\? \(optax.sgd\(0.1\), not optax.sgd\('0.1'\)\)") as info:
        fit(softmax_loss, W0, X, y, key=jax.random.key(0), optimizer=optax.sgd("0.1"), batch_size=8, num_steps=3)
    assert info.value.__cause__ is None and str(info.traceback[-1].path).endswith("jaxopt_course/train.py")


def test_fit_takes_the_engines_one_argument_order_and_the_older_one():
    X, y, W0 = separable(60)
    kw = dict(key=jax.random.key(2), batch_size=8, num_steps=12)
    new = fit(softmax_loss, optax.sgd(0.1), W0, X, y, **kw)
    old = fit(softmax_loss, W0, X, y, optimizer=optax.sgd(0.1), **kw)
    np.testing.assert_array_equal(np.asarray(new.params), np.asarray(old.params))
    with pytest.raises(TypeError, match=r"fit takes fit\(loss_fn, optimizer, W0, X, y, \*, key, \.\.\.\) or "
                                        r"fit\(loss_fn, W0, X, y, \*, key, optimizer, \.\.\.\), got 4 positional"):
        fit(softmax_loss, W0, X, y, **kw)  # the older order without its optimizer=
    with pytest.raises(TypeError, match="got 5 positional argument.* and optimizer="):
        fit(softmax_loss, optax.sgd(0.1), W0, X, y, optimizer=optax.sgd(0.1), **kw)


@pytest.mark.slow
def test_the_public_chunks_and_initial_state_are_what_fit_runs():
    from jaxopt_course.train import initial_state, make_chunk

    X, y, W0 = separable(60)
    optimizer, key = get_optimizer("adam", 0.05), jax.random.key(1)
    kw = dict(batch_size=8, sampling="shuffle", X_val=X[:20], y_val=y[:20], eval_every=5)
    whole = fit(softmax_loss, optimizer, W0, X, y, key=key, num_steps=23, chunk_size=7, **kw)
    chunk = make_chunk(softmax_loss, optimizer, X, y, **kw)
    state = chunk.init(W0, key)
    template = initial_state(optimizer, W0, key, batch_size=8, sampling="shuffle", num_examples=len(y))
    chex.assert_trees_all_equal(state, template)  # what the CLI loads a checkpoint into
    losses, vals = [], []
    for n in (9, 9, 5):  # other chunk boundaries than fit's: the same run
        state, metrics = chunk(state, n)
        losses.append(metrics.loss)
        vals.append(metrics.val_accuracy)
    np.testing.assert_array_equal(np.asarray(state.params), np.asarray(whole.params))
    np.testing.assert_array_equal(np.concatenate(losses), whole.losses)
    # The validation accuracy after updates 5, 10, 15, 20: the same steps whatever the chunks.
    np.testing.assert_array_equal(np.flatnonzero(~np.isnan(np.concatenate(vals))) + 1, [5, 10, 15, 20])
    np.testing.assert_array_equal(whole.val_steps, [5, 10, 15, 20])
    acc = np.mean(np.argmax(X[:20] @ np.asarray(whole.params).T, axis=1) == y[:20])
    assert np.concatenate(vals)[19] == pytest.approx(np.asarray(whole.val_accuracies)[-1])
    assert 0 <= acc <= 1


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
    result = fit(partial(loss, reg=1e-4), W0, digits.train.X, digits.train.y, key=key, optimizer=optax.sgd(lr),
                 batch_size=256, num_steps=2000, X_val=digits.val.X, y_val=digits.val.y, eval_every=500)
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
    result = fit(partial(svm_loss, reg=2.5e4), W0, splits.train.X, splits.train.y, key=key,
                 optimizer=optax.sgd(1e-7), batch_size=200, num_steps=1500)
    assert evaluate(result.params, {"val": splits.val})["val"] >= 0.37
