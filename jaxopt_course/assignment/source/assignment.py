# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment: linear classifiers, their gradients, and SGD
#
# After the optimization lecture (CS231n): you write the multiclass SVM and
# the softmax loss with their gradients, a numerical gradient to check them,
# one step of stochastic gradient descent, and you tune the step size and the
# regularization on the digits data set (it ships with scikit-learn: no
# download). To explore CIFAR-10 instead, set the environment variable
# `JAXOPT_COURSE_DATA=cifar10` and `JAXOPT_COURSE_CIFAR10` to the folder that
# holds `cifar-10-batches-py/`; the grader grades on digits either way.
#
# **The rules of the grader.** Write your code between the `# YOUR CODE`
# markers of the cells tagged `graded`; only those cells are graded, so keep
# your definitions there. NumPy or JAX both count. The shapes are the
# package's: `W` is `(C, D)`, `X` is `(N, D)` with the bias column (all ones)
# last, `y` is `(N,)` integer labels in `0 .. C-1`. Both loss functions return
# `(loss, dW)`: `loss` one number, the mean over the examples plus
# `reg * sum(W**2)`, and `dW` of `W`'s shape. Each graded function runs with a
# time limit; it must not change its inputs.

# %% tags=["graded"]
import os

import numpy as np

# %%
from jaxopt_course import load_data

DATA = os.environ.get("JAXOPT_COURSE_DATA", "digits")
splits = load_data(DATA)
X_train, y_train = splits.train.X.astype(np.float64), splits.train.y
X_val, y_val = splits.val.X.astype(np.float64), splits.val.y
num_classes, dim = splits.num_classes, splits.dim
print(f"{DATA}: train {X_train.shape}, val {X_val.shape}, {num_classes} classes")

# %% [markdown]
# ## 1. The multiclass SVM loss and its gradient
#
# $L = \frac{1}{N}\sum_i \sum_{j \ne y_i} \max(0, s_{ij} - s_{i y_i} + 1) + \lambda \sum W^2$
# with scores $s_i = W x_i$. Vectorize it: no loop over the examples.


# %% tags=["graded"]
def svm_loss_and_grad(W, X, y, reg):
    """Multiclass SVM loss (margin 1) and its gradient: (loss, dW), dW of shape (C, D)."""
    # YOUR CODE
    # BEGIN SOLUTION
    num_examples = X.shape[0]
    scores = X @ W.T  # (N, C)
    correct = scores[np.arange(num_examples), y][:, None]  # (N, 1)
    margins = np.maximum(0.0, scores - correct + 1.0)
    margins[np.arange(num_examples), y] = 0.0  # only the wrong classes count
    loss = margins.sum() / num_examples + reg * np.sum(W * W)
    active = (margins > 0).astype(X.dtype)
    active[np.arange(num_examples), y] = -active.sum(axis=1)  # the correct score is in every active term
    dW = active.T @ X / num_examples + 2 * reg * W
    return loss, dW
    # END SOLUTION


# %% [markdown]
# ## 2. The softmax loss and its gradient
#
# $L = \frac{1}{N}\sum_i -\log \frac{e^{s_{i y_i}}}{\sum_j e^{s_{ij}}} + \lambda \sum W^2$.
# Keep it stable: scores in the thousands must not overflow.


# %% tags=["graded"]
def softmax_loss_and_grad(W, X, y, reg):
    """Softmax cross-entropy loss and its gradient: (loss, dW), dW of shape (C, D)."""
    # YOUR CODE
    # BEGIN SOLUTION
    num_examples = X.shape[0]
    scores = X @ W.T
    shifted = scores - scores.max(axis=1, keepdims=True)  # the max shift: nothing overflows
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(num_examples), y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(num_examples), y] -= 1.0  # p - onehot(y)
    dW = dscores.T @ X / num_examples + 2 * reg * W
    return loss, dW
    # END SOLUTION


# %% [markdown]
# ## 3. A numerical gradient
#
# The lecture's check: nudge one weight at a time by `h` and watch `f`.
# Forward $\frac{f(W + h e_k) - f(W)}{h}$ or central
# $\frac{f(W + h e_k) - f(W - h e_k)}{2h}$ differences both count. Give `W`
# back as it came in.


# %% tags=["graded"]
def numerical_gradient(f, W, h=1e-5):
    """Central differences of f(W) -> float, one weight at a time; the result has W's shape."""
    # YOUR CODE
    # BEGIN SOLUTION
    grad = np.zeros_like(W)
    for index in np.ndindex(*W.shape):
        old = W[index]
        W[index] = old + h
        f_plus = f(W)
        W[index] = old - h
        f_minus = f(W)
        W[index] = old  # put it back
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad
    # END SOLUTION


# %% [markdown]
# Check your analytic gradients against it. The relative error
# $\|n - a\| / (\|n\| + \|a\|)$ of the whole gradient should be tiny (1e-9
# or less here, in float64; `reg = 0.1` is large so that a wrong penalty
# gradient shows). The element-by-element relative error is larger on
# entries that are themselves near zero (pixels that are blank in all 50
# images), where finite differences cannot resolve them: the package's
# `jaxopt_course.gradcheck.check_gradient` judges each entry against that
# resolution and prints CS231n's verdict.

# %%
W_check = 0.01 * np.random.default_rng(0).normal(size=(num_classes, dim))
X_small, y_small = X_train[:50], y_train[:50]
for loss_and_grad in (svm_loss_and_grad, softmax_loss_and_grad):
    try:
        loss, dW = loss_and_grad(W_check, X_small, y_small, 0.1)
        numerical = numerical_gradient(lambda W, fn=loss_and_grad: fn(W, X_small, y_small, 0.1)[0], W_check.copy())
        error = np.linalg.norm(numerical - dW) / (np.linalg.norm(numerical) + np.linalg.norm(dW))
        print(f"{loss_and_grad.__name__}: loss {loss:.4f}, relative error of the gradient {error:.1e}")
    except NotImplementedError:
        print(f"{loss_and_grad.__name__}: not written yet")

# %% [markdown]
# ## 4. Stochastic gradient descent
#
# The lecture's loop samples a minibatch, computes the gradient on it, and
# steps downhill: `W = W + -1 * (stepSize * dW)`. Write the sampling (with a
# seed, so a run can be repeated) and the step.


# %% tags=["graded"]
def sample_minibatch(X, y, batch_size, seed):
    """batch_size examples drawn at random (with replacement) from (X, y): (X_batch, y_batch)."""
    # YOUR CODE
    # BEGIN SOLUTION
    idx = np.random.default_rng(seed).integers(0, X.shape[0], size=batch_size)
    return X[idx], y[idx]
    # END SOLUTION


def sgd_step(W, dW, step_size):
    """One step downhill: the new W."""
    # YOUR CODE
    # BEGIN SOLUTION
    return W - step_size * dW
    # END SOLUTION


# %%
def train(loss_and_grad, step_size, reg, num_steps=300, batch_size=128, seed=0):
    """The lecture's loop with your functions: the final W and the loss at every step."""
    W = np.zeros((num_classes, dim))
    history = []
    for step in range(num_steps):
        X_batch, y_batch = sample_minibatch(X_train, y_train, batch_size, seed + step)
        loss, dW = loss_and_grad(W, X_batch, y_batch, reg)
        W = sgd_step(W, dW, step_size)
        history.append(float(loss))
    return W, history


def val_accuracy(W):
    return float(np.mean(np.argmax(X_val @ W.T, axis=1) == y_val))


# %% [markdown]
# ## 5. Tuning
#
# Try a few step sizes and regularization strengths; keep the pair with the
# best validation accuracy (never the test split). Then write your choice in
# the graded cell below: the grader trains softmax with it (300 steps of 128
# examples, the package's SGD) and expects at least 90 % validation accuracy.

# %%
results = {}
try:
    for step_size in (1e-2, 1e-1, 1.0):
        for reg in (1e-4, 1e-2):
            W, history = train(softmax_loss_and_grad, step_size, reg)
            results[(step_size, reg)] = val_accuracy(W)
            print(f"step_size {step_size:g}, reg {reg:g}: val accuracy {results[(step_size, reg)]:.3f}")
except NotImplementedError:
    print("write the functions above first")

# %% tags=["graded"]
# YOUR CODE: your choice from the tuning cell
# BEGIN SOLUTION
best_step_size = 1.0
best_reg = 1e-4
# END SOLUTION
# STUDENT: best_step_size = None
# STUDENT: best_reg = None
