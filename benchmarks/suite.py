"""The measurements of ``benchmarks/run.py``, one function per section of the issue.

Each section returns ``{"rows": [...], "targets": [...], ...}``: a row is one
implementation of one measurement (median seconds over paired rounds, compile
seconds apart, the roofline floor and the fraction of it reached, speed-ups
measured pair by pair in the same rounds); a target is one line of the
issue's list with the measured figure and whether it was met.

Sizes come from a *mode* (:data:`MODES`): ``full`` is the issue's
(N = 49000, D = 3073, C = 10, batch 200, 1500 steps), ``quick`` the same
shapes with fewer steps and rounds, ``smoke`` a tiny problem for the tests.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import baselines
import jax
import jax.numpy as jnp
import numpy as np
import optax
import timing

from jaxopt_course import Loop, Run, fit, make_train, softmax_loss, svm_loss, sweep
from jaxopt_course.analytic import softmax_loss_and_grad, svm_loss_and_grad

HERE = Path(__file__).resolve().parent
LOSSES = {"svm": svm_loss, "softmax": softmax_loss}
HAND_DERIVED = {"svm": svm_loss_and_grad, "softmax": softmax_loss_and_grad}

#: CS231n's LinearSVM recipe for CIFAR-10 (lr 1e-7, reg 2.5e4, batch 200, 1500 steps).
LR, REG = 1e-7, 2.5e4
TARGET_ACCURACY = 0.37
SWEEP_LRS = (2.5e-8, 5e-8, 1e-7, 2e-7)
SWEEP_REGS = (5e3, 1e4, 2.5e4, 5e4)

# fmt: off
# one mode a row, so the three recipes read side by side (ruff format would put each key on its own line)
MODES = {
    "full": dict(N=49000, D=3073, C=10, batch=200, steps=1500, call_rounds=7, train_rounds=3, sk_epochs=6,
                 sweep_steps=500, sweep_rounds=2, tta_steps=1500, tta_eval_every=50, sk_tta_epochs=6,
                 square=2048, bandwidth_mb=256, memory_steps=1500, gradcheck_quick=True, variants=True),
    "quick": dict(N=49000, D=3073, C=10, batch=200, steps=300, call_rounds=3, train_rounds=2, sk_epochs=1,
                  sweep_steps=200, sweep_rounds=1, tta_steps=1500, tta_eval_every=50, sk_tta_epochs=2,
                  square=1024, bandwidth_mb=128, memory_steps=300, gradcheck_quick=True, variants=False),
    "smoke": dict(N=2000, D=257, C=10, batch=50, steps=30, call_rounds=2, train_rounds=1, sk_epochs=1,
                  sweep_steps=20, sweep_rounds=1, tta_steps=60, tta_eval_every=20, sk_tta_epochs=1,
                  square=256, bandwidth_mb=64, memory_steps=20, gradcheck_quick=None, variants=False),
}
# fmt: on


# ---------------------------------------------------------------------------
# Data and small helpers
# ---------------------------------------------------------------------------


def aligned_empty(shape, dtype=np.float32, alignment=64) -> np.ndarray:
    """``np.empty`` whose data start on a 64-byte boundary, like the arrays ``load_cifar10`` returns.

    XLA on the CPU uses such a host array in place; any other is copied
    (600 MB for CIFAR-10's training matrix) by every call that places it.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def cifar_shaped(cfg, seed=0):
    """Random float32 data shaped like CIFAR-10 after preprocessing: centred pixels plus the bias column.

    ``X`` is 64-byte aligned, as ``load_cifar10``'s training matrix is.
    """
    rng = np.random.default_rng(seed)
    N, D, C = cfg["N"], cfg["D"], cfg["C"]
    X = aligned_empty((N, D), np.float32)
    for start in range(0, N, 8192):  # no int64 temporary of the whole matrix
        stop = min(start + 8192, N)
        X[start:stop, :-1] = rng.integers(0, 256, (stop - start, D - 1), dtype=np.uint8)
    X[:, :-1] -= np.float32(127.5)
    X[:, -1] = 1.0
    y = rng.integers(0, C, N).astype(np.int32)
    W0 = (1e-3 * rng.standard_normal((C, D))).astype(np.float32)
    return X, y, W0


def sgd_step_cost(batch, D, C, models=1):
    """``(flops, bytes)`` of one SGD step: scores ``X_b W^T`` and gradient ``dscores^T X_b``
    (``2 B D C`` flops each per model), reading the batch once and each ``W`` twice (read, write)."""
    return 4.0 * batch * D * C * models, 4.0 * batch * D + 2 * 4.0 * C * D * models


def repeat(fn, times):
    """A callable running ``fn()`` ``times`` times, waiting for the last result."""

    def run():
        out = None
        for _ in range(times):
            out = fn()
        return jax.block_until_ready(out)

    return run


def calls_for(fn, budget_s=0.05):
    """How many back-to-back calls of ``fn`` take about ``budget_s`` (at least one)."""
    seconds = timing.timed(fn)[0]
    return max(1, int(budget_s / max(seconds, 1e-6)))


def row(section, case, impl, times, *, per=1, floor_s=None, compile_s=None, **extra):
    """One result row from per-round seconds (``per`` items per timed call)."""
    stats = timing.summary([t / per for t in times])
    out = {
        "section": section,
        "case": case,
        "impl": impl,
        **stats,
        "compile_s": compile_s,
        "floor_s": floor_s,
        "roofline_fraction": None if floor_s is None else floor_s / stats["median_s"],
    }
    out.update(extra)
    return out


def target(name, measured, goal, met, unit="x", note=""):
    return {"name": name, "measured": measured, "goal": goal, "unit": unit, "met": bool(met), "note": note}


# ---------------------------------------------------------------------------
# 1. Ceilings
# ---------------------------------------------------------------------------


def ceilings(cfg, torch_device):
    """Measured float32 matmul rates (thin and square) and memory bandwidth, per library."""
    B, D, C, n = cfg["batch"], cfg["D"], cfg["C"], cfg["square"]
    rng = np.random.default_rng(1)
    A = rng.standard_normal((B, D)).astype(np.float32)
    W = rng.standard_normal((C, D)).astype(np.float32)
    S = rng.standard_normal((n, n)).astype(np.float32)
    big = np.ones(cfg["bandwidth_mb"] * 2**20 // 4, np.float32)
    thin_flops, square_flops = 2.0 * B * D * C, 2.0 * n**3
    rows, rates = [], {}
    chain = 50

    @jax.jit
    def thin_chain(A, W):
        # `chain` dependent thin products: each W is nudged by the previous result so
        # nothing is hoisted; the nudge touches W (C x D), not the 200 x 3073 operand.
        def body(_, acc):
            return acc + A @ (W + 1e-30 * acc[0, 0]).T

        return jax.lax.fori_loop(0, chain, body, jnp.zeros((A.shape[0], W.shape[0]), A.dtype))

    Aj, Wj, Sj, bigj = (jax.device_put(a) for a in (A, W, S, big))
    square_jit = jax.jit(lambda S: S @ S)
    sum_jit = jax.jit(jnp.sum)
    cases = {
        ("thin matmul", "jax"): (lambda: thin_chain(Aj, Wj), chain, thin_flops),
        ("square matmul", "jax"): (lambda: square_jit(Sj), 1, square_flops),
        ("thin matmul", "numpy"): (repeat(lambda: A @ W.T, chain), chain, thin_flops),
        ("square matmul", "numpy"): (lambda: S @ S, 1, square_flops),
    }
    bandwidth = {
        ("read bandwidth", "jax"): lambda: sum_jit(bigj),
        ("read bandwidth", "numpy"): lambda: np.add.reduce(big),
    }
    if torch_device is not None:
        import torch

        At, Wt, St = (torch.as_tensor(a, device=torch_device) for a in (A, W, S))
        bigt = torch.as_tensor(big, device=torch_device)
        sync = torch.cuda.synchronize if torch_device == "cuda" else (lambda: None)

        def torch_call(fn):
            def run():
                out = fn()
                sync()
                return out

            return run

        cases[("thin matmul", "torch")] = (torch_call(repeat(lambda: At @ Wt.T, chain)), chain, thin_flops)
        cases[("square matmul", "torch")] = (torch_call(lambda: St @ St), 1, square_flops)
        bandwidth[("read bandwidth", "torch")] = torch_call(lambda: bigt.sum())
    for (case, impl), (fn, per, flops) in cases.items():
        stats = timing.median_time(fn, repeats=cfg["call_rounds"], warmup=2)
        rate = flops * per / stats["median_s"]
        rates[(case, impl)] = rate
        rows.append(
            row(
                "ceilings",
                case,
                impl,
                [stats["median_s"]],
                per=per,
                flops_per_s=rate,
                shape=f"({B} x {D}) @ ({D} x {C})" if case.startswith("thin") else f"{n} x {n} x {n}",
            )
        )
    for (case, impl), fn in bandwidth.items():
        stats = timing.median_time(fn, repeats=cfg["call_rounds"], warmup=2)
        rates[(case, impl)] = big.nbytes / stats["median_s"]
        rows.append(
            row(
                "ceilings",
                case,
                impl,
                [stats["median_s"]],
                bytes_per_s=big.nbytes / stats["median_s"],
                shape=f"sum of {big.nbytes / 2**20:.0f} MB",
            )
        )

    def best(libraries):
        return {
            "flops_per_s": max(v for (c, lib), v in rates.items() if c == "square matmul" and lib in libraries),
            "bytes_per_s": max(v for (c, lib), v in rates.items() if c == "read bandwidth" and lib in libraries),
            "thin_flops_per_s": max(v for (c, lib), v in rates.items() if c == "thin matmul" and lib in libraries),
        }

    if jax.default_backend() == "cpu":
        # One machine: its ceiling is the best any library reached on it.
        device = host = best({"jax", "numpy", "torch"})
    else:  # JAX (and PyTorch) on the accelerator, NumPy on the host
        device, host = best({"jax", "torch"}), best({"numpy"})
    return {"rows": rows, "ceilings": {**device, "host": host}}


def host_ceilings(ceil):
    """The ceilings of the CPU, where NumPy and scikit-learn run (``ceil`` itself on a CPU run)."""
    return ceil.get("host", ceil)


def _on_host(impl: str) -> bool:
    return impl.startswith(("numpy", "sklearn"))


# ---------------------------------------------------------------------------
# 2. Loss + gradient per call
# ---------------------------------------------------------------------------


def loss_grad_per_call(cfg, X, y, W0, ceil, torch_device):
    """One loss-and-gradient evaluation at batch 200 and at N: JAX (jax.grad, hand-derived), NumPy, PyTorch."""
    rows, checks = [], []
    D, C = cfg["D"], cfg["C"]
    Wj = jax.device_put(W0)
    for loss in ("svm", "softmax"):
        for n in (cfg["batch"], cfg["N"]):
            Xn, yn = X[:n], y[:n]
            Xj, yj = jax.device_put(Xn), jax.device_put(yn)
            impls, compile_s, outs = {}, {}, {}
            for name, fn in (
                ("jax value_and_grad", jax.value_and_grad(partial(LOSSES[loss], reg=REG))),
                ("jax hand-derived", partial(HAND_DERIVED[loss], reg=REG)),
            ):
                start = time.perf_counter()
                compiled = jax.jit(fn).lower(Wj, Xj, yj).compile()
                compile_s[name] = time.perf_counter() - start
                impls[name] = partial(compiled, Wj, Xj, yj)
            W_DxC = np.ascontiguousarray(W0.T)
            impls["numpy (CS231n)"] = partial(baselines.NUMPY_LOSS_GRAD[loss], W_DxC, Xn, yn, REG)
            if torch_device is not None:
                import torch

                Xt = torch.as_tensor(Xn, device=torch_device)
                yt = torch.as_tensor(yn.astype(np.int64), device=torch_device)
                Wt = torch.as_tensor(W0, device=torch_device)
                torch_fn = baselines.torch_loss_grad(loss, torch_device)
                sync = torch.cuda.synchronize if torch_device == "cuda" else (lambda: None)

                def torch_call(torch_fn=torch_fn, Xt=Xt, yt=yt, Wt=Wt, sync=sync):
                    out = torch_fn(Wt, Xt, yt, REG)
                    sync()
                    return out

                impls["torch autograd"] = torch_call
            for name, fn in impls.items():
                value, grad = fn()
                grad = np.asarray(grad.cpu() if hasattr(grad, "cpu") else grad)
                outs[name] = (float(value), grad.T if name == "numpy (CS231n)" else grad)
            per = {name: calls_for(fn) for name, fn in impls.items()}
            times = timing.paired({name: repeat(fn, per[name]) for name, fn in impls.items()}, cfg["call_rounds"])
            flops, bytes_ = sgd_step_cost(n, D, C)
            for name in impls:
                floor = timing.roofline_floor(flops, bytes_, host_ceilings(ceil) if _on_host(name) else ceil)
                rows.append(
                    row(
                        "loss+grad",
                        f"{loss}, N={n}",
                        name,
                        times[name],
                        per=per[name],
                        floor_s=floor,
                        compile_s=compile_s.get(name),
                        speedup_vs_numpy=timing.paired_ratio(
                            {k: [t / per[k] for t in v] for k, v in times.items()}, "numpy (CS231n)", name
                        ),
                    )
                )
            ref_value, ref_grad = outs["numpy (CS231n)"]
            scale = float(np.max(np.abs(ref_grad)))
            for name, (value, grad) in outs.items():
                checks.append(
                    {
                        "case": f"{loss}, N={n}",
                        "impl": name,
                        "loss_rel_diff": abs(value - ref_value) / abs(ref_value),
                        "grad_max_diff_rel": float(np.max(np.abs(grad - ref_grad))) / scale,
                    }
                )
            del Xj, yj
    return {"rows": rows, "agreement": checks}


# ---------------------------------------------------------------------------
# 3. SGD training
# ---------------------------------------------------------------------------


def _engine(loss, Xj, yj, W0, cfg, steps, **kw):
    """A compiled engine run: ``(run(), compile_s, recompiles_on_second_call)``."""
    train = make_train(Run(LOSSES[loss], optax.sgd, batch_size=cfg["batch"], num_steps=steps, **kw), Xj, yj)
    key, W0 = jax.random.key(0), jnp.asarray(W0)
    with timing.CompileLog() as first:
        jax.block_until_ready(train(W0, key, LR, REG))
    with timing.CompileLog() as second:
        jax.block_until_ready(train(W0, key, LR, REG))
    return (lambda: train(W0, key, LR, REG).state.params), first.seconds, second.compiles


def _fit_run(loss, X, y, W0, cfg, steps):
    """``fit`` as a user calls it, on the host arrays (checks, placement, chunks included): ``(run(), compile_s)``."""
    run_, key = Run(LOSSES[loss], optax.sgd, batch_size=cfg["batch"], num_steps=steps), jax.random.key(0)

    def run():
        return fit(run_, W0, X, y, key=key, lr=LR, reg=REG, loop=Loop(progress=False)).params

    with timing.CompileLog() as log:
        jax.block_until_ready(run())
    return run, log.seconds


def sgd_training(cfg, X, y, W0, Xj, yj, ceil, torch_device):
    """``steps`` SGD steps of batch 200: the scan engine vs NumPy, PyTorch eager and SGDClassifier."""
    rows, targets, compiles = [], [], []
    steps, B, N, D, C = cfg["steps"], cfg["batch"], cfg["N"], cfg["D"], cfg["C"]
    flops, bytes_ = sgd_step_cost(B, D, C)
    step_floor = timing.roofline_floor(flops, bytes_, ceil)
    X64 = None
    for loss in ("svm", "softmax"):
        cases, compile_s = {}, {}
        engines = {"engine (scan, with replacement)": {}}
        if cfg["variants"]:
            engines["engine (scan, shuffle)"] = {"sampling": "shuffle"}
            engines["engine (scan, unroll 4)"] = {"unroll": 4}
        for name, kw in engines.items():
            run, compile_s[name], recompiles = _engine(loss, Xj, yj, W0, cfg, steps, **kw)
            cases[name] = run
            compiles.append(
                {"loss": loss, "impl": name, "compile_s": compile_s[name], "recompiles_on_second_call": recompiles}
            )
        fit_case = "engine (fit, host arrays)"
        cases[fit_case], compile_s[fit_case] = _fit_run(loss, X, y, W0, cfg, steps)
        cases["numpy loop (CS231n)"] = partial(
            baselines.numpy_train, loss, W0, X, y, learning_rate=LR, reg=REG, num_iters=steps, batch_size=B
        )
        baselines.numpy_train(loss, W0, X, y, learning_rate=LR, reg=REG, num_iters=3, batch_size=B)  # warm-up
        if torch_device is not None:
            import torch

            Xt = torch.as_tensor(X, device=torch_device)
            yt = torch.as_tensor(y.astype(np.int64), device=torch_device)
            sync = torch.cuda.synchronize if torch_device == "cuda" else None
            cases["torch eager loop"] = partial(
                baselines.torch_train,
                loss,
                W0,
                Xt,
                yt,
                learning_rate=LR,
                reg=REG,
                num_iters=steps,
                batch_size=B,
                device=torch_device,
                sync=sync,
            )
            jax.block_until_ready(
                partial(
                    baselines.torch_train,
                    loss,
                    W0,
                    Xt,
                    yt,
                    learning_rate=LR,
                    reg=REG,
                    num_iters=3,
                    batch_size=B,
                    device=torch_device,
                    sync=sync,
                )()
            )
        times = timing.paired(cases, cfg["train_rounds"])
        main = "engine (scan, with replacement)"
        host_floor = timing.roofline_floor(flops, bytes_, host_ceilings(ceil))
        for name in cases:
            floor = (host_floor if _on_host(name) else step_floor) * steps
            rows.append(
                row(
                    "sgd",
                    f"{loss}, {steps} steps of {B}",
                    name,
                    times[name],
                    floor_s=floor,
                    compile_s=compile_s.get(name),
                    examples_per_s=steps * B / statistics.median(times[name]),
                    step_us=statistics.median(times[name]) / steps * 1e6,
                    engine_speedup=timing.paired_ratio(times, name, main),
                )
            )
        # scikit-learn: per-example SGD over about as many examples (whole epochs).
        if X64 is None:
            X64 = X.astype(np.float64)
        epochs = cfg["sk_epochs"]
        clf = baselines.sklearn_classifier(
            loss, learning_rate=LR, reg=REG, batch_size=B, epochs=epochs, n_jobs=cfg["n_jobs"]
        )
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached: that is the point
            sk_s = timing.timed(lambda clf=clf, X64=X64: clf.fit(X64, y))[0]
        sk_flops = epochs * N * 4.0 * D * C  # a dot and an update of D per class per example
        sk_floor = timing.roofline_floor(sk_flops, epochs * N * D * 8.0, host_ceilings(ceil))
        rows.append(
            row(
                "sgd",
                f"{loss}, {steps} steps of {B}",
                "sklearn SGDClassifier (float64, OvR)",
                [sk_s],
                floor_s=sk_floor,
                examples_per_s=epochs * N / sk_s,
                note=f"{epochs} epoch(s) = {epochs * N} examples, n_jobs={cfg['n_jobs']}",
            )
        )
        engine_eps = steps * B / statistics.median(times[main])
        ratios = {name: timing.paired_ratio(times, name, main) for name in cases}
        targets.append(
            target(
                f"SGD {loss}: engine vs NumPy loop",
                ratios["numpy loop (CS231n)"],
                3,
                ratios["numpy loop (CS231n)"] >= 3,
            )
        )
        fit_vs_numpy = timing.paired_ratio(times, "numpy loop (CS231n)", "engine (fit, host arrays)")
        targets.append(target(f"SGD {loss}: fit vs NumPy loop", fit_vs_numpy, 1.7, fit_vs_numpy >= 1.7))
        overhead = ratios["engine (fit, host arrays)"]  # fit's time over the bare compiled run's, paired
        targets.append(
            target(
                f"SGD {loss}: fit / bare make_train (engine overhead)", overhead, 1.05, overhead <= 1.05, unit="x time"
            )
        )
        if "torch eager loop" in ratios:
            targets.append(
                target(
                    f"SGD {loss}: engine vs PyTorch eager",
                    ratios["torch eager loop"],
                    4,
                    ratios["torch eager loop"] >= 4,
                )
            )
        sk_ratio = engine_eps / (epochs * N / sk_s)
        targets.append(target(f"SGD {loss}: engine vs SGDClassifier (examples/s)", sk_ratio, 15, sk_ratio >= 15))
        step_s = statistics.median(times[main]) / steps
        targets.append(
            target(
                f"SGD {loss}: engine step / roofline floor",
                step_s / step_floor,
                4,
                step_s / step_floor <= 4,
                unit="x floor",
                note=f"{step_s * 1e6:.0f} us per step, floor {step_floor * 1e6:.0f} us",
            )
        )
    for c in compiles:
        if c["impl"].endswith("with replacement)"):
            targets.append(
                target(
                    f"compile of the training function ({c['loss']})", c["compile_s"], 2, c["compile_s"] < 2, unit="s"
                )
            )
            targets.append(
                target(
                    f"recompiles on a second call ({c['loss']})",
                    c["recompiles_on_second_call"],
                    0,
                    c["recompiles_on_second_call"] == 0,
                    unit="",
                )
            )
    return {"rows": rows, "targets": targets, "compiles": compiles, "step_floor_s": step_floor}


# ---------------------------------------------------------------------------
# 4. Time to accuracy on CIFAR-10
# ---------------------------------------------------------------------------


def time_to_accuracy(cfg, splits):
    """Wall-clock seconds (compile included) until TARGET_ACCURACY on val, the CS231n SVM recipe."""
    import warnings

    X, y, X_val, y_val = splits.train.X, splits.train.y, splits.val.X, splits.val.y
    N, B, every, steps = len(y), cfg["batch"], cfg["tta_eval_every"], cfg["tta_steps"]
    key, init_key = jax.random.split(jax.random.key(0))
    W0 = np.asarray(1e-3 * jax.random.normal(init_key, (splits.num_classes, splits.dim)))
    rows, results = [], {}

    # The engine: fit() on the host arrays, as a user calls it (validation, transfer and compile included).
    stamps = []
    loss_fn = partial(svm_loss)  # a new function object: compiled afresh, inside the timer
    with timing.CompileLog() as log:
        start = time.perf_counter()
        loop = Loop(
            chunk_size=every,
            progress=False,
            on_chunk=lambda state, metrics: stamps.append((int(state.step), time.perf_counter())),
        )
        result = fit(
            Run(loss_fn, optax.sgd, batch_size=B, num_steps=steps, eval_every=every),
            W0,
            X,
            y,
            key=key,
            lr=LR,
            reg=REG,
            X_val=X_val,
            y_val=y_val,
            loop=loop,
        )
    at = dict(stamps)
    reached = [
        (int(s), float(a)) for s, a in zip(result.val_steps, result.val_accuracies, strict=True) if a >= TARGET_ACCURACY
    ]
    results[f"engine (fit, chunks of {every})"] = {
        "seconds": at[reached[0][0]] - start if reached else None,
        "step": reached[0][0] if reached else None,
        "compile_s": log.seconds,
        "final_val_accuracy": float(result.val_accuracies[-1]),
        "examples": reached[0][0] * B if reached else None,
        "max_examples": steps * B,
    }

    # The NumPy loop: the same recipe and evaluation interval.
    hit = {}

    def numpy_callback(step, acc):
        hit.setdefault("last", acc)
        hit["last"] = acc
        if acc >= TARGET_ACCURACY:
            hit.update(step=step, t=time.perf_counter())
            return True
        return False

    start = time.perf_counter()
    baselines.numpy_train(
        "svm",
        W0,
        X,
        y,
        learning_rate=LR,
        reg=REG,
        num_iters=steps,
        batch_size=B,
        X_val=X_val,
        y_val=y_val,
        eval_every=every,
        callback=numpy_callback,
    )
    results["numpy loop (CS231n)"] = {
        "seconds": hit["t"] - start if "t" in hit else None,
        "step": hit.get("step"),
        "compile_s": None,
        "final_val_accuracy": hit.get("last"),
        "examples": hit["step"] * B if "step" in hit else None,
        "max_examples": steps * B,
    }

    # SGDClassifier: the recipe translated to per-example SGD, scored every `every * B` examples.
    clf = baselines.sklearn_classifier("svm", learning_rate=LR, reg=REG, batch_size=B, n_jobs=cfg["n_jobs"])
    start = time.perf_counter()
    X64 = X.astype(np.float64)  # scikit-learn's SGD works in float64: its conversion is part of its time
    block = every * B
    seen, sk = 0, {"seconds": None, "step": None, "final_val_accuracy": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(cfg["sk_tta_epochs"]):
            for lo in range(0, N, block):
                clf.partial_fit(X64[lo : lo + block], y[lo : lo + block], classes=np.arange(splits.num_classes))
                seen += min(block, N - lo)
                acc = float(clf.score(X_val, y_val))
                sk["final_val_accuracy"] = acc
                if acc >= TARGET_ACCURACY:
                    sk.update(seconds=time.perf_counter() - start, examples=seen)
                    break
            if sk["seconds"] is not None:
                break
    sk.update(compile_s=None, max_examples=cfg["sk_tta_epochs"] * N, elapsed_s=time.perf_counter() - start)
    sk.setdefault("examples", None)
    results["sklearn SGDClassifier (float64, OvR)"] = sk
    del X64

    for name, r in results.items():
        rows.append(
            {
                "section": "time to accuracy",
                "case": f"CIFAR-10 val >= {TARGET_ACCURACY:.0%}",
                "impl": name,
                "median_s": r["seconds"],
                "compile_s": r["compile_s"],
                "floor_s": None,
                "roofline_fraction": None,
                **{k: v for k, v in r.items() if k not in ("seconds", "compile_s")},
            }
        )
    engine_s = results[f"engine (fit, chunks of {every})"]["seconds"]
    np_s, sk_s = results["numpy loop (CS231n)"]["seconds"], sk["seconds"]
    targets = []
    if engine_s is None:
        targets.append(
            target("time to 37%: engine", None, "reached", False, unit="", note=f"not reached in {steps} steps")
        )
    else:
        targets.append(
            target(
                "time to 37%: engine vs NumPy loop",
                None if np_s is None else np_s / engine_s,
                1,
                np_s is None or np_s > engine_s,
                note="NumPy never reached it" if np_s is None else "",
            )
        )
        sk_note = (
            (
                f"SGDClassifier never reached it in {cfg['sk_tta_epochs']} epoch(s) "
                f"({sk['elapsed_s']:.1f} s, last val {sk['final_val_accuracy']:.3f})"
            )
            if sk_s is None
            else ""
        )
        targets.append(
            target(
                "time to 37%: engine vs SGDClassifier",
                None if sk_s is None else sk_s / engine_s,
                10,
                sk_s is None or sk_s / engine_s >= 10,
                note=sk_note,
            )
        )
    return {"rows": rows, "targets": targets}


# ---------------------------------------------------------------------------
# 5. Sweeps
# ---------------------------------------------------------------------------


def sweeps(cfg, X, y, W0, Xj, yj, ceil):
    """16 models (4 lr x 4 reg): one vmapped call vs 16 sequential engine runs vs 16 NumPy runs."""
    steps, B, D, C = cfg["sweep_steps"], cfg["batch"], cfg["D"], cfg["C"]
    grid = [(lr, reg) for lr in SWEEP_LRS for reg in SWEEP_REGS]
    key, W0j = jax.random.key(0), jnp.asarray(W0)

    def vmapped():
        return sweep(
            run, W0j, Xj, yj, key=key, learning_rates=SWEEP_LRS, regs=SWEEP_REGS, loop=Loop(progress=False)
        ).params

    run = Run(svm_loss, optax.sgd, batch_size=B, num_steps=steps)
    train = make_train(run, Xj, yj)

    def sequential():
        return [train(W0j, key, lr, reg).state.params for lr, reg in grid]

    def numpy_runs():
        return [
            baselines.numpy_train("svm", W0, X, y, learning_rate=lr, reg=reg, num_iters=steps, batch_size=B)[0]
            for lr, reg in grid
        ]

    compile_s = {}
    for name, fn in (("engine sweep (vmap, 16 models)", vmapped), ("engine, 16 sequential runs", sequential)):
        with timing.CompileLog() as log:
            out = jax.block_until_ready(fn())
        compile_s[name] = log.seconds
        if name.startswith("engine sweep"):
            swept = np.asarray(out).reshape(len(grid), C, D)
        else:
            seq = np.stack([np.asarray(p) for p in out])
    agreement = float(np.max(np.abs(swept - seq)) / np.max(np.abs(seq)))
    cases = {
        "engine sweep (vmap, 16 models)": vmapped,
        "engine, 16 sequential runs": sequential,
        "numpy loop (CS231n), 16 runs": numpy_runs,
    }
    times = timing.paired(cases, cfg["sweep_rounds"])
    flops1, bytes1 = sgd_step_cost(B, D, C)
    flops16, bytes16 = sgd_step_cost(B, D, C, models=len(grid))
    floors = {"engine sweep (vmap, 16 models)": steps * timing.roofline_floor(flops16, bytes16, ceil)}
    for name in ("engine, 16 sequential runs", "numpy loop (CS231n), 16 runs"):
        floors[name] = (
            len(grid) * steps * timing.roofline_floor(flops1, bytes1, host_ceilings(ceil) if _on_host(name) else ceil)
        )
    rows = [
        row(
            "sweep",
            f"16 models x {steps} steps of {B}",
            name,
            times[name],
            floor_s=floors[name],
            compile_s=compile_s.get(name),
            sweep_speedup=timing.paired_ratio(times, name, "engine sweep (vmap, 16 models)"),
        )
        for name in cases
    ]
    r_seq = timing.paired_ratio(times, "engine, 16 sequential runs", "engine sweep (vmap, 16 models)")
    r_np = timing.paired_ratio(times, "numpy loop (CS231n), 16 runs", "engine sweep (vmap, 16 models)")
    targets = [
        target("sweep vs 16 sequential engine runs", r_seq, 3, r_seq >= 3),
        target("sweep vs 16 NumPy runs", r_np, 6, r_np >= 6),
    ]
    return {"rows": rows, "targets": targets, "sweep_vs_sequential_max_rel_diff": agreement}


# ---------------------------------------------------------------------------
# 6. Numerical gradient
# ---------------------------------------------------------------------------


def numerical_gradient(cfg):
    """``benchmarks/bench_gradcheck.run``: generic vmapped and score-structured vs the coordinate loop.

    Its quick form (the SVM, forward differences, one chunk size each) in every mode: the full
    form's chunk-size study takes several minutes on 2 cores and is
    ``benchmarks/bench_gradcheck.py``'s own output (``results_gradcheck.json``).
    """
    import bench_gradcheck

    result = bench_gradcheck.run(quick=cfg["gradcheck_quick"])
    rows, targets = [], []
    for r in result["results"]:
        rows.append(
            {
                "section": "numerical gradient",
                "case": f"{r['loss']} {r['method']}, W 10x3073, N=500",
                "impl": r["implementation"],
                "median_s": r["run_s"],
                "compile_s": r["compile_s"],
                "floor_s": None,
                "roofline_fraction": None,
                "speedup_vs_loop": r["speedup"],
                "extrapolated_from": r.get("extrapolated_from"),
            }
        )
    for name, goal in result["targets"]["speedup_over_loop"].items():
        worst = min(r["speedup"] for r in result["results"] if r["implementation"] == name)
        targets.append(target(f"numerical gradient: {name} vs loop (worst case)", worst, goal, worst >= goal))
    return {"rows": rows, "targets": targets, "raw": result}


# ---------------------------------------------------------------------------
# 7. Memory
# ---------------------------------------------------------------------------


def memory(cfg, cifar_root):
    """Peak resident memory of a full CIFAR-10 training run, in a subprocess of its own."""
    cmd = [sys.executable, str(HERE / "memory_run.py"), str(cifar_root), "--steps", str(cfg["memory_steps"])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    matrix = result["train_matrix_mb"]
    imports = next(p for p in result["phases"] if p["phase"] == "imports")["rss_mb"]
    ratio = result["peak_mb"] / matrix
    rows = [
        {
            "section": "memory",
            "case": f"CIFAR-10 training, {cfg['memory_steps']} steps",
            "impl": "engine (fit)",
            "median_s": None,
            "compile_s": None,
            "floor_s": None,
            "roofline_fraction": None,
            "peak_mb": result["peak_mb"],
            "train_matrix_mb": matrix,
            "peak_over_matrix": ratio,
            "runtime_baseline_mb": imports,
            "peak_over_matrix_without_runtime": (result["peak_mb"] - imports) / matrix,
            "phases": result["phases"],
            "train_matrix_aligned_64": result["train_matrix_aligned_64"],
        }
    ]
    targets = [
        target(
            "peak memory / float32 training matrix",
            ratio,
            1.5,
            ratio <= 1.5,
            unit="x",
            note=f"peak {result['peak_mb']:.0f} MB, matrix {matrix:.0f} MB, runtime alone {imports:.0f} MB",
        )
    ]
    return {"rows": rows, "targets": targets, "raw": result}
