"""Optimizer comparisons: statistics against SciPy/NumPy/hand values, the optimum against scikit-learn, the protocol.

What issue 19 asks to be tested: tuning seeds apart from fresh evaluation
seeds (each its own W0 and minibatches), the choice's noise in a bootstrap,
claims only where a Holm-corrected paired test and the bootstrap agree, and
claims that never contradict each other across base seeds and selections.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import softmax_loss, synthetic_problem
from jaxopt_course.compare import (
    Budget,
    Protocol,
    binomial_standard_error,
    choose_lr,
    claims,
    compare_optimizers,
    contradictions,
    holm,
    log_grid,
    paired_p_value,
    performance_profile,
    seed_lists,
    softmax_optimum,
    steps_to_target,
    suite_profile,
    svm_best_known,
    t_interval,
)
from jaxopt_course.curvature import full_objective, minimize_newton_cg
from jaxopt_course.data import Split, Splits

REPO = Path(__file__).resolve().parents[1]
stats = pytest.importorskip("scipy.stats")


def numpy_softmax_objective(W, X, y, reg):
    """``1/N sum_i -log softmax(W x_i)_{y_i} + reg sum W**2`` in float64 NumPy, written out again."""
    W, X = np.asarray(W, np.float64), np.asarray(X, np.float64)
    S = X @ W.T
    top = S.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(S - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_norm - S[np.arange(len(y)), np.asarray(y)]) + reg * np.sum(W * W))


def numpy_svm_objective(W, X, y, reg, margin=1.0):
    W, X, y = np.asarray(W, np.float64), np.asarray(X, np.float64), np.asarray(y)
    S = X @ W.T
    M = np.maximum(0.0, S - S[np.arange(len(y)), y][:, None] + margin)
    M[np.arange(len(y)), y] = 0.0
    return float(M.sum(axis=1).mean() + reg * np.sum(W * W))


def strict_json(path: Path):
    def bad(constant):
        raise ValueError(f"{path} holds {constant}")

    return json.loads(path.read_text(), parse_constant=bad)


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[0.31, 0.34, 0.33, 0.36, 0.30], [1.0, 2.0], [0.5, 0.5, 0.7, 0.2, 0.9, 0.1, 0.4]])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_t_interval_equals_scipy(values, level):
    x = np.asarray(values)
    low, high = stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    iv = t_interval(values, level)
    assert iv.mean == pytest.approx(x.mean(), rel=1e-12)
    assert iv.sd == pytest.approx(np.sqrt(np.sum((x - x.mean()) ** 2) / (len(x) - 1)), rel=1e-12)
    assert (iv.low, iv.high) == pytest.approx((low, high), rel=1e-12)
    assert iv.n == len(x) and iv.method.startswith("student-t")


def test_t_interval_one_value_has_no_spread_and_bad_input_is_refused():
    iv = t_interval([0.4])
    assert iv.mean == 0.4 and math.isnan(iv.sd) and math.isnan(iv.low)
    for bad in ([], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="values"):
            t_interval(bad)
    with pytest.raises(ValueError, match="level"):
        t_interval([1.0, 2.0], level=1.5)


def test_binomial_standard_error_by_hand():
    assert binomial_standard_error(0.33, 1000) == pytest.approx(math.sqrt(0.33 * 0.67 / 1000))
    assert binomial_standard_error(1.0, 10) == 0.0
    with pytest.raises(ValueError, match="p must"):
        binomial_standard_error(1.2, 10)


def test_paired_p_value_is_the_t_formula_on_the_differences():
    a = np.array([0.951, 0.948, 0.955, 0.950, 0.953])
    b = np.array([0.944, 0.947, 0.946, 0.941, 0.949])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    assert paired_p_value(a, b) == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1), rel=1e-10)
    assert paired_p_value(a, a) == 1.0  # no difference
    assert paired_p_value(a + 0.01, a) == 1.0  # a constant shift has no spread to test: no evidence
    assert paired_p_value(a[:2], b[:2]) == 1.0  # two pairs are too few


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.03, 0.2 with m = 4: 0.04, 0.06, 0.06 (monotone), 0.2
    assert holm([0.03, 0.01, 0.2, 0.02]) == pytest.approx([0.06, 0.04, 0.2, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.004]) == [0.004]


def test_seed_lists_are_disjoint_within_and_across_base_seeds():
    t0, e0 = seed_lists(0, 3, 5)
    t1, e1 = seed_lists(1, 3, 5)
    assert (t0, e0) == ([0, 1, 2], [3, 4, 5, 6, 7])
    assert len(set(t0 + e0 + t1 + e1)) == 16


def test_choose_lr_never_picks_a_diverged_lr():
    val = np.array([[0.90, 0.92], [0.99, 0.99], [0.95, 0.94]])
    diverged = np.array([[False, False], [False, True], [False, False]])  # the best mean diverged on one seed
    assert choose_lr(val, diverged, "val_accuracy") == 2
    objective = np.array([[0.5, 0.6], [0.1, 0.1], [0.3, 0.2]])
    assert choose_lr(objective, diverged, "train_loss") == 2
    assert choose_lr(val, np.ones_like(diverged), "val_accuracy") == -1


def _test_row(a, b, diff, p, a_ahead, b_ahead, higher=True, train_loss=None):
    """A row of pair_tests by hand: the same numbers under both rules unless ``train_loss`` overrides some."""
    numbers = {"mean_difference": diff, "p": p, "p_holm": p, "bootstrap_a_ahead": a_ahead, "bootstrap_b_ahead": b_ahead}
    return {
        "metric": "test_accuracy",
        "problem": "p",
        "a": a,
        "b": b,
        "higher_is_better": higher,
        **numbers,
        "by_select": {"val_accuracy": numbers, "train_loss": {**numbers, **(train_loss or {})}},
    }


def test_a_claim_needs_the_corrected_test_and_the_bootstrap_under_every_choosing_rule():
    protocol = Protocol(bootstrap=1000)
    rows = [
        _test_row("x", "y", 0.01, 0.001, 0.99, 0.0),  # both agree under both rules: claimed
        _test_row("x", "z", 0.01, 0.001, 0.80, 0.1),  # the bootstrap does not (the choice moves)
        _test_row("y", "z", 0.01, 0.20, 1.0, 0.0),  # the test does not
        _test_row("u", "v", -0.02, 0.01, 0.97, 0.0, higher=False),  # lower is better: u has the lower gap
        _test_row("s", "t", 0.01, 0.001, 0.99, 0.0, train_loss={"p_holm": 0.07}),  # train_loss's test fails
        _test_row("q", "r", 0.01, 0.001, 0.99, 0.0, train_loss={"bootstrap_a_ahead": 0.9}),  # its bootstrap
        _test_row(
            "m",
            "n",
            0.01,
            0.001,
            0.99,
            0.0,  # train_loss's choice reverses the order
            train_loss={"mean_difference": -0.01, "bootstrap_a_ahead": 0.0, "bootstrap_b_ahead": 0.99},
        ),
        _test_row("k", "l", 0.01, 0.001, 0.99, 0.0, train_loss={"p_holm": 0.03, "bootstrap_a_ahead": 0.96}),
    ]
    got = claims(rows, protocol)
    assert [(c["better"], c["worse"]) for c in got] == [("x", "y"), ("u", "v"), ("k", "l")]
    assert set(got[0]) == {"metric", "problem", "better", "worse", "p", "rule"}
    assert "Holm" in got[0]["rule"] and "bootstrap" in got[0]["rule"] and "train_loss" in got[0]["rule"]
    assert got[2]["p"] == 0.03 and "96.0%" in got[2]["rule"]  # the weakest rule's numbers are the ones stated


def test_contradictions_find_a_pair_claimed_both_ways():
    one = [{"metric": "m", "problem": "p", "better": "a", "worse": "b"}]
    other = [{"metric": "m", "problem": "p", "better": "b", "worse": "a"}]
    elsewhere = [{"metric": "m", "problem": "q", "better": "b", "worse": "a"}]
    assert contradictions(one, other) == [("m", "p", "a", "b")]
    assert contradictions(one, elsewhere) == [] and contradictions(one, one) == []


def test_steps_to_target_is_the_first_evaluated_step_at_or_below():
    steps = np.array([0, 10, 20, 30])
    objective = np.array([[5.0, 3.0, 1.0, 0.5], [5.0, 4.0, 3.0, 2.0], [5.0, np.nan, 0.1, 0.1]])
    assert steps_to_target(steps, objective, 1.0) == [20, None, 20]


def test_suite_profile_runs_over_problems_one_profile_per_seed():
    def problem(name, steps):  # steps[o][e]: optimizer o, evaluation seed e
        return {
            "problem": name,
            "config": {"eval_seeds": [3, 4]},
            "runs": [{"optimizer": o, "steps_to_target": {"per_seed": s}} for o, s in zip("ab", steps, strict=True)],
        }

    problems = [problem("p1", [[10, 20], [20, 20]]), problem("p2", [[40, None], [20, 10]])]
    prof = suite_profile(problems, "steps_to_target")
    assert prof["problems"] == ["p1", "p2"] and prof["optimizers"] == ["a", "b"]
    taus = np.asarray(prof["taus"])
    seed0 = np.array(performance_profile([[10, 40], [20, 20]], taus)["rho"])
    seed1 = np.array(performance_profile([[20, np.inf], [20, 10]], taus)["rho"])
    np.testing.assert_allclose(prof["rho_mean"], (seed0 + seed1) / 2)
    np.testing.assert_allclose(prof["rho_low"], np.minimum(seed0, seed1))
    assert prof["rho_mean"][0][0] == pytest.approx(0.5)  # a is best on p1 for both seeds (tied on seed 1), never on p2


def test_performance_profile_against_a_numpy_restatement():
    rng = np.random.default_rng(0)
    costs = rng.uniform(1, 10, size=(3, 7))
    costs[1, 2] = np.inf  # optimizer 1 fails problem 2
    taus = np.array([1.0, 1.5, 2.0, 5.0, 100.0])
    prof = performance_profile(costs, taus)
    best = costs.min(axis=0)
    expected = [[np.mean([costs[o, p] / best[p] <= t for p in range(7)]) for t in taus] for o in range(3)]
    np.testing.assert_allclose(prof["rho"], expected)
    assert prof["rho"][1][-1] == pytest.approx(6 / 7)  # never solves problem 2
    assert np.sum(np.array(prof["rho"])[:, 0]) >= 1  # someone is best on every problem


# ---------------------------------------------------------------------------
# The optimum
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_full_objective_in_blocks_equals_the_loss(loss):
    X, y = synthetic_problem(3, 37, 4, 3, dtype=np.float64)
    W = np.random.default_rng(1).standard_normal((3, 5))
    reference = (numpy_softmax_objective if loss == "softmax" else numpy_svm_objective)(W, X, y, 0.05)
    with jax.enable_x64(True):
        for block_rows in (5, 37, 100):  # 37 = 7 * 5 + 2: the last block overlaps and is masked
            value = full_objective(
                jnp.asarray(W), jnp.asarray(X, jnp.float32), jnp.asarray(y), 0.05, loss=loss, block_rows=block_rows
            )
            assert value.dtype == jnp.float64
            assert float(value) == pytest.approx(reference, rel=1e-6)  # X stored float32 (rounded once)
        exact = full_objective(jnp.asarray(W), jnp.asarray(X), jnp.asarray(y), 0.05, loss=loss, block_rows=8)
        assert float(exact) == pytest.approx(reference, rel=1e-13)


def test_newton_cg_solves_a_quadratic_exactly():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 6))
    A = A @ A.T + 0.5 * np.eye(6)
    b = rng.standard_normal(6)
    with jax.enable_x64(True):

        def f(w, A, b):
            return 0.5 * w @ A @ w - b @ w

        result = minimize_newton_cg(f, jnp.zeros(6), (jnp.asarray(A), jnp.asarray(b)), grad_tol=1e-12)
    assert result.converged and result.grad_norm <= 1e-12
    np.testing.assert_allclose(result.params, np.linalg.solve(A, b), rtol=1e-10)


@pytest.mark.slow
def test_softmax_optimum_agrees_with_scikit_learn_on_digits(digits):
    """sklearn minimizes C sum_i L_i + 1/2 ||W||^2: with C = 1 / (2 reg N) that is ours times 1 / (2 reg)."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y, reg = digits.train.X, digits.train.y, 1e-3
    N = X.shape[0]
    clf = linear_model.LogisticRegression(fit_intercept=False, C=1 / (2 * reg * N), tol=1e-12, max_iter=10000)
    clf.fit(np.asarray(X, np.float64), np.asarray(y))
    optimum = softmax_optimum(X, y, reg)
    assert optimum.kind == "optimum" and optimum.grad_norm <= 1e-8
    ours = numpy_softmax_objective(optimum.params, X, y, reg)
    theirs = numpy_softmax_objective(clf.coef_, X, y, reg)
    assert ours == pytest.approx(optimum.value, abs=1e-12)
    assert abs(ours - theirs) <= 1e-9
    assert ours <= theirs + 1e-12  # Newton to 1e-8 is at least as low as lbfgs to its tolerance


def test_softmax_optimum_needs_reg():
    X, y = synthetic_problem(0, 30, 3, 3)
    with pytest.raises(ValueError, match="reg must be > 0"):
        softmax_optimum(X, y, 0.0)


def test_svm_best_known_is_labelled_and_no_better_than_it_claims():
    X, y = synthetic_problem(1, 60, 4, 3)
    best = svm_best_known(X, y, 0.01, num_steps=300)
    assert best.kind == "best known" and "not an optimum" in best.method
    assert numpy_svm_objective(best.params, X, y, 0.01) == pytest.approx(best.value, rel=1e-10)
    assert best.value < numpy_svm_objective(np.zeros_like(best.params), X, y, 0.01)


# ---------------------------------------------------------------------------
# compare_optimizers: tuning seeds apart from fresh evaluation seeds
# ---------------------------------------------------------------------------


def _splits(X, y, Xv, yv, Xt=None, yt=None) -> Splits:
    test = None if Xt is None else Split(Xt, yt)
    return Splits(
        Split(X, y), Split(Xv, yv), test, None, tuple(str(c) for c in range(int(y.max()) + 1)), np.zeros(X.shape[1])
    )


@pytest.fixture(scope="module")
def tiny():
    X, y = synthetic_problem(5, 120, 4, 3, spread=1.5)
    Xv, yv = synthetic_problem(6, 40, 4, 3, spread=1.5)
    Xt, yt = synthetic_problem(7, 50, 4, 3, spread=1.5)
    return _splits(X, y, Xv, yv, Xt, yt)


TINY_BUDGET = Budget(log_grid(1e-2, 1.0, 3), reg=1e-2, batch_size=16, num_steps=40, eval_every=10)
TINY_PROTOCOL = Protocol((0, 1), (2, 3, 4), bootstrap=200)


@pytest.fixture(scope="module")
def tiny_comparison(tiny):
    return compare_optimizers(softmax_loss, ["sgd", "adam"], tiny, TINY_BUDGET, TINY_PROTOCOL, progress=False)


@pytest.mark.slow  # the tiny comparison's first compile: about 4 s
def test_each_seed_is_its_own_w0_and_minibatches_and_the_choice_uses_tuning_seeds_only(tiny, tiny_comparison):
    """Re-derive one evaluation seed's run with train.sweep and the seed's W0 and key; re-derive the choice."""
    from jaxopt_course.compare import _factory
    from jaxopt_course.model import init_weights
    from jaxopt_course.train import Loop, Run, sweep

    out = tiny_comparison
    assert out["config"]["tuning_seeds"] == [0, 1] and out["config"]["eval_seeds"] == [2, 3, 4]
    adam = out["runs"][1]
    lrs = adam["learning_rates"]

    def by_hand(seed):
        key = jax.random.key(seed)
        W0 = init_weights(jax.random.fold_in(key, 0), 3, 5, scale=TINY_BUDGET.init_scale)
        # the comparison's own optimizer object and chunk size: the compiled program is reused
        r = sweep(
            Run(softmax_loss, _factory("adam"), batch_size=16, num_steps=40),
            W0,
            tiny.train.X,
            tiny.train.y,
            key=jax.random.fold_in(key, 1),
            learning_rates=lrs,
            regs=[1e-2],
            X_val=tiny.val.X,
            y_val=tiny.val.y,
            loop=Loop(chunk_size=10, progress=False),
        )
        return W0, r

    W0_2, r2 = by_hand(2)
    W0_3, _ = by_hand(3)
    assert not np.allclose(W0_2, W0_3)  # a fresh W0 per seed
    W = np.asarray(r2.params).reshape(len(lrs), 3, 5)[adam["lr_index"]]
    expected = numpy_softmax_objective(W, tiny.train.X, tiny.train.y, 1e-2)
    assert adam["final_objective"]["per_seed"][0] == pytest.approx(expected, rel=1e-5)
    # the choice: the best mean validation accuracy over the tuning seeds, re-derived from the tuning sweeps
    val_by_lr = np.stack([np.asarray(by_hand(s)[1].val_accuracy).reshape(len(lrs)) for s in (0, 1)], axis=1)
    np.testing.assert_allclose(adam["val_by_lr"]["per_seed"], val_by_lr, atol=1e-6)
    assert adam["lr_index"] == choose_lr(val_by_lr, np.zeros_like(val_by_lr, bool), "val_accuracy")


@pytest.mark.slow  # the tiny comparison's first compile: about 4 s
def test_comparison_reports_eval_seeds_bootstrap_time_and_claims(tiny_comparison):
    out = tiny_comparison
    assert out["optimum"]["kind"] == "optimum"
    f_star = out["optimum"]["value"]
    for run in out["runs"]:
        E = 3
        assert len(run["test_accuracy"]["per_seed"]) == E and len(run["final_gap"]["per_seed"]) == E
        assert np.all(np.asarray(run["final_gap"]["per_seed"]) >= -1e-6)
        np.testing.assert_allclose(np.asarray(run["gap"]["per_seed"]) + f_star, run["objective"]["per_seed"])
        assert run["objective"]["steps"].tolist() == [0, 10, 20, 30, 40]
        seconds = np.asarray(run["gap"]["seconds_per_seed"])
        assert seconds.shape == (E, 5) and np.all(np.diff(seconds, axis=1) >= 0) and np.all(seconds[:, 0] == 0)
        assert run["compile_seconds"] > 0
        boot = run["bootstrap"]
        assert boot["resamples"] == 200 and 0 <= boot["lr_changes"] <= 1
        assert sum(boot["lr_counts"].values()) == 200
        assert boot["test_accuracy"]["low"] <= boot["test_accuracy"]["high"]
    pairs = {(t["metric"], t["a"], t["b"]) for t in out["tests"]}
    assert pairs == {("test_accuracy", "sgd", "adam"), ("final_gap", "sgd", "adam")}
    for row in out["tests"]:  # every rule's choice, re-derived from the tuning seeds
        assert set(row["by_select"]) == {"val_accuracy", "train_loss"}
        assert row["p_holm"] == row["by_select"]["val_accuracy"]["p_holm"]
        for select, numbers in row["by_select"].items():
            for side in "ab":
                run = next(r for r in out["runs"] if r["optimizer"] == row[side])
                per_seed = run["val_by_lr"] if select == "val_accuracy" else run["final_objective_by_lr"]
                index = choose_lr(per_seed["per_seed"], run["diverged_by_lr"]["tuning"][:, None], select)
                assert numbers[f"lr_{side}"] == run["learning_rates"][index]
    for c in out["claims"]:  # whatever is claimed passed both halves of the rule under both rules
        row = next(t for t in out["tests"] if t["metric"] == c["metric"])
        assert c["p"] == max(n["p_holm"] for n in row["by_select"].values()) < 0.05
        assert all(min(n["bootstrap_a_ahead"], n["bootstrap_b_ahead"]) <= 0.05 for n in row["by_select"].values())


def test_a_diverged_lr_is_never_chosen(tiny):
    budget = TINY_BUDGET._replace(learning_rates=[0.01, 0.1, 1e4])  # 1e4 diverges on every seed
    out = compare_optimizers(softmax_loss, ["sgd"], tiny, budget, TINY_PROTOCOL, progress=False)
    run = out["runs"][0]
    assert run["diverged_by_lr"]["tuning"].tolist() == [False, False, True]
    assert run["lr"] in (0.01, 0.1) and "1e+04" not in run["bootstrap"]["lr_counts"]
    # the mark is the engine's own (SweepResult.diverged), re-derived for the tuning seeds by hand
    from jaxopt_course.compare import _factory
    from jaxopt_course.model import init_weights
    from jaxopt_course.train import Loop, Run, sweep

    by_hand = []
    for seed in TINY_PROTOCOL.tuning_seeds:
        key = jax.random.key(seed)
        W0 = init_weights(jax.random.fold_in(key, 0), 3, 5, scale=TINY_BUDGET.init_scale)
        r = sweep(
            Run(softmax_loss, _factory("sgd"), batch_size=16, num_steps=40),
            W0,
            tiny.train.X,
            tiny.train.y,
            key=jax.random.fold_in(key, 1),
            learning_rates=budget.learning_rates,
            regs=[1e-2],
            loop=Loop(chunk_size=10, progress=False),
        )
        by_hand.append(np.asarray(r.diverged).reshape(3))
    np.testing.assert_array_equal(np.any(by_hand, axis=0), run["diverged_by_lr"]["tuning"])


def test_protocol_arguments_are_checked(tiny):
    def call(**protocol):
        return compare_optimizers(softmax_loss, ["sgd"], tiny, TINY_BUDGET, TINY_PROTOCOL._replace(**protocol))

    with pytest.raises(ValueError, match="disjoint"):
        call(tuning_seeds=(0, 1), eval_seeds=(1, 2))
    with pytest.raises(ValueError, match="select"):
        call(select="test_accuracy")
    with pytest.raises(TypeError, match="budget"):
        compare_optimizers(softmax_loss, ["sgd"], tiny, {"learning_rates": [0.1]})
    with pytest.raises(ValueError, match="same number of learning rates"):
        compare_optimizers(
            softmax_loss,
            ["sgd", "adam"],
            tiny,
            TINY_BUDGET._replace(learning_rates={"sgd": [0.1], "adam": [0.1, 0.2]}),
            TINY_PROTOCOL,
        )


# ---------------------------------------------------------------------------
# The experiment: robustness of its claims, its files and figures, the suite
# ---------------------------------------------------------------------------

#: One small budget for every experiment run below, so that they share the compiled programs.
SMALL = [
    "--optimizers",
    "sgd,adam,adagrad",
    "--num-lrs",
    "4",
    "--steps",
    "200",
    "--tuning-seeds",
    "2",
    "--eval-seeds",
    "5",
    "--bootstrap",
    "400",
]


def _experiment(out, *flags, splits):
    from jaxopt_course.experiments import compare as experiment

    args = experiment.build_parser().parse_args(["--out", str(out), *SMALL, *flags])
    return experiment.run(args, splits=splits)


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("results")
    return out / "compare", _experiment(out, splits=digits)


#: The robustness check's budget: digits' default (8 lrs, 1000 steps of 64, 3 tuning + 5 evaluation seeds) on
#: four optimizers. Measured at this budget, claims made under one choosing rule alone (the rule before
#: issue 19's fix) contradicted each other in 6 pairs across base seed 0 and --select train_loss.
ROBUST = ["--optimizers", "sgd,momentum,adagrad,rmsprop", "--bootstrap", "400"]


def _one_rule_claims(problem):
    """The claims the rule would make with only the run's own choosing rule (``config["select"]``)."""
    config = problem["config"]
    protocol = Protocol(
        tuple(config["tuning_seeds"]),
        tuple(config["eval_seeds"]),
        select=config["select"],
        bootstrap=config["bootstrap"],
    )
    rows = [{**t, "by_select": {config["select"]: t["by_select"][config["select"]]}} for t in problem["tests"]]
    return claims(rows, protocol)


@pytest.mark.slow
def test_claims_on_digits_never_contradict_across_base_seeds_and_selections(digits, tmp_path):
    """Issue 19.4: base seed 0, base seed 1 and --select train_loss: no "A better than B" beside "B better than A"."""
    from jaxopt_course.experiments import compare as experiment

    def claims_of(*flags):
        args = experiment.build_parser().parse_args(
            ["--out", str(tmp_path / "_".join(flags or ["base"])), *ROBUST, *flags]
        )
        (problem,) = experiment.run(args, splits=digits)["metrics"]["problems"]
        return problem["claims"], _one_rule_claims(problem)

    runs = {
        "seed 0": claims_of(),
        "seed 1": claims_of("--seed", "1"),
        "train_loss": claims_of("--select", "train_loss"),
    }
    said = {k: [(c["metric"], c["better"], c["worse"]) for c in v[0]] for k, v in runs.items()}
    print("claims:", said, "\none rule alone would contradict in:", contradictions(*[v[1] for v in runs.values()]))
    assert contradictions(*[v[0] for v in runs.values()]) == []
    for made, one_rule in runs.values():  # the rule only removes claims: every claim passes its own rule too
        assert {(c["metric"], c["better"], c["worse"]) for c in made} <= {
            (c["metric"], c["better"], c["worse"]) for c in one_rule
        }
        assert all(
            c["p"]
            >= next(
                o["p"]
                for o in one_rule
                if (o["better"], o["worse"], o["metric"]) == (c["better"], c["worse"], c["metric"])
            )
            for c in made
        )
    assert any(said.values()), "no claim at all: the check above would be vacuous"


@pytest.mark.slow
def test_experiment_writes_seed_lists_claims_and_figures(small_experiment):
    folder, result = small_experiment
    config, metrics = strict_json(folder / "config.json"), strict_json(folder / "metrics.json")
    assert config["experiment"] == "compare" and config["optimizers"] == ["sgd", "adam", "adagrad"]
    assert config["tuning_seeds"] == [0, 1] and config["eval_seeds"] == [2, 3, 4, 5, 6]
    assert all(isinstance(s, int) for s in config["tuning_seeds"] + config["eval_seeds"])
    (problem,) = metrics["problems"]
    assert problem["optimum"]["kind"] == "optimum" and problem["optimum"]["grad_norm"] <= 1e-8
    assert isinstance(metrics["claims"], list) and metrics["claims"] == problem["claims"]
    for run in problem["runs"]:
        assert len(run["test_accuracy"]["per_seed"]) == 5 and len(run["val_by_lr"]["per_seed"][0]) == 2
    for name in ("compare_lr.png", "compare_gap.png", "compare_profile.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lr changes" in result["table"]
    assert ("Nothing can be claimed" in result["summary"]) == (not metrics["claims"])


@pytest.mark.slow
def test_figures_redraw_from_the_json_alone(small_experiment, tmp_path):
    from jaxopt_course import plots

    folder, _ = small_experiment
    copy = tmp_path / "compare"
    copy.mkdir()
    for name in ("config.json", "metrics.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    written = plots.plot_results(copy)  # dispatched by config.json's "experiment"
    assert sorted(p.name for p in written) == ["compare_gap.png", "compare_lr.png", "compare_profile.png"]


@pytest.mark.slow
def test_suite_runs_six_problems_with_optima_and_a_profile_over_them(digits, tmp_path):
    result = _experiment(tmp_path, "--suite", "--optimizers", "sgd,adam", "--steps", "20", splits=digits)
    metrics = strict_json(tmp_path / "compare_suite" / "metrics.json")
    names = [p["problem"] for p in metrics["problems"]]
    assert len(names) == 6 and len(set(names)) == 6 and result["metrics"]["models"] == 6 * 2 * 4 * 7
    kinds = {p["config"]["loss"]: p["optimum"]["kind"] for p in metrics["problems"]}
    assert kinds == {"softmax": "optimum", "svm": "best known"}
    for cost in ("steps_to_target", "seconds_to_target"):
        prof = metrics["profile"][cost]
        assert prof["problems"] == names and np.asarray(prof["rho_mean"]).shape[0] == 2
        assert np.all(np.asarray(prof["rho_low"]) <= np.asarray(prof["rho_high"]))


@pytest.mark.slow
def test_experiment_runs_as_a_script(tmp_path):
    """The script itself, in a child process (tiny flags: the --quick timing is measured, not tested)."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "experiments" / "compare.py"),
            "--num-lrs",
            "2",
            "--steps",
            "10",
            "--tuning-seeds",
            "1",
            "--eval-seeds",
            "2",
            "--optimizers",
            "sgd",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and (tmp_path / "compare" / "metrics.json").is_file()


def test_experiment_refuses_an_unknown_optimizer(tmp_path, capsys):
    from jaxopt_course.experiments import compare as experiment

    args = experiment.build_parser().parse_args(["--optimizers", "sgd,lion", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as stop:
        experiment.run(args, splits=None)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "lion" in err and "--optimizers" in err and err.count("\n") == 1
    assert not (tmp_path / "compare").exists()


# ---------------------------------------------------------------------------
# benchmarks/benchopt: the same objective, the same optimum, the summary's rule
# ---------------------------------------------------------------------------


def _require_benchopt() -> None:
    """Skip unless the benchopt distribution is installed.

    ``pytest.importorskip("benchopt")`` is not enough: tests/test_benchmarks.py puts
    benchmarks/ on sys.path, and without the real package the folder
    benchmarks/benchopt/ imports as an empty namespace package of that name.
    """
    import importlib.metadata

    try:
        importlib.metadata.distribution("benchopt")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("benchopt is not installed (pip install benchopt)")


def _benchopt_module(relative: str):
    """A file of benchmarks/benchopt/ as a module (benchopt itself loads them by path, not as a package)."""
    import importlib.util

    path = REPO / "benchmarks" / "benchopt" / relative
    spec = importlib.util.spec_from_file_location(f"_benchopt_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_benchopt_objective_is_the_package_loss_in_float64(loss):
    """objective.py's NumPy value equals this test's restatement and the package's jitted loss in float64."""
    _require_benchopt()
    from jaxopt_course import svm_loss

    objective = _benchopt_module("objective.py")
    X, y = synthetic_problem(3, 50, 5, 4)
    W = np.random.default_rng(0).normal(size=(4, X.shape[1]))
    reg = 0.03
    restated = (numpy_softmax_objective if loss == "softmax" else numpy_svm_objective)(W, X, y, reg)
    assert objective.objective_value(W, X, y, reg, loss) == pytest.approx(restated, rel=1e-12)
    package_loss = softmax_loss if loss == "softmax" else svm_loss
    with jax.enable_x64(True):
        ours = float(package_loss(jnp.asarray(W), jnp.asarray(X, jnp.float64), jnp.asarray(y), reg=reg))
    assert objective.objective_value(W, X, y, reg, loss) == pytest.approx(ours, rel=1e-12)


@pytest.mark.slow  # softmax_optimum's Newton-CG compiles: 7 s at load 6
def test_benchopt_sklearn_solver_reaches_the_package_optimum():
    """C = 1 / (2 reg N) makes scikit-learn's objective ours times 1 / (2 reg): lbfgs ends at softmax_optimum's f*."""
    _require_benchopt()
    objective = _benchopt_module("objective.py")
    solver = _benchopt_module("solvers/sklearn.py").Solver.get_instance(solver="lbfgs")
    X, y = synthetic_problem(4, 80, 5, 3)
    X, y, reg = np.asarray(X, np.float64), np.asarray(y), 0.01
    assert solver.skip(X, y, reg, "svm")[0] and not solver.skip(X, y, reg, "softmax")[0]
    solver.set_objective(X, y, reg, "softmax")
    solver.run(500)
    f_star = softmax_optimum(X, y, reg).value
    assert objective.objective_value(solver.get_result()["W"], X, y, reg, "softmax") == pytest.approx(f_star, abs=1e-9)


def test_benchopt_summary_takes_the_first_evaluation_at_or_below_the_target():
    pd = pytest.importorskip("pandas")
    summarise = _benchopt_module("summarise.py")
    rows = [
        ("A", "fast", 0, 0.0, 1.0),
        ("A", "fast", 4, 0.2, 1e-3),
        ("A", "fast", 9, 0.5, 1e-5),
        ("A", "never", 0, 0.0, 1.0),
        ("A", "never", 50, 3.0, 2e-3),
        ("A", "late", 9, 0.9, 1e-2),
        ("A", "late", 2, 0.1, 0.5),
        ("A", "late", 30, 1.5, 9e-4),
    ]
    results = pd.DataFrame(rows, columns=["objective_name", "solver_name", "stop_val", "time", "objective_gap"])
    table = summarise.time_to_gap(results, 1e-3).set_index("solver")
    assert (table.loc["fast", "steps"], table.loc["fast", "seconds"]) == (4, 0.2)  # <= target counts
    assert (table.loc["late", "steps"], table.loc["late", "seconds"]) == (30, 1.5)  # rows out of order
    assert math.isnan(table.loc["never", "seconds"]) and table.loc["never", "final_gap"] == 2e-3
    assert table.loc["late", "final_gap"] == 9e-4 and table.loc["late", "evaluated_steps"] == 30
    lines = summarise.markdown(table.reset_index(), 1e-3).splitlines()
    assert [line.split(" | ")[1] for line in lines[2:]] == ["fast", "late", "never"]
    assert "not reached" in lines[-1]


def test_docs_suite_table_and_its_five_conclusions_are_the_committed_runs_at_two_base_seeds():
    """docs/compare.md's suite table is base seed 0's results_table; the five conclusions it states are exactly
    the claims both base seeds make, and no pair is claimed one way at one seed and the other way at the other."""
    from jaxopt_course.experiments.compare import results_table

    runs = [strict_json(REPO / "docs" / "compare_results" / f"suite_seed{i}" / "metrics.json") for i in (0, 1)]
    page = (REPO / "docs" / "compare.md").read_text()
    for row in results_table(runs[0]).splitlines()[2:]:
        assert row in page, row
    seed_0, seed_1 = ({(c["problem"], c["better"], c["worse"]) for c in m["claims"]} for m in runs)
    assert {(c["metric"]) for m in runs for c in m["claims"]} == {"final_gap"}
    stated = {  # the page's sentence: "softmax reg 1e-3, SGD > RMSProp; SVM reg 1e-4, Adagrad, momentum and ..."
        ("digits softmax reg 0.001", "sgd", "rmsprop"),
        ("digits svm reg 0.0001", "adagrad", "adam"),
        ("digits svm reg 0.0001", "momentum", "adam"),
        ("digits svm reg 0.0001", "rmsprop", "adam"),
        ("digits svm reg 0.001", "adam", "rmsprop"),
    }
    assert seed_0 & seed_1 == stated
    assert not {(p, worse, better) for p, better, worse in seed_0} & seed_1
    assert f"(seed 0: {len(seed_0)}, seed 1: {len(seed_1)})" in page


def test_docs_cifar10_section_is_the_committed_run():
    """docs/compare.md's CIFAR-10 table and claims are the committed metrics.json's, not retyped."""
    from jaxopt_course.experiments.compare import results_table

    runs = [
        strict_json(REPO / "docs" / "compare_results" / name / "metrics.json") for name in ("cifar10", "cifar10_seed1")
    ]
    page = (REPO / "docs" / "compare.md").read_text()
    section = page.split("## Results on CIFAR-10 (the new protocol)")[1].split("\n## ")[0]
    for metrics in runs:
        for row in results_table(metrics).splitlines()[2:]:
            assert row in section, row
        assert not [c for c in metrics["claims"] if c["metric"] == "test_accuracy"]  # the page says: no such claim
    claimed = section.split("**What can be claimed**")[1].split("\n")[0]
    pairs = {p.strip().rstrip(".") for p in claimed.split("final gap:")[1].split(",")}
    seed_0, seed_1 = (
        {f"{c['better']} > {c['worse']}" for c in m["claims"] if c["metric"] == "final_gap"} for m in runs
    )
    assert pairs == seed_0 & seed_1  # a conclusion only where the second base seed keeps it
    assert not {f"{p.split(' > ')[1]} > {p.split(' > ')[0]}" for p in seed_0} & seed_1  # and none the other way
    configs = [strict_json(REPO / "docs" / "compare_results" / n / "config.json") for n in ("cifar10", "cifar10_seed1")]
    assert [c["seed"] for c in configs] == [0, 1]
    assert not set(configs[0]["tuning_seeds"] + configs[0]["eval_seeds"]) & set(
        configs[1]["tuning_seeds"] + configs[1]["eval_seeds"]
    )
