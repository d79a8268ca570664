"""The benchmark suite: the training engine against NumPy (CS231n), PyTorch and scikit-learn.

Every comparison runs in the same process and the same run, on CIFAR-shaped
float32 data (N = 49000, D = 3073, C = 10) and, where it applies, on the real
CIFAR-10 copy:

1. ceilings -- measured float32 matmul rate (the thin (200 x 3073) @ (3073 x 10)
   product and a large square one) and memory bandwidth; every later time is
   also given as a fraction of its roofline floor ``max(flops / rate, bytes / bandwidth)``;
2. loss + gradient per call at batch 200 and at N: JAX (``value_and_grad``
   and the hand-derived gradients), NumPy (CS231n, vectorized), PyTorch;
3. SGD training, 1500 steps of batch 200, SVM and softmax: the scan engine,
   CS231n's NumPy loop, a PyTorch eager loop, scikit-learn's ``SGDClassifier``;
4. time to 37 % validation accuracy on CIFAR-10 (compile included);
5. a 16-model sweep in one vmapped call vs 16 sequential runs;
6. the numerical gradient (``benchmarks/bench_gradcheck.py``);
7. peak memory of a full CIFAR-10 training run (a subprocess).

Timing: medians over rounds in which all competitors run back to back (the
machine is shared); speed-ups are medians of per-round ratios; compile time
is reported apart; every JAX call is wrapped in ``jax.block_until_ready``.

NumPy: this machine may set ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, which
can slow OpenBLAS down; the suite removes both from its own environment
before NumPy is imported and records which BLAS kernel then runs
(threadpoolctl) and what was removed.

Usage::

    make bench                                  # = .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --quick  # same shapes, fewer steps and rounds (~2 min)
    .venv/bin/python benchmarks/run.py --smoke  # a tiny problem, for the tests (seconds)
    .venv/bin/python benchmarks/run.py --device gpu   # the same suite with JAX and PyTorch on a GPU

A full run writes ``benchmarks/results.json`` (``--out`` elsewhere; quick and
smoke runs write only with ``--out``) and prints markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.json"
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SECTIONS = ("ceilings", "loss_grad", "sgd", "time_to_accuracy", "sweep", "gradcheck", "memory")
NO_GPU_MESSAGE = (
    "--device gpu: JAX sees no GPU here (its devices: {devices}). Run the suite on a machine with a CUDA GPU "
    "and a CUDA build of jaxlib (pip install -U 'jax[cuda12]'), or use --device cpu."
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the same shapes, fewer steps and rounds")
    mode.add_argument("--smoke", action="store_true", help="a tiny problem: checks that everything runs")
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where JAX and PyTorch run (NumPy and scikit-learn always on the CPU)",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None, help="run only these sections")
    parser.add_argument(
        "--cores",
        type=int,
        default=None,
        help="pin the suite to this many cores and give every library that many threads "
        "(default: the libraries' own defaults on all cores); --cores 1 compares one core "
        "against one core, which holds up better on a shared machine",
    )
    parser.add_argument(
        "--cifar-root",
        default=None,
        help="folder holding cifar-10-batches-py/ (default: $JAXOPT_COURSE_CACHE/cifar10 or "
        ".cache/cifar10, built from ../shared when missing); sections 4 and 7 skip without it",
    )
    parser.add_argument("--out", default=None, help=f"where to write the JSON (default: {RESULTS.name} for a full run)")
    parser.add_argument(
        "--from-json", default=None, metavar="PATH", help="measure nothing: print the tables of an earlier run's JSON"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="print the README's short form (machine, SGD, time to accuracy, sweep, targets)",
    )
    return parser.parse_args(argv)


THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def prepare_environment(device: str, cores: int | None = None) -> dict:
    """Before NumPy and JAX are imported: drop the OpenBLAS overrides, pin JAX's platform.

    With ``cores``, the process is pinned to that many cores (XLA sizes its
    thread pool from the affinity mask) and OpenMP, OpenBLAS and MKL get as
    many threads. Returns the removed variables and their values (recorded in
    the results).
    """
    removed = {name: os.environ.pop(name) for name in BLAS_ENV if name in os.environ}
    if device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    if cores is not None:
        available = sorted(os.sched_getaffinity(0))
        if not 1 <= cores <= len(available):
            raise SystemExit(f"--cores must be between 1 and {len(available)} (the cores available), got {cores}")
        os.sched_setaffinity(0, available[:cores])
        for name in THREAD_ENV:
            os.environ[name] = str(cores)
    return removed


def find_cifar(root) -> Path | None:
    """The CIFAR-10 folder, building it from ``../shared`` (as the tests do) when missing."""
    if root is not None:
        return Path(root)
    cache = Path(os.environ.get("JAXOPT_COURSE_CACHE", REPO / ".cache")) / "cifar10"
    if (cache / "cifar-10-batches-py" / "test_batch").is_file():
        return cache
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from conftest import build_cifar10  # the tests' builder: JPEG copy -> official batches

        return build_cifar10()
    except Exception:  # no pytest, no ../shared: the CIFAR sections skip
        return None
    finally:
        sys.path.remove(str(REPO / "tests"))


def machine_info(device: str, removed_env: dict, torch_device) -> dict:
    import jax
    import numpy as np
    import sklearn
    import threadpoolctl

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            mem_gb = int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 2**20
    except (OSError, StopIteration):
        mem_gb = None
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cores_used": len(os.sched_getaffinity(0)),
        "memory_gib": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "device": device,
        "openblas_env_removed": removed_env,
        "blas": [
            {
                k: lib.get(k)
                for k in ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix", "filepath")
            }
            for lib in threadpoolctl.threadpool_info()
        ],
        "thread_env": {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS") or k.startswith("OMP_")},
        "load_average_before": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if torch_device is not None:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(), torch_device=torch_device)
        if torch_device == "cuda":
            info["torch_device_name"] = torch.cuda.get_device_name()
    return info


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def fmt_s(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_x(value, digits=1) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def fmt_pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def machine_line(m: dict) -> str:
    numpy_blas = [b for b in m["blas"] if b.get("user_api") == "blas" and "numpy" in (b.get("filepath") or "")]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']} kernel, {b['num_threads']} threads)"
        for b in numpy_blas or [b for b in m["blas"] if b.get("user_api") == "blas"]
    )
    torch = f", PyTorch {m['torch']} ({m['torch_threads']} threads)" if "torch" in m else ", no PyTorch"
    mem = f", {m['memory_gib']:.0f} GiB" if m.get("memory_gib") else ""
    pinned = f", pinned to {m['cores_used']}" if m.get("cores_used", m["cpu_count"]) != m["cpu_count"] else ""
    return (
        f"{m['cpu']} ({m['cpu_count']} cores{pinned}{mem}), JAX {m['jax']} on {m['jax_backend']} "
        f"({m['device_kind']}), NumPy {m['numpy']} with {blas}{torch}, scikit-learn {m['scikit_learn']}; "
        f"load average {m['load_average_before'][0]:.1f} at the start; {m['date']}"
    )


SECTION_TITLES = {
    "ceilings": "1. Ceilings (float32)",
    "loss_grad": "2. Loss + gradient, one call",
    "sgd": "3. SGD training",
    "time_to_accuracy": "4. Time to 37 % validation accuracy, CIFAR-10 (CS231n SVM recipe, compile included)",
    "sweep": "5. Sweep: 16 models (4 learning rates x 4 regs)",
    "gradcheck": "6. Numerical gradient of W (10 x 3073), 500 examples",
    "memory": "7. Peak memory, full CIFAR-10 training run",
}


def section_table(name: str, section: dict) -> list[str]:
    rows = section.get("rows", [])
    if name == "ceilings":
        lines = ["| measurement | library | shape | median | rate |", "|---|---|---|---:|---:|"]
        for r in rows:
            rate = (
                f"{r['flops_per_s'] / 1e9:.0f} GFLOP/s" if "flops_per_s" in r else f"{r['bytes_per_s'] / 1e9:.1f} GB/s"
            )
            lines.append(f"| {r['case']} | {r['impl']} | {r['shape']} | {fmt_s(r['median_s'])} | {rate} |")
        c = section["ceilings"]
        lines += [
            "",
            f"Roofline ceilings used below: {c['flops_per_s'] / 1e9:.0f} GFLOP/s (best square matmul), "
            f"{c['bytes_per_s'] / 1e9:.1f} GB/s (best read bandwidth); the thin product reaches "
            f"{c['thin_flops_per_s'] / 1e9:.0f} GFLOP/s at best.",
        ]
        if c.get("host") is not None and c["host"] != {k: c[k] for k in c["host"]}:
            h = c["host"]
            lines.append(
                f"On the host (NumPy, scikit-learn rows): {h['flops_per_s'] / 1e9:.0f} GFLOP/s, "
                f"{h['bytes_per_s'] / 1e9:.1f} GB/s."
            )
        return lines
    if name == "loss_grad":
        lines = [
            "| case | implementation | median per call | compile | speed-up vs NumPy (paired) | of roofline |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['case']} | {r['impl']} | {fmt_s(r['median_s'])} | {fmt_s(r['compile_s'])} | "
                f"{fmt_x(r['speedup_vs_numpy'], 2)} | {fmt_pct(r['roofline_fraction'])} |"
            )
        return lines
    if name == "sgd":
        lines = [
            "| case | implementation | median (run) | per step | compile | examples/s | engine's speed-up "
            "over it (paired) | of roofline |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            step = f"{r['step_us']:.0f} us" if r.get("step_us") else "-"
            lines.append(
                f"| {r['case']} | {r['impl']} | {fmt_s(r['median_s'])} | {step} | {fmt_s(r['compile_s'])} | "
                f"{r['examples_per_s']:,.0f} | {fmt_x(r.get('engine_speedup'), 2)} | "
                f"{fmt_pct(r['roofline_fraction'])} |"
            )
        return lines
    if name == "time_to_accuracy":
        lines = [
            "| implementation | time to 37 % | of which compile | examples seen then | last val accuracy |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            reached = fmt_s(r["median_s"]) if r["median_s"] is not None else f"not reached ({r['max_examples']:,} ex.)"
            seen = f"{r['examples']:,}" if r.get("examples") else "-"
            acc = "-" if r.get("final_val_accuracy") is None else f"{r['final_val_accuracy']:.3f}"
            lines.append(f"| {r['impl']} | {reached} | {fmt_s(r['compile_s'])} | {seen} | {acc} |")
        return lines
    if name == "sweep":
        lines = [
            "| implementation | median | compile | sweep's speed-up over it (paired) | of roofline |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['impl']} | {fmt_s(r['median_s'])} | {fmt_s(r['compile_s'])} | "
                f"{fmt_x(r['sweep_speedup'], 2)} | {fmt_pct(r['roofline_fraction'])} |"
            )
        return lines
    if name == "gradcheck":
        lines = ["| case | implementation | median | compile | speed-up vs loop |", "|---|---|---:|---:|---:|"]
        for r in rows:
            extra = f" (from {r['extrapolated_from']} coords)" if r.get("extrapolated_from") else ""
            lines.append(
                f"| {r['case']} | {r['impl']} | {fmt_s(r['median_s'])}{extra} | {fmt_s(r['compile_s'])} | "
                f"{fmt_x(r['speedup_vs_loop'])} |"
            )
        return lines
    if name == "memory":
        lines = [
            "| run | peak RSS | float32 train matrix | peak / matrix | runtime alone (JAX imported) | "
            "(peak - runtime) / matrix |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['case']} | {r['peak_mb']:.0f} MB | {r['train_matrix_mb']:.0f} MB | "
                f"{r['peak_over_matrix']:.2f}x | {r['runtime_baseline_mb']:.0f} MB | "
                f"{r['peak_over_matrix_without_runtime']:.2f}x |"
            )
            lines.append("")
            lines.append(
                "Phases (RSS / high-water mark, MB): "
                + ", ".join(f"{p['phase']} {p['rss_mb']:.0f}/{p['peak_mb']:.0f}" for p in r["phases"])
            )
        return lines
    return []


def targets_table(results: dict) -> list[str]:
    lines = ["| target | goal | measured | met | note |", "|---|---:|---:|:---:|---|"]
    for name in SECTIONS:
        for t in results["sections"].get(name, {}).get("targets", []):
            if t["unit"] == "x":
                goal, measured = f">= {t['goal']}x", fmt_x(t["measured"], 2)
            elif t["unit"] == "x floor":
                goal, measured = f"<= {t['goal']}x floor", fmt_x(t["measured"], 2)
            elif t["unit"] == "x time":  # a time ratio that must stay small (overhead)
                goal, measured = f"<= {t['goal']}x", fmt_x(t["measured"], 3)
            elif t["unit"] == "s":
                goal, measured = f"< {t['goal']} s", fmt_s(t["measured"])
            else:
                goal, measured = str(t["goal"]), "-" if t["measured"] is None else str(t["measured"])
            if name == "memory":
                goal = f"<= {t['goal']}x"
            lines.append(f"| {t['name']} | {goal} | {measured} | {'yes' if t['met'] else 'NO'} | {t['note']} |")
    return lines


def readme_markdown(results: dict) -> str:
    """The README's short form: the machine, the headline tables and the targets."""
    m = results["machine"]
    load = f"load average {m.get('load_average_after', [float('nan')])[0]:.1f} at the end"
    flags = {"full": [], "quick": ["--quick"], "smoke": ["--smoke"]}[results["mode"]]
    if m.get("cores_used", m["cpu_count"]) != m["cpu_count"]:
        flags.append(f"--cores {m['cores_used']}")
    if m["device"] != "cpu":
        flags.append(f"--device {m['device']}")
    command = "make bench" if not flags else "benchmarks/run.py " + " ".join(flags)
    out = [f"From `{command}` ({results['wall_s']:.0f} s) on: {machine_line(m)}; {load}.", ""]
    for name in ("sgd", "time_to_accuracy", "sweep"):
        section = results["sections"].get(name)
        if section and "rows" in section:
            out += [f"**{SECTION_TITLES[name]}**", ""] + section_table(name, section) + [""]
    out += ["**Targets**", ""] + targets_table(results)
    return "\n".join(out)


def markdown(results: dict) -> str:
    out = [f"Machine: {machine_line(results['machine'])}.", ""]
    out.append(
        f"Mode `{results['mode']}`, problem N = {results['config']['N']}, D = {results['config']['D']}, "
        f"C = {results['config']['C']}, batch {results['config']['batch']}; total wall time "
        f"{results['wall_s']:.0f} s."
    )
    for name in SECTIONS:
        section = results["sections"].get(name)
        if section is None:
            continue
        out += ["", f"### {SECTION_TITLES[name]}", ""]
        if "skipped" in section:
            out.append(f"Skipped: {section['skipped']}")
            continue
        if "error" in section:
            out.append(f"FAILED: {section['error']}")
            continue
        out += section_table(name, section)
    out += ["", "### Targets", ""] + targets_table(results)
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        print(readme_markdown(results) if args.readme else markdown(results))
        return 0
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    removed_env = prepare_environment(args.device, args.cores)
    sys.path.insert(0, str(HERE))

    import jax

    if args.device == "gpu" and jax.default_backend() != "gpu":
        print(NO_GPU_MESSAGE.format(devices=[str(d) for d in jax.devices()]), file=sys.stderr)
        return 2

    try:
        import torch

        torch_device = "cuda" if args.device == "gpu" else "cpu"
        if torch_device == "cuda" and not torch.cuda.is_available():
            torch_device = None  # a CPU build of PyTorch: its rows are left out
    except ImportError:
        torch_device = None

    import suite

    start = time.perf_counter()
    cfg = dict(suite.MODES[mode], n_jobs=len(os.sched_getaffinity(0)))
    only = set(args.only or SECTIONS)
    results = {
        "benchmark": "jaxopt-course suite",
        "mode": mode,
        "config": cfg,
        "machine": machine_info(args.device, removed_env, torch_device),
        "sections": {},
    }
    print(f"[bench] {mode} run on {results['machine']['cpu']}, JAX {jax.default_backend()}", file=sys.stderr)
    cifar_root = find_cifar(args.cifar_root) if mode != "smoke" and only & {"time_to_accuracy", "memory"} else None

    X, y, W0 = suite.cifar_shaped(cfg)
    Xj, yj = jax.device_put(X), jax.device_put(y)
    ceil = None
    failed = False

    def section(name, fn):
        nonlocal failed
        if name not in only:
            return None
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            out = fn()
        except Exception as err:  # record it, go on with the others, fail at the end
            traceback.print_exc()
            failed = True
            out = {"error": f"{type(err).__name__}: {err}", "targets": []}
        out["wall_s"] = time.perf_counter() - t0
        results["sections"][name] = out
        print(f"[bench] {name} done in {out['wall_s']:.1f} s", file=sys.stderr, flush=True)
        return out

    ceil_section = section("ceilings", lambda: suite.ceilings(cfg, torch_device)) or suite.ceilings(
        dict(cfg, call_rounds=3), None
    )
    ceil = ceil_section.get("ceilings") or {"flops_per_s": float("nan"), "bytes_per_s": float("nan")}
    results["ceilings"] = ceil
    section("loss_grad", lambda: suite.loss_grad_per_call(cfg, X, y, W0, ceil, torch_device))
    section("sgd", lambda: suite.sgd_training(cfg, X, y, W0, Xj, yj, ceil, torch_device))
    if mode == "smoke" or cifar_root is None:
        for name in ("time_to_accuracy", "memory"):
            if name in only:
                results["sections"][name] = {
                    "skipped": "no CIFAR-10 copy" if mode != "smoke" else "smoke run",
                    "targets": [],
                }
    else:
        from jaxopt_course import load_cifar10

        def tta():
            splits = load_cifar10(cifar_root)
            return suite.time_to_accuracy(cfg, splits)

        section("time_to_accuracy", tta)
    section("sweep", lambda: suite.sweeps(cfg, X, y, W0, Xj, yj, ceil))
    if cfg["gradcheck_quick"] is None:
        if "gradcheck" in only:
            results["sections"]["gradcheck"] = {"skipped": "smoke run", "targets": []}
    elif not (HERE / "bench_gradcheck.py").is_file():
        if "gradcheck" in only:
            results["sections"]["gradcheck"] = {"skipped": "benchmarks/bench_gradcheck.py is absent", "targets": []}
    else:
        section("gradcheck", lambda: suite.numerical_gradient(cfg))
    if mode != "smoke" and cifar_root is not None:
        del X, Xj
        section("memory", lambda: suite.memory(cfg, cifar_root))

    results["machine"]["load_average_after"] = list(os.getloadavg())
    results["wall_s"] = time.perf_counter() - start
    out = args.out or (RESULTS if mode == "full" else None)
    if out is not None:
        Path(out).write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(readme_markdown(results) if args.readme else markdown(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
