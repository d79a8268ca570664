"""Zoo: numerical_gradient_no_restore. W[k] is never put back: every later slope is taken at a moved W."""

import numpy as np


def numerical_gradient(f, W, h=1e-5):
    grad = np.zeros_like(W)
    for index in np.ndindex(*W.shape):
        f_old = f(W)
        W[index] += h
        # FIX: grad[index] = (f(W) - f_old) / h; W[index] -= h
        grad[index] = (f(W) - f_old) / h  # BUG: W[index] is never set back
    return grad
