"""The catalogue of bad inputs: every wrong thing a learner will feed the code once, and what they get.

Each row of :data:`CATALOGUE` is one test. A Python row must raise its
exception type, with a message matching its pattern (the argument's name,
what was expected, what came), from plain Python -- no JAX frame in the
traceback, so nothing was traced or compiled first. A command-line row must
exit with its code (2 for a bad input) and print exactly one line on stderr,
no traceback. A row whose error is ``None`` is accepted input whose
behaviour is documented (say, a batch larger than the data set).

``docs/errors.md`` is this table with the messages actually seen; rebuild it
with ``python tests/test_catalogue.py` in the activated venv` after changing a message.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_course import fit, limits, load_cifar10, load_data, locks, random_search, softmax_loss, svm_loss, toys
from jaxopt_course.assignment import grade as grade_assignment
from jaxopt_course.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint, save_run
from jaxopt_course.cli import main
from jaxopt_course.data import download_cifar10, read_cifar10_batch
from jaxopt_course.diagnosis import diagnose_gradient
from jaxopt_course.distributed import initialize_multihost
from jaxopt_course.files import WriteError
from jaxopt_course.gradcheck import check_gradient, numerical_gradient
from jaxopt_course.limits import LimitError
from jaxopt_course.locks import FolderInUse
from jaxopt_course.losses import get_loss
from jaxopt_course.model import init_weights
from jaxopt_course.optimizers import get_optimizer
from jaxopt_course.train import Loop, Run, TrainState, sweep

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "errors.md"


class Row(NamedTuple):
    """One bad input and the error it gets.

    Attributes:
      id: a short unique name (the test id).
      where: ``"python"`` or ``"cli"``.
      bad_input: what is wrong, in words.
      run: Python: ``run(tmp)`` makes the call; CLI: the arguments, where
        ``{tmp}`` is the test's temporary folder.
      error: Python: the exception type; CLI: the exit code; ``None``: the
        input is accepted (see ``match`` for what happens).
      match: a regular expression the message (CLI: the stderr line; accepted
        CLI input: stdout) must match.
      setup: ``setup(tmp)`` prepares files the row needs.
    """

    id: str
    where: str
    bad_input: str
    run: Callable | list
    error: type | int | None
    match: str
    setup: Callable | None = None


# ---------------------------------------------------------------------------
# A small problem and the files the rows need
# ---------------------------------------------------------------------------

C, D, N = 3, 4, 5
W = np.zeros((C, D), np.float32)
X = np.arange(N * D, dtype=np.float32).reshape(N, D) / 10
y = np.array([0, 1, 2, 0, 1], np.int32)
KEY = jax.random.key(0)


def with_value(a, index, value):
    a = a.copy()
    a[index] = value
    return a


def fit_(**kwargs):
    """``fit(Run(...), W0, X, y, ...)`` on the small problem; keyword arguments override a field of the
    :class:`~jaxopt_course.train.Run`, of the :class:`~jaxopt_course.train.Loop` or of ``fit`` itself."""
    run = dict(loss_fn=softmax_loss, optimizer=optax.sgd, batch_size=2, num_steps=3)
    args = dict(W0=W, X=X, y=y, key=KEY, lr=0.1)
    loop = {}
    for name, value in kwargs.items():
        (run if name in Run._fields else loop if name in Loop._fields else args)[name] = value
    return fit(Run(**run), args.pop("W0"), args.pop("X"), args.pop("y"), loop=Loop(**loop), **args)


def valid_batch(n=2) -> bytes:
    record = {b"batch_label": b"training batch", b"labels": list(range(n)), b"data": np.zeros((n, 3072), np.uint8)}
    return pickle.dumps(record, protocol=2)


class _RunsCode:
    """Pickles as a call of ``os.system``: what a hostile "batch file" would hold."""

    def __reduce__(self):
        return (os.system, ("echo this should never run",))


def write_file(name, data: bytes):
    def setup(tmp: Path):
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return setup


def blocked(tmp: Path):
    """A regular file where a folder should be created: that folder cannot be written (even as root)."""
    (tmp / "a-file").write_text("in the way")


def archive(tmp: Path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (tmp / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())


def small_checkpoint(tmp: Path):
    """A real digits checkpoint at step 2 (lr 1.0), written by the command line itself."""
    assert main(["train", "--steps", "2", "--chunk-size", "1", "--checkpoint-dir", str(tmp / "ckpt")]) == 0


_RESTORE = []  # undo a row's setup once the row ran (run_cli_row)


def sgd_checkpoint(tmp: Path):
    state = TrainState(jnp.asarray(W), optax.sgd(0.1).init(W), KEY, jnp.int32(0))
    save_checkpoint(tmp / "ckpt", state)


def corrupt_checkpoint(tmp: Path):
    sgd_checkpoint(tmp)
    path = tmp / "ckpt" / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:100])


def nested_config_checkpoint(tmp: Path):
    sgd_checkpoint(tmp)
    path = tmp / "ckpt" / "checkpoint.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["config_json"] = np.str_('{"a": ' + "[" * 200000 + "]" * 200000 + "}")
    np.savez(path, **arrays)


_HELD = []  # the other run's lock, kept alive for the row


def hold_out_folder(tmp: Path):
    """What a run holding ``tmp/out`` leaves: the OS lock (held here) and its owner file."""
    import filelock

    from jaxopt_course.files import atomic_write_json

    (tmp / "out").mkdir()
    lock = filelock.FileLock(tmp / "out" / locks.LOCK_FILE)
    lock.acquire(timeout=0)
    _HELD.append(lock)
    atomic_write_json(tmp / "out" / locks.OWNER_FILE, {"pid": 4242, "host": "elsewhere", "started": 0})


def adam_like():
    return TrainState(jnp.asarray(W), optax.adam(0.1).init(W), KEY, jnp.int32(0))


TRUNCATED = valid_batch()[:300]


# --- files for the hardening rows (issue 16; the real-process versions are in test_hardening.py) ---


class _Call:
    """Pickles as ``fn(*args)`` (then ``BUILD state``): how a crafted pickle asks for things."""

    def __init__(self, fn, *args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


def crafted_batch(data, labels, protocol=2) -> bytes:
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=protocol)


def _reconstruct_call(shape, raw: bytes):
    """NumPy's own pickle form of a uint8 array of ``shape``, holding the bytes ``raw``."""
    from numpy._core.multiarray import _reconstruct

    return _Call(_reconstruct, np.ndarray, (0,), b"b", state=(1, shape, np.dtype(np.uint8), False, raw))


def big_member_archive(tmp: Path):
    """A verified archive (in data/) whose data_batch_1 declares 32 MiB + 1 bytes (zeros: 33 KB compressed)."""
    (tmp / "data").mkdir()
    with tarfile.open(tmp / "data" / "cifar-10-python.tar.gz", "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = 32 * 2**20 + 1
        tar.addfile(info, io.BytesIO(bytes(info.size)))


def archive_md5(tmp: Path) -> str:
    import hashlib

    return hashlib.md5((tmp / "data" / "cifar-10-python.tar.gz").read_bytes()).hexdigest()


_HELD_LOCKS = []


def held_lock(tmp: Path):
    """Another holder of data/.cifar-10.lock (a second file descriptor: flock sees two owners)."""
    import filelock

    (tmp / "data").mkdir()
    lock = filelock.FileLock(tmp / "data" / ".cifar-10.lock")
    lock.acquire()
    _HELD_LOCKS.append(lock)  # released by locked_download


def locked_download(tmp: Path):
    try:
        download_cifar10(tmp / "data", url="http://127.0.0.1:9/x", lock_timeout=0.1, progress=False)
    finally:
        while _HELD_LOCKS:
            _HELD_LOCKS.pop().release()


def crafted_checkpoint(members: dict, compression=None):
    """A real SGD checkpoint rewritten with some members replaced or added."""
    import zipfile

    def setup(tmp: Path):
        sgd_checkpoint(tmp)
        path = tmp / "ckpt" / "checkpoint.npz"
        with zipfile.ZipFile(path) as z:
            content = {i.filename: z.read(i) for i in z.infolist()}
        content.update(members)
        with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as z:
            for name, data in content.items():
                z.writestr(name, data)

    return setup


def npy_header(shape, descr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def sgd_like():
    return TrainState(jnp.asarray(W), optax.sgd(0.1).init(W), KEY, jnp.int32(0))


def three_steps():
    from jaxopt_course.train import Metrics

    return Metrics(np.zeros(3, np.float32), np.full(3, np.nan, np.float32))


def write_past_a_file_size_limit(tmp: Path):
    """save_run under RLIMIT_FSIZE = 1000 bytes: the kernel refuses the write (EFBIG; Python ignores SIGXFSZ)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        save_run(tmp / "out", params=np.zeros((10, 3073), np.float32), metrics=three_steps(), summary={})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def two_threads_download(tmp: Path):
    """Two downloads at once into one empty folder (threads here; test_hardening.py: two processes, HTTP)."""
    import hashlib
    import threading

    src = tmp / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (src / name).write_bytes(valid_batch())
    with tarfile.open(tmp / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    archive = tmp / "cifar-10-python.tar.gz"
    url, md5 = archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest()
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(download_cifar10(tmp / "data", url=url, md5=md5, progress=False)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [tmp / "data" / "cifar-10-batches-py"] * 2, got
    assert load_cifar10(tmp / "data", num_training=10, num_validation=0, num_test=1, num_dev=0).train.X.shape[0] == 10
    return got


def stale_temporary_removed(tmp: Path):
    """A temporary left by a killed writer (its pid gone) is removed by the next save of that file."""
    import socket

    pid = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout
    )  # a process that has ended
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())
    stale = tmp / "ckpt" / f".checkpoint.npz.{host}-{pid}.abcd_123.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"half a checkpoint")
    sgd_checkpoint(tmp)
    assert sorted(p.name for p in stale.parent.iterdir()) == ["checkpoint.npz"]


def nan_slope_is_inconclusive(tmp: Path):
    """A loss that is NaN one step beside W (log of a weight below h): never "good" (issue 24)."""
    del tmp
    with jax.enable_x64(True):
        w = jnp.array([1.0, 5e-5])
        report = check_gradient(lambda w: jnp.sum(jnp.log(w)), w, analytic_grad=1.0 / w, h=1e-4)
    assert report.verdict == "inconclusive" and "NaN or Inf" in report.hint, str(report)


def modes_follow_the_umask(tmp: Path):
    import stat

    old = os.umask(0o022)
    try:
        save_run(tmp / "out", params=W, metrics=three_steps(), summary={}, config={})
        sgd_checkpoint(tmp)
    finally:
        os.umask(old)
    files = [*sorted((tmp / "out").iterdir()), tmp / "ckpt" / "checkpoint.npz"]
    assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o644] * 4, files


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------

# fmt: off
# the rows are laid out by field, a few lines each; ruff format would give every argument a line of its own
CATALOGUE = [
    # --- shapes and ndim -------------------------------------------------------------------------
    Row("W-1d", "python", "W is 1-D", lambda t: svm_loss(W[0], X, y), ValueError,
        r"W must be 2-D, got shape \(4,\) \(1-D\)"),
    Row("X-3d", "python", "X is 3-D", lambda t: softmax_loss(W, X[None], y), ValueError,
        r"X must be 2-D, got shape \(1, 5, 4\)"),
    Row("W-X-mismatch", "python", "W (C, D) and X (N, D) disagree on D (the bias column forgotten)",
        lambda t: svm_loss(W, X[:, :-1], y), ValueError, r"W and X disagree on the dimension D.*bias trick"),
    Row("y-2d", "python", "y is a column (N, 1)", lambda t: svm_loss(W, X, y[:, None]), ValueError,
        r"y must be 1-D integer labels of shape \(N,\), got shape \(5, 1\)"),
    Row("y-length", "python", "fewer labels than examples", lambda t: softmax_loss(W, X, y[:3]), ValueError,
        r"y must have one label per row of X \(N=5\), got 3 labels"),
    Row("W0-shape", "python", "fit's W0 has the wrong D", lambda t: fit_(W0=W[:, :3]), ValueError,
        r"W0 must have shape \(C, D\) with D = 4"),
    # --- dtypes ----------------------------------------------------------------------------------
    Row("X-int", "python", "X holds integers (raw pixels)", lambda t: softmax_loss(W, X.astype(np.int32), y),
        TypeError, r"X must be a floating array \(float32 or float64\), got dtype int32"),
    Row("X-strings", "python", "X holds strings", lambda t: svm_loss(W, np.full((N, D), "a"), y), TypeError,
        r"X must be a floating array .*got dtype <U1"),
    Row("W-not-array", "python", "W is a string", lambda t: svm_loss("W", X, y), TypeError,
        r"W must be an array, got str"),
    Row("W-list", "python", "W is a Python list", lambda t: svm_loss(W.tolist(), X, y), TypeError,
        r"W must be an array \(NumPy or JAX\), got a list"),
    Row("W-complex-svm", "python", "complex W for the SVM (only softmax takes a complex step)",
        lambda t: svm_loss(W.astype(np.complex64), X, y), TypeError,
        r"W must be a real floating array, got complex dtype complex64"),
    Row("X-complex", "python", "complex X", lambda t: softmax_loss(W, X.astype(np.complex64), y), TypeError,
        r"X must be a real floating array, got complex dtype complex64"),
    # --- NaN / Inf -------------------------------------------------------------------------------
    Row("X-nan", "python", "a NaN pixel in X", lambda t: svm_loss(W, with_value(X, (2, 1), np.nan), y),
        ValueError, r"X must be finite, got 1 NaN/Inf value\(s\) out of 20"),
    Row("W-inf", "python", "an Inf weight", lambda t: softmax_loss(with_value(W, (0, 0), np.inf), X, y),
        ValueError, r"W must be finite, got 1 NaN/Inf"),
    Row("W0-nan", "python", "fit's W0 holds NaN", lambda t: fit_(W0=with_value(W, (1, 1), np.nan)), ValueError,
        r"W0 must be finite"),
    Row("scores-overflow", "python", "finite W and X whose scores X @ W.T overflow float32 (1e20 * 1e20)",
        lambda t: svm_loss(np.full((C, D), 1e20, np.float32), np.full((N, D), 1e20, np.float32), y), ValueError,
        r"svm_loss is not finite for the finite W and X given: the scores X @ W.T overflow float32"),
    # --- labels ----------------------------------------------------------------------------------
    Row("y-too-big", "python", "label C with C classes", lambda t: svm_loss(W, X, with_value(y, 0, 3)),
        ValueError, r"y must hold labels in \[0, 3\) for W with 3 classes, got values in \[0, 3\]"),
    Row("y-negative", "python", "label -1", lambda t: softmax_loss(W, X, with_value(y, 0, -1)), ValueError,
        r"y must hold labels in \[0, 3\).*got values in \[-1, 2\]"),
    Row("y-float", "python", "float labels", lambda t: svm_loss(W, X, y.astype(np.float32)), TypeError,
        r"y must hold integer class labels, got dtype float32"),
    Row("fit-y-range", "python", "fit: labels beyond W0's classes", lambda t: fit_(W0=W[:2]), ValueError,
        r"y must hold labels in \[0, 2\)"),
    # --- empty data ------------------------------------------------------------------------------
    Row("X-empty", "python", "no examples (N = 0)",
        lambda t: svm_loss(W, np.zeros((0, D), np.float32), np.zeros(0, np.int32)), ValueError,
        r"X must hold at least one example, got shape \(0, 4\)"),
    Row("fit-empty", "python", "fit on no examples",
        lambda t: fit_(X=np.zeros((0, D), np.float32), y=np.zeros(0, np.int32)), ValueError,
        r"X must hold at least one example"),
    # --- hyperparameters -------------------------------------------------------------------------
    Row("reg-negative", "python", "reg < 0", lambda t: svm_loss(W, X, y, reg=-1e-3), ValueError,
        r"reg must be >= 0, got -0.001"),
    Row("reg-nan", "python", "reg is NaN", lambda t: softmax_loss(W, X, y, reg=float("nan")), ValueError,
        r"reg must be finite, got nan"),
    Row("reg-string", "python", "reg is a string", lambda t: softmax_loss(W, X, y, reg="1e-3"), TypeError,
        r"reg must be a number, got str"),
    Row("margin-inf", "python", "margin is Inf", lambda t: svm_loss(W, X, y, margin=float("inf")), ValueError,
        r"margin must be finite, got inf"),
    Row("batch-zero", "python", "batch_size 0", lambda t: fit_(batch_size=0), ValueError,
        r"batch_size must be >= 1, got 0"),
    Row("batch-negative", "python", "batch_size -8", lambda t: fit_(batch_size=-8), ValueError,
        r"batch_size must be >= 1, got -8"),
    Row("batch-float", "python", "batch_size 2.5", lambda t: fit_(batch_size=2.5), TypeError,
        r"batch_size must be an integer, got 2.5"),
    Row("batch-above-N-shuffle", "python", "batch_size > N with sampling='shuffle' (an epoch has no batch)",
        lambda t: fit_(batch_size=N + 1, sampling="shuffle"), ValueError,
        r"batch_size must be <= the number of training examples \(5\) with sampling='shuffle', got 6"),
    Row("batch-above-N-replacement", "python",
        "batch_size > N drawn with replacement (the lecture's X.sample, CS231n's np.random.choice)",
        lambda t: fit_(batch_size=4 * N).params.shape, None,
        "accepted: each step draws batch_size indices with replacement, so examples repeat within a batch; "
        "it is still not the full batch (batch_size=None is gradient descent)"),
    Row("lr-negative", "python", "learning rate < 0 (an ascent)", lambda t: get_optimizer("sgd", -0.1), ValueError,
        r"lr must be > 0, got -0.1"),
    Row("lr-zero", "python", "learning rate 0 (nothing would move)", lambda t: get_optimizer("adam", 0.0),
        ValueError, r"lr must be > 0, got 0.0"),
    Row("lr-nan", "python", "learning rate NaN", lambda t: get_optimizer("sgd", float("nan")), ValueError,
        r"lr must be finite, got nan"),
    Row("fit-lr-negative", "python", "fit with a factory and lr < 0",
        lambda t: fit_(optimizer=optax.sgd, lr=-1.0), ValueError, r"lr must be > 0, got -1.0"),
    Row("h-zero", "python", "finite-difference step h = 0",
        lambda t: numerical_gradient(lambda w: jnp.sum(w ** 2), jnp.ones(3), h=0.0), ValueError,
        r"h must be > 0, got 0.0"),
    Row("h-negative", "python", "h < 0",
        lambda t: numerical_gradient(lambda w: jnp.sum(w ** 2), jnp.ones(3), h=-1e-4), ValueError,
        r"h must be > 0, got -0.0001"),
    Row("gradcheck-smooth", "python", "check_gradient(smooth='yes')",
        lambda t: check_gradient(lambda w: jnp.sum(w ** 2), jnp.ones(3), smooth="yes"), TypeError,
        r"smooth must be True, False or None, got 'yes'"),
    Row("gradcheck-nan-slope", "python", "a gradient check where f is NaN one step beside W",
        nan_slope_is_inconclusive, None, r"verdict inconclusive, with a hint: the numerical slope is NaN"),
    Row("trials-zero", "python", "random search with 0 trials",
        lambda t: random_search(lambda w: jnp.sum(w ** 2), KEY, (C, D), trials=0), ValueError,
        r"trials must be >= 1, got 0"),
    Row("trials-negative", "python", "random search with -5 trials",
        lambda t: random_search(lambda w: jnp.sum(w ** 2), KEY, (C, D), trials=-5), ValueError,
        r"trials must be >= 1, got -5"),
    Row("num-steps-zero", "python", "fit with num_steps 0", lambda t: fit_(num_steps=0), ValueError,
        r"num_steps must be >= 1, got 0"),
    Row("classes-zero", "python", "init_weights with 0 classes", lambda t: init_weights(KEY, 0, D), ValueError,
        r"num_classes must be a positive integer, got 0"),
    Row("key-int", "python", "an int seed where a key is needed", lambda t: fit_(key=0), TypeError,
        r"key must be a JAX random key such as jax.random.key\(0\), got int"),
    Row("loss-fn-string", "python", "loss_fn is a name, not a function", lambda t: fit_(loss_fn="svm"), TypeError,
        r"Run.loss_fn must be a function loss_fn\(W, X, y, reg\), got str"),
    # --- unknown names ---------------------------------------------------------------------------
    Row("optimizer-unknown", "python", "an optimizer optax may have but the course does not name",
        lambda t: get_optimizer("adamax2", 0.1), ValueError, r"optimizer must be one of \[.*'sgd'.*\], got 'adamax2'"),
    Row("loss-unknown", "python", "loss 'hinge'", lambda t: get_loss("hinge"), ValueError,
        r"loss must be one of \['softmax', 'svm'\], got 'hinge'"),
    Row("data-unknown", "python", "data set 'mnist'", lambda t: load_data("mnist"), ValueError,
        r"data must be one of \['digits', 'cifar10'\], got 'mnist'"),
    # --- files: CIFAR-10, checkpoints, results ---------------------------------------------------
    Row("cifar-missing", "python", "a CIFAR-10 folder that is not there", lambda t: load_cifar10(t / "nowhere"),
        FileNotFoundError, r"no CIFAR-10 at .*nowhere/cifar-10-batches-py. Download .* download=True"),
    Row("batch-truncated", "python", "a truncated batch file", lambda t: read_cifar10_batch(t / "data_batch_1"),
        ValueError, r"data_batch_1 is not a readable CIFAR-10 batch .* truncated or corrupted",
        write_file("data_batch_1", TRUNCATED)),
    Row("batch-garbage", "python", "a batch file that is not a pickle",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"data_batch_1 is not a readable CIFAR-10 batch", write_file("data_batch_1", b"<html>404</html>" * 8)),
    Row("batch-runs-code", "python", "a 'batch' pickle that would run os.system",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"data_batch_1 is not a readable CIFAR-10 batch .*posix.system, which a CIFAR-10 batch never holds",
        write_file("data_batch_1", pickle.dumps({b"data": _RunsCode(), b"labels": []}, protocol=2))),
    Row("batch-wrong-size", "python", "images of 3071 bytes", lambda t: read_cifar10_batch(t / "data_batch_1"),
        ValueError, r"data_batch_1: 'data' must be a uint8 array of shape \(n, 3072\) with n <= 10000, got uint8 "
        r"array of shape \(2, 3071\)",
        write_file("data_batch_1", pickle.dumps({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}))),
    Row("cifar-truncated", "python", "load_cifar10 on a folder with a truncated batch",
        lambda t: load_cifar10(t, num_training=10, num_validation=0, num_test=1, num_dev=0), ValueError,
        r"cifar-10-batches-py/data_batch_1 is not a readable CIFAR-10 batch",
        write_file("cifar-10-batches-py/data_batch_1", TRUNCATED)),
    Row("archive-checksum", "python", "a downloaded archive with the wrong MD5",
        lambda t: download_cifar10(t / "data", url=(t / "cifar-10-python.tar.gz").as_uri(), progress=False),
        ValueError, r"has MD5 [0-9a-f]{32}, expected c58f30108f718f92721af3b95e74349a: it is corrupted or "
        r"incomplete .* and was deleted", archive),
    Row("results-unwritable", "python", "a results folder that cannot be created (a file is in the way)",
        lambda t: save_run(t / "a-file" / "run", params=W, metrics=None, summary={}), PermissionError,
        r"the results folder .*a-file/run cannot be written", blocked),
    Row("checkpoint-missing", "python", "resume from a folder without a checkpoint",
        lambda t: load_checkpoint(t / "none", adam_like()), FileNotFoundError, r"no checkpoint at .*checkpoint.npz"),
    Row("checkpoint-truncated", "python", "a truncated checkpoint file",
        lambda t: load_checkpoint(t / "ckpt", adam_like()), ValueError,
        r"checkpoint.npz is not a readable checkpoint .* truncated or corrupted", corrupt_checkpoint),
    Row("checkpoint-other-optimizer", "python", "an SGD checkpoint restored for an Adam run",
        lambda t: load_checkpoint(t / "ckpt", adam_like()), ValueError,
        r"checkpoint.npz holds the state of another kind of run .*opt_state\[0\].mu", sgd_checkpoint),
    Row("init-state-other-optimizer", "python", "fit(init_state=...) from a run with another optimizer",
        lambda t: fit_(optimizer=optax.adam,
                       init_state=TrainState(jnp.asarray(W), optax.sgd(0.1).init(W), KEY, jnp.int32(1))),
        ValueError, r"init_state.opt_state does not fit the optimizer"),
    # --- hardening (issue 16): crafted files, bounds, locks, full disks ------------------------------
    Row("batch-calls-ndarray", "python", "a 234-byte data_batch_1 whose data is numpy.ndarray((4_000_000, 3072), "
        "uint8): 12 GB asked for, nothing held",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"data_batch_1 is not a readable CIFAR-10 batch .*calls numpy.ndarray\(shape, dtype\) directly",
        write_file("data_batch_1", crafted_batch(_Call(np.ndarray, (4_000_000, 3072), np.dtype(np.uint8)),
                                                 _Call(np.ndarray, (4_000_000,), np.dtype(np.int8))))),
    Row("batch-labels-huge", "python", "labels = [numpy.ndarray((10**8,), int8)] * 30 (3 GB from a few KB)",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"data_batch_1 is not a readable CIFAR-10 batch .*calls numpy.ndarray\(shape, dtype\) directly",
        write_file("data_batch_1", crafted_batch(np.zeros((0, 3072), np.uint8),
                                                 [_Call(np.ndarray, (10 ** 8,), np.dtype(np.int8))] * 30))),
    Row("batch-rows-beyond-10000", "python", "data declared (4_000_000, 3072) in NumPy's own pickle form, "
        "without the bytes", lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"'data' must be a uint8 array .*got uint8 array of shape \(4000000, 3072\): more than the 10000 rows",
        write_file("data_batch_1", crafted_batch(_reconstruct_call((4_000_000, 3072), b""), []))),
    Row("batch-data-short", "python", "data declared (2, 3072) holding 10 bytes",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"got uint8 array of shape \(2, 3072\) whose data are 10 bytes in the file, not 6144 bytes",
        write_file("data_batch_1", crafted_batch(_reconstruct_call((2, 3072), bytes(10)), [0, 1]))),
    Row("batch-labels-mismatch", "python", "2 images, 3 labels", lambda t: read_cifar10_batch(t / "data_batch_1"),
        ValueError, r"data_batch_1: 2 images but 3 labels",
        write_file("data_batch_1", crafted_batch(np.zeros((2, 3072), np.uint8), [0, 1, 2]))),
    Row("batch-too-many-labels", "python", "10001 labels (a batch holds 10000 images)",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"'labels' must be a list of integers \(got 10001, more than the 10000 of a batch\)",
        write_file("data_batch_1", crafted_batch(np.zeros((0, 3072), np.uint8), [0] * 10001))),
    Row("archive-member-too-large", "python", "an archive entry larger than any file of the official archive "
        "(in the trial: a 6.6 MB archive extracting 1 GiB)",
        lambda t: download_cifar10(t / "data", url="http://127.0.0.1:9/unused", md5=archive_md5(t), progress=False),
        ValueError, r"the entry 'cifar-10-batches-py/data_batch_1' is 33554433 bytes, more than any file of the "
        r"official CIFAR-10 archive .* refusing to extract", big_member_archive),
    Row("download-locked", "python", "another process holds the folder's download lock past lock_timeout",
        lambda t: locked_download(t), TimeoutError,
        r"another process has been downloading CIFAR-10 into .*data for more than 0.1 s \(it holds "
        r".*data/.cifar-10.lock\); let it finish, or stop it and try again", held_lock),
    Row("download-concurrent", "python", "two downloads into one empty folder at once (in the trial: 'Directory not "
        "empty' in 3 of 4)", two_threads_download, None,
        "accepted: the second waits for the first's lock (ROOT/.cifar-10.lock), then uses its finished copy; "
        "test_hardening.py runs it with two real processes and a real HTTP server (one request served)"),
    Row("checkpoint-extra-member", "python", "a checkpoint with an extra member (in the trial: 2 GiB in a 2 MB file)",
        lambda t: load_checkpoint(t / "ckpt", sgd_like()), ValueError,
        r"checkpoint.npz is not a readable checkpoint \(it holds an unexpected member 'extra.npy'\)",
        crafted_checkpoint({"extra.npy": npy_header((4,), "|u1") + bytes(4)})),
    Row("checkpoint-huge-header", "python", "a member whose npy header claims 4e12 elements",
        lambda t: load_checkpoint(t / "ckpt", sgd_like()), ValueError,
        r"not a readable checkpoint \(its member leaf_00000 declares float32 of shape \(4000000000000,\) "
        r"\(16000000000000 bytes\), the file holds 64\)",
        crafted_checkpoint({"leaf_00000.npy": npy_header((4 * 10 ** 12,), "<f4") + bytes(64)})),
    Row("checkpoint-compressed", "python", "a compressed checkpoint (a member could inflate to any size)",
        lambda t: load_checkpoint(t / "ckpt", sgd_like()), ValueError,
        r"not a readable checkpoint \(its member '.*' is compressed, encrypted or larger than the file",
        crafted_checkpoint({}, compression=8)),  # 8: zipfile.ZIP_DEFLATED
    Row("resume-checkpoint-file", "python", "load_checkpoint given the checkpoint file itself, not its folder",
        lambda t: load_checkpoint(t / "ckpt" / "checkpoint.npz", sgd_like()), None,
        "accepted: a checkpoint file or its folder (checkpoint.resolve); a missing path is a FileNotFoundError "
        "and creates nothing", sgd_checkpoint),
    Row("write-fails", "python", "the disk refuses a write midway (here RLIMIT_FSIZE's EFBIG; test_hardening.py: "
        "a full 1 MB tmpfs)", write_past_a_file_size_limit, WriteError,
        r"could not write .*out/params.npz: File too large \(EFBIG\); the file that was there, if any, is unchanged"),
    Row("stale-temporary", "python", "a temporary left by a writer killed mid-save (SIGKILL)", stale_temporary_removed,
        None, "accepted: the next save of that file removes temporaries whose writer is gone "
        "(.NAME.HOST-PID.*.tmp with PID not running); a live writer's are never touched"),
    Row("file-modes", "python", "files written under umask 022", modes_follow_the_umask, None,
        "accepted: 0644 (0o666 & ~umask, as open() gives), still written atomically"),
    # --- the command line ------------------------------------------------------------------------
    Row("cli-lr-negative", "cli", "--lr -1", ["train", "--lr", "-1"], 2,
        r"argument --lr: expected a number > 0, got -1"),
    Row("cli-lr-zero", "cli", "--lr 0", ["train", "--lr", "0"], 2, r"argument --lr: expected a number > 0, got 0"),
    Row("cli-lr-nan", "cli", "--lr nan", ["train", "--lr", "nan"], 2, r"argument --lr: .*got nan"),
    Row("cli-lr-text", "cli", "--lr fast", ["train", "--lr", "fast"], 2,
        r"argument --lr: expected a number, got 'fast'"),
    Row("cli-reg-negative", "cli", "--reg -0.1", ["train", "--reg", "-0.1"], 2, r"argument --reg: .*got -0.1"),
    Row("cli-batch-zero", "cli", "--batch-size 0", ["train", "--batch-size", "0"], 2,
        r"argument --batch-size: expected a positive integer, got 0"),
    Row("cli-batch-float", "cli", "--batch-size 2.5", ["train", "--batch-size", "2.5"], 2,
        r"argument --batch-size: expected a positive integer, got '2.5'"),
    Row("cli-batch-above-N", "cli", "--batch-size above N (digits: N = 1257; issue 20.4: never cut silently)",
        ["train", "--batch-size", "100000", "--steps", "3", "--json"], 2,
        r"--batch-size 100000 is more than the 1257 training examples of digits: give at most 1257, or --full-batch"),
    Row("cli-steps-zero", "cli", "--steps 0", ["train", "--steps", "0"], 2,
        r"argument --steps: expected a positive integer, got 0"),
    Row("cli-seed-text", "cli", "--seed abc", ["train", "--seed", "abc"], 2,
        r"argument --seed: expected an integer, got 'abc'"),
    Row("cli-seed-over-int64", "cli", "--seed 2**64 (issue 24: jax.random.key takes an int64)",
        ["train", "--seed", str(2 ** 64)], 2, r"argument --seed: the seed must lie in \[-2\*\*63, 2\*\*63 - 1\]"),
    Row("cli-steps-over-int32", "cli", "--steps 10**12 (issue 24: JAX counts steps in int32)",
        ["train", "--steps", str(10 ** 12)], 2, r"argument --steps: expected a positive integer <= 2147483647"),
    Row("cli-sweep-too-big", "cli", "a 300 x 300 sweep (issue 24: its memory and time estimated before it allocates)",
        ["sweep", "--lrs", ",".join(["1"] * 300), "--regs", ",".join(["0"] * 300)], 2,
        r"a sweep of 300 x 300 learning rates and regs (needs about .* of memory|would take about .*--yes)"),
    Row("cli-data-dir-without-cifar", "cli", "--data-dir without --data cifar10 (issue 20.4: no silent options)",
        ["train", "--data-dir", "{tmp}"], 2,
        r"--data-dir only applies to --data cifar10 \(this run uses --data digits"),
    Row("cli-batch-with-full-batch", "cli", "--batch-size beside --full-batch (which uses every example)",
        ["train", "--full-batch", "--batch-size", "64"], 2,
        r"--batch-size has no effect here: --full-batch uses the whole training set every step; drop it"),
    Row("cli-force-with-resume", "cli", "--force beside --resume (issue 20.4: one continues, the other restarts)",
        ["train", "--resume", "{tmp}", "--force"], 2,
        r"--force has no effect here: --resume continues its checkpoint, and --force would start from step 0"),
    Row("cli-grid-with-data-options", "cli", "search --method grid with --trials (the grid searches the tea toy)",
        ["search", "--method", "grid", "--trials", "50"], 2,
        r"--trials has no effect here: --method grid searches the tea toy, not a data set"),
    Row("cli-lr-diverges", "cli", "train --lr 1e4: the loss explodes without a NaN (issue 20.1: exit 1; --json "
        "still prints the record with \"diverged\": true)",
        ["train", "--lr", "1e4", "--steps", "100", "--chunk-size", "50", "--json"], 1,
        r"training diverged: the loss is .* at step \d+ of 100 and rose above 10 x its start"),
    Row("cli-loss-unknown", "cli", "--loss hinge", ["train", "--loss", "hinge"], 2,
        r"argument --loss: invalid choice: 'hinge'"),
    Row("cli-optimizer-unknown", "cli", "--optimizer adamax2", ["train", "--optimizer", "adamax2"], 2,
        r"argument --optimizer: invalid choice: 'adamax2'"),
    Row("cli-data-unknown", "cli", "--data mnist", ["train", "--data", "mnist"], 2,
        r"argument --data: invalid choice: 'mnist'"),
    Row("cli-command-unknown", "cli", "a subcommand that does not exist", ["fit"], 2,
        r"invalid choice: 'fit'"),
    Row("cli-cifar-no-dir", "cli", "--data cifar10 without --data-dir", ["train", "--data", "cifar10"], 2,
        r"--data cifar10 needs --data-dir DIR"),
    Row("cli-cifar-missing", "cli", "--data-dir with no CIFAR-10 in it",
        ["train", "--data", "cifar10", "--data-dir", "{tmp}/nowhere"], 2, r"no CIFAR-10 at .*nowhere"),
    Row("cli-cifar-truncated", "cli", "--data-dir holding a truncated batch file",
        ["train", "--data", "cifar10", "--data-dir", "{tmp}"], 2,
        r"data_batch_1 is not a readable CIFAR-10 batch .*truncated or corrupted",
        write_file("cifar-10-batches-py/data_batch_1", TRUNCATED)),
    Row("cli-h-zero", "cli", "gradcheck --h 0", ["gradcheck", "--h", "0"], 2,
        r"argument --h: expected a number > 0, got 0"),
    Row("cli-h-negative", "cli", "gradcheck --h=-1e-4", ["gradcheck", "--h=-1e-4"], 2,
        r"argument --h: expected a number > 0, got -1e-4"),
    Row("cli-trials-zero", "cli", "search --trials 0", ["search", "--trials", "0"], 2,
        r"argument --trials: expected a positive integer, got 0"),
    Row("cli-out-unwritable", "cli", "--out where a file is in the way",
        ["train", "--out", "{tmp}/a-file/results"], 2, r"the results folder .*a-file/results cannot be written",
        blocked),
    Row("cli-checkpoint-unwritable", "cli", "--checkpoint-dir where a file is in the way",
        ["train", "--checkpoint-dir", "{tmp}/a-file/ckpt"], 2, r"a-file/ckpt cannot be written", blocked),
    Row("cli-resume-missing", "cli", "--resume a folder without a checkpoint",
        ["train", "--resume", "{tmp}/none"], 2, r"no checkpoint at .*none/checkpoint.npz"),
    Row("cli-resume-corrupted", "cli", "--resume a truncated checkpoint",
        ["train", "--resume", "{tmp}/ckpt"], 2, r"checkpoint.npz is not a readable checkpoint", corrupt_checkpoint),
    Row("cli-resume-other-options", "cli", "--resume with another --lr than the checkpointed run",
        ["train", "--lr", "0.5", "--resume", "{tmp}/ckpt"], 2,
        r"--resume .*ckpt: the checkpoint is of a run with --lr 1.0, this command has 0.5", small_checkpoint),
    Row("cli-resume-past-steps", "cli", "--resume a run already beyond --steps",
        ["train", "--steps", "1", "--resume", "{tmp}/ckpt"], 2,
        r"the checkpoint is at step 2, beyond --steps 1", small_checkpoint),
    Row("cli-checkpoint-other-run", "cli", "--checkpoint-dir holding another run's checkpoint (issue 13: never "
        "overwritten silently; --force or another folder)",
        ["train", "--loss", "svm", "--steps", "2", "--checkpoint-dir", "{tmp}/ckpt"], 2,
        r"ckpt/checkpoint.npz holds the checkpoint of another run \(--loss softmax, this command has svm\).*--force",
        small_checkpoint),
    # --- issue 24: limits before allocation, silent wrong answers, bounded readers, locks ------------------------
    Row("labels-int64-wide", "python", "int64 labels beyond int32 (2**32 + 1 would be narrowed to 1)",
        lambda t: fit_(y=np.array([0, 1, 2, 2 ** 32 + 1, 0], np.int64)), ValueError,
        r"y must hold class labels that fit in int32 \(JAX's integers\), got int64 values in \[0, 4294967297\]"),
    Row("X-beyond-float32", "python", "float64 data beyond float32's range (1e39 would become inf)",
        lambda t: svm_loss(W, X.astype(np.float64) * 1e39, y), ValueError,
        r"X holds values up to 1.9e\+39 in magnitude, beyond float32's largest .*The data overflow, not the step size"),
    Row("scale-rounds-to-zero", "python", "a random-search scale that is 0 in float32",
        lambda t: random_search(lambda w: jnp.sum(w), KEY, (2,), trials=3, scale=1e-300), ValueError,
        r"scale = 1e-300 rounds to 0 in float32 \(its smallest positive number is 1.4e-45\)"),
    Row("step-size-rounds-to-zero", "python", "a tea step size that is 0 in float32",
        lambda t: toys.gradient_descent_1d(toys.tea_cost, 20.0, step_size=1e-320), ValueError,
        r"step_size = 1e-320 rounds to 0 in float32"),
    Row("tea-start-overflows", "python", "a tea start of 1e308 (its cost would be NaN)",
        lambda t: toys.gradient_descent_1d(toys.tea_cost, 1e308), ValueError,
        r"temperature = 1e\+308 is inf in float32"),
    Row("trials-over-int32", "python", "random search with 3e9 trials (JAX counts them in int32)",
        lambda t: random_search(lambda w: jnp.sum(w), KEY, (2,), trials=3 * 10 ** 9), LimitError,
        r"trials must be <= 2147483647 \(2\*\*31 - 1, JAX's 32-bit integers\), got 3000000000"),
    Row("tea-points-over-int32", "python", "a tea grid of 1e12 points",
        lambda t: toys.temperature_grid(10 ** 12), LimitError, r"points must be <= 2147483647 .*got 1000000000000"),
    Row("seed-over-int64", "python", "a seed of 2**64",
        lambda t: limits.check_seed(2 ** 64), LimitError, r"seed must lie in \[-2\*\*63, 2\*\*63 - 1\]"),
    Row("memory-over-limit", "python", "a computation estimated beyond the memory available",
        lambda t: limits.check_memory(2 ** 31, "a sweep of 90000 models", hint="use a smaller grid",
                                      environ={limits.MEMORY_LIMIT_ENV: "1G"}), LimitError,
        r"a sweep of 90000 models needs about 2.0 GiB of memory, more than the 1.0 GiB available "
        r"\(\$JAXOPT_COURSE_MEMORY_LIMIT\); use a smaller grid"),
    Row("grid-needs-yes", "python", "a grid estimated to run for days, without --yes",
        lambda t: limits.check_duration(limits.sweep_seconds(9 * 10 ** 6, 1000, 256, 650), "a 3000 x 3000 sweep"),
        LimitError, r"a 3000 x 3000 sweep would take about [\d.]+ days .*pass --yes to run it anyway"),
    Row("checkpoint-config-nested", "python", "a checkpoint whose config_json nests 200000 brackets",
        lambda t: read_checkpoint_config(t / "ckpt"), ValueError,
        r"its run configuration is nested 200001 levels deep, more than the 32 a configuration may have",
        nested_config_checkpoint),
    Row("resume-not-a-checkpoint", "python", "--resume a file that is no checkpoint (/etc/passwd)",
        lambda t: read_checkpoint_config(t / "passwd"), ValueError,
        r"passwd is not a jaxopt-course checkpoint \(it is not an .npz file\); --resume takes the checkpoint.npz",
        write_file("passwd", b"root:x:0:0:root:/root:/bin/bash\n")),
    Row("batch-fifo", "python", "a CIFAR-10 batch file that is a FIFO (reading it would block forever)",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"data_batch_1 is a FIFO \(named pipe\), not a CIFAR-10 batch file; refusing to read it",
        lambda t: os.mkfifo(t / "data_batch_1")),
    Row("batch-encode-bomb", "python", "a 1 MB batch that re-encodes one string 2000 times (2 GiB of bytes)",
        lambda t: read_cifar10_batch(t / "data_batch_1"), ValueError,
        r"its _codecs.encode calls would make more than \d+ bytes, more than the file holds", write_file(
            "data_batch_1", b"\x80\x02c_codecs\nencode\nq\x00X\x00\x00\x10\x00" + b"a" * 2 ** 20
            + b"q\x01X\x06\x00\x00\x00latin1q\x02]" + b"h\x00h\x01h\x02\x86Ra" * 2000 + b".")),
    # --- issue 24, what the replayed attack still found (benchmarks/attack/audit24.py) ------------------------
    Row("fit-num-steps-over-int32", "python", "fit with num_steps=2**31 in one chunk (JAX counts steps in int32)",
        lambda t: fit_(num_steps=2 ** 31, chunk_size=None), LimitError,
        r"Run.num_steps must be <= 2147483647 \(2\*\*31 - 1, JAX's 32-bit integers\), got 2147483648"),
    Row("fit-lr-rounds-to-zero", "python", "fit with lr=1e-320, which is 0 in float32 (it would train nothing)",
        lambda t: fit_(lr=1e-320), ValueError, r"lr = 1e-320 rounds to 0 in float32"),
    Row("sweep-lr-rounds-to-zero", "python", "a sweep with a learning rate of 1e-320 (fit's rule: 0 in float32)",
        lambda t: sweep(Run(softmax_loss, optax.sgd, batch_size=2, num_steps=3), W, X, y, key=KEY,
                        learning_rates=[0.1, 1e-320], regs=[0.0]), ValueError,
        r"learning_rates = 1e-320 rounds to 0 in float32"),
    Row("fit-X-beyond-float32", "python", "fit on float64 data beyond float32's range (not a divergence)",
        lambda t: fit_(X=X.astype(np.float64) * 1e39), ValueError,
        r"X holds values up to [\d.e+]+ in magnitude, beyond float32's largest .*The data overflow, not the step size"),
    Row("sweep-over-memory", "python", "a sweep of 10**9 seeds (its memory estimated from the shapes first)",
        lambda t: sweep(Run(softmax_loss, optax.sgd, batch_size=2, num_steps=3), W, X, y, key=KEY,
                        learning_rates=[0.1], regs=[0.0], seeds=10 ** 9), LimitError,
        r"a sweep of 1000000000 models needs about [\d.]+ [TG]iB of memory, more than the [\d.]+ [KMGT]?i?B available"),
    Row("cli-lr-rounds-to-zero", "cli", "--lr 1e-320 (0 in float32: it would train nothing and exit 0)",
        ["train", "--lr", "1e-320", "--steps", "3"], 2, r"lr = 1e-320 rounds to 0 in float32"),
    Row("folder-in-use", "python", "a second run on a folder another run holds (issue 24: one writer per folder)",
        lambda t: locks.hold(t / "out").__enter__(), FolderInUse,
        r"out is in use by another run \(pid \d+ on host .*, since .* UTC\); wait for it to finish or stop it, or use "
        r"another folder", hold_out_folder),
    Row("coordinator-unreachable", "python", "a multi-host run whose coordinator nobody runs",
        lambda t: initialize_multihost("127.0.0.1:1", 2, 1, environ={}, timeout=0.3), ConnectionError,
        r"nobody accepts connections at 127.0.0.1:1 after 0.3 s .*start process 0 \(the coordinator\) first"),
    # --- the teacher's kit (issue 22): assignment build / grade ----------------------------------
    Row("cli-assignment-grade-missing", "cli", "assignment grade of a file that does not exist",
        ["assignment", "grade", "{tmp}/nothing.ipynb"], 2,
        r"assignment grade: path must be a student's .py or .ipynb file, got '.*nothing.ipynb' \(no such file\)"),
    Row("cli-assignment-grade-empty-folder", "cli", "assignment grade of a folder with no .py or .ipynb in it",
        ["assignment", "grade", "{tmp}/subs"], 2, r"assignment grade: .*subs holds no .py or .ipynb submission",
        lambda t: (t / "subs").mkdir()),
    Row("cli-assignment-grade-suffix", "cli", "assignment grade of a .txt file",
        ["assignment", "grade", "{tmp}/answers.txt"], 2,
        r"assignment grade: path must end in .py or .ipynb, got 'answers.txt'", write_file("answers.txt", b"x = 1\n")),
    Row("cli-assignment-grade-not-json", "cli", "assignment grade of a truncated .ipynb (not JSON)",
        ["assignment", "grade", "{tmp}/hw.ipynb"], 2,
        r"assignment grade: .*hw.ipynb is not a Jupyter notebook: it is not JSON",
        write_file("hw.ipynb", b'{"cells": [')),
    Row("cli-assignment-grade-no-cells", "cli", "assignment grade of a JSON file that is not a notebook",
        ["assignment", "grade", "{tmp}/hw.ipynb"], 2,
        r"assignment grade: .*hw.ipynb is not a Jupyter notebook: it has no list of cells",
        write_file("hw.ipynb", b"[1, 2]")),
    Row("cli-assignment-grade-binary", "cli", "assignment grade of a binary file named .py",
        ["assignment", "grade", "{tmp}/hw.py"], 2,
        r"assignment grade: .*hw.py is not a text file \(not UTF-8\)", write_file("hw.py", b"\x89PNG\r\n\xff\xfe")),
    Row("cli-assignment-time-limit", "cli", "assignment grade --time-limit 0",
        ["assignment", "grade", "{tmp}/hw.py", "--time-limit", "0"], 2,
        r"argument --time-limit: expected a number > 0, got 0"),
    Row("cli-assignment-build-into-file", "cli", "assignment build OUT where OUT is a file",
        ["assignment", "build", "{tmp}/a-file"], 2,
        r"assignment build: out must be a folder, got '.*a-file', which is a file", write_file("a-file", b"x")),
    Row("assignment-memory-limit", "python", "grade with a memory limit under 256 MiB",
        lambda t: grade_assignment(t / "hw.py", memory_mb=100), ValueError,
        r"memory_mb must be an integer >= 256 \(MiB\), got 100", write_file("hw.py", b"x = 1\n")),
    Row("assignment-unknown-part", "python", "grade parts=['svn'] (a typo)",
        lambda t: grade_assignment(t / "hw.py", parts=["svn"]), ValueError,
        r"parts must be a non-empty list of \[.*'svm'.*\], got \['svn'\]", write_file("hw.py", b"x = 1\n")),
    Row("assignment-time-limit-inf", "python", "grade time_limit=inf",
        lambda t: grade_assignment(t / "hw.py", time_limit=float("inf")), ValueError,
        r"time_limit must be a finite positive number of seconds, got inf", write_file("hw.py", b"x = 1\n")),
    Row("diagnosis-unknown-loss", "python", "diagnose_gradient for a loss it does not know",
        lambda t: diagnose_gradient(W, "hinge", W, X, y, 0.0), ValueError,
        r"loss must be one of \['softmax', 'svm'\], got 'hinge'"),
]
# fmt: on


# ---------------------------------------------------------------------------
# Running a row
# ---------------------------------------------------------------------------


def _jax_frames(tb) -> list[str]:
    return [
        f"{f.filename}:{f.lineno}"
        for f in traceback.extract_tb(tb)
        if f"{os.sep}jax{os.sep}" in f.filename or f"{os.sep}jaxlib{os.sep}" in f.filename
    ]


def run_python_row(row: Row, tmp: Path) -> str:
    """Run a Python row; return the message (or a note for accepted input)."""
    if row.setup:
        row.setup(tmp)
    if row.error is None:
        row.run(tmp)  # must not raise
        return row.match
    with pytest.raises(row.error) as info:
        row.run(tmp)
    message = str(info.value)
    assert type(info.value) is row.error or row.error is Exception, f"got {type(info.value).__name__}: {message}"
    assert re.search(row.match, message), f"message {message!r} does not match {row.match!r}"
    assert not _jax_frames(info.tb), f"raised inside JAX, after tracing began: {_jax_frames(info.tb)}"
    return message


def cli_args(row: Row, tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in row.run]


def check_cli_output(row: Row, code: int, out: str, err: str) -> str:
    if row.error is None:
        assert code == 0, err
        assert re.search(row.match, out), out
        return f"exit 0; {re.search(row.match, out).group(0)}"
    assert code == row.error, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"stderr must be one line, got:\n{err}"
    assert "Traceback" not in err
    assert re.search(row.match, lines[0]), f"stderr {lines[0]!r} does not match {row.match!r}"
    return lines[0]


def run_cli_row(row: Row, tmp: Path, capsys) -> str:
    if row.setup:
        row.setup(tmp)
        capsys.readouterr()
    try:
        code = main(cli_args(row, tmp))
    finally:
        while _RESTORE:
            _RESTORE.pop()()
    captured = capsys.readouterr()
    return check_cli_output(row, code, captured.out, captured.err)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

PYTHON_ROWS = [r for r in CATALOGUE if r.where == "python"]
CLI_ROWS = [r for r in CATALOGUE if r.where == "cli"]


def test_the_catalogue_is_large_and_its_ids_unique():
    ids = [r.id for r in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert len(CATALOGUE) >= 30 and len(CLI_ROWS) >= 10
    assert all(r.where in ("python", "cli") for r in CATALOGUE)


@pytest.mark.parametrize("row", PYTHON_ROWS, ids=[r.id for r in PYTHON_ROWS])
def test_python_api_row(row, tmp_path):
    run_python_row(row, tmp_path)


@pytest.mark.parametrize("row", CLI_ROWS, ids=[r.id for r in CLI_ROWS])
def test_command_line_row(row, tmp_path, capsys):
    run_cli_row(row, tmp_path, capsys)


# A real process for the rows that get past argparse and load data or JAX:
# nothing else (a warning, a progress bar, a traceback) may reach stderr.
SUBPROCESS_ROWS = ["cli-cifar-truncated", "cli-resume-corrupted"]


@pytest.mark.parametrize("row_id", SUBPROCESS_ROWS)
def test_command_line_row_in_a_real_process(row_id, tmp_path):
    row = next(r for r in CLI_ROWS if r.id == row_id)
    row.setup(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "jaxopt_course", *cli_args(row, tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    check_cli_output(row, proc.returncode, proc.stdout, proc.stderr)


def test_the_docs_list_every_row():
    text = DOC.read_text()
    missing = [r.id for r in CATALOGUE if f"`{r.id}`" not in text]
    assert not missing, f"docs/errors.md lacks {missing}; rebuild it: python tests/test_catalogue.py"


# ---------------------------------------------------------------------------
# docs/errors.md
# ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(observed: dict) -> str:
    lines = [
        "# When things go wrong: the catalogue of bad inputs",
        "",
        "Every row is a test (`tests/test_catalogue.py`), and the message is the one the code printed when the",
        "catalogue was last rebuilt (`python tests/test_catalogue.py` in the activated venv). "
        "Python API errors are raised in",
        "plain Python before anything is traced or compiled; the command line exits with code 2 and prints one",
        "line on stderr, no traceback. (Other exits: 1 when training diverges, 74 when a checkpoint or result cannot",
        "be written -- a full disk --, 130 on Ctrl-C.) The cases that need real processes, signals, an HTTP server or",
        "a full disk are run that way in `tests/test_hardening.py`; their rows here are the in-process versions.",
        "",
    ]
    for where, title in (("python", "Python API"), ("cli", "Command line (`jaxopt-course ...`)")):
        lines += [
            f"## {title}",
            "",
            "| id | bad input | " + ("call" if where == "cli" else "error") + " | message |",
            "|---|---|---|---|",
        ]
        for row in CATALOGUE:
            if row.where != where:
                continue
            if where == "python":
                kind = "accepted" if row.error is None else row.error.__name__
            else:
                shown = " ".join(a.replace("{tmp}", "TMP") for a in row.run)
                kind = f"`{shown}` → exit {0 if row.error is None else row.error}"
            message = observed.get(row.id, "")
            lines.append(f"| `{row.id}` | {_cell(row.bad_input)} | {_cell(kind)} | {_cell(message)} |")
        lines.append("")
    return "\n".join(lines)


def _rebuild_docs() -> None:
    import tempfile

    class _Capsys:  # what run_cli_row needs of pytest's capsys
        def __init__(self):
            self.out, self.err = io.StringIO(), io.StringIO()

        def readouterr(self):
            out, err = self.out.getvalue(), self.err.getvalue()
            self.out.seek(0), self.out.truncate(), self.err.seek(0), self.err.truncate()
            return type("Captured", (), {"out": out, "err": err})

    observed = {}
    for row in CATALOGUE:
        with tempfile.TemporaryDirectory() as tmp:
            if row.where == "python":
                observed[row.id] = run_python_row(row, Path(tmp))
            else:
                capsys = _Capsys()
                old = sys.stdout, sys.stderr
                sys.stdout, sys.stderr = capsys.out, capsys.err
                try:
                    observed[row.id] = run_cli_row(row, Path(tmp), capsys)
                finally:
                    sys.stdout, sys.stderr = old
        observed[row.id] = observed[row.id].replace(tmp, "TMP")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(observed))
    print(f"wrote {DOC} ({len(CATALOGUE)} rows)")


if __name__ == "__main__":
    jax.config.update("jax_numpy_rank_promotion", "raise")
    _rebuild_docs()
