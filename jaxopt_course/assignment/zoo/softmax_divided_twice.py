"""Zoo: softmax_divided_twice. Divided by N twice (once in dscores, once in dW)."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(num_examples), y] -= 1.0
    dscores /= num_examples
    # FIX: dW = dscores.T @ X + 2 * reg * W
    dW = dscores.T @ X / num_examples + 2 * reg * W  # BUG: dscores was already divided
    return loss, dW
