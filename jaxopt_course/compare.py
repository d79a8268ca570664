"""Comparing optimizers so that the numbers can be trusted: one budget, seeds, spreads, the exact optimum.

A single run's test accuracy is a noisy number twice over: the 1000 test
images have their own standard error ``sqrt(p (1 - p) / n)`` (1.5 points at
33 %), and another seed draws other minibatches. :func:`compare_optimizers`
follows the protocol of the optimizer benchmarks (DeepOBS, AlgoPerf) on the
lecture's linear classifiers:

* every optimizer gets the same budget: the same number of learning rates
  from a log grid, the same steps, batch size, ``W0``, ``reg`` and seeds;
* each optimizer's whole ``learning rates x seeds`` grid trains in one
  compiled, vmapped call (:func:`~jaxopt_course.train.sweep` with
  ``seeds=S``: seed ``s`` draws its minibatches from ``fold_in(key, s)``);
* the learning rate is chosen by the mean validation accuracy over seeds
  (or by the mean final training objective), and reported with the mean,
  standard deviation and a 95 % Student-t interval over seeds of the
  validation and test accuracy, the per-seed values beside them;
* the training objective ``f(W_t) = 1/N sum_i L_i + reg * sum W**2`` on the
  *whole* training set is evaluated at every chunk boundary (every
  ``eval_every`` steps) for every model, so each run has its suboptimality
  gap ``f(W_t) - f*``: for softmax + L2 (``reg > 0``, strictly convex),
  ``f*`` is the exact optimum from Newton-CG in float64
  (:func:`softmax_optimum`); for the SVM a *best-known* value
  (:func:`svm_best_known`);
* no ranking where the intervals overlap: :func:`ranking` groups the
  optimizers whose intervals overlap and lists the distinguishable pairs.

All results are plain dicts, lists and floats (NaN where undefined), ready
for :func:`jaxopt_course.files.atomic_write_json`.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .curvature import full_objective, minimize_newton_cg

SELECTIONS = ("val_accuracy", "train_loss")

# ---------------------------------------------------------------------------
# Statistics over seeds
# ---------------------------------------------------------------------------


class Interval(NamedTuple):
    """Mean, standard deviation (``ddof=1``) and a two-sided t interval of ``n`` values."""

    mean: float
    sd: float
    low: float
    high: float
    n: int
    level: float
    method: str  # "student-t (scipy)" or "normal approximation (scipy missing)"


def _t_quantile(level: float, dof: int) -> tuple[float, str]:
    """The ``(1 + level) / 2`` quantile of Student's t with ``dof`` degrees of freedom."""
    try:
        from scipy import stats
    except ImportError:  # scipy comes with scikit-learn; without it, the normal quantile (narrower)
        from statistics import NormalDist
        return NormalDist().inv_cdf((1 + level) / 2), "normal approximation (scipy missing)"
    return float(stats.t.ppf((1 + level) / 2, dof)), "student-t (scipy)"


def t_interval(values, level: float = 0.95) -> Interval:
    """The mean of ``values`` with its ``level`` confidence interval ``mean +- t sd / sqrt(n)``.

    ``t`` is the ``(1 + level) / 2`` quantile of Student's t with ``n - 1``
    degrees of freedom (2.776 for 5 seeds at 95 %). With one value the
    standard deviation and the interval are NaN: one seed says nothing about
    the spread.

    Examples:
      >>> iv = t_interval([0.30, 0.32, 0.34])
      >>> round(iv.mean, 4), round(iv.sd, 4), round(iv.low, 4), round(iv.high, 4)
      (0.32, 0.02, 0.2703, 0.3697)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {values!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, math.nan, math.nan, math.nan, 1, level, "one value: no spread")
    sd = float(x.std(ddof=1))
    q, method = _t_quantile(level, x.size - 1)
    half = q * sd / math.sqrt(x.size)
    return Interval(mean, sd, mean - half, mean + half, int(x.size), level, method)


def binomial_standard_error(p, n: int) -> float:
    """The standard error ``sqrt(p (1 - p) / n)`` of an accuracy ``p`` measured on ``n`` examples.

    The test set's own noise, whatever the seed: 1000 images at 33 % give 1.5 points.

    Examples:
      >>> round(binomial_standard_error(0.33, 1000), 4)
      0.0149
    """
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be an accuracy in [0, 1], got {p}")
    return math.sqrt(p * (1 - p) / _checks.check_int(n, "n"))


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two intervals overlap; an undefined (NaN) interval overlaps everything."""
    if not all(np.isfinite([a.low, a.high, b.low, b.high])):
        return True
    return a.low <= b.high and b.low <= a.high


def ranking(names, intervals, *, higher_is_better: bool = True) -> dict:
    """Groups of optimizers that the intervals cannot tell apart, best first, and the pairs they can.

    Sorted by mean; a group starts at the best optimizer not yet grouped and
    takes every later one whose interval overlaps the leader's. Overlap is
    not transitive (A may overlap B, B overlap C, A not C), so the groups
    are a reading aid and ``pairs`` is the statement: for each pair, whether
    the intervals are disjoint (``distinguishable``).

    Returns:
      ``{"groups": [[name, ...], ...], "pairs": [{"a", "b", "distinguishable", "better"}, ...]}``;
      ``better`` names the higher-mean (or lower, ``higher_is_better=False``)
      of a distinguishable pair, else ``None``.

    Examples:
      >>> ivs = [t_interval(v) for v in ([.30, .31, .32], [.31, .32, .33], [.40, .41, .42])]
      >>> ranking(["a", "b", "c"], ivs)["groups"]
      [['c'], ['b', 'a']]
    """
    names, intervals = list(names), list(intervals)
    if len(names) != len(intervals):
        raise ValueError(f"names and intervals must have the same length, got {len(names)} and {len(intervals)}")
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(range(len(names)), key=lambda i: -sign * intervals[i].mean)
    groups, left = [], list(order)
    while left:
        leader = left[0]
        group = [i for i in left if i == leader or overlap(intervals[leader], intervals[i])]
        groups.append([names[i] for i in group])
        left = [i for i in left if i not in group]
    pairs = []
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            apart = not overlap(intervals[a], intervals[b])
            best = a if sign * intervals[a].mean >= sign * intervals[b].mean else b
            pairs.append({"a": names[a], "b": names[b], "distinguishable": apart,
                          "better": names[best] if apart else None})
    return {"groups": groups, "pairs": pairs}


def steps_to_target(steps_K, objective_SxK, target: float) -> list:
    """Per seed, the first evaluated step at which the objective is ``<= target`` (``None``: never).

    The objective is known only at the evaluated steps (chunk boundaries), so
    this is the first boundary past the crossing: an upper bound, exact to
    the stride.
    """
    steps_K = np.asarray(steps_K)
    out = []
    for row in np.asarray(objective_SxK, dtype=np.float64):
        hit = np.flatnonzero(np.isfinite(row) & (row <= target))
        out.append(int(steps_K[hit[0]]) if hit.size else None)
    return out


def performance_profile(costs_OxP, taus=None) -> dict:
    """Dolan--More performance profile of ``O`` solvers on ``P`` problems (lower cost is better).

    For problem ``p`` the ratio ``r[o, p] = cost[o, p] / min_o cost[o, p]``;
    ``rho_o(tau)`` is the fraction of problems on which solver ``o`` is within
    a factor ``tau`` of the best. ``rho_o(1)`` is how often ``o`` is best;
    the curve's height at large ``tau`` how often it solves the problem at
    all (an infinite or NaN cost never counts).

    Returns:
      ``{"taus": (T,), "rho": (O, T), "ratios": (O, P)}`` as lists.

    Examples:
      >>> prof = performance_profile([[1.0, 2.0], [2.0, 1.0]], taus=[1.0, 2.0])
      >>> prof["rho"]
      [[0.5, 1.0], [0.5, 1.0]]
    """
    costs = np.asarray(costs_OxP, dtype=np.float64)
    if costs.ndim != 2:
        raise ValueError(f"costs_OxP must be 2-D (solvers x problems), got shape {costs.shape}")
    costs = np.where(np.isfinite(costs), costs, np.inf)
    best = costs.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(costs), costs / np.where(best > 0, best, 1.0), np.inf)
        ratios = np.where((best == 0) & (costs == 0), 1.0, ratios)
    if taus is None:
        finite = ratios[np.isfinite(ratios)]
        top = max(2.0, float(finite.max()) * 1.05) if finite.size else 2.0
        taus = np.geomspace(1.0, top, 60)
    taus = np.asarray(taus, dtype=np.float64)
    rho = (ratios[:, :, None] <= taus[None, None, :]).mean(axis=1)
    return {"taus": taus.tolist(), "rho": rho.tolist(),
            "ratios": [[None if not math.isfinite(r) else float(r) for r in row] for row in ratios]}


# ---------------------------------------------------------------------------
# The target: the exact optimum (softmax + L2) or a best-known value (SVM)
# ---------------------------------------------------------------------------


class Optimum(NamedTuple):
    """``f*`` of the full training objective and how it was found."""

    value: float
    params: np.ndarray  # the minimizer (float64)
    grad_norm: float  # ||grad f|| there (float64)
    kind: str  # "optimum" (softmax, Newton-CG to grad_tol) or "best known" (SVM: a long, strong run)
    method: str
    seconds: float

    def summary(self) -> dict:
        """Everything but the weights, as a JSON-ready dict."""
        return {k: v for k, v in self._asdict().items() if k != "params"}


def softmax_optimum(X, y, reg: float, *, grad_tol: float = 1e-8, max_steps: int = 50, cg_iters: int = 500,
                    block_rows: int = 4096) -> Optimum:
    """The exact minimizer of ``1/N sum_i softmax L_i + reg * sum W**2`` (``reg > 0``), in float64.

    With ``reg > 0`` the objective is strictly convex, so its minimum is
    unique: Newton-CG (:func:`~jaxopt_course.curvature.minimize_newton_cg`)
    from ``W = 0`` on the row-blocked float64 objective
    (:func:`~jaxopt_course.curvature.full_objective`), to a gradient norm of
    at most ``grad_tol``. At CIFAR-10 size (49000 x 3073, C = 10) ``X`` stays
    float32 in memory; each Hessian-vector product is two passes over it.

    Raises:
      ValueError: ``reg <= 0`` (no unique optimum: the softmax is flat along
        ``W + 1 v^T``), or Newton-CG stopped above ``grad_tol``.
    """
    if not float(reg) > 0:
        raise ValueError(f"reg must be > 0 for a unique softmax optimum, got {reg}")
    start = time.perf_counter()
    with jax.enable_x64(True):
        X = jnp.asarray(X)
        y = jnp.asarray(y)
        W0 = jnp.zeros((int(np.max(np.asarray(y))) + 1, X.shape[1]), jnp.float64)
        f = partial(full_objective, loss="softmax", block_rows=int(block_rows))
        result = minimize_newton_cg(f, W0, (X, y, jnp.float64(reg)), grad_tol=grad_tol, max_steps=max_steps,
                                    cg_iters=cg_iters)
        params = np.asarray(result.params)
    if not result.converged:
        raise ValueError(f"Newton-CG stopped at gradient norm {result.grad_norm:.3g} > grad_tol {grad_tol:g} "
                         f"after {result.steps} steps: raise max_steps or cg_iters")
    return Optimum(result.value, params, result.grad_norm, "optimum",
                   f"Newton-CG in float64 from W = 0: {result.steps} steps, {result.hvps} Hessian-vector "
                   f"products, ||grad f|| = {result.grad_norm:.2e} <= {grad_tol:g}", time.perf_counter() - start)


def svm_best_known(X, y, reg: float, *, num_steps: int = 3000, lr: float = None, margin: float = 1.0,
                   block_rows: int = 4096) -> Optimum:
    """A best-known value of the SVM objective: a long full-batch run in float64, its lowest value.

    The multiclass hinge has kinks, so Newton does not apply and no closed
    form exists: this is *not* the optimum, only the best value a long,
    strong run found (full-batch Adam with a cosine-decayed step from
    ``lr``, ``num_steps`` steps, from ``W = 0``, keeping the best iterate).
    :func:`compare_optimizers` lowers it further to the best value any
    compared run reached, so that the gaps stay >= 0.

    ``lr`` defaults to ``0.1 / sqrt(mean ||x||^2)`` -- a scale-free first guess.
    """
    import optax

    start = time.perf_counter()
    with jax.enable_x64(True):
        X = jnp.asarray(X)
        y = jnp.asarray(y)
        if lr is None:
            lr = 0.1 / float(jnp.sqrt(jnp.mean(jnp.sum(X.astype(jnp.float64) ** 2, axis=1))))
        f = partial(full_objective, loss="svm", margin=margin, block_rows=int(block_rows))
        tx = optax.adam(optax.cosine_decay_schedule(lr, num_steps, alpha=1e-3))
        W0 = jnp.zeros((int(np.max(np.asarray(y))) + 1, X.shape[1]), jnp.float64)
        W, value = _best_of_run(f, tx, int(num_steps), W0, X, y, jnp.float64(reg))
        params = np.asarray(W)
    return Optimum(float(value), params, math.nan, "best known",
                   f"best iterate of {num_steps} full-batch Adam steps (float64, cosine decay from lr {lr:.3g}); "
                   "not an optimum", time.perf_counter() - start)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _best_of_run(f, tx, num_steps, W0, X, y, reg):
    """``(best W, best f)`` over ``num_steps`` full-batch steps of ``tx`` on ``f(W, X, y, reg)``."""
    def step(carry, _):
        W, opt_state, best_W, best = carry
        value, grad = jax.value_and_grad(f)(W, X, y, reg)
        better = value < best
        best_W, best = jnp.where(better, W, best_W), jnp.where(better, value, best)
        updates, opt_state = tx.update(grad, opt_state, W)
        return (W + updates, opt_state, best_W, best), None

    carry = (W0, tx.init(W0), W0, jnp.asarray(jnp.inf, W0.dtype))
    (W, _, best_W, best), _ = jax.lax.scan(step, carry, None, length=num_steps)
    last = f(W, X, y, reg)
    return jnp.where(last < best, W, best_W), jnp.minimum(last, best)


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


def _named_optimizers(optimizers) -> dict:
    """``{label: factory lr -> GradientTransformation}`` from names, factories or a dict of either."""
    from .train import get_optimizer

    items = optimizers.items() if isinstance(optimizers, dict) else (
        (o if isinstance(o, str) else getattr(o, "__name__", f"optimizer {i}"), o) for i, o in enumerate(optimizers))
    named = {}
    for label, opt in items:
        if isinstance(opt, str):
            opt = partial(get_optimizer, opt)
        if not callable(opt):
            raise TypeError(f"optimizer {label!r} must be a name or a factory lr -> optax transformation, "
                            f"got {type(opt).__name__}")
        if label in named:
            raise ValueError(f"optimizer {label!r} is given twice")
        named[str(label)] = opt
    if not named:
        raise ValueError("optimizers must name at least one optimizer")
    return named


def _lr_grids(learning_rates, labels) -> dict:
    """One ``(L,)`` grid per optimizer, all of the same length L (the same tuning budget)."""
    grids = {}
    for label in labels:
        values = learning_rates[label] if isinstance(learning_rates, dict) else learning_rates
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError(f"learning_rates for {label!r} must be a non-empty 1-D sequence of positive "
                             f"numbers, got {values!r}")
        grids[label] = arr
    if len({g.size for g in grids.values()}) > 1:
        raise ValueError("every optimizer must get the same number of learning rates (the same budget), got "
                         + ", ".join(f"{k}: {v.size}" for k, v in grids.items()))
    return grids


def log_grid(low: float, high: float, num: int) -> np.ndarray:
    """``num`` learning rates evenly spaced in ``log10`` from ``low`` to ``high`` (both included)."""
    if not (0 < low < high):
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    return np.geomspace(low, high, _checks.check_int(num, "num"))


def _loss_name(loss_fn):
    """``("softmax" | "svm" | None, the loss function)`` for a loss given by name or function."""
    from . import losses

    if isinstance(loss_fn, str):
        loss_fn = losses.get_loss(loss_fn)
    for name, fn in losses.LOSSES.items():
        if loss_fn is fn:
            return name, fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a loss name or a function, got {type(loss_fn).__name__}")
    return None, loss_fn


@partial(jax.jit, static_argnums=0)
def _objectives(loss, W_MxCxD, X_NxD, y_N, reg):
    """The full training objective of each of ``M`` models, ``(M,)``, in the models' dtype.

    ``loss`` is ``"softmax"``/``"svm"`` (row-blocked :func:`full_objective`) or
    any ``loss_fn(W, X, y, reg=reg)``. The data are arguments, never constants.
    """
    if isinstance(loss, str):
        return jax.vmap(lambda W: full_objective(W, X_NxD, y_N, reg, loss=loss))(W_MxCxD)
    return jax.vmap(lambda W: loss(W, X_NxD, y_N, reg=reg))(W_MxCxD)


@jax.jit
def _accuracies(W_MxCxD, X_NxD, y_N):
    """The accuracy of each of ``M`` models on ``(X, y)``, ``(M,)``."""
    from .model import accuracy_core

    return jax.vmap(lambda W: accuracy_core(W, X_NxD, y_N))(W_MxCxD)


class _Problem(NamedTuple):
    """What every optimizer of a comparison shares."""

    loss: object  # "softmax", "svm" or a loss function (for the objective)
    loss_fn: object  # the loss given to sweep
    W0: jax.Array
    X: jax.Array
    y: jax.Array
    X_val: jax.Array
    y_val: jax.Array
    key: jax.Array
    reg: float
    seeds: int
    batch_size: int | None
    num_steps: int
    eval_every: int
    progress: bool | None


def _train_grid(problem: _Problem, factory, lrs) -> tuple:
    """One vmapped sweep of ``L`` learning rates x ``S`` seeds, the objective at every chunk boundary.

    Returns ``(SweepResult, steps (K,), objective (L, S, K), seconds)`` where
    the ``K`` evaluated steps are ``0, eval_every, 2 eval_every, ..., num_steps``.
    """
    from .train import sweep

    L, S = len(lrs), problem.seeds
    f0 = float(_objectives(problem.loss, problem.W0[None], problem.X, problem.y, problem.reg)[0])
    steps, values = [0], [np.full((L, S), f0)]

    def record(state, metrics):
        del metrics
        W_MxCxD = state.params.reshape((L * S,) + problem.W0.shape)  # model m = i * S + s (one reg)
        values.append(np.asarray(_objectives(problem.loss, W_MxCxD, problem.X, problem.y, problem.reg))
                      .reshape(L, S))
        steps.append(int(state.step))

    start = time.perf_counter()
    result = sweep(problem.loss_fn, factory, problem.W0, problem.X, problem.y, key=problem.key, learning_rates=lrs,
                   regs=[problem.reg], seeds=problem.seeds, batch_size=problem.batch_size,
                   num_steps=problem.num_steps, X_val=problem.X_val, y_val=problem.y_val,
                   chunk_size=problem.eval_every, on_chunk=record, progress=problem.progress)
    seconds = time.perf_counter() - start
    return result, np.asarray(steps), np.stack(values, axis=-1), seconds


def _choose_lr(val_LxS, final_objective_LxS, diverged_L, select: str) -> int:
    """The index of the learning rate with the best mean over seeds (diverged ones excluded)."""
    if np.all(diverged_L):
        return -1
    if select == "val_accuracy":
        return int(np.nanargmax(np.where(diverged_L, np.nan, val_LxS.mean(axis=1))))
    return int(np.nanargmin(np.where(diverged_L, np.nan, final_objective_LxS.mean(axis=1))))


def _window_means(losses_SxT, points: int = 200):
    """``(steps, mean, sd)``: the minibatch losses averaged over windows of ``k`` steps, then over seeds.

    ``steps`` is each window's last step (counted from 1); ``sd`` is over seeds (ddof 1; 0 for one seed).
    """
    S, T = losses_SxT.shape
    k = max(1, -(-T // points))
    n = T // k
    windows_SxW = losses_SxT[:, :n * k].reshape(S, n, k).mean(axis=2)
    sd = windows_SxW.std(axis=0, ddof=1) if S > 1 else np.zeros(n)
    return np.arange(1, n + 1) * k, windows_SxW.mean(axis=0), sd


def _summarize(label, lrs, result, steps_K, objective_LxSxK, seconds, *, select, level, test, f_star, target):
    """One optimizer's entry of :func:`compare_optimizers` (plain, JSON-ready values)."""
    L, S = objective_LxSxK.shape[:2]
    losses_LxSxT = np.asarray(result.losses).reshape(L, S, -1)
    val_LxS = np.asarray(result.val_accuracy, dtype=np.float64).reshape(L, S)
    diverged_LxS = ~(np.all(np.isfinite(losses_LxSxT), axis=2) & np.all(np.isfinite(objective_LxSxK), axis=2))
    diverged_L = diverged_LxS.any(axis=1)
    final_LxS = objective_LxSxK[:, :, -1]
    best = _choose_lr(val_LxS, final_LxS, diverged_L, select)
    entry = {"optimizer": label, "learning_rates": lrs, "diverged_by_lr": diverged_L,
             "val_by_lr": {"mean": val_LxS.mean(axis=1), "sd": val_LxS.std(axis=1, ddof=1) if S > 1 else None,
                           "per_seed": val_LxS},
             "final_objective_by_lr": {"mean": final_LxS.mean(axis=1), "per_seed": final_LxS},
             "seconds": seconds, "lr_index": best}
    if best < 0:
        entry.update(lr=None, note="every learning rate diverged")
        return entry
    W_SxCxD = jnp.asarray(result.params).reshape((L, S) + tuple(result.params.shape[-2:]))[best]
    entry["lr"] = float(lrs[best])
    entry["val_accuracy"] = {**t_interval(val_LxS[best], level)._asdict(), "per_seed": val_LxS[best]}
    if test is not None:
        test_S = np.asarray(_accuracies(W_SxCxD, *test), dtype=np.float64)
        entry["test_accuracy"] = {**t_interval(test_S, level)._asdict(), "per_seed": test_S,
                                  "test_set_se": binomial_standard_error(test_S.mean(), int(test[1].shape[0]))}
    curve_steps, curve_mean, curve_sd = _window_means(losses_LxSxT[best])
    entry["loss_curve"] = {"steps": curve_steps, "mean": curve_mean, "sd": curve_sd,
                           "what": "minibatch loss, averaged over windows of steps, then mean and sd over seeds"}
    objective_SxK = objective_LxSxK[best]
    entry["objective"] = {"steps": steps_K, "per_seed": objective_SxK, "mean": objective_SxK.mean(axis=0)}
    entry["final_objective"] = t_interval(objective_SxK[:, -1], level)._asdict()
    if f_star is not None:
        gap_SxK = objective_SxK - f_star
        entry["gap"] = {"steps": steps_K, "per_seed": gap_SxK, "mean": gap_SxK.mean(axis=0)}
        entry["final_gap"] = {**t_interval(gap_SxK[:, -1], level)._asdict(), "per_seed": gap_SxK[:, -1]}
    if target is not None:
        hits = steps_to_target(steps_K, objective_SxK, target)
        entry["steps_to_target"] = {"per_seed": hits, "reached": sum(h is not None for h in hits),
                                    "median": float(np.median([np.inf if h is None else h for h in hits]))}
    return entry


def _resolve_optimum(optimum, loss, X, y, reg):
    """``Optimum | None`` from ``"auto"``, an :class:`Optimum`, a number (a known ``f*``) or ``None``."""
    if isinstance(optimum, Optimum) or optimum is None:
        return optimum
    if isinstance(optimum, str):
        if optimum != "auto":
            raise ValueError(f"optimum must be 'auto', an Optimum, a number or None, got {optimum!r}")
        if loss == "softmax" and reg > 0:
            return softmax_optimum(X, y, reg)
        if loss == "svm":
            return svm_best_known(X, y, reg)
        return None
    value = float(optimum)
    return Optimum(value, None, math.nan, "given", "f* given by the caller", 0.0)


def _objective_resolution(problem: _Problem, optimum: Optimum | None) -> float:
    """``|f(W*) in the models' dtype - f*|``: how finely the evaluated objective can resolve a gap."""
    if optimum is None or optimum.params is None:
        return math.nan
    W = jnp.asarray(optimum.params, problem.W0.dtype)[None]
    return abs(float(_objectives(problem.loss, W, problem.X, problem.y, problem.reg)[0]) - optimum.value)


def compare_optimizers(loss_fn, optimizers, W0, X, y, *, key, learning_rates, reg: float = 0.0, seeds: int = 5,
                       batch_size: int | None = 256, num_steps: int = 1000, X_val, y_val, X_test=None,
                       y_test=None, select: str = "val_accuracy", optimum="auto", target_loss=None,
                       eval_every: int | None = None, level: float = 0.95, progress: bool | None = None) -> dict:
    """Every optimizer on the same budget, over seeds, with spreads and the gap to the optimum.

    The arguments follow :func:`~jaxopt_course.train.sweep`'s order
    (``loss_fn, optimizer(s), W0, X, y, *, key, learning_rates, ...``). Each
    optimizer trains its ``L`` learning rates x ``seeds`` seeds in one
    vmapped ``sweep(..., seeds=seeds)`` call; seed ``s`` draws its minibatches
    from ``fold_in(key, s)`` and is the same seed for every optimizer.

    Args:
      loss_fn: ``softmax_loss``, ``svm_loss`` (or ``"softmax"``/``"svm"``), or
        any unbound ``loss_fn(W, X, y, reg=reg)`` (then the gap needs a
        numeric ``optimum``).
      optimizers: names from :data:`~jaxopt_course.train.OPTIMIZER_NAMES`,
        factories ``lr -> GradientTransformation``, or a dict label -> either.
      W0: ``(C, D)`` initial weights, shared by all models.
      X, y: the training set; X_val, y_val: the validation set (selection);
        X_test, y_test: the test set (reported, never used to choose).
      learning_rates: a 1-D grid shared by all, or a dict label -> grid
        (every grid of the same length: the same tuning budget), e.g. :func:`log_grid`.
      reg: the L2 strength.
      seeds: ``S`` seeds per learning rate.
      batch_size, num_steps: as in :func:`~jaxopt_course.train.sweep`.
      select: ``"val_accuracy"`` (highest mean over seeds) or ``"train_loss"``
        (lowest mean final training objective, on the whole training set).
      optimum: ``"auto"`` (softmax with ``reg > 0``: :func:`softmax_optimum`;
        SVM: :func:`svm_best_known`; else none), an :class:`Optimum`, a number, or ``None``.
      target_loss: the objective value that "time to target" waits for
        (default: ``f* + 0.01 (f(W0) - f*)``, 99 % of the initial gap closed;
        none without ``f*``).
      eval_every: steps between evaluations of the full objective (the sweep's
        chunk size; default ``num_steps // 20``).
      level: the confidence level of the intervals.

    Returns:
      A JSON-ready dict: ``config``, ``optimum`` (value, kind -- ``"optimum"``
      or ``"best known"`` -- method, ``resolution``), ``runs`` (one dict per
      optimizer: ``lr``, ``val_accuracy``/``test_accuracy``/``final_gap`` as
      mean, sd, low, high, n, per_seed; ``test_set_se``; ``loss_curve``;
      ``objective``/``gap`` at the evaluated steps; ``steps_to_target``; the
      by-lr arrays), ``ranking`` (groups and distinguishable pairs by test
      accuracy, validation accuracy and final gap) and ``profile``
      (Dolan--More over optimizers x seeds, by final gap and by steps to target).
    """
    problem, labels_grids, test = _prepare(loss_fn, optimizers, W0, X, y, key, learning_rates, reg, seeds,
                                           batch_size, num_steps, X_val, y_val, X_test, y_test, select,
                                           eval_every, level, progress)
    opt = _resolve_optimum(optimum, problem.loss, problem.X, problem.y, problem.reg)
    trained = {}
    for label, (factory, lrs) in labels_grids.items():
        trained[label] = (lrs,) + _train_grid(problem, factory, lrs)
    f_star = _lowered_f_star(opt, trained)
    f0 = float(next(iter(trained.values()))[3][0, 0, 0])
    target = target_loss if target_loss is not None else (None if f_star is None else f_star + 0.01 * (f0 - f_star))
    runs = [_summarize(label, *t, select=select, level=level, test=test, f_star=f_star, target=target)
            for label, t in trained.items()]
    config = {"loss": problem.loss if isinstance(problem.loss, str) else getattr(problem.loss, "__name__", "?"),
              "reg": problem.reg, "seeds": problem.seeds, "batch_size": problem.batch_size,
              "num_steps": problem.num_steps, "eval_every": problem.eval_every, "select": select, "level": level,
              "optimizers": list(labels_grids), "num_train": int(problem.X.shape[0]),
              "num_val": int(problem.X_val.shape[0]), "num_test": None if test is None else int(test[1].shape[0]),
              "target_loss": target, "initial_objective": f0,
              "objective_evaluation": f"the full training objective, every {problem.eval_every} steps (chunk "
                                      f"boundaries) and at step 0, in the models' dtype ({problem.W0.dtype})"}
    resolution = _objective_resolution(problem, opt)
    optimum_info = None if opt is None else {**opt.summary(), "value": f_star, "resolution": resolution}
    return {"config": config, "optimum": optimum_info, "runs": runs, "ranking": _rankings(runs),
            "profile": _profiles(runs, resolution)}


def _prepare(loss_fn, optimizers, W0, X, y, key, learning_rates, reg, seeds, batch_size, num_steps, X_val, y_val,
             X_test, y_test, select, eval_every, level, progress):
    """Validate and normalize :func:`compare_optimizers`'s arguments once, at the boundary."""
    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {list(SELECTIONS)}, got {select!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    _checks.check_nonnegative(reg, "reg")
    seeds = _checks.check_int(seeds, "seeds")
    num_steps = _checks.check_int(num_steps, "num_steps")
    eval_every = max(1, num_steps // 20) if eval_every is None else min(_checks.check_int(eval_every, "eval_every"),
                                                                        num_steps)
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither")
    name, loss_fn = _loss_name(loss_fn)
    named = _named_optimizers(optimizers)
    grids = _lr_grids(learning_rates, list(named))
    W0 = jnp.asarray(W0)
    problem = _Problem(name or loss_fn, loss_fn, W0, jnp.asarray(X), jnp.asarray(y), jnp.asarray(X_val),
                       jnp.asarray(y_val), key, float(reg), seeds, batch_size, num_steps, eval_every, progress)
    test = None if X_test is None else (jnp.asarray(X_test), jnp.asarray(y_test))
    return problem, {label: (named[label], grids[label]) for label in named}, test


def _lowered_f_star(optimum: Optimum | None, trained: dict):
    """``f*``; a best-known value is lowered to the lowest objective any compared run reached."""
    if optimum is None:
        return None
    if optimum.kind != "best known":
        return optimum.value
    reached = [np.nanmin(np.where(np.isfinite(t[3]), t[3], np.nan)) for t in trained.values()]
    return float(min([optimum.value] + [r for r in reached if np.isfinite(r)]))


def _rankings(runs) -> dict:
    """:func:`ranking` of the optimizers by test accuracy, validation accuracy and final gap."""
    out = {}
    for key, higher in (("test_accuracy", True), ("val_accuracy", True), ("final_gap", False)):
        have = [r for r in runs if key in r]
        if have:
            intervals = [Interval(**{k: r[key][k] for k in Interval._fields}) for r in have]
            out[key] = ranking([r["optimizer"] for r in have], intervals, higher_is_better=higher)
    return out


def _profiles(runs, resolution: float) -> dict:
    """Dolan--More profiles over (optimizer, seed) problems: by final gap and by steps to target.

    Gaps below the objective's ``resolution`` cannot be told apart, so they are raised to it first.
    """
    out = {}
    have = [r for r in runs if "final_gap" in r]
    if have and len({len(r["final_gap"]["per_seed"]) for r in have}) == 1:
        gaps = np.array([r["final_gap"]["per_seed"] for r in have], dtype=np.float64)
        floor = resolution if np.isfinite(resolution) and resolution > 0 else np.finfo(np.float64).tiny
        out["final_gap"] = {"optimizers": [r["optimizer"] for r in have], "floor": float(floor),
                            **performance_profile(np.maximum(gaps, floor))}
    have = [r for r in runs if "steps_to_target" in r]
    if have:
        steps = np.array([[np.inf if h is None else h for h in r["steps_to_target"]["per_seed"]] for r in have])
        out["steps_to_target"] = {"optimizers": [r["optimizer"] for r in have], **performance_profile(steps)}
    return out
