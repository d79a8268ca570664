"""Zoo: svm_sum_not_mean. A sum over examples where the loss is a mean; the gradient is the sum's (consistent)."""

import numpy as np


def svm_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    correct = scores[np.arange(num_examples), y][:, None]
    margins = np.maximum(0.0, scores - correct + 1.0)
    margins[np.arange(num_examples), y] = 0.0
    # FIX: loss = margins.sum() / num_examples + reg * np.sum(W * W)
    loss = margins.sum() + reg * np.sum(W * W)  # BUG: a sum, not a mean
    active = (margins > 0).astype(X.dtype)
    active[np.arange(num_examples), y] = -active.sum(axis=1)
    # FIX: dW = active.T @ X / num_examples + 2 * reg * W
    dW = active.T @ X + 2 * reg * W  # BUG (consistent with that loss): the sum's gradient
    return loss, dW
