"""Seeds in one compiled call: models per second of ``sweep(..., seeds=S)`` against a Python loop of ``fit`` calls.

The same ``L x R x S`` models both ways, in the same run: one
``sweep(Run(loss_fn, optax.sgd, ...), W0, X, y, learning_rates=..., regs=..., seeds=S)``
(all models in one vmapped program, each seed's minibatch gathered once for
its ``L x R`` models), and a loop of one ``fit`` per model with the same
learning rate, reg and key ``fold_in(key, s)`` -- ``lr`` and ``reg`` traced,
so the loop compiles once too. Compilation is done before the rounds and
reported apart; the rounds run both back to back in rotating order, and the
speed-up is the median over rounds of the per-round ratio. The loop's final
weights are compared with the sweep's (they must agree to float32 rounding).

Two problems: digits-shaped (N = 1257, D = 65, C = 10, batch 256) and
CIFAR-shaped (N = 49000, D = 3073, C = 10, batch 200).

Usage::

    .venv/bin/python benchmarks/bench_seeds.py            # both problems; prints JSON (--out FILE to keep it)
    .venv/bin/python benchmarks/bench_seeds.py --quick    # fewer steps and rounds, smaller grid (a smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBLEMS = {
    "digits-shaped": dict(N=1257, D=65, C=10, batch=256, steps=1000, lrs=(0.01, 0.1), regs=(1e-4, 1e-3), seeds=5),
    "cifar-shaped": dict(N=49000, D=3073, C=10, batch=200, steps=200, lrs=(5e-8, 1e-7), regs=(1e4, 2.5e4), seeds=4),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds, two seeds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=None, help="pin to this many cores (as benchmarks/run.py)")
    parser.add_argument("--only", choices=tuple(PROBLEMS), default=None)
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def problem_data(cfg, seed=0):
    import numpy as np
    import suite

    if cfg["D"] == 3073:
        return suite.cifar_shaped(cfg, seed)
    rng = np.random.default_rng(seed)
    X = suite.aligned_empty((cfg["N"], cfg["D"]))
    X[:, :-1] = rng.standard_normal((cfg["N"], cfg["D"] - 1), dtype=np.float32)
    X[:, -1] = 1.0
    y = rng.integers(0, cfg["C"], cfg["N"]).astype(np.int32)
    return X, y, (1e-3 * rng.standard_normal((cfg["C"], cfg["D"]))).astype(np.float32)


def measure(name, cfg, rounds):
    """One problem: the sweep and the loop of fits, paired over ``rounds``."""
    import jax
    import numpy as np
    import optax
    import timing

    from jaxopt_course import Loop, Run, fit, svm_loss, sweep

    X, y, W0 = problem_data(cfg)
    key, S, steps = jax.random.key(0), cfg["seeds"], cfg["steps"]
    grid = dict(learning_rates=cfg["lrs"], regs=cfg["regs"])
    models = [(lr, reg, s) for lr in cfg["lrs"] for reg in cfg["regs"] for s in range(S)]

    run, quiet = Run(svm_loss, optax.sgd, batch_size=cfg["batch"], num_steps=steps), Loop(progress=False)

    def swept():
        return sweep(run, W0, X, y, key=key, seeds=S, loop=quiet, **grid).params

    def looped():
        return [
            fit(run, W0, X, y, key=jax.random.fold_in(key, s), lr=lr, reg=reg, loop=quiet).params
            for lr, reg, s in models
        ]

    compile_s, outputs = {}, {}
    for case, fn in (("sweep", swept), ("fit loop", looped)):
        with timing.CompileLog() as log:
            outputs[case] = jax.block_until_ready(fn())
        compile_s[case] = log.seconds
    W_sweep = np.asarray(outputs["sweep"]).reshape((len(models),) + W0.shape)
    W_loop = np.stack([np.asarray(W) for W in outputs["fit loop"]])
    with timing.CompileLog() as during:
        times = timing.paired({"sweep": swept, "fit loop": looped}, rounds)
    medians = {case: timing.summary(t)["median_s"] for case, t in times.items()}
    return {
        "problem": name,
        "N": cfg["N"],
        "D": cfg["D"],
        "C": cfg["C"],
        "batch": cfg["batch"],
        "steps": steps,
        "models": len(models),
        "grid": [len(cfg["lrs"]), len(cfg["regs"]), S],
        "rounds": rounds,
        "median_s": medians,
        "seconds": times,
        "compile_s": compile_s,
        "compiles_during_rounds": during.compiles,
        "models_per_s": {case: len(models) / t for case, t in medians.items()},
        "sweep_speedup": timing.paired_ratio(times, "fit loop", "sweep"),
        "max_rel_diff": float(np.max(np.abs(W_sweep - W_loop)) / np.max(np.abs(W_loop))),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    import run as suite_runner  # the suite's environment set-up: BLAS overrides removed, cores pinned

    removed = suite_runner.prepare_environment("cpu", args.cores)
    rounds = 1 if args.quick else args.rounds
    results = []
    load_before = os.getloadavg()
    for name, cfg in PROBLEMS.items():
        if args.only not in (None, name):
            continue
        if args.quick:
            cfg = dict(cfg, steps=max(10, cfg["steps"] // 20), seeds=2)
        results.append(measure(name, cfg, rounds))
    out = {
        "results": results,
        "cores": len(os.sched_getaffinity(0)),
        "openblas_env_removed": removed,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    for r in results:
        print(
            f"{r['problem']}: {r['models']} models x {r['steps']} steps: sweep {r['models_per_s']['sweep']:.1f} "
            f"models/s, fit loop {r['models_per_s']['fit loop']:.1f} models/s, sweep {r['sweep_speedup']:.2f}x "
            f"(paired), max rel diff {r['max_rel_diff']:.1e}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
