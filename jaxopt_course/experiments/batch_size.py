"""Gradient descent (the full batch) against minibatch SGD at batch sizes 8 to 256.

    python experiments/batch_size.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

The lecture's gradient descent computes the gradient on the whole training
set every step -- "can be VERY slow for large training datasets" -- and its
fix samples a minibatch, ``X_sample = X.sample(n=256)``, with the batch size
a knob ("8, 16, 32, 64 depending on memory"). Here every batch size trains
the same softmax classifier from the same ``W0`` with the same step size and
number of steps, and the loss on the *whole* training set is measured every
few steps (outside the timed runs), so the curves are comparable:

* against steps: bigger batches make every step better (less noise), and
  the full batch is the best possible step;
* against examples seen (steps x batch size): small batches learn far more
  per example -- the reason SGD wins on big data;
* against wall-clock time: each run is compiled once, then timed as a whole
  compiled ``lax.scan`` (1000 steps on digits, the first 100 on CIFAR-10) and
  divided by its number of steps; the compile time (first call minus the
  fastest timed call) is reported apart -- for a long full-batch run it is
  within the noise of the run itself.

Writes ``<out>/batch_size/{config,metrics}.json`` and ``batch_size.png``.
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

NAME = "batch_size"

BATCH_SIZES = (8, 16, 32, 64, 128, 256)

#: Softmax step size and regularization per data set (CS231n's softmax values for CIFAR-10).
SETTINGS: dict[str, dict[str, Any]] = {  # per data set; each value its own type
    "cifar10": {
        "lr": 1e-7,
        "reg": 2.5e4,
        "init_scale": 1e-4,
        "steps": 1000,
        "eval_every": 25,
        "timing_steps": 100,
        "timing_repeats": 2,
    },
    "digits": {
        "lr": 0.5,
        "reg": 1e-4,
        "init_scale": 1e-4,
        "steps": 1000,
        "eval_every": 5,
        "timing_steps": 1000,
        "timing_repeats": 3,
    },
}
#: --quick: the full batch and the two ends of the range (a smoke test).
QUICK_BATCH_SIZES = (8, 256)


def build_parser():
    p = make_parser(
        NAME,
        "Gradient descent (full batch) against minibatch SGD at batch sizes 8, 16, 32, 64, "
        "128, 256, same step size and steps: the training loss against steps, against "
        "examples seen and against wall-clock time.",
    )
    p.add_argument("--steps", type=int, default=None, help="steps per run (maxIterations; default 1000)")
    p.add_argument("--lr", type=float, default=None, help="the step size (default: 0.5 digits, 1e-7 CIFAR-10)")
    return p


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp

    from jaxopt_course import plots
    from jaxopt_course.losses import softmax_loss
    from jaxopt_course.model import evaluate
    from jaxopt_course.train import Loop, Run, fit, make_train

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    s = dict(SETTINGS[args.data])
    steps = args.steps or (100 if args.quick else s["steps"])
    lr = args.lr or s["lr"]
    reg = s["reg"]
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    n = int(X.shape[0])
    eval_every = min(s["eval_every"], steps)
    batch_sizes = [None] + [b for b in (QUICK_BATCH_SIZES if args.quick else BATCH_SIZES) if b <= n]
    timing_steps = min(s["timing_steps"], steps)
    timing_repeats = 1 if args.quick else s["timing_repeats"]
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "loss": "softmax",
        "optimizer": "sgd",
        "lr": lr,
        "reg": reg,
        "init_scale": s["init_scale"],
        "steps": steps,
        "num_train": n,
        "eval_every": eval_every,
        "batch_sizes": batch_sizes,
        "sampling": "with_replacement",
        "timing_steps": timing_steps,
        "timing_repeats": timing_repeats,
    }

    key_w, key_b = jax.random.split(jax.random.key(args.seed))
    W0 = s["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    full_loss = jax.jit(lambda W: softmax_loss(W, X, y, reg=reg))
    optimizer = optimizer_factory("sgd")
    runs = []
    with Timer() as total:
        for batch_size in batch_sizes:
            label = f"GD (full batch, {n})" if batch_size is None else f"SGD, batch {batch_size}"
            # 1. The curve: the full training loss every eval_every steps, read between compiled chunks.
            losses = [float(full_loss(W0))]

            def on_chunk(state, metrics, losses=losses):  # this batch size's list, bound now
                losses.append(float(full_loss(state.params)))

            run = Run(softmax_loss, optimizer, batch_size=batch_size, num_steps=steps)
            result = fit(run, W0, X, y, key=key_b, lr=lr, reg=reg, loop=Loop(chunk_size=eval_every, on_chunk=on_chunk))
            # 2. The clock: timing_steps of the same run as one compiled scan; compile once, then time
            #    whole runs (the fastest of timing_repeats) and divide by the steps.
            train = make_train(run._replace(num_steps=timing_steps, eval_every=None), X, y)
            first, seconds = _clock(lambda train=train: train(W0, key_b, lr, reg), timing_repeats)
            per_example = n if batch_size is None else batch_size
            eval_steps = _eval_steps(steps, eval_every)
            acc = evaluate(result.params, splits)
            runs.append(
                {
                    "label": label,
                    "batch_size": batch_size,
                    "examples_per_step": per_example,
                    "eval_steps": eval_steps,
                    "train_loss": losses,
                    "examples_seen": [t * per_example for t in eval_steps],
                    "seconds_per_step": seconds / timing_steps,
                    "compile_seconds": max(first - seconds, 0.0),
                    "run_seconds": seconds,
                    "final_train_loss": losses[-1],
                    "train_accuracy": acc["train"],
                    "val_accuracy": acc["val"],
                    "test_accuracy": acc["test"],
                }
            )

    target = _to_target(runs)
    metrics = {"runs": runs, "target_loss": target, "seconds": total.seconds}
    return finish(
        NAME,
        outdir,
        config,
        metrics,
        plots.plot_batch_size,
        _table(runs, steps, target),
        _summary(runs, steps, n, target),
    )


def _table(runs, steps, target) -> str:
    rows = [
        [
            r["label"],
            r["final_train_loss"],
            f"{r['steps_to_target']}",
            f"{r['examples_to_target']:,}",
            f"{1e3 * r['seconds_to_target']:.2f}",
            f"{1e6 * r['seconds_per_step']:.0f}",
            f"{r['compile_seconds']:.2f}",
            percent(r["test_accuracy"]),
        ]
        for r in runs
    ]
    return format_table(
        [
            "run",
            f"train loss after {steps} steps",
            f"steps to loss {target:.3g}",
            "examples to it",
            "ms to it",
            "us per step",
            "compile s",
            "test accuracy",
        ],
        rows,
    )


def _eval_steps(steps, eval_every) -> list:
    """The steps at which the curve is read: 0, every ``eval_every`` steps, and the last one."""
    eval_steps = [0] + list(range(eval_every, steps + 1, eval_every))
    return eval_steps if eval_steps[-1] == steps else eval_steps + [steps]


def _clock(run_once, repeats):
    """``(first, best)`` seconds of a compiled run: the first call (with its compile), the fastest of ``repeats``."""
    import time

    import jax

    start = time.perf_counter()
    jax.block_until_ready(run_once())
    first = time.perf_counter() - start
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run_once())
        timings.append(time.perf_counter() - start)
    return first, min(timings)


def _to_target(runs) -> float:
    """A loss level every run reaches (twice the worst final loss), and when each run got there (in place)."""
    target = 2.0 * max(r["final_train_loss"] for r in runs)
    for r in runs:
        first = next(i for i, loss in enumerate(r["train_loss"]) if loss <= target)
        r["steps_to_target"] = r["eval_steps"][first]
        r["examples_to_target"] = r["examples_seen"][first]
        r["seconds_to_target"] = r["eval_steps"][first] * r["seconds_per_step"]
    return target


def _summary(runs, steps, n, target) -> str:
    gd = runs[0]
    fastest = min(runs, key=lambda r: r["examples_to_target"])
    quickest = min(runs, key=lambda r: r["seconds_to_target"])
    return (
        f"Per step the batch size matters little here (train loss after {steps} steps: "
        f"{min(r['final_train_loss'] for r in runs):.3f} to {max(r['final_train_loss'] for r in runs):.3f}), "
        f"but gradient descent reads all {n} examples every step: to reach a loss of {target:.3g} it needs "
        f"{gd['examples_to_target']:,} examples against {fastest['examples_to_target']:,} for "
        f"{fastest['label']}. In wall-clock time the fastest to get there is {quickest['label']} "
        f"({1e3 * quickest['seconds_to_target']:.2f} ms against {1e3 * gd['seconds_to_target']:.2f} ms "
        f"for gradient descent; the compiled step costs {1e6 * quickest['seconds_per_step']:.0f} us "
        f"against {1e6 * gd['seconds_per_step']:.0f} us)."
    )


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
