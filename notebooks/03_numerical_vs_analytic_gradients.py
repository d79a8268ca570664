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
# # 3. Numerical against analytic gradients
#
# Following the slope is far better than searching blindly. The lecture
# computes the slope two ways:
#
# * **numerically**: nudge one weight by a small $h$ and watch the loss,
#   $\frac{\partial L}{\partial W_k} \approx \frac{L(W + h e_k) - L(W)}{h}$,
#   once per weight -- simple, slow, approximate;
# * **analytically**: derive the formula with calculus (or let `jax.grad`
#   derive it) -- exact and fast, but easy to get wrong by hand.
#
# In practice we use the analytic gradient and *check* it against the
# numerical one. This notebook shows how good that check can be: forward
# against central differences, float32 against float64, the error as $h$
# shrinks, what kinks do, and the complex step, which has no cancellation.
#
# Public API: `numerical_gradient`, `complex_step_gradient`, `relative_error`,
# `check_gradient`, `svm_kink_crossings` (module `gradcheck`), the
# hand-derived `svm_loss_and_grad` and `softmax_loss_and_grad` (module
# `analytic`), and `jax.grad` of the losses.

# %%
import os
import textwrap

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import (
    check_gradient,
    complex_step_gradient,
    init_weights,
    load_data,
    numerical_gradient,
    relative_error,
    softmax_loss,
    svm_loss,
    tea_cost,
)
from jaxopt_course.analytic import softmax_loss_and_grad, svm_loss_and_grad
from jaxopt_course.gradcheck import svm_kink_crossings

DATA = os.environ.get("JAXOPT_COURSE_DATA", "digits")

# %% [markdown]
# ## One number first: the slope of the tea cost
#
# The lecture's first derivative is $\frac{f(40 + 5) - f(40)}{5}$ on the tea
# toy. As $h \to 0$ the difference quotient approaches the true slope, which
# `jax.grad` computes exactly:

# %%
exact = float(jax.grad(tea_cost)(40.0))
print(f"jax.grad at 40 C: {exact:.6f}")
for h in (5.0, 1.0, 0.1, 0.01):
    forward = (float(tea_cost(40.0 + h)) - float(tea_cost(40.0))) / h
    print(f"h = {h:<5}: (f(40 + h) - f(40)) / h = {forward:.6f}   error {abs(forward - exact):.1e}")

# %% [markdown]
# The error shrinks about tenfold with $h$ (the forward difference's error
# is proportional to $h$) -- until, near $h = 0.01$, it stops shrinking: the
# two costs are float32 numbers, and their difference loses digits. Keep
# that in mind; it comes back below.
#
# ## The gradient of W, numerically
#
# `W` has C x D weights, so the numerical gradient needs one perturbed loss
# per weight. `numerical_gradient(f, W, h, method)` computes all of them
# (vmapped, in chunks). We compare it with `jax.grad` using the **relative
# error** $|a - b| / \max(|a|, |b|)$: scale-free, so a slope of 1e-6 and one
# of 10 are judged alike. CS231n's rule of thumb: above 1e-2 the gradient is
# probably wrong, below 1e-7 it is right.
#
# The data: 200 training examples (20 on CIFAR-10) keep every evaluation cheap.

# %%
if DATA == "cifar10":
    splits = load_data(
        "cifar10", data_dir=os.environ.get("JAXOPT_COURSE_CIFAR10"), num_training=1000, num_validation=100, num_test=100
    )
    # 30730 weights: fewer examples and steps keep each gradient to seconds.
    NUM_EXAMPLES, W_SCALE, NUM_STEPS_H = 20, 1e-4, 6
else:
    splits = load_data("digits")
    NUM_EXAMPLES, W_SCALE, NUM_STEPS_H = 200, 0.01, 12
X_np, y_np = splits.train.X[:NUM_EXAMPLES], splits.train.y[:NUM_EXAMPLES]
C, D = len(splits.class_names), X_np.shape[1]
W_np = np.asarray(init_weights(jax.random.key(0), C, D, scale=W_SCALE))
X, y, W = jnp.asarray(X_np), jnp.asarray(y_np), jnp.asarray(W_np)
reg = 0.01


def softmax_f(W):
    return softmax_loss(W, X, y, reg=reg)


exact_dW = jax.grad(softmax_f)(W)
for method in ("forward", "central"):
    numeric_dW = numerical_gradient(softmax_f, W, h=1e-4, method=method)
    err = relative_error(numeric_dW, exact_dW)
    print(
        f"float32, {method:>7}, h = 1e-4: relative error max {float(err.max()):.1e}, "
        f"median {float(jnp.median(err)):.1e}"
    )

# %% [markdown]
# Disappointing: in float32 the check looks like a bug. The culprit is not
# the gradient but the arithmetic. A float32 loss of about 2.3 is known to
# only about $2.3 \times 10^{-7}$ (its machine epsilon is $1.2 \times 10^{-7}$),
# and dividing that round-off by $h = 10^{-4}$ leaves an error of about
# $10^{-3}$ in every slope -- as big as many of the slopes themselves.
#
# The same check in float64 (`with jax.enable_x64(True):` switches JAX to
# 64-bit floats inside the block only):

# %%
with jax.enable_x64(True):
    X64, W64 = jnp.asarray(X_np, jnp.float64), jnp.asarray(W_np, jnp.float64)
    y64 = jnp.asarray(y_np)

    def softmax_f64(W):
        return softmax_loss(W, X64, y64, reg=reg)

    exact64 = jax.grad(softmax_f64)(W64)
    for method in ("forward", "central"):
        err = relative_error(numerical_gradient(softmax_f64, W64, h=1e-5, method=method), exact64)
        worst = np.unravel_index(int(jnp.argmax(err)), err.shape)
        print(
            f"float64, {method:>7}, h = 1e-5: relative error max {float(err.max()):.1e} "
            f"(where the slope is {float(exact64[worst]):.1e}), median {float(jnp.median(err)):.1e}"
        )
    _, hand_dW = softmax_loss_and_grad(W64, X64, y64, reg=reg)
    print(f"float64, hand-derived vs jax.grad: max relative error {float(relative_error(hand_dW, exact64).max()):.1e}")

# %% [markdown]
# Central differences now agree to a few parts in a million or better, and
# the forward ones are far behind (their error is proportional to $h$, the
# central one to $h^2$). The largest relative errors sit on the smallest
# slopes: the relative error is ill-conditioned where the true value is
# tiny, so look at the magnitudes too. The hand-derived gradient of
# `analytic` matches `jax.grad` to round-off.

# %% [markdown]
# ## The error against h
#
# Two errors compete as $h$ shrinks:
#
# * **truncation** (the Taylor series): $\approx h\,|f''|/2$ for the forward
#   difference, $\approx h^2 |f'''|/6$ for the central one -- they shrink with $h$;
# * **round-off**: $\approx \epsilon\,|f| / h$ -- it *grows* as $h$ shrinks,
#   because we subtract two nearly equal losses.
#
# So there is a best $h$: about $\sqrt{\epsilon}$ for forward differences and
# $\epsilon^{1/3}$ for central ones. The **complex step**
# $\operatorname{Im} f(W + i h e_k) / h$ subtracts nothing, so round-off
# never grows: any tiny $h$ works (for a loss that accepts a complex `W`,
# such as the softmax).
#
# We measure the norm-wise error $\|g_h - g\| / \|g\|$ against the float64
# `jax.grad`:

# %%
hs = np.logspace(-12, -1, NUM_STEPS_H)
errors = {}
for dtype in ("float32", "float64"):
    with jax.enable_x64(dtype == "float64"):
        Xd, Wd = jnp.asarray(X_np, dtype), jnp.asarray(W_np, dtype)
        yd = jnp.asarray(y_np)

        def f(W, Xd=Xd, yd=yd):
            return softmax_loss(W, Xd, yd, reg=reg)

        for method in ("forward", "central", "complex"):
            row = []
            for h in hs:
                if method == "complex":
                    g = complex_step_gradient(f, Wd, h=float(h))
                else:
                    g = numerical_gradient(f, Wd, h=float(h), method=method)
                row.append(
                    np.linalg.norm(np.asarray(g, np.float64) - np.asarray(exact64))
                    / np.linalg.norm(np.asarray(exact64))
                )
            errors[dtype, method] = row

fig, ax = plt.subplots(figsize=(7, 4))
for (dtype, method), row in errors.items():
    ax.loglog(hs, row, "o-" if dtype == "float64" else "s--", markersize=3, label=f"{method}, {dtype}")
ax.set_xlabel("step h")
ax.set_ylabel("relative error of the gradient")
ax.set_title("Truncation (right) against round-off (left)")
ax.legend(fontsize=8, ncol=2)
plt.show()

for (dtype, method), row in errors.items():
    best = int(np.argmin(row))
    print(f"{dtype} {method:>7}: best h = {hs[best]:.0e}, error {row[best]:.1e}")

# %% [markdown]
# (In float32 the complex step is limited by the float32 *data* and loss,
# about $10^{-7}$ -- but it stays there for every small $h$.)
#
# ## Kinks
#
# The SVM loss is piecewise linear: each hinge $\max(0, m)$ bends at $m = 0$.
# There the slope jumps, and a finite difference whose step straddles the
# bend averages the two sides. One example right on a kink: with scores
# (cat 6.1, car 5.1, frog -1.7) and label cat, the car's margin is
# $5.1 - 6.1 + 1 = 0$.

# %%
with jax.enable_x64(True):
    W_eye = jnp.eye(3, dtype=jnp.float64)
    x_kink = jnp.array([[6.1, 5.1, -1.7]], dtype=jnp.float64)
    y_kink = jnp.array([0])

    def svm_f(W):
        return svm_loss(W, x_kink, y_kink)

    print("jax.grad (the subgradient, margin > 0 is inactive):\n", np.asarray(jax.grad(svm_f)(W_eye))[:2])
    print("forward difference:\n", np.round(np.asarray(numerical_gradient(svm_f, W_eye, h=1e-4)), 3)[:2])
    print(
        "central difference:\n", np.round(np.asarray(numerical_gradient(svm_f, W_eye, h=1e-4, method="central")), 3)[:2]
    )
    print("weights whose step can cross a kink:\n", np.asarray(svm_kink_crossings(W_eye, x_kink, y_kink)))

# %% [markdown]
# Neither the forward nor the central difference is "right": at a kink the
# loss has no derivative. On real data few margins sit within $h$ of 0, but
# a few may, and then a correct gradient fails the check at those weights.
# `check_gradient` takes the mask from `svm_kink_crossings` and explains
# such mismatches in its report (column `kink`) instead of hiding them:

# %%
with jax.enable_x64(True):

    def svm_f64(W):
        return svm_loss(W, X64, y64, reg=reg)

    _, svm_hand_dW = svm_loss_and_grad(W64, X64, y64, reg=reg)
    kinks = svm_kink_crossings(W64, X64, y64, h=1e-5)
    print(f"weights whose step may cross a kink: {int(kinks.sum())} of {kinks.size}")
    report = check_gradient(svm_f64, W64, svm_hand_dW, h=1e-5, method="central", kinks=kinks)
    print(report)
    assert report.passed

# %% [markdown]
# The report's last lines judge what the check's own error (round-off and,
# from a second step $2h$, truncation) does not explain, on CS231n's scale
# (`report.verdict`, `report.passed`), and, when it is not "good", say why
# (`report.hint`): here nothing is left beyond that error and the check
# resolves about 1e-8 -- the hand-derived SVM gradient is right.
#
# The complex step needs an analytic loss. The SVM's hinge is not one, and
# the library says so instead of returning a wrong number:

# %%
try:
    complex_step_gradient(lambda W: svm_loss(W, X, y), W)
except ValueError as err:
    print("ValueError:", textwrap.fill(str(err), 100))

# %% [markdown]
# ## Exercises
#
# Reference solutions are filled in so that the notebook runs end to end;
# replace them with your own and run the check cells.
#
# **Exercise 1.** Derive the gradient of the softmax loss. With probabilities
# $p_{ij} = e^{s_{ij}} / \sum_k e^{s_{ik}}$ and scores $s = X W^T$, show that
# $\partial L_i / \partial s_{ij} = p_{ij} - [j = y_i]$, hence
# $\nabla_W L = \frac{1}{N}(P - Y)^T X + 2 \lambda W$ with $Y$ the one-hot
# labels. Write it in NumPy (no loops).


# %%
def softmax_gradient(W, X, y, reg):
    """dL/dW of the softmax loss, (C, D), in NumPy float64."""
    # YOUR CODE HERE (reference solution below)
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    s = X @ W.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p.T @ X / len(y) + 2.0 * reg * W


# %%
mine = softmax_gradient(W_np, X_np, y_np, reg)
with jax.enable_x64(True):  # compare in float64, where both are exact to round-off
    err = float(np.max(np.asarray(relative_error(jnp.asarray(mine), exact64))))
print(f"max relative error against jax.grad (float64): {err:.1e}")
assert err < 1e-8

# %% [markdown]
# **Exercise 2.** The SVM gradient with loops. For each example $i$ and each
# wrong class $j$ whose margin $s_j - s_{y_i} + 1$ is positive, row $j$ of
# $dW$ gains $x_i$ and row $y_i$ loses $x_i$. Divide by N and add $2 \lambda W$.


# %%
def svm_gradient_naive(W, X, y, reg, margin=1.0):
    """dL/dW of the multiclass SVM loss, with loops, in NumPy float64."""
    # YOUR CODE HERE (reference solution below)
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    dW = np.zeros_like(W)
    for i in range(X.shape[0]):
        s = W @ X[i]
        for j in range(W.shape[0]):
            if j != y[i] and s[j] - s[y[i]] + margin > 0:
                dW[j] += X[i]
                dW[y[i]] -= X[i]
    return dW / X.shape[0] + 2.0 * reg * W


# %%
mine = svm_gradient_naive(W_np, X_np, y_np, reg)
with jax.enable_x64(True):
    _, hand = svm_loss_and_grad(
        jnp.asarray(W_np, jnp.float64), jnp.asarray(X_np, jnp.float64), jnp.asarray(y_np), reg=reg
    )
    err = float(np.max(np.asarray(relative_error(jnp.asarray(mine), hand))))
print(f"max relative error against analytic.svm_loss_and_grad: {err:.1e}")
assert err < 1e-10

# %% [markdown]
# **Exercise 3.** The central difference of the loss for one weight, by
# hand: $(L(W + h e_k) - L(W - h e_k)) / 2h$ for $W_{3,10}$, in float64.


# %%
def central_difference_one(f, W, row, col, h):
    """(f(W + h e) - f(W - h e)) / (2 h) for the single weight W[row, col]."""
    # YOUR CODE HERE (reference solution below)
    W_plus, W_minus = np.array(W, np.float64), np.array(W, np.float64)
    W_plus[row, col] += h
    W_minus[row, col] -= h
    return (float(f(W_plus)) - float(f(W_minus))) / (2 * h)


# %%
with jax.enable_x64(True):
    mine = central_difference_one(lambda W: softmax_f64(jnp.asarray(W)), W_np, 3, 10, 1e-5)
    print(f"yours {mine:.8f}   jax.grad {float(exact64[3, 10]):.8f}")
    assert np.isclose(mine, float(exact64[3, 10]), rtol=1e-6, atol=1e-9)
