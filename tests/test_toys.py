"""The tea-temperature toys: their formulas, their minima, and the stories they tell."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxopt_course import toys
from jaxopt_course.search import grid_search

SETTINGS = settings(derandomize=True, deadline=None, max_examples=30)


# Independent NumPy restatements of the documented formulas (float64).
def np_tea(t):
    u = (t - 60.0) / 10.0
    return np.exp(u) - u - 1.0


def np_tea_local_minima(t):
    return np_tea(t) - 3.0 * np.exp(-(((t - 10.0) / 5.0) ** 2)) - 1.0 * np.exp(-(((t - 35.0) / 4.0) ** 2))


def np_tea_wiggly(t):
    return np_tea(t) + 0.1 * np.sin(2 * np.pi * t / 4.0)


NUMPY_TOYS = {"smooth": np_tea, "local_minima": np_tea_local_minima, "wiggly": np_tea_wiggly}
DENSE = np.linspace(0.0, 100.0, 1_000_001)  # 1e-4 degree resolution


@pytest.mark.parametrize("name", sorted(NUMPY_TOYS))
def test_toys_match_their_documented_formulas(name):
    t = np.linspace(0.0, 100.0, 2001)
    with jax.enable_x64(True):
        got = np.asarray(toys.get_tea_cost(name)(jnp.asarray(t)))
    np.testing.assert_allclose(got, NUMPY_TOYS[name](t), rtol=1e-12, atol=1e-12)


def test_smooth_tea_has_its_single_minimum_at_60_degrees():
    # Closed form: d/dt [exp(u) - u - 1] = (exp(u) - 1) / 10 = 0  <=>  t = 60.
    with jax.enable_x64(True):
        slope = jax.grad(toys.tea_cost)
        assert float(toys.tea_cost(60.0)) == 0.0
        assert float(slope(60.0)) == 0.0
        # Strictly decreasing below 60, increasing above: one minimum.
        below = jax.vmap(slope)(jnp.linspace(0.0, 59.9, 500))
        above = jax.vmap(slope)(jnp.linspace(60.1, 100.0, 500))
    assert np.all(np.asarray(below) < 0) and np.all(np.asarray(above) > 0)
    assert toys.TEA_BEST_TEMPERATURE == 60.0


@SETTINGS
@given(t=st.floats(0.0, 100.0).filter(lambda t: abs(t - 60.0) > 1e-3))
def test_smooth_tea_is_positive_away_from_the_best_cup(t):
    with jax.enable_x64(True):
        assert float(toys.tea_cost(t)) > 0.0


def test_toys_work_elementwise_on_arrays():
    t = jnp.array([[0.0, 60.0], [35.0, 100.0]])
    for f in toys.TEA_COSTS.values():
        out = f(t)
        assert out.shape == (2, 2)
        np.testing.assert_allclose(np.asarray(out)[0, 1], float(f(60.0)), rtol=1e-6)


def test_gradient_descent_1d_on_a_parabola_follows_the_closed_form():
    # f = (t - 3)^2: t_k - 3 = (1 - 2 s)^k (t_0 - 3).
    with jax.enable_x64(True):
        ts, costs = toys.gradient_descent_1d(lambda t: (t - 3.0) ** 2, 10.0, step_size=0.1, steps=25)
    k = np.arange(26)
    np.testing.assert_allclose(np.asarray(ts), 3.0 + 0.8**k * 7.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(costs), (0.8**k * 7.0) ** 2, rtol=1e-12)


def test_gradient_descent_finds_the_smooth_minimum_from_anywhere():
    for start in (2.0, 30.0, 90.0):
        ts, _ = toys.gradient_descent_1d(toys.tea_cost, start, step_size=5.0, steps=1000)
        assert abs(float(ts[-1]) - 60.0) < 1e-3


def test_local_minima_trap_gradient_descent_but_not_exhaustive_search():
    f = toys.tea_cost_local_minima
    dense = np_tea_local_minima(DENSE)
    best_t = DENSE[np.argmin(dense)]
    assert abs(best_t - 60.0) < 0.01
    # Gradient descent started in the cold rolls into the iced-tea valley...
    ts, costs = toys.gradient_descent_1d(f, 5.0, step_size=5.0, steps=500)
    assert 8.0 < float(ts[-1]) < 13.0 and float(costs[-1]) > 0.9
    # ...and from 20 C into the forgotten-cup valley near 36 C.
    ts, costs = toys.gradient_descent_1d(f, 20.0, step_size=5.0, steps=500)
    assert 34.0 < float(ts[-1]) < 38.0 and float(costs[-1]) > 0.5
    # Started on the right slope it finds the best cup.
    ts, _ = toys.gradient_descent_1d(f, 50.0, step_size=5.0, steps=500)
    assert abs(float(ts[-1]) - best_t) < 0.01
    # Exhaustive search does not care: one degree apart, it lands next to the best cup.
    result = grid_search(f, jnp.linspace(0.0, 100.0, 101))
    assert abs(float(result.params) - best_t) <= 0.5
    assert float(result.loss) < 0.01


def test_wiggles_trap_small_gradient_steps_but_not_exhaustive_search():
    f = toys.tea_cost_wiggly
    dense = np_tea_wiggly(DENSE)
    best_t = DENSE[np.argmin(dense)]
    assert 58.0 < best_t < 60.0
    ts, costs = toys.gradient_descent_1d(f, 20.0, step_size=5.0, steps=500)
    assert abs(float(ts[-1]) - 20.0) < 2.0  # stuck in the first ripple
    assert float(costs[-1]) > dense.min() + 2.0
    grid = jnp.linspace(0.0, 100.0, 401)  # 0.25 degree spacing, finer than a ripple
    result = grid_search(f, grid)
    assert abs(float(result.params) - best_t) <= 0.25
    np.testing.assert_allclose(float(result.loss), dense.min(), atol=2e-3)


def test_get_tea_cost_and_bad_arguments():
    assert toys.get_tea_cost("smooth") is toys.tea_cost
    with pytest.raises(ValueError, match="toy must be one of"):
        toys.get_tea_cost("oolong")
    with pytest.raises(TypeError, match="f must be"):
        toys.gradient_descent_1d("tea", 20.0)
    with pytest.raises(TypeError, match="temperature must be a real scalar"):
        toys.gradient_descent_1d(toys.tea_cost, [20.0, 30.0])
    with pytest.raises(ValueError, match="temperature must be finite"):
        toys.gradient_descent_1d(toys.tea_cost, float("nan"))
    with pytest.raises(ValueError, match="step_size must be > 0"):
        toys.gradient_descent_1d(toys.tea_cost, 20.0, step_size=0.0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        toys.gradient_descent_1d(toys.tea_cost, 20.0, steps=0)
