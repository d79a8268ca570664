"""Zoo: svm_gradient_doubled. The data term of dW counted twice."""

import numpy as np


def svm_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    correct = scores[np.arange(num_examples), y][:, None]
    margins = np.maximum(0.0, scores - correct + 1.0)
    margins[np.arange(num_examples), y] = 0.0
    loss = margins.sum() / num_examples + reg * np.sum(W * W)
    active = (margins > 0).astype(X.dtype)
    active[np.arange(num_examples), y] = -active.sum(axis=1)
    # FIX: dW = active.T @ X / num_examples + 2 * reg * W
    dW = 2 * (active.T @ X / num_examples) + 2 * reg * W  # BUG: the data term twice
    return loss, dW
