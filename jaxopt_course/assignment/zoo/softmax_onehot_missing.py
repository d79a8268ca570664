"""Zoo: softmax_onehot_missing. dscores = p, the one-hot label never subtracted."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    # FIX: dscores = np.exp(log_probs) - np.eye(W.shape[0])[y]
    dscores = np.exp(log_probs)  # BUG: p, not p - onehot(y)
    dW = dscores.T @ X / num_examples + 2 * reg * W
    return loss, dW
