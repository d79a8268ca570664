"""Zoo: sgd_step_uphill. W + step_size * dW: a step up the slope."""


def sgd_step(W, dW, step_size):
    # FIX: return W - step_size * dW
    return W + step_size * dW  # BUG: the lecture's update is W + -1 * (stepSize * dW)
