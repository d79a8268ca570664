"""Comparing optimizers so that the conclusions survive a second seed.

The protocol of :func:`compare_optimizers`, on the lecture's linear
classifiers (after DeepOBS and AlgoPerf, with what they cannot have: the
exact optimum):

* **The same budget.** Every optimizer gets the same ``L`` learning rates
  from a log grid, the same steps, batch size, ``reg`` and seeds. For each
  seed its ``L`` models train in one vmapped :func:`~jaxopt_course.train.sweep`.
* **Choose on some seeds, report on others.** Each optimizer's learning
  rate is chosen on the *tuning seeds* (best mean validation accuracy, or
  lowest mean final training objective; never a diverged lr). Every
  reported number comes from the *evaluation seeds*, disjoint and fresh:
  seed ``s`` draws its own ``W0`` from ``fold_in(key(s), 0)`` and its own
  minibatches from ``fold_in(key(s), 1)``, the same for every optimizer (so
  seeds pair across optimizers).
* **The choice's noise inside the intervals.** The whole grid is trained on
  every seed, so choosing again is cheap: a bootstrap resamples the tuning
  seeds, re-runs the choice, resamples the evaluation seeds and reads the
  metric at the lr chosen. Its percentile interval carries both noises;
  ``lr_changes`` says how often the choice moved.
* **Claims, conservative and machine-readable.** "A is better than B on a
  metric" is claimed only when a paired t test over the evaluation seeds,
  Holm-corrected over the pairs of that metric and problem, has
  ``p < alpha`` *and* the same bootstrap puts A ahead of B in at least
  ``1 - alpha`` of its resamples -- both, with the lr chosen by each of the
  two rules (validation accuracy and training objective), so that a claim
  does not depend on the rule (:func:`claims`).
* **The distance to the optimum, in steps and in seconds.** The full
  training objective is evaluated every ``eval_every`` steps; the gap
  ``f(W_t) - f*`` uses the exact optimum for softmax + L2
  (:func:`softmax_optimum`) and a best known value for the SVM
  (:func:`svm_best_known`, labelled so). The clock runs only while a chunk
  of steps trains (``block_until_ready`` before it stops; the objective's
  evaluation is not counted) and compile time is measured apart, on a
  warm-up chunk.
* **Over problems.** :func:`performance_profile` (Dolan--More) runs over
  problems, one profile per evaluation seed, the seeds giving its spread
  (:func:`suite_profile`).

All results are plain dicts, lists and floats (NaN where undefined), ready
for :func:`jaxopt_course.files.atomic_write_json`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .curvature import full_objective, minimize_newton_cg
from .divergence import DIVERGENCE_FACTOR

SELECTIONS = ("val_accuracy", "train_loss")


#: The metrics that claims are made on: name -> whether higher is better.
CLAIM_METRICS = {"test_accuracy": True, "final_gap": False}

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


def paired_p_value(a, b) -> float:
    """Two-sided p value of the paired t test of ``a - b`` (seeds paired), ``scipy.stats.ttest_rel``.

    Differences that are all zero give ``p = 1``; fewer than 3 pairs, or
    differences that are all equal but not zero (no spread to test), give
    ``p = 1`` as well: no evidence either way.

    Examples:
      >>> round(paired_p_value([1.0, 2.0, 3.0, 4.0], [0.5, 1.7, 2.4, 3.3]), 4)
      0.0087
    """
    from scipy import stats

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.size < 3 or not np.all(np.isfinite(d)) or np.all(d == d[0]):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def holm(p_values) -> list:
    """Holm's step-down adjustment of ``m`` p values (family-wise error at most the level).

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.

    Examples:
      >>> holm([0.01, 0.04, 0.03])
      [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [float(round(v, 15)) for v in adjusted]


def steps_to_target(steps_K, objective_SxK, target: float) -> list:
    """Per seed, the first evaluated step at which the objective is ``<= target`` (``None``: never).

    The objective is known only at the evaluated steps (chunk boundaries), so
    this is the first boundary past the crossing: an upper bound, exact to
    the stride. The same function on the seconds at those boundaries gives the
    wall time to target.
    """
    steps_K = np.asarray(steps_K)
    out = []
    for i, row in enumerate(np.asarray(objective_SxK, dtype=np.float64)):
        hit = np.flatnonzero(np.isfinite(row) & (row <= target))
        at = steps_K[i] if steps_K.ndim == 2 else steps_K
        out.append(at[hit[0]].item() if hit.size else None)
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
    return {
        "taus": taus.tolist(),
        "rho": rho.tolist(),
        "ratios": [[None if not math.isfinite(r) else float(r) for r in row] for row in ratios],
    }


# ---------------------------------------------------------------------------
# The target: the exact optimum (softmax + L2) or a best-known value (SVM)
# ---------------------------------------------------------------------------


class Optimum(NamedTuple):
    """``f*`` of the full training objective and how it was found."""

    value: float
    params: np.ndarray | None  # the minimizer (float64); None for an f* given by the caller
    grad_norm: float  # ||grad f|| there (float64)
    kind: str  # "optimum" (softmax, Newton-CG to grad_tol) or "best known" (SVM: a long, strong run)
    method: str
    seconds: float

    def summary(self) -> dict:
        """Everything but the weights, as a JSON-ready dict."""
        return {k: v for k, v in self._asdict().items() if k != "params"}


def softmax_optimum(
    X, y, reg: float, *, grad_tol: float = 1e-8, max_steps: int = 50, cg_iters: int = 500, block_rows: int = 4096
) -> Optimum:
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
        result = minimize_newton_cg(
            f, W0, (X, y, jnp.float64(reg)), grad_tol=grad_tol, max_steps=max_steps, cg_iters=cg_iters
        )
        params = np.asarray(result.params)
    if not result.converged:
        raise ValueError(
            f"Newton-CG stopped at gradient norm {result.grad_norm:.3g} > grad_tol {grad_tol:g} "
            f"after {result.steps} steps: raise max_steps or cg_iters"
        )
    return Optimum(
        result.value,
        params,
        result.grad_norm,
        "optimum",
        f"Newton-CG in float64 from W = 0: {result.steps} steps, {result.hvps} Hessian-vector "
        f"products, ||grad f|| = {result.grad_norm:.2e} <= {grad_tol:g}",
        time.perf_counter() - start,
    )


def svm_best_known(
    X, y, reg: float, *, num_steps: int = 3000, lr: float | None = None, margin: float = 1.0, block_rows: int = 4096
) -> Optimum:
    """A best-known value of the SVM objective: a long full-batch run in float64, its lowest value.

    The multiclass hinge has kinks, so Newton does not apply and no closed
    form exists: this is *not* the optimum, only the best value a long,
    strong run found: full-batch Adam with a cosine-decayed step from
    ``lr``, ``num_steps`` steps from ``W = 0``, trained by
    :func:`~jaxopt_course.train.sweep` (one model, ``batch_size=None``) in
    float64; the value is the objective at its last iterate (the weights
    returned). :func:`compare_optimizers` lowers it further to the best
    value any compared run reached, so that the gaps stay >= 0.

    ``lr`` defaults to ``0.1 / sqrt(mean ||x||^2)`` -- a scale-free first guess.
    """
    from .losses import svm_loss
    from .train import Loop, Run, sweep

    start = time.perf_counter()
    with jax.enable_x64(True):
        X = jnp.asarray(X, jnp.float64)
        y = jnp.asarray(y)
        if lr is None:
            lr = 0.1 / float(jnp.sqrt(jnp.mean(jnp.sum(X**2, axis=1))))
        W0 = jnp.zeros((int(np.max(np.asarray(y))) + 1, X.shape[1]), jnp.float64)
        loss_fn = svm_loss if margin == 1.0 else partial(svm_loss, margin=margin)
        run = Run(
            loss_fn,
            partial(_cosine_adam, num_steps=int(num_steps)),
            batch_size=None,
            num_steps=int(num_steps),
            eval_every=None,
        )
        result = sweep(
            run,
            W0,
            X,
            y,
            key=jax.random.key(0),
            learning_rates=[lr],
            regs=[float(reg)],
            loop=Loop(chunk_size=None, progress=False),
        )
        W = result.params.reshape(W0.shape)
        last = float(full_objective(W, X, y, jnp.float64(reg), loss="svm", margin=margin, block_rows=int(block_rows)))
        params = np.asarray(W)
    return Optimum(
        last,
        params,
        math.nan,
        "best known",
        f"the objective after {num_steps} full-batch Adam steps (float64, cosine decay from lr "
        f"{lr:.3g}, trained by train.sweep); not an optimum",
        time.perf_counter() - start,
    )


def _cosine_adam(lr, *, num_steps: int):
    """Adam whose step decays from ``lr`` to ``1e-3 lr`` along a cosine over ``num_steps`` steps."""
    import optax

    return optax.adam(optax.cosine_decay_schedule(lr, num_steps, alpha=1e-3))


# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


class Budget(NamedTuple):
    """What every optimizer gets alike.

    Attributes:
      learning_rates: one ``(L,)`` grid shared by all (e.g. :func:`log_grid`),
        or a dict label -> grid, every grid of the same length ``L``.
      reg: the L2 strength of the objective.
      batch_size: minibatch size (``None``: full batch), as in :func:`~jaxopt_course.train.sweep`.
      num_steps: steps per model.
      eval_every: steps between evaluations of the full objective (the
        sweep's chunk size; default ``num_steps // 20``; let it divide ``num_steps``).
      init_scale: ``W0 = init_scale * randn(C, D)``, drawn per seed.
    """

    learning_rates: object
    reg: float = 0.0
    batch_size: int | None = 256
    num_steps: int = 1000
    eval_every: int | None = None
    init_scale: float = 1e-4


class Protocol(NamedTuple):
    """How each learning rate is chosen, and what may be claimed.

    Attributes:
      tuning_seeds: the seeds (ints) the learning rate is chosen on.
      eval_seeds: the seeds every reported number comes from; disjoint from ``tuning_seeds``.
      select: ``"val_accuracy"`` (highest mean over the tuning seeds) or
        ``"train_loss"`` (lowest mean final training objective).
      level: the confidence level of the intervals.
      bootstrap: resamples of the choice and of the evaluation seeds.
      alpha: the level of the claims (Holm-corrected paired test and bootstrap).
    """

    tuning_seeds: tuple = (0, 1, 2)
    eval_seeds: tuple = (3, 4, 5, 6, 7)
    select: str = "val_accuracy"
    level: float = 0.95
    bootstrap: int = 1000
    alpha: float = 0.05


def seed_lists(base_seed: int, tuning: int, evaluation: int) -> tuple[list, list]:
    """Disjoint tuning and evaluation seeds from one base seed: ``tuning + evaluation`` consecutive ints.

    Base seed ``b`` gives ``b * n, ..., b * n + tuning - 1`` to tune and the
    next ``evaluation`` to report (``n = tuning + evaluation``), so two base
    seeds never share a seed either.

    Examples:
      >>> seed_lists(1, 3, 5)
      ([8, 9, 10], [11, 12, 13, 14, 15])
    """
    tuning = _checks.check_int(tuning, "tuning")
    evaluation = _checks.check_int(evaluation, "evaluation")
    first = int(base_seed) * (tuning + evaluation)
    return list(range(first, first + tuning)), list(range(first + tuning, first + tuning + evaluation))


def compare_optimizers(
    loss_fn,
    optimizers,
    splits,
    budget: Budget,
    protocol: Protocol | None = None,
    *,
    optimum="auto",
    name: str | None = None,
    target_fraction: float = 0.01,
    progress: bool | None = None,
) -> dict:
    """Every optimizer on the same budget: chosen on tuning seeds, reported on fresh evaluation seeds.

    For every optimizer and every seed (tuning and evaluation alike) the ``L``
    learning rates train in one :func:`~jaxopt_course.train.sweep` from that
    seed's own ``W0`` (``fold_in(key(seed), 0)``) with its own minibatches
    (``fold_in(key(seed), 1)``). The lr is chosen on the tuning seeds
    (diverged lrs excluded: sweep's mark by
    :func:`~jaxopt_course.divergence.divergence_step`, and the same rule on the full objective); everything reported
    is measured on the evaluation seeds; a bootstrap re-runs the choice;
    :func:`claims` says what the data support.

    Args:
      loss_fn: ``softmax_loss``, ``svm_loss`` (or ``"softmax"``/``"svm"``), or
        any unbound ``loss_fn(W, X, y, reg=reg)`` (then the gap needs a numeric ``optimum``).
      optimizers: names from :data:`~jaxopt_course.optimizers.OPTIMIZER_NAMES`,
        factories ``lr -> GradientTransformation``, or a dict label -> either.
      splits: the data, with ``.train``, ``.val`` and ``.test`` (each ``(X, y)``;
        ``.test`` may be ``None``), e.g. a :class:`~jaxopt_course.data.Splits`.
        Validation chooses (with ``select="val_accuracy"``); test is only reported.
      budget: a :class:`Budget`.
      protocol: a :class:`Protocol` (default ``Protocol()``: tuning seeds 0-2, evaluation seeds 3-7).
      optimum: ``"auto"`` (softmax with ``reg > 0``: :func:`softmax_optimum`;
        SVM: :func:`svm_best_known`; else none), an :class:`Optimum`, a number, or ``None``.
      name: the problem's name in ``claims`` (default ``"<loss> reg <reg>"``).
      target_fraction: "time to target" waits for ``f <= f* + target_fraction (f(W0) - f*)``.
      progress: progress bars of the sweeps.

    Returns:
      A JSON-ready dict: ``problem``, ``config`` (``tuning_seeds``,
      ``eval_seeds``, ...), ``optimum``, ``runs`` (one per optimizer: the
      chosen ``lr``, the by-lr arrays, the evaluation seeds' accuracies and
      gaps with t intervals, the gap against steps and seconds, steps and
      seconds to target, ``compile_seconds``, ``bootstrap``), ``tests``
      (every pair's paired test and bootstrap) and ``claims``.
    """
    protocol = Protocol() if protocol is None else protocol
    problem, labelled, test = _prepare(loss_fn, optimizers, splits, budget, protocol, progress)
    opt = _resolve_optimum(optimum, problem.loss, problem.X, problem.y, problem.reg)
    trained = {label: _train_optimizer(problem, factory, lrs, test) for label, (factory, lrs) in labelled.items()}
    f_star = _lowered_f_star(opt, trained)
    f0 = float(np.mean([t["eval"]["objective"][0, :, 0] for t in trained.values()]))
    target = None if f_star is None else f_star + float(target_fraction) * (f0 - f_star)
    runs = [_summarize(label, labelled[label][1], t, protocol, f_star, target, test) for label, t in trained.items()]
    name = name or f"{problem.loss if isinstance(problem.loss, str) else 'loss'} reg {problem.reg:g}"
    tests = pair_tests(runs, trained, protocol, name, f_star)
    config = {
        "loss": problem.loss if isinstance(problem.loss, str) else getattr(problem.loss, "__name__", "?"),
        "reg": problem.reg,
        "tuning_seeds": [int(s) for s in protocol.tuning_seeds],
        "eval_seeds": [int(s) for s in protocol.eval_seeds],
        "batch_size": problem.batch_size,
        "num_steps": problem.num_steps,
        "eval_every": problem.eval_every,
        "init_scale": problem.init_scale,
        "select": protocol.select,
        "level": protocol.level,
        "bootstrap": protocol.bootstrap,
        "alpha": protocol.alpha,
        "divergence_factor": DIVERGENCE_FACTOR,
        "optimizers": list(labelled),
        "num_train": int(problem.X.shape[0]),
        "num_val": int(problem.X_val.shape[0]),
        "num_test": None if test is None else int(test[1].shape[0]),
        "target_loss": target,
        "target_fraction": float(target_fraction),
        "initial_objective": f0,
        "objective_evaluation": f"the full training objective, every {problem.eval_every} steps (chunk "
        f"boundaries) and at step 0, in the models' dtype ({problem.dtype})",
        "clock": "seconds while the chunks of steps train (block_until_ready before the clock stops; "
        "the objective's evaluation and the compile are not counted)",
    }
    resolution = _objective_resolution(problem, opt)
    optimum_info = None if opt is None else {**opt.summary(), "value": f_star, "resolution": resolution}
    return {
        "problem": name,
        "config": config,
        "optimum": optimum_info,
        "runs": runs,
        "tests": tests,
        "claims": claims(tests, protocol),
    }


class _Problem(NamedTuple):
    """What every optimizer of a comparison shares."""

    loss: str | Callable  # "softmax", "svm" or a loss function (for the objective)
    loss_fn: Callable  # the loss given to sweep
    X: jax.Array
    y: jax.Array
    X_val: jax.Array
    y_val: jax.Array
    num_classes: int
    reg: float
    batch_size: int | None
    num_steps: int
    eval_every: int
    init_scale: float
    tuning_seeds: tuple
    eval_seeds: tuple
    dtype: Any  # jnp.float32 or jnp.float64
    progress: bool | None


def _prepare(loss_fn, optimizers, splits, budget: Budget, protocol: Protocol, progress):
    """Validate and normalize :func:`compare_optimizers`'s arguments once, at the boundary."""
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a compare.Budget, got {type(budget).__name__}")
    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a compare.Protocol, got {type(protocol).__name__}")
    if protocol.select not in SELECTIONS:
        raise ValueError(f"select must be one of {list(SELECTIONS)}, got {protocol.select!r}")
    for what, value in (("level", protocol.level), ("alpha", protocol.alpha)):
        if not 0 < value < 1:
            raise ValueError(f"{what} must be in (0, 1), got {value}")
    tuning = [int(_checks.check_int(s, "tuning_seeds", -(2**63))) for s in protocol.tuning_seeds]
    evaluation = [int(_checks.check_int(s, "eval_seeds", -(2**63))) for s in protocol.eval_seeds]
    if not tuning or not evaluation:
        raise ValueError(f"tuning_seeds and eval_seeds must each hold at least one seed, got {tuning} and {evaluation}")
    shared = sorted(set(tuning) & set(evaluation))
    if shared or len(set(tuning)) < len(tuning) or len(set(evaluation)) < len(evaluation):
        raise ValueError(
            f"tuning_seeds and eval_seeds must be distinct and disjoint, got {tuning} and "
            f"{evaluation} (shared: {shared})"
        )
    _checks.check_int(protocol.bootstrap, "bootstrap")
    _checks.check_nonnegative(budget.reg, "reg")
    _checks.check_positive(budget.init_scale, "init_scale", allow_zero=True)
    num_steps = _checks.check_int(budget.num_steps, "num_steps")
    eval_every = (
        max(1, num_steps // 20)
        if budget.eval_every is None
        else min(_checks.check_int(budget.eval_every, "eval_every"), num_steps)
    )
    name, loss_fn = _loss_name(loss_fn)
    named = _named_optimizers(optimizers)
    grids = _lr_grids(budget.learning_rates, list(named))
    X, y = (jnp.asarray(a) for a in splits.train)
    X_val, y_val = (jnp.asarray(a) for a in splits.val)
    test = None if getattr(splits, "test", None) is None else tuple(jnp.asarray(a) for a in splits.test)
    num_classes = int(getattr(splits, "num_classes", 0) or int(np.max(np.asarray(y))) + 1)
    problem = _Problem(
        name or loss_fn,
        loss_fn,
        X,
        y,
        X_val,
        y_val,
        num_classes,
        float(budget.reg),
        budget.batch_size,
        num_steps,
        eval_every,
        float(budget.init_scale),
        tuple(tuning),
        tuple(evaluation),
        X.dtype,
        progress,
    )
    return problem, {label: (named[label], grids[label]) for label in named}, test


def _first_weights(problem: _Problem, seed: int):
    """Seed ``seed``'s ``W0`` ``(C, D)`` and minibatch key: ``fold_in(key(seed), 0)`` and ``fold_in(key(seed), 1)``."""
    from .model import init_weights

    key = jax.random.key(int(seed))
    W0 = init_weights(
        jax.random.fold_in(key, 0),
        problem.num_classes,
        int(problem.X.shape[1]),
        scale=problem.init_scale,
        dtype=problem.dtype,
    )
    return W0, jax.random.fold_in(key, 1)


def _sweep_one_seed(problem: _Problem, factory, lrs, seed: int, num_steps: int, record=None):
    """The ``L`` learning rates of one seed: one :func:`~jaxopt_course.train.sweep` from that seed's ``W0``."""
    from .train import Loop, Run, sweep

    W0, key = _first_weights(problem, seed)
    run = Run(problem.loss_fn, factory, batch_size=problem.batch_size, num_steps=num_steps)
    return W0, sweep(
        run,
        W0,
        problem.X,
        problem.y,
        key=key,
        learning_rates=lrs,
        regs=[problem.reg],
        X_val=problem.X_val,
        y_val=problem.y_val,
        loop=Loop(chunk_size=problem.eval_every, progress=problem.progress, on_chunk=record),
    )


def _train_seed(problem: _Problem, factory, lrs, seed: int, test) -> dict:
    """One seed's ``L`` models, with the full objective and the clock at every chunk boundary.

    The clock stops after ``block_until_ready`` on the weights; the time
    spent evaluating the objective is taken out again.
    """
    L = len(lrs)
    W0, _ = _first_weights(problem, seed)
    f0 = float(_objectives(problem.loss, W0[None], problem.X, problem.y, problem.reg)[0])
    values, clock, evaluating = [np.full(L, f0)], [0.0], [0.0]

    def record(state, metrics):
        del metrics
        jax.block_until_ready(state.params)
        now = time.perf_counter()
        clock.append(now - start - evaluating[0])
        W_LxCxD = state.params.reshape((L,) + W0.shape)
        values.append(np.asarray(_objectives(problem.loss, W_LxCxD, problem.X, problem.y, problem.reg)))
        evaluating[0] += time.perf_counter() - now

    start = time.perf_counter()
    _, result = _sweep_one_seed(problem, factory, lrs, seed, problem.num_steps, record)
    W_LxCxD = jnp.asarray(result.params).reshape((L,) + W0.shape)
    objective_LxK = np.stack(values, axis=-1)
    losses_LxT = np.asarray(result.losses, np.float64).reshape(L, -1)
    with np.errstate(invalid="ignore"):  # sweep's mark (the minibatch losses), and the same rule on the objective
        diverged_L = (
            np.asarray(result.diverged).reshape(L)
            | ~np.all(np.isfinite(objective_LxK), axis=1)
            | np.any(objective_LxK > DIVERGENCE_FACTOR * f0, axis=1)
        )
    return {
        "objective": objective_LxK,
        "seconds": np.asarray(clock),
        "val": np.asarray(result.val_accuracy, np.float64).reshape(L),
        "test": None if test is None else np.asarray(_accuracies(W_LxCxD, *test), np.float64),
        "losses": losses_LxT,
        "diverged": diverged_L,
    }


def _train_optimizer(problem: _Problem, factory, lrs, test) -> dict:
    """Every seed of one optimizer, stacked: ``{"tuning": ..., "eval": ..., "compile_seconds"}``.

    Arrays have a seed axis after the lr axis: ``objective (L, S, K)``,
    ``val``/``test``/``diverged`` ``(L, S)``, ``losses (L, S, T)``, ``seconds (S, K)``.
    The compile is measured apart, first: one untimed-by-the-runs chunk of
    ``eval_every`` steps (compile plus one chunk), the later runs reuse it.
    """
    start = time.perf_counter()
    _, warm = _sweep_one_seed(problem, factory, lrs, problem.tuning_seeds[0], problem.eval_every)
    jax.block_until_ready(warm.params)
    compile_seconds = time.perf_counter() - start

    def stacked(seeds):
        per_seed = [_train_seed(problem, factory, lrs, s, test) for s in seeds]
        out: dict[str, Any] = {}
        for key in per_seed[0]:
            if per_seed[0][key] is None:
                out[key] = None
            elif key == "seconds":
                out[key] = np.stack([p[key] for p in per_seed])
            else:
                out[key] = np.stack([p[key] for p in per_seed], axis=1)
        return out

    tuning, evaluation = stacked(problem.tuning_seeds), stacked(problem.eval_seeds)
    steps = np.minimum(np.arange(tuning["objective"].shape[-1]) * problem.eval_every, problem.num_steps)
    return {"tuning": tuning, "eval": evaluation, "steps": steps, "compile_seconds": compile_seconds}


def choose_lr(selection_LxS, diverged_LxS, select: str) -> int:
    """The index of the learning rate with the best mean over seeds, never one that diverged on any seed.

    ``selection`` is the validation accuracy (``select="val_accuracy"``,
    higher is better) or the final training objective (``"train_loss"``,
    lower is better). ``-1`` when every learning rate diverged.

    Examples:
      >>> choose_lr(np.array([[0.9, 0.8], [0.95, 0.97]]), np.array([[False, False], [False, True]]), "val_accuracy")
      0
    """
    diverged_L = np.asarray(diverged_LxS).any(axis=1)
    if np.all(diverged_L):
        return -1
    means = np.asarray(selection_LxS, np.float64).mean(axis=1)
    sign = -1.0 if select == "val_accuracy" else 1.0
    return int(np.argmin(np.where(diverged_L, np.inf, sign * means)))


def _choices(selection_LxT, diverged_LxT, select: str, resampled_BxT) -> np.ndarray:
    """:func:`choose_lr` on every bootstrap resample of the tuning seeds, ``(B,)`` (``-1``: all diverged)."""
    means_LxB = np.asarray(selection_LxT, np.float64)[:, resampled_BxT].mean(axis=2)
    diverged_LxB = np.asarray(diverged_LxT)[:, resampled_BxT].any(axis=2)
    sign = -1.0 if select == "val_accuracy" else 1.0
    scores = np.where(diverged_LxB, np.inf, sign * means_LxB)
    return np.where(np.all(diverged_LxB, axis=0), -1, np.argmin(scores, axis=0))


def _metric_by_lr(trained: dict, metric: str, f_star) -> np.ndarray | None:
    """The evaluation seeds' ``metric`` for every lr, ``(L, E)``; a diverged model's gap is ``inf``."""
    ev = trained["eval"]
    if metric == "test_accuracy":
        return ev["test"]
    if metric == "final_gap":
        if f_star is None:
            return None
        gap = ev["objective"][:, :, -1] - f_star
        return np.where(ev["diverged"] | ~np.isfinite(gap), np.inf, gap)
    raise ValueError(f"metric must be one of {list(CLAIM_METRICS)}, got {metric!r}")


def _resamples(protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap's indices into the tuning and the evaluation seeds, ``(B, T)`` and ``(B, E)``.

    One generator seeded by the seeds themselves, shared by every optimizer,
    so a resample pairs the optimizers as the seeds do.
    """
    rng = np.random.default_rng(
        [len(protocol.tuning_seeds), *map(abs, protocol.tuning_seeds), *map(abs, protocol.eval_seeds)]
    )
    B, T, E = protocol.bootstrap, len(protocol.tuning_seeds), len(protocol.eval_seeds)
    return rng.integers(0, T, size=(B, T)), rng.integers(0, E, size=(B, E))


def _bootstrap(trained: dict, *, protocol: Protocol, f_star) -> dict:
    """The choice re-run on resampled tuning seeds, the metrics read on resampled evaluation seeds.

    Returns ``{"chosen": (B,) lr indices, metric: (B,) means}`` (NaN where every lr diverged).
    """
    tuning_idx, eval_idx = _resamples(protocol)
    tn = trained["tuning"]
    selection = tn["val"] if protocol.select == "val_accuracy" else tn["objective"][:, :, -1]
    chosen = _choices(selection, tn["diverged"], protocol.select, tuning_idx)
    out = {"chosen": chosen}
    for metric in CLAIM_METRICS:
        values_LxE = _metric_by_lr(trained, metric, f_star)
        if values_LxE is None:
            continue
        means_LxB = values_LxE[:, eval_idx].mean(axis=2)
        picked = means_LxB[np.maximum(chosen, 0), np.arange(chosen.size)]
        out[metric] = np.where(chosen < 0, np.nan, picked)
    return out


def _window_means(losses_SxT, points: int = 200):
    """``(steps, mean, sd)``: the minibatch losses averaged over windows of ``k`` steps, then over seeds.

    ``steps`` is each window's last step (counted from 1); ``sd`` is over seeds (ddof 1; 0 for one seed).
    """
    S, T = losses_SxT.shape
    k = max(1, -(-T // points))
    n = T // k
    windows_SxW = losses_SxT[:, : n * k].reshape(S, n, k).mean(axis=2)
    sd = windows_SxW.std(axis=0, ddof=1) if S > 1 else np.zeros(n)
    return np.arange(1, n + 1) * k, windows_SxW.mean(axis=0), sd


def _interval(values, level) -> dict:
    """A :func:`t_interval` as a dict with the per-seed values; NaN fields where a value is not finite."""
    values = np.asarray(values, np.float64)
    if np.all(np.isfinite(values)):
        return {**t_interval(values, level)._asdict(), "per_seed": values}
    return {
        "mean": float(np.mean(values)),
        "sd": math.nan,
        "low": math.nan,
        "high": math.nan,
        "n": int(values.size),
        "level": level,
        "method": "a seed diverged: no interval",
        "per_seed": values,
    }


def _summarize(label, lrs, trained, protocol: Protocol, f_star, target, test) -> dict:
    """One optimizer's entry of :func:`compare_optimizers` (plain, JSON-ready values)."""
    tn, ev, steps_K = trained["tuning"], trained["eval"], trained["steps"]
    L, E = ev["val"].shape
    selection = tn["val"] if protocol.select == "val_accuracy" else tn["objective"][:, :, -1]
    best = choose_lr(selection, tn["diverged"], protocol.select)
    boot = _bootstrap(trained, protocol=protocol, f_star=f_star)
    seconds = float(ev["seconds"][:, -1].sum())
    entry = {
        "optimizer": label,
        "learning_rates": lrs,
        "lr_index": best,
        "diverged_by_lr": {"tuning": tn["diverged"].any(axis=1), "eval": ev["diverged"].any(axis=1)},
        "val_by_lr": {"mean": tn["val"].mean(axis=1), "per_seed": tn["val"], "seeds": "tuning"},
        "final_objective_by_lr": {
            "mean": tn["objective"][:, :, -1].mean(axis=1),
            "per_seed": tn["objective"][:, :, -1],
            "seeds": "tuning",
        },
        "eval_final_objective_by_lr": {"per_seed": ev["objective"][:, :, -1], "seeds": "eval"},
        "compile_seconds": trained["compile_seconds"],
        "seconds": seconds,
        "seconds_per_model": seconds / (L * E),
    }
    chosen = boot["chosen"]
    entry["bootstrap"] = {
        "resamples": int(chosen.size),
        "lr_changes": float(np.mean(chosen != best)),
        "lr_counts": {
            f"{lrs[i]:.3g}" if i >= 0 else "all diverged": int(np.sum(chosen == i))
            for i in sorted(set(chosen.tolist()))
        },
    }
    for metric in CLAIM_METRICS:
        if metric in boot:
            samples = boot[metric][np.isfinite(boot[metric])]
            q = (1 - protocol.level) / 2
            entry["bootstrap"][metric] = {
                "low": float(np.quantile(samples, q)) if samples.size else math.nan,
                "high": float(np.quantile(samples, 1 - q)) if samples.size else math.nan,
                "finite": int(samples.size),
            }
    if best < 0:
        entry.update(lr=None, note="every learning rate diverged on a tuning seed")
        return entry
    entry["lr"] = float(lrs[best])
    entry["diverged_eval_seeds"] = int(ev["diverged"][best].sum())
    entry["val_accuracy"] = _interval(ev["val"][best], protocol.level)
    if test is not None:
        entry["test_accuracy"] = {
            **_interval(ev["test"][best], protocol.level),
            "test_set_se": binomial_standard_error(ev["test"][best].mean(), int(test[1].shape[0])),
        }
    curve_steps, curve_mean, curve_sd = _window_means(ev["losses"][best])
    entry["loss_curve"] = {
        "steps": curve_steps,
        "mean": curve_mean,
        "sd": curve_sd,
        "what": "minibatch loss, averaged over windows of steps, then mean and sd over eval seeds",
    }
    objective_ExK = ev["objective"][best]
    entry["objective"] = {
        "steps": steps_K,
        "per_seed": objective_ExK,
        "mean": objective_ExK.mean(axis=0),
        "seconds_per_seed": ev["seconds"],
        "seconds": ev["seconds"].mean(axis=0),
    }
    entry["final_objective"] = _interval(objective_ExK[:, -1], protocol.level)
    if f_star is not None:
        gap_ExK = objective_ExK - f_star
        entry["gap"] = {
            "steps": steps_K,
            "seconds": ev["seconds"].mean(axis=0),
            "per_seed": gap_ExK,
            "seconds_per_seed": ev["seconds"],
            "mean": gap_ExK.mean(axis=0),
        }
        entry["final_gap"] = _interval(gap_ExK[:, -1], protocol.level)
    if target is not None:
        hits = steps_to_target(steps_K, objective_ExK, target)
        secs = steps_to_target(ev["seconds"], objective_ExK, target)
        entry["steps_to_target"] = {
            "per_seed": hits,
            "reached": sum(h is not None for h in hits),
            "median": float(np.median([np.inf if h is None else h for h in hits])),
        }
        entry["seconds_to_target"] = {
            "per_seed": secs,
            "reached": sum(h is not None for h in secs),
            "median": float(np.median([np.inf if h is None else h for h in secs])),
        }
    return entry


def pair_tests(runs, trained: dict, protocol: Protocol, problem: str, f_star) -> list:
    """Every pair of optimizers on every claim metric, under each choosing rule: paired test, Holm, bootstrap.

    For each rule of :data:`SELECTIONS` (not only ``protocol.select``: the
    grid is trained for every lr, so choosing again is free) each optimizer's
    lr is chosen on the tuning seeds by that rule. For a pair ``(a, b)`` and
    a metric, the paired t test (:func:`paired_p_value`) compares the
    evaluation seeds' values at those lrs, seed by seed; Holm's correction
    (:func:`holm`) runs over the pairs of that metric, rule and problem;
    ``bootstrap_a_ahead`` is the fraction of bootstrap resamples (the choice
    re-run by that rule) in which ``a`` is better than ``b``.

    Each row holds every rule's numbers under ``by_select`` and, at its top
    level, those of ``protocol.select`` (the rule the report's numbers use).
    Pairs with an optimizer that has no lr (all diverged) are left out.
    """
    have = [r for r in runs if r.get("lr") is not None]
    tests = []
    for metric, higher in CLAIM_METRICS.items():
        rows: dict[tuple, dict] = {}  # (a, b) -> {select: numbers}
        for select in SELECTIONS:
            rule = protocol._replace(select=select)
            boots = {r["optimizer"]: _bootstrap(trained[r["optimizer"]], protocol=rule, f_star=f_star) for r in have}
            family = []
            for i, ra in enumerate(have):
                for rb in have[i + 1 :]:
                    a, b = ra["optimizer"], rb["optimizer"]
                    values_a = _metric_by_lr(trained[a], metric, f_star)
                    values_b = _metric_by_lr(trained[b], metric, f_star)
                    if values_a is None or values_b is None:
                        continue
                    index_a, index_b = _chosen_index(trained[a], select), _chosen_index(trained[b], select)
                    va, vb = values_a[index_a], values_b[index_b]
                    sa, sb = boots[a][metric], boots[b][metric]
                    with np.errstate(invalid="ignore"):
                        ahead = np.mean(sa > sb) if higher else np.mean(sa < sb)
                        behind = np.mean(sb > sa) if higher else np.mean(sb < sa)
                        diff = float(np.mean(va - vb))
                    numbers = {
                        "lr_a": float(ra["learning_rates"][index_a]),
                        "lr_b": float(rb["learning_rates"][index_b]),
                        "mean_difference": diff,
                        "p": paired_p_value(va, vb),
                        "bootstrap_a_ahead": float(ahead),
                        "bootstrap_b_ahead": float(behind),
                    }
                    family.append(numbers)
                    rows.setdefault((a, b), {})[select] = numbers
            for numbers, adjusted in zip(family, holm([n["p"] for n in family]) if family else [], strict=True):
                numbers["p_holm"] = adjusted
        for (a, b), by_select in rows.items():
            tests.append(
                {
                    "metric": metric,
                    "problem": problem,
                    "a": a,
                    "b": b,
                    "higher_is_better": higher,
                    **by_select[protocol.select],
                    "by_select": by_select,
                }
            )
    return tests


def _chosen_index(trained: dict, select: str) -> int:
    """:func:`choose_lr` on one optimizer's tuning seeds by the rule ``select``."""
    tn = trained["tuning"]
    return choose_lr(tn["val"] if select == "val_accuracy" else tn["objective"][:, :, -1], tn["diverged"], select)


def claims(tests, protocol: Protocol) -> list:
    """The claims the tests support: ``[{"metric", "problem", "better", "worse", "p", "rule"}, ...]``.

    "A is better than B" is claimed only when, under *every* choosing rule of
    the row's ``by_select`` (both of :data:`SELECTIONS` in
    :func:`pair_tests`), both halves agree: the Holm-corrected paired p value
    is below ``alpha``, and the bootstrap puts A ahead in at least
    ``1 - alpha`` of its resamples. A conclusion about two optimizers must not
    depend on which documented rule chose their learning rates: measured on
    digits, the final-gap order under ``val_accuracy`` and under
    ``train_loss`` contradicted each other in 8 pairs before this rule
    (``docs/compare.md``). Requiring every rule is an intersection-union
    test, so its level is still ``alpha``. ``p`` is the largest of the rules'
    Holm-corrected values. Where nothing can be claimed the list is empty.
    """
    out = []
    for t in tests:
        by_select = t["by_select"]
        directions = {(n["mean_difference"] > 0) == t["higher_is_better"] for n in by_select.values()}
        if len(directions) != 1 or any(n["mean_difference"] == 0 for n in by_select.values()):
            continue  # the rules disagree on the direction, or there is no difference
        a_better = directions.pop()
        better, worse = (t["a"], t["b"]) if a_better else (t["b"], t["a"])
        p = max(n["p_holm"] for n in by_select.values())
        support = min(n["bootstrap_a_ahead"] if a_better else n["bootstrap_b_ahead"] for n in by_select.values())
        if not (p < protocol.alpha and support >= 1 - protocol.alpha):
            continue
        rules = " and ".join(f"select={k}" for k in by_select)
        out.append(
            {
                "metric": t["metric"],
                "problem": t["problem"],
                "better": better,
                "worse": worse,
                "p": p,
                "rule": f"under each of {rules}: a paired t test over {len(protocol.eval_seeds)} evaluation "
                f"seeds, Holm-corrected over this metric's pairs on this problem, p < {protocol.alpha:g}; "
                f"and {better} ahead in >= {1 - protocol.alpha:.0%} of {protocol.bootstrap} bootstrap "
                f"resamples (tuning seeds resampled and the lr re-chosen, evaluation seeds resampled; "
                f"least support {support:.1%})",
            }
        )
    return out


def contradictions(*claim_lists) -> list:
    """Pairs claimed both ways: ``[(metric, problem, a, b), ...]`` where one run says a > b, another b > a."""
    said: dict[tuple, set] = {}
    for claim_list in claim_lists:
        for c in claim_list:
            said.setdefault((c["metric"], c["problem"]), set()).add((c["better"], c["worse"]))
    return sorted((m, p, a, b) for (m, p), pairs in said.items() for a, b in pairs if (b, a) in pairs and a < b)


def suite_profile(problems, cost: str = "steps_to_target") -> dict:
    """Dolan--More profiles over *problems*, one per evaluation seed index; the seeds give the spread.

    ``cost`` is ``"steps_to_target"`` or ``"seconds_to_target"`` (never
    reached, or no lr: infinite). Every problem must compare the same
    optimizers on as many evaluation seeds.

    Returns:
      ``{"cost", "optimizers", "problems", "taus", "rho_mean", "rho_low", "rho_high", "per_seed"}``
      (``rho_*`` ``(O, T)``: mean, min and max over the seeds).
    """
    names = [r["optimizer"] for r in problems[0]["runs"]]
    E = len(problems[0]["config"]["eval_seeds"])
    for p in problems:
        if [r["optimizer"] for r in p["runs"]] != names or len(p["config"]["eval_seeds"]) != E:
            raise ValueError(
                f"every problem must compare the same optimizers on as many evaluation seeds; "
                f"{p['problem']!r} has {[r['optimizer'] for r in p['runs']]} on "
                f"{len(p['config']['eval_seeds'])} seeds"
            )

    def costs(e):
        return np.array(
            [
                [
                    np.inf if r.get(cost) is None or r[cost]["per_seed"][e] is None else float(r[cost]["per_seed"][e])
                    for p in problems
                    for r in p["runs"]
                    if r["optimizer"] == name
                ]
                for name in names
            ]
        )

    per_seed = [performance_profile(costs(e)) for e in range(E)]
    finite = [r for prof in per_seed for row in prof["ratios"] for r in row if r is not None]
    top = max(2.0, max(finite) * 1.05) if finite else 2.0
    taus = np.geomspace(1.0, top, 60)
    rho = np.array([performance_profile(costs(e), taus)["rho"] for e in range(E)])  # (E, O, T)
    return {
        "cost": cost,
        "optimizers": names,
        "problems": [p["problem"] for p in problems],
        "taus": taus,
        "rho_mean": rho.mean(axis=0),
        "rho_low": rho.min(axis=0),
        "rho_high": rho.max(axis=0),
        "per_seed": [prof["ratios"] for prof in per_seed],
    }


@functools.cache
def _factory(name: str):
    """``lr -> optax optimizer`` by name, one object per name: a sweep compiles once per optimizer object."""
    from .optimizers import get_optimizer

    return partial(get_optimizer, name)


def _named_optimizers(optimizers) -> dict:
    """``{label: factory lr -> GradientTransformation}`` from names, factories or a dict of either."""

    items = (
        optimizers.items()
        if isinstance(optimizers, dict)
        else (
            (o if isinstance(o, str) else getattr(o, "__name__", f"optimizer {i}"), o) for i, o in enumerate(optimizers)
        )
    )
    named = {}
    for label, opt in items:
        if isinstance(opt, str):
            opt = _factory(opt)
        if not callable(opt):
            raise TypeError(
                f"optimizer {label!r} must be a name or a factory lr -> optax transformation, got {type(opt).__name__}"
            )
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
            raise ValueError(
                f"learning_rates for {label!r} must be a non-empty 1-D sequence of positive numbers, got {values!r}"
            )
        grids[label] = arr
    if len({g.size for g in grids.values()}) > 1:
        raise ValueError(
            "every optimizer must get the same number of learning rates (the same budget), got "
            + ", ".join(f"{k}: {v.size}" for k, v in grids.items())
        )
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
    W = jnp.asarray(optimum.params, problem.dtype)[None]
    return abs(float(_objectives(problem.loss, W, problem.X, problem.y, problem.reg)[0]) - optimum.value)


def _lowered_f_star(optimum: Optimum | None, trained: dict):
    """``f*``; a best-known value is lowered to the lowest objective any compared run reached."""
    if optimum is None:
        return None
    if optimum.kind != "best known":
        return optimum.value
    reached = [
        np.nanmin(np.where(np.isfinite(t[part]["objective"]), t[part]["objective"], np.nan))
        for t in trained.values()
        for part in ("tuning", "eval")
    ]
    return float(min([optimum.value] + [r for r in reached if np.isfinite(r)]))
