"""CS231n's recipes on CIFAR-10 over many seeds, each as mean +- sd beside the number CS231n quotes.

    python experiments/recipes.py --data cifar10 --data-dir DIR [--seeds 10] [--quick] [--out results/] [--seed 0]

The recipes (CS231n's optimization notes and assignment 1), each run with
``--seeds`` seeds:

* random search: 1000 random ``W = 1e-4 * randn(10, 3073)``, keep the one
  with the lowest SVM loss on the training set (CS231n: 15.5 % test accuracy);
* random local search: from ``W = 1e-3 * randn``, 1000 tries of a step of
  ``1e-4 * randn``, kept when the training SVM loss drops (CS231n: 21.4 %);
* the SVM recipe: minibatch SGD, lr 1e-7, reg 2.5e4, batch 200, 1500 steps,
  ``W0 = 1e-3 * randn`` (CS231n's assignment: about 39 % validation accuracy);
* the softmax recipe: the same with the softmax loss (the assignment asks for
  over 35 % on validation).

The two SGD recipes train all their seeds in one vmapped call,
``sweep(..., seeds=S)``: seed ``s`` draws its minibatches from
``fold_in(key, s)`` and all seeds share ``W0`` (drawn from ``--seed``), so
their spread is the minibatches' alone. The searches are one run per seed,
seed ``s`` drawing from ``fold_in(key, s)`` (the random ``W`` themselves,
hence their whole spread).

Writes ``<out>/recipes/{config,metrics}.json`` (every seed's accuracies) and
``recipes.png``.
"""

from __future__ import annotations

import sys
from typing import Any

from jaxopt_course.experiments._common import finish, format_table, load_splits, make_parser, output_dir, script_main

NAME = "recipes"

#: CS231n's numbers, as quoted by its notes (searches: test accuracy) and assignment 1 (SGD: validation).
CS231N = {
    "random_search": ("15.5 % test", 0.155),
    "random_local_search": ("21.4 % test", 0.214),
    "svm_sgd": ("~39 % val", 0.39),
    "softmax_sgd": ("> 35 % val (the assignment's goal)", 0.35),
}
SGD: dict[str, Any] = {"lr": 1e-7, "reg": 2.5e4, "batch_size": 200, "steps": 1500, "init_scale": 1e-3}
SEARCH: dict[str, Any] = {
    "trials": 1000,
    "scale": 1e-4,
    "local_steps": 1000,
    "local_step_size": 1e-4,
    "local_init": 1e-3,
}


def build_parser():
    p = make_parser(
        NAME,
        "CS231n's recipes (random search, random local search, the SVM and softmax SGD recipes) "
        "over many seeds, as mean +- sd beside CS231n's numbers.",
    )
    p.add_argument("--seeds", type=int, default=10, help="seeds per recipe (default 10)")
    p.add_argument("--only", default=None, help="comma-separated subset of: " + ", ".join(CS231N))
    return p


def _summary(values) -> dict:
    from jaxopt_course.compare import t_interval

    return {**t_interval(values)._asdict(), "per_seed": list(map(float, values))}


def sgd_recipe(loss_name: str, splits, seeds: int, key, W0, steps: int) -> dict:
    """One CS231n SGD recipe, every seed in one ``sweep(..., seeds=seeds)`` call."""
    import functools

    import numpy as np

    from jaxopt_course.compare import binomial_standard_error
    from jaxopt_course.losses import get_loss
    from jaxopt_course.model import accuracy
    from jaxopt_course.optimizers import get_optimizer
    from jaxopt_course.train import Loop, Run, sweep

    run = Run(
        get_loss(loss_name), functools.partial(get_optimizer, "sgd"), batch_size=SGD["batch_size"], num_steps=steps
    )
    result = sweep(
        run,
        W0,
        splits.train.X,
        splits.train.y,
        key=key,
        learning_rates=[SGD["lr"]],
        regs=[SGD["reg"]],
        seeds=seeds,
        X_val=splits.val.X,
        y_val=splits.val.y,
        loop=Loop(progress=False),
    )
    W_SxCxD = np.asarray(result.params).reshape((seeds,) + tuple(W0.shape))
    test = [float(accuracy(W, splits.test.X, splits.test.y)) for W in W_SxCxD]
    val = np.asarray(result.val_accuracy).reshape(seeds)
    return {
        "val_accuracy": _summary(val),
        "test_accuracy": _summary(test),
        "test_set_se": binomial_standard_error(float(np.mean(test)), len(splits.test.y)),
        "final_loss": _summary(np.asarray(result.losses).reshape(seeds, -1)[:, -20:].mean(axis=1)),
    }


def _searches(kind: str, budget: int, keys, W0s, X, y):
    """``best W (S, C, D)`` of one search per seed, all seeds in one vmapped program (the data as arguments)."""
    import jax

    from jaxopt_course.losses import svm_loss
    from jaxopt_course.search import random_local_search, random_search

    def one(key, W0):
        loss = lambda W: svm_loss(W, X, y)  # noqa: E731  (the training SVM loss, reg 0, as in the notes)
        if kind == "random_search":
            return random_search(loss, key, W0.shape, trials=budget, scale=SEARCH["scale"], chunk_size=10).params
        return random_local_search(loss, key, W0, steps=budget, step_size=SEARCH["local_step_size"]).params

    return jax.jit(jax.vmap(one))(keys, W0s)


def search_recipe(kind: str, splits, seeds: int, key, quick: bool) -> dict:
    """Random search or random local search on the training SVM loss, every seed at once (``vmap``).

    Seed ``s`` uses ``fold_in(key, s)``: for random search its trials' draws, for
    random local search its start ``1e-3 * randn`` and its steps.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course.compare import binomial_standard_error
    from jaxopt_course.model import accuracy

    shape = (splits.num_classes, splits.dim)
    budget = 50 if quick else (SEARCH["trials"] if kind == "random_search" else SEARCH["local_steps"])
    keys = jnp.stack([jax.random.fold_in(key, s) for s in range(seeds)])
    starts = [jax.random.split(k) for k in keys]
    W0s = jnp.stack([SEARCH["local_init"] * jax.random.normal(k0, shape) for k0, _ in starts])
    steps_keys = jnp.stack([k1 for _, k1 in starts]) if kind != "random_search" else keys
    found = _searches(kind, budget, steps_keys, W0s, jnp.asarray(splits.train.X), jnp.asarray(splits.train.y))
    test = [float(accuracy(W, splits.test.X, splits.test.y)) for W in found]
    val = [float(accuracy(W, splits.val.X, splits.val.y)) for W in found]
    return {
        "val_accuracy": _summary(val),
        "test_accuracy": _summary(test),
        "budget": budget,
        "test_set_se": binomial_standard_error(float(np.mean(test)), len(splits.test.y)),
    }


def run(args, splits=None) -> dict:
    import time

    import jax

    from jaxopt_course import plots

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    wanted = list(CS231N) if not args.only else [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in CS231N]
    if unknown:
        print(f"error: --only got unknown recipe(s) {unknown}; choose from {list(CS231N)}", file=sys.stderr)
        raise SystemExit(2)
    steps = 50 if args.quick else SGD["steps"]
    key_w, key_b, key_s = jax.random.split(jax.random.key(args.seed), 3)
    W0 = SGD["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    recipes = {}
    for name in wanted:
        start = time.perf_counter()
        if name.endswith("_sgd"):
            recipes[name] = sgd_recipe(name.split("_")[0], splits, args.seeds, key_b, W0, steps)
        else:
            recipes[name] = search_recipe(name, splits, args.seeds, key_s, args.quick)
        recipes[name].update(
            seconds=time.perf_counter() - start,
            cs231n=CS231N[name][0],
            cs231n_value=CS231N[name][1],
            cs231n_split="val" if "val" in CS231N[name][0] else "test",
        )
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "seeds": args.seeds,
        "sgd": {**SGD, "steps": steps},
        "search": SEARCH,
        "recipes": wanted,
        "seeds_vary": {
            "sgd": "the minibatches (fold_in(key, s)); W0 shared, drawn from --seed",
            "search": "every random draw (fold_in(key, s))",
        },
    }
    table = recipes_table(recipes, args.seeds)
    summary = (
        "Mean ± sd over "
        + f"{args.seeds} seeds beside CS231n's single numbers: "
        + "; ".join(
            f"{n} {100 * r['test_accuracy']['mean']:.1f} ± {100 * r['test_accuracy']['sd']:.1f} % test "
            f"(CS231n {r['cs231n']})"
            for n, r in recipes.items()
        )
        + "."
    )
    return finish(NAME, outdir, config, {"recipes": recipes}, plots.plot_recipes, table, summary)


def recipes_table(recipes: dict, seeds: int) -> str:
    """One row per recipe: val and test as mean +- sd (n seeds), the test-set SE, CS231n's number."""

    def pm(iv):
        sd = iv["sd"]
        return f"{100 * iv['mean']:.1f} ± {100 * sd:.1f}" if sd == sd else f"{100 * iv['mean']:.1f}"

    rows = [
        [
            name,
            pm(r["val_accuracy"]),
            pm(r["test_accuracy"]),
            f"{100 * r['test_set_se']:.1f}",
            r["cs231n"],
            f"{r['seconds']:.0f}",
        ]
        for name, r in recipes.items()
    ]
    return format_table(
        [
            "recipe",
            f"val % (mean ± sd, {seeds} seeds)",
            f"test % (mean ± sd, {seeds} seeds)",
            "test-set SE (points)",
            "CS231n",
            "seconds",
        ],
        rows,
    )


def main(argv=None) -> int:
    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
