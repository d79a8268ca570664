"""Zoo: svm_hangs. A loop whose condition never changes: the grader's time limit stops it."""

import numpy as np


def svm_loss_and_grad(W, X, y, reg):
    loss, i = 0.0, 0
    # FIX: for i in range(X.shape[0]):
    while i < X.shape[0]:  # BUG: i is never incremented
        loss += float(np.sum(X[i]))
    return loss, np.zeros_like(W)
