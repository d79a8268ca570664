"""Peak resident memory of one full CIFAR-10 training run, in a process of its own.

Run by ``benchmarks/run.py`` as a subprocess, so that the peak it reports is
this run's alone: ``load_cifar10`` (49000 x 3073 float32 training matrix,
about 602 MB) and the CS231n SVM recipe (1500 steps of batch 200, lr 1e-7,
reg 2.5e4) through :func:`jaxopt_course.fit`. It prints one JSON line: the
resident set (``VmRSS``) and its high-water mark (``VmHWM``, the same number
as ``getrusage``'s ``ru_maxrss``) after each phase, in MB (2**20 bytes).

Usage: ``python benchmarks/memory_run.py CIFAR_ROOT [--steps 1500]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MB
    # Not Linux: getrusage's peak is all there is (kB on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 1024)


def phase(name: str, phases: list) -> None:
    phases.append(
        {"phase": name, "rss_mb": _status_mb("VmRSS"), "peak_mb": _status_mb("VmHWM"), "t": time.perf_counter()}
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the folder that holds cifar-10-batches-py/")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args(argv)

    phases: list = []
    phase("start", phases)

    import jax
    import optax

    from jaxopt_course import Loop, Run, evaluate, fit, load_cifar10, svm_loss

    jax.block_until_ready(jax.numpy.zeros(1))  # the runtime itself is part of the baseline
    phase("imports", phases)
    splits = load_cifar10(args.root)
    phase("load_cifar10", phases)
    key, init_key = jax.random.split(jax.random.key(0))
    W0 = 1e-3 * jax.random.normal(init_key, (splits.num_classes, splits.dim))
    result = fit(
        Run(svm_loss, optax.sgd, batch_size=200, num_steps=args.steps),
        W0,
        splits.train.X,
        splits.train.y,
        key=key,
        lr=1e-7,
        reg=2.5e4,
        loop=Loop(progress=False),
    )
    jax.block_until_ready(result.params)
    phase("fit", phases)
    val = evaluate(result.params, {"val": splits.val})["val"]
    phase("evaluate", phases)
    print(
        json.dumps(
            {
                "train_matrix_mb": splits.train.X.nbytes / 2**20,
                "train_matrix_shape": list(splits.train.X.shape),
                "train_matrix_dtype": str(splits.train.X.dtype),
                "train_matrix_aligned_64": splits.train.X.ctypes.data % 64 == 0,
                "steps": args.steps,
                "val_accuracy": val,
                "phases": phases,
                "peak_mb": max(p["peak_mb"] for p in phases),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
