"""Curvature: Hessians against the closed form, power iteration against eigvalsh, 2/lambda_max, Newton."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import softmax_loss, svm_loss, synthetic_problem
from jaxopt_course.curvature import (
    condition_number,
    eigenvalues,
    hessian,
    hvp,
    max_eigenvalue,
    newton,
    softmax_hessian_closed_form,
    stable_learning_rate,
)


def small_problem(seed=0, n=40, d=4, c=3):
    X, y = synthetic_problem(seed, n, d, c, spread=1.5, dtype=np.float64)
    W = np.random.default_rng(seed).standard_normal((c, d + 1)) * 0.3
    return W, X, y


@pytest.mark.slow
def test_hessian_equals_closed_form_for_softmax():
    W, X, y = small_problem()
    with jax.enable_x64(True):
        f = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.05)
        H = hessian(f, jnp.asarray(W))
        expected = softmax_hessian_closed_form(jnp.asarray(W), jnp.asarray(X), reg=0.05)
        assert H.shape == (W.size, W.size)
        np.testing.assert_allclose(H, expected, rtol=1e-10, atol=1e-12)


def test_closed_form_by_hand_one_example():
    # One example x = (1, 2), W = 0 over 2 classes: p = (1/2, 1/2), A = [[1/4, -1/4], [-1/4, 1/4]].
    H = softmax_hessian_closed_form(jnp.zeros((2, 2)), jnp.array([[1.0, 2.0]]))
    xxT = np.array([[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(H, np.kron(np.array([[0.25, -0.25], [-0.25, 0.25]]), xxT), rtol=1e-6)


def test_hvp_equals_hessian_times_vector():
    W, X, y = small_problem(1)
    v = np.random.default_rng(5).standard_normal(W.shape)
    with jax.enable_x64(True):
        f = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.01)
        np.testing.assert_allclose(
            hvp(f, jnp.asarray(W), jnp.asarray(v)).ravel(), hessian(f, jnp.asarray(W)) @ v.ravel(), rtol=1e-10
        )


def test_power_iteration_agrees_with_eigvalsh():
    W, X, y = small_problem(2)
    with jax.enable_x64(True):
        f = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.01)
        reference = np.linalg.eigvalsh(np.asarray(softmax_hessian_closed_form(W, X, 0.01)))[-1]
        lam = float(max_eigenvalue(f, jnp.asarray(W), jax.random.key(0), num_iters=300))
    assert lam == pytest.approx(reference, rel=1e-4)


@pytest.mark.parametrize("factor, decreases", [(0.9, True), (1.1, False)])
def test_gradient_descent_stable_below_two_over_lambda_max(factor, decreases):
    A = jnp.diag(jnp.array([0.5, 2.0, 8.0]))
    b = jnp.array([1.0, -1.0, 0.5])
    f = lambda w: 0.5 * w @ A @ w - b @ w  # noqa: E731
    lam = max_eigenvalue(f, jnp.zeros(3), jax.random.key(1), num_iters=200)
    assert float(lam) == pytest.approx(8.0, rel=1e-5)
    lr = factor * stable_learning_rate(lam)
    w = jnp.array([1.0, 1.0, 1.0])
    start = f(w)
    for _ in range(200):
        w = w - lr * jax.grad(f)(w)
    if decreases:
        assert f(w) < start and f(w) == pytest.approx(float(f(jnp.linalg.solve(A, b))), abs=1e-4)
    else:
        assert not bool(f(w) < start) and float(jnp.abs(w).max()) > 1e3


def test_condition_number_singular_without_reg():
    W, X, y = small_problem(3)
    with jax.enable_x64(True):
        f0 = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.0)
        f1 = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.1)
        assert condition_number(f0, jnp.asarray(W)) == float("inf")
        eig = eigenvalues(f1, jnp.asarray(W))
        assert eig[0] >= 0.2 - 1e-9  # 2 reg is a floor
        assert condition_number(f1, jnp.asarray(W)) == pytest.approx(eig[-1] / eig[0])


def test_svm_hessian_is_just_the_penalty():
    # The hinge is piecewise linear: away from kinks only 2 reg I remains.
    W, X, y = small_problem(4)
    with jax.enable_x64(True):
        H = hessian(partial(svm_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=0.3), jnp.asarray(W))
    np.testing.assert_allclose(H, 0.6 * np.eye(W.size), atol=1e-12)


@pytest.mark.parametrize("solver", ["direct", "cg"])
def test_newton_reaches_sklearn_logistic_regression_minimum(solver):
    from sklearn.linear_model import LogisticRegression

    W, X, y = small_problem(6, n=60)
    n, reg = len(y), 0.01
    # sklearn minimises 0.5 ||w||^2 + C sum_i CE_i; ours mean CE + reg ||W||^2: C = 1 / (2 reg n).
    sk = LogisticRegression(C=1 / (2 * reg * n), fit_intercept=False, tol=1e-12, max_iter=10000).fit(X, y)
    with jax.enable_x64(True):
        f = partial(softmax_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=reg)
        result = newton(f, jnp.zeros_like(jnp.asarray(W)), num_steps=12, solver=solver, cg_iters=100)
        ours, theirs = float(result.losses[-1]), float(f(jnp.asarray(sk.coef_)))
        assert np.all(np.diff(np.asarray(result.losses)) <= 1e-12)
        # softmax is invariant to adding the same vector to every row; compare centred rows
        centre = lambda M: np.asarray(M) - np.asarray(M).mean(axis=0)  # noqa: E731
        np.testing.assert_allclose(centre(result.params), centre(sk.coef_), atol=1e-5)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_newton_quadratic_in_one_step():
    A = jnp.array([[3.0, 1.0], [1.0, 2.0]])
    b = jnp.array([1.0, 1.0])
    result = newton(lambda w: 0.5 * w @ A @ w - b @ w, jnp.zeros(2), num_steps=1, solver="direct")
    np.testing.assert_allclose(result.params, np.linalg.solve(np.asarray(A), np.asarray(b)), rtol=1e-5)


def test_bad_arguments():
    f = lambda w: jnp.sum(w**2)  # noqa: E731
    with pytest.raises(ValueError, match="solver must be"):
        newton(f, jnp.zeros(2), solver="qr")
    with pytest.raises(ValueError, match="lam_max must be > 0"):
        stable_learning_rate(0.0)
    with pytest.raises(ValueError, match="its Hessian would hold"):
        hessian(f, jnp.zeros((10, 3073)))
    with pytest.raises(ValueError, match="num_iters must be > 0"):
        max_eigenvalue(f, jnp.zeros(2), jax.random.key(0), num_iters=0)


def test_newton_takes_the_data_as_arguments_and_equals_the_closure_form():
    """``newton(f, W0, args=(X, y, reg))`` (data as arguments of the compiled step) == the closure form."""
    from jaxopt_course.curvature import full_objective

    W, X, y = small_problem(3)
    with jax.enable_x64(True):
        X, y = jnp.asarray(X), jnp.asarray(y)
        closure = newton(
            partial(softmax_loss, X=X, y=y, reg=0.05),
            jnp.zeros_like(jnp.asarray(W)),
            4,
            solver="cg",
            cg_tol=1e-12,
            cg_iters=100,
        )
        as_args = newton(
            partial(full_objective, loss="softmax", block_rows=16),
            jnp.zeros_like(jnp.asarray(W)),
            4,
            solver="cg",
            cg_tol=1e-12,
            cg_iters=100,
            args=(X, y, 0.05),
        )
    np.testing.assert_allclose(as_args.params, closure.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(as_args.losses, closure.losses, rtol=1e-12)


@pytest.mark.parametrize("tol, maxiter", [(1e-10, 50), (0.0, 3)])
def test_the_one_cg_solver_matches_jax_scipy_cg_and_counts_its_products(tol, maxiter):
    """``_cg`` (newton's and minimize_newton_cg's solver) gives jax.scipy's iterates, and says how many products."""
    from jaxopt_course.curvature import _cg

    rng = np.random.default_rng(7)
    M = rng.standard_normal((8, 8))
    A = M @ M.T + 0.1 * np.eye(8)
    b = rng.standard_normal(8)
    with jax.enable_x64(True):
        A_, b_ = jnp.asarray(A), jnp.asarray(b)
        x, products = jax.jit(lambda b: _cg(lambda v: A_ @ v, b, tol, maxiter))(b_)
        reference, _ = jax.scipy.sparse.linalg.cg(lambda v: A_ @ v, b_, tol=tol, maxiter=maxiter)
    np.testing.assert_allclose(x, reference, rtol=1e-12, atol=1e-14)
    if tol:
        assert 0 < int(products) < maxiter
        assert np.linalg.norm(A @ np.asarray(x) - b) <= tol * np.linalg.norm(b) * 1.0001
    else:
        assert int(products) == maxiter
