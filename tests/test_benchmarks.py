"""The benchmark suite (benchmarks/): it runs end to end, its baselines compute the right
things, its timing helpers do what they say, and the engine does not copy its data needlessly.

No test here asserts a wall-clock time: timings are the suite's output, not its contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

import baselines  # noqa: E402
import timing  # noqa: E402

# ---------------------------------------------------------------------------
# The suite, end to end
# ---------------------------------------------------------------------------


def run_suite(*args, timeout=300):
    return subprocess.run(
        [sys.executable, str(BENCH / "run.py"), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = run_suite("--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_smoke_run_measures_every_cpu_section(smoke):
    results, markdown = smoke
    sections = results["sections"]
    for name in ("ceilings", "loss_grad", "sgd", "sweep"):
        assert "error" not in sections[name], sections[name].get("error")
        rows = sections[name]["rows"]
        assert rows
        for r in rows:
            assert np.isfinite(r["median_s"]) and r["median_s"] > 0, r
    # CIFAR-10 and the numerical-gradient benchmark are left out of a smoke run, and say so.
    for name in ("time_to_accuracy", "memory", "gradcheck"):
        assert sections[name]["skipped"] == "smoke run"
    impls = {r["impl"] for r in sections["sgd"]["rows"]}
    assert {"engine (scan, with replacement)", "numpy loop (CS231n)", "sklearn SGDClassifier (float64, OvR)"} <= impls
    ceil = results["ceilings"]
    assert ceil["flops_per_s"] > 1e8 and ceil["bytes_per_s"] > 1e8
    # Every timed row with a floor reports the fraction of it reached.
    for r in sections["sgd"]["rows"] + sections["loss_grad"]["rows"]:
        assert r["roofline_fraction"] == pytest.approx(r["floor_s"] / r["median_s"])
    assert "### Targets" in markdown and "| SGD svm: engine vs NumPy loop |" in markdown


@pytest.mark.slow
def test_smoke_run_records_the_blas_kernel_and_the_removed_overrides(smoke):
    machine = smoke[0]["machine"]
    assert any(lib["internal_api"] == "openblas" and lib["architecture"] for lib in machine["blas"])
    removed = {k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    assert set(machine["openblas_env_removed"]) == removed
    assert machine["load_average_before"] and machine["jax_backend"] == "cpu"


@pytest.mark.slow
def test_all_implementations_compute_the_same_loss_and_gradient(smoke):
    checks = smoke[0]["sections"]["loss_grad"]["agreement"]
    assert {c["impl"] for c in checks} >= {"jax value_and_grad", "jax hand-derived", "numpy (CS231n)"}
    for c in checks:
        assert c["loss_rel_diff"] < 1e-4, c
        assert c["grad_max_diff_rel"] < 1e-3, c


@pytest.mark.slow
def test_engine_compiles_once_and_the_sweep_equals_sequential_runs(smoke):
    results = smoke[0]
    for c in results["sections"]["sgd"]["compiles"]:
        assert c["recompiles_on_second_call"] == 0 and c["compile_s"] > 0
    assert results["sections"]["sweep"]["sweep_vs_sequential_max_rel_diff"] < 1e-4


@pytest.mark.slow
def test_cores_option_pins_the_suite_and_every_librarys_threads(tmp_path):
    out = tmp_path / "one_core.json"
    proc = run_suite("--smoke", "--cores", "1", "--only", "ceilings", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    machine = json.loads(out.read_text())["machine"]
    assert machine["cores_used"] == 1
    assert {machine["thread_env"][k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {"1"}
    assert all(lib["num_threads"] == 1 for lib in machine["blas"])
    assert list(json.loads(out.read_text())["sections"]) == ["ceilings"]


def test_device_gpu_fails_clearly_without_a_gpu():
    if jax.default_backend() == "gpu":
        pytest.skip("a GPU is visible here")
    proc = run_suite("--smoke", "--device", "gpu", timeout=120)
    assert proc.returncode == 2
    assert "--device gpu: JAX sees no GPU here" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
# The baselines compute the lecture's losses and gradients
# ---------------------------------------------------------------------------


CAT = (np.array([[3.2, 5.1, -1.7]]), np.array([0]))  # the lecture's cat image: scores cat, car, frog


@pytest.mark.parametrize("loss, value", [("svm", 2.9), ("softmax", 2.0404)])
def test_numpy_baselines_give_the_lectures_cat_losses(loss, value):
    X, y = CAT
    got, dW = baselines.NUMPY_LOSS_GRAD[loss](np.eye(3), X, y, 0.0)  # W = I (D, C): scores = X
    assert got == pytest.approx(value, abs=1e-4)
    assert dW.shape == (3, 3)


def finite_difference(f, W, h=1e-6):
    grad = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        grad[idx] = (f(Wp) - f(Wm)) / (2 * h)
    return grad


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_numpy_baseline_gradients_match_float64_finite_differences(loss):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 6)), rng.integers(0, 4, 20)
    W = rng.standard_normal((6, 4))  # (D, C), CS231n's layout
    fn = baselines.NUMPY_LOSS_GRAD[loss]
    _, dW = fn(W, X, y, 0.3)
    np.testing.assert_allclose(dW, finite_difference(lambda W_: fn(W_, X, y, 0.3)[0], W), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_torch_baseline_matches_numpy(loss):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 7)), rng.integers(0, 5, 30)
    W_CxD = rng.standard_normal((5, 7))
    value, grad = baselines.torch_loss_grad(loss)(
        torch.from_numpy(W_CxD), torch.from_numpy(X), torch.from_numpy(y), 0.2
    )
    ref_value, ref_dW = baselines.NUMPY_LOSS_GRAD[loss](W_CxD.T.copy(), X, y, 0.2)
    assert float(value) == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), ref_dW.T, rtol=1e-10, atol=1e-12)


def test_numpy_train_is_cs231n_sgd_with_replacement():
    # One step by hand: draw the batch with the same generator, W <- W - lr * dW.
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    W0 = rng.standard_normal((3, 5))
    W1, losses = baselines.numpy_train(
        "softmax", W0, X, y, learning_rate=0.1, reg=0.01, num_iters=1, batch_size=8, seed=7
    )
    idx = np.random.default_rng(7).choice(40, 8, replace=True)
    loss, dW = baselines.numpy_softmax_loss_grad(W0.T.copy(), X[idx], y[idx], 0.01)
    np.testing.assert_allclose(W1, (W0.T - 0.1 * dW).T, rtol=1e-12)
    assert losses[0] == pytest.approx(loss)


def test_sklearn_classifier_translates_the_recipe():
    clf = baselines.sklearn_classifier("svm", learning_rate=1e-7, reg=2.5e4, batch_size=200, epochs=3)
    assert clf.loss == "hinge" and clf.alpha == 5e4 and clf.eta0 == pytest.approx(5e-10)
    assert clf.learning_rate == "constant" and clf.max_iter == 3 and clf.tol is None


# ---------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------


def test_roofline_floor_is_the_binding_ceiling():
    ceil = {"flops_per_s": 1e11, "bytes_per_s": 2e10}
    assert timing.roofline_floor(2e9, 1e9, ceil) == pytest.approx(0.05)  # memory binds
    assert timing.roofline_floor(2e10, 1e6, ceil) == pytest.approx(0.2)  # compute binds


def test_paired_runs_every_case_each_round_in_rotating_order():
    calls = []
    cases = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = timing.paired(cases, rounds=3)
    assert calls == list("abc") + list("bca") + list("cab")
    assert all(len(v) == 3 for v in times.values())
    assert timing.paired_ratio({"slow": [2.0, 4.0, 6.0], "fast": [1.0, 1.0, 3.0]}, "slow", "fast") == 2.0


def test_compile_log_counts_compilations_and_sees_none_on_a_second_call():
    f = jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)
    a, b = jnp.arange(7.0), jnp.ones(7)  # made outside: eager ops compile too
    with timing.CompileLog() as first:
        jax.block_until_ready(f(a))
    with timing.CompileLog() as second:
        jax.block_until_ready(f(b))
    assert first.compiles >= 1 and first.seconds > 0
    assert second.compiles == 0


# ---------------------------------------------------------------------------
# The engine holds one copy of the data, or none
# ---------------------------------------------------------------------------


def aligned_array(shape, alignment=64):
    nbytes = int(np.prod(shape)) * 4
    buf = np.empty(nbytes + alignment, np.uint8)
    offset = -buf.ctypes.data % alignment
    return buf[offset : offset + nbytes].view(np.float32).reshape(shape)


def test_engine_data_are_not_copied_from_jax_arrays_nor_from_aligned_numpy():
    from jaxopt_course.distributed import place_data

    X = jnp.ones((8, 3))
    assert place_data(X) is X
    host = aligned_array((64, 33))
    host[:] = np.arange(host.size, dtype=np.float32).reshape(host.shape)
    on_device = place_data(host)
    if jax.default_backend() == "cpu":  # the CPU device shares an aligned host buffer
        assert on_device.unsafe_buffer_pointer() == host.ctypes.data
    np.testing.assert_array_equal(np.asarray(on_device), host)
    assert place_data([[1.0, 2.0]]).shape == (1, 2)


def test_training_from_numpy_and_from_jax_arrays_agree():
    from jaxopt_course import Run, make_train, softmax_loss, synthetic_problem

    X, y = synthetic_problem(3, num_examples=50)
    W0 = np.zeros((3, 6), np.float32)
    run = Run(softmax_loss, optax.sgd, batch_size=10, num_steps=20)
    a = make_train(run, X, y)(W0, jax.random.key(0), 0.1, 0.0)
    b = make_train(run, jnp.asarray(X), jnp.asarray(y))(W0, jax.random.key(0), 0.1, 0.0)
    np.testing.assert_array_equal(np.asarray(a.state.params), np.asarray(b.state.params))


@pytest.mark.cifar
@pytest.mark.slow
def test_memory_run_reports_a_peak_below_the_old_triple_copy(cifar10_root):
    # One host copy plus one device copy of the float32 matrix is the floor without an aligned
    # loader; jnp.asarray's transient second copy (3.5x in all) must not come back.
    proc = subprocess.run(
        [sys.executable, str(BENCH / "memory_run.py"), str(cifar10_root), "--steps", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["train_matrix_shape"] == [49000, 3073] and result["train_matrix_dtype"] == "float32"
    assert [p["phase"] for p in result["phases"]] == ["start", "imports", "load_cifar10", "fit", "evaluate"]
    assert result["peak_mb"] < 3.0 * result["train_matrix_mb"]
