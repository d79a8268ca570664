"""Sweeps in chunks: Ctrl-C, checkpoints and resume, bit for bit.

``sweep`` runs its ``lr x reg`` grid in chunks like ``fit``; these tests hold
it to the same promises: chunking never changes a bit of the result, Ctrl-C
becomes ``TrainingInterrupted`` at the last chunk boundary, and a sweep
resumed from a checkpoint file ends exactly where an uninterrupted one does.
The reference for each is an uninterrupted sweep (or ``jax.vmap`` of
``make_train``'s one-model ``train`` over the grid), never the interrupted run's own output. The last test sends a
real SIGINT to a real ``jaxopt-course sweep``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import interrupt_after_first_checkpoint
from jaxopt_course import softmax_loss, svm_loss, synthetic_problem
from jaxopt_course.checkpoint import (
    CHECKPOINT_FILE,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
    sweep_like,
)
from jaxopt_course.cli import main
from jaxopt_course.hostloop import Metrics, TrainingInterrupted
from jaxopt_course.locks import LOCK_FILE
from jaxopt_course.optimizers import get_optimizer
from jaxopt_course.train import Loop, Run, TrainState, initial_state, make_train, sweep

LRS, REGS = [0.05, 10.0], [0.0, 1.0]  # lr 10 with reg 1 diverges: (1 - 2 lr reg) = -19 per step
M = len(LRS) * len(REGS)


def problem():
    X, y = synthetic_problem(0, num_examples=96, dim=5, num_classes=3)
    return X, y, np.full((3, 6), 0.01, np.float32)


def assert_same_sweep(a, b):
    """Two SweepResults equal bit for bit (NaN where a model diverged, in both)."""
    for field in ("params", "losses", "train_accuracy", "val_accuracy"):
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)


# (optimizer, sampling, key, whether the model lr 10, reg 1 diverges): Adam's steps are at most about lr
# long whatever the gradient, so there it does not.
CASES = [
    ("adam", "shuffle", jax.random.key(1), False),
    ("nesterov", "with_replacement", jax.random.PRNGKey(2), True),  # a raw uint32 key too
]


@pytest.mark.parametrize("optimizer, sampling, key, diverges", CASES)
@pytest.mark.slow
def test_chunked_sweep_equals_one_scan_and_the_one_call_sweep_bit_for_bit(optimizer, sampling, key, diverges):
    X, y, W0 = problem()
    factory = partial(get_optimizer, optimizer)
    run = Run(softmax_loss, factory, batch_size=16, num_steps=45, sampling=sampling)
    kw = dict(key=key, learning_rates=LRS, regs=REGS, X_val=X[:40], y_val=y[:40])
    one_scan = sweep(run, W0, X, y, loop=Loop(chunk_size=None), **kw)
    chunked = sweep(run, W0, X, y, loop=Loop(chunk_size=7), **kw)  # 6 chunks of 7 and one of 3
    assert_same_sweep(chunked, one_scan)
    # ... and both equal PureJaxRL's sweep: jax.vmap of the one model's pure train over the flattened grid.
    lr_M = jnp.asarray(np.repeat(LRS, len(REGS)), jnp.float32)
    reg_M = jnp.asarray(np.tile(REGS, len(LRS)), jnp.float32)
    out = jax.jit(jax.vmap(make_train(run, X, y), in_axes=(None, None, 0, 0)))(W0, key, lr_M, reg_M)
    np.testing.assert_array_equal(np.asarray(out.state.params).reshape(chunked.params.shape), chunked.params)
    np.testing.assert_array_equal(np.asarray(out.metrics.loss).reshape(chunked.losses.shape), chunked.losses)
    # A sweep goes on past a diverged model: only that one has non-finite losses.
    finite = np.all(np.isfinite(chunked.losses), axis=2)
    np.testing.assert_array_equal(finite, [[True, True], [True, not diverges]])
    assert chunked.diverged[1, 1] == diverges or not diverges  # a NaN/Inf loss always breaks the rule
    assert not chunked.diverged[0].any() and chunked.diverged_step[0].tolist() == [-1, -1]


@pytest.mark.parametrize("optimizer, sampling, key, diverges", CASES)
@pytest.mark.slow
def test_interrupted_sweep_resumed_from_a_checkpoint_file_is_bit_for_bit(tmp_path, optimizer, sampling, key, diverges):
    X, y, W0 = problem()
    factory = partial(get_optimizer, optimizer)
    run = Run(svm_loss, factory, batch_size=16, num_steps=60, sampling=sampling)
    kw = dict(key=key, learning_rates=LRS, regs=REGS, X_val=X[:40], y_val=y[:40])
    reference = sweep(run, W0, X, y, loop=Loop(chunk_size=10), **kw)

    seen = []

    def ctrl_c_at_the_third_chunk(state, metrics):
        seen.append((int(state.step), metrics.loss.shape))
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Python's SIGINT handler raises

    with pytest.raises(
        TrainingInterrupted,
        match=r"sweep interrupted .* after 30 of 60 steps.*sweep\(\.\.\., "
        r"loop=Loop\(init_state=err.state",
    ) as info:
        sweep(run, W0, X, y, loop=Loop(chunk_size=10, on_chunk=ctrl_c_at_the_third_chunk), **kw)
    assert seen == [(10, (M, 10)), (20, (M, 20)), (30, (M, 30))]
    err = info.value
    assert isinstance(err, KeyboardInterrupt) and err.step == 30
    # The sweep's state: weights and optimizer state per model, one shared key, step and epoch order.
    assert err.state.params.shape == (M, 3, 6) and err.state.step.shape == () and int(err.state.step) == 30
    assert all(leaf.shape[0] == M for leaf in jax.tree_util.tree_leaves(err.state.opt_state))
    assert np.shape(err.state.key) == np.shape(key)
    assert (err.state.order is None) == (sampling != "shuffle")
    assert err.metrics.loss.shape == err.metrics.val_accuracy.shape == (M, 30)
    np.testing.assert_array_equal(err.metrics.loss, reference.losses.reshape(M, 60)[:, :30])
    # A diverged model's NaN/Inf weights are kept, and resumed from.
    assert np.all(np.isfinite(np.asarray(err.state.params))) == (not diverges)

    save_checkpoint(tmp_path, err.state, err.metrics, {"optimizer": optimizer})
    one_model = TrainState(
        jnp.asarray(W0),
        factory(0.1).init(jnp.asarray(W0)),
        key,
        jnp.int32(0),
        jnp.arange(len(y), dtype=jnp.int32) if sampling == "shuffle" else None,
    )
    saved = load_checkpoint(tmp_path, sweep_like(one_model, M))
    assert saved.config == {"optimizer": optimizer} and saved.metrics.loss.shape == (M, 30)
    resumed = sweep(run, W0, X, y, loop=Loop(chunk_size=10, init_state=saved.state, init_metrics=saved.metrics), **kw)
    assert_same_sweep(resumed, reference)
    np.testing.assert_array_equal(resumed.diverged, reference.diverged)
    np.testing.assert_array_equal(resumed.diverged_step, reference.diverged_step)


def test_a_state_of_another_sweep_is_refused_with_the_argument_named():
    X, y, W0 = problem()
    factory = partial(get_optimizer, "momentum")
    run = Run(softmax_loss, factory, batch_size=16, num_steps=20)
    kw = dict(key=jax.random.key(0))
    with pytest.raises(TrainingInterrupted) as info:
        sweep(
            run,
            W0,
            X,
            y,
            learning_rates=LRS,
            regs=REGS,
            loop=Loop(chunk_size=10, on_chunk=lambda state, metrics: (_ for _ in ()).throw(KeyboardInterrupt)),
            **kw,
        )
    state, metrics = info.value.state, info.value.metrics
    with pytest.raises(
        ValueError,
        match=r"init_state.params must be float32 of shape \(2, 3, 6\) for this run, "
        r"got float32 of shape \(4, 3, 6\)",
    ):
        sweep(run, W0, X, y, learning_rates=LRS, regs=[0.0], loop=Loop(init_state=state), **kw)
    with pytest.raises(ValueError, match=r"init_metrics must hold the 10 steps before init_state \(shape \(4, 10\)\)"):
        sweep(
            run,
            W0,
            X,
            y,
            learning_rates=LRS,
            regs=REGS,
            loop=Loop(init_state=state, init_metrics=Metrics(metrics.loss[0], metrics.val_accuracy[0])),
            **kw,
        )
    one_model = TrainState(jnp.asarray(W0), factory(0.1).init(jnp.asarray(W0)), state.key, jnp.int32(10))
    with pytest.raises(ValueError, match=r"init_state.params must be float32 of shape \(4, 3, 6\)"):
        sweep(run, W0, X, y, learning_rates=LRS, regs=REGS, loop=Loop(init_state=one_model), **kw)
    with pytest.raises(TypeError, match="on_chunk must be a function, got int"):
        sweep(run, W0, X, y, learning_rates=LRS, regs=REGS, loop=Loop(on_chunk=3), **kw)
    with pytest.raises(ValueError, match="num_models must be a positive integer, got 0"):
        sweep_like(one_model, 0)


# ---------------------------------------------------------------------------
# Seeds: an S axis after the lr and reg axes, seed s drawing from fold_in(key, s)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sampling", ["with_replacement", "shuffle"])
@pytest.mark.slow
def test_the_seed_axis_equals_separate_sweeps_with_folded_keys(sampling):
    X, y, W0 = problem()
    key, S = jax.random.key(4), 3
    run = Run(softmax_loss, partial(get_optimizer, "momentum"), batch_size=16, num_steps=30, sampling=sampling)
    kw = dict(learning_rates=[0.05, 0.5], regs=[0.0, 1e-2, 0.1], X_val=X[:40], y_val=y[:40], loop=Loop(chunk_size=12))
    seeded = sweep(run, W0, X, y, key=key, seeds=S, **kw)
    assert seeded.params.shape == (2, 3, S, 3, 6) and seeded.losses.shape == (2, 3, S, 30)
    assert seeded.train_accuracy.shape == seeded.val_accuracy.shape == (2, 3, S)
    for s in range(S):
        alone = sweep(run, W0, X, y, key=jax.random.fold_in(key, s), **kw)
        for field in ("params", "losses", "train_accuracy", "val_accuracy"):
            chex.assert_trees_all_close(
                np.asarray(getattr(seeded, field))[:, :, s], np.asarray(getattr(alone, field)), rtol=1e-6, atol=1e-7
            )
    # The seeds really differ (different minibatches), so the test above can fail.
    assert not np.allclose(seeded.losses[:, :, 0], seeded.losses[:, :, 1])


def test_an_interrupted_seeded_sweep_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    X, y, W0 = problem()
    factory = partial(get_optimizer, "adam")
    grid = dict(learning_rates=LRS, regs=REGS, seeds=2)
    run = Run(svm_loss, factory, batch_size=16, num_steps=40, sampling="shuffle")
    kw = dict(key=jax.random.key(5), **grid)
    reference = sweep(run, W0, X, y, loop=Loop(chunk_size=10), **kw)

    def ctrl_c_at_the_second_chunk(state, metrics):
        if int(state.step) == 20:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        sweep(run, W0, X, y, loop=Loop(chunk_size=10, on_chunk=ctrl_c_at_the_second_chunk), **kw)
    err = info.value
    assert err.state.params.shape == (2 * M, 3, 6) and err.state.order.shape == (2, len(y))  # one order per seed
    save_checkpoint(tmp_path, err.state, err.metrics, {"seeds": 2})
    like = initial_state(run, W0, kw["key"], num_examples=len(y), **grid)
    saved = load_checkpoint(tmp_path, like)
    resumed = sweep(run, W0, X, y, loop=Loop(chunk_size=10, init_state=saved.state, init_metrics=saved.metrics), **kw)
    assert_same_sweep(resumed, reference)


# ---------------------------------------------------------------------------
# The command line: a real SIGINT, then --resume
# ---------------------------------------------------------------------------

# 30 chunks of 1000 steps of 4 models (about 0.1 s a chunk on 2 CPU cores), so a
# SIGINT sent after the first checkpoint lands mid-run; momentum, so the optimizer
# state must survive the checkpoint too.
# fmt: off
# each flag beside its value, as on a command line
SWEEP = ["sweep", "--steps", "30000", "--chunk-size", "1000", "--batch-size", "256", "--optimizer", "momentum",
         "--lrs", "0.01,0.1", "--regs", "0,0.001", "--seed", "3"]
# fmt: on


def cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "jaxopt_course", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def load_run(folder: Path):
    with np.load(folder / "params.npz") as z:
        W = z["W"]
    return W, json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_writes_a_checkpoint_and_resume_equals_an_uninterrupted_sweep(tmp_path):
    reference = tmp_path / "uninterrupted"
    done = cli(*SWEEP, "--out", reference, "--json")
    assert done.returncode == 0, done.stderr

    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    returncode, err = interrupt_after_first_checkpoint([*SWEEP, "--checkpoint-dir", str(ckpt), "--out", str(out)], ckpt)
    assert returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    match = re.fullmatch(
        rf"jaxopt-course: interrupted \(SIGINT\) at step (\d+) of 30000; checkpoint written to "
        rf"{re.escape(str(ckpt))}/ -- run the same command to continue \(or add --resume "
        rf"{re.escape(str(ckpt))}\)",
        lines[0],
    )
    assert match, lines[0]
    step = int(match.group(1))
    assert 1000 <= step < 30000 and step % 1000 == 0  # a chunk boundary, before the end
    assert read_checkpoint_config(ckpt)["step"] == step
    # No temporary file left behind (the folder's lock file stays: a lock is released, not deleted).
    assert sorted(p.name for p in ckpt.iterdir() if p.name != LOCK_FILE) == [CHECKPOINT_FILE]
    W_kept, metrics = load_run(out)
    assert metrics["status"] == "interrupted" and metrics["step"] == step
    assert W_kept.shape == (2, 2, 10, 65) and np.all(np.isfinite(W_kept))  # the lr x reg grid of digits models
    assert np.shape(metrics["losses"]) == (2, 2, step)

    resumed = cli(*SWEEP, "--resume", ckpt, "--out", out, "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_from_step"] == step
    W_resumed, metrics_resumed = load_run(out)
    W_reference, metrics_reference = load_run(reference)
    np.testing.assert_array_equal(W_resumed, W_reference)  # bit for bit
    assert metrics_resumed["losses"] == metrics_reference["losses"]
    assert [row[:step] for grid_row in metrics_resumed["losses"] for row in grid_row] == [
        row for grid_row in metrics["losses"] for row in grid_row
    ]
    assert summary["val_accuracy"] == json.loads(done.stdout)["val_accuracy"]
    assert summary["best"] == json.loads(done.stdout)["best"]
    assert metrics_resumed["status"] == "completed"


@pytest.mark.slow
def test_sweep_resume_refuses_another_grid_and_a_train_checkpoint(tmp_path, capsys):
    small = ["--steps", "4", "--chunk-size", "2", "--batch-size", "16"]
    assert main(["sweep", *small, "--lrs", "0.1,1", "--regs", "0", "--checkpoint-dir", str(tmp_path / "sweep")]) == 0
    assert read_checkpoint_config(tmp_path / "sweep")["step"] == 4
    assert main(["train", *small, "--checkpoint-dir", str(tmp_path / "train")]) == 0
    capsys.readouterr()
    # fmt: off
    # one case a row: the command, then the message it must get
    cases = [
        (["sweep", *small, "--lrs", "0.1,2", "--regs", "0", "--resume", str(tmp_path / "sweep")],
         r"the checkpoint is of a run with --lrs 0.1,1, this command has 0.1,2"),
        (["sweep", *small, "--lrs", "0.1,1", "--regs", "0", "--resume", str(tmp_path / "train")],
         r"the checkpoint is of a run with the subcommand train, this command has sweep"),
        (["train", *small, "--resume", str(tmp_path / "sweep")],
         r"the checkpoint is of a run with the subcommand sweep, this command has train"),
        (["sweep", "--steps", "3", "--lrs", "0.1,1", "--regs", "0", "--batch-size", "16", "--resume",
          str(tmp_path / "sweep")], r"the checkpoint is at step 4, beyond --steps 3"),
    ]
    # fmt: on
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and re.search(message, err[0]), err
