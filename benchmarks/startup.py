"""Time to a first result: ``jaxopt-course train --json`` on digits, cold and warm, against the bare imports.

Every round starts fresh processes, back to back, in a rotating order:

* ``imports``: ``python -c "import jax, sklearn.datasets"`` -- the floor: what
  any JAX program on digits pays before it computes anything;
* ``help``: ``jaxopt-course --help`` (imports no JAX: the lazy imports);
* ``cold``: ``jaxopt-course train --json`` with an empty persistent
  compilation cache (a new ``XDG_CACHE_HOME``): it compiles everything;
* ``warm``: the same command again, right after ``cold``, on the cache
  ``cold`` filled (compiled programs, and the preprocessed digits, so no
  scikit-learn import) -- what a user sees from the second run on;
* ``warm-jit``: the same again with only the compiled programs cached (the
  digits file removed first, so it loads them through scikit-learn);
* ``no-cache``: the same command with ``JAXOPT_COURSE_NO_CACHE=1``.

Each time is the wall clock of the whole process (``time.perf_counter``
around ``subprocess.run``). The table gives medians over rounds and the
median of the per-round ratios to ``imports`` (the machine is shared: a
ratio of two runs of one round is steadier than two medians). Target
(issue 13): warm ``train --json`` within 1.4x of ``imports``. The runs'
JSON results are checked to agree (the cache changes no number).

Usage::

    .venv/bin/python benchmarks/startup.py                 # 5 rounds, prints a markdown table
    .venv/bin/python benchmarks/startup.py --rounds 9 --out benchmarks/results_startup.json
    .venv/bin/python benchmarks/startup.py --rounds 1      # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN = ["train", "--json"]
KINDS = ("imports", "help", "cold", "warm", "warm-jit", "no-cache")


def _command() -> list[str]:
    """The installed ``jaxopt-course`` script next to this Python (else ``python -m jaxopt_course``)."""
    script = Path(sys.executable).parent / "jaxopt-course"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "jaxopt_course"]


def _env(cache_home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "JAXOPT_COURSE_NO_CACHE"}
    return {**env, "XDG_CACHE_HOME": str(cache_home), **extra}


def _timed(argv: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"startup.py: {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, proc.stdout


def _round(order: list[str], tmp: Path) -> tuple[dict, list[dict]]:
    """One round: every kind once, in ``order`` (``warm`` always right after ``cold``)."""
    cli, times, results = _command(), {}, []
    cache = Path(tempfile.mkdtemp(dir=tmp))
    for kind in order:
        if kind == "imports":
            times[kind], _ = _timed([sys.executable, "-c", "import jax, sklearn.datasets"], _env(cache))
        elif kind == "help":
            times[kind], _ = _timed([*cli, "--help"], _env(cache))
        elif kind == "no-cache":
            times[kind], out = _timed([*cli, *TRAIN], _env(tmp / "unused", JAXOPT_COURSE_NO_CACHE="1"))
            results.append(json.loads(out))
        else:  # cold, then warm on the cache cold filled, then warm without the digits file
            for step in ("cold", "warm", "warm-jit"):
                if step == "warm-jit":
                    for digits in cache.glob("jaxopt-course/digits-*.npz"):
                        digits.unlink()
                times[step], out = _timed([*cli, *TRAIN], _env(cache))
                results.append(json.loads(out))
    return times, results


def _load() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def run(rounds: int) -> dict:
    """``rounds`` rotating rounds; medians, paired ratios to ``imports``, the machine."""
    groups = ["imports", "help", "cold", "no-cache"]  # "cold" stands for cold, warm, warm-jit
    per_round, load_before = [], _load()
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        for r in range(rounds):
            order = groups[r % len(groups) :] + groups[: r % len(groups)]
            times, results = _round(order, Path(tmp))
            same = {k: v for k, v in results[0].items() if k != "seconds"}
            if any({k: v for k, v in res.items() if k != "seconds"} != same for res in results):
                raise SystemExit("startup.py: the runs' results differ; the cache must not change a number")
            per_round.append(times)
    medians = {kind: statistics.median(t[kind] for t in per_round) for kind in KINDS}
    ratios = {kind: statistics.median(t[kind] / t["imports"] for t in per_round) for kind in KINDS}
    return {
        "command": " ".join(["jaxopt-course", *TRAIN]),
        "rounds": rounds,
        "per_round": per_round,
        "median_seconds": medians,
        "median_ratio_to_imports": ratios,
        "target": {"warm_ratio_at_most": 1.4, "met": ratios["warm"] <= 1.4},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": _load(),
        },
    }


def table(report: dict) -> str:
    lines = ["| process | median s | median ratio to imports |", "|---|---|---|"]
    names = {
        "imports": '`python -c "import jax, sklearn.datasets"`',
        "help": "`jaxopt-course --help`",
        "cold": "`jaxopt-course train --json`, empty cache",
        "warm": "`jaxopt-course train --json`, warm cache",
        "warm-jit": "`jaxopt-course train --json`, warm compilation cache only (digits via scikit-learn)",
        "no-cache": "`jaxopt-course train --json`, `JAXOPT_COURSE_NO_CACHE=1`",
    }
    for kind in KINDS:
        lines.append(
            f"| {names[kind]} | {report['median_seconds'][kind]:.2f} | {report['median_ratio_to_imports'][kind]:.2f}x |"
        )
    m = report["machine"]
    lines.append(
        f"\n{report['rounds']} rounds; load average before {_fmt(m['load_average_before'])}, after "
        f"{_fmt(m['load_average_after'])} ({m['cpus']} CPUs). Target warm <= 1.4x imports: "
        f"{'met' if report['target']['met'] else 'NOT met'}."
    )
    return "\n".join(lines)


def _fmt(load) -> str:
    return "/".join(f"{x:.1f}" for x in load) or "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/startup.py", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="rounds of every process kind (default 5)")
    p.add_argument("--out", default=None, help="write the report as JSON here")
    args = p.parse_args(argv)
    report = run(args.rounds)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
