"""Beyond the gradient: SGD, Adam, L-BFGS and Newton's method on the same softmax problem.

    python experiments/second_order.py [--quick] [--reg 1e-3] [--out results/]

The lecture follows the gradient, one small step at a time. Curvature buys
bigger, better-aimed steps: Newton's method solves ``H d = grad L`` for the
step (the Hessian ``H`` formed and factorized, or conjugate gradient on
Hessian-vector products, never forming it); L-BFGS builds an approximation
of ``H^{-1}`` from the last few gradient differences and picks each step
length by a line search (``optax.lbfgs``, run by the same engine as SGD:
:func:`jaxopt_course.train.fit` hands it the loss and a value function inside
the ``lax.scan``). Each method minimizes the same full-batch objective -- the
softmax loss on the digits training set plus ``reg * sum W**2``, from
``W0 = 0``, float32 -- and is measured by ``L(W) - L*`` against

* wall-clock seconds (compilation excluded: every configuration runs once
  before it is timed; the clock reads at chunk boundaries, after the host has
  the step's results), and
* passes over the training set: a full-batch gradient counts 1, a minibatch
  gradient ``batch_size / N``, a Hessian-vector product 2 (forward-over-reverse
  differentiation touches the data twice as often as a gradient), and L-BFGS
  is charged every evaluation its line search makes.

``L*`` is the minimum found by Newton-CG in float64. The learning rates of the
first-order methods: gradient descent at ``0.9 x 2 / lambda_max(W0)`` (the
stable step of ``experiments/step_size.py``), SGD at half of that (minibatch
noise), Adam at ``1e-2`` (the best of 1e-3, 1e-2 and 1e-1 after 400 steps in
a trial run on this problem; not tuned further).

Digits only (Newton's direct solver forms the 650 x 650 Hessian).

Writes ``<out>/second_order/{config,metrics}.json`` and ``second_order.png``.
"""

from __future__ import annotations

import time

from jaxopt_course.experiments._common import Timer, finish, format_table, make_parser, output_dir, script_main

NAME = "second_order"


def build_parser():
    p = make_parser(
        NAME,
        "SGD, Adam, gradient descent, L-BFGS (optax, through the training engine) and "
        "Newton's method (CG on Hessian-vector products, and the direct solve) on the digits "
        "softmax loss: L - L* against wall-clock time and passes over the data.",
    )
    p.add_argument("--reg", type=float, default=1e-3, help="regularization strength (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=256, help="SGD and Adam minibatch size (default 256)")
    return p


def _timed_fit(loss_fn, W0, X, y, *, key, optimizer, batch_size, num_steps, chunk_size, lr, reg, inspect=None):
    """Run ``fit`` once to compile, then again timed: ``(seconds, params, extra)`` at every chunk end."""
    from jaxopt_course.train import Loop, Run, fit

    run = Run(loss_fn, optimizer, batch_size=batch_size, num_steps=chunk_size)
    fit(run, W0, X, y, key=key, lr=lr, reg=reg, loop=Loop(chunk_size=chunk_size))  # compiles the chunk program
    seconds: list[float] = []
    params: list = []
    extra: list = []

    def record(state, metrics):
        seconds.append(time.perf_counter() - start)
        params.append(state.params)
        if inspect is not None:
            extra.append(inspect(state))

    start = time.perf_counter()
    fit(
        run._replace(num_steps=num_steps),
        W0,
        X,
        y,
        key=key,
        lr=lr,
        reg=reg,
        loop=Loop(chunk_size=chunk_size, on_chunk=record),
    )
    return seconds, params, extra


def run(args, splits=None) -> dict:
    from functools import partial

    import jax
    import jax.numpy as jnp

    from jaxopt_course import plots
    from jaxopt_course.curvature import max_eigenvalue, newton, stable_learning_rate
    from jaxopt_course.data import load_digits
    from jaxopt_course.losses import softmax_loss

    if args.data != "digits":
        import sys

        print(
            "error: second_order.py runs on digits only (Newton's direct solver forms the full Hessian)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    outdir = output_dir(args, NAME)
    splits = splits if splits is not None else load_digits()
    X_np, y_np = splits.train.X, splits.train.y
    X, y = jnp.asarray(X_np), jnp.asarray(y_np)
    reg, quick = args.reg, args.quick
    batch_size = min(args.batch_size, int(X.shape[0]))
    budget = {
        "epochs_first_order": 20 if quick else 100,
        "gd_steps": 30 if quick else 150,
        "lbfgs_steps": 15 if quick else 40,
        "newton_cg_steps": 5 if quick else 8,
        "cg_iters": 10 if quick else 20,
        "newton_direct_steps": 0 if quick else 6,
    }
    W0 = jnp.zeros((splits.num_classes, splits.dim))
    key = jax.random.key(args.seed)
    f32 = partial(softmax_loss, X=X, y=y, reg=reg)
    full_loss = jax.jit(f32)

    with Timer() as timer:
        # The minimum, for L - L*: Newton-CG in float64.
        with jax.enable_x64(True):
            f64 = partial(softmax_loss, X=jnp.asarray(X_np, jnp.float64), y=y, reg=reg)
            best = float(newton(f64, jnp.zeros(W0.shape, jnp.float64), 10, solver="cg", cg_iters=100).losses[-1])
        lam0 = float(max_eigenvalue(f32, W0, key, num_iters=50 if quick else 100))
        gd_lr = 0.9 * stable_learning_rate(lam0)
        methods = _first_order_methods(softmax_loss, reg, W0, X, y, key, full_loss, budget, batch_size, gd_lr)
        methods += _newton_methods(f32, W0, full_loss, budget)

    for m in methods:
        m["final_gap"] = m["loss"][-1] - best
    config = {
        "experiment": NAME,
        "data": "digits",
        "seed": args.seed,
        "quick": quick,
        "loss": "softmax",
        "reg": reg,
        "W0": "zeros",
        "dtype": "float32 (L* in float64)",
        "batch_size": batch_size,
        "budget": budget,
        "learning_rates": {"SGD": 0.5 * gd_lr, "Adam": ADAM_LR, "gradient descent": gd_lr},
        "lbfgs": "optax.lbfgs(): memory 10, zoom line search (strong Wolfe), full batch",
        "passes": "full-batch gradient = 1, minibatch gradient = batch_size / N, Hessian-vector product = 2",
        "timing": "wall clock after a compiling run; read at chunk boundaries (fit) or after each Newton step",
        "device": jax.devices()[0].device_kind,
    }
    metrics = {"min_loss": best, "lambda_max_at_start": lam0, "methods": methods, "seconds": timer.seconds}
    rows = [
        [m["name"], m["steps"], f"{m['passes'][-1]:.0f}", f"{m['seconds'][-1]:.3f}", f"{m['final_gap']:.2e}"]
        for m in methods
    ]
    table = format_table(["method", "steps", "passes over the data", "seconds", "L - L* at the end"], rows)
    return finish(NAME, outdir, config, metrics, plots.plot_second_order, table, _summary(methods, best))


#: Adam's learning rate (optax's usual 1e-3 is slow on this budget).
ADAM_LR = 1e-2


def _method(name, seconds, params, passes, steps, full_loss, **info) -> dict:
    """One method's record: wall-clock seconds, passes over the data and the full loss at each reading."""
    return {
        "name": name,
        "seconds": list(seconds),
        "passes": list(passes),
        "steps": steps,
        "loss": [float(full_loss(W)) for W in params],
        **info,
    }


def _first_order_methods(loss_fn, reg, W0, X, y, key, full_loss, budget, batch_size, gd_lr) -> list:
    """SGD and Adam (one chunk per epoch), gradient descent, and L-BFGS through the engine."""
    import numpy as np
    import optax

    N = int(X.shape[0])
    steps_per_epoch = max(1, N // batch_size)
    epochs = budget["epochs_first_order"]
    methods = []
    for name, optimizer, lr in (("SGD", optax.sgd, 0.5 * gd_lr), ("Adam", optax.adam, ADAM_LR)):
        sec, par, _ = _timed_fit(
            loss_fn,
            W0,
            X,
            y,
            key=key,
            optimizer=optimizer,
            lr=lr,
            reg=reg,
            batch_size=batch_size,
            num_steps=epochs * steps_per_epoch,
            chunk_size=steps_per_epoch,
        )
        methods.append(
            _method(
                name,
                sec,
                par,
                (np.arange(1, len(par) + 1) * steps_per_epoch * batch_size / N),
                epochs * steps_per_epoch,
                full_loss,
                lr=lr,
                batch_size=batch_size,
            )
        )
    gd_steps = budget["gd_steps"]
    sec, par, _ = _timed_fit(
        loss_fn,
        W0,
        X,
        y,
        key=key,
        optimizer=optax.sgd,
        lr=gd_lr,
        reg=reg,
        batch_size=None,
        num_steps=gd_steps,
        chunk_size=5,
    )
    methods.append(
        _method("gradient descent", sec, par, np.arange(1, len(par) + 1) * 5.0, gd_steps, full_loss, lr=gd_lr)
    )
    # L-BFGS through the engine, one step per chunk to read how often its line search evaluated; its lr
    # 1.0 scales the line search's step by 1 (optax.lbfgs(learning_rate=None) is the same update).
    lbfgs_steps = budget["lbfgs_steps"]
    sec, par, ls = _timed_fit(
        loss_fn,
        W0,
        X,
        y,
        key=key,
        optimizer=lambda lr: optax.lbfgs(learning_rate=lr),
        lr=1.0,
        reg=reg,
        batch_size=None,
        num_steps=lbfgs_steps,
        chunk_size=1,
        inspect=lambda s: int(optax.tree.get(s.opt_state, "num_linesearch_steps")),
    )
    # The first step computes the gradient itself; later ones reuse the line search's.
    methods.append(
        _method(
            "L-BFGS", sec, par, 1 + np.cumsum(ls), lbfgs_steps, full_loss, linesearch_evaluations=ls, memory_size=10
        )
    )
    return methods


def _newton_methods(f32, W0, full_loss, budget) -> list:
    """Newton: CG on Hessian-vector products (a fixed number: cg_tol=0), and the direct solve."""
    import jax
    import numpy as np

    from jaxopt_course.curvature import newton

    cg_iters = budget["cg_iters"]
    newton_runs = [("Newton-CG", "cg", budget["newton_cg_steps"], 1 + 2 * cg_iters)]
    if budget["newton_direct_steps"]:
        newton_runs.append(("Newton (direct)", "direct", budget["newton_direct_steps"], 1 + 2 * W0.size))
    methods = []
    for name, solver, steps, passes_per_step in newton_runs:
        kw = dict(solver=solver, cg_iters=cg_iters, cg_tol=0.0)
        newton(f32, W0, 1, **kw)  # compiles the step
        seconds: list[float] = []
        params: list = []
        start = time.perf_counter()

        def record(step, W, seconds=seconds, params=params, start=start):  # this run's lists and clock
            jax.block_until_ready(W)
            seconds.append(time.perf_counter() - start)
            params.append(W)

        newton(f32, W0, steps, callback=record, **kw)
        methods.append(
            _method(
                name,
                seconds,
                params,
                np.arange(1, steps + 1) * float(passes_per_step),
                steps,
                full_loss,
                passes_per_step=passes_per_step,
                **({"cg_iters": cg_iters} if solver == "cg" else {}),
            )
        )
    return methods


def _summary(methods, best) -> str:
    def first(m, tol):
        hit = [i for i, v in enumerate(m["loss"]) if v - best < tol]
        return None if not hit else (m["seconds"][hit[0]], m["passes"][hit[0]])

    tol = 1e-4
    reach = {m["name"]: first(m, tol) for m in methods}
    parts = [f"{name} in {r[0]:.3f} s / {r[1]:.0f} passes" for name, r in reach.items() if r is not None]
    missed = [name for name, r in reach.items() if r is None]
    first_order = [m for m in methods if m["name"] in ("SGD", "Adam")]
    return (
        f"To within {tol:g} of the minimum L* = {best:.5f}: "
        + ("; ".join(parts) or "no method")
        + (f"; not reached by {', '.join(missed)}" if missed else "")
        + ". "
        + "With constant step sizes the minibatch methods end "
        + " and ".join(f"{m['name']} {m['final_gap']:.1e}" for m in first_order)
        + f" above L* after {first_order[0]['passes'][-1]:.0f} passes (minibatch noise). Newton needs a handful "
        "of steps, each worth many gradients; L-BFGS gets close to that in steps at about one gradient each."
    )


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
