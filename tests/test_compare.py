"""Optimizer comparisons: the statistics against SciPy/NumPy, the optimum against scikit-learn, seeds, the experiment."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import softmax_loss, svm_loss, synthetic_problem
from jaxopt_course.compare import (
    Interval,
    binomial_standard_error,
    compare_optimizers,
    log_grid,
    overlap,
    performance_profile,
    ranking,
    softmax_optimum,
    steps_to_target,
    svm_best_known,
    t_interval,
)
from jaxopt_course.curvature import full_objective, minimize_newton_cg

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


def test_ranking_groups_overlapping_and_names_distinguishable_pairs():
    ivs = {"a": Interval(0.30, 0.01, 0.29, 0.31, 5, 0.95, ""), "b": Interval(0.305, 0.01, 0.30, 0.315, 5, 0.95, ""),
           "c": Interval(0.40, 0.01, 0.39, 0.41, 5, 0.95, "")}
    out = ranking(list(ivs), list(ivs.values()))
    assert out["groups"] == [["c"], ["b", "a"]]
    by_pair = {(p["a"], p["b"]): p for p in out["pairs"]}
    assert not by_pair[("a", "b")]["distinguishable"] and by_pair[("a", "b")]["better"] is None
    assert by_pair[("a", "c")]["distinguishable"] and by_pair[("a", "c")]["better"] == "c"
    # lower is better (a gap): the order flips
    assert ranking(list(ivs), list(ivs.values()), higher_is_better=False)["groups"][0] == ["a", "b"]
    # overlap is checked against the interval ends, and NaN intervals overlap everything
    assert overlap(ivs["a"], ivs["b"]) and not overlap(ivs["a"], ivs["c"])
    assert overlap(t_interval([0.9]), ivs["a"])


def test_steps_to_target_is_the_first_evaluated_step_at_or_below():
    steps = np.array([0, 10, 20, 30])
    objective = np.array([[5.0, 3.0, 1.0, 0.5], [5.0, 4.0, 3.0, 2.0], [5.0, np.nan, 0.1, 0.1]])
    assert steps_to_target(steps, objective, 1.0) == [20, None, 20]


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
            value = full_objective(jnp.asarray(W), jnp.asarray(X, jnp.float32), jnp.asarray(y), 0.05, loss=loss,
                                   block_rows=block_rows)
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
        f = lambda w, A, b: 0.5 * w @ A @ w - b @ w  # noqa: E731
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
# compare_optimizers: seeds, budget, selection
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    X, y = synthetic_problem(5, 120, 4, 3, spread=1.5)
    Xv, yv = synthetic_problem(6, 40, 4, 3, spread=1.5)
    Xt, yt = synthetic_problem(7, 50, 4, 3, spread=1.5)
    return X, y, Xv, yv, Xt, yt


@pytest.fixture(scope="module")
def tiny_comparison(tiny):
    X, y, Xv, yv, Xt, yt = tiny
    W0 = jnp.zeros((3, 5))
    lrs = log_grid(1e-2, 1.0, 3)
    return compare_optimizers(softmax_loss, ["sgd", "adam"], W0, X, y, key=jax.random.key(3), learning_rates=lrs,
                              reg=1e-2, seeds=3, batch_size=16, num_steps=40, X_val=Xv, y_val=yv, X_test=Xt,
                              y_test=yt, eval_every=10), lrs


@pytest.mark.slow
def test_seed_s_is_the_sweep_with_key_fold_in_s(tiny, tiny_comparison):
    """Each seed of the comparison equals a separate one-seed sweep from ``fold_in(key, s)``."""
    from jaxopt_course.train import get_optimizer, sweep

    X, y, Xv, yv, Xt, yt = tiny
    comparison, lrs = tiny_comparison
    run = comparison["runs"][1]
    assert run["optimizer"] == "adam"
    for s in range(3):
        alone = sweep(softmax_loss, partial(get_optimizer, "adam"), jnp.zeros((3, 5)), X, y,
                      key=jax.random.fold_in(jax.random.key(3), s), learning_rates=lrs, regs=[1e-2],
                      batch_size=16, num_steps=40, X_val=Xv, y_val=yv)
        np.testing.assert_allclose(np.asarray(run["val_by_lr"]["per_seed"])[:, s], alone.val_accuracy[:, 0],
                                   atol=1e-6)
        W = np.asarray(alone.params[run["lr_index"], 0])
        np.testing.assert_allclose(run["objective"]["per_seed"][s][-1], numpy_softmax_objective(W, X, y, 1e-2),
                                   rtol=2e-5)
        test_acc = np.mean(np.argmax(np.asarray(Xt) @ W.T, axis=1) == np.asarray(yt))
        assert run["test_accuracy"]["per_seed"][s] == pytest.approx(test_acc, abs=1e-6)


@pytest.mark.slow
def test_comparison_reports_intervals_gaps_and_a_budget(tiny_comparison):
    comparison, lrs = tiny_comparison
    f_star = comparison["optimum"]["value"]
    assert comparison["optimum"]["kind"] == "optimum"
    for run in comparison["runs"]:
        np.testing.assert_array_equal(run["learning_rates"], lrs)  # the same budget for everyone
        assert run["lr"] in lrs
        val = np.asarray(run["val_by_lr"]["per_seed"])
        assert run["lr_index"] == int(np.argmax(val.mean(axis=1)))  # chosen by the mean over seeds
        per_seed = run["test_accuracy"]["per_seed"]
        expected = t_interval(per_seed)
        assert (run["test_accuracy"]["low"], run["test_accuracy"]["high"]) == pytest.approx((expected.low,
                                                                                            expected.high))
        assert run["test_accuracy"]["test_set_se"] == pytest.approx(binomial_standard_error(np.mean(per_seed), 50))
        np.testing.assert_array_equal(run["gap"]["steps"], [0, 10, 20, 30, 40])
        np.testing.assert_allclose(run["gap"]["per_seed"], np.asarray(run["objective"]["per_seed"]) - f_star)
        assert np.all(np.asarray(run["gap"]["per_seed"]) > -1e-5)  # nothing below the optimum (float32 rounding)
        assert len(run["loss_curve"]["mean"]) == len(run["loss_curve"]["steps"])
    assert set(comparison["ranking"]) == {"test_accuracy", "val_accuracy", "final_gap"}
    assert np.asarray(comparison["profile"]["final_gap"]["rho"]).shape[0] == 2
    json.dumps(__import__("jaxopt_course.files", fromlist=["to_jsonable"]).to_jsonable(comparison), allow_nan=False)


@pytest.mark.slow
def test_select_by_train_loss_and_argument_checks(tiny):
    X, y, Xv, yv, _, _ = tiny
    lrs = [0.01, 0.3]
    common = dict(key=jax.random.key(0), reg=1e-2, seeds=2, batch_size=16, num_steps=20, X_val=Xv, y_val=yv)
    out = compare_optimizers(svm_loss, {"plain": "sgd"}, jnp.zeros((3, 5)), X, y, learning_rates=lrs,
                             select="train_loss", optimum=None, **common)
    run = out["runs"][0]
    assert out["optimum"] is None and "gap" not in run
    assert run["lr_index"] == int(np.argmin(np.asarray(run["final_objective_by_lr"]["per_seed"]).mean(axis=1)))
    with pytest.raises(ValueError, match="same number of learning rates"):
        compare_optimizers(softmax_loss, ["sgd", "adam"], jnp.zeros((3, 5)), X, y,
                           learning_rates={"sgd": [0.1, 0.2], "adam": [0.1]}, **common)
    with pytest.raises(ValueError, match="select"):
        compare_optimizers(softmax_loss, ["sgd"], jnp.zeros((3, 5)), X, y, learning_rates=lrs, select="test", **common)


# ---------------------------------------------------------------------------
# The experiment and its figures
# ---------------------------------------------------------------------------


def strict_json(path: Path):
    def bad(constant):
        raise ValueError(f"{path} holds {constant}")

    return json.loads(path.read_text(), parse_constant=bad)


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory, digits):
    from jaxopt_course.experiments import compare as experiment

    out = tmp_path_factory.mktemp("results")
    args = experiment.build_parser().parse_args(["--quick", "--out", str(out), "--seeds", "2", "--num-lrs", "2",
                                                 "--steps", "20", "--optimizers", "sgd,adam"])
    return out / "compare", experiment.run(args, splits=digits)


@pytest.mark.slow
def test_experiment_writes_json_with_per_seed_values_and_figures(small_experiment):
    folder, result = small_experiment
    config, metrics = strict_json(folder / "config.json"), strict_json(folder / "metrics.json")
    assert config["experiment"] == "compare" and config["seeds"] == 2 and config["optimizers"] == ["sgd", "adam"]
    assert metrics["optimum"]["kind"] == "optimum" and metrics["optimum"]["grad_norm"] <= 1e-8
    for run in metrics["runs"]:
        assert len(run["test_accuracy"]["per_seed"]) == 2 and len(run["val_by_lr"]["per_seed"]) == 2
    for name in ("compare_lr.png", "compare_gap.png", "compare_profile.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "±" in result["table"] and "test-set SE" in result["table"]


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
def test_experiment_quick_runs_as_a_script(tmp_path):
    """The script itself, in a child process (small flags: the --quick timing is measured, not tested)."""
    proc = subprocess.run([sys.executable, str(REPO / "experiments" / "compare.py"), "--quick", "--seeds", "2",
                           "--num-lrs", "2", "--steps", "20", "--optimizers", "sgd", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and (tmp_path / "compare" / "metrics.json").is_file()


@pytest.mark.slow
def test_cli_compare_json_runs_the_experiments_code(tmp_path, capsys):
    from jaxopt_course.cli import main

    code = main(["compare", "--quick", "--seeds", "2", "--num-lrs", "2", "--steps", "20", "--optimizers", "adam",
                 "--out", str(tmp_path), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["optimizer"] for r in result["runs"]] == ["adam"]
    assert len(result["runs"][0]["test_accuracy"]["per_seed"]) == 2
    assert result["optimum"]["kind"] == "optimum"
    saved = strict_json(tmp_path / "compare" / "metrics.json")
    assert saved["runs"][0]["test_accuracy"]["per_seed"] == result["runs"][0]["test_accuracy"]["per_seed"]


def test_cli_compare_refuses_an_unknown_optimizer(tmp_path, capsys):
    from jaxopt_course.cli import main

    assert main(["compare", "--optimizers", "sgd,lion", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lion" in err and "--optimizers" in err
    assert not (tmp_path / "compare").exists()
