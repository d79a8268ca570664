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
# # 1. The score function and the two losses
#
# The optimization lecture starts from what it optimizes: a **score function**
# that turns an image into one number per class, and a **loss** that says how
# unhappy we are with those numbers. The total loss over a training set of N
# examples is
#
# $$L(W) = \frac{1}{N} \sum_{i=1}^{N} L_i(f(x_i, W), y_i) + \lambda R(W).$$
#
# This notebook computes every piece of it with the library's public API:
#
# * `scores(W, X)`: the linear score function $f(x, W) = W x$ (module `model`);
# * `svm_loss`, `softmax_loss` and their per-example versions (module `losses`);
# * `l2_penalty`: $R(W) = \sum_{k,l} W_{k,l}^2$.
#
# Shapes follow the lecture: `W` is `(C, D)` (one row per class), `X` is
# `(N, D)` (one example per row), `y` is `(N,)` integer labels.
#
# The data set is scikit-learn's handwritten digits (offline, 8 x 8 pixels).
# Set the environment variable `JAXOPT_COURSE_DATA=cifar10` (and
# `JAXOPT_COURSE_CIFAR10` to the folder holding `cifar-10-batches-py/`) to run
# it on CIFAR-10 instead.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import (
    init_weights,
    l2_penalty,
    load_data,
    scores,
    softmax_loss,
    softmax_per_example,
    svm_loss,
    svm_per_example,
)

DATA = os.environ.get("JAXOPT_COURSE_DATA", "digits")
print("data set:", DATA)

# %% [markdown]
# ## The score function and the bias trick
#
# A linear classifier computes $f(x, W, b) = W x + b$: each row of `W` is a
# template for one class, and the score of class $j$ is the dot product of
# that template with the image, plus a bias $b_j$. The **bias trick** appends
# a constant 1 to every $x$ and the column $b$ to $W$, so one matrix product
# does both: $f(x, W) = W x$ with $x$ one longer.
#
# CS231n's example: an "image" of four pixels and three classes (cat, dog, ship).

# %%
W_3x4 = np.array(
    [
        [0.2, -0.5, 0.1, 2.0],
        [1.5, 1.3, 2.1, 0.0],
        [0.0, 0.25, 0.2, -0.3],
    ],
    dtype=np.float32,
)
b_3 = np.array([1.1, 3.2, -1.2], dtype=np.float32)
x_4 = np.array([56.0, 231.0, 24.0, 2.0], dtype=np.float32)

with_bias = W_3x4 @ x_4 + b_3  # W x + b, by hand
W_3x5 = np.hstack([W_3x4, b_3[:, None]])  # the bias becomes a column of W
x_5 = np.append(x_4, 1.0)  # and x gets a constant 1
folded = scores(W_3x5, x_5[None, :])[0]  # the library's f(x, W) = W x
print("W x + b          :", with_bias)
print("scores, folded b :", np.asarray(folded))
assert np.allclose(with_bias, folded, rtol=1e-6)

# %% [markdown]
# The data loaders apply the same trick: every row of `X` ends in a 1. For
# the digits that makes D = 64 + 1 = 65; for CIFAR-10, D = 3072 + 1 = 3073.

# %%
if DATA == "cifar10":
    splits = load_data(
        "cifar10",
        data_dir=os.environ.get("JAXOPT_COURSE_CIFAR10"),
        num_training=5000,
        num_validation=1000,
        num_test=1000,
    )
else:
    splits = load_data("digits")
X_train, y_train = splits.train
C, D = len(splits.class_names), X_train.shape[1]
print(f"X_train {X_train.shape}, y_train {y_train.shape}, C = {C} classes, D = {D}")
print("last column (the bias trick):", np.unique(X_train[:, -1]))

# %% [markdown]
# ## The Cat / Car / Frog table
#
# The lecture's table holds the scores of three images (columns) for three
# classes (rows). Image 1 is a cat, image 2 a car, image 3 a frog.
#
# | class | cat image | car image | frog image |
# |-------|----------:|----------:|-----------:|
# | Cat   | 3.2       | 1.3       | 2.2        |
# | Car   | 5.1       | 4.9       | 2.5        |
# | Frog  | -1.7      | 2.0       | -3.1       |
#
# To feed the table to the library we let `W` be the identity, so that the
# scores equal the "images": row $i$ of `X` is column $i$ of the table.

# %%
table_CxN = np.array(
    [
        [3.2, 1.3, 2.2],
        [5.1, 4.9, 2.5],
        [-1.7, 2.0, -3.1],
    ],
    dtype=np.float32,
)
X_table = table_CxN.T  # (N, D) = (3 images, 3 "pixels")
y_table = np.array([0, 1, 2])  # cat, car, frog
W_eye = np.eye(3, dtype=np.float32)
print(np.asarray(scores(W_eye, X_table)))

# %% [markdown]
# ### The multiclass SVM loss
#
# $$L_i = \sum_{j \ne y_i} \max(0, s_j - s_{y_i} + \Delta), \qquad \Delta = 1.$$
#
# For the cat image: $\max(0, 5.1 - 3.2 + 1) + \max(0, -1.7 - 3.2 + 1) = 2.9 + 0 = 2.9$.
# The car image scores its own class highest by more than the margin, so its
# loss is 0; the frog image is badly wrong: 12.9.

# %%
svm_i = svm_per_example(W_eye, X_table, y_table)
print("SVM L_i:", np.round(np.asarray(svm_i), 4), " mean:", round(float(svm_loss(W_eye, X_table, y_table)), 4))
assert np.allclose(svm_i, [2.9, 0.0, 12.9], atol=1e-5)

# %% [markdown]
# ### The softmax (cross-entropy) loss
#
# $$L_i = -\log\left(\frac{e^{s_{y_i}}}{\sum_j e^{s_j}}\right)$$
#
# with the natural log. The scores become probabilities by exponentiating
# and normalizing; the loss is minus the log-probability of the right class.

# %%
s = X_table.astype(np.float64)
probs = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
print("probabilities (rows: images):\n", np.round(probs, 4))
by_hand = -np.log(probs[np.arange(3), y_table])
softmax_i = softmax_per_example(W_eye, X_table, y_table)
print("softmax L_i by hand:", np.round(by_hand, 4))
print("softmax L_i library:", np.round(np.asarray(softmax_i), 4))
assert np.allclose(by_hand, softmax_i, rtol=1e-5)

# %%
fig, ax = plt.subplots(figsize=(6, 3))
positions = np.arange(3)
ax.bar(positions - 0.2, np.asarray(svm_i), width=0.4, label="multiclass SVM")
ax.bar(positions + 0.2, np.asarray(softmax_i), width=0.4, label="softmax")
ax.set_xticks(positions, ["cat image", "car image", "frog image"])
ax.set_ylabel("$L_i$")
ax.set_title("The two losses on the lecture's three images")
ax.legend()
plt.show()

# %% [markdown]
# The SVM is satisfied (loss exactly 0) once the right class wins by the
# margin; the softmax never is: the car image still costs a little, since
# its probability is not 1.

# %% [markdown]
# ## The loss at W = 0: a first sanity check
#
# Before training anything, CS231n asks for the loss at (nearly) zero weights.
# All scores are then 0, so
#
# * every wrong class contributes $\max(0, 0 - 0 + \Delta) = \Delta$: the SVM
#   loss is $(C - 1)\,\Delta$;
# * every class has probability $1/C$: the softmax loss is $\log C$.
#
# If your loss disagrees at W = 0, something is wrong before any optimizer
# runs.

# %%
W_zero = jnp.zeros((C, D))
W_small = init_weights(jax.random.key(0), C, D, scale=1e-4)
print(f"SVM     at W = 0: {float(svm_loss(W_zero, X_train, y_train)):.4f}   expected (C - 1) = {C - 1}")
print(f"softmax at W = 0: {float(softmax_loss(W_zero, X_train, y_train)):.4f}   expected log C = {np.log(C):.4f}")
print(f"softmax at W = 1e-4 randn: {float(softmax_loss(W_small, X_train, y_train)):.4f}")
assert abs(float(svm_loss(W_zero, X_train, y_train)) - (C - 1)) < 1e-5
assert abs(float(softmax_loss(W_zero, X_train, y_train)) - np.log(C)) < 1e-5

# %% [markdown]
# ## Regularization
#
# The data loss alone does not pin `W` down: if `W` classifies every example
# with margin, so does `2 W`, with an SVM loss that is just as 0. The
# penalty $\lambda R(W) = \lambda \sum W^2$ prefers the smaller, more spread
# out weights. The library adds it when you pass `reg`:

# %%
W = init_weights(jax.random.key(1), C, D, scale=0.01)
reg = 0.1
data_loss = float(svm_loss(W, X_train, y_train))
total = float(svm_loss(W, X_train, y_train, reg=reg))
print(f"data loss {data_loss:.5f} + reg * R(W) {reg * float(l2_penalty(W)):.5f} = total {total:.5f}")
assert np.isclose(total, data_loss + reg * float(l2_penalty(W)), rtol=1e-5)

# %% [markdown]
# ## What the losses look like along a line
#
# `W` has C x D numbers, too many to draw. CS231n draws the loss along a
# random direction instead: $L(W + a\,\Delta W)$ for a range of $a$. The SVM
# loss is piecewise linear (a sum of hinges) and convex; the softmax is smooth.
# `jax.vmap` evaluates all the points in one call.

# %%
direction = jax.random.normal(jax.random.key(2), (C, D))
alphas = jnp.linspace(-2.0, 2.0, 101)
X_j, y_j = jnp.asarray(X_train), jnp.asarray(y_train)


def along_line(loss):
    return jax.vmap(lambda a: loss(W_zero + a * direction, X_j, y_j))(alphas)


fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for ax, (name, loss) in zip(axes, [("multiclass SVM", svm_loss), ("softmax", softmax_loss)], strict=True):
    ax.plot(alphas, along_line(loss))
    ax.set_xlabel("a")
    ax.set_title(f"{name}: $L(0 + a\\,\\Delta W)$")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Exercises
#
# Do these by hand. Each one has a reference solution filled in so that the
# notebook runs end to end; delete the body and write your own, then run the
# check cell under it: it compares your answer with the library.
#
# **Exercise 1.** Write the *naive* multiclass SVM loss with two explicit
# loops (over examples, then over classes), in NumPy, the way CS231n's
# `svm_loss_naive` does. Include the regularization term.


# %%
def svm_loss_naive(W, X, y, reg=0.0, margin=1.0):
    """The multiclass SVM loss, with two loops. W (C, D), X (N, D), y (N,)."""
    # YOUR CODE HERE (reference solution below)
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    num_examples, num_classes = X.shape[0], W.shape[0]
    loss = 0.0
    for i in range(num_examples):
        s = W @ X[i]
        for j in range(num_classes):
            if j != y[i]:
                loss += max(0.0, s[j] - s[y[i]] + margin)
    return loss / num_examples + reg * np.sum(W * W)


# %%
# Check: the naive loss equals the library's on 100 training examples.
W_check = init_weights(jax.random.key(3), C, D, scale=0.05)
mine = svm_loss_naive(W_check, X_train[:100], y_train[:100], reg=0.5)
library = float(svm_loss(W_check, X_train[:100], y_train[:100], reg=0.5))
print(f"yours {mine:.6f}   library {library:.6f}")
assert np.isclose(mine, library, rtol=1e-4), "the two losses differ"

# %% [markdown]
# **Exercise 2.** Write the softmax loss *without loops*, in NumPy. Make it
# numerically stable: subtract each row's maximum score before
# exponentiating (it cancels in the ratio). Check that it survives scores of
# 1000, where a plain `np.exp` overflows.


# %%
def softmax_loss_vectorized(W, X, y, reg=0.0):
    """The softmax loss, vectorized and stable. W (C, D), X (N, D), y (N,)."""
    # YOUR CODE HERE (reference solution below)
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    s_NxC = X @ W.T
    s_NxC = s_NxC - s_NxC.max(axis=1, keepdims=True)
    log_probs = s_NxC - np.log(np.exp(s_NxC).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean() + reg * np.sum(W * W)


# %%
mine = softmax_loss_vectorized(W_check, X_train, y_train, reg=0.5)
library = float(softmax_loss(W_check, X_train, y_train, reg=0.5))
print(f"yours {mine:.6f}   library {library:.6f}")
assert np.isclose(mine, library, rtol=1e-4)
big = 1000.0 * np.eye(3, dtype=np.float32)  # scores of 1000: exp overflows without the shift
mine_big = softmax_loss_vectorized(big, X_table, y_table)
assert np.isfinite(mine_big) and np.isclose(mine_big, float(softmax_loss(big, X_table, y_table)), rtol=1e-4)

# %% [markdown]
# **Exercise 3.** Without running anything: what are the SVM and the softmax
# losses at W = 0 for a problem with C = 7 classes and margin $\Delta = 2$?
# Write your two numbers below.

# %%
# YOUR ANSWER HERE (reference answers below)
svm_at_zero_7_classes = 6 * 2.0
softmax_at_zero_7_classes = np.log(7)

# %%
X_7, y_7 = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32), np.arange(20) % 7
W_7 = jnp.zeros((7, 4))
assert np.isclose(svm_at_zero_7_classes, float(svm_loss(W_7, X_7, y_7, margin=2.0)))
assert np.isclose(softmax_at_zero_7_classes, float(softmax_loss(W_7, X_7, y_7)), rtol=1e-6)
print("both right")
