"""Scaling: training and a 64-model sweep on 1, 2, 4 and 8 devices through ``jax.sharding``.

For every device count ``n`` the script measures, through the engine's
public entry points (``train.make_train``: the whole run as one compiled
call, data checked and placed once, outside the timing; ``train.sweep``
with the whole run in one chunk, its input checks and final accuracies
inside the timing):

* **train** -- one model, SGD steps of a global batch of 256 split along the
  mesh's ``"data"`` axis (``fit(..., mesh=make_mesh(n))``), the training set
  copied to every device;
* **train, rows split** -- the same with the training set split by rows over
  the devices (``distributed.shard_rows``: 1/n of it per device, the
  compiler then all-reduces each gathered batch);
* **sweep** -- 64 models (8 learning rates x 8 regs) on one shared batch of
  256 per step, the models split along ``"model"``
  (``sweep(..., mesh=make_mesh(n, data=1))``).

Reported: steps per second, examples per second (training: ``batch x
steps/s``; the sweep: ``models x batch x steps/s``, per-model gradients of
one example per second), process CPU seconds per step, compile seconds, and
the speed-up over the one-device mesh. "no mesh" is the single-device path
that existed before meshes, for reference.

On a CPU, ``n`` devices are *forced*: ``XLA_FLAGS=--xla_force_host_platform_device_count=n``
splits one CPU into ``n`` XLA devices that share its cores (2 here). Every
``n`` therefore runs in its own child process (the flag is read when JAX
starts), and the rounds rotate the order of ``n`` so that a burst of load
from elsewhere does not fall on one count only. What forced devices can and
cannot show is in ``benchmarks/SCALING.md``.

Usage::

    .venv/bin/python benchmarks/scaling.py                 # forced CPU devices 1, 2, 4, 8; writes results_scaling.json
    .venv/bin/python benchmarks/scaling.py --quick         # a small problem, 1 and 2 devices (seconds; for the tests)
    .venv/bin/python benchmarks/scaling.py --device gpu    # the GPUs JAX sees: 1, 2, 4, 8 of them as there are
    .venv/bin/python benchmarks/scaling.py --from-json benchmarks/results_scaling.json   # print the table again
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results_scaling.json"
WORKLOADS = ("train", "train_rows_split", "sweep")
TITLES = {
    "train": "train (batch split along data)",
    "train_rows_split": "train, rows split over the devices",
    "sweep": "sweep, 64 models split along model",
}

# fmt: off
# one configuration a row, so the full and quick runs read side by side
FULL = dict(examples=10_000, dim=3073, classes=10, batch=256, train_steps=400, sweep_steps=20, models=64,
            repeats=3, rounds=2, counts=(1, 2, 4, 8))
QUICK = dict(examples=512, dim=65, classes=10, batch=64, train_steps=20, sweep_steps=5, models=64,
             repeats=1, rounds=1, counts=(1, 2))
# fmt: on


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem on 1 and 2 devices (a smoke test)")
    parser.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="cpu: forced CPU devices, one child process per count; gpu: the GPUs JAX sees",
    )
    parser.add_argument("--counts", type=int, nargs="+", default=None, help="device counts (default 1 2 4 8)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over all counts (default 2)")
    parser.add_argument("--out", default=None, help=f"where to write the JSON (default {RESULTS.name}; quick: none)")
    parser.add_argument("--from-json", default=None, metavar="PATH", help="measure nothing: print PATH's table")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--config", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# One device count (a child process on the CPU; in-process on GPUs)
# ---------------------------------------------------------------------------


def measure(n: int, cfg: dict) -> list[dict]:
    """Time every workload on an ``n``-device mesh (and, for ``n == 1``, without a mesh)."""

    import jax
    import numpy as np
    import optax

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    from timing import CompileLog

    from jaxopt_course import distributed, softmax_loss
    from jaxopt_course import train as T

    if jax.device_count() < n:
        raise SystemExit(f"{n} devices asked for, JAX sees {jax.device_count()}")
    rng = np.random.default_rng(0)
    N, D, C, B = cfg["examples"], cfg["dim"], cfg["classes"], cfg["batch"]
    X = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(0, C, N).astype(np.int32)
    W0 = (1e-4 * rng.standard_normal((C, D))).astype(np.float32)
    side = int(round(cfg["models"] ** 0.5))
    lrs, regs = np.geomspace(1e-4, 1e-2, side), np.geomspace(1e-5, 1e-1, cfg["models"] // side)
    key = jax.random.key(0)
    reg = 1e-4

    def timed(fn, steps):
        with CompileLog() as log:
            jax.block_until_ready(fn())  # compile (and a first run)
        walls, cpus = [], []
        for _ in range(cfg["repeats"]):
            wall, cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn())
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        wall = statistics.median(walls)
        return {
            "seconds": wall,
            "cpu_seconds": statistics.median(cpus),
            "steps": steps,
            "steps_per_s": steps / wall,
            "cpu_ms_per_step": 1e3 * statistics.median(cpus) / steps,
            "compile_s": log.seconds,
            "compiles": log.compiles,
        }

    def train_case(mesh, rows_split=False):
        Xd, yd = distributed.shard_rows(X, y, mesh) if rows_split else (X, y)
        steps = cfg["train_steps"]
        train = T.make_train(T.Run(softmax_loss, optax.sgd, batch_size=B, num_steps=steps, mesh=mesh), Xd, yd)
        out = timed(lambda: train(W0, key, 1e-3, reg).state.params, steps)
        return {**out, "examples_per_s": B * out["steps_per_s"]}

    def sweep_case(mesh):
        steps, models = cfg["sweep_steps"], len(lrs) * len(regs)
        run = T.Run(softmax_loss, optax.sgd, batch_size=B, num_steps=steps, mesh=mesh)
        out = timed(
            lambda: (
                T.sweep(
                    run, W0, X, y, key=key, learning_rates=lrs, regs=regs, loop=T.Loop(chunk_size=None, progress=False)
                ).params
            ),
            steps,
        )
        return {**out, "examples_per_s": models * B * out["steps_per_s"], "models": models}

    rows = []

    def record(workload, mesh_name, result):
        rows.append(
            {"devices": n, "workload": workload, "mesh": mesh_name, **result, "load_average": os.getloadavg()[0]}
        )

    if n == 1:
        record("train", "no mesh", train_case(None))
        record("sweep", "no mesh", sweep_case(None))
    record("train", f"data={n}", train_case(distributed.make_mesh(n)))
    record("train_rows_split", f"data={n}", train_case(distributed.make_mesh(n), rows_split=True))
    record("sweep", f"model={n}", sweep_case(distributed.make_mesh(n, data=1)))
    return rows


# ---------------------------------------------------------------------------
# The parent: children, rounds, the table
# ---------------------------------------------------------------------------


def run_child(n: int, cfg: dict) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--config", json.dumps(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the child for {n} devices failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine(device: str) -> dict:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "device": device,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_before": list(os.getloadavg()),
    }
    if device == "gpu":
        info["gpus"] = [d.device_kind for d in jax.devices()]
    return info


def summarize(runs: list[dict]) -> list[dict]:
    """Median over rounds per (workload, mesh, devices), and the speed-up over the one-device mesh."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r["workload"], r["mesh"], r["devices"]), []).append(r)
    table = []
    for (workload, mesh, devices), rs in groups.items():
        table.append(
            {
                "workload": workload,
                "mesh": mesh,
                "devices": devices,
                "rounds": len(rs),
                **{
                    k: statistics.median(r[k] for r in rs)
                    for k in ("steps_per_s", "examples_per_s", "cpu_ms_per_step", "compile_s", "load_average")
                },
            }
        )
    for row in table:
        base = [b for b in table if b["workload"] == row["workload"] and b["devices"] == 1 and b["mesh"] != "no mesh"]
        row["speedup_vs_1_device"] = row["steps_per_s"] / base[0]["steps_per_s"] if base else None
    order = {w: i for i, w in enumerate(WORKLOADS)}
    table.sort(key=lambda r: (order[r["workload"]], r["devices"], r["mesh"] != "no mesh"))
    return table


def markdown(results: dict) -> str:
    cfg, m = results["config"], results["machine"]
    where = (
        f"{m['cpu']} ({m['cpu_count']} cores), forced CPU devices"
        if m["device"] == "cpu"
        else f"GPUs: {', '.join(m.get('gpus', []))}"
    )
    lines = [
        f"JAX {m['jax']} on {where}; {m['date']}. N = {cfg['examples']} examples of D = {cfg['dim']}, "
        f"C = {cfg['classes']}, batch {cfg['batch']}; {cfg['train_steps']} training steps, "
        f"{cfg['sweep_steps']} sweep steps of {cfg['models']} models per timed call; median of "
        f"{cfg['repeats']} calls, then of {cfg['rounds']} round(s).",
        "",
    ]
    lines += [
        "| workload | devices | mesh | steps/s | examples/s | CPU ms/step | speed-up vs 1 device | compile s "
        "| load avg |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["table"]:
        speedup = "-" if r["speedup_vs_1_device"] is None else f"{r['speedup_vs_1_device']:.2f}x"
        lines.append(
            f"| {TITLES[r['workload']]} | {r['devices']} | {r['mesh']} | {r['steps_per_s']:,.1f} | "
            f"{r['examples_per_s']:,.0f} | {r['cpu_ms_per_step']:.2f} | {speedup} | {r['compile_s']:.2f} "
            f"| {r['load_average']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        print(markdown(json.loads(Path(args.from_json).read_text())))
        return 0
    if args.child is not None:
        print(json.dumps(measure(args.child, json.loads(args.config))))
        return 0
    cfg = dict(QUICK if args.quick else FULL)
    if args.counts:
        cfg["counts"] = tuple(args.counts)
    if args.rounds:
        cfg["rounds"] = args.rounds
    if args.device == "cpu":
        os.environ["JAX_PLATFORMS"] = "cpu"
    info = machine(args.device)
    if args.device == "gpu":
        import jax

        if jax.default_backend() != "gpu":
            print(
                f"--device gpu: JAX sees no GPU here (its devices: {jax.devices()}); run on a machine with a CUDA "
                "GPU and a CUDA build of jaxlib (pip install -U 'jax[cuda12]')",
                file=sys.stderr,
            )
            return 2
        cfg["counts"] = tuple(c for c in cfg["counts"] if c <= jax.device_count())
    runs = []
    counts = list(cfg["counts"])
    for r in range(cfg["rounds"]):
        shift = r % len(counts)
        for n in counts[shift:] + counts[:shift]:
            started = time.perf_counter()
            rows = run_child(n, cfg) if args.device == "cpu" else measure(n, cfg)
            for row in rows:
                row["round"] = r
            runs += rows
            print(
                f"round {r + 1}/{cfg['rounds']}: {n} device(s) in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    info["load_average_after"] = list(os.getloadavg())
    results = {
        "machine": info,
        "config": {**cfg, "counts": list(cfg["counts"])},
        "runs": runs,
        "table": summarize(runs),
    }
    out = args.out or (None if args.quick else RESULTS)
    if out:
        Path(out).write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
