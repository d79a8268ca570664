"""Numerical gradients, relative error, check_gradient and the step-size study.

References, all independent of the code under test: functions with known
derivatives (exp, sin, quadratics), the hand-derived gradients of
analytic.py, ``jax.grad`` and ``jax.test_util.check_grads`` (JAX's own finite
differences), and NumPy loops.
"""

from __future__ import annotations

import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxopt_course import analytic, losses, synthetic_problem
from jaxopt_course.gradcheck import (
    GradCheckReport,
    check_gradient,
    numerical_gradient,
    numerical_gradient_linear,
    relative_error,
    step_size_study,
    svm_kink_crossings,
)

SETTINGS = dict(derandomize=True, deadline=None, max_examples=10)


def smooth_problem(seed, dtype=np.float64, n=60, dim=8, c=4, w_scale=0.3):
    """Gaussian blobs and a random W: gradients of size 1e-3 .. 1, no tiny ones."""
    X, y = synthetic_problem(seed, num_examples=n, dim=dim, num_classes=c, dtype=dtype)
    W = w_scale * np.random.default_rng(seed + 100).standard_normal((c, dim + 1)).astype(dtype)
    return jnp.asarray(W), jnp.asarray(X), jnp.asarray(y)


def integer_problem(seed):
    """Integer data and half-integer weights: margins are multiples of 0.5, many exactly 0 (kinks)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, (12, 6)).astype(np.float64)
    X[:, -1] = 1.0
    y = rng.integers(0, 4, 12).astype(np.int32)
    W = 0.5 * rng.integers(-2, 3, (4, 6)).astype(np.float64)
    return jnp.asarray(W), jnp.asarray(X), jnp.asarray(y)


# ---------------------------------------------------------------------------
# Finite differences of functions with known derivatives.
# ---------------------------------------------------------------------------


def test_lecture_forward_difference_by_hand():
    # The lecture's slope: (f(x + h) - f(x)) / h, here f(w) = w0 * w1 + w1**2
    # at (2, 3) with h = 0.5: ((2.5*3 + 9) - 15)/0.5 = 3, ((2*3.5 + 12.25) - 15)/0.5 = 8.5.
    f = lambda w: w[0] * w[1] + w[1] ** 2  # noqa: E731
    g = numerical_gradient(f, jnp.array([2.0, 3.0]), h=0.5)
    np.testing.assert_allclose(np.asarray(g), [3.0, 8.5], rtol=1e-6)
    # Central: ((2.5*3) - (1.5*3))/1 = 3; ((2*3.5 + 12.25) - (2*2.5 + 6.25))/1 = 8.
    g = numerical_gradient(f, jnp.array([2.0, 3.0]), h=0.5, method="central")
    np.testing.assert_allclose(np.asarray(g), [3.0, 8.0], rtol=1e-6)


def test_forward_is_first_order_and_central_second_order():
    # exp: forward error ~ h/2 * e^x, central error ~ h^2/6 * e^x (float64, so
    # round-off is far below these for h >= 1e-4).
    x = np.array([0.3, -0.5, 1.0])
    exact = np.exp(x)
    with jax.enable_x64(True):
        f = lambda w: jnp.sum(jnp.exp(w))  # noqa: E731
        errors = {}
        for method in ("forward", "central"):
            errors[method] = [
                np.max(np.abs(np.asarray(numerical_gradient(f, jnp.asarray(x), h=h, method=method)) - exact) / exact)
                for h in (1e-2, 1e-3, 1e-4)
            ]
    fwd, cen = errors["forward"], errors["central"]
    # Ten times smaller h: ten times smaller forward error, a hundred times smaller central.
    assert 9.0 < fwd[0] / fwd[1] < 11.0 and 9.0 < fwd[1] / fwd[2] < 11.0
    assert 90.0 < cen[0] / cen[1] < 110.0
    # The leading Taylor terms themselves.
    assert fwd[1] == pytest.approx(1e-3 / 2, rel=0.01)
    assert cen[0] == pytest.approx(1e-4 / 6, rel=0.01)


@settings(**SETTINGS)
@given(a=st.floats(-3, 3), b=st.floats(-3, 3), x=st.floats(-2, 2))
def test_quadratic_central_exact_forward_off_by_a_h(a, b, x):
    # f = a x^2 + b x: central difference is exact, forward is f' + a h.
    h = 1e-3
    with jax.enable_x64(True):
        f = lambda w: a * w[0] ** 2 + b * w[0]  # noqa: E731
        w = jnp.array([x])
        central = float(numerical_gradient(f, w, h=h, method="central")[0])
        forward = float(numerical_gradient(f, w, h=h, method="forward")[0])
    assert central == pytest.approx(2 * a * x + b, abs=1e-9)
    assert forward == pytest.approx(2 * a * x + b + a * h, abs=1e-9)


def test_any_shape_and_pytrees():
    with jax.enable_x64(True):
        params = {"W": jnp.arange(6.0).reshape(2, 3) / 7, "b": jnp.array([0.5, -1.0])}

        def f(p):
            return jnp.sum(jnp.sin(p["W"])) + jnp.sum(p["b"] ** 3)

        g = numerical_gradient(f, params, h=1e-5, method="central")
        chex.assert_trees_all_equal_shapes_and_dtypes(g, params)
        np.testing.assert_allclose(np.asarray(g["W"]), np.cos(np.arange(6.0).reshape(2, 3) / 7), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(g["b"]), [0.75, 3.0], rtol=1e-9)
        cube = jnp.linspace(-1, 1, 24).reshape(2, 3, 4)
        g3 = numerical_gradient(lambda w: jnp.sum(w**2), cube, h=1e-4, method="central")
        np.testing.assert_allclose(np.asarray(g3), 2 * np.asarray(cube), atol=1e-9)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10_000])
def test_chunk_size_does_not_change_values(chunk_size):
    # Only the batching changes (so the order of round-off in the products).
    with jax.enable_x64(True):
        W, X, y = smooth_problem(0)
        f = lambda W: losses.softmax_loss(W, X, y)  # noqa: E731
        reference = numerical_gradient(f, W, chunk_size=36)  # exactly one chunk
        np.testing.assert_allclose(
            np.asarray(numerical_gradient(f, W, chunk_size=chunk_size)), np.asarray(reference), rtol=0, atol=1e-10
        )


def test_matches_numpy_loop_eval_numerical_gradient():
    # CS231n's eval_numerical_gradient, one coordinate at a time, in NumPy float64.
    with jax.enable_x64(True):
        W, X, y = smooth_problem(1)
    Xn, yn = np.asarray(X, np.float64), np.asarray(y)

    def svm_numpy(W):
        s = Xn @ W.T
        m = s - s[np.arange(len(yn)), yn][:, None] + 1.0
        m[np.arange(len(yn)), yn] = 0
        return np.maximum(0, m).sum() / len(yn)

    Wn = np.array(W, np.float64)
    fx, h, expected = svm_numpy(Wn), 1e-5, np.zeros_like(Wn)
    for ix in np.ndindex(*Wn.shape):
        old = Wn[ix]
        Wn[ix] = old + h
        expected[ix] = (svm_numpy(Wn) - fx) / h
        Wn[ix] = old
    with jax.enable_x64(True):
        g = numerical_gradient(lambda W: losses.svm_loss(W, X, y), W, h=1e-5)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# Three-way agreement: jax.grad, hand-derived, finite differences (float64).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_three_way_agreement(seed):
    with jax.enable_x64(True):
        W, X, y = smooth_problem(seed)
        f = lambda W: losses.softmax_loss(W, X, y, reg=0.1)  # noqa: E731
        _, hand = analytic.softmax_loss_and_grad(W, X, y, reg=0.1)
        auto = jax.grad(f)(W)
        np.testing.assert_allclose(np.asarray(hand), np.asarray(auto), rtol=1e-12, atol=1e-15)
        report = check_gradient(f, W, hand, h=1e-5, method="central")
    assert report.num_checked == report.num_params == W.size
    assert report.mean_relative_error <= 1e-8, str(report)
    assert report.max_relative_error <= 1e-6, str(report)
    # The report shows the magnitudes behind its worst ratios.
    assert min(abs(row["analytic"]) for row in report.worst) > 0


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.slow
def test_svm_three_way_agreement_away_from_kinks(seed):
    h = 1e-3
    with jax.enable_x64(True):
        W, X, y = integer_problem(seed)
        f = lambda W: losses.svm_loss(W, X, y, reg=0.1)  # noqa: E731
        _, hand = analytic.svm_loss_and_grad(W, X, y, reg=0.1)
        np.testing.assert_allclose(np.asarray(hand), np.asarray(jax.grad(f)(W)), rtol=1e-12, atol=1e-15)
        kinks = svm_kink_crossings(W, X, y, h=h)
        report = check_gradient(f, W, hand, h=h, method="central", kinks=kinks)
    chex.assert_shape(kinks, W.shape)
    # This problem sits on kinks on purpose: some steps cross them and there
    # the finite difference really disagrees -- every such coordinate is flagged.
    mismatch = report.relative_errors > 1e-6
    assert report.num_kinks > 0 and np.any(mismatch & report.kinks)
    assert not np.any(mismatch & ~report.kinks), str(report)
    assert report.max_relative_error_away_from_kinks <= 1e-6
    assert report.mean_relative_error_away_from_kinks <= 1e-8
    assert "kink" in str(report) and "yes" in str(report)


def test_svm_three_way_agreement_smooth_data():
    with jax.enable_x64(True):
        W, X, y = smooth_problem(2)
        f = lambda W: losses.svm_loss(W, X, y, reg=0.1)  # noqa: E731
        _, hand = analytic.svm_loss_and_grad(W, X, y, reg=0.1)
        report = check_gradient(f, W, hand, h=1e-4, kinks=svm_kink_crossings(W, X, y, h=1e-4))
    assert report.max_relative_error_away_from_kinks <= 1e-6
    assert report.mean_relative_error_away_from_kinks <= 1e-8


@pytest.mark.slow
def test_jax_check_grads_on_both_losses():
    with jax.enable_x64(True):
        W, X, y = smooth_problem(0)
        check_grads(lambda W: losses.softmax_loss(W, X, y, reg=0.1), (W,), order=2, modes=("rev",))
        # The SVM is piecewise linear: first order only, at a point away from kinks.
        assert not np.any(np.asarray(svm_kink_crossings(W, X, y, h=1e-3)))
        check_grads(lambda W: losses.svm_loss(W, X, y, reg=0.1), (W,), order=1, modes=("fwd", "rev"), eps=1e-4)


def test_kink_crossings_match_a_numpy_loop():
    W, X, y = integer_problem(0)
    h, margin = 0.3, 1.0
    Wn, Xn, yn = np.asarray(W), np.asarray(X), np.asarray(y)
    s = Xn @ Wn.T
    expected = np.zeros(Wn.shape, bool)
    for c in range(Wn.shape[0]):
        for d in range(Wn.shape[1]):
            for i in range(Xn.shape[0]):
                reach = h * abs(Xn[i, d])
                if reach == 0:
                    continue
                # The margins that W[c, d] moves, and whether one is within reach of 0.
                js = [c] if c != yn[i] else [j for j in range(Wn.shape[0]) if j != yn[i]]
                if any(abs(s[i, j] - s[i, yn[i]] + margin) <= reach for j in js if j != yn[i]):
                    expected[c, d] = True
    with jax.enable_x64(True):
        got = svm_kink_crossings(W, X, y, h=h, margin=margin)
    np.testing.assert_array_equal(np.asarray(got), expected)
    assert 0 < expected.sum() < expected.size


# ---------------------------------------------------------------------------
# The score-structured version equals the generic one.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["svm", "softmax"])
@pytest.mark.parametrize("method", ["forward", "central"])
@pytest.mark.slow
def test_linear_equals_generic_float64(loss, method):
    with jax.enable_x64(True):
        W, X, y = smooth_problem(3)
        f = lambda W: losses.get_loss(loss)(W, X, y, reg=0.2)  # noqa: E731
        generic = numerical_gradient(f, W, h=1e-4, method=method)
        fast = numerical_gradient_linear(loss, W, X, y, reg=0.2, h=1e-4, method=method, chunk_size=5)
        assert fast.dtype == jnp.float64
        # Same finite differences: only round-off of the loss (~1e-16 * L / h) differs.
        np.testing.assert_allclose(np.asarray(fast), np.asarray(generic), rtol=0, atol=1e-10)


@pytest.mark.parametrize("loss", ["svm", "softmax"])
@pytest.mark.slow
def test_linear_equals_generic_float32(loss):
    W, X, y = smooth_problem(4, dtype=np.float32, w_scale=0.05)
    h, reg = 1e-3, 0.5
    f = lambda W: losses.get_loss(loss)(W, X, y, reg=reg)  # noqa: E731
    generic = numerical_gradient(f, W, h=h)
    fast = numerical_gradient_linear(loss, W, X, y, reg=reg, h=h)
    # float32 loses eps * |L| in each loss value, magnified by 1/h.
    tol = 8 * np.finfo(np.float32).eps * abs(float(f(W))) / h
    np.testing.assert_allclose(np.asarray(fast), np.asarray(generic), rtol=0, atol=tol)
    # ... and both are close to the true gradient (the check is not vacuous).
    np.testing.assert_allclose(np.asarray(fast), np.asarray(jax.grad(f)(W)), atol=50 * tol)


@pytest.mark.slow
def test_linear_with_a_custom_per_example_loss_and_margin():
    with jax.enable_x64(True):
        W, X, y = smooth_problem(5)

        def squared_scores(scores_NxC, y_N):  # any per-example loss of the scores
            return jnp.sum(scores_NxC**2, axis=1) + y_N.astype(scores_NxC.dtype)

        f = lambda W: jnp.mean(squared_scores(X @ W.T, y)) + 0.3 * jnp.sum(W * W)  # noqa: E731
        fast = numerical_gradient_linear(squared_scores, W, X, y, reg=0.3, h=1e-5, method="central")
        np.testing.assert_allclose(
            np.asarray(fast), np.asarray(numerical_gradient(f, W, h=1e-5, method="central")), atol=1e-9
        )
        np.testing.assert_allclose(np.asarray(fast), np.asarray(jax.grad(f)(W)), rtol=1e-7, atol=1e-9)
        f2 = lambda W: losses.svm_loss(W, X, y, margin=2.5)  # noqa: E731
        np.testing.assert_allclose(
            np.asarray(numerical_gradient_linear("svm", W, X, y, margin=2.5)),
            np.asarray(numerical_gradient(f2, W)),
            atol=1e-10,
        )


@pytest.mark.slow
def test_linear_softmax_shortcut_equals_whole_rows_and_survives_huge_scores():
    from jaxopt_course.gradcheck import PER_EXAMPLE_FROM_SCORES

    softmax_rows = lambda s, y: PER_EXAMPLE_FROM_SCORES["softmax"](s, y, None)  # noqa: E731
    with jax.enable_x64(True):
        for w_scale in (0.3, 3e3):  # scores of order 1, and of order 1e4
            W, X, y = smooth_problem(6, w_scale=w_scale)
            h = 1e-6 * w_scale
            shortcut = numerical_gradient_linear("softmax", W, X, y, h=h, method="central")
            rows = numerical_gradient_linear(softmax_rows, W, X, y, h=h, method="central")
            generic = numerical_gradient(lambda W, X=X, y=y: losses.softmax_loss(W, X, y), W, h=h, method="central")
            scale = float(jnp.max(jnp.abs(generic)))
            assert scale > 0.1
            np.testing.assert_allclose(np.asarray(shortcut), np.asarray(rows), atol=1e-7 * scale)
            np.testing.assert_allclose(np.asarray(shortcut), np.asarray(generic), atol=1e-7 * scale)


@pytest.mark.cifar
@pytest.mark.slow
def test_on_real_cifar10_dev_images(cifar10_root):
    from jaxopt_course import load_cifar10

    dev = load_cifar10(cifar10_root, num_training=1000, num_validation=0, num_test=10, num_dev=100).dev
    with jax.enable_x64(True):
        X, y = jnp.asarray(dev.X, jnp.float64), jnp.asarray(dev.y)
        W = 1e-4 * jax.random.normal(jax.random.key(0), (10, 3073), jnp.float64)
        f = lambda W: losses.softmax_loss(W, X, y, reg=1e3)  # noqa: E731
        _, hand = analytic.softmax_loss_and_grad(W, X, y, reg=1e3)
        report = check_gradient(f, W, hand, num_checks=40, h=1e-5, key=jax.random.key(3))
        fast = numerical_gradient_linear("softmax", W, X, y, reg=1e3, h=1e-5, method="central")
    assert report.num_checked == 40 and report.num_params == 30730
    assert report.mean_relative_error <= 1e-6, str(report)
    np.testing.assert_allclose(np.asarray(fast).ravel()[report.indices], report.numerical, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(fast), np.asarray(hand), rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------------------
# relative_error and the report.
# ---------------------------------------------------------------------------


def test_relative_error_by_hand():
    a = jnp.array([1.0, 0.0, 2.0, 1e-9, -3.0])
    b = jnp.array([1.1, 0.0, -2.0, 2e-9, -3.0])
    np.testing.assert_allclose(np.asarray(relative_error(a, b)), [0.1 / 1.1, 0.0, 2.0, 0.5, 0.0], rtol=1e-6)
    assert float(relative_error(3.0, 4.0)) == pytest.approx(0.25)


@settings(**SETTINGS)
@given(
    a=st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4), b=st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4)
)
def test_relative_error_properties(a, b):
    with jax.enable_x64(True):
        a, b = jnp.array(a), jnp.array(b)
        r = np.asarray(relative_error(a, b))
        np.testing.assert_array_equal(r, np.asarray(relative_error(b, a)))
    assert np.all((r >= 0) & (r <= 2))
    an, bn = np.asarray(a), np.asarray(b)
    both = np.maximum(np.abs(an), np.abs(bn))
    ref = np.divide(np.abs(an - bn), both, out=np.zeros(4), where=both > 0)
    np.testing.assert_allclose(r, ref, rtol=1e-12)


@pytest.mark.slow
def test_sparse_check_picks_random_distinct_coordinates():
    W, X, y = smooth_problem(0, dtype=np.float32)
    f = lambda W: losses.softmax_loss(W, X, y)  # noqa: E731
    r1 = check_gradient(f, W, num_checks=7, key=jax.random.key(1), method="forward")
    r2 = check_gradient(f, W, num_checks=7, key=jax.random.key(1), method="forward")
    r3 = check_gradient(f, W, num_checks=7, key=2, method="forward")
    assert r1.num_checked == 7 and r1.num_params == W.size
    assert len(set(r1.indices.tolist())) == 7 and np.all(np.diff(r1.indices) > 0)
    np.testing.assert_array_equal(r1.indices, r2.indices)
    assert not np.array_equal(r1.indices, r3.indices)
    full = np.asarray(numerical_gradient(f, W)).ravel()
    np.testing.assert_array_equal(r1.numerical, full[r1.indices])
    np.testing.assert_allclose(r1.analytic, np.asarray(jax.grad(f)(W)).ravel()[r1.indices])  # default: jax.grad
    assert "7 random of 36 coordinates" in str(r1)


def test_report_table_and_json():
    with jax.enable_x64(True):
        W, X, y = integer_problem(0)
        f = lambda W, X=X, y=y: losses.svm_loss(W, X, y)  # noqa: E731
        report = check_gradient(f, W, h=1e-3, kinks=svm_kink_crossings(W, X, y, h=1e-3), num_worst=3)
    assert isinstance(report, GradCheckReport)
    text = str(report)
    assert "central differences" in text and "all of 24 coordinates" in text
    assert "numerical" in text and "analytic" in text and "away from kinks" in text
    assert len(report.worst) == 3
    assert report.worst[0]["relative_error"] == pytest.approx(report.max_relative_error)
    assert isinstance(report.worst[0]["coordinate"], tuple)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["num_checked"] == 24 and data["num_kinks"] == report.num_kinks
    assert data["max_relative_error"] == pytest.approx(report.max_relative_error)


def test_verdict_follows_cs231n_thresholds():
    from jaxopt_course.gradcheck import VERDICT_THRESHOLDS, verdict_of

    assert VERDICT_THRESHOLDS == {"wrong": 1e-2, "uncomfortable": 1e-4, "ok": 1e-7}
    with_kinks = [
        (1.0, "wrong"),
        (0.011, "wrong"),
        (1e-2, "uncomfortable"),
        (1e-3, "uncomfortable"),
        (1e-4, "ok"),
        (1e-6, "ok"),
        (1e-7, "good"),
        (0.0, "good"),
        (float("nan"), "wrong"),
    ]
    assert [verdict_of(e, smooth=False) for e, _ in with_kinks] == [v for _, v in with_kinks]
    # A smooth objective has no "ok" band: 1e-7..1e-4 is too high for it (CS231n).
    smooth = [
        (0.011, "wrong"),
        (1e-3, "uncomfortable"),
        (1e-4, "uncomfortable"),
        (1e-6, "uncomfortable"),
        (1.01e-7, "uncomfortable"),
        (1e-7, "good"),
        (0.0, "good"),
    ]
    assert [verdict_of(e, smooth=True) for e, _ in smooth] == [v for _, v in smooth]
    with pytest.raises(TypeError, match="smooth must be True or False"):
        verdict_of(1e-5, smooth=None)


def _report(
    numerical,
    analytic,
    kinks=None,
    dtype=np.float64,
    loss_value=1.0,
    h=1e-4,
    method="central",
    numerical_2h=None,
    smooth=None,
):
    numerical, analytic = np.asarray(numerical, dtype), np.asarray(analytic, dtype)
    k = numerical.size
    with np.errstate(invalid="ignore"):
        relative_errors = np.abs(numerical - analytic) / np.maximum(
            np.maximum(np.abs(numerical), np.abs(analytic)), 1e-300
        )
    return GradCheckReport(
        method=method,
        h=h,
        dtype=np.dtype(dtype).name,
        num_params=k,
        num_checked=k,
        indices=np.arange(k),
        shape=(k,),
        numerical=numerical,
        analytic=analytic,
        relative_errors=relative_errors,
        kinks=np.zeros(k, bool) if kinks is None else np.asarray(kinks),
        loss_value=loss_value,
        numerical_2h=None if numerical_2h is None else np.asarray(numerical_2h, dtype),
        smooth=(kinks is None) if smooth is None else smooth,
    )


def test_report_names_both_relative_errors_by_hand():
    # a = 1.0, b = 1.1: ours 0.1 / 1.1, CS231n's assignment code 0.1 / 2.1 (about half).
    report = _report([1.0, 2.0], [1.1, 2.0])
    assert report.max_relative_error == pytest.approx(0.1 / 1.1)
    assert report.max_relative_error_sum == pytest.approx(0.1 / 2.1)
    assert report.relative_error_definition == "|a - b| / max(|a|, |b|)"
    assert report.verdict == "wrong" and not report.passed
    assert "|a - b| / (|a| + |b|): max 4.76e-02" in str(report)
    # The check's own error here is 4 eps |f| / h = 8.9e-12: the proven mismatch is 0.1 / 1.1 less 8e-12.
    assert report.error_bounds == pytest.approx(4 * np.finfo(np.float64).eps / 1e-4)
    assert report.verdict_line().startswith(
        "verdict: PROBABLY WRONG -- largest mismatch beyond the check's own error 9.09e-02"
    )
    assert "> 1e-2 probably wrong" in report.verdict_line() and "<= 1e-7 good" in report.verdict_line()
    assert "smooth objective" in report.verdict_line() and "beyond this check's own error" in report.hint


def test_the_check_subtracts_its_own_error_estimated_from_a_second_step():
    """By hand: D(h) = 1.0003, D(2h) = 1.0012 (an h^2 error of 3e-4), analytic 1.0."""
    # Central: truncation of D(h) = (D(2h) - D(h)) / 3 = 3e-4; the bound is 4 x (that + round-off).
    report = _report([1.0003], [1.0], numerical_2h=[1.0012], h=1e-2)
    assert report.truncation_errors == pytest.approx([3e-4])
    bound = 4 * (3e-4 + np.finfo(np.float64).eps / 1e-2)
    assert report.error_bounds == pytest.approx([bound])
    assert report.resolutions == pytest.approx([bound / 1.0003])
    # The mismatch 3e-4 is all truncation: nothing proven, but the check resolves only 1.2e-3.
    assert report.excess_relative_errors == pytest.approx([0.0])
    assert report.verdict == "inconclusive" and "steps h and 2h disagree" in report.hint
    # Forward differences: the error is first order, D(2h) - D(h) itself.
    forward = _report([1.0003], [1.0], numerical_2h=[1.0006], method="forward", h=1e-2)
    assert forward.truncation_errors == pytest.approx([3e-4])
    # A mismatch far beyond the bound is proven: 1.05 vs 1.0 with a truncation estimate of 1e-9.
    wrong = _report([1.05], [1.0], numerical_2h=[1.05 + 3e-9])
    assert wrong.excess_relative_errors[0] == pytest.approx((0.05 - wrong.error_bounds[0]) / 1.05)
    assert wrong.verdict == "wrong"


def test_report_judges_away_from_kinks_and_explains_them():
    # The only bad coordinate is flagged as a kink: the verdict reads the others (1e-9 beyond 8.9e-12: good).
    report = _report([1.0, 2.0, 0.0], [1.0 + 1e-9, 2.0, 1.0], kinks=[False, False, True])
    assert report.max_relative_error == 1.0
    assert report.verdict_error == pytest.approx((1e-9 - 4 * np.finfo(np.float64).eps / 1e-4) / (1 + 1e-9))
    assert not report.smooth and report.verdict == "good" and report.passed and report.hint is None
    assert "not judged: 1 near kinks" in report.verdict_line() and "objective with kinks" in report.verdict_line()
    assert "kink of the hinge" in str(report) and "legitimately" in str(report)
    # Every coordinate a kink: judged on all of them.
    assert _report([0.0], [1.0], kinks=[True]).verdict == "wrong"
    # 1e-5 beyond the check's error: ok with kinks, uncomfortable for a smooth objective.
    assert _report([1.0, 2.0], [1.0 + 1e-5, 2.0], smooth=False).verdict == "ok"
    assert _report([1.0, 2.0], [1.0 + 1e-5, 2.0]).verdict == "uncomfortable"
    assert _report([1.0, 2.0], [1.0 + 1e-5, 2.0], kinks=[False, False]).verdict == "ok"  # a mask declares kinks


def test_nan_or_inf_slopes_are_never_good():
    # One NaN numerical slope among right ones: inconclusive, with a hint (issue 24: it said GOOD).
    nan = _report([1.0, np.nan, 2.0], [1.0, 3.0, 2.0])
    assert nan.verdict == "inconclusive" and not nan.passed and nan.num_nonfinite_numerical == 1
    assert "NaN or Inf" in nan.hint and "not finite" in nan.hint
    assert "1 whose numerical slope is NaN or Inf" in nan.verdict_line()
    inf = _report([np.inf, 2.0], [1.0, 2.0])
    assert inf.verdict == "inconclusive" and "NaN or Inf" in inf.hint
    # A NaN slope and a proven mismatch elsewhere: the mismatch decides.
    assert _report([np.nan, 2.0], [1.0, 2.5]).verdict == "wrong"
    # With kinks, a NaN slope still never passes, even where the rest reads ok.
    assert _report([np.nan, 1.0], [1.0, 1.0 + 1e-5], smooth=False).verdict == "inconclusive"
    # The analytic gradient NaN where the finite difference is finite: wrong.
    bad = _report([1.0, 2.0], [np.nan, 2.0])
    assert bad.verdict == "wrong" and "analytic gradient is NaN or Inf" in bad.hint
    assert json.loads(json.dumps(nan.to_dict()))["num_nonfinite_numerical"] == 1
    # Through check_gradient: log(w) stepped below 0 gives a NaN slope at w = 5e-5 < h.
    with jax.enable_x64(True):
        f = lambda w: jnp.sum(jnp.log(w))  # noqa: E731
        w = jnp.array([1.0, 5e-5])
        report = check_gradient(f, w, analytic_grad=1.0 / w, h=1e-4)
    assert np.isnan(report.numerical[1]) and report.verdict == "inconclusive" and "NaN or Inf" in report.hint


def test_hints_name_round_off_truncation_or_a_real_mismatch():
    eps32 = float(np.finfo(np.float32).eps)
    # Round-off: |f| = 9, h = 1e-4 in float32 resolves slopes to eps * 9 / 1e-4 = 1.1e-2 only.
    roundoff = _report([0.0, 0.0], [3e-4, 1e-3], dtype=np.float32, loss_value=9.0)
    assert roundoff.roundoff_error == pytest.approx(eps32 * 9.0 / 1e-4)
    # Both slopes are below that resolution: nothing can be judged.
    assert roundoff.num_numerical_zero == 2 and roundoff.num_unresolved == 2
    assert roundoff.verdict == "inconclusive" and not roundoff.passed and np.isnan(roundoff.resolution)
    assert "float32 round-off" in roundoff.hint and "cannot tell" in roundoff.hint and "float64" in roundoff.hint
    assert "2 numerical slope(s) came out exactly 0" in roundoff.hint
    assert roundoff.verdict_line().startswith("verdict: INCONCLUSIVE")
    # One slope resolved (50, to 8.6e-4), off by 10 %: proven wrong, beyond the check's own error.
    mixed = _report([0.0, 50.0], [3e-4, 45.0], dtype=np.float32, loss_value=9.0)
    assert mixed.num_unresolved == 1 and mixed.num_judged == 1 and mixed.verdict == "wrong"
    assert "beyond this check's own error" in mixed.hint
    assert "not judged: 1 that resolve less than 0.001" in mixed.verdict_line()
    # The same mismatch as `roundoff` in float64 (round-off 2e-11): far above it, so proven.
    real = _report([0.0, 0.0], [3e-4, 1e-3], dtype=np.float64, loss_value=9.0)
    assert real.verdict == "wrong" and "beyond this check's own error" in real.hint
    data = json.loads(json.dumps(roundoff.to_dict()))
    assert data["verdict"] == "inconclusive" and data["passed"] is False and data["hint"] == roundoff.hint
    assert data["resolution"] is None and data["num_unresolved"] == 2 and data["num_judged"] == 0
    assert data["thresholds"]["wrong"] == 1e-2 and data["verdict_line"] == roundoff.verdict_line()


@pytest.mark.slow
def test_the_default_float32_check_is_diagnosed_as_round_off():
    """svm, float32, h = 1e-4 at W = 1e-4 randn: numerical slopes of 0 are round-off, and float64 passes."""
    from jaxopt_course import load_digits

    split = load_digits().train
    for dtype, expect_pass in ((np.float32, False), (np.float64, True)):
        with jax.enable_x64(dtype == np.float64):
            X, y = jnp.asarray(split.X[:300], dtype), jnp.asarray(split.y[:300])
            W = 1e-4 * jax.random.normal(jax.random.key(0), (10, X.shape[1]), dtype)
            f = lambda W, X=X, y=y: losses.svm_loss(W, X, y)  # noqa: E731
            _, hand = analytic.svm_loss_and_grad(W, X, y)
            report = check_gradient(f, W, hand, h=1e-4, kinks=svm_kink_crossings(W, X, y, h=1e-4))
        assert report.loss_value == pytest.approx(9.0, abs=0.01)  # every margin about 1: 9 wrong classes
        assert report.passed == expect_pass, str(report)
        if not expect_pass:
            assert report.verdict == "inconclusive", str(report)
            assert report.num_numerical_zero > 0 and "float32 round-off" in report.hint, str(report)


# ---------------------------------------------------------------------------
# The step-size study.
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_step_size_study_shows_truncation_and_round_off():
    study = step_size_study()
    json.dumps(study)  # plain data
    hs = np.asarray(study["h"])
    assert hs[0] == pytest.approx(1e-12) and hs[-1] == pytest.approx(1e-1)
    for dtype in ("float32", "float64"):
        eps = np.finfo(dtype).eps
        assert study["eps"][dtype] == eps
        for method, theory in (("forward", math.sqrt(eps)), ("central", eps ** (1 / 3))):
            err = np.asarray(study["error"][dtype][method])
            best = int(np.argmin(err))
            # A valley: round-off on the left, truncation on the right.
            assert err[0] > 100 * err[best] and err[-1] > 10 * err[best], (dtype, method, err)
            # The best step lies near the theory (within a factor of 30).
            assert abs(math.log10(study["best_h"][dtype][method] / theory)) <= 1.5, (dtype, method)
        # In float64 both sides are clean power laws: truncation O(h) / O(h^2) on
        # the right, round-off O(eps / h) on the left.
        if dtype == "float64":
            for method, power in (("forward", 1.0), ("central", 2.0)):
                err = np.asarray(study["error"][dtype][method])
                right = hs >= 1e-3
                assert np.polyfit(np.log10(hs[right]), np.log10(err[right]), 1)[0] == pytest.approx(power, abs=0.2)
                left = hs <= 1e-10
                assert np.polyfit(np.log10(hs[left]), np.log10(err[left]), 1)[0] == pytest.approx(-1.0, abs=0.3)
    assert (
        study["best_error"]["float64"]["central"]
        < study["best_error"]["float64"]["forward"]
        < study["best_error"]["float32"]["forward"]
    )


# ---------------------------------------------------------------------------
# Bad inputs.
# ---------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    W, X, y = smooth_problem(0, dtype=np.float32)
    f = lambda W: losses.softmax_loss(W, X, y)  # noqa: E731
    for h in (0.0, -1e-4, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="h must be"):
            numerical_gradient(f, W, h=h)
        with pytest.raises(ValueError, match="h must be"):
            numerical_gradient_linear("svm", W, X, y, h=h)
    with pytest.raises(TypeError, match="h must be a number"):
        numerical_gradient(f, W, h="1e-4")
    with pytest.raises(ValueError, match="method must be one of"):
        numerical_gradient(f, W, method="backward")
    with pytest.raises(ValueError, match="method must be one of"):
        check_gradient(f, W, method="centered")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        numerical_gradient(f, W, chunk_size=0)
    with pytest.raises(TypeError, match="f must be a callable"):
        numerical_gradient("softmax", W)
    with pytest.raises(ValueError, match="f must return a scalar loss"):
        numerical_gradient(lambda W: W * 2, W)
    with pytest.raises(TypeError, match="W must be a floating"):
        numerical_gradient(lambda W: jnp.sum(W), jnp.arange(3))
    with pytest.raises(ValueError, match="W and X disagree"):
        numerical_gradient_linear("svm", W, X[:, :-1], y)
    with pytest.raises(ValueError, match="y must have one label per row"):
        numerical_gradient_linear("softmax", W, X, y[:-1])
    with pytest.raises(ValueError, match="loss must be one of"):
        numerical_gradient_linear("hinge", W, X, y)
    with pytest.raises(ValueError, match="loss must return one loss per example"):
        numerical_gradient_linear(lambda s, y: jnp.sum(s), W, X, y)
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        relative_error(jnp.zeros(3), jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"analytic_grad must have W's shape \(4, 9\)"):
        check_gradient(f, W, analytic_grad=jnp.zeros((9, 4)))
    with pytest.raises(ValueError, match="kinks must have W's shape"):
        check_gradient(f, W, kinks=jnp.zeros((4, 8), bool))
    with pytest.raises(ValueError, match="num_checks must be at most the number of weights"):
        check_gradient(f, W, num_checks=37)
    with pytest.raises(ValueError, match="num_checks must be a positive integer"):
        check_gradient(f, W, num_checks=0)
    with pytest.raises(TypeError, match="key must be a jax.random key or an integer seed"):
        check_gradient(f, W, num_checks=3, key="seven")
    with pytest.raises(ValueError, match="h must be"):
        svm_kink_crossings(W, X, y, h=0.0)
    with pytest.raises(ValueError, match="hs must be"):
        step_size_study(hs=[1e-3, -1e-3])


# ---------------------------------------------------------------------------
# The command line.
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_gradcheck_table_and_json(capsys):
    from jaxopt_course.cli import main

    assert main(["gradcheck", "--loss", "softmax", "--method", "central", "--dtype", "float64", "--h", "1e-5"]) == 0
    out = capsys.readouterr().out
    assert "softmax loss on digits" in out and "central differences, h=1e-05, float64, all of 650" in out
    assert "worst 5 coordinate(s)" in out and "jax.grad vs hand-derived" in out

    assert "verdict: " in out and "relative error = |a - b| / max(|a|, |b|)" in out

    assert (
        main(
            [
                "gradcheck",
                "--loss",
                "svm",
                "--method",
                "forward",
                "--num-checks",
                "30",
                "--json",
                "--dtype",
                "float32",
                "--h",
                "1e-4",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["loss"] == "svm" and data["method"] == "forward" and data["dtype"] == "float32"
    assert data["num_checked"] == 30 and data["num_params"] == 650 and len(data["worst"]) == 5
    assert data["jax_grad_vs_hand_max_relative_error"] < 1e-3  # float32: summation order
    # float32, h = 1e-4: the loss (about 9) is known to one float32 step, 1e-6,
    # so a difference quotient is only good to about 1e-6 / h = 1e-2.
    assert 0 < data["max_abs_error"] < 5e-2
    assert data["roundoff_error"] == pytest.approx(np.finfo(np.float32).eps * data["loss_value"] / 1e-4)
    assert data["verdict"] == "inconclusive" and not data["passed"]
    assert "float32 round-off" in data["hint"] and "float64" in data["hint"]
    # Inconclusive proves no mismatch, so there is nothing to diagnose (a fit to float32 round-off would guess).
    assert data["diagnosis"] is None


def _numpy_softmax_parts(W, X, y, reg):
    """The softmax gradient's data and reg parts, by hand in NumPy: (1/N) (P - onehot)^T X and 2 reg W."""
    scores = X @ W.T
    P = np.exp(scores - scores.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1.0
    return P.T @ X / len(y), 2.0 * reg * W


@pytest.mark.parametrize(
    "mistake, codes",
    [
        (lambda data, reg_part: data + reg_part, None),  # the true gradient: good, no diagnosis
        (lambda data, reg_part: data, ["reg_missing"]),
        (lambda data, reg_part: 2.0 * data + reg_part, ["factor_2"]),
        (lambda data, reg_part: -(data + reg_part), ["sign_flipped"]),
        (lambda data, reg_part: data + 2.0 * reg_part, ["reg_doubled"]),
    ],
)
def test_gradcheck_prints_the_shared_diagnosis_of_a_wrong_gradient(mistake, codes):
    """Issue 22.3: what ``gradcheck`` runs, on a wrong dW built in NumPy: the verdict, then why (the grader's words)."""
    from jaxopt_course.commands import check_loss_gradient
    from jaxopt_course.diagnosis import HINTS

    reg = 0.05
    with jax.enable_x64(True):
        W, X, y = smooth_problem(3)
        dW = mistake(*_numpy_softmax_parts(np.asarray(W), np.asarray(X), np.asarray(y), reg))
        report, autodiff_vs_hand, diagnosis, lines = check_loss_gradient("softmax", W, X, y, reg, h=1e-5, dW=dW)
    assert autodiff_vs_hand < 1e-12  # jax.grad and the hand-derived gradient, whatever dW is checked
    if codes is None:
        assert report.verdict == "good" and diagnosis is None and lines == []
        return
    assert report.verdict == "wrong" and not report.passed
    assert diagnosis["codes"] == codes and diagnosis["hint"] == HINTS[codes[0]]
    assert lines == [f"  diagnosis: {codes[0]} -- {HINTS[codes[0]]}"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["gradcheck", "--h", "0"], "--h: expected a number > 0"),
        (["gradcheck", "--method", "backward"], "invalid choice: 'backward'"),
        (["gradcheck", "--dtype", "float16"], "invalid choice: 'float16'"),
        (["gradcheck", "--num-checks", "100000"], "num_checks must be at most the number of weights (650)"),
        (["gradcheck", "--data", "cifar10"], "--data cifar10 needs --data-dir"),
    ],
)
def test_cli_gradcheck_bad_arguments(argv, message, capsys):
    from jaxopt_course.cli import EXIT_USAGE, main

    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.cifar
@pytest.mark.slow
def test_cli_gradcheck_on_cifar10_dev_set(cifar10_root, capsys):
    from jaxopt_course.cli import main

    assert (
        main(
            [
                "gradcheck",
                "--data",
                "cifar10",
                "--data-dir",
                str(cifar10_root),
                "--loss",
                "softmax",
                "--dtype",
                "float64",
                "--h",
                "1e-5",
                "--num-checks",
                "50",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["split"] == "dev" and data["num_examples"] == 500 and data["num_params"] == 30730
    assert data["mean_relative_error"] < 1e-5


# ---------------------------------------------------------------------------
# Verdicts that fit the objective, on digits (issue 20).
# ---------------------------------------------------------------------------


def _digits_problem(dtype, n=300, scale=1e-4):
    from jaxopt_course import load_digits

    split = load_digits().train
    X, y = jnp.asarray(split.X[:n], dtype), jnp.asarray(split.y[:n])
    W = scale * jax.random.normal(jax.random.key(0), (10, X.shape[1]), dtype)
    return W, X, y


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_right_gradients_read_good_and_wrong_ones_never_pass_on_digits(loss):
    """float64, check_gradient's defaults (central, h = 1e-4), W = 1e-4 randn, as the README tour and the CLI."""
    loss_fn, loss_and_grad = losses.get_loss(loss), analytic.LOSS_AND_GRAD[loss]
    reg = 1e-2
    with jax.enable_x64(True):
        W, X, y = _digits_problem(np.float64)
        f = lambda W: loss_fn(W, X, y, reg=reg)  # noqa: E731
        _, right = loss_and_grad(W, X, y, reg=reg)
        _, data_only = loss_and_grad(W, X, y, reg=0.0)
        kinks = svm_kink_crossings(W, X, y) if loss == "svm" else None
        gradients = {
            "right": right,
            "1 % off": 1.01 * right,
            "without the 2 reg W term": data_only,
            "without the 1/N": data_only * X.shape[0] + 2 * reg * W,
        }
        reports = {name: check_gradient(f, W, g, kinks=kinks) for name, g in gradients.items()}
        plain = check_gradient(f, W, right)  # no mask, nothing declared: judged as smooth
    right_report = reports.pop("right")
    assert right_report.verdict == "good" and right_report.passed and right_report.hint is None, str(right_report)
    # The raw relative error is not below 1e-7 everywhere: the check's own error explains it.
    assert right_report.resolution <= 1e-7 and right_report.verdict_error <= 1e-7
    assert plain.smooth and plain.verdict == "good", str(plain)
    for name, report in reports.items():
        assert report.verdict in ("wrong", "uncomfortable") and not report.passed, (name, str(report))
        assert report.verdict_error > 1e-3, name


def test_float32_proves_wrong_gradients_but_cannot_vouch_for_a_right_one():
    """float32, h = 1e-2 (the CLI's float32 step): its resolution is near 1e-3, so no "good", but 1 % shows."""
    with jax.enable_x64(False):
        W, X, y = _digits_problem(np.float32)
        f = lambda W: losses.softmax_loss(W, X, y)  # noqa: E731
        _, right = analytic.softmax_loss_and_grad(W, X, y)
        report = check_gradient(f, W, right, h=1e-2)
        off = check_gradient(f, W, 1.01 * right, h=1e-2)
        no_mean = check_gradient(f, W, right * X.shape[0], h=1e-2)
    assert report.verdict == "inconclusive" and report.verdict_error == 0.0, str(report)
    assert "float32" in report.hint and "float64" in report.hint
    eps32 = float(np.finfo(np.float32).eps)
    assert report.roundoff_error == pytest.approx(eps32 * report.loss_value / 1e-2)
    assert off.verdict == "uncomfortable" and no_mean.verdict == "wrong", (str(off), str(no_mean))


@pytest.mark.slow
@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), off=st.floats(1e-2, 1.0), loss=st.sampled_from(["softmax", "svm"]))
def test_right_gradients_pass_and_scaled_ones_never_do(seed, off, loss):
    """Random smooth problems, float64, the defaults.

    The right gradient reads good (or ok at a kink); (1 + off) x the right one never passes.
    """
    with jax.enable_x64(True):
        W, X, y = smooth_problem(seed)
        f = lambda W: losses.get_loss(loss)(W, X, y, reg=1e-2)  # noqa: E731
        _, right = analytic.LOSS_AND_GRAD[loss](W, X, y, reg=1e-2)
        kinks = svm_kink_crossings(W, X, y) if loss == "svm" else None
        good = check_gradient(f, W, right, kinks=kinks)
        bad = check_gradient(f, W, (1.0 + off) * right, kinks=kinks)
    assert good.passed, str(good)
    assert not bad.passed and bad.verdict in ("wrong", "uncomfortable"), str(bad)
