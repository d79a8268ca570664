"""Random search, random local search and SGD at the same budget of 1000 iterations.

    python experiments/random_search.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

The lecture's first idea for finding ``W``: guess. Its loop draws
``trials = 100`` random ``W`` and keeps the one with the lowest SVM loss on
the training set; CS231n runs 1000 trials of ``randn(10, 3073) * 1e-4`` and
reaches 15.5 % test accuracy on CIFAR-10 (chance: 10 %). Random local search
starts at ``W0 = randn * 1e-3``, tries ``W + 1e-4 * randn`` and keeps it only
if the loss drops: 21.4 % with the same 1000 loss evaluations. Following the
gradient -- 1000 minibatch SGD steps -- does far better.

All strategies minimize the same objective, the multiclass SVM loss on the
training set without regularization. The budget is 1000 iterations each: a
search iteration evaluates the loss on the whole training set, an SGD step
takes the gradient on one minibatch of 256 examples (so SGD touches far fewer
examples). The 100-trial run is the first 100 trials of the 1000 (same key),
so its best can only be worse or the same.

Scales: CIFAR-10 uses CS231n's (pixels are mean-centred but not rescaled, so
they are of order 100). Digits pixels are rescaled to [-1, 1], about 100 times
smaller, so its weight scales are 100 times larger.

Writes ``<out>/random_search/{config,metrics}.json`` and ``random_search.png``.
"""

from __future__ import annotations

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

NAME = "random_search"

#: CS231n's test accuracies on CIFAR-10 (the optimization notes).
CS231N = {"random search (1000 trials)": 0.155, "random local search (1000 steps)": 0.214}

#: The scales of the search, per data set (see the module docstring).
SETTINGS = {
    "cifar10": {"random_scale": 1e-4, "local_init_scale": 1e-3, "local_step_size": 1e-4, "sgd_lr": 1e-7},
    "digits": {"random_scale": 1e-2, "local_init_scale": 1e-1, "local_step_size": 1e-2, "sgd_lr": 1e-1},
}


def build_parser():
    p = make_parser(
        NAME,
        "Random search (the lecture's 100 trials and CS231n's 1000), random local search "
        "and minibatch SGD at the same budget of iterations: the SVM loss reached and the "
        "test accuracy of each, beside CS231n's 15.5 % / 21.4 % on CIFAR-10.",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=None,
        help="the budget: random trials = local steps = SGD steps (default 1000; --quick 100)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="examples per SGD step (default 256)")
    return p


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course import plots
    from jaxopt_course.losses import svm_loss
    from jaxopt_course.model import evaluate
    from jaxopt_course.search import random_local_search, random_search
    from jaxopt_course.train import Loop, Run, fit

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    budget = args.trials or (100 if args.quick else 1000)
    lecture_trials = 100 if budget > 100 else max(1, budget // 10)  # the lecture's, or a tenth in --quick
    s = SETTINGS[args.data]
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    shape = (splits.num_classes, splits.dim)
    batch_size = min(args.batch_size, X.shape[0])
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "loss": "svm",
        "reg": 0.0,
        "budget": budget,
        "lecture_trials": lecture_trials,
        "batch_size": batch_size,
        "num_train": int(X.shape[0]),
        **s,
    }

    def loss_fn(W):
        return svm_loss(W, X, y)

    key = jax.random.key(args.seed)
    k_random, k_init, k_local, k_sgd = jax.random.split(key, 4)
    W0 = s["local_init_scale"] * jax.random.normal(k_init, shape)
    strategies = []

    def record(name, W, curve, evaluations, examples, seconds, curve_kind):
        acc = evaluate(W, splits)
        steps, values = thin(curve)
        strategies.append(
            {
                "name": name,
                "iterations": evaluations,
                "examples_touched": examples,
                "train_loss": float(loss_fn(W)),
                "train_accuracy": acc["train"],
                "val_accuracy": acc["val"],
                "test_accuracy": acc["test"],
                "seconds": seconds,
                "curve_steps": steps,
                "curve": values,
                "curve_kind": curve_kind,
                "cs231n_test_accuracy": CS231N.get(name) if args.data == "cifar10" else None,
            }
        )

    n = int(X.shape[0])
    with Timer() as total:
        few, seconds = _timed(
            lambda: random_search(loss_fn, k_random, shape, trials=lecture_trials, scale=s["random_scale"])
        )
        record(
            f"random search ({lecture_trials} trials)",
            few.params,
            np.asarray(few.history),
            lecture_trials,
            lecture_trials * n,
            seconds,
            "best loss so far",
        )
        many, seconds = _timed(lambda: random_search(loss_fn, k_random, shape, trials=budget, scale=s["random_scale"]))
        record(
            f"random search ({budget} trials)",
            many.params,
            np.asarray(many.history),
            budget,
            budget * n,
            seconds,
            "best loss so far",
        )
        local, seconds = _timed(
            lambda: random_local_search(loss_fn, k_local, W0, steps=budget, step_size=s["local_step_size"])
        )
        record(
            f"random local search ({budget} steps)",
            local.params,
            np.asarray(local.history),
            budget,
            budget * n,
            seconds,
            "best loss so far",
        )
        run = Run(svm_loss, optimizer_factory("sgd"), batch_size=batch_size, num_steps=budget)
        sgd, seconds = _timed(
            lambda: fit(run, W0, X, y, key=k_sgd, lr=s["sgd_lr"], reg=0.0, loop=Loop(chunk_size=budget))
        )
        record(
            f"SGD ({budget} steps of {batch_size})",
            sgd.params,
            smooth(sgd.losses),
            budget,
            budget * batch_size,
            seconds,
            "minibatch loss (moving average of 20)",
        )

    metrics = {"strategies": strategies, "chance": 1.0 / splits.num_classes, "seconds": total.seconds}
    return finish(
        NAME,
        outdir,
        config,
        metrics,
        plots.plot_random_search,
        _table(strategies, args.data == "cifar10"),
        _summary(strategies, splits.num_classes),
    )


def _timed(run_strategy):
    """``(result, seconds)`` of one strategy, timed until its parameters are computed."""
    with Timer() as t:
        result = run_strategy()
        result.params.block_until_ready()
    return result, t.seconds


def _table(strategies, cifar) -> str:
    headers = ["strategy", "iterations", "examples touched", "train loss (SVM)", "test accuracy"]
    headers += ["CS231n"] if cifar else []
    rows = []
    for st in strategies:
        row = [st["name"], st["iterations"], st["examples_touched"], st["train_loss"], percent(st["test_accuracy"])]
        rows.append(row + ([percent(st["cs231n_test_accuracy"])] if cifar else []))
    return format_table(headers, rows)


def _summary(strategies, num_classes) -> str:
    r100, r1000, loc, sg = strategies
    return (
        f"Guessing is weak: the best of {r1000['iterations']} random W reaches "
        f"{percent(r1000['test_accuracy'])} test accuracy ({percent(r100['test_accuracy'])} after the "
        f"lecture's {r100['iterations']}; chance is {percent(1.0 / num_classes)}), keeping only "
        f"improving random steps reaches {percent(loc['test_accuracy'])}, and following the gradient "
        f"({sg['name']}) reaches {percent(sg['test_accuracy'])} while touching "
        f"{r1000['examples_touched'] // max(sg['examples_touched'], 1)} times fewer examples."
    )


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
