"""Reliability: Ctrl-C and resume, determinism, divergence, malformed files and extreme values.

The bad-input catalogue is in ``test_catalogue.py``; here are the behaviours
that need a run: a real SIGINT sent to a real ``jaxopt-course train``, two
processes with one seed, a learning rate that blows up (checked against a
NumPy float32 gradient descent), hypothesis-made broken CIFAR-10 pickles,
and scores up to +-1e30 (checked against NumPy float64 loops).
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import interrupt_after_first_checkpoint
from jaxopt_course import softmax_loss, softmax_per_example, svm_loss, svm_per_example, synthetic_problem
from jaxopt_course.checkpoint import CHECKPOINT_FILE, load_checkpoint, read_checkpoint_config, save_checkpoint
from jaxopt_course.cli import main
from jaxopt_course.data import read_cifar10_batch
from jaxopt_course.divergence import DIVERGENCE_FACTOR, DivergenceError
from jaxopt_course.hostloop import TrainingInterrupted
from jaxopt_course.locks import LOCK_FILE
from jaxopt_course.optimizers import get_optimizer
from jaxopt_course.train import Loop, Run, TrainState, fit, initial_state

HYPOTHESIS = dict(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cli(*args, timeout=300, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "jaxopt_course", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def load_run(folder: Path):
    with np.load(folder / "params.npz") as z:
        W = z["W"]
    return W, json.loads((folder / "metrics.json").read_text())


# ---------------------------------------------------------------------------
# Ctrl-C, resume and determinism: real processes
# ---------------------------------------------------------------------------

# Long enough (80 chunks) that a SIGINT sent after the first checkpoint lands
# mid-run; momentum, so the optimizer state must survive the checkpoint too.
TRAIN = [
    "train",
    "--steps",
    "40000",
    "--chunk-size",
    "500",
    "--batch-size",
    "32",
    "--optimizer",
    "momentum",
    "--lr",
    "0.1",
    "--seed",
    "3",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same run, never interrupted, in its own process."""
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    proc = cli(*TRAIN, "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path, uninterrupted):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    returncode, err = interrupt_after_first_checkpoint([*TRAIN, "--checkpoint-dir", str(ckpt), "--out", str(out)], ckpt)
    assert returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    match = re.fullmatch(
        rf"jaxopt-course: interrupted \(SIGINT\) at step (\d+) of 40000; checkpoint written to "
        rf"{re.escape(str(ckpt))}/ -- run the same command to continue \(or add --resume "
        rf"{re.escape(str(ckpt))}\)",
        lines[0],
    )
    assert match, lines[0]
    step = int(match.group(1))
    assert 500 <= step < 40000 and step % 500 == 0  # a chunk boundary, before the end
    assert read_checkpoint_config(ckpt)["step"] == step
    # No temporary file left behind (the folder's lock file stays: a lock is released, not deleted).
    assert sorted(p.name for p in ckpt.iterdir() if p.name != LOCK_FILE) == [CHECKPOINT_FILE]
    W_kept, metrics = load_run(out)
    assert metrics["status"] == "interrupted" and metrics["step"] == step and len(metrics["losses"]) == step
    assert np.all(np.isfinite(W_kept))

    resumed = cli(*TRAIN, "--checkpoint-dir", ckpt, "--resume", ckpt, "--out", out, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_step"] == step
    W_resumed, metrics_resumed = load_run(out)
    W_reference, metrics_reference = load_run(uninterrupted)
    np.testing.assert_array_equal(W_resumed, W_reference)  # bit for bit
    assert metrics_resumed["losses"] == metrics_reference["losses"]
    assert metrics_resumed["losses"][:step] == metrics["losses"]
    assert metrics_resumed["test_accuracy"] == metrics_reference["test_accuracy"]


@pytest.mark.slow
def test_two_processes_with_one_seed_give_identical_params_and_metrics(tmp_path, uninterrupted):
    second = cli(*TRAIN, "--out", tmp_path / "second", "--chunk-size", "7000", "--json")  # other chunks, too
    assert second.returncode == 0, second.stderr
    W_a, metrics_a = load_run(uninterrupted)
    W_b, metrics_b = load_run(tmp_path / "second")
    np.testing.assert_array_equal(W_a, W_b)
    drop = ("seconds", "chunk_size")
    assert {k: v for k, v in metrics_a.items() if k not in drop} == {
        k: v for k, v in metrics_b.items() if k not in drop
    }
    # ... and the seed matters: another seed is another run.
    other = [a if a != "3" else "4" for a in TRAIN]
    assert main([*other[:2], "2000", *other[3:], "--out", str(tmp_path / "other")]) == 0
    assert not np.array_equal(load_run(tmp_path / "other")[1]["losses"][:100], metrics_a["losses"][:100])


# ---------------------------------------------------------------------------
# Interruption and resume in the Python API
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "optimizer, sampling, key",
    [
        ("adam", "shuffle", jax.random.key(1)),
        ("nesterov", "with_replacement", jax.random.PRNGKey(2)),  # a raw uint32 key survives too
    ],
)
@pytest.mark.slow
def test_interrupted_fit_resumed_from_a_checkpoint_file_is_bit_for_bit(tmp_path, optimizer, sampling, key):
    X, y = synthetic_problem(0, num_examples=96, dim=5, num_classes=3)
    W0 = np.zeros((3, 6), np.float32)
    run = Run(
        softmax_loss, partial(get_optimizer, optimizer), batch_size=16, num_steps=60, sampling=sampling, eval_every=7
    )
    kw = dict(key=key, lr=0.05, X_val=X, y_val=y)
    reference = fit(run, W0, X, y, loop=Loop(chunk_size=10), **kw)

    chunks = []

    def ctrl_c_at_the_third_chunk(state, metrics):
        chunks.append(int(state.step))
        if len(chunks) == 3:
            raise KeyboardInterrupt  # what Python's SIGINT handler raises

    with pytest.raises(TrainingInterrupted, match="interrupted .* after 30 of 60 steps") as info:
        fit(run, W0, X, y, loop=Loop(chunk_size=10, on_chunk=ctrl_c_at_the_third_chunk), **kw)
    err = info.value
    assert isinstance(err, KeyboardInterrupt) and err.step == 30 and int(err.state.step) == 30
    save_checkpoint(tmp_path, err.state, err.metrics, {"optimizer": optimizer})

    saved = load_checkpoint(tmp_path, initial_state(run, W0, key, num_examples=96, lr=0.05))
    assert saved.config == {"optimizer": optimizer}
    resumed = fit(run, W0, X, y, loop=Loop(chunk_size=10, init_state=saved.state, init_metrics=saved.metrics), **kw)
    np.testing.assert_array_equal(np.asarray(resumed.params), np.asarray(reference.params))
    np.testing.assert_array_equal(resumed.losses, reference.losses)
    np.testing.assert_array_equal(resumed.val_steps, reference.val_steps)
    np.testing.assert_array_equal(resumed.val_accuracies, reference.val_accuracies)
    jax.tree_util.tree_map(np.testing.assert_array_equal, resumed.state.opt_state, reference.state.opt_state)


def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    W = jnp.ones((2, 3))
    opt = optax.adam(0.1)
    state = TrainState(W, opt.init(W), jax.random.key(0), jnp.int32(10))
    save_checkpoint(tmp_path, state)

    def crash(*args):
        raise KeyboardInterrupt  # Ctrl-C between writing the temporary file and renaming it

    monkeypatch.setattr("jaxopt_course.files.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, state._replace(params=W + 1, step=jnp.int32(20)))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]  # no half-written file beside it
    saved = load_checkpoint(tmp_path, state)
    assert int(saved.state.step) == 10 and bool(jnp.all(saved.state.params == W))


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------


def numpy_gradient_descent(W0, X, y, lr, reg, num_steps):
    """Independent float32 reference: softmax gradient descent until the loss breaks the divergence rule.

    The rule, written out again here: the first step whose loss is NaN/Inf or above
    ``DIVERGENCE_FACTOR`` times the loss at step 0. Returns ``(that step, the losses up to it,
    the weights of every step before it)``.
    """
    W = W0.astype(np.float32)
    n = len(y)
    losses, weights = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(num_steps):
            scores = X @ W.T
            shifted = scores - scores.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            total = exp.sum(axis=1)
            loss = np.mean(np.log(total) - shifted[np.arange(n), y]) + np.float32(reg) * np.sum(W * W)
            losses.append(loss)
            if not np.isfinite(loss) or loss > DIVERGENCE_FACTOR * losses[0]:
                return step, np.array(losses), weights
            weights.append(W)
            p = exp / total[:, None]
            p[np.arange(n), y] -= 1
            W = (W - np.float32(lr) * (p.T @ X / np.float32(n) + np.float32(2 * reg) * W)).astype(np.float32)
    raise AssertionError("the reference did not diverge")


FULL_BATCH_SGD_10 = Run(softmax_loss, optax.sgd, batch_size=None, num_steps=100)


def test_divergence_names_the_step_and_the_last_loss_and_keeps_those_params():
    X, y = synthetic_problem(1, num_examples=40, dim=5, num_classes=3)
    W0 = np.full((3, 6), 0.01, np.float32)
    # reg = 1, lr = 10: the penalty's gradient multiplies W by (1 - 2 lr reg) = -19 every step, so the
    # loss passes 10 x its start (at about step 2) long before it overflows.
    bad, losses, weights = numpy_gradient_descent(W0, X, y, lr=10.0, reg=1.0, num_steps=100)
    assert 1 <= bad < 10 and np.isfinite(losses[bad])  # the rule fires on a finite loss here
    with pytest.raises(DivergenceError) as info:
        fit(FULL_BATCH_SGD_10, W0, X, y, key=jax.random.key(0), lr=10.0, reg=1.0, loop=Loop(chunk_size=6))
    err = info.value
    assert err.step == bad
    assert (
        f"the loss is {err.metrics.loss[bad]:.6g} at step {bad} of 100 and rose above 10 x the loss at step 0 "
        f"({err.metrics.loss[0]:.6g}) (the loss was {err.last_finite_loss:.6g} at step {bad - 1})"
    ) in str(err)
    assert err.last_finite_loss == pytest.approx(float(losses[bad - 1]), rel=1e-4)
    np.testing.assert_allclose(err.metrics.loss, losses, rtol=1e-4)
    assert len(err.metrics.loss) == bad + 1
    np.testing.assert_allclose(np.asarray(err.params), weights[bad - 1], rtol=1e-4)  # the weights of the step before


@pytest.mark.slow
def test_divergence_right_after_a_resume_keeps_the_resumed_weights():
    X, y = synthetic_problem(1, num_examples=40, dim=5, num_classes=3)
    W0 = np.full((3, 6), 0.01, np.float32)
    kw = dict(key=jax.random.key(0), lr=10.0, reg=1.0)
    with pytest.raises(DivergenceError) as first:
        fit(FULL_BATCH_SGD_10, W0, X, y, **kw)
    bad = first.value.step
    before = fit(FULL_BATCH_SGD_10._replace(num_steps=bad), W0, X, y, **kw)  # stops right before the bad step
    with pytest.raises(DivergenceError, match=f"at step {bad} of 100") as info:
        fit(
            FULL_BATCH_SGD_10,
            W0,
            X,
            y,
            loop=Loop(
                init_state=before.state,
                init_metrics=first.value.metrics._replace(loss=before.losses, val_accuracy=np.full(bad, np.nan)),
            ),
            **kw,
        )
    assert info.value.step == bad
    assert info.value.last_finite_loss == pytest.approx(float(before.losses[-1]))
    np.testing.assert_array_equal(np.asarray(info.value.params), np.asarray(before.params))


@pytest.mark.slow
def test_the_command_line_writes_the_last_finite_params_and_metrics_on_divergence(tmp_path, capsys):
    # lr 5, reg 1: W is multiplied by about (1 - 2 lr reg) = -9 a step, the loss passes 10 x its start at step 2.
    args = ["train", "--lr", "5", "--reg", "1", "--chunk-size", "10"]
    assert main([*args, "--steps", "100", "--out", str(tmp_path / "diverged")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    found = re.search(r"training diverged: the loss is \S+ at step (\d+) of 100 and rose above 10 x", err[0])
    assert found, err[0]
    step = int(found[1])
    assert step >= 2  # so that the run one step shorter below has at least one step
    assert f"Kept the last finite params and the metrics so far in {tmp_path / 'diverged'}/" in err[0]
    W, metrics = load_run(tmp_path / "diverged")
    assert metrics["status"] == "diverged" and metrics["diverged_at_step"] == step
    losses = metrics["losses"]
    assert len(losses) == step + 1 and losses[-1] > DIVERGENCE_FACTOR * losses[0]  # the rule, on a finite loss
    assert all(np.isfinite(losses)) and all(loss <= DIVERGENCE_FACTOR * losses[0] for loss in losses[:-1])
    assert metrics["last_finite_loss"] == pytest.approx(losses[-2])
    # The kept weights are those of a run that stops one step earlier (their loss was the one before).
    assert main([*args, "--steps", str(step - 1), "--out", str(tmp_path / "stopped")]) == 0
    np.testing.assert_allclose(W, load_run(tmp_path / "stopped")[0], rtol=1e-6)


# ---------------------------------------------------------------------------
# Malformed CIFAR-10 batch files
# ---------------------------------------------------------------------------

DTYPES = [np.uint8, np.int8, np.int64, np.float32, np.float64, np.bool_, np.uint16, object, "U3"]
SHAPES = [(), (0,), (3,), (2, 3072), (0, 3072), (2, 3071), (2, 2, 3), (1, 3072)]
arrays = st.builds(lambda dtype, shape: np.zeros(shape, dtype=dtype), st.sampled_from(DTYPES), st.sampled_from(SHAPES))
scalars = st.one_of(
    st.none(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=3), st.binary(max_size=3), st.booleans()
)
values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.sampled_from([b"data", b"labels", "data", "labels", b"batch_label", b"filenames", b"x", 1, None])
labels = st.one_of(
    values,
    st.lists(st.integers(-3, 12), max_size=4),
    st.builds(lambda v: np.array(v, np.int64), st.lists(st.integers(-3, 12), max_size=4)),
)
records = st.one_of(
    values,  # not a dict at all
    st.dictionaries(keys, values, max_size=4),  # wrong or missing keys
    st.builds(
        lambda data, lab: {b"data": data, b"labels": lab}, st.one_of(arrays, values), labels
    ),  # wrong sizes, dtypes
)


def check_read(path: Path):
    """A batch is either read correctly or refused with a ValueError naming the file."""
    try:
        data, lab = read_cifar10_batch(path)
    except ValueError as err:
        assert str(path) in str(err), str(err)
        return False
    assert data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
    assert lab.dtype == np.int32 and lab.shape == (len(data),) and (len(lab) == 0 or 0 <= lab.min() <= lab.max() < 10)
    return True


@settings(max_examples=300, **HYPOTHESIS)
@given(record=records, protocol=st.sampled_from([2, 4, 5]))
@pytest.mark.slow
def test_malformed_batch_pickles_end_in_a_clear_error(tmp_path_factory, record, protocol):
    path = tmp_path_factory.getbasetemp() / "malformed_batch"
    path.write_bytes(pickle.dumps(record, protocol=protocol))
    check_read(path)  # any KeyError, IndexError, AttributeError, TypeError ... fails the test


@settings(max_examples=100, **HYPOTHESIS)
@given(cut=st.integers(0, 6300), protocol=st.sampled_from([2, 4]))
def test_truncated_batch_files_end_in_a_clear_error(tmp_path_factory, cut, protocol):
    record = {b"batch_label": b"training batch", b"labels": [3, 7], b"data": np.full((2, 3072), 9, np.uint8)}
    blob = pickle.dumps(record, protocol=protocol)
    path = tmp_path_factory.getbasetemp() / "truncated_batch"
    path.write_bytes(blob[:cut])
    assert check_read(path) == (cut >= len(blob))


# ---------------------------------------------------------------------------
# Extreme values
# ---------------------------------------------------------------------------

NUM, CLASSES = 4, 3
BIG = float(np.float32(1e30))  # 1e30 as float32 holds it


def numpy_losses(scores, y, margin=1.0):
    """Float64 loops: per-example SVM and softmax losses from the scores."""
    svm, softmax = [], []
    for s, label in zip(scores.astype(np.float64), y, strict=True):
        svm.append(sum(max(0.0, s[j] - s[label] + margin) for j in range(len(s)) if j != label))
        top = s.max()  # -log(e^{s_y} / sum_j e^{s_j}) = log sum_j e^{s_j - top} + (top - s_y), two terms >= 0
        softmax.append(np.log(np.sum(np.exp(s - top))) + (top - s[label]))
    return np.array(svm), np.array(softmax)


def close(a, b):
    return np.all(np.abs(np.asarray(a, np.float64) - b) <= 1e-5 * np.abs(b) + 1e-6)


@settings(max_examples=60, **HYPOTHESIS)
@given(
    values=st.lists(st.floats(-BIG, BIG, width=32), min_size=NUM * CLASSES, max_size=NUM * CLASSES),
    y=st.lists(st.integers(0, CLASSES - 1), min_size=NUM, max_size=NUM),
)
@pytest.mark.slow
def test_scores_up_to_1e30_in_float32_give_finite_losses_and_gradients(values, y):
    W = jnp.eye(CLASSES, dtype=jnp.float32)  # scores = X exactly
    X = np.array(values, np.float32).reshape(NUM, CLASSES)
    y = np.array(y, np.int32)
    svm_ref, softmax_ref = numpy_losses(X, y)
    assert close(svm_per_example(W, X, y), svm_ref)
    assert close(softmax_per_example(W, X, y), softmax_ref)
    assert close(svm_loss(W, X, y), svm_ref.mean())
    assert close(softmax_loss(W, X, y), softmax_ref.mean())
    for loss in (svm_loss, softmax_loss):
        assert np.all(np.isfinite(np.asarray(jax.grad(loss)(W, X, y))))


HUGE = [float(np.float32(v)) for v in (3.4e38, -3.4e38, 2e38, -2e38, 1.5e38, -1e38)]
any_float32 = st.one_of(st.floats(width=32, allow_nan=False, allow_infinity=False), st.sampled_from(HUGE))


@settings(max_examples=60, **HYPOTHESIS)
@given(
    values=st.lists(any_float32, min_size=NUM * CLASSES, max_size=NUM * CLASSES),
    y=st.lists(st.integers(0, CLASSES - 1), min_size=NUM, max_size=NUM),
)
def test_any_finite_float32_scores_give_a_finite_loss_or_a_clear_overflow_error(values, y):
    W = jnp.eye(CLASSES, dtype=jnp.float32)
    X = np.array(values, np.float32).reshape(NUM, CLASSES)
    y = np.array(y, np.int32)
    for loss in (svm_loss, softmax_loss, svm_per_example, softmax_per_example):
        try:
            value = np.asarray(loss(W, X, y))
        except ValueError as err:
            assert re.search(r"is not finite for the finite W and X given: .*overflow", str(err)), str(err)
            # ... and only where float64 confirms that the terms reach float32's limit (3.4e38).
            svm_ref, softmax_ref = numpy_losses(X, y)
            ref = svm_ref if "svm" in loss.__name__ else softmax_ref
            assert np.sum(ref) > np.finfo(np.float32).max / 2
        else:
            assert np.all(np.isfinite(value))  # never NaN, never Inf


@pytest.mark.parametrize(
    "row, label, cause",
    [
        ([3e38, -3e38, 0.0], 1, r"the score differences s_j - s_y overflow float32: scores span 6e\+38"),
        ([2e38, 2e38, -1.0], 2, r"a sum of its terms \(over classes or examples\) overflows float32"),
    ],
)
def test_finite_scores_whose_loss_overflows_get_a_clear_error(row, label, cause):
    X = np.array([row, [0.0, 0.0, 0.0]], np.float32)
    y = np.array([label, 0], np.int32)
    with pytest.raises(ValueError, match=r"svm_loss is not finite for the finite W and X given: " + cause):
        svm_loss(jnp.eye(3, dtype=jnp.float32), X, y)


def test_a_score_overflow_says_which_sizes_are_too_large():
    W = np.full((3, 4), 1e20, np.float32)
    X = np.full((2, 4), 1e20, np.float32)
    y = np.array([0, 1], np.int32)
    with pytest.raises(
        ValueError,
        match=r"softmax_loss is not finite .* the scores X @ W.T overflow float32: "
        r"the largest \|score\| is 4e\+40 > 3.4e\+38 \(max \|W\| = 1e\+20",
    ):
        softmax_loss(W, X, y)
    with pytest.raises(ValueError, match=r"the penalty reg \* sum\(W\*\*2\) = 1.2e\+41 overflows float32"):
        svm_loss(W, np.zeros((2, 4), np.float32), y, reg=1.0)
    with jax.enable_x64(True):  # the advice works: float64 has room for these scores
        assert np.isfinite(float(softmax_loss(W.astype(np.float64), X.astype(np.float64), y)))
