"""Zoo: svm_correct_class_counted. The correct class's own margin (always 1) is not zeroed."""

import numpy as np


def svm_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    correct = scores[np.arange(num_examples), y][:, None]
    # FIX: margins = np.where(np.arange(W.shape[0]) == y[:, None], 0.0, np.maximum(0.0, scores - correct + 1.0))
    margins = np.maximum(0.0, scores - correct + 1.0)  # BUG: the correct class's own margin (1) is not zeroed
    loss = margins.sum() / num_examples + reg * np.sum(W * W)
    active = (margins > 0).astype(X.dtype)
    active[np.arange(num_examples), y] = -active.sum(axis=1)
    dW = active.T @ X / num_examples + 2 * reg * W
    return loss, dW
