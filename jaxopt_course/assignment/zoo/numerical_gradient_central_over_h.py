"""Zoo: numerical_gradient_central_over_h. A central difference divided by h, not 2h."""

import numpy as np


def numerical_gradient(f, W, h=1e-5):
    grad = np.zeros_like(W)
    for index in np.ndindex(*W.shape):
        old = W[index]
        W[index] = old + h
        f_plus = f(W)
        W[index] = old - h
        f_minus = f(W)
        W[index] = old
        # FIX: grad[index] = (f_plus - f_minus) / (2 * h)
        grad[index] = (f_plus - f_minus) / h  # BUG: the two points are 2h apart
    return grad
