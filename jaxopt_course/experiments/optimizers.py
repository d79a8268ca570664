"""The update rule as one argument: optax sgd, momentum, nesterov, adam, rmsprop, adagrad.

    python experiments/optimizers.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

The lecture's update ``W = W + -1 * (stepSize * dW)`` is ``optax.sgd(stepSize)``;
momentum, Nesterov, Adam, RMSProp and Adagrad change only how the gradient
becomes a step. Each optimizer trains the same softmax classifier from the
same ``W0`` on the same minibatches for the same number of steps. A fair race
needs each optimizer's own step size (Adam's 1e-3 would be tiny for SGD on
digits and huge on CIFAR-10), so each runs a whole grid of learning rates in
one vmapped call (:func:`jaxopt_course.train.sweep`) and the one with the best
validation accuracy is kept; its loss curve and test accuracy are reported.

Writes ``<out>/optimizers/{config,metrics}.json`` and ``optimizers.png``.
"""

from __future__ import annotations

from typing import Any

from jaxopt_course.experiments._common import (
    Timer,
    finish,
    format_table,
    load_splits,
    make_parser,
    optimizer_factory,
    output_dir,
    percent,
    script_main,
    smooth,
    thin,
)

NAME = "optimizers"

#: Per data set: the regularization, the learning-rate grid (half decades), the budget.
SETTINGS: dict[str, dict[str, Any]] = {  # per data set; each value its own type
    "cifar10": {"reg": 2.5e4, "lr_decades": (-9, -1), "steps": 1000, "batch_size": 256, "init_scale": 1e-4},
    "digits": {"reg": 1e-4, "lr_decades": (-4, 1), "steps": 1000, "batch_size": 64, "init_scale": 1e-4},
}


def build_parser():
    p = make_parser(
        NAME,
        "optax sgd, momentum, nesterov, adam, rmsprop and adagrad on the same budget (steps, "
        "batch size, minibatches), each at its best learning rate from a vmapped grid: "
        "loss curves and final accuracies.",
    )
    p.add_argument("--steps", type=int, default=None, help="steps per optimizer (default 1000)")
    return p


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course import plots
    from jaxopt_course.losses import softmax_loss
    from jaxopt_course.model import evaluate
    from jaxopt_course.optimizers import OPTIMIZER_NAMES
    from jaxopt_course.train import Run, sweep

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    s = SETTINGS[args.data]
    steps = args.steps or (100 if args.quick else s["steps"])
    low, high = s["lr_decades"]
    lrs = np.logspace(low, high, (high - low) * (1 if args.quick else 2) + 1)
    reg = s["reg"]
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    batch_size = min(s["batch_size"], int(X.shape[0]))
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "loss": "softmax",
        "reg": reg,
        "steps": steps,
        "batch_size": batch_size,
        "learning_rates": lrs,
        "optimizers": list(OPTIMIZER_NAMES),
        "init_scale": s["init_scale"],
        "selection": "best validation accuracy over the learning-rate grid (diverged runs excluded)",
        "optax_defaults": "momentum/nesterov: momentum 0.9; adam, rmsprop, adagrad: optax defaults",
    }

    key_w, key_b = jax.random.split(jax.random.key(args.seed))
    W0 = s["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    full_loss = jax.jit(lambda W: softmax_loss(W, X, y, reg=reg))
    runs = []
    with Timer() as total:
        for name in OPTIMIZER_NAMES:  # the engine's one list, in its order
            with Timer() as t:
                run = Run(softmax_loss, optimizer_factory(name), batch_size=batch_size, num_steps=steps)
                grid = sweep(
                    run, W0, X, y, key=key_b, learning_rates=lrs, regs=[reg], X_val=splits.val.X, y_val=splits.val.y
                )
            diverged = grid.diverged[:, 0]  # the engine's one divergence rule
            val = np.where(diverged, np.nan, grid.val_accuracy[:, 0])
            best = int(np.nanargmax(val))
            W = grid.params[best, 0]
            acc = evaluate(W, splits)
            curve_steps, curve = thin(smooth(grid.losses[best, 0]))
            runs.append(
                {
                    "optimizer": name,
                    "lr": float(lrs[best]),
                    "val_by_lr": val,
                    "diverged_by_lr": diverged,
                    "curve_steps": curve_steps,
                    "curve": curve,
                    "final_train_loss": float(full_loss(W)),
                    "train_accuracy": acc["train"],
                    "val_accuracy": acc["val"],
                    "test_accuracy": acc["test"],
                    "grid_seconds": t.seconds,
                }
            )

    metrics = {"runs": runs, "seconds": total.seconds}
    rows = [
        [
            r["optimizer"],
            f"{r['lr']:.0e}",
            r["final_train_loss"],
            percent(r["val_accuracy"]),
            percent(r["test_accuracy"]),
            f"{int(np.sum(r['diverged_by_lr']))} of {len(lrs)}",
        ]
        for r in runs
    ]
    table = format_table(
        ["optimizer", "best lr", "train loss", "val accuracy", "test accuracy", "lrs that diverged"], rows
    )
    return finish(NAME, outdir, config, metrics, plots.plot_optimizers, table, _summary(runs))


def _summary(runs) -> str:
    best = max(runs, key=lambda r: r["val_accuracy"])
    sgd = runs[0]
    best_lrs = ", ".join(f"{r['optimizer']} {r['lr']:.0e}" for r in runs)
    tests = [r["test_accuracy"] for r in runs]
    return (
        f"With its own best step size every optimizer ends within {100 * (max(tests) - min(tests)):.1f} "
        f"points of test accuracy of the others ({percent(min(tests))} to {percent(max(tests))}); plain SGD "
        f"reaches a train loss of {sgd['final_train_loss']:.3f}, {best['optimizer']} (best on validation) "
        f"{best['final_train_loss']:.3f}. "
        f"The best step sizes span a factor of {max(r['lr'] for r in runs) / min(r['lr'] for r in runs):.0f} "
        f"({best_lrs})."
    )


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
