"""Zoo: softmax_reg_doubled. The penalty's gradient added twice."""

import numpy as np


def softmax_loss_and_grad(W, X, y, reg):
    num_examples = X.shape[0]
    scores = X @ W.T
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(num_examples), y] -= 1.0
    dW = dscores.T @ X / num_examples + 2 * reg * W
    # FIX: dW = dW  # (delete this line: dW above already holds 2 * reg * W)
    dW = dW + 2 * reg * W  # BUG: the penalty's gradient added a second time
    return loss, dW
