"""Training on several devices and machines: meshes, sharded runs against single-device runs.

The sharded runs need several devices, and XLA splits the CPU into devices
only when ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` is set
before JAX starts -- so they run in child processes
(``tests/_sharding_child.py``), one per device count, each check reported
back by name. The multi-host check starts two processes that talk through
``jax.distributed`` (a coordinator on localhost) and hold half the data each.
What needs one device only (the mesh helpers, their errors, a one-device
mesh) runs here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from jaxopt_course import distributed, fit, make_train, softmax_loss, synthetic_problem
from jaxopt_course.optimizers import get_optimizer
from jaxopt_course.train import Run

CHILD = Path(__file__).resolve().parent / "_sharding_child.py"
SINGLE_PROCESS_CHECKS = (
    "check_fit_matches_single_device",
    "check_every_step_is_split_and_the_compiler_all_reduces",
    "check_adam_shuffle_and_an_uneven_batch",
    "check_gradient_descent_on_the_full_batch",
    "check_make_train_with_a_traced_lr_and_reg",
    "check_rows_split_over_the_devices",
    "check_divergence_and_resume_on_the_mesh",
    "check_too_many_devices_is_a_clear_error",
    "check_sweep_splits_the_models",
    "check_sweep_on_data_and_model_axes_with_an_uneven_grid",
    "check_seeded_sweep_splits_the_models",
    "check_sweep_chunks_compile_once",
    "check_command_line",
)


def child_env(devices: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env["JAX_PLATFORMS"] = "cpu"
    for name in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        env.pop(name, None)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_child(*args, devices: int | None, timeout: float = 240) -> dict:
    proc = subprocess.run(
        [sys.executable, str(CHILD), *map(str, args)],
        env=child_env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# On 8 devices, the core of it again (the suite must stay short on 2 cores).
ON_8_DEVICES = (
    "check_fit_matches_single_device",
    "check_every_step_is_split_and_the_compiler_all_reduces",
    "check_too_many_devices_is_a_clear_error",
    "check_sweep_splits_the_models",
    "check_sweep_on_data_and_model_axes_with_an_uneven_grid",
)


_RESULTS: dict = {}


def results_on(devices: int) -> dict:
    """The checks' results from one child process with ``devices`` forced CPU devices (run once)."""
    if devices not in _RESULTS:
        checks = () if devices == 4 else ON_8_DEVICES
        try:
            _RESULTS[devices] = run_child("devices", devices, *checks, devices=devices)
        except (AssertionError, subprocess.TimeoutExpired) as err:  # every check of that child fails with it
            _RESULTS[devices] = err
    if isinstance(_RESULTS[devices], Exception):
        raise _RESULTS[devices]
    return _RESULTS[devices]


@pytest.mark.parametrize(
    "devices, check", [(4, check) for check in SINGLE_PROCESS_CHECKS] + [(8, check) for check in ON_8_DEVICES]
)
@pytest.mark.slow
def test_sharded_run_on_forced_cpu_devices(devices, check):
    results = results_on(devices)
    assert check in results, f"the child did not run {check}: {sorted(results)}"
    assert results[check] == "ok", f"{check} on {devices} devices:\n{results[check]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_each_holding_half_the_rows_train_like_one_device():
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "multihost", str(pid), "2", str(port)],
            env=child_env(2),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=180)
            outputs.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for pid, (code, stdout, stderr) in enumerate(outputs):
        assert code == 0, f"process {pid} failed (exit {code}):\n{stderr[-4000:]}"
        results = json.loads(stdout.strip().splitlines()[-1])
        assert results == {"check_multihost": "ok"}, f"process {pid}:\n{results}"


# ---------------------------------------------------------------------------
# One device: the mesh helpers and a one-device mesh
# ---------------------------------------------------------------------------


def test_a_one_device_mesh_runs_the_same_code_to_the_same_weights():
    X, y = synthetic_problem(2, num_examples=80, dim=5, num_classes=3)
    W0 = np.zeros((3, 6), np.float32)
    mesh = distributed.make_mesh(1)
    run = Run(softmax_loss, partial(get_optimizer, "momentum"), batch_size=16, num_steps=30, eval_every=10)
    common = dict(key=jax.random.key(0), lr=0.1, reg=1e-3, X_val=X[:20], y_val=y[:20])
    on_mesh = fit(run._replace(mesh=mesh), W0, X, y, **common)
    plain = fit(run, W0, X, y, **common)
    np.testing.assert_array_equal(np.asarray(on_mesh.params), np.asarray(plain.params))
    np.testing.assert_array_equal(on_mesh.losses, plain.losses)
    assert on_mesh.params.sharding.mesh == mesh and on_mesh.params.sharding.is_fully_replicated


def test_make_mesh_shapes():
    assert dict(distributed.make_mesh().shape) == {"data": jax.device_count(), "model": 1}
    assert dict(distributed.make_mesh(1, model=1).shape) == {"data": 1, "model": 1}
    mesh = distributed.make_mesh(data=1, model=1)
    assert mesh.axis_names == ("data", "model") and mesh.size == 1
    assert distributed.make_mesh(devices=jax.devices()[:1]).size == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(devices=jax.device_count() + 1), ValueError, r"asked for \d+ devices \(devices=\d+\), but JAX sees"),
        (dict(data=2, model=jax.device_count()), ValueError, r"asked for \d+ devices \(data=2, model=\d+\)"),
        (dict(devices=1, data=2), ValueError, r"data=2 must divide the number of devices, 1"),
        (dict(devices=1, data=1, model=2), ValueError, r"the mesh data=1 x model=2 needs 2 devices, got 1"),
        (dict(devices=0), ValueError, r"devices must be >= 1, got 0"),
        (dict(data=0), ValueError, r"data must be a positive number of devices, got 0"),
        (dict(devices="cpu"), TypeError, r"devices must be a number or a non-empty sequence of jax.Device"),
    ],
)
def test_make_mesh_errors_name_what_was_asked(kwargs, error, match):
    with pytest.raises(error, match=match):
        distributed.make_mesh(**kwargs)


def test_parse_mesh():
    assert distributed.parse_mesh("data=2,model=4") == {"data": 2, "model": 4}
    assert distributed.parse_mesh(" model=8 ") == {"model": 8}
    for text, match in [
        ("data=2,batch=2", "axes data and model"),
        ("data=two", "positive integer"),
        ("data=0", "positive integer"),
        ("data=2,data=2", "twice"),
        ("", "like data=2"),
    ]:
        with pytest.raises(ValueError, match=match):
            distributed.parse_mesh(text)


def test_fit_refuses_a_mesh_it_cannot_use():
    X, y = synthetic_problem(0, num_examples=20, dim=3, num_classes=2)
    W0 = np.zeros((2, 4), np.float32)
    one = Run(softmax_loss, optax.sgd, num_steps=2)

    def run(mesh):
        return fit(one._replace(mesh=mesh), W0, X, y, key=jax.random.key(0), lr=0.1)

    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        run(mesh="data=2")
    wrong_names = jax.make_mesh((1,), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    with pytest.raises(ValueError, match=r"mesh must name its axes 'data' and/or 'model', got \('batch',\)"):
        run(mesh=wrong_names)
    explicit = jax.make_mesh((1,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    with pytest.raises(ValueError, match="axis 'data' must be AxisType.Auto"):
        run(mesh=explicit)
    with pytest.raises(ValueError, match="mesh must name its axes"):
        make_train(Run(softmax_loss, optax.sgd, batch_size=4, num_steps=2, mesh=wrong_names), X, y)


def test_host_shard_splits_rows_into_equal_blocks():
    X, y = np.arange(24.0).reshape(12, 2), np.arange(12)
    blocks = [distributed.host_shard(X, y, i, 3) for i in range(3)]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), X)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), y)
    assert [b[0].shape for b in blocks] == [(4, 2)] * 3
    with pytest.raises(
        ValueError,
        match=r"N = 12 rows, which do not split evenly over 5 processes: keep the "
        r"first 10 on every host \(X\[:10\]\)",
    ):
        distributed.host_shard(X, y, 0, 5)
    with pytest.raises(ValueError, match=r"process_index must lie in \[0, process_count = 3\), got 3"):
        distributed.host_shard(X, y, 3, 3)


def test_host_shard_reads_only_its_rows_of_a_memory_map(tmp_path):
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    np.save(tmp_path / "X.npy", X)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    X_1, y_1 = distributed.host_shard(X_map, np.arange(10), 1, 2)
    assert isinstance(X_1, np.ndarray) and not isinstance(X_1, np.memmap)
    np.testing.assert_array_equal(X_1, X[5:])
    np.testing.assert_array_equal(y_1, np.arange(5, 10))


def test_initialize_multihost_reads_arguments_then_the_environment():
    assert distributed.initialize_multihost(environ={}) is None
    with pytest.raises(
        ValueError,
        match=r"missing: num_processes \(or JAX_NUM_PROCESSES\), process_id \(or "
        r"JAX_PROCESS_ID\)",
    ):
        distributed.initialize_multihost(environ={"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"})
    with pytest.raises(ValueError, match=r"process_id must lie in \[0, num_processes = 2\), got 2"):
        distributed.initialize_multihost("10.0.0.1:1234", environ={"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"})
    with pytest.raises(ValueError, match="coordinator_address must read host:port, got '10.0.0.1'"):
        distributed.initialize_multihost("10.0.0.1", 2, 0, environ={})
    with pytest.raises(ValueError, match="num_processes must be an integer, got JAX_NUM_PROCESSES='two'"):
        distributed.initialize_multihost("h:1", environ={"JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"})


def test_describe_reports_the_devices_used():
    assert distributed.describe(None)["devices"] == 1
    report = distributed.describe(distributed.make_mesh(1))
    assert report == {
        "devices": 1,
        "mesh": {"data": 1, "model": 1},
        "processes": 1,
        "platform": jax.devices()[0].platform,
    }


# ---------------------------------------------------------------------------
# The scaling benchmark runs (its numbers are its output, not a contract)
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_scaling_benchmark_measures_every_workload_on_one_and_two_devices(tmp_path):
    out = tmp_path / "scaling.json"
    proc = subprocess.run(
        [sys.executable, str(CHILD.parents[1] / "benchmarks" / "scaling.py"), "--quick", "--out", str(out)],
        env=child_env(None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    rows = {(r["workload"], r["devices"], r["mesh"]): r for r in results["table"]}
    assert set(rows) == {
        ("train", 1, "no mesh"),
        ("train", 1, "data=1"),
        ("train", 2, "data=2"),
        ("train_rows_split", 1, "data=1"),
        ("train_rows_split", 2, "data=2"),
        ("sweep", 1, "no mesh"),
        ("sweep", 1, "model=1"),
        ("sweep", 2, "model=2"),
    }
    batch, models = results["config"]["batch"], results["config"]["models"]
    for (workload, _, _), r in rows.items():
        assert np.isfinite(r["steps_per_s"]) and r["steps_per_s"] > 0, r
        per_step = batch * (models if workload == "sweep" else 1)
        assert r["examples_per_s"] == pytest.approx(per_step * r["steps_per_s"]), r
    assert rows[("train", 1, "data=1")]["speedup_vs_1_device"] == 1.0
    assert "| train (batch split along data) | 2 | data=2 |" in proc.stdout
