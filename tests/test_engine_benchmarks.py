"""The engine's own benchmarks run end to end and measure the same computation both ways.

``benchmarks/bench_engine.py`` (fit against the bare compiled make_train and
the NumPy loop) and ``benchmarks/bench_seeds.py`` (sweep(..., seeds=S)
against a loop of fit calls), on tiny problems. No wall-clock assert: the
checks are that every case ran, nothing compiled during the timed rounds,
and the two sides computed the same models.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script, *args):
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{") : proc.stdout.rindex("}") + 1])


@pytest.mark.slow
def test_engine_overhead_benchmark_times_fit_and_the_bare_run_of_the_same_steps():
    result = run("bench_engine.py", "--steps", "20", "--rounds", "2", "--examples", "1000")
    assert set(result["median_s"]) == {"fit", "fit (unaligned X)", "make_train (bare, compiled)", "numpy loop (CS231n)"}
    assert all(len(t) == 2 for t in result["seconds"].values())
    assert result["compiles_during_rounds"] == 0  # compile apart: every timed call reused its program
    assert result["fit_equals_make_train_bitwise"]  # fit's chunks are the bare run's steps


@pytest.mark.slow
def test_seeds_benchmark_sweeps_the_same_models_as_the_loop_of_fits():
    (result,) = run("bench_seeds.py", "--quick", "--only", "digits-shaped")["results"]
    assert result["models"] == 2 * 2 * 2 and result["grid"] == [2, 2, 2]
    assert set(result["models_per_s"]) == {"sweep", "fit loop"}
    assert result["compiles_during_rounds"] == 0
    assert result["max_rel_diff"] < 1e-5
