"""Engine overhead: ``fit`` against the bare compiled ``make_train`` and CS231n's NumPy loop, same run.

The CS231n SVM recipe on CIFAR-shaped float32 data (N = 49000, D = 3073,
C = 10; lr 1e-7, reg 2.5e4, 1500 steps of batch 200):

* ``fit`` -- called as a user calls it, on the host NumPy arrays: its input
  checks, the transfer, the chunk loop (chunks of 1000 steps), the
  divergence check and the final result are all inside the timer. ``X`` is
  64-byte aligned, as ``load_cifar10`` returns it (XLA then uses it in
  place); "fit (unaligned X)" is the same call on a copy that is not, which
  XLA must copy on every call;
* ``make_train`` -- the bare compiled run: ``train(W0, key)`` built once,
  data already on the device;
* the NumPy loop -- CS231n's ``LinearClassifier.train`` with
  ``svm_loss_vectorized`` (``benchmarks/baselines.py``).

Compilation is done before the rounds (and reported apart); in every round
the three run back to back in rotating order, and each ratio is the median
over rounds of the per-round ratio.

Only public names are used, so the same script measures any checkout::

    .venv/bin/python benchmarks/bench_engine.py --cores 1                           # this tree
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/bench_engine.py --cores 1

It prints one JSON object (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=49000)
    parser.add_argument("--cores", type=int, default=None, help="pin to this many cores (as benchmarks/run.py)")
    parser.add_argument("--out", default=None)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    import run as suite_runner  # the suite's environment set-up: BLAS overrides removed, cores pinned

    removed = suite_runner.prepare_environment("cpu", args.cores)
    from functools import partial

    import baselines
    import jax
    import numpy as np
    import optax
    import suite
    import timing

    import jaxopt_course
    from jaxopt_course import Loop, Run, fit, make_train, svm_loss

    cfg = dict(suite.MODES["full"], N=args.examples)
    X, y, W0 = suite.cifar_shaped(cfg)
    B, steps, lr, reg = cfg["batch"], args.steps, suite.LR, suite.REG
    run, key = Run(svm_loss, optax.sgd, batch_size=B, num_steps=steps), jax.random.key(0)
    Xj, yj, W0j = jax.device_put(X), jax.device_put(y), jax.device_put(W0)
    train = make_train(run, Xj, yj)

    # The same matrix 16 bytes past a 64-byte boundary: XLA must copy it (600 MB) on every call that places it.
    raw = np.empty(X.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + 16
    X_unaligned = raw[start : start + X.nbytes].view(np.float32).reshape(X.shape)
    X_unaligned[...] = X

    def run_fit(X=X):
        return fit(run, W0, X, y, key=key, lr=lr, reg=reg, loop=Loop(progress=False)).params

    cases = {
        "fit": run_fit,
        "fit (unaligned X)": partial(run_fit, X_unaligned),
        "make_train (bare, compiled)": lambda: train(W0j, key, lr, reg).state.params,
        "numpy loop (CS231n)": partial(
            baselines.numpy_train, "svm", W0, X, y, learning_rate=lr, reg=reg, num_iters=steps, batch_size=B
        ),
    }
    compile_s = {}
    for name in ("fit", "fit (unaligned X)", "make_train (bare, compiled)"):
        with timing.CompileLog() as log:
            jax.block_until_ready(cases[name]())
        compile_s[name] = log.seconds
    baselines.numpy_train("svm", W0, X, y, learning_rate=lr, reg=reg, num_iters=3, batch_size=B)  # warm-up
    load_before = os.getloadavg()
    with timing.CompileLog() as during:
        times = timing.paired(cases, args.rounds)
    same = bool(np.array_equal(np.asarray(run_fit()), np.asarray(cases["make_train (bare, compiled)"]())))
    result = {
        "package": str(Path(jaxopt_course.__file__).parent),
        "recipe": {
            "N": int(X.shape[0]),
            "D": int(X.shape[1]),
            "C": int(W0.shape[0]),
            "batch": B,
            "steps": steps,
            "lr": lr,
            "reg": reg,
        },
        "rounds": args.rounds,
        "cores": len(os.sched_getaffinity(0)),
        "openblas_env_removed": removed,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "median_s": {name: timing.summary(t)["median_s"] for name, t in times.items()},
        "seconds": times,
        "compile_s": compile_s,
        "compiles_during_rounds": during.compiles,
        "step_us": {name: 1e6 * timing.summary(t)["median_s"] / steps for name, t in times.items()},
        "fit_over_make_train": timing.paired_ratio(times, "fit", "make_train (bare, compiled)"),
        "unaligned_fit_over_make_train": timing.paired_ratio(times, "fit (unaligned X)", "make_train (bare, compiled)"),
        "numpy_over_fit": timing.paired_ratio(times, "numpy loop (CS231n)", "fit"),
        "numpy_over_make_train": timing.paired_ratio(times, "numpy loop (CS231n)", "make_train (bare, compiled)"),
        "fit_equals_make_train_bitwise": same,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
