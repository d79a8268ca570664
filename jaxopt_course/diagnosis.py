"""What a wrong gradient most likely got wrong: the diagnosis the grader and ``gradcheck`` share.

A gradient check says *that* an analytic gradient disagrees with the truth;
a student wants to know *why*. Most wrong gradients of the lecture's losses
are the right one with a known mistake in it, and each mistake changes
``dW`` in a fixed direction. With the true gradient split in its parts,

``G_data`` = the data term ``1/N dscores^T X``, ``G_reg = 2 reg W``,
``G_label = 1/N onehot(y)^T X`` (a 1 at each example's correct class),
``G_count = 1/N (onehot(y) * n_active)^T X`` (SVM: the correct class's
``-n_active`` term),

a student's ``dW`` that is ``a G_data + b G_reg + c G_label + d G_count``
(up to round-off) is read from its coefficients, fitted by least squares:

==========================  ==========================================================
coefficients                diagnosis (:data:`HINTS` key)
==========================  ==========================================================
``a = b = -1``              ``"sign_flipped"``: the whole gradient has the wrong sign
``a = 2`` or ``1/2``        ``"factor_2"``
``a = N`` or ``1/N``        ``"factor_n"``: ``1/N`` forgotten, or divided twice
``b = 0``, ``2``, ``1/2``   ``"reg_missing"``, ``"reg_doubled"``, ``"reg_without_2"``
``c = -1`` (SVM)            ``"correct_class_in_margin"``
``c = +1`` (softmax)        ``"onehot_missing"``: ``dscores = p`` instead of ``p - onehot``
``d = +1`` (SVM)            ``"correct_class_row_missing"``
==========================  ==========================================================

Two more readings need the loss, not only the gradient:
``"softmax_overflow"`` (the loss or gradient is Inf/NaN at large scores where
the stable reference is finite) and ``"fits_own_loss"`` (the gradient agrees
with finite differences of the student's own loss, and that loss is wrong):
:func:`diagnose_loss` and the grader make those.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: What each diagnosis tells a student: the likely mistake and where to look.
HINTS = {
    "sign_flipped": "dW has the wrong sign: it points downhill, the negative of the gradient. "
    "The gradient is dL/dW (uphill); the update subtracts it.",
    "factor_2": "dW is off by a factor of 2 (or 1/2) in its data term: look for a doubled term, "
    "a 2 from a derivative of something that is not squared, or a missing 2.",
    "factor_n": "dW's data term is off by a factor of N (the number of examples): the loss is a mean, "
    "so divide the summed gradient by N exactly once.",
    "reg_missing": "dW lacks the regularization gradient: add 2 * reg * W (the gradient of reg * sum(W**2)).",
    "reg_doubled": "dW counts the regularization gradient twice: 2 * reg * W belongs in dW once.",
    "reg_without_2": "dW's regularization gradient is reg * W: the derivative of reg * sum(W**2) is 2 * reg * W.",
    "correct_class_in_margin": "the SVM counts the correct class in its margins: the sum is over j != y_i only "
    "(the correct class's own margin is always Delta, so it adds Delta to each L_i "
    "and a spurious -1 to dscores at the correct class).",
    "onehot_missing": "softmax dscores must be p - onehot(y): subtract 1 at each example's correct class.",
    "correct_class_row_missing": "the SVM's correct class gets no gradient: dL_i/ds_{y_i} = -(number of wrong "
    "classes with a positive margin); the correct score appears in every active term.",
    "softmax_overflow": "the softmax overflows at large scores (e^{s} is Inf beyond s ~ 709 in float64): subtract "
    "each row's maximum score before exp; e^{s-m} / sum e^{s-m} is the same probability.",
    "fits_own_loss": "your gradient agrees with finite differences of your own loss, but that loss is wrong: "
    "the gradient code follows the loss, so fix the loss first (then its gradient).",
    "loss_wrong": "the loss value differs from the reference: check the formula, the mean over examples "
    "(1/N) and the penalty reg * sum(W**2).",
    "unexplained": "dW disagrees with the gradient in a way that matches none of the usual mistakes: check "
    "dscores one example at a time against a numerical gradient.",
}

#: Which bases each loss's diagnosis fits.
_BASES = {"svm": ("data", "reg", "label", "count"), "softmax": ("data", "reg", "label")}
#: A fit whose residual is below this fraction of |dW| explains the gradient.
FIT_TOLERANCE = 1e-4


class Diagnosis(NamedTuple):
    """A diagnosis: its keys (:data:`HINTS`), the hint text, and the fitted coefficients (``None``: no fit)."""

    codes: tuple
    hint: str
    coefficients: dict | None = None


def gradient_parts(loss: str, W_CxD, X_NxD, y_N, reg: float, margin: float = 1.0) -> dict:
    """The true gradient's parts ``{"data", "reg", "label", "count"}``, each ``(C, D)``, in float64.

    ``data`` is :mod:`jaxopt_course.analytic`'s gradient less ``2 reg W``.
    """
    import jax

    from . import analytic, losses

    with jax.enable_x64(True):
        W = np.asarray(W_CxD, np.float64)
        X = np.asarray(X_NxD, np.float64)
        y = np.asarray(y_N)
        _, dW = analytic.LOSS_AND_GRAD[loss](W, X, y, reg=reg, **({"margin": margin} if loss == "svm" else {}))
        dW = np.asarray(dW)
        num_examples, num_classes = X.shape[0], W.shape[0]
        onehot_NxC = (np.arange(num_classes)[None, :] == y[:, None]).astype(np.float64)
        _, active_NxC = losses.svm_margins(X @ W.T, y, margin)
        count_Nx1 = np.sum(np.asarray(active_NxC), axis=1, keepdims=True)
    return {
        "data": dW - 2.0 * reg * W,
        "reg": 2.0 * reg * W,
        "label": onehot_NxC.T @ X / num_examples,
        "count": (onehot_NxC * count_Nx1).T @ X / num_examples,
    }


def fit_coefficients(dW, parts: dict, names, indices=None):
    """Least-squares ``dW ~ sum_k coef_k parts[k]``: ``(coefficients, relative residual)``.

    ``indices`` (flat, row-major) restricts the fit to some coordinates (a sparse gradient check).
    Parts that are zero everywhere checked (``reg = 0``) are left out.
    """
    target = np.asarray(dW, np.float64).ravel()
    columns = {k: np.asarray(parts[k], np.float64).ravel() for k in names}
    if indices is not None:
        target = target[np.asarray(indices)]
        columns = {k: v[np.asarray(indices)] for k, v in columns.items()}
    used = [k for k in names if np.any(columns[k] != 0)]
    if not used or not np.all(np.isfinite(target)):
        return {}, float("inf")
    A = np.stack([columns[k] for k in used], axis=1)
    coef, *_ = np.linalg.lstsq(A, target, rcond=None)
    residual = float(np.linalg.norm(A @ coef - target)) / max(float(np.linalg.norm(target)), 1e-300)
    return dict(zip(used, (float(c) for c in coef), strict=True)), residual


def _near(value: float, target: float, tol: float = 1e-3) -> bool:
    return abs(value - target) <= tol * max(1.0, abs(target))


def read_coefficients(coef: dict, loss: str, num_examples: int) -> tuple:
    """The diagnosis keys that fitted coefficients spell out (empty: they are those of the true gradient)."""
    a, b = coef.get("data", 1.0), coef.get("reg", None)
    c, d = coef.get("label", 0.0), coef.get("count", 0.0)
    if _near(a, -1.0) and (b is None or _near(b, -1.0)):
        return ("sign_flipped",)
    codes = []
    factors = {
        "sign_flipped": (-1.0,),
        "factor_2": (2.0, 0.5),
        "factor_n": (num_examples, 1.0 / num_examples) if num_examples > 2 else (),
    }
    data_code = next((code for code, values in factors.items() if any(_near(a, v) for v in values)), None)
    if data_code:
        codes.append(data_code)
    elif not _near(a, 1.0):
        codes.append("unexplained")
    # The penalty's gradient scaled with the data term (the whole dW doubled) is that one mistake.
    if b is not None and not _near(b, 1.0) and not (data_code and _near(b, a)):
        reg_code = {0.0: "reg_missing", 2.0: "reg_doubled", 0.5: "reg_without_2"}
        codes.append(next((code for t, code in reg_code.items() if abs(b - t) < 1e-3), "unexplained"))
    if loss == "svm" and _near(c, -1.0):
        codes.append("correct_class_in_margin")
    elif loss == "softmax" and _near(c, 1.0):
        codes.append("onehot_missing")
    elif abs(c) > 1e-3:
        codes.append("unexplained")
    if loss == "svm" and _near(d, 1.0):
        codes.append("correct_class_row_missing")
    elif abs(d) > 1e-3:
        codes.append("unexplained")
    return tuple(dict.fromkeys(codes))


def diagnose_gradient(dW, loss: str, W, X, y, reg: float, margin: float = 1.0, indices=None) -> Diagnosis:
    """Why ``dW`` differs from the true gradient of ``loss`` (``"svm"`` or ``"softmax"``) at ``W``.

    Args:
      dW: the gradient to diagnose, ``W``'s shape ``(C, D)`` (or, with
        ``indices``, its values at those flat indices, ``(K,)``).
      loss: ``"svm"`` or ``"softmax"``.
      W, X, y, reg, margin: the problem (``W`` ``(C, D)``, ``X`` ``(N, D)``, ``y`` ``(N,)``).
      indices: optional flat (row-major) indices of the coordinates ``dW`` holds.

    Returns:
      A :class:`Diagnosis`; ``codes`` is empty when ``dW`` is the true gradient.

    Examples:
      A gradient without the regularization term:

      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> W, X, y = rng.normal(size=(3, 4)), rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
      >>> parts = gradient_parts("softmax", W, X, y, reg=0.1)
      >>> diagnose_gradient(parts["data"], "softmax", W, X, y, reg=0.1).codes
      ('reg_missing',)
    """
    if loss not in _BASES:
        raise ValueError(f"loss must be one of {sorted(_BASES)}, got {loss!r}")
    parts = gradient_parts(loss, W, X, y, reg, margin)
    full = np.asarray(dW, np.float64)
    if indices is not None:
        expanded = np.zeros(np.size(W))
        expanded[np.asarray(indices)] = full.ravel()
        full = expanded
    if not np.all(np.isfinite(full)):
        return Diagnosis(
            ("softmax_overflow",) if loss == "softmax" else ("unexplained",),
            HINTS["softmax_overflow"] if loss == "softmax" else "dW holds Inf or NaN. " + HINTS["unexplained"],
        )
    coef, residual = fit_coefficients(full, parts, _BASES[loss], indices)
    if residual > FIT_TOLERANCE:
        return Diagnosis(("unexplained",), HINTS["unexplained"], coef)
    codes = read_coefficients(coef, loss, int(np.shape(X)[0]))
    return Diagnosis(codes, " ".join(HINTS[c] for c in codes), coef)


def diagnose_loss(
    student_loss: float, reference_loss: float, loss: str, num_examples: int, margin: float = 1.0, penalty: float = 0.0
) -> Diagnosis:
    """Why a loss value differs from the reference (empty ``codes``: it does not, to 1e-6 relative).

    ``penalty`` is the reference's ``reg * sum(W**2)``: a student loss whose
    data term is ``N`` times the reference's (a sum where the loss is a mean)
    is recognised with the penalty added once.
    """
    s, r = float(student_loss), float(reference_loss)
    if np.isfinite(s) and abs(s - r) <= 1e-6 * max(1.0, abs(r)):
        return Diagnosis((), "")
    if not np.isfinite(s) and np.isfinite(r):
        if loss == "softmax":
            return Diagnosis(("softmax_overflow",), HINTS["softmax_overflow"])
        return Diagnosis(("loss_wrong",), f"the loss is {s} where the reference is {r:.6g}. " + HINTS["loss_wrong"])
    if loss == "svm" and _near(s - r, margin, 1e-6):
        return Diagnosis(("correct_class_in_margin",), HINTS["correct_class_in_margin"])
    detail = f"the loss is {s:.6g} where the reference is {r:.6g}"
    data_s, data_r = s - float(penalty), r - float(penalty)
    if data_r != 0 and _near(data_s / data_r, num_examples, 1e-6):
        detail += f" ({num_examples} = N times it: a sum where the loss is a mean over examples)"
    return Diagnosis(("loss_wrong",), f"{detail}. " + HINTS["loss_wrong"])


def diagnose_report(report, loss: str, W, X, y, reg: float, margin: float = 1.0) -> Diagnosis:
    """:func:`diagnose_gradient` of a :class:`~jaxopt_course.gradcheck.GradCheckReport` (what ``gradcheck`` prints).

    The report holds the analytic gradient at the checked indices; the
    diagnosis reads it at those coordinates only.
    """
    return diagnose_gradient(report.analytic, loss, W, X, y, reg, margin, indices=report.indices)
