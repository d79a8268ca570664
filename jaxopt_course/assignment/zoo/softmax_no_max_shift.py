"""Zoo: softmax_no_max_shift. exp of the raw scores: Inf/NaN at large scores."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    # FIX: shifted = scores - scores.max(axis=1, keepdims=True)
    shifted = scores  # BUG: no max shift
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(num_examples), y] -= 1.0
    dW = dscores.T @ X / num_examples + 2 * reg * W
    return loss, dW
