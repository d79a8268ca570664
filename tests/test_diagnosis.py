"""The diagnosis of a wrong gradient (jaxopt_course.diagnosis), against wrong gradients built by hand.

Each mistake of issue 22 point 3 is written here in plain NumPy, from a
reference SVM and softmax written in this file (not the package's): a
factor of 2 or N, a missing / doubled / halved regularization gradient, a
flipped sign, the SVM's correct class counted in its margins, a softmax
without the max shift at large scores, and a gradient that follows the
student's own wrong loss. Each must get its code and its hint; the right
gradient must get none. Small float64 problems: the whole file runs in a
few seconds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import diagnosis
from jaxopt_course.diagnosis import HINTS

NUM_CLASSES, DIM, NUM_EXAMPLES, REG = 4, 6, 12, 0.05


def problem(seed=0, w_scale=0.5):
    """W (C, D), X (N, D) with a bias column of ones last, y (N,) with every class present."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(NUM_EXAMPLES, DIM - 1)), np.ones((NUM_EXAMPLES, 1))], axis=1)
    y = np.arange(NUM_EXAMPLES) % NUM_CLASSES
    rng.shuffle(y)
    return w_scale * rng.normal(size=(NUM_CLASSES, DIM)), X, y


# ---------------------------------------------------------------------------
# Independent references: the lecture's formulas in NumPy, with switches for the students' mistakes.
# ---------------------------------------------------------------------------


def svm_parts(W, X, y, reg, count_correct_class=False):
    """(loss, data gradient, regularization gradient) of the Weston-Watkins SVM, margin 1.

    ``count_correct_class``: the margins at j = y_i are not zeroed (the mistake).
    """
    n = X.shape[0]
    rows = np.arange(n)
    scores = X @ W.T
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + 1.0)
    if not count_correct_class:
        margins[rows, y] = 0.0
    loss = margins.sum() / n + reg * np.sum(W**2)
    dscores = (margins > 0).astype(float)
    # The correct score appears in every active term; with the mistake, its own margin (always 1) is one of them.
    dscores[rows, y] = -dscores.sum(axis=1)
    return loss, dscores.T @ X / n, 2 * reg * W


def softmax_parts(W, X, y, reg, max_shift=True, onehot=True):
    """(loss, data gradient, regularization gradient) of softmax cross-entropy (natural log)."""
    n = X.shape[0]
    rows = np.arange(n)
    scores = X @ W.T
    if max_shift:
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log-probabilities: no log(0)
        p = np.exp(log_p)
        loss = -np.mean(log_p[rows, y]) + reg * np.sum(W**2)
    else:  # the student's naive version: e^s overflows to Inf, Inf / Inf is NaN
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            exp = np.exp(scores)
            p = exp / exp.sum(axis=1, keepdims=True)
            loss = -np.mean(np.log(p[rows, y])) + reg * np.sum(W**2)
    dscores = p.copy()
    if onehot:
        dscores[rows, y] -= 1.0
    return loss, dscores.T @ X / n, 2 * reg * W


PARTS = {"svm": svm_parts, "softmax": softmax_parts}


def test_the_references_agree_with_float64_finite_differences():
    """The hand-written references above are right (central differences, float64) before they judge anything."""
    W, X, y = problem()
    for loss in PARTS:
        _, data, reg_part = PARTS[loss](W, X, y, REG)
        numerical = np.zeros_like(W)
        for index in np.ndindex(*W.shape):
            step = np.zeros_like(W)
            step[index] = 1e-6
            numerical[index] = (PARTS[loss](W + step, X, y, REG)[0] - PARTS[loss](W - step, X, y, REG)[0]) / 2e-6
        np.testing.assert_allclose(data + reg_part, numerical, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------
# The gradient's mistakes.
# ---------------------------------------------------------------------------

#: name -> (wrong dW from (data, reg_part, N), expected codes)
MISTAKES = {
    "data term doubled": (lambda d, r, n: 2 * d + r, ("factor_2",)),
    "whole dW doubled": (lambda d, r, n: 2 * (d + r), ("factor_2",)),
    "data term halved": (lambda d, r, n: d / 2 + r, ("factor_2",)),
    "1/N forgotten (a sum)": (lambda d, r, n: n * d + r, ("factor_n",)),
    "divided by N twice": (lambda d, r, n: d / n + r, ("factor_n",)),
    "regularization gradient missing": (lambda d, r, n: d, ("reg_missing",)),
    "regularization gradient doubled": (lambda d, r, n: d + 2 * r, ("reg_doubled",)),
    "regularization gradient without its 2": (lambda d, r, n: d + r / 2, ("reg_without_2",)),
    "sign flipped": (lambda d, r, n: -(d + r), ("sign_flipped",)),
}


@pytest.mark.parametrize("loss", ["svm", "softmax"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_gradient_mistake_gets_its_code_and_hint(loss, mistake):
    W, X, y = problem()
    _, data, reg_part = PARTS[loss](W, X, y, REG)
    wrong, codes = MISTAKES[mistake]
    found = diagnosis.diagnose_gradient(wrong(data, reg_part, NUM_EXAMPLES), loss, W, X, y, REG)
    assert found.codes == codes, (mistake, found)
    assert found.hint == " ".join(HINTS[c] for c in codes)


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_the_right_gradient_gets_no_code(loss):
    W, X, y = problem(seed=1)
    _, data, reg_part = PARTS[loss](W, X, y, REG)
    found = diagnosis.diagnose_gradient(data + reg_part, loss, W, X, y, REG)
    assert found.codes == ()
    assert found.hint == ""
    assert found.coefficients["data"] == pytest.approx(1.0, abs=1e-9)
    assert found.coefficients["reg"] == pytest.approx(1.0, abs=1e-9)


def test_the_fitted_coefficients_are_the_mistakes_factors():
    """A factor of N shows as a = N, a doubled penalty as b = 2: the numbers behind the codes."""
    W, X, y = problem(seed=2)
    _, data, reg_part = softmax_parts(W, X, y, REG)
    found = diagnosis.diagnose_gradient(NUM_EXAMPLES * data + 2 * reg_part, "softmax", W, X, y, REG)
    assert found.codes == ("factor_n", "reg_doubled")
    assert found.coefficients["data"] == pytest.approx(NUM_EXAMPLES, rel=1e-9)
    assert found.coefficients["reg"] == pytest.approx(2.0, rel=1e-9)


def test_svm_correct_class_counted_in_the_margin():
    """Margins not zeroed at j = y_i: the loss gains exactly Delta = 1, dscores a spurious -1 at y_i."""
    W, X, y = problem(seed=3)
    right_loss, _, _ = svm_parts(W, X, y, REG)
    wrong_loss, data, reg_part = svm_parts(W, X, y, REG, count_correct_class=True)
    assert wrong_loss == pytest.approx(right_loss + 1.0, rel=1e-12)  # the reference's own sanity
    found = diagnosis.diagnose_gradient(data + reg_part, "svm", W, X, y, REG)
    assert found.codes == ("correct_class_in_margin",)
    assert "j != y_i" in found.hint
    assert diagnosis.diagnose_loss(wrong_loss, right_loss, "svm", NUM_EXAMPLES).codes == ("correct_class_in_margin",)


def test_softmax_onehot_missing():
    W, X, y = problem(seed=4)
    _, data, reg_part = softmax_parts(W, X, y, REG, onehot=False)
    found = diagnosis.diagnose_gradient(data + reg_part, "softmax", W, X, y, REG)
    assert found.codes == ("onehot_missing",)
    assert "p - onehot(y)" in found.hint


def test_softmax_without_the_max_shift_overflows_at_large_scores():
    """Scores in the thousands: e^s is Inf, the naive loss and dW are not finite; the stable ones are."""
    W, X, y = problem(seed=5, w_scale=1000.0)
    assert np.max(np.abs(X @ W.T)) > 800  # beyond float64's e^709
    stable_loss, data, reg_part = softmax_parts(W, X, y, 0.0)
    naive_loss, naive_data, naive_reg = softmax_parts(W, X, y, 0.0, max_shift=False)
    assert np.isfinite(stable_loss) and np.all(np.isfinite(data))
    assert not np.isfinite(naive_loss) and not np.all(np.isfinite(naive_data))
    found = diagnosis.diagnose_gradient(naive_data + naive_reg, "softmax", W, X, y, 0.0)
    assert found.codes == ("softmax_overflow",)
    assert "maximum" in found.hint
    assert diagnosis.diagnose_loss(naive_loss, stable_loss, "softmax", NUM_EXAMPLES).codes == ("softmax_overflow",)
    # The stable softmax at the same scores is diagnosed as right.
    assert diagnosis.diagnose_gradient(data + reg_part, "softmax", W, X, y, 0.0).codes == ()


def test_a_loss_that_is_a_sum_says_n_times():
    W, X, y = problem(seed=6)
    right, _, _ = svm_parts(W, X, y, 0.0)
    found = diagnosis.diagnose_loss(NUM_EXAMPLES * right, right, "svm", NUM_EXAMPLES)
    assert found.codes == ("loss_wrong",)
    assert f"{NUM_EXAMPLES} = N times" in found.hint
    assert diagnosis.diagnose_loss(right, right, "svm", NUM_EXAMPLES).codes == ()
    # With regularization: the data term summed, the penalty added once (what students write).
    penalty = REG * np.sum(W**2)
    summed = diagnosis.diagnose_loss(
        NUM_EXAMPLES * right + penalty, right + penalty, "svm", NUM_EXAMPLES, penalty=penalty
    )
    assert f"{NUM_EXAMPLES} = N times" in summed.hint


def test_a_gradient_of_none_of_the_shapes_is_unexplained():
    W, X, y = problem(seed=7)
    noise = np.random.default_rng(8).normal(size=W.shape)
    found = diagnosis.diagnose_gradient(noise, "softmax", W, X, y, REG)
    assert found.codes == ("unexplained",)
    assert found.hint == HINTS["unexplained"]


def test_a_gradient_that_fits_the_students_own_wrong_loss():
    """A loss summed where it should be averaged, with the gradient of that sum: fix the loss first.

    This reading needs the student's loss function, so it lives in the grader
    (checks.gradient_hint), which finite-differences the student's own loss.
    """
    from jaxopt_course.assignment import checks

    def svm_sum_not_mean(W, X, y, reg):
        loss, data, reg_part = svm_parts(W, X, y, reg)
        n = X.shape[0]
        return n * (loss - reg * np.sum(W**2)) + reg * np.sum(W**2), n * data + reg_part

    p = checks.small_problem()
    hint = checks.gradient_hint({"svm_loss_and_grad": svm_sum_not_mean}, "svm_loss_and_grad", "svm", p)
    assert HINTS["fits_own_loss"] in hint
    assert "N times" in hint  # the loss's own diagnosis, in brackets

    def svm_right(W, X, y, reg):
        loss, data, reg_part = svm_parts(W, X, y, reg)
        return loss, data + reg_part

    assert checks.gradient_hint({"svm_loss_and_grad": svm_right}, "svm_loss_and_grad", "svm", p) is None


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_diagnose_report_reads_a_sparse_gradient_check(loss):
    """What the gradcheck command prints: the diagnosis from the checked coordinates alone."""
    from jaxopt_course import losses
    from jaxopt_course.gradcheck import check_gradient

    W, X, y = problem(seed=9)
    _, data, reg_part = PARTS[loss](W, X, y, REG)
    with jax.enable_x64(True):
        reference = losses.get_loss(loss)

        def f(W):
            return reference(W, jnp.asarray(X), jnp.asarray(y), reg=REG)

        report = check_gradient(f, jnp.asarray(W), jnp.asarray(data), num_checks=16, h=1e-5, key=jax.random.key(0))
    assert report.num_checked == 16
    found = diagnosis.diagnose_report(report, loss, W, X, y, REG)
    assert found.codes == ("reg_missing",)


def test_unknown_loss_is_named():
    W, X, y = problem()
    with pytest.raises(ValueError, match=r"loss must be one of \['softmax', 'svm'\], got 'hinge'"):
        diagnosis.diagnose_gradient(W, "hinge", W, X, y, REG)
