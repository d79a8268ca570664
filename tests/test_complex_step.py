"""The complex-step derivative: machine precision for analytic losses, a clear refusal for the SVM.

References: the hand-derived softmax gradient (:mod:`jaxopt_course.analytic`),
closed-form derivatives of elementary functions, and the finite differences'
known round-off growth.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxopt_course import softmax_loss, softmax_per_example, svm_loss, svm_per_example, synthetic_problem
from jaxopt_course.analytic import softmax_loss_and_grad
from jaxopt_course.gradcheck import complex_step_gradient, numerical_gradient, step_size_study


def softmax_problem(seed=0, n=40, d=6, c=4, w_scale=1.0):
    X, y = synthetic_problem(seed, n, d, c, spread=1.5, dtype=np.float64)
    W = w_scale * np.random.default_rng(seed).standard_normal((c, d + 1))
    return W, X, y


def max_relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


@pytest.mark.parametrize("h", [1e-20, 1e-100, 1e-200])
def test_equals_the_hand_derived_softmax_gradient_to_machine_precision(h):
    W, X, y = softmax_problem()
    with jax.enable_x64(True):
        W, X, y = jnp.asarray(W), jnp.asarray(X), jnp.asarray(y)
        _, dW = softmax_loss_and_grad(W, X, y, reg=0.1)
        g = complex_step_gradient(lambda W: softmax_loss(W, X, y, reg=0.1), W, h=h)
        assert g.dtype == jnp.float64 and g.shape == W.shape
    g, dW = np.asarray(g), np.asarray(dW)
    assert np.linalg.norm(g - dW) / np.linalg.norm(dW) < 1e-13
    # Elementwise too. A component that is a near-cancelling sum over examples (here one is 2e-4
    # where the largest is 0.6) carries ~eps * (its terms) of round-off in ANY method -- the hand
    # formula included -- so the 1e-13 bound holds where |dW| is at least 1 % of the largest.
    large = np.abs(dW) >= 1e-2 * np.abs(dW).max()
    assert large.sum() > 0.8 * dW.size
    assert max_relative_error(g[large], dW[large]) < 1e-13
    assert max_relative_error(g, dW) < 1e-12


def test_large_scores_use_the_real_max_shift():
    # Scores of order 1e3: without the shift (on the real part) exp would overflow.
    W, X, y = softmax_problem(1, w_scale=300.0)
    with jax.enable_x64(True):
        W, X, y = jnp.asarray(W), jnp.asarray(X), jnp.asarray(y)
        assert float(jnp.max(jnp.abs(X @ W.T))) > 500
        _, dW = softmax_loss_and_grad(W, X, y, reg=1e-3)
        g = complex_step_gradient(lambda W: softmax_loss(W, X, y, reg=1e-3), W)
    g, dW = np.asarray(g), np.asarray(dW)
    assert np.all(np.isfinite(g))
    # Saturated softmax: many entries are ~1e-100; compare on the gradient's scale.
    assert np.max(np.abs(g - dW)) <= 1e-13 * np.max(np.abs(dW))


@settings(derandomize=True, deadline=None, max_examples=20)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 5.0), reg=st.floats(0.0, 1.0))
@pytest.mark.slow
def test_matches_the_hand_derived_gradient_for_any_weights(seed, scale, reg):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, 5))
    y = rng.integers(0, 3, 12).astype(np.int32)
    W = scale * rng.standard_normal((3, 5))
    with jax.enable_x64(True):
        _, dW = softmax_loss_and_grad(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg=reg)
        g = complex_step_gradient(partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=reg), jnp.asarray(W))
    np.testing.assert_allclose(np.asarray(g), np.asarray(dW), rtol=1e-12, atol=1e-14 * float(np.abs(dW).max()))


def test_elementary_functions_and_pytrees():
    # d/da sum(a**3) = 3 a**2; d/db sum(sin b) = cos b; d/dc exp(c) log(1 + c^2) by hand.
    a, b, c = np.array([0.5, -2.0]), np.array([[0.1, 1.0], [2.0, -3.0]]), np.array([0.7])
    with jax.enable_x64(True):

        def f(p):
            return jnp.sum(p["a"] ** 3) + jnp.sum(jnp.sin(p["b"])) + jnp.sum(jnp.exp(p["c"]) * jnp.log1p(p["c"] ** 2))

        g = complex_step_gradient(f, {"a": jnp.asarray(a), "b": jnp.asarray(b), "c": jnp.asarray(c)})
    np.testing.assert_allclose(g["a"], 3 * a**2, rtol=1e-15)
    np.testing.assert_allclose(g["b"], np.cos(b), rtol=1e-15)
    np.testing.assert_allclose(g["c"], np.exp(c) * (np.log1p(c**2) + 2 * c / (1 + c**2)), rtol=1e-15)


def test_float32_gives_float32_and_chunking_changes_nothing():
    W, X, y = softmax_problem(2)
    W32, X32 = jnp.asarray(W, jnp.float32), jnp.asarray(X, jnp.float32)
    f = partial(softmax_loss, X=X32, y=jnp.asarray(y), reg=0.01)
    g = complex_step_gradient(f, W32)
    assert g.dtype == jnp.float32
    with jax.enable_x64(True):
        exact = np.asarray(softmax_loss_and_grad(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg=0.01)[1])
    assert float(np.linalg.norm(np.asarray(g, np.float64) - exact) / np.linalg.norm(exact)) < 1e-5
    np.testing.assert_allclose(complex_step_gradient(f, W32, chunk_size=3), g, rtol=1e-6)


@pytest.mark.slow
def test_flat_where_finite_differences_turn_up():
    # Finite differences lose digits as h shrinks (round-off ~ eps / h); the complex step does not.
    study = step_size_study(hs=[1e-10, 1e-7, 1e-4], methods=("forward", "central", "complex"), dtypes=("float64",))
    err = study["error"]["float64"]
    assert max(err["complex"][:2]) < 1e-14
    assert err["forward"][0] > 1e-7 and err["central"][0] > 1e-7  # round-off at h = 1e-10
    assert err["forward"][0] > err["forward"][1] and err["central"][0] > err["central"][1]  # turned up
    assert study["best_error"]["float64"]["complex"] < 1e-3 * study["best_error"]["float64"]["central"]
    assert study["theory_h"]["float64"]["complex"] == pytest.approx(np.finfo(np.float64).eps ** 0.5)


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_f",
    [
        lambda X, y: partial(svm_loss, X=X, y=y),
        lambda X, y: partial(partial(svm_loss, reg=0.1), X=X, y=y),
        lambda X, y: partial(svm_per_example, X=X, y=y),
        lambda X, y: lambda W: svm_loss(W, X, y),  # not recognisable: caught by its TypeError
    ],
    ids=["partial", "nested-partial", "per-example", "lambda"],
)
def test_the_svm_is_a_clear_value_error(make_f):
    W, X, y = softmax_problem(3)
    f = make_f(jnp.asarray(X, jnp.float32), jnp.asarray(y))
    with pytest.raises(ValueError, match="hinge .* is not analytic"):
        complex_step_gradient(f, jnp.asarray(W, jnp.float32))


def test_losses_that_drop_the_imaginary_part_are_refused():
    with pytest.raises(ValueError, match="dropped the imaginary part"):
        complex_step_gradient(lambda w: jnp.sum(jnp.abs(w)), jnp.ones(3))
    with pytest.raises(ValueError, match="scalar"):
        complex_step_gradient(lambda w: w * 2, jnp.ones(3))


def test_complex_data_are_still_refused_by_softmax():
    W, X, y = softmax_problem(4)
    X_complex = jnp.asarray(X, jnp.complex64)
    with pytest.raises(TypeError, match="X must be a real floating array"):
        softmax_loss(jnp.asarray(W, jnp.float32), X_complex, jnp.asarray(y))
    with pytest.raises(TypeError, match="X must be a real floating array"):
        softmax_per_example(jnp.asarray(W, jnp.complex64), X_complex, jnp.asarray(y))
    # ...and a complex W is accepted, giving a complex loss whose real part is the real loss.
    Wc = jnp.asarray(W, jnp.float32) + 1e-3j
    out = softmax_loss(Wc, jnp.asarray(X, jnp.float32), jnp.asarray(y))
    assert jnp.iscomplexobj(out)


def test_bad_arguments():
    f = lambda w: jnp.sum(jnp.exp(w))  # noqa: E731
    with pytest.raises(ValueError, match="h must be > 0"):
        complex_step_gradient(f, jnp.ones(2), h=0.0)
    with pytest.raises(ValueError, match="underflow"):
        complex_step_gradient(f, jnp.ones(2, jnp.float32), h=1e-100)
    with pytest.raises(TypeError, match="W must be a real floating array"):
        complex_step_gradient(f, jnp.ones(2, jnp.complex64))
    with pytest.raises(TypeError, match="f must be a callable"):
        complex_step_gradient("softmax", jnp.ones(2))
    with pytest.raises(ValueError, match="chunk_size"):
        complex_step_gradient(f, jnp.ones(2), chunk_size=0)
    with pytest.raises(ValueError, match="methods must hold some of"):
        step_size_study(methods=("backward",))
    # numerical_gradient itself has no complex method: the complex step is its own function.
    with pytest.raises(ValueError, match="method must be one of"):
        numerical_gradient(f, jnp.ones(2), method="complex")
