"""The implementations the engine is compared with: NumPy (CS231n), PyTorch, scikit-learn.

Each follows its own library's everyday idiom, written as a student of the
course would write it:

* **NumPy** -- CS231n's assignment 1: ``svm_loss_vectorized`` and
  ``softmax_loss_vectorized`` with ``W`` of shape ``(D, C)`` (the
  assignment's layout: ``scores = X.dot(W)``), and ``LinearClassifier.train``:
  ``np.random.choice(N, batch_size)`` (with replacement), ``X[idx]``, loss and
  gradient, ``W -= learning_rate * grad``.
* **PyTorch** -- an eager loop with autograd: ``torch.randint``, ``X[idx]``,
  ``loss.backward()``, an in-place update under ``torch.no_grad()``; ``W`` is
  ``(C, D)`` like ours.
* **scikit-learn** -- ``SGDClassifier``: per-example SGD, one-vs-rest
  (``"hinge"`` is ten binary SVMs, not the Weston--Watkins multiclass hinge;
  ``"log_loss"`` ten binary logistic regressions, not the softmax), float64.

All losses are ``mean data loss + reg * sum W**2`` (CS231n's convention).
PyTorch is imported lazily: everything else works without it.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------
# NumPy: CS231n's vectorized losses, W of shape (D, C)
# ---------------------------------------------------------------------------


def numpy_svm_loss_grad(W_DxC, X, y, reg, margin=1.0):
    """CS231n ``svm_loss_vectorized``: ``(loss, dW)`` with ``dW`` of shape ``(D, C)``."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W_DxC)
    correct = scores[rows, y][:, None]
    margins = np.maximum(0, scores - correct + margin)
    margins[rows, y] = 0
    loss = margins.sum() / num_train + reg * np.sum(W_DxC * W_DxC)
    binary = (margins > 0).astype(X.dtype)
    binary[rows, y] = -binary.sum(axis=1)
    dW = X.T.dot(binary) / num_train + 2 * reg * W_DxC
    return loss, dW


def numpy_softmax_loss_grad(W_DxC, X, y, reg):
    """CS231n ``softmax_loss_vectorized``: ``(loss, dW)`` with ``dW`` of shape ``(D, C)``."""
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W_DxC)
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    probs = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probs[rows, y]).sum() / num_train + reg * np.sum(W_DxC * W_DxC)
    probs[rows, y] -= 1
    dW = X.T.dot(probs) / num_train + 2 * reg * W_DxC
    return loss, dW


NUMPY_LOSS_GRAD = {"svm": numpy_svm_loss_grad, "softmax": numpy_softmax_loss_grad}


def numpy_train(
    loss,
    W0_CxD,
    X,
    y,
    *,
    learning_rate,
    reg,
    num_iters,
    batch_size=200,
    seed=0,
    X_val=None,
    y_val=None,
    eval_every=None,
    callback=None,
):
    """CS231n ``LinearClassifier.train`` (plain SGD, minibatches drawn with replacement).

    Args:
      loss: ``"svm"`` or ``"softmax"``.
      W0_CxD: the initial weights in our ``(C, D)`` layout (transposed inside).
      X, y: the training set, float32 ``(N, D)`` and int ``(N,)``.
      learning_rate, reg, num_iters, batch_size: the recipe.
      seed: for ``np.random.default_rng`` (the minibatch draws).
      X_val, y_val, eval_every, callback: every ``eval_every`` steps,
        ``callback(step, val_accuracy)`` is called; a true return value stops.

    Returns:
      ``(W (C, D), losses (num_iters,))``.
    """
    loss_grad = NUMPY_LOSS_GRAD[loss]
    rng = np.random.default_rng(seed)
    W = np.array(W0_CxD, dtype=X.dtype).T.copy()  # (D, C), CS231n's layout
    num_train = X.shape[0]
    losses = np.empty(num_iters)
    for it in range(num_iters):
        idx = rng.choice(num_train, batch_size, replace=True)
        X_batch, y_batch = X[idx], y[idx]
        losses[it], grad = loss_grad(W, X_batch, y_batch, reg)
        W -= learning_rate * grad
        if eval_every and (it + 1) % eval_every == 0 and callback is not None:
            val_accuracy = float(np.mean(np.argmax(X_val.dot(W), axis=1) == y_val))
            if callback(it + 1, val_accuracy):
                return W.T, losses[: it + 1]
    return W.T, losses


# ---------------------------------------------------------------------------
# PyTorch: autograd on the same losses, W of shape (C, D)
# ---------------------------------------------------------------------------


def torch_losses():
    """``{"svm": f, "softmax": f}`` with ``f(W_CxD, X, y, reg) -> loss`` as torch tensors."""
    import torch
    import torch.nn.functional as F

    def svm(W, X, y, reg, margin=1.0):
        scores = X @ W.T
        correct = scores.gather(1, y[:, None])
        margins = torch.clamp(scores - correct + margin, min=0)
        # The correct class's own margin is exactly `margin`: zero it like CS231n.
        margins = margins.scatter(1, y[:, None], 0.0)
        return margins.sum() / X.shape[0] + reg * torch.sum(W * W)

    def softmax(W, X, y, reg):
        return F.cross_entropy(X @ W.T, y) + reg * torch.sum(W * W)

    return {"svm": svm, "softmax": softmax}


def torch_loss_grad(loss, device="cpu"):
    """``f(W, X, y, reg) -> (loss, dW)`` by autograd (tensors on ``device``)."""
    import torch

    fn = torch_losses()[loss]

    def loss_grad(W, X, y, reg):
        W = W.detach().requires_grad_(True)
        value = fn(W, X, y, reg)
        (grad,) = torch.autograd.grad(value, W)
        return value.detach(), grad

    return loss_grad


def torch_train(loss, W0_CxD, X, y, *, learning_rate, reg, num_iters, batch_size=200, seed=0, device="cpu", sync=None):
    """An eager PyTorch SGD loop: ``torch.randint`` minibatches (with replacement), autograd.

    ``X`` and ``y`` are torch tensors already on ``device``. Returns the final ``W`` (C, D).
    ``sync`` (e.g. ``torch.cuda.synchronize``) is called at the end so that a
    timer around the call measures the work, not the queueing.
    """
    import torch

    fn = torch_losses()[loss]
    generator = torch.Generator(device=device).manual_seed(seed)
    W = torch.as_tensor(np.asarray(W0_CxD), dtype=X.dtype, device=device).clone().requires_grad_(True)
    num_train = X.shape[0]
    for _ in range(num_iters):
        idx = torch.randint(num_train, (batch_size,), generator=generator, device=device)
        value = fn(W, X[idx], y[idx], reg)
        value.backward()
        with torch.no_grad():
            W -= learning_rate * W.grad
        W.grad = None
    if sync is not None:
        sync()
    return W.detach()


# ---------------------------------------------------------------------------
# scikit-learn
# ---------------------------------------------------------------------------


def sklearn_classifier(loss, *, learning_rate, reg, batch_size, epochs=1, seed=0, n_jobs=None):
    """An ``SGDClassifier`` running CS231n's recipe, translated to per-example SGD.

    A minibatch step ``W -= lr * (1/B sum_i g_i + 2 reg W)`` moves ``W`` as far
    as ``B`` per-example steps of size ``lr / B`` would, so ``eta0 = lr / B``
    (constant); scikit-learn's penalty ``alpha/2 ||w||^2`` has gradient
    ``alpha w``, so ``alpha = 2 reg``. ``epochs`` passes over the data
    (``max_iter``, no early stop), one-vs-rest, float64.
    """
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(
        loss={"svm": "hinge", "softmax": "log_loss"}[loss],
        alpha=2 * reg,
        learning_rate="constant",
        eta0=learning_rate / batch_size,
        max_iter=epochs,
        tol=None,
        shuffle=True,
        random_state=seed,
        n_jobs=n_jobs,
    )
