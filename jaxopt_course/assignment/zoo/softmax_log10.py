"""Zoo: softmax_log10. log base 10 in the loss; the gradient consistently divided by ln 10."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    # FIX: loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    loss = -log_probs[np.arange(num_examples), y].mean() / np.log(10) + reg * np.sum(W * W)  # BUG: log10
    dscores = np.exp(log_probs)
    dscores[np.arange(num_examples), y] -= 1.0
    # FIX: dW = dscores.T @ X / num_examples + 2 * reg * W
    dW = dscores.T @ X / num_examples / np.log(10) + 2 * reg * W  # BUG (consistent with that loss): / ln 10
    return loss, dW
