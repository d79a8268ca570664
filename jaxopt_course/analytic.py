"""The hand-derived gradients of the two losses (the lecture's "analytic gradient").

The lecture computes the gradient twice: numerically, one finite difference
per weight (:mod:`jaxopt_course.gradcheck`), and analytically, from a formula
derived with calculus. This module is the formula, vectorized the CS231n way,
for ``W`` of shape ``(C, D)``, ``X`` ``(N, D)`` and scores ``s = X W^T``
``(N, C)``. Both functions return ``(loss, dW)`` and follow the chain rule in
two steps:

1. ``dscores = dL/ds`` of shape ``(N, C)``, one row per example;
2. ``dW = dscores^T X + 2 reg W`` of shape ``(C, D)`` (the ``2 reg W`` is the
   gradient of the penalty ``reg * sum W**2``).

They compute the same losses as :func:`jaxopt_course.losses.svm_loss` and
:func:`jaxopt_course.losses.softmax_loss`, so ``jax.grad`` of those is a
third, independent route to the same ``dW``. The scores ``X W^T`` are written
out here on purpose, the by-hand twin of :func:`jaxopt_course.model.scores`;
the SVM's margins and mask and the softmax's shift are the ones the losses use
(:func:`~jaxopt_course.losses.svm_margins`, :func:`~jaxopt_course.losses.shifted_scores`),
so only the derivative is derived here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks, losses

# ---------------------------------------------------------------------------
# The pure cores (no validation; safe under jit / vmap).
# ---------------------------------------------------------------------------


@jax.jit
def _svm_loss_and_grad(W_CxD, X_NxD, y_N, reg, margin):
    num_examples, num_classes = X_NxD.shape[0], W_CxD.shape[0]
    # The scores by hand (model.scores_core computes the same X W^T).
    scores_NxC = X_NxD @ W_CxD.T
    # A wrong class j contributes max(0, margin_ij) to L_i; it is "active"
    # (it pushes the loss up) when its margin is > 0 (losses.svm_margins).
    margins_NxC, active_NxC = losses.svm_margins(scores_NxC, y_N, margin)
    is_correct_NxC = jnp.arange(num_classes)[None, :] == y_N[:, None]
    loss = jnp.sum(jnp.where(active_NxC, margins_NxC, 0.0)) / num_examples + reg * jnp.sum(W_CxD * W_CxD)

    # dL_i/ds_j = 1 for every active wrong class j, and
    # dL_i/ds_{y_i} = -(number of active wrong classes): the correct score
    # appears, with a minus sign, in every active term.
    active_count_Nx1 = jnp.sum(active_NxC, axis=1, keepdims=True)
    dscores_NxC = jnp.where(is_correct_NxC, -active_count_Nx1, active_NxC).astype(X_NxD.dtype)
    dscores_NxC = dscores_NxC / num_examples
    dW_CxD = dscores_NxC.T @ X_NxD + 2.0 * reg * W_CxD
    return loss, dW_CxD


@jax.jit
def _softmax_loss_and_grad(W_CxD, X_NxD, y_N, reg):
    num_examples, num_classes = X_NxD.shape[0], W_CxD.shape[0]
    scores_NxC = X_NxD @ W_CxD.T  # by hand, as above
    # Shift every row by its maximum before exp: e^{s_j - m} / sum_k e^{s_k - m}
    # is the same probability, and nothing overflows (losses.shifted_scores).
    shifted_NxC = losses.shifted_scores(scores_NxC)
    log_sum_exp_Nx1 = jnp.log(jnp.sum(jnp.exp(shifted_NxC), axis=1, keepdims=True))
    log_probs_NxC = shifted_NxC - log_sum_exp_Nx1
    is_correct_NxC = jnp.arange(num_classes)[None, :] == y_N[:, None]
    loss = -jnp.sum(jnp.where(is_correct_NxC, log_probs_NxC, 0.0)) / num_examples + reg * jnp.sum(W_CxD * W_CxD)

    # dL_i/ds_j = p_j - [j == y_i]: the predicted probabilities minus the
    # one-hot label.
    dscores_NxC = (jnp.exp(log_probs_NxC) - is_correct_NxC.astype(X_NxD.dtype)) / num_examples
    dW_CxD = dscores_NxC.T @ X_NxD + 2.0 * reg * W_CxD
    return loss, dW_CxD


# ---------------------------------------------------------------------------
# The public, validated functions.
# ---------------------------------------------------------------------------


def svm_loss_and_grad(W, X, y, reg=0.0, margin=1.0):
    """Multiclass SVM loss and its hand-derived gradient, vectorized.

    With scores ``s_i = W x_i`` and margins ``m_ij = s_ij - s_{i,y_i} + margin``:

    ``L = 1/N sum_i sum_{j != y_i} max(0, m_ij) + reg * sum W**2``

    ``dL/ds_ij = 1[m_ij > 0]`` for ``j != y_i``, ``dL/ds_{i,y_i} = -sum_{j != y_i} 1[m_ij > 0]``,

    ``dW = (1/N) dscores^T X + 2 reg W``.

    At a kink (a margin exactly 0) this is the subgradient with the indicator
    ``m_ij > 0``, the same one ``jax.grad(svm_loss)`` gives.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, bias column included.
      y: integer labels ``(N,)`` in ``[0, C)``.
      reg: regularization strength lambda (>= 0).
      margin: the margin Delta (1.0 in the lecture).

    Returns:
      ``(loss, dW)``: the scalar loss and its gradient, shape ``(C, D)``.

    Examples:
      The lecture's cat image (scores cat 3.2, car 5.1, frog -1.7, label cat):
      only "car" violates the margin, so the car row of ``dW`` is ``+x`` and
      the cat row ``-x``.

      >>> import jax.numpy as jnp
      >>> W = jnp.eye(3)
      >>> X = jnp.array([[3.2, 5.1, -1.7]])
      >>> loss, dW = svm_loss_and_grad(W, X, jnp.array([0]))
      >>> round(float(loss), 4), dW[:, 1].tolist()
      (2.9, [-5.099999904632568, 5.099999904632568, 0.0])
    """
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(reg, "reg")
    _checks.check_nonnegative(margin, "margin")
    return _svm_loss_and_grad(W, X, y, reg, margin)


def softmax_loss_and_grad(W, X, y, reg=0.0):
    """Softmax cross-entropy loss and its hand-derived gradient, vectorized.

    With scores ``s_i = W x_i`` and probabilities ``p_ij = e^{s_ij} / sum_k e^{s_ik}``:

    ``L = 1/N sum_i -log p_{i,y_i} + reg * sum W**2``

    ``dL/ds_ij = p_ij - 1[j == y_i]``, ``dW = (1/N) dscores^T X + 2 reg W``.

    Args:
      W: weights ``(C, D)``.
      X: examples ``(N, D)``, bias column included.
      y: integer labels ``(N,)`` in ``[0, C)``.
      reg: regularization strength lambda (>= 0).

    Returns:
      ``(loss, dW)``: the scalar loss and its gradient, shape ``(C, D)``.

    Examples:
      Two classes with equal scores: ``p = (1/2, 1/2)``, the loss is
      ``log 2`` and ``dscores = (1/2 - 1, 1/2)`` for label 0.

      >>> import jax.numpy as jnp
      >>> loss, dW = softmax_loss_and_grad(jnp.zeros((2, 1)), jnp.array([[2.0]]), jnp.array([0]))
      >>> round(float(loss), 4), dW.tolist()
      (0.6931, [[-1.0], [1.0]])
    """
    _checks.check_problem(W, X, y)
    _checks.check_nonnegative(reg, "reg")
    return _softmax_loss_and_grad(W, X, y, reg)


#: The hand-derived ``(loss, dW)`` functions by loss name.
LOSS_AND_GRAD = {"svm": svm_loss_and_grad, "softmax": softmax_loss_and_grad}
