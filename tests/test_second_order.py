"""Second-order and quasi-Newton through the engine; hyperparameters that do not recompile.

References are independent of the code under test: NumPy's linear solve for
the quadratic's minimizer, scikit-learn's logistic regression for the softmax
minimum, optax's own documented L-BFGS loop, and NumPy loops of the updates.
"""

from __future__ import annotations

import contextlib
import json
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import softmax_loss, synthetic_problem
from jaxopt_course.optimizers import get_optimizer
from jaxopt_course.train import Loop, Run, fit, make_train

REPO = Path(__file__).resolve().parents[1]


def quadratic_loss(W, X, y, reg=0.0):
    """Least squares onto one-hot targets: 1/(2N) sum_i ||W x_i - e_{y_i}||^2 + reg sum W^2."""
    targets = jax.nn.one_hot(y, W.shape[0], dtype=W.dtype)
    return 0.5 * jnp.mean(jnp.sum((X @ W.T - targets) ** 2, axis=1)) + reg * jnp.sum(W * W)


def quadratic_problem(seed, num_examples=50, dim=6, num_classes=3, reg=0.05):
    """Ill-scaled features; the minimizer by NumPy's solve of the normal equations."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((num_examples, dim)) * rng.uniform(0.2, 3.0, dim)
    y = rng.integers(0, num_classes, num_examples).astype(np.int32)
    # grad = (W X^T - Y^T) X / N + 2 reg W = 0  =>  W (X^T X / N + 2 reg I) = Y^T X / N.
    A = X.T @ X / num_examples + 2 * reg * np.eye(dim)
    W_star = np.linalg.solve(A, (np.eye(num_classes)[y].T @ X / num_examples).T).T
    return X, y, reg, W_star


def np_quadratic_loss(W, X, y, reg):
    r = np.asarray(X) @ np.asarray(W).T - np.eye(np.asarray(W).shape[0])[y]
    return 0.5 * np.mean(np.sum(r**2, axis=1)) + reg * np.sum(np.asarray(W) ** 2)


def exact_lbfgs(lr):
    """L-BFGS whose line search enforces a tight curvature condition: (nearly) exact line searches.

    A factory of the learning rate (Run.optimizer's form); used at lr=1.0, optax.lbfgs's default step.
    """
    return optax.lbfgs(
        learning_rate=lr, linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=50, curv_rtol=1e-3)
    )


def lbfgs(lr):
    """optax.lbfgs() as a factory of the learning rate: at lr=1.0 the same updates as optax.lbfgs()."""
    return optax.lbfgs(learning_rate=lr)


# ---------------------------------------------------------------------------
# L-BFGS inside the engine's scan
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_lbfgs_reaches_the_minimum_of_a_convex_quadratic_in_at_most_d_plus_1_steps(seed):
    # The Hessian is I_C kron (X^T X / N + 2 reg I): at most D distinct eigenvalues. With exact line
    # searches L-BFGS (memory 10 >= D) makes the conjugate-gradient steps, which end in <= D of them.
    X, y, reg, W_star = quadratic_problem(seed)
    dim = X.shape[1]
    path = []  # the weights after every step (chunks of one step)
    with jax.enable_x64(True):
        result = fit(
            Run(quadratic_loss, exact_lbfgs, batch_size=None, num_steps=dim + 1),
            np.zeros((3, dim)),
            X,
            y,
            key=jax.random.key(0),
            lr=1.0,
            reg=reg,
            loop=Loop(chunk_size=1, on_chunk=lambda state, metrics: path.append(np.asarray(state.params))),
        )
    np.testing.assert_allclose(np.asarray(result.params), W_star, atol=1e-9)
    # ...and it is not there after half as many steps (the test can fail).
    assert np.abs(path[dim // 2 - 1] - W_star).max() > 1e-4
    assert np.all(np.diff(result.losses) <= 1e-12)  # a line search never goes up


@pytest.mark.slow
def test_engine_lbfgs_equals_optax_documented_loop_and_reports_true_losses():
    # The loop from optax.lbfgs's docstring, by hand, against fit/make_train (which reuse the
    # line search's stored value and gradient on the full batch).
    X, y, reg, _ = quadratic_problem(3)
    steps = 5
    with jax.enable_x64(True):
        f = partial(quadratic_loss, X=jnp.asarray(X), y=jnp.asarray(y), reg=reg)
        solver = optax.lbfgs()
        params = jnp.zeros((3, X.shape[1]))
        state = solver.init(params)
        value_and_grad = optax.value_and_grad_from_state(f)

        @jax.jit
        def step(params, state):
            value, grad = value_and_grad(params, state=state)
            updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=f)
            return optax.apply_updates(params, updates), state, value

        by_hand, by_hand_losses = [], []
        for _ in range(steps):
            params, state, value = step(params, state)
            by_hand.append(np.asarray(params))
            by_hand_losses.append(float(value))
        out = make_train(Run(quadratic_loss, lbfgs, batch_size=None, num_steps=steps), X, y)(
            jnp.zeros((3, X.shape[1])), jax.random.key(0), 1.0, reg
        )
    np.testing.assert_allclose(np.asarray(out.state.params), by_hand[-1], rtol=1e-10, atol=1e-12)
    # The loss of step t is L at the weights before update t, by an independent NumPy formula.
    before = [np.zeros((3, X.shape[1]))] + by_hand[:-1]
    np.testing.assert_allclose(
        np.asarray(out.metrics.loss), [np_quadratic_loss(W, X, y, reg) for W in before], rtol=1e-10
    )
    np.testing.assert_allclose(np.asarray(out.metrics.loss), by_hand_losses, rtol=1e-10)


@pytest.mark.slow
def test_lbfgs_reaches_scikit_learn_softmax_minimum():
    from sklearn.linear_model import LogisticRegression

    X, y = synthetic_problem(6, num_examples=80, dim=4, num_classes=3, spread=1.5, dtype=np.float64)
    n, reg = len(y), 0.01
    # sklearn minimises 0.5 ||w||^2 + C sum_i CE_i; ours mean CE + reg ||W||^2: C = 1 / (2 reg n).
    sk = LogisticRegression(C=1 / (2 * reg * n), fit_intercept=False, tol=1e-12, max_iter=10000).fit(X, y)
    with jax.enable_x64(True):
        result = fit(
            Run(softmax_loss, lbfgs, batch_size=None, num_steps=40),
            np.zeros((3, X.shape[1])),
            X,
            y,
            key=jax.random.key(0),
            lr=1.0,
            reg=reg,
        )
        final = float(softmax_loss(result.params, X, y, reg=reg))
        theirs = float(softmax_loss(jnp.asarray(sk.coef_), X, y, reg=reg))
    assert final == pytest.approx(theirs, rel=1e-10)
    np.testing.assert_allclose(np.asarray(result.params), sk.coef_, atol=1e-5)


@pytest.mark.slow
def test_lbfgs_on_minibatches_runs_and_descends():
    # The line search then works on each step's minibatch loss (value_fn is the batch loss).
    X, y = synthetic_problem(1, num_examples=120, dim=5, num_classes=3, spread=1.0)
    result = fit(
        Run(softmax_loss, lbfgs, batch_size=32, num_steps=30),
        np.zeros((3, 6), np.float32),
        X,
        y,
        key=jax.random.key(0),
        lr=1.0,
        reg=1e-3,
    )
    assert np.all(np.isfinite(result.losses))
    full = lambda W: float(softmax_loss(W, X, y, reg=1e-3))  # noqa: E731
    assert full(result.params) < 0.5 * full(np.zeros((3, 6), np.float32))


def test_a_plain_gradient_transformation_without_extra_args_still_works():
    # Hand-written W <- W - lr dW as a bare optax.GradientTransformation (no extra arguments),
    # built by a factory of the learning rate (Run.optimizer's form) and run at lr = 0.1.
    def bare(lr):
        return optax.GradientTransformation(
            lambda p: optax.EmptyState(), lambda g, s, p=None: (jax.tree.map(lambda x: -lr * x, g), s)
        )

    assert not isinstance(bare(0.1), optax.GradientTransformationExtraArgs)
    X, y, reg, _ = quadratic_problem(4)
    with jax.enable_x64(True):
        out = make_train(Run(quadratic_loss, bare, batch_size=None, num_steps=3), X, y)(
            jnp.zeros((3, X.shape[1])), jax.random.key(0), 0.1, reg
        )
    W = np.zeros((3, X.shape[1]))
    for _ in range(3):  # the lecture's update in NumPy
        dW = (W @ X.T - np.eye(3)[y].T) @ X / len(X) + 2 * reg * W
        W = W + -1 * (0.1 * dW)
    np.testing.assert_allclose(np.asarray(out.state.params), W, rtol=1e-12)


# ---------------------------------------------------------------------------
# Hyperparameters without recompiling
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def count_compiles():
    """Count XLA compilations (JAX's backend-compile monitoring event) inside the block."""
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def counting_loss():
    """A quadratic loss that counts how often JAX traces it (each trace: a new program)."""
    traces = []

    def loss(W, X, y, reg=0.0):
        traces.append(1)
        return quadratic_loss(W, X, y, reg=reg)

    return loss, traces


def np_gd(X, y, lr_of_step, reg, steps):
    W = np.zeros((3, X.shape[1]))
    for t in range(steps):
        dW = (W @ X.T - np.eye(3)[y].T) @ X / len(X) + 2 * reg * W
        W = W - lr_of_step(t) * dW
    return W


def test_changing_lr_and_reg_reuses_the_compiled_run():
    X, y, _, _ = quadratic_problem(5)
    loss, traces = counting_loss()
    factory = partial(get_optimizer, "sgd")
    run = Run(loss, factory, batch_size=None, num_steps=20)
    kw = dict(key=jax.random.key(0), loop=Loop(chunk_size=10))
    with jax.enable_x64(True):
        W0 = np.zeros((3, X.shape[1]))
        first = fit(run, W0, X, y, lr=0.1, reg=0.01, **kw)
        assert len(traces) > 0
        traced = len(traces)
        with count_compiles() as compiles:
            runs = {
                (lr, reg): fit(run, W0, X, y, lr=lr, reg=reg, **kw)
                # Every lr below 2 / lambda_max (0.252 at reg 0.1, 0.258 at reg 0): the old (0.3, 0.1)
                # grows (the NumPy loop too) and fit now raises DivergenceError for it (issue 20.1).
                for lr, reg in [(0.05, 0.01), (0.2, 0.0), (0.15, 0.1)]
            }
    assert len(traces) == traced, "a new lr or reg traced the loss again"
    assert compiles == [], f"{len(compiles)} XLA compilation(s) for a new lr/reg"
    # Each run really used its own lr and reg (a NumPy loop of the lecture's update).
    np.testing.assert_allclose(np.asarray(first.params), np_gd(X, y, lambda t: 0.1, 0.01, 20), rtol=1e-10)
    for (lr, reg), result in runs.items():
        np.testing.assert_allclose(np.asarray(result.params), np_gd(X, y, lambda t, lr=lr: lr, reg, 20), rtol=1e-10)


def test_changing_a_schedules_parameters_reuses_the_compiled_program():
    # The factory gets a dict of traced hyperparameters (Run's lr may be a pytree of numbers) and
    # builds an exponential-decay schedule.
    X, y, reg, _ = quadratic_problem(6)
    loss, traces = counting_loss()

    def factory(hp):
        return optax.sgd(lambda t: hp["lr"] * hp["decay"] ** (t / 10))

    run = Run(loss, factory, batch_size=None, num_steps=30)
    with jax.enable_x64(True):
        train = make_train(run, X, y)
        W0 = jnp.zeros((3, X.shape[1]))
        train(W0, jax.random.key(0), {"lr": 0.2, "decay": 0.5}, reg)
        traced = len(traces)
        with count_compiles() as compiles:
            outs = {
                hp: train(W0, jax.random.key(0), {"lr": hp[0], "decay": hp[1]}, reg) for hp in [(0.2, 0.9), (0.05, 0.3)]
            }
            jax.block_until_ready(outs)
    assert len(traces) == traced and compiles == []
    for (lr, decay), out in outs.items():
        expected = np_gd(X, y, lambda t, lr=lr, decay=decay: lr * decay ** (t / 10), reg, 30)
        # (optax hands the schedule an int32 step count, so t / 10 is float32: hence rtol 1e-6.)
        np.testing.assert_allclose(np.asarray(out.state.params), expected, rtol=1e-6)
    # make_train's train is pure (no value checks); fit checks every leaf of a pytree lr.
    with pytest.raises(ValueError, match="lr must be > 0"):
        fit(run, W0, X, y, key=jax.random.key(0), lr={"lr": 0.2, "decay": -0.5}, reg=reg)


def test_lbfgs_chunks_compile_once():
    # optax's line search initializes weakly typed counters that its update returns strongly typed;
    # the engine's initial state is strongly typed, so chunk 2 reuses chunk 1's program.
    X, y, reg, _ = quadratic_problem(7)
    run = Run(quadratic_loss, lbfgs, batch_size=None, num_steps=1)
    kw = dict(key=jax.random.key(0), lr=1.0, reg=reg, loop=Loop(chunk_size=1))
    W0 = np.zeros((3, X.shape[1]), np.float32)
    fit(run, W0, X, y, **kw)
    with count_compiles() as compiles:
        fit(run._replace(num_steps=3), W0, X, y, **kw)
    assert compiles == []


# ---------------------------------------------------------------------------
# The experiments, end to end in --quick mode
# ---------------------------------------------------------------------------


def run_experiment(name, tmp_path):
    import importlib

    module = importlib.import_module(f"jaxopt_course.experiments.{name}")
    assert module.main(["--quick", "--out", str(tmp_path)]) == 0
    outdir = tmp_path / "quick" / name  # a smoke test writes apart from the full runs
    metrics = json.loads((outdir / "metrics.json").read_text())
    config = json.loads((outdir / "config.json").read_text())
    pngs = sorted(outdir.glob("*.png"))
    assert pngs
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    return config, metrics, pngs


@pytest.mark.slow
def test_step_size_experiment_quick(tmp_path):
    config, metrics, pngs = run_experiment("step_size", tmp_path)
    assert {p.name for p in pngs} >= {"step_size.png", "preprocessing.png"}
    lam = metrics["lambda_max_at_start"]
    assert metrics["predicted_max_lr"] == pytest.approx(2 / lam)
    runs = metrics["runs"]
    # Below the prediction gradient descent converges; far above it the loss climbs above its start.
    safe = [r for r in runs if r["factor"] <= 0.9]
    wild = [r for r in runs if r["factor"] >= 4]
    assert safe and wild
    assert all(r["verdict"] == "converges" and r["final_loss"] < r["initial_loss"] for r in safe)
    assert all(
        r["verdict"] == "diverges" and np.nanmax(np.asarray(r["losses"], float)) > r["initial_loss"] for r in wild
    )
    # The prediction agrees with the full Hessian's largest eigenvalue (power iteration vs eigvalsh).
    assert lam == pytest.approx(metrics["lambda_max_at_start_eigvalsh"], rel=1e-3)
    # Centering and scaling shrink lambda_max and the condition number.
    by_name = {p["name"]: p for p in metrics["preprocessing"]}
    raw, both = by_name["raw pixels"], by_name["centered and scaled"]
    assert both["lambda_max"] < 1e-2 * raw["lambda_max"]
    assert both["condition_number"] < 1e-2 * raw["condition_number"]


@pytest.mark.slow
def test_second_order_experiment_quick(tmp_path):
    config, metrics, pngs = run_experiment("second_order", tmp_path)
    assert {p.name for p in pngs} >= {"second_order.png"}
    methods = {m["name"]: m for m in metrics["methods"]}
    assert set(methods) >= {"SGD", "Adam", "L-BFGS", "Newton-CG"}
    for m in methods.values():
        assert len(m["seconds"]) == len(m["loss"]) == len(m["passes"])
        assert np.all(np.diff(m["passes"]) > 0) and np.all(np.diff(m["seconds"]) >= 0)
    best = metrics["min_loss"]
    assert methods["Newton-CG"]["loss"][-1] - best < 1e-3
    assert methods["L-BFGS"]["loss"][-1] < methods["L-BFGS"]["loss"][0]
