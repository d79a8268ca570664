"""The SVM and softmax losses against hand-computed values, a NumPy loop and their properties."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxopt_course import l2_penalty, softmax_loss, softmax_per_example, svm_loss, svm_per_example
from jaxopt_course.losses import get_loss

HYP = settings(derandomize=True, deadline=None, max_examples=40)

# The lecture's score table: one column per image (cat, car, frog), one row per class.
#          cat   car   frog   <- images
# cat      3.2   1.3   2.2
# car      5.1   4.9   2.5
# frog    -1.7   2.0  -3.1
LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # rows = images
LECTURE_LABELS = np.array([0, 1, 2], dtype=np.int32)


def lecture_problem(dtype=np.float32):
    """W = I, so that the scores W x are the rows of X: the lecture's table."""
    return jnp.eye(3, dtype=dtype), jnp.asarray(LECTURE_SCORES, dtype=dtype), jnp.asarray(LECTURE_LABELS)


# ---------------------------------------------------------------------------
# Independent references: the CS231n naive loops, in float64 NumPy.
# ---------------------------------------------------------------------------


def numpy_svm_loss(W, X, y, reg, margin=1.0):
    loss = 0.0
    for i in range(X.shape[0]):
        s = W @ X[i]
        for j in range(W.shape[0]):
            if j != y[i]:
                loss += max(0.0, s[j] - s[y[i]] + margin)
    return loss / X.shape[0] + reg * np.sum(W * W)


def numpy_softmax_loss(W, X, y, reg):
    loss = 0.0
    for i in range(X.shape[0]):
        s = W @ X[i]
        s = s - s.max()
        loss += -s[y[i]] + math.log(sum(math.exp(v) for v in s))
    return loss / X.shape[0] + reg * np.sum(W * W)


# ---------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------


def test_svm_lecture_table():
    W, X, y = lecture_problem()
    # cat:  max(0, 5.1-3.2+1) + max(0, -1.7-3.2+1) = 2.9 + 0
    # car:  max(0, 1.3-4.9+1) + max(0, 2.0-4.9+1) = 0
    # frog: max(0, 2.2+3.1+1) + max(0, 2.5+3.1+1) = 6.3 + 6.6 = 12.9
    np.testing.assert_allclose(svm_per_example(W, X, y), [2.9, 0.0, 12.9], rtol=1e-6)
    np.testing.assert_allclose(svm_loss(W, X, y), (2.9 + 0.0 + 12.9) / 3, rtol=1e-6)


def test_softmax_lecture_table():
    W, X, y = lecture_problem()
    expected = [
        -math.log(math.exp(3.2) / (math.exp(3.2) + math.exp(5.1) + math.exp(-1.7))),  # 2.04
        -math.log(math.exp(4.9) / (math.exp(1.3) + math.exp(4.9) + math.exp(2.0))),  # 0.079
        -math.log(math.exp(-3.1) / (math.exp(2.2) + math.exp(2.5) + math.exp(-3.1))),  # 6.16
    ]
    assert expected[0] == pytest.approx(2.04, abs=5e-3)
    np.testing.assert_allclose(softmax_per_example(W, X, y), expected, rtol=1e-5)
    np.testing.assert_allclose(softmax_loss(W, X, y), np.mean(expected), rtol=1e-5)


def test_penalty_and_reg_by_hand():
    W = jnp.array([[1.0, -2.0], [0.5, 0.0]])
    X = jnp.zeros((1, 2))
    y = jnp.array([0])
    assert float(l2_penalty(W)) == pytest.approx(1 + 4 + 0.25)
    # At X = 0 all scores are 0: SVM data loss (C-1)*margin = 1, softmax log 2.
    assert float(svm_loss(W, X, y, reg=0.1)) == pytest.approx(1.0 + 0.1 * 5.25)
    assert float(softmax_loss(W, X, y, reg=0.1)) == pytest.approx(math.log(2) + 0.1 * 5.25)


# ---------------------------------------------------------------------------
# Agreement with the NumPy loops (float64)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_numpy_loops_float64(seed):
    rng = np.random.default_rng(seed)
    N, D, C = 37, 11, 5
    W = rng.standard_normal((C, D))
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N).astype(np.int32)
    reg = 0.3
    with jax.enable_x64(True):
        svm = svm_loss(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg=reg, margin=1.0)
        soft = softmax_loss(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), reg=reg)
        assert svm.dtype == jnp.float64
    np.testing.assert_allclose(float(svm), numpy_svm_loss(W, X, y, reg), rtol=1e-10)
    np.testing.assert_allclose(float(soft), numpy_softmax_loss(W, X, y, reg), rtol=1e-10)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

N, D, C = 8, 4, 3
finite = st.floats(-5, 5, allow_nan=False, allow_infinity=False, width=32)
W_strategy = hnp.arrays(np.float32, (C, D), elements=finite)
X_strategy = hnp.arrays(np.float32, (N, D), elements=finite)
y_strategy = hnp.arrays(np.int32, (N,), elements=st.integers(0, C - 1))


@HYP
@given(W=W_strategy, X=X_strategy, y=y_strategy, reg=st.floats(0, 1))
def test_losses_nonnegative(W, X, y, reg):
    assert float(svm_loss(W, X, y, reg=reg)) >= 0
    assert float(softmax_loss(W, X, y, reg=reg)) >= 0
    assert np.all(np.asarray(svm_per_example(W, X, y)) >= 0)
    assert np.all(np.asarray(softmax_per_example(W, X, y)) >= -1e-6)


@HYP
@given(X=X_strategy, y=y_strategy, margin=st.floats(0.1, 3))
def test_zero_weights_give_known_losses(X, y, margin):
    W = np.zeros((C, D), np.float32)
    assert float(softmax_loss(W, X, y)) == pytest.approx(math.log(C), rel=1e-6)
    assert float(svm_loss(W, X, y, margin=margin)) == pytest.approx((C - 1) * margin, rel=1e-6)


@HYP
@given(y=y_strategy, gap=st.floats(1.01, 10))
def test_svm_zero_when_every_margin_holds(y, gap):
    # Scores = X (W = I); the correct class leads every other by `gap` > margin = 1.
    X = np.zeros((N, C), np.float32)
    X[np.arange(N), y] = gap
    assert float(svm_loss(np.eye(C, dtype=np.float32), X, y)) == 0.0


@HYP
@given(W=W_strategy, X=X_strategy, y=y_strategy, perm_seed=st.integers(0, 10**6))
def test_invariant_to_permuting_examples(W, X, y, perm_seed):
    perm = np.random.default_rng(perm_seed).permutation(N)
    for loss in (svm_loss, softmax_loss):
        np.testing.assert_allclose(loss(W, X, y, reg=0.1), loss(W, X[perm], y[perm], reg=0.1), rtol=1e-5)


@HYP
@given(
    S=hnp.arrays(np.float32, (N, C), elements=finite),
    y=y_strategy,
    row=st.integers(0, N - 1),
    shift=st.floats(-50, 50, width=32),
)
def test_softmax_unchanged_by_constant_added_to_one_examples_scores(S, y, row, shift):
    W = np.eye(C, dtype=np.float32)  # scores = X
    shifted = S.copy()
    shifted[row] += np.float32(shift)
    np.testing.assert_allclose(softmax_per_example(W, shifted, y), softmax_per_example(W, S, y), atol=1e-4)


@pytest.mark.parametrize("loss", [svm_loss, softmax_loss])
def test_jit_equals_no_jit(loss):
    X, y = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32), np.arange(20) % 4
    W = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    y = y.astype(np.int32)
    jitted = jax.jit(loss)(W, X, y, 0.2)
    with jax.disable_jit():
        eager = loss(W, X, y, 0.2)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    chex.assert_trees_all_close(jax.jit(jax.grad(loss))(W, X, y, 0.2), jax.grad(loss)(W, X, y, 0.2), rtol=1e-6)


def test_svm_gradient_at_exact_kink_follows_indicator():
    # W = I, x = (1, 0, 0), y = 0: both wrong-class margins are 0 - 1 + 1 = 0 exactly.
    W = jnp.eye(3)
    X = jnp.array([[1.0, 0.0, 0.0]])
    y = jnp.array([0])
    margins = np.asarray(X @ W.T)[0] - 1.0 + 1.0
    assert margins[1] == 0.0 and margins[2] == 0.0
    # Hand-derived subgradient: only margins > 0 contribute, so dW = 0 here.
    np.testing.assert_array_equal(jax.grad(svm_loss)(W, X, y), np.zeros((3, 3)))

    # The jnp.maximum form splits the kink and gives 0.5: the test above can fail.
    def maximum_form(W):
        s = X @ W.T
        m = s - s[:, :1] + 1.0
        return jnp.sum(jnp.maximum(m[:, 1:], 0.0))

    assert float(jax.grad(maximum_form)(W)[1, 0]) == 0.5


def test_svm_gradient_matches_hand_derived_away_from_kinks():
    # One example, one active margin: dL/dW[j] = x, dL/dW[y] = -x (plus 2 reg W).
    W = jnp.array([[1.0, 0.0], [0.0, 1.0], [-5.0, 0.0]])
    X = jnp.array([[1.0, 0.5]])  # scores (1, 0.5, -5); y = 0; margin for j=1: 0.5 - 1 + 1 = 0.5 > 0
    y = jnp.array([0])
    expected = np.array([[-1.0, -0.5], [1.0, 0.5], [0.0, 0.0]]) + 2 * 0.1 * np.asarray(W)
    np.testing.assert_allclose(jax.grad(svm_loss)(W, X, y, 0.1), expected, rtol=1e-6)


def test_softmax_stable_for_huge_scores():
    W = jnp.eye(3)
    X = jnp.array([[1e4, -1e4, 0.0], [3e4, 3e4, -3e4]])
    y = jnp.array([1, 0])
    per = np.asarray(softmax_per_example(W, X, y))
    assert np.all(np.isfinite(per))
    np.testing.assert_allclose(per, [2e4, math.log(2)], rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(jax.grad(softmax_loss)(W, X, y))))


def test_get_loss_by_name():
    assert get_loss("svm") is svm_loss and get_loss("softmax") is softmax_loss
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")


# ---------------------------------------------------------------------------
# Bad input: each gets its own, named error, before any tracing.
# ---------------------------------------------------------------------------

GOOD_W = np.zeros((3, 4), np.float32)
GOOD_X = np.zeros((5, 4), np.float32)
GOOD_y = np.array([0, 1, 2, 0, 1], np.int32)


@pytest.mark.parametrize(
    "W, X, y, error, pattern",
    [
        (np.zeros((3, 5), np.float32), GOOD_X, GOOD_y, ValueError, r"W and X disagree on the dimension D"),
        (np.zeros(4, np.float32), GOOD_X, GOOD_y, ValueError, r"W must be 2-D"),
        (GOOD_W, np.zeros((5, 4, 1), np.float32), GOOD_y, ValueError, r"X must be 2-D"),
        (GOOD_W, GOOD_X, GOOD_y.reshape(5, 1), ValueError, r"y must be 1-D"),
        (GOOD_W, GOOD_X, GOOD_y.astype(np.float32), TypeError, r"y must hold integer class labels"),
        (GOOD_W, GOOD_X, np.array([0, 1, 3, 0, 1], np.int32), ValueError, r"labels in \[0, 3\).*\[0, 3\]"),
        (GOOD_W, GOOD_X, np.array([0, -1, 2, 0, 1], np.int32), ValueError, r"labels in \[0, 3\)"),
        (GOOD_W, np.full((5, 4), np.nan, np.float32), GOOD_y, ValueError, r"X must be finite"),
        (np.full((3, 4), np.inf, np.float32), GOOD_X, GOOD_y, ValueError, r"W must be finite"),
        (GOOD_W, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), ValueError, r"at least one example"),
        (GOOD_W, GOOD_X, GOOD_y[:4], ValueError, r"one label per row of X \(N=5\), got 4"),
        (GOOD_W, GOOD_X.astype(np.int32), GOOD_y, TypeError, r"X must be a floating array"),
        (GOOD_W, GOOD_X.astype(np.complex64), GOOD_y, TypeError, r"X must be a real floating array"),
        (GOOD_W, "not an array", GOOD_y, TypeError, r"X must be an array"),
    ],
)
@pytest.mark.parametrize("loss", [svm_loss, softmax_loss])
def test_bad_inputs_raise_named_errors(loss, W, X, y, error, pattern):
    with pytest.raises(error, match=pattern):
        loss(W, X, y)


@pytest.mark.parametrize("reg", [-1.0, float("nan"), float("inf")])
def test_bad_reg(reg):
    with pytest.raises(ValueError, match="reg must be"):
        svm_loss(GOOD_W, GOOD_X, GOOD_y, reg=reg)


def test_complex_W_only_for_softmax():
    with pytest.raises(TypeError, match="W must be a real floating array"):
        svm_loss(GOOD_W.astype(np.complex64), GOOD_X, GOOD_y)
    value = softmax_loss(GOOD_W.astype(np.complex64), GOOD_X, GOOD_y)
    assert jnp.iscomplexobj(value)
    assert float(jnp.real(value)) == pytest.approx(math.log(3), rel=1e-6)


def test_shape_checks_still_run_under_tracing():
    # Under jax.grad W is a tracer: values are not checked, shapes are.
    with pytest.raises(ValueError, match="W and X disagree"):
        jax.grad(svm_loss)(np.zeros((3, 5), np.float32), GOOD_X, GOOD_y)
    # ... and a traced, finite call goes through.
    assert jax.jit(svm_loss)(GOOD_W, GOOD_X, GOOD_y).shape == ()


def test_the_shared_margin_mask_and_shift_against_numpy():
    """svm_margins / shifted_scores, the one SVM mask and softmax shift of the package, against a NumPy loop."""
    from jaxopt_course.losses import (
        shifted_scores,
        softmax_per_example_from_scores,
        svm_margins,
        svm_per_example_from_scores,
    )

    rng = np.random.default_rng(3)
    S = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6).astype(np.int32)
    S[0, (y[0] + 1) % 4] = S[0, y[0]] - 1.0  # a margin exactly 0: a kink, not active
    with jax.enable_x64(True):
        margins, active = svm_margins(jnp.asarray(S), jnp.asarray(y), 1.0)
        shifted = shifted_scores(jnp.asarray(S))
        svm_i = svm_per_example_from_scores(jnp.asarray(S), jnp.asarray(y), 1.0)
        softmax_i = softmax_per_example_from_scores(jnp.asarray(S), jnp.asarray(y))
    for i in range(6):
        for j in range(4):
            m = S[i, j] - S[i, y[i]] + 1.0
            assert margins[i, j] == pytest.approx(m, abs=1e-12)
            assert bool(active[i, j]) == (j != y[i] and m > 0)
        assert svm_i[i] == pytest.approx(sum(max(0.0, S[i, j] - S[i, y[i]] + 1.0) for j in range(4) if j != y[i]))
        assert softmax_i[i] == pytest.approx(-math.log(math.exp(S[i, y[i]]) / sum(math.exp(s) for s in S[i])))
    np.testing.assert_allclose(np.asarray(shifted), S - S.max(axis=1, keepdims=True), atol=1e-12)
    assert not bool(active[0, (y[0] + 1) % 4])
