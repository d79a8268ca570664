"""Exhaustive, random and random local search, checked against NumPy loops."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxopt_course import accuracy, svm_loss, toys
from jaxopt_course.cli import main
from jaxopt_course.search import SearchResult, grid_search, random_local_search, random_search

SETTINGS = settings(derandomize=True, deadline=None, max_examples=20)


def np_svm_loss(W, X, y, margin=1.0):
    """The Weston-Watkins SVM loss as a NumPy loop over examples (float64)."""
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    total = 0.0
    for x_i, y_i in zip(X, np.asarray(y), strict=True):
        s = W @ x_i
        for j in range(W.shape[0]):
            if j != y_i:
                total += max(0.0, s[j] - s[y_i] + margin)
    return total / len(X)


def small_problem(seed=0, n=30, d=4, c=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, c, n).astype(np.int32)
    return X, y


# ---------------------------------------------------------------------------
# grid_search
# ---------------------------------------------------------------------------


def test_grid_search_finds_the_tea_minimum_to_grid_resolution():
    # 38 points over [0, 100]: a spacing of 2.7 degrees that never hits 60 exactly.
    grid = np.linspace(0.0, 100.0, 38)
    spacing = grid[1] - grid[0]
    result = grid_search(toys.tea_cost, grid)
    assert isinstance(result, SearchResult)
    assert abs(float(result.params) - 60.0) <= spacing / 2  # closed-form minimum: 60 C
    numpy_best = grid[np.argmin([np.exp((t - 60) / 10) - (t - 60) / 10 - 1 for t in grid])]
    assert float(result.params) == pytest.approx(numpy_best, rel=1e-6)
    assert result.losses.shape == (38,)
    np.testing.assert_allclose(float(result.loss), np.min(np.asarray(result.losses)))


def test_grid_search_history_is_the_running_best():
    grid = jnp.linspace(0.0, 100.0, 21)
    result = grid_search(toys.tea_cost_local_minima, grid)
    losses = np.asarray(result.losses)
    np.testing.assert_array_equal(np.asarray(result.history), np.minimum.accumulate(losses))
    assert float(result.history[-1]) == float(result.loss)


@SETTINGS
@given(a=st.floats(-2.9, 2.9), b=st.floats(-2.9, 2.9))
@pytest.mark.slow
def test_grid_search_over_a_product_of_grids_matches_numpy(a, b):
    ga, gb = np.linspace(-3.0, 3.0, 13), np.linspace(-3.0, 3.0, 7)

    def f(x1, x2):
        return (x1 - a) ** 2 + 2.0 * (x2 - b) ** 2

    result = grid_search(f, [ga, gb])
    assert result.params.shape == (2,)
    assert result.losses.shape == (13, 7)
    A, B = np.meshgrid(ga, gb, indexing="ij")
    reference = (A - a) ** 2 + 2.0 * (B - b) ** 2
    np.testing.assert_allclose(float(result.loss), reference.min(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(f(*np.asarray(result.params, np.float64))), reference.min(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(result.losses), reference, rtol=1e-5, atol=1e-6)


def test_grid_search_chunking_does_not_change_the_answer():
    grid = jnp.linspace(0.0, 100.0, 101)
    a = grid_search(toys.tea_cost_wiggly, grid)
    b = grid_search(toys.tea_cost_wiggly, grid, chunk_size=7)
    np.testing.assert_allclose(np.asarray(a.losses), np.asarray(b.losses), rtol=1e-6, atol=1e-7)
    assert float(a.params) == float(b.params)


def test_grid_search_rejects_bad_arguments():
    with pytest.raises(TypeError, match="f must be a function"):
        grid_search(3.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="grid must be a 1-D array"):
        grid_search(toys.tea_cost, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="grid must hold at least one value"):
        grid_search(toys.tea_cost, np.array([]))
    with pytest.raises(ValueError, match="grid must be finite"):
        grid_search(toys.tea_cost, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"f must return a scalar loss .* got an output of shape \(2,\)"):
        grid_search(lambda t: jnp.stack([t, t]), np.array([1.0, 2.0]))


# ---------------------------------------------------------------------------
# random_search
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_random_search_matches_the_lectures_numpy_loop():
    X, y = small_problem()
    key = jax.random.key(3)
    result = random_search(lambda W: svm_loss(W, X, y), key, (3, 4), trials=40, scale=0.5, chunk_size=16)
    # The lecture's loop, in NumPy: same draws (fold_in(key, t)), loss and choice computed here.
    best_loss, best_W, history = np.inf, None, []
    for t in range(40):
        W = 0.5 * np.asarray(jax.random.normal(jax.random.fold_in(key, t), (3, 4)), np.float64)
        loss = np_svm_loss(W, X, y)
        if loss < best_loss:
            best_loss, best_W = loss, W
        history.append(best_loss)
    np.testing.assert_allclose(np.asarray(result.history), history, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(result.params), best_W, rtol=1e-6)
    np.testing.assert_allclose(float(result.loss), best_loss, rtol=1e-5)


@settings(derandomize=True, deadline=None, max_examples=8)  # each example compiles a new search
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 10.0))
@pytest.mark.slow
def test_random_search_properties(seed, scale):
    X, y = small_problem()
    result = random_search(
        lambda W: svm_loss(W, X, y), jax.random.key(seed), (3, 4), trials=12, scale=scale, chunk_size=5
    )
    history, losses = np.asarray(result.history), np.asarray(result.losses)
    assert np.all(np.diff(history) <= 0)
    assert float(result.loss) == losses.min() == history[-1]
    # The returned W really has the returned loss (it is redrawn from its key).
    np.testing.assert_allclose(np_svm_loss(result.params, X, y), float(result.loss), rtol=1e-5)


@pytest.mark.slow
def test_random_search_chunking_does_not_change_the_answer():
    X, y = small_problem()
    key = jax.random.key(0)
    a = random_search(lambda W: svm_loss(W, X, y), key, (3, 4), trials=30, chunk_size=30)
    b = random_search(lambda W: svm_loss(W, X, y), key, (3, 4), trials=30, chunk_size=4)
    np.testing.assert_allclose(np.asarray(a.losses), np.asarray(b.losses), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(a.params), np.asarray(b.params))


def test_random_search_rejects_bad_arguments():
    f = lambda W: jnp.sum(W)  # noqa: E731
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="loss_fn must be a function"):
        random_search(None, key, (2, 2))
    with pytest.raises(TypeError, match="key must be a JAX random key"):
        random_search(f, 0, (2, 2))
    with pytest.raises(ValueError, match="shape must be a tuple of positive integers"):
        random_search(f, key, (2, 0))
    with pytest.raises(ValueError, match="trials must be >= 1"):
        random_search(f, key, (2, 2), trials=0)
    with pytest.raises(ValueError, match="scale must be >= 0"):
        random_search(f, key, (2, 2), scale=-1.0)
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        random_search(lambda W: W, key, (2, 2), trials=3)


# ---------------------------------------------------------------------------
# random_local_search
# ---------------------------------------------------------------------------


def test_random_local_search_matches_cs231n_numpy_loop():
    X, y = small_problem(1)
    key = jax.random.key(7)
    W0 = 0.01 * np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    result = random_local_search(lambda W: svm_loss(W, X, y), key, W0, steps=60, step_size=0.05)
    # CS231n's loop: bestloss = inf; W_try = W + randn * step_size; keep if the loss drops.
    W, best_loss, history = W0.astype(np.float64), np.inf, []
    for t in range(60):
        W_try = W + 0.05 * np.asarray(jax.random.normal(jax.random.fold_in(key, t), (3, 4)), np.float64)
        loss = np_svm_loss(W_try, X, y)
        if loss < best_loss:
            W, best_loss = W_try, loss
        history.append(best_loss)
    np.testing.assert_allclose(np.asarray(result.history), history, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(result.params), W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(result.loss), best_loss, rtol=1e-5)
    assert result.losses.shape == (60,)


def test_random_local_search_rejects_bad_arguments():
    f = lambda W: jnp.sum(W**2)  # noqa: E731
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="W0 must be finite"):
        random_local_search(f, key, np.array([np.inf, 1.0], np.float32))
    with pytest.raises(TypeError, match="W0 must be a floating array"):
        random_local_search(f, key, np.array([1, 2]))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        random_local_search(f, key, np.zeros(2, np.float32), steps=0)
    with pytest.raises(ValueError, match="step_size must be > 0"):
        random_local_search(f, key, np.zeros(2, np.float32), step_size=0.0)
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        random_local_search(lambda W: W, key, np.zeros(2, np.float32))


# ---------------------------------------------------------------------------
# On real data: the lecture's ranking
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_on_digits_local_search_beats_random_search_with_equal_evaluations(digits):
    X, y = jnp.asarray(digits.train.X), jnp.asarray(digits.train.y)
    loss_fn = lambda W: svm_loss(W, X, y)  # noqa: E731
    shape = (digits.num_classes, digits.dim)
    key_random, key_init, key_local = jax.random.split(jax.random.key(0), 3)
    evaluations = 1000
    # CS231n's settings: random W = 1e-4 randn; local search from 1e-3 randn with steps of 1e-4.
    rand = random_search(loss_fn, key_random, shape, trials=evaluations, scale=1e-4)
    W0 = 1e-3 * jax.random.normal(key_init, shape)
    local = random_local_search(loss_fn, key_local, W0, steps=evaluations, step_size=1e-4)
    assert rand.losses.shape == local.losses.shape == (evaluations,)
    acc_random = float(accuracy(rand.params, digits.test.X, digits.test.y))
    acc_local = float(accuracy(local.params, digits.test.X, digits.test.y))
    chance = 1.0 / digits.num_classes
    assert acc_random > chance + 0.03
    assert acc_local > acc_random + 0.2
    assert float(local.loss) < float(rand.loss)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_cli_search_grid_on_the_tea_toy(capsys):
    assert main(["search", "--method", "grid", "--points", "201", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "grid" and out["evaluations"] == 201
    assert abs(out["best_temperature"] - 60.0) <= 0.25
    assert out["best_loss"] >= 0.0


@pytest.mark.slow
def test_cli_search_random_and_local_on_digits(capsys):
    results = {}
    for method in ("random", "local"):
        assert main(["search", "--method", method, "--trials", "200", "--json"]) == 0
        results[method] = json.loads(capsys.readouterr().out)
    for out in results.values():
        assert out["evaluations"] == 200
        assert {"train_accuracy", "val_accuracy", "test_accuracy", "best_loss"} <= set(out)
        assert 0.1 < out["test_accuracy"] <= 1.0
    assert results["local"]["best_loss"] < results["random"]["best_loss"]


def test_cli_search_bad_arguments(capsys):
    assert main(["search", "--method", "annealing"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["search", "--method", "random", "--trials", "0"]) == 2
    assert "positive integer" in capsys.readouterr().err


def test_shape_entries_go_through_the_one_integer_check():
    for bad in ((10, 0), (10, 2.5), (True, 3), "10x3", (10, -1)):
        with pytest.raises(ValueError, match="shape must be a tuple of positive integers"):
            random_search(lambda W: jnp.sum(W**2), jax.random.key(0), bad, trials=2)
    result = random_search(lambda W: jnp.sum(W**2), jax.random.key(0), (np.int64(2), 3), trials=2)
    assert result.params.shape == (2, 3)  # NumPy integers are integers
