"""Checks that need several devices, run in a child process (``tests/test_distributed.py`` starts it).

XLA reads ``--xla_force_host_platform_device_count`` once, when JAX starts
its CPU backend, so the parent test sets ``XLA_FLAGS`` in this process's
environment before it begins. Usage::

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/_sharding_child.py devices 4 [CHECK ...]
    python tests/_sharding_child.py multihost PROCESS_ID NUM_PROCESSES PORT   # one per process

Every check runs whatever the others did; the last line of stdout is one
JSON object ``{check name: "ok" or the failure's traceback}``.

Each check compares the sharded run against the same run without a mesh
(one device, the code path that existed before meshes): the same key and
the same global batch must give the same weights and losses up to float32
rounding (the gradient's sum is split into per-device partial sums, so the
order of additions differs).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

from jaxopt_course import distributed, softmax_loss, svm_loss, synthetic_problem  # noqa: E402
from jaxopt_course.divergence import DivergenceError  # noqa: E402
from jaxopt_course.optimizers import get_optimizer  # noqa: E402
from jaxopt_course.train import Loop, Run, fit, make_train, sweep  # noqa: E402

RTOL, ATOL = 2e-5, 1e-6  # float32: per-device partial sums add up in another order


def problem(num_examples=120, seed=0):
    X, y = synthetic_problem(seed, num_examples=num_examples, dim=7, num_classes=4, spread=0.8)
    return np.asarray(X, np.float32), np.asarray(y, np.int32), np.zeros((4, 8), np.float32)


def is_key(x):
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def close(a, b, what):
    if is_key(a):  # keys are passed through untouched
        np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b), err_msg=what)
        return
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL, err_msg=what)


def assert_replicated(array, mesh, what):
    sharding = array.sharding
    assert isinstance(sharding, NamedSharding), f"{what}: expected a NamedSharding, got {sharding}"
    assert sharding.mesh == mesh, f"{what}: on mesh {sharding.mesh}, expected {mesh}"
    assert sharding.is_fully_replicated, f"{what}: expected replicated, got spec {sharding.spec}"
    assert len(array.sharding.device_set) == mesh.size, f"{what}: on {len(array.sharding.device_set)} devices"


def same_run(
    mesh,
    *,
    loss=softmax_loss,
    optimizer=optax.sgd,
    lr=0.2,
    batch_size=32,
    num_steps=60,
    sampling="with_replacement",
    chunk_size=1000,
    num_examples=120,
):
    """The same fit with the mesh and without one: (sharded, single-device)."""
    X, y, W0 = problem(num_examples)
    run = Run(loss, optimizer, batch_size=batch_size, num_steps=num_steps, sampling=sampling, eval_every=10)
    common = dict(key=jax.random.key(3), lr=lr, reg=1e-3, X_val=X[:40], y_val=y[:40], loop=Loop(chunk_size=chunk_size))
    return fit(run._replace(mesh=mesh), W0, X, y, **common), fit(run, W0, X, y, **common)


def compare(sharded, single, mesh):
    close(sharded.params, single.params, "params")
    close(sharded.losses, single.losses, "losses")
    np.testing.assert_array_equal(sharded.val_steps, single.val_steps)
    close(sharded.val_accuracies, single.val_accuracies, "val accuracies")
    assert_replicated(sharded.params, mesh, "fit(...).params")
    for leaf in jax.tree.leaves(sharded.state):
        assert_replicated(leaf, mesh, "fit(...).state")


# ---------------------------------------------------------------------------
# Checks on one process with n forced CPU devices
# ---------------------------------------------------------------------------


def check_fit_matches_single_device(n):
    mesh = distributed.make_mesh(n)
    assert dict(mesh.shape) == {"data": n, "model": 1}
    sharded, single = same_run(mesh)
    compare(sharded, single, mesh)
    assert sharded.losses[-1] < 0.5 * sharded.losses[0]  # it trains


def check_every_step_is_split_and_the_compiler_all_reduces(n):
    # The compiled step of the sharded run: each device gathers batch/n rows
    # and the gradient is summed across devices by an all-reduce that XLA
    # inserted; the single-device program has no collective at all.
    X, y, W0 = problem()
    texts = {}
    for mesh in (distributed.make_mesh(n), None):
        train = make_train(Run(softmax_loss, optax.sgd, batch_size=32, num_steps=5, mesh=mesh), X, y)
        texts[mesh is None] = jax.jit(train).lower(W0, jax.random.key(0), 0.1, 0.0).compile().as_text()
    sharded, single = texts[False], texts[True]
    assert "all-reduce" in sharded, "no all-reduce in the sharded step"
    assert "all-reduce" not in single and "all-gather" not in single
    rows = 32 // n
    assert f"f32[{rows},1,8]" in sharded or f"f32[{rows},8]" in sharded, f"no per-device batch of {rows} rows"
    assert "f32[32,1,8]" not in sharded, "a device gathers the whole batch"


def check_adam_shuffle_and_an_uneven_batch(n):
    # 30 examples per step do not split evenly over 4 or 8 devices: the
    # compiler pads the last shard, the result is the same.
    mesh = distributed.make_mesh(n)
    sharded, single = same_run(
        mesh,
        optimizer=partial(get_optimizer, "adam"),
        lr=0.05,
        batch_size=30,
        sampling="shuffle",
        num_steps=40,
        chunk_size=15,
    )
    compare(sharded, single, mesh)


def check_gradient_descent_on_the_full_batch(n):
    # batch_size=None: every step is the whole training set (118 rows: not a
    # multiple of the device count), split along "data".
    mesh = distributed.make_mesh(n)
    sharded, single = same_run(mesh, loss=svm_loss, lr=0.05, batch_size=None, num_steps=30, num_examples=118)
    compare(sharded, single, mesh)


def check_make_train_with_a_traced_lr_and_reg(n):
    mesh = distributed.make_mesh(n)
    X, y, W0 = problem()
    run = Run(softmax_loss, partial(get_optimizer, "momentum"), batch_size=24, num_steps=50, eval_every=25)
    outs = [
        make_train(run._replace(mesh=m), X, y, X_val=X[:40], y_val=y[:40])(W0, jax.random.key(5), 0.05, 1e-3)
        for m in (mesh, None)
    ]
    jax.tree.map(lambda a, b: close(a, b, "make_train output"), outs[0], outs[1])
    for leaf in jax.tree.leaves(outs[0]):
        assert_replicated(leaf, mesh, "train(...) output")
    assert outs[0].metrics.loss.shape == (50,)


def check_rows_split_over_the_devices(n):
    # shard_rows: each device holds N/n rows of X; training reads them where
    # they are (the gather becomes the compiler's masked gather + all-reduce).
    mesh = distributed.make_mesh(n)
    X, y, W0 = problem(num_examples=16 * n)
    X_sh, y_sh = distributed.shard_rows(X, y, mesh)
    assert X_sh.sharding.spec == P("data")
    shard_shapes = sorted({shard.data.shape for shard in X_sh.addressable_shards})
    assert shard_shapes == [(16, 8)], shard_shapes
    run = Run(softmax_loss, optax.sgd, batch_size=24, num_steps=40)
    sharded = fit(run._replace(mesh=mesh), W0, X_sh, y_sh, key=jax.random.key(1), lr=0.2)
    single = fit(run, W0, X, y, key=jax.random.key(1), lr=0.2)
    close(sharded.params, single.params, "params")
    close(sharded.losses, single.losses, "losses")
    assert_replicated(sharded.params, mesh, "params")


def check_divergence_and_resume_on_the_mesh(n):
    mesh = distributed.make_mesh(n)
    X, y, W0 = problem()
    try:
        fit(
            Run(softmax_loss, optax.sgd, batch_size=16, num_steps=30, mesh=mesh),
            W0,
            X * 1e4,
            y,
            key=jax.random.key(0),
            lr=1e30,
            loop=Loop(chunk_size=10),
        )
    except DivergenceError as err:
        assert np.all(np.isfinite(np.asarray(err.params))), "the weights of the step before are not finite"
    else:
        raise AssertionError("no DivergenceError")
    # A run stopped at step 20 and resumed from its saved state ends where an
    # uninterrupted one does (the saved state is read back to the host first).
    saved = []
    run = Run(softmax_loss, partial(get_optimizer, "adam"), batch_size=16, num_steps=40, mesh=mesh)
    common = dict(key=jax.random.key(2), lr=0.01)
    whole = fit(run, W0, X, y, loop=Loop(chunk_size=20, on_chunk=lambda s, m: saved.append((s, m))), **common)
    state20, metrics20 = saved[0]
    host_state = jax.tree.map(lambda x: x if is_key(x) else np.asarray(x), state20)
    resumed = fit(run, W0, X, y, loop=Loop(chunk_size=20, init_state=host_state, init_metrics=metrics20), **common)
    np.testing.assert_array_equal(np.asarray(resumed.params), np.asarray(whole.params))
    np.testing.assert_array_equal(resumed.losses, whole.losses)


def check_too_many_devices_is_a_clear_error(n):
    try:
        distributed.make_mesh(2 * n)
    except ValueError as err:
        message = str(err)
        assert f"asked for {2 * n} devices (devices={2 * n}), but JAX sees {n} (cpu)" in message, message
        assert "xla_force_host_platform_device_count" in message, message
    else:
        raise AssertionError("no ValueError")


def cli_json(argv):
    from jaxopt_course.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, (argv, code)
    return json.loads(out.getvalue()) if out.getvalue().strip() else None


def cli_error(argv):
    """``(exit code, the stderr lines)`` of a command that should fail."""
    from jaxopt_course.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue().strip().splitlines()


TRAIN = ["train", "--steps", "30", "--batch-size", "64", "--chunk-size", "30", "--json"]
SWEEP = ["sweep", "--steps", "20", "--batch-size", "64", "--lrs", "0.01,0.1", "--regs", "0,0.001", "--json"]


def check_command_line(n):
    results = {
        " ".join(flags): cli_json(TRAIN + flags) for flags in (["--devices", str(n)], ["--mesh", f"data={n}"], [])
    }
    sharded, single = results[f"--devices {n}"], results[""]
    assert sharded["devices"] == n and sharded["mesh"] == {"data": n, "model": 1}, sharded
    assert results[f"--mesh data={n}"]["devices"] == n
    assert single["devices"] == 1 and single["mesh"] == {"data": 1, "model": 1}, single
    np.testing.assert_allclose(sharded["final_loss"], single["final_loss"], rtol=1e-4)
    # sweep: --devices splits the models; --mesh both axes
    sweeps = {
        " ".join(flags): cli_json(SWEEP + flags)
        for flags in (["--devices", str(n)], ["--mesh", f"data=2,model={n // 2}"], [])
    }
    assert sweeps[f"--devices {n}"]["mesh"] == {"data": 1, "model": n}, sweeps[f"--devices {n}"]
    assert sweeps[f"--mesh data=2,model={n // 2}"]["mesh"] == {"data": 2, "model": n // 2}
    assert sweeps[""]["devices"] == 1
    for flags, run in sweeps.items():
        np.testing.assert_allclose(
            np.array(run["val_accuracy"], float), np.array(sweeps[""]["val_accuracy"], float), atol=1e-6, err_msg=flags
        )
    # asking for more devices than exist: exit 2, one line
    for argv, start in (
        (TRAIN + ["--devices", str(2 * n)], f"--devices {2 * n}: asked for {2 * n} devices"),
        (SWEEP + ["--mesh", f"data=2,model={n}"], f"--mesh data=2,model={n}: asked for {2 * n} devices"),
    ):
        code, lines = cli_error(argv)
        assert code == 2 and len(lines) == 1, (argv, code, lines)
        assert lines[0].startswith(f"jaxopt-course: error: {start}"), lines[0]
        assert f"but JAX sees {n} (cpu)" in lines[0], lines[0]
    code, lines = cli_error(TRAIN + ["--mesh", "model=2"])
    assert code == 2 and len(lines) == 1 and "train trains one model" in lines[0], (code, lines)


def same_sweep(mesh, *, learning_rates, regs, on_chunk=None, seeds=1, sampling="with_replacement"):
    """The same sweep with the mesh and without one: (sharded, unsharded)."""
    X, y, W0 = problem()
    run = Run(softmax_loss, partial(get_optimizer, "momentum"), batch_size=24, num_steps=30, sampling=sampling)
    common = dict(
        key=jax.random.key(4), learning_rates=learning_rates, regs=regs, seeds=seeds, X_val=X[:40], y_val=y[:40]
    )
    return (
        sweep(run._replace(mesh=mesh), W0, X, y, loop=Loop(chunk_size=10, on_chunk=on_chunk), **common),
        sweep(run, W0, X, y, loop=Loop(chunk_size=10), **common),
    )


def compare_sweeps(sharded, single, mesh):
    close(sharded.params, single.params, "params")
    close(sharded.losses, single.losses, "losses")
    close(sharded.train_accuracy, single.train_accuracy, "train accuracy")
    close(sharded.val_accuracy, single.val_accuracy, "val accuracy")
    assert_replicated(sharded.params, mesh, "SweepResult.params")
    for field in ("losses", "train_accuracy", "val_accuracy"):
        assert isinstance(getattr(sharded, field), np.ndarray), field


def check_sweep_splits_the_models(n):
    # 16 models on n devices along "model": the sweep equals the unsharded one,
    # and while it runs each device holds the weights of 16/n models.
    mesh = distributed.make_mesh(n, data=1)
    states = []
    sharded, single = same_sweep(
        mesh,
        learning_rates=[0.01, 0.03, 0.1, 0.3],
        regs=[0.0, 1e-4, 1e-3, 1e-2],
        on_chunk=lambda state, metrics: states.append(state),
    )
    compare_sweeps(sharded, single, mesh)
    assert sharded.params.shape == (4, 4, 4, 8)
    W = states[-1].params
    assert W.shape == (16, 4, 8) and W.sharding.spec == P("model"), W.sharding
    assert sorted({shard.data.shape for shard in W.addressable_shards}) == [(16 // n, 4, 8)]
    for leaf in jax.tree.leaves(states[-1].opt_state):
        assert leaf.sharding.spec[:1] == ("model",), leaf.sharding
    assert states[-1].key.sharding.is_fully_replicated and states[-1].step.sharding.is_fully_replicated


def check_sweep_on_data_and_model_axes_with_an_uneven_grid(n):
    # 3 x 3 = 9 models do not split evenly over n/2 devices, and the batch of
    # 24 is split in 2 along "data" on top.
    mesh = distributed.make_mesh(data=2, model=n // 2)
    sharded, single = same_sweep(mesh, learning_rates=[0.01, 0.1, 0.5], regs=[0.0, 1e-3, 1e-1], sampling="shuffle")
    compare_sweeps(sharded, single, mesh)


def check_seeded_sweep_splits_the_models(n):
    # 2 x 2 grid points x 3 seeds = 12 models split along "model", with shuffle (one epoch order per seed).
    mesh = distributed.make_mesh(n, data=1)
    sharded, single = same_sweep(mesh, learning_rates=[0.03, 0.3], regs=[0.0, 1e-3], seeds=3, sampling="shuffle")
    compare_sweeps(sharded, single, mesh)
    assert sharded.params.shape == (2, 2, 3, 4, 8)


def check_sweep_chunks_compile_once(n):
    # Each chunk's output state is laid out like the first chunk's input
    # state, so later chunks reuse the first chunk's program.
    from jax import monitoring

    compiles = []
    monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: compiles.append(event) if event.endswith("backend_compile_duration") else None
    )
    mesh = distributed.make_mesh(n, data=1)
    X, y, W0 = problem()
    counts = []
    for num_steps in (10, 10, 30):  # the first run also compiles the eager helpers, once per process
        loss = partial(softmax_loss)  # a new object: a new static config, compiled afresh
        before = len(compiles)
        sweep(
            Run(loss, optax.sgd, batch_size=16, num_steps=num_steps, mesh=mesh),
            W0,
            X,
            y,
            key=jax.random.key(0),
            learning_rates=[0.1, 0.2],
            regs=[0.0, 0.1, 0.2, 0.3],
            loop=Loop(chunk_size=10),
        )
        counts.append(len(compiles) - before)
    assert counts[1] == counts[2], f"1 chunk: {counts[1]} compilations, 3 chunks: {counts[2]}"


SINGLE_PROCESS_CHECKS = [
    check_fit_matches_single_device,
    check_every_step_is_split_and_the_compiler_all_reduces,
    check_adam_shuffle_and_an_uneven_batch,
    check_gradient_descent_on_the_full_batch,
    check_make_train_with_a_traced_lr_and_reg,
    check_rows_split_over_the_devices,
    check_divergence_and_resume_on_the_mesh,
    check_too_many_devices_is_a_clear_error,
    check_sweep_splits_the_models,
    check_sweep_on_data_and_model_axes_with_an_uneven_grid,
    check_seeded_sweep_splits_the_models,
    check_sweep_chunks_compile_once,
    check_command_line,
]


# ---------------------------------------------------------------------------
# Several processes (hosts) on this machine
# ---------------------------------------------------------------------------


def check_multihost(process_id, num_processes):
    # Every process holds only its rows; the global arrays span all of them.
    assert jax.process_count() == num_processes and jax.process_index() == process_id
    mesh = distributed.make_mesh()
    n = mesh.size
    assert n == num_processes * jax.local_device_count()
    X, y, W0 = problem(num_examples=12 * n)
    X_local, y_local = distributed.host_shard(X, y)
    assert X_local.shape == (X.shape[0] // num_processes, 8)
    X_sh, y_sh = distributed.shard_rows(X_local, y_local, mesh)
    assert X_sh.shape == X.shape and not X_sh.is_fully_addressable
    run = Run(softmax_loss, optax.sgd, batch_size=20, num_steps=30)
    common = dict(key=jax.random.key(7), lr=0.2, loop=Loop(chunk_size=15))
    sharded = fit(run._replace(mesh=mesh), W0, X_sh, y_sh, **common)
    single = fit(run, W0, X, y, **common)  # this process's first device, all the data
    close(sharded.params, single.params, "params")
    close(sharded.losses, single.losses, "losses")
    assert sharded.params.sharding.is_fully_replicated
    # The command line: every process runs the same command, process 0 prints.
    train_run = cli_json(TRAIN)
    sweep_run = cli_json(SWEEP)
    if process_id == 0:
        for run_ in (train_run, sweep_run):
            assert run_["processes"] == num_processes and run_["devices"] == n, run_
        assert train_run["mesh"] == {"data": n, "model": 1} and sweep_run["mesh"] == {"data": 1, "model": n}
        assert train_run["train_examples_left_out"] == 1257 % n  # digits: 1257 rows, every device holds as many
    else:
        assert train_run is None and sweep_run is None, "only process 0 prints"


def run(checks, *args) -> dict:
    results = {}
    for check in checks:
        try:
            check(*args)
            results[check.__name__] = "ok"
        except Exception:  # noqa: BLE001 - reported to the parent test, which fails on it
            results[check.__name__] = traceback.format_exc()
    return results


def main(argv):
    if argv[0] == "devices":
        n = int(argv[1])
        assert jax.device_count() == n, f"expected {n} forced devices, JAX sees {jax.device_count()}"
        wanted = argv[2:] or [check.__name__ for check in SINGLE_PROCESS_CHECKS]
        results = run([check for check in SINGLE_PROCESS_CHECKS if check.__name__ in wanted], n)
    elif argv[0] == "multihost":
        process_id, num_processes, port = map(int, argv[1:4])
        distributed.initialize_multihost(f"localhost:{port}", num_processes, process_id)
        results = run([check_multihost], process_id, num_processes)
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
