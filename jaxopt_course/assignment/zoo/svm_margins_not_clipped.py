"""Zoo: svm_margins_not_clipped. No max(0, .): negative margins lower the loss; the gradient follows that loss."""

import numpy as np


def svm_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    correct = scores[np.arange(num_examples), y][:, None]
    # FIX: margins = np.maximum(0.0, scores - correct + 1.0)
    margins = scores - correct + 1.0  # BUG: no max(0, .)
    margins[np.arange(num_examples), y] = 0.0
    loss = margins.sum() / num_examples + reg * np.sum(W * W)
    # FIX: active = (margins > 0).astype(X.dtype)
    active = np.ones_like(margins)  # BUG (consistent with that loss): every wrong class counts
    active[np.arange(num_examples), y] = 0.0
    active[np.arange(num_examples), y] = -active.sum(axis=1)
    dW = active.T @ X / num_examples + 2 * reg * W
    return loss, dW
