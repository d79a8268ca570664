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
# # 4. Gradient descent and minibatch SGD
#
# With the gradient in hand, the lecture's loop is three lines:
#
# ```python
# while count < maxIterations:
#     count = count + 1
#     X_sample = X.sample(n=256)                                   # minibatch SGD only
#     W_gradient_dW = calculateGradient(lossFunction, X_sample, W)
#     W = W + -1 * (stepSize * W_gradient_dW)
# ```
#
# This notebook runs it by hand, then with the library's runner `fit` (the
# same loop compiled into one `lax.scan`, with optax optimizers), varies the
# batch size and the optimizer, tunes the learning rate and the
# regularization strength with `sweep` (a grid of models trained in one
# vmapped call, over several seeds), and looks at what the weights learned.
#
# Public API: `Run`, `fit`, `sweep` (module `train`), `Loop` (`hostloop`),
# `get_optimizer` (`optimizers`), `evaluate`, `accuracy` (`model`),
# `softmax_loss`, `optax`. A `Run` describes a run (the
# loss, the optimizer as a factory of the learning rate, batch size, steps);
# `fit(run, W0, X, y, key=..., lr=..., reg=...)` trains it.
#
# `JAXOPT_COURSE_DATA=cifar10` switches the data set to CIFAR-10.

# %%
import functools
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

from jaxopt_course import Loop, Run, accuracy, evaluate, fit, get_optimizer, load_data, softmax_loss, sweep

DATA = os.environ.get("JAXOPT_COURSE_DATA", "digits")
if DATA == "cifar10":
    splits = load_data(
        "cifar10",
        data_dir=os.environ.get("JAXOPT_COURSE_CIFAR10"),
        num_training=10000,
        num_validation=1000,
        num_test=1000,
    )
    # CIFAR-10's raw pixels are centred but not scaled: much smaller steps.
    STEP_SIZE, LEARNING_RATES, REGS = 1e-7, [1e-8, 1e-7, 5e-7], [1e2, 1e3, 1e4]
    OPTIMIZER_LRS = {"sgd": 1e-7, "momentum": 1e-8, "adam": 1e-4}
else:
    splits = load_data("digits")
    STEP_SIZE, LEARNING_RATES, REGS = 0.5, [0.03, 0.3, 3.0], [1e-4, 1e-2, 1e-1]
    OPTIMIZER_LRS = {"sgd": 0.5, "momentum": 0.05, "adam": 0.01}
X_train, y_train = splits.train
X_val, y_val = splits.val
C, D = len(splits.class_names), X_train.shape[1]
W0 = jnp.zeros((C, D))
print(f"{DATA}: train {X_train.shape}, val {X_val.shape}, C = {C}")

# %% [markdown]
# ## Gradient descent, by hand
#
# `jax.grad(softmax_loss)` is `calculateGradient`: a function that returns
# $\nabla_W L$ at `W`. Full-batch gradient descent, 50 steps:

# %%
grad_fn = jax.jit(jax.grad(softmax_loss))
X_j, y_j = jnp.asarray(X_train), jnp.asarray(y_train)
W = W0
for _ in range(50):  # the lecture's while count < maxIterations, 50 times
    W_gradient_dW = grad_fn(W, X_j, y_j)
    W = W + -1 * (STEP_SIZE * W_gradient_dW)
print(
    f"by hand: loss {float(softmax_loss(W, X_train, y_train)):.4f}, val accuracy {float(accuracy(W, X_val, y_val)):.3f}"
)

# %% [markdown]
# `fit` runs the same loop: `optax.sgd` with `lr=step_size` is exactly
# `W <- W - step_size * dW`, and `batch_size=None` means the whole training
# set every step. The result agrees with the loop above to float32 rounding.
# `Loop(progress=False)` turns the progress bar off.

# %%
quiet = Loop(progress=False)
gd = fit(
    Run(softmax_loss, optax.sgd, batch_size=None, num_steps=50),
    W0,
    X_train,
    y_train,
    key=jax.random.key(0),
    lr=STEP_SIZE,
    loop=quiet,
)
print(
    f"fit:     loss {float(softmax_loss(gd.params, X_train, y_train)):.4f}, "
    f"largest difference from the loop {float(jnp.max(jnp.abs(gd.params - W))):.1e}"
)
assert np.allclose(gd.params, W, atol=1e-5)

# %% [markdown]
# ## Minibatch SGD: the batch size
#
# Full batches are exact but expensive: every step touches every example.
# Minibatch SGD estimates the gradient from `batch_size` random examples
# (`X.sample(n=256)`, with replacement). Smaller batches are cheaper and
# noisier. Each run below takes the same 300 steps; `fit` records the loss
# of every step's minibatch and the validation accuracy every 50 steps.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for batch_size in (8, 32, 256, None):
    run = fit(
        Run(softmax_loss, optax.sgd, batch_size=batch_size, num_steps=300, eval_every=50),
        W0,
        X_train,
        y_train,
        key=jax.random.key(1),
        lr=STEP_SIZE,
        X_val=X_val,
        y_val=y_val,
        loop=quiet,
    )
    label = "full batch" if batch_size is None else f"batch {batch_size}"
    axes[0].plot(run.losses, label=label, alpha=0.8, linewidth=1)
    axes[1].plot(run.val_steps, run.val_accuracies, "o-", label=label)
    print(f"{label:>10}: val accuracy after 300 steps {float(run.val_accuracies[-1]):.3f}")
axes[0].set(xlabel="step", ylabel="minibatch loss", yscale="log", title="loss per step")
axes[1].set(xlabel="step", ylabel="validation accuracy", title="validation accuracy")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The optimizer is one argument
#
# The update rule is an optax `GradientTransformation`, and a `Run` takes its
# factory of the learning rate: `optax.sgd`, or `functools.partial(get_optimizer,
# name)` -- `get_optimizer(name, lr)` builds one by name (`sgd` is the lecture's rule; `momentum` keeps a running
# sum of past gradients; `adam` scales each weight's step by its gradient's
# running size). Each gets a learning rate of its own scale, since the same
# number means different step lengths for different rules: momentum's steps
# add up over about $1/(1 - 0.9) = 10$ gradients, and Adam's step is about
# `lr` per weight whatever the gradient's size.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, lr in OPTIMIZER_LRS.items():
    run = fit(
        Run(softmax_loss, functools.partial(get_optimizer, name), batch_size=64, num_steps=300),
        W0,
        X_train,
        y_train,
        key=jax.random.key(2),
        lr=lr,
        loop=quiet,
    )
    smooth = np.convolve(run.losses, np.ones(20) / 20, mode="valid")
    ax.plot(smooth, label=f"{name} (lr {lr:g})")
ax.set(xlabel="step", ylabel="minibatch loss (20-step mean)", yscale="log")
ax.legend()
plt.show()

# %% [markdown]
# ## Tuning: the learning rate x regularization sweep, over seeds
#
# CS231n tunes `lr` and `reg` on a grid, scoring each model on the validation
# set. `sweep` trains the whole grid at once: `lr` and `reg` are traced
# arguments, so one `jax.vmap` trains L x R models in one compiled program.
# With `seeds=S`, each grid point is trained S times on different minibatch
# orders, so we can see how much of a difference is noise.

# %%
num_seeds = 3
grid = sweep(
    Run(softmax_loss, optax.sgd, batch_size=64, num_steps=300),
    W0,
    X_train,
    y_train,
    key=jax.random.key(3),
    learning_rates=jnp.array(LEARNING_RATES),
    regs=jnp.array(REGS),
    seeds=num_seeds,
    X_val=X_val,
    y_val=y_val,
    loop=quiet,
)
L, R = len(LEARNING_RATES), len(REGS)
val_LxRxS = np.asarray(grid.val_accuracy)  # (L, R, S): the seed axis after lr and reg
mean_LxR, spread_LxR = val_LxRxS.mean(axis=2), val_LxRxS.std(axis=2, ddof=1)
print(f"{L} x {R} grid x {num_seeds} seeds: {L * R * num_seeds} models, params {grid.params.shape}")

fig, ax = plt.subplots(figsize=(5, 4))
image = ax.imshow(mean_LxR, cmap="viridis")
for i in range(L):
    for j in range(R):
        text = f"{mean_LxR[i, j]:.3f}\n± {spread_LxR[i, j]:.3f}"
        light = mean_LxR[i, j] > (mean_LxR.min() + mean_LxR.max()) / 2  # dark text on the light cells
        ax.text(j, i, text, ha="center", va="center", color="black" if light else "white", fontsize=8)
ax.set_xticks(range(R), [f"{r:g}" for r in REGS])
ax.set_yticks(range(L), [f"{lr:g}" for lr in LEARNING_RATES])
ax.set(xlabel="reg", ylabel="learning rate", title=f"validation accuracy (mean ± sd of {num_seeds} seeds)")
fig.colorbar(image)
plt.show()

# %% [markdown]
# When the best value sits on an edge of the grid, the grid should grow in
# that direction before anyone trusts it: the optimum may lie beyond.
# Differences smaller than the spread over seeds are noise.

# %% [markdown]
# ## The weights as templates
#
# Each row of `W` is one class's template: the score of class $j$ is the dot
# product of the image with row $j$. Drop the bias column and reshape each
# row to the image's shape, and the templates can be looked at. We take the
# best model of the sweep and report its accuracy on every split (the test
# set is touched once, at the very end).

# %%
best_i, best_j = np.unravel_index(np.argmax(mean_LxR), mean_LxR.shape)
W_best = np.asarray(grid.params)[best_i, best_j, 0]  # params (L, R, S, C, D): seed 0
print(f"best: lr {LEARNING_RATES[best_i]:g}, reg {REGS[best_j]:g} ->", evaluate(W_best, splits))

# A row holds the pixels channel by channel (CIFAR-10: 1024 red values, then
# green, then blue), so it is reshaped to (channels, H, W) and the channel axis
# moved last, where matplotlib wants it.
height, width, channels = splits.image_shape
templates = W_best[:, :-1].reshape(C, channels, height, width).transpose(0, 2, 3, 1)
fig, axes = plt.subplots(1, C, figsize=(1.2 * C, 1.6))
for ax, template, name in zip(axes, templates, splits.class_names, strict=True):
    t = (template - template.min()) / (template.max() - template.min())
    ax.imshow(t.squeeze(), cmap="gray" if t.shape[-1] == 1 else None)
    ax.set_title(str(name), fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Exercises
#
# Reference solutions are filled in so that the notebook runs end to end;
# replace them with your own and run the check cells.
#
# **Exercise 1.** Gradient descent with momentum, by hand:
# $v \leftarrow \mu v + \nabla_W L$, $W \leftarrow W - \text{lr}\cdot v$, starting from $v = 0$.
# 30 full-batch steps must match `fit` with `functools.partial(get_optimizer, "momentum", momentum=mu)`.


# %%
def momentum_descent(grad_fn, W, X, y, lr, mu, steps):
    """Return W after `steps` full-batch momentum steps."""
    # YOUR CODE HERE (reference solution below)
    v = jnp.zeros_like(W)
    for _ in range(steps):
        v = mu * v + grad_fn(W, X, y)
        W = W - lr * v
    return W


# %%
lr, mu = STEP_SIZE / 10, 0.9
mine = momentum_descent(grad_fn, W0, X_j, y_j, lr, mu, 30)
momentum = functools.partial(get_optimizer, "momentum", momentum=mu)
library = fit(
    Run(softmax_loss, momentum, batch_size=None, num_steps=30),
    W0,
    X_train,
    y_train,
    key=jax.random.key(0),
    lr=lr,
    loop=quiet,
)
print(f"largest difference: {float(jnp.max(jnp.abs(mine - library.params))):.1e}")
assert np.allclose(mine, library.params, atol=1e-5)

# %% [markdown]
# **Exercise 2.** The lecture's minibatch SGD in plain NumPy: each step draws
# 256 example indices with replacement (`rng.integers`), computes the softmax
# gradient of that minibatch (your formula from notebook 3) and takes the
# step. After 300 steps its validation accuracy should be about that of `fit`
# with the same settings (the minibatches differ, so not equal).


# %%
def sgd_numpy(X, y, num_classes, step_size, steps, batch_size=256, seed=0):
    """Return W (C, D) after `steps` minibatch SGD steps on the softmax loss."""
    # YOUR CODE HERE (reference solution below)
    rng = np.random.default_rng(seed)
    X, W = np.asarray(X, np.float64), np.zeros((num_classes, X.shape[1]))
    for _ in range(steps):
        batch = rng.integers(0, len(y), batch_size)
        X_b, y_b = X[batch], y[batch]
        s = X_b @ W.T
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(batch_size), y_b] -= 1.0
        W = W - step_size * (p.T @ X_b / batch_size)
    return W


# %%
mine = sgd_numpy(X_train, y_train, C, STEP_SIZE, 300)
library = fit(
    Run(softmax_loss, optax.sgd, batch_size=256, num_steps=300),
    W0,
    X_train,
    y_train,
    key=jax.random.key(4),
    lr=STEP_SIZE,
    loop=quiet,
)
mine_acc = float(accuracy(jnp.asarray(mine, jnp.float32), X_val, y_val))
library_acc = float(accuracy(library.params, X_val, y_val))
print(f"validation accuracy: yours {mine_acc:.3f}, fit {library_acc:.3f}")
assert abs(mine_acc - library_acc) < 0.05

# %% [markdown]
# **Exercise 3.** Which `(lr, reg)` of the sweep has the best mean
# validation accuracy? Read it off the heat map, and write the two numbers.

# %%
# YOUR ANSWER HERE (reference answer below: read from the grid)
my_lr, my_reg = LEARNING_RATES[best_i], REGS[best_j]

# %%
i, j = np.unravel_index(np.argmax(val_LxRxS.mean(axis=2)), (L, R))
assert (my_lr, my_reg) == (LEARNING_RATES[i], REGS[j]), (LEARNING_RATES[i], REGS[j])
print("right:", my_lr, my_reg)
