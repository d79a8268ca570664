"""The hand-derived gradients (jaxopt_course.analytic).

References, all independent of the code under test:
* hand-computed values for the lecture's cat image;
* CS231n's naive loops (``svm_loss_naive`` / ``softmax_loss_naive``) in NumPy float64;
* ``jax.grad`` of the losses in losses.py (a different derivation: autodiff).
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxopt_course import analytic, losses

SETTINGS = dict(derandomize=True, deadline=None, max_examples=12)


# ---------------------------------------------------------------------------
# NumPy loop references (CS231n's naive implementations, W as (C, D)).
# ---------------------------------------------------------------------------


def svm_loss_naive(W, X, y, reg, margin=1.0):
    num_classes, num_train = W.shape[0], X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(num_train):
        scores = W @ X[i]
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            m = scores[j] - correct + margin
            if m > 0:
                loss += m
                dW[j] += X[i]
                dW[y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW


def softmax_loss_naive(W, X, y, reg):
    num_classes, num_train = W.shape[0], X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(num_train):
        scores = W @ X[i]
        scores = scores - scores.max()
        total = sum(math.exp(s) for s in scores)
        loss += -(scores[y[i]] - math.log(total))
        for j in range(num_classes):
            p = math.exp(scores[j]) / total
            dW[j] += (p - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW


def random_problem(seed, n=9, d=6, c=4, w_scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, -1] = 1.0  # the bias trick
    y = rng.integers(0, c, n).astype(np.int32)
    W = w_scale * rng.standard_normal((c, d))
    return W, X, y


# ---------------------------------------------------------------------------
# Hand-computed values.
# ---------------------------------------------------------------------------


def test_svm_lecture_cat_image_by_hand():
    # Scores cat 3.2, car 5.1, frog -1.7, label cat: car's margin 2.9 > 0 is
    # the only active one, so dscores = (-1, +1, 0) and dW = dscores^T x.
    x = np.array([3.2, 5.1, -1.7])
    loss, dW = analytic.svm_loss_and_grad(jnp.eye(3), jnp.asarray([x], jnp.float32), jnp.array([0]))
    assert float(loss) == pytest.approx(2.9, abs=1e-5)
    np.testing.assert_allclose(np.asarray(dW), np.stack([-x, x, 0 * x]), rtol=1e-6)


def test_softmax_lecture_cat_image_by_hand():
    s = np.array([3.2, 5.1, -1.7])
    p = np.exp(s) / np.exp(s).sum()
    loss, dW = analytic.softmax_loss_and_grad(jnp.eye(3), jnp.asarray([s], jnp.float32), jnp.array([0]))
    assert float(loss) == pytest.approx(-math.log(p[0]), rel=1e-6)  # 2.04
    assert float(loss) == pytest.approx(2.04, abs=5e-3)
    expected = np.outer(p - np.array([1.0, 0.0, 0.0]), s)
    np.testing.assert_allclose(np.asarray(dW), expected, rtol=1e-5, atol=1e-6)


def test_regularization_gradient_is_two_reg_W():
    # With X = 0 every score is 0: SVM margins all equal `margin` (active),
    # but X = 0 kills the data part of dW, leaving exactly 2 reg W.
    W = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    X = jnp.zeros((3, 2))
    y = jnp.array([0, 1, 1])
    for loss_and_grad in (analytic.svm_loss_and_grad, analytic.softmax_loss_and_grad):
        loss, dW = loss_and_grad(W, X, y, reg=0.25)
        np.testing.assert_allclose(np.asarray(dW), 0.5 * np.asarray(W), rtol=1e-6)
    loss, _ = analytic.svm_loss_and_grad(W, X, y, reg=0.25)
    assert float(loss) == pytest.approx(1.0 + 0.25 * 14.25)  # one wrong class, margin 1


def test_svm_subgradient_at_a_kink_is_the_indicator():
    # Car's margin is exactly 5 - 6 + 1 = 0: the indicator (m > 0) is off, so
    # the hand-derived subgradient is 0 -- and jax.grad(svm_loss) agrees.
    W = jnp.eye(3)
    X = jnp.array([[6.0, 5.0, -2.0]])
    y = jnp.array([0])
    loss, dW = analytic.svm_loss_and_grad(W, X, y)
    assert float(loss) == 0.0
    np.testing.assert_array_equal(np.asarray(dW), np.zeros((3, 3)))
    np.testing.assert_array_equal(np.asarray(jax.grad(losses.svm_loss)(W, X, y)), np.zeros((3, 3)))


# ---------------------------------------------------------------------------
# Against the NumPy loops (float64).
# ---------------------------------------------------------------------------


@settings(**SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    reg=st.sampled_from([0.0, 0.1, 3.0]),
    margin=st.sampled_from([1.0, 0.5, 2.0]),
    w_scale=st.sampled_from([1e-4, 0.3, 2.0]),
)
def test_svm_matches_numpy_loop(seed, reg, margin, w_scale):
    W, X, y = random_problem(seed, w_scale=w_scale)
    with jax.enable_x64(True):
        loss, dW = analytic.svm_loss_and_grad(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg, margin)
        assert dW.dtype == jnp.float64
        ref_loss, ref_dW = svm_loss_naive(W, X, y, reg, margin)
        np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(dW), ref_dW, rtol=1e-12, atol=1e-14)


@settings(**SETTINGS)
@given(
    seed=st.integers(0, 2**31 - 1),
    reg=st.sampled_from([0.0, 0.1, 3.0]),
    w_scale=st.sampled_from([1e-4, 0.3, 2.0, 30.0]),
)
def test_softmax_matches_numpy_loop(seed, reg, w_scale):
    W, X, y = random_problem(seed, w_scale=w_scale)
    with jax.enable_x64(True):
        loss, dW = analytic.softmax_loss_and_grad(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg)
        ref_loss, ref_dW = softmax_loss_naive(W, X, y, reg)
        np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(dW), ref_dW, rtol=1e-11, atol=1e-13)


# ---------------------------------------------------------------------------
# Against jax.grad of losses.py (float64, 1e-12 relative).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["svm", "softmax"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hand_derived_equals_jax_grad(name, seed):
    W, X, y = random_problem(seed, n=30, d=8, c=5, w_scale=0.5)
    loss_fn, loss_and_grad = losses.get_loss(name), analytic.LOSS_AND_GRAD[name]
    with jax.enable_x64(True):
        W, X, y = jnp.asarray(W), jnp.asarray(X), jnp.asarray(y)
        loss, dW = loss_and_grad(W, X, y, reg=0.7)
        auto_loss, auto_dW = jax.value_and_grad(loss_fn)(W, X, y, reg=0.7)
        np.testing.assert_allclose(float(loss), float(auto_loss), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(dW), np.asarray(auto_dW), rtol=1e-12, atol=1e-15)


def test_float32_shapes_dtypes_and_jit():
    W, X, y = random_problem(3, n=20, d=7, c=3)
    W, X, y = jnp.asarray(W, jnp.float32), jnp.asarray(X, jnp.float32), jnp.asarray(y)
    for loss_and_grad in (analytic.svm_loss_and_grad, analytic.softmax_loss_and_grad):
        loss, dW = loss_and_grad(W, X, y, reg=0.1)
        chex.assert_shape(loss, ())
        chex.assert_shape(dW, (3, 7))
        assert dW.dtype == jnp.float32
        chex.assert_tree_all_finite(dW)
        jit_loss, jit_dW = jax.jit(loss_and_grad)(W, X, y, 0.1)
        chex.assert_trees_all_close((jit_loss, jit_dW), (loss, dW), rtol=1e-6, atol=1e-7)


def test_softmax_is_stable_for_huge_scores():
    W = jnp.array([[1e4, 0.0], [-1e4, 0.0]])
    X = jnp.array([[1.0, 1.0], [-1.0, 1.0]])
    loss, dW = analytic.softmax_loss_and_grad(W, X, jnp.array([1, 1]))
    chex.assert_tree_all_finite((loss, dW))
    # example 1: -log softmax = 2e4 (scores 1e4 vs -1e4); example 2: 0.
    assert float(loss) == pytest.approx(1e4, rel=1e-6)


# ---------------------------------------------------------------------------
# Bad inputs.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss_and_grad", [analytic.svm_loss_and_grad, analytic.softmax_loss_and_grad])
def test_bad_inputs_raise_clear_errors(loss_and_grad):
    W, X, y = jnp.zeros((3, 4)), jnp.zeros((5, 4)), jnp.zeros(5, jnp.int32)
    with pytest.raises(ValueError, match="W and X disagree"):
        loss_and_grad(W, jnp.zeros((5, 3)), y)
    with pytest.raises(ValueError, match="y must have one label per row"):
        loss_and_grad(W, X, jnp.zeros(4, jnp.int32))
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        loss_and_grad(W, X, jnp.array([0, 1, 2, 3, 0]))
    with pytest.raises(TypeError, match="y must hold integer"):
        loss_and_grad(W, X, jnp.zeros(5))
    with pytest.raises(TypeError, match="X must be a floating"):
        loss_and_grad(W, jnp.zeros((5, 4), jnp.int32), y)
    with pytest.raises(ValueError, match="reg must be >= 0"):
        loss_and_grad(W, X, y, reg=-1.0)
    with pytest.raises(ValueError, match="W must be finite"):
        loss_and_grad(W.at[0, 0].set(jnp.nan), X, y)


def test_svm_bad_margin():
    with pytest.raises(ValueError, match="margin must be >= 0"):
        analytic.svm_loss_and_grad(jnp.zeros((3, 4)), jnp.zeros((5, 4)), jnp.zeros(5, jnp.int32), margin=-1.0)
