"""CS231n's tuning step: a learning rate x regularization grid, trained in one vmapped call.

    python experiments/sweep.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

CS231n tunes its linear classifiers by hand-written loops::

    for lr in learning_rates:
        for reg in regularization_strengths:
            train; score on the validation set; keep the best

Here the whole grid is one call of :func:`jaxopt_course.train.sweep`: ``lr``
and ``reg`` are traced arguments, ``jax.vmap`` trains every model at once, and
all models see the same minibatches. The best model by validation accuracy
is then scored once on the test set -- the only time the test set is used.

CIFAR-10 uses CS231n's budget (1500 steps of 200 images) around its values
(lr 1e-7 .. 5e-7, reg 2.5e4 .. 5e4).

Writes ``<out>/sweep/{config,metrics}.json`` and ``sweep.png``.
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
)

NAME = "sweep"

SETTINGS: dict[str, dict[str, Any]] = {  # per data set; each value its own type
    "cifar10": {
        "learning_rates": [1e-8, 3e-8, 1e-7, 3e-7, 1e-6, 3e-6],
        "regs": [1e2, 1e3, 5e3, 2.5e4, 5e4, 1e5],
        "steps": 1500,
        "batch_size": 200,
        "init_scale": 1e-4,
    },
    "digits": {
        "learning_rates": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0],
        "regs": [0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
        "steps": 1000,
        "batch_size": 64,
        "init_scale": 1e-4,
    },
}
QUICK: dict[str, dict[str, Any]] = {
    "cifar10": {"learning_rates": [1e-7, 1e-6, 1e-5], "regs": [1e3, 2.5e4, 1e5]},
    "digits": {"learning_rates": [1e-2, 1e-1, 1.0], "regs": [0.0, 1e-3, 1e-1]},
}


def build_parser():
    p = make_parser(
        NAME,
        "A learning-rate x regularization grid of linear classifiers trained in one vmapped "
        "call: the validation-accuracy heat map and the best model's test accuracy "
        "(CS231n's tuning step).",
    )
    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax", help="the loss to train (default softmax)")
    p.add_argument("--steps", type=int, default=None, help="SGD steps per model (default: 1500 CIFAR-10, 1000 digits)")
    return p


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course import plots
    from jaxopt_course.losses import get_loss
    from jaxopt_course.model import evaluate
    from jaxopt_course.train import Run, sweep

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    s = {**SETTINGS[args.data], **(QUICK[args.data] if args.quick else {})}
    steps = args.steps or (100 if args.quick else s["steps"])
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    batch_size = min(s["batch_size"], int(X.shape[0]))
    lrs, regs = s["learning_rates"], s["regs"]
    loss = get_loss(args.loss)
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "loss": args.loss,
        "optimizer": "sgd",
        "learning_rates": lrs,
        "regs": regs,
        "steps": steps,
        "batch_size": batch_size,
        "init_scale": s["init_scale"],
        "models": len(lrs) * len(regs),
    }

    key_w, key_b = jax.random.split(jax.random.key(args.seed))
    W0 = s["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    with Timer() as timer:
        grid = sweep(
            Run(loss, optimizer_factory("sgd"), batch_size=batch_size, num_steps=steps),
            W0,
            X,
            y,
            key=key_b,
            learning_rates=lrs,
            regs=regs,
            X_val=splits.val.X,
            y_val=splits.val.y,
        )
        jax.block_until_ready(grid.params)
    diverged = grid.diverged  # the engine's one divergence rule
    val = np.where(diverged, np.nan, grid.val_accuracy)
    train = np.where(diverged, np.nan, grid.train_accuracy)
    i, j = np.unravel_index(int(np.nanargmax(val)), val.shape)
    best_acc = evaluate(grid.params[i, j], splits)
    best = {
        "lr": lrs[i],
        "reg": regs[j],
        "train_accuracy": best_acc["train"],
        "val_accuracy": best_acc["val"],
        "test_accuracy": best_acc["test"],
    }
    metrics = {
        "val_accuracy": val,
        "train_accuracy": train,
        "diverged": diverged,
        "best": best,
        "final_minibatch_loss": grid.losses[:, :, -1],
        "seconds": timer.seconds,
    }

    rows = [
        [f"{lr:g}"] + [("diverged" if diverged[a, b] else percent(val[a, b])) for b in range(len(regs))]
        for a, lr in enumerate(lrs)
    ]
    table = format_table(["val accuracy: lr \\ reg"] + [f"{r:g}" for r in regs], rows)
    table += "\n\n" + format_table(
        ["best lr", "best reg", "train accuracy", "val accuracy", "test accuracy"],
        [
            [
                f"{best['lr']:g}",
                f"{best['reg']:g}",
                percent(best["train_accuracy"]),
                percent(best["val_accuracy"]),
                percent(best["test_accuracy"]),
            ]
        ],
    )
    summary = (
        f"{len(lrs) * len(regs)} {args.loss} classifiers trained together in {timer.seconds:.1f} s "
        f"(one vmapped call, compile included); {int(diverged.sum())} diverged. The best on validation "
        f"(lr {best['lr']:g}, reg {best['reg']:g}, {percent(best['val_accuracy'])}) scores "
        f"{percent(best['test_accuracy'])} on the test set."
    )
    return finish(NAME, outdir, config, metrics, plots.plot_sweep, table, summary)


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
