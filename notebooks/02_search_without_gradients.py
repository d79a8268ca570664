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
# # 2. Optimization without gradients
#
# Optimization is the search for the `W` with the lowest loss. The lecture
# walks from the worst strategies to the best; this notebook covers the ones
# that never look at a slope:
#
# 1. **exhaustive search** over a grid, on a problem of one number (the
#    temperature of a cup of tea, after Brandon Rohrer's "How optimization
#    works");
# 2. **random search**: try `trials` random `W`, keep the best;
# 3. **random local search**: take a random step from the current `W`, keep
#    it if the loss drops.
#
# Public API used: `tea_cost`, `tea_cost_local_minima`, `gradient_descent_1d`
# (module `toys`), `grid_search`, `random_search`, `random_local_search`
# (module `search`), and the losses of notebook 1.
#
# `JAXOPT_COURSE_DATA=cifar10` switches the data set to CIFAR-10.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from jaxopt_course import (
    accuracy,
    gradient_descent_1d,
    grid_search,
    init_weights,
    load_data,
    random_local_search,
    random_search,
    svm_loss,
    tea_cost,
    tea_cost_local_minima,
)

DATA = os.environ.get("JAXOPT_COURSE_DATA", "digits")

# %% [markdown]
# ## Exhaustive search: the tea-drinking temperature
#
# One parameter, the temperature $t$ in degrees C, and a cost: how much we
# suffer from a cup at that temperature. Too hot hurts a lot, too cold a
# little, and 60 C is perfect:
#
# $$\text{cost}(t) = e^u - u - 1, \qquad u = (t - 60) / 10.$$
#
# With one parameter we can simply try every temperature from 0 to 100 C and
# keep the best: `grid_search` evaluates the cost at every grid point (in one
# `vmap`) and returns the lowest.

# %%
temperatures = jnp.linspace(0.0, 100.0, 101)
found = grid_search(tea_cost, temperatures)
print(
    f"best temperature {float(found.params):.1f} C, cost {float(found.loss):.4f}, after {found.losses.size} evaluations"
)

fine = jnp.linspace(0.0, 100.0, 1001)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(fine, tea_cost(fine), label="cost(t)")
ax.plot(temperatures, found.losses, ".", markersize=3, label="grid points")
ax.plot(float(found.params), float(found.loss), "r*", markersize=12, label="best")
ax.set_xlabel("temperature (C)")
ax.set_ylabel("suffering")
ax.set_ylim(-1, 20)
ax.legend()
plt.show()

# %% [markdown]
# Exhaustive search finds the global minimum whatever the landscape, which
# gradient descent cannot promise. `tea_cost_local_minima` adds an iced-tea
# valley near 10 C and a forgotten-cup valley near 35 C. Gradient descent
# (`gradient_descent_1d`, the lecture's `W = W - stepSize * dW` on one
# number) rolls into whichever valley it starts in; the grid finds 60 C.

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(fine, tea_cost_local_minima(fine), color="gray")
for start in (5.0, 20.0, 80.0):
    path, costs = gradient_descent_1d(tea_cost_local_minima, start, step_size=5.0, steps=300)
    ax.plot(path, costs, "o-", markersize=2, label=f"descent from {start:.0f} C -> {float(path[-1]):.1f} C")
best = grid_search(tea_cost_local_minima, temperatures)
ax.plot(float(best.params), float(best.loss), "r*", markersize=12, label=f"grid: {float(best.params):.0f} C")
ax.set_ylim(-0.5, 6)
ax.set_xlabel("temperature (C)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Why nobody searches W on a grid
#
# The price: a grid of $k$ values per parameter costs $k^P$ evaluations for
# $P$ parameters. Two parameters are still fine: here is the SVM loss of the
# digits problem on a 41 x 41 grid of two directions through weight space,
# $L(W_0 + a\,d_1 + b\,d_2)$ (`grid_search` with two grids searches their
# Cartesian product).

# %%
if DATA == "cifar10":
    splits = load_data(
        "cifar10",
        data_dir=os.environ.get("JAXOPT_COURSE_CIFAR10"),
        num_training=5000,
        num_validation=1000,
        num_test=1000,
    )
    # CS231n's settings for raw (centred, unscaled) pixels.
    W0_SCALE, TRIAL_SCALE, LOCAL_STEP = 1e-3, 1e-4, 1e-4
else:
    splits = load_data("digits")
    W0_SCALE, TRIAL_SCALE, LOCAL_STEP = 1e-3, 0.1, 0.01
X_train, y_train = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
X_val, y_val = splits.val
C, D = len(splits.class_names), X_train.shape[1]

k0, k1, k2 = jax.random.split(jax.random.key(0), 3)
W0 = init_weights(k0, C, D, scale=W0_SCALE)
d1, d2 = (jax.random.normal(k, (C, D)) for k in (k1, k2))
axis = jnp.linspace(-1.0, 1.0, 41)
plane = grid_search(lambda a, b: svm_loss(W0 + a * d1 + b * d2, X_train, y_train), [axis, axis])
print(
    f"{plane.losses.size} evaluations for 2 parameters; the same grid over all {C * D} weights "
    f"would take 41**{C * D} = 10**{C * D * np.log10(41):.0f}"
)

fig, ax = plt.subplots(figsize=(4.5, 3.8))
image = ax.contourf(axis, axis, np.asarray(plane.losses).T, levels=30)
ax.plot(*np.asarray(plane.params), "r*", markersize=12)
ax.set_xlabel("a (along $d_1$)")
ax.set_ylabel("b (along $d_2$)")
ax.set_title("SVM loss on a plane through W")
fig.colorbar(image)
plt.show()

# %% [markdown]
# ## Random search
#
# The lecture's first idea for the real problem:
#
# ```python
# while count < trials:
#     W = np.random.randn(10, 3072) * scale
#     totalLoss = svmClassifier(X_train, y_train, W)
#     if totalLoss < loss: loss, finalWeights = totalLoss, W
# ```
#
# `random_search` runs that loop with trial `t` drawn from
# `jax.random.fold_in(key, t)`, vmapping a chunk of trials at a time.
# `history[t]` is the best loss after `t + 1` trials.


# %%
def train_loss(W):
    return svm_loss(W, X_train, y_train)


trials = 1000
random_result = random_search(train_loss, jax.random.key(1), (C, D), trials=trials, scale=TRIAL_SCALE)
print(
    f"random search: best loss {float(random_result.loss):.3f}, "
    f"validation accuracy {float(accuracy(random_result.params, X_val, y_val)):.3f} (chance: {1 / C:.2f})"
)

# %% [markdown]
# ## Random local search
#
# Better: start somewhere, try a small random step, keep it only if the loss
# drops -- a blindfolded hiker feeling for downhill with one foot.
# The same budget of loss evaluations as random search:

# %%
local_result = random_local_search(train_loss, jax.random.key(2), W0, steps=trials, step_size=LOCAL_STEP)
print(
    f"random local search: best loss {float(local_result.loss):.3f}, "
    f"validation accuracy {float(accuracy(local_result.params, X_val, y_val)):.3f}"
)

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(random_result.history, label="random search")
ax.plot(local_result.history, label="random local search")
ax.set_xlabel("loss evaluations")
ax.set_ylabel("best SVM loss so far")
ax.legend()
plt.show()

# %% [markdown]
# Random search barely moves: it ends only a little above chance (CS231n
# reports 15.5 % on CIFAR-10 after 1000 trials), because a random `W` with
# hundreds of entries is almost never a good one, and independent draws do
# not build on each other.
# Local search keeps what worked and improves steadily -- but it still wastes
# most of its tries on steps that go uphill. The slope would tell us which
# way is down without trying: that is notebook 3.
#
# A side remark: scaling `W` scales the scores, so `argmax` (and the
# accuracy) does not change. Only the loss notices the scale.

# %% [markdown]
# ## Exercises
#
# Reference solutions are filled in so that the notebook runs end to end;
# replace them with your own and run the check cells.
#
# **Exercise 1.** Write exhaustive search on the tea toy as a plain Python
# loop over the 101 temperatures: keep the best temperature and its cost.


# %%
def exhaustive_search_loop(cost, grid):
    """Return (best point, its cost), scanning the grid in order."""
    # YOUR CODE HERE (reference solution below)
    best_t, best_cost = None, float("inf")
    for t in grid:
        c = float(cost(t))
        if c < best_cost:
            best_t, best_cost = float(t), c
    return best_t, best_cost


# %%
mine_t, mine_cost = exhaustive_search_loop(tea_cost_local_minima, temperatures)
library = grid_search(tea_cost_local_minima, temperatures)
print(f"yours: {mine_t} C ({mine_cost:.5f}); library: {float(library.params)} C ({float(library.loss):.5f})")
assert mine_t == float(library.params) and np.isclose(mine_cost, float(library.loss), rtol=1e-5)

# %% [markdown]
# **Exercise 2.** Write the lecture's random-search loop yourself, drawing
# trial `t` as `scale * jax.random.normal(jax.random.fold_in(key, t), shape)`,
# and record the running best loss after every trial. With the same key you
# must reproduce `random_search`'s `history` exactly (up to float rounding).


# %%
def random_search_loop(loss_fn, key, shape, trials, scale):
    """Return the running best loss after each trial, a list of floats."""
    # YOUR CODE HERE (reference solution below)
    best, history = float("inf"), []
    for t in range(trials):
        W = scale * jax.random.normal(jax.random.fold_in(key, t), shape)
        best = min(best, float(loss_fn(W)))
        history.append(best)
    return history


# %%
key = jax.random.key(7)
mine = random_search_loop(train_loss, key, (C, D), trials=30, scale=TRIAL_SCALE)
library = random_search(train_loss, key, (C, D), trials=30, scale=TRIAL_SCALE)
assert np.allclose(mine, library.history, rtol=1e-5), (mine[:5], library.history[:5])
print("same history:", np.round(mine[:5], 4), "...")

# %% [markdown]
# **Exercise 3.** A grid of 10 values per weight, on CIFAR-10's
# `W` of shape (10, 3073): how many loss evaluations? Give the power of ten.

# %%
# YOUR ANSWER HERE (reference answer below)
power_of_ten = 10 * 3073

# %%
assert power_of_ten == round(np.log10(10.0) * 10 * 3073)
print(f"10**{power_of_ten} evaluations: the universe has about 10**80 atoms")
