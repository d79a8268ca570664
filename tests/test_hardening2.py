"""Hardening, second round (issue 24): bounded readers, caches that heal, signals, one writer per folder,
limits before allocation, no silent wrong answers.

Real parts throughout: real files (crafted zips, pickles, FIFOs), real processes holding locks and
receiving real signals at random moments, real sockets. Every loop is bounded in count and time.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_data import write_small_cifar
from test_hardening import child_env, measure

from jaxopt_course import _checks, cache, data, limits, locks, search, signals, softmax_loss, svm_loss, toys
from jaxopt_course.checkpoint import CHECKPOINT_FILE, load_checkpoint, read_checkpoint_config, save_checkpoint
from jaxopt_course.distributed import initialize_multihost, wait_for_coordinator
from jaxopt_course.files import UnreadableNpz, read_stored_npz
from jaxopt_course.train import TrainState

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str, *args, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or child_env(),
    )


# ---------------------------------------------------------------------------
# Limits before allocation (point 5)
# ---------------------------------------------------------------------------


def test_integer_ranges_are_checked_before_jax_sees_them():
    assert limits.check_int32(2**31 - 1, "steps") == 2**31 - 1
    with pytest.raises(limits.LimitError, match=r"steps must be <= 2147483647 .*got 2147483648"):
        limits.check_int32(2**31, "steps")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        limits.check_int32(0, "steps")
    with pytest.raises(TypeError, match="steps must be an integer, got True"):
        limits.check_int32(True, "steps")
    assert limits.check_seed(-(2**63)) == -(2**63) and limits.check_seed(2**63 - 1) == 2**63 - 1
    for seed in (2**63, 2**64, -(2**63) - 1):
        with pytest.raises(limits.LimitError, match=r"seed must lie in \[-2\*\*63, 2\*\*63 - 1\]"):
            limits.check_seed(seed)
    jax.random.key(limits.check_seed(2**63 - 1))  # the largest accepted seed is one JAX takes


def test_the_memory_limit_comes_from_the_environment_meminfo_or_the_cgroup(monkeypatch):
    assert limits.parse_bytes("2G") == 2 * 2**30 and limits.parse_bytes("512M") == 512 * 2**20
    with pytest.raises(ValueError, match="JAXOPT_COURSE_MEMORY_LIMIT must be a number of bytes"):
        limits.parse_bytes("lots")
    free, where = limits.available_memory({})
    with open("/proc/meminfo") as f:
        meminfo = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    assert 0 < free <= meminfo * 1.5 and where  # /proc/meminfo (or a tighter cgroup) read when it is there
    assert limits.available_memory({limits.MEMORY_LIMIT_ENV: "1M"}) == (2**20, f"${limits.MEMORY_LIMIT_ENV}")
    with pytest.raises(
        limits.LimitError,
        match=r"a test needs about 2.0 MiB of memory, more than the 1.0 MiB "
        r"available \(\$JAXOPT_COURSE_MEMORY_LIMIT\); try less",
    ):
        limits.check_memory(2 * 2**20, "a test", hint="try less", environ={limits.MEMORY_LIMIT_ENV: "1M"})
    assert limits.check_memory(2**19, "a test", environ={limits.MEMORY_LIMIT_ENV: "1M"}) == 2**19


def test_the_estimates_add_up_the_arrays_by_hand():
    # grid_search: dims * points coordinates, points losses, points running best, 8 temporaries per point.
    assert limits.grid_search_bytes(1000, 2, None, 4) == 4 * (2000 + 2000 + 8000)
    assert limits.grid_search_bytes(1000, 1, 10, 8) == 8 * (1000 + 2000 + 80)
    # random_search: int32 trial numbers, losses and running best, two copies of a chunk of W.
    assert limits.random_search_bytes(1000, 30730, 50) == 4 * 1000 + 8 * 1000 + 8 * 50 * 30730
    # A 300 x 300 sweep of Adam on digits (C x D = 10 x 65), 1000 steps of 256: 90000 models.
    per_model = (2 * 4 * 650 + 2 * 1000 + 2 * 256 * 10) * 4
    assert limits.sweep_bytes(90000, 650, 1000, 256, 10) == 90000 * per_model
    assert limits.sweep_seconds(9_000_000, 1000, 256, 650) == pytest.approx(6 * 9e6 * 1000 * 256 * 650 / 1e10)


def test_a_long_grid_asks_for_yes():
    seconds = limits.sweep_seconds(3000 * 3000, 1000, 256, 650)
    with pytest.raises(limits.LimitError, match=r"a 3000 x 3000 sweep would take about [\d.]+ days .*pass --yes"):
        limits.check_duration(seconds, "a 3000 x 3000 sweep")
    assert limits.check_duration(seconds, "a 3000 x 3000 sweep", yes=True) == seconds
    assert limits.check_duration(10.0, "a short one") == 10.0


def test_check_sweep_bundles_the_counts_memory_and_time_checks():
    env = {limits.MEMORY_LIMIT_ENV: "1T"}
    limits.check_sweep(300 * 300, 650, 1000, 256, 10, what="a 300 x 300 sweep", environ=env, yes=True)
    with pytest.raises(limits.LimitError, match=r"a 300 x 300 sweep would take about [\d.]+ h .*pass --yes"):
        limits.check_sweep(300 * 300, 650, 1000, 256, 10, what="a 300 x 300 sweep", environ=env)
    with pytest.raises(
        limits.LimitError,
        match=r"a 300 x 300 sweep needs about 4.1 GiB of memory, more than the "
        r"1.0 GiB available .*use a smaller grid, fewer seeds or fewer steps",
    ):
        limits.check_sweep(
            300 * 300, 650, 1000, 256, 10, what="a 300 x 300 sweep", environ={limits.MEMORY_LIMIT_ENV: "1G"}, yes=True
        )
    with pytest.raises(limits.LimitError, match="the number of models must be <= 2147483647"):
        limits.check_sweep(10**10, 650, 10, 256, 10, what="seeds=10**10")
    with pytest.raises(limits.LimitError, match="steps must be <= 2147483647"):
        limits.check_sweep(1, 650, 2**31, 256, 10, what="one model")


def test_search_and_tea_refuse_huge_requests_before_allocating(monkeypatch):
    def f(W):
        return jnp.sum(W**2)

    with pytest.raises(limits.LimitError, match="trials must be <= 2147483647"):
        search.random_search(f, jax.random.key(0), (2,), trials=3 * 10**9)
    with pytest.raises(limits.LimitError, match=r"the number of grid points must be <= 2147483647 .*got 10000000000"):
        search.grid_search(lambda a, b: a + b, [np.arange(100000.0), np.arange(100000.0)])
    with pytest.raises(limits.LimitError, match=r"points must be <= 2147483647 .*got 1000000000000"):
        toys.temperature_grid(10**12)
    with pytest.raises(limits.LimitError, match="steps must be <= 2147483647"):
        toys.gradient_descent_1d(toys.tea_cost, 20.0, steps=10**12)
    with pytest.raises(limits.LimitError, match="steps must be <= 2147483647"):
        search.random_local_search(f, jax.random.key(0), np.zeros(2, np.float32), steps=3 * 10**9)
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "64M")
    with pytest.raises(
        limits.LimitError,
        match=r"an exhaustive search over 100000000 temperatures needs about "
        r"[\d.]+ GiB of memory, more than the 64.0 MiB available",
    ):
        toys.temperature_grid(10**8)
    with pytest.raises(limits.LimitError, match=r"a random search of 100000 trials of W \(10, 3073\) needs about"):
        search.random_search(f, jax.random.key(0), (10, 3073), trials=100000, chunk_size=1000)
    with pytest.raises(limits.LimitError, match="an exhaustive search over 2000000 grid points needs about"):
        search.grid_search(lambda a, b: a + b, [np.arange(2000.0), np.arange(1000.0)])
    with pytest.raises(limits.LimitError, match=r"a synthetic problem of 10000000 x 100 needs about 30.1 GiB"):
        data.synthetic_problem(num_examples=10**7, dim=100)
    # Within the limit the same calls run, and give what numpy gives.
    grid = toys.temperature_grid(101)
    np.testing.assert_allclose(np.asarray(grid), np.linspace(0, 100, 101), rtol=1e-6)
    assert float(search.grid_search(toys.tea_cost, grid).params) == 60.0


# ---------------------------------------------------------------------------
# No silent wrong answers (point 6)
# ---------------------------------------------------------------------------


def test_wide_labels_are_range_checked_before_they_are_narrowed():
    y = np.array([0, 1, 2, 2**32 + 1], np.int64)  # int32(2**32 + 1) == 1: a silent relabelling
    assert int(jnp.asarray(y)[3]) == 1  # what the narrowing would do
    with pytest.raises(
        ValueError,
        match=r"y must hold class labels that fit in int32 .*int64 values in "
        r"\[0, 4294967297\]",
    ):
        _checks.check_labels(y, None)
    # fit checks its labels this way (check_labels(y, None)) before it places them on a device; the
    # catalogue's row labels-int64-wide goes through fit itself.
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 3\) .*got values in \[0, 4294967297\]"):
        softmax_loss(np.zeros((3, 3), np.float32), np.ones((4, 3), np.float32), y)
    _checks.check_labels(np.array([0, 2**31 - 1], np.int64), None)  # the largest int32 passes
    _checks.check_labels(np.array([0, 1], np.uint64), 2)


def test_a_step_size_or_scale_that_rounds_to_zero_or_inf_is_named():
    with pytest.raises(
        ValueError,
        match=r"lr = 1e-320 rounds to 0 in float32 \(its smallest positive number is "
        r"1.4e-45\)",
    ):
        _checks.check_representable(1e-320, "lr", np.float32)
    with pytest.raises(ValueError, match=r"lr = 1e\+300 is inf in float32"):
        _checks.check_representable(np.array([0.1, 1e300]), "lr", np.float32)
    _checks.check_representable(1e-320, "lr", np.float64)  # a subnormal float64: fine in float64
    _checks.check_representable(0.0, "reg", np.float32)  # zero is the caller's business
    with pytest.raises(ValueError, match="scale = 1e-300 rounds to 0 in float32"):
        search.random_search(lambda W: jnp.sum(W), jax.random.key(0), (2,), trials=3, scale=1e-300)
    with pytest.raises(ValueError, match="step_size = 1e-50 rounds to 0 in float32"):
        search.random_local_search(
            lambda W: jnp.sum(W), jax.random.key(0), np.zeros(2, np.float32), steps=3, step_size=1e-50
        )
    with pytest.raises(ValueError, match="step_size = 1e-320 rounds to 0 in float32"):
        toys.gradient_descent_1d(toys.tea_cost, 20.0, step_size=1e-320, steps=3)


def test_a_tea_start_whose_cost_overflows_is_an_error_not_nan():
    with pytest.raises(ValueError, match=r"temperature = 1e\+308 is inf in float32"):
        toys.gradient_descent_1d(toys.tea_cost, 1e308, steps=3)
    with jax.enable_x64(True):
        with pytest.raises(ValueError, match=r"temperature = 1e\+308 gives a cost of (inf|nan) \(the cost overflows"):
            toys.gradient_descent_1d(toys.tea_cost, 1e308, steps=3)
        ts, costs = toys.gradient_descent_1d(toys.tea_cost, 20.0, step_size=50.0, steps=200)
        assert abs(float(ts[-1]) - 60.0) < 1e-3 and bool(jnp.all(jnp.isfinite(costs)))


def test_data_beyond_float32_is_an_error_about_the_data():
    W, y = np.zeros((3, 2), np.float32), np.array([0, 1])
    X = np.array([[1e39, 1.0], [1.0, -2e39]])  # finite in float64, inf in float32
    for loss in (svm_loss, softmax_loss):
        with pytest.raises(
            ValueError,
            match=r"X holds values up to 2e\+39 in magnitude, beyond float32's largest "
            r"\(3.4e\+38\).*The data overflow, not the step size",
        ):
            loss(W, X, y)
    with jax.enable_x64(True):  # computed in float64, the same data are fine
        assert np.isfinite(float(svm_loss(W.astype(np.float64), X, y)))
    assert np.isfinite(float(svm_loss(W, np.array([[3e38, 1.0], [1.0, 1.0]]), y)))  # just inside float32


# ---------------------------------------------------------------------------
# Bounded readers (point 1)
# ---------------------------------------------------------------------------


def encode_bomb(calls: int = 2000, size: int = 2**20) -> bytes:
    """A pickle that calls the allowed ``_codecs.encode`` ``calls`` times on one memoized ``size``-char string."""
    out = [
        b"\x80\x02",
        b"c_codecs\nencode\nq\x00",
        b"X" + struct.pack("<I", size) + b"a" * size + b"q\x01",
        b"X\x06\x00\x00\x00latin1q\x02",
        b"]",
    ]
    out += [b"h\x00h\x01h\x02\x86Ra"] * calls  # BINGET encode, the string, "latin1"; TUPLE2; REDUCE; APPEND
    return b"".join(out) + b"."


@pytest.mark.slow
def test_a_batch_that_re_encodes_one_string_thousands_of_times_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(encode_bomb())
    assert path.stat().st_size < 1.1e6  # 1.06 MB on disk would have made 2 GiB of bytes
    report = measure(
        tmp_path, [path], imports="from jaxopt_course.data import read_cifar10_batch", call="read_cifar10_batch(path)"
    )
    message = report["results"][str(path)]
    assert message.startswith(f"ValueError: {path} is not a readable CIFAR-10 batch") and "re-encodes" in message
    assert report["after"] - report["before"] < 64 * 2**20, report


def test_an_honest_batch_still_reads_with_the_encode_budget(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (100, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": pixels, b"labels": list(range(10)) * 10}, protocol=2))
    got, labels = data.read_cifar10_batch(path)
    assert np.array_equal(got, pixels) and labels.tolist() == list(range(10)) * 10


def test_a_fifo_as_a_batch_file_is_refused_not_waited_on(tmp_path):
    write_small_cifar(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.unlink()
    os.mkfifo(batch)
    proc = run_python(
        """
        import sys
        from jaxopt_course.data import load_cifar10, read_cifar10_batch
        for call in (lambda: read_cifar10_batch(sys.argv[1]),
                     lambda: load_cifar10(sys.argv[2], num_training=150, num_validation=10, num_test=5, num_dev=0)):
            try:
                call()
            except ValueError as err:
                print(err)
    """,
        batch,
        tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.splitlines()
        == [f"{batch} is a FIFO (named pipe), not a CIFAR-10 batch file; refusing to read it"] * 2
    )


def test_leftovers_of_killed_downloads_go_even_when_the_data_are_in_place(tmp_path):
    import filelock

    write_small_cifar(tmp_path)
    part = tmp_path / ".cifar-10-python.tar.gz.k1ll3d.part"
    extract = tmp_path / ".cifar-10-extract.k1ll3d"

    def leave_leftovers():
        part.write_bytes(b"half an archive")
        extract.mkdir()
        (extract / "x").write_bytes(b"half a folder")

    leave_leftovers()
    with filelock.FileLock(tmp_path / data.CIFAR10_LOCK):  # a download in progress: its files are not touched
        assert data.download_cifar10(tmp_path) == tmp_path / "cifar-10-batches-py"
        assert part.exists() and extract.exists()
    assert data.download_cifar10(tmp_path) == tmp_path / "cifar-10-batches-py"
    assert not part.exists() and not extract.exists()
    before = sorted(p.name for p in tmp_path.iterdir())
    data.download_cifar10(tmp_path)  # nothing to clean: nothing written, not even a lock file
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def small_state():
    W = jnp.zeros((2, 3))
    return TrainState(W, optax.sgd(0.1).init(W), jax.random.key(0), jnp.int32(0))


def rewrite_member(path: Path, name: str, value) -> None:
    """Rewrite one member of a checkpoint (an uncompressed .npz), keeping the others as they are."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[name] = value
    np.savez(path, **arrays)


def test_a_deeply_nested_checkpoint_config_is_a_clear_error_not_a_recursion_error(tmp_path):
    save_checkpoint(tmp_path, small_state(), None, {"lr": 0.1})
    path = tmp_path / CHECKPOINT_FILE
    rewrite_member(path, "config_json", np.str_('{"a": ' + "[" * 200000 + "]" * 200000 + "}"))
    for read in (lambda: read_checkpoint_config(tmp_path), lambda: load_checkpoint(tmp_path, small_state())):
        with pytest.raises(ValueError, match=r"its run configuration is nested 200001 levels deep, more than the 32"):
            read()
    rewrite_member(path, "config_json", np.str_('{"a": "' + "x" * (2**20) + '"}'))
    with pytest.raises(ValueError, match=r"its run configuration is 1048585 characters, more than the 1048576"):
        read_checkpoint_config(tmp_path)
    # Brackets inside strings are text, not nesting.
    rewrite_member(path, "config_json", np.str_(json.dumps({"note": "[" * 1000, "lr": 0.1})))
    assert read_checkpoint_config(tmp_path) == {"note": "[" * 1000, "lr": 0.1, "step": 0}


def test_resume_from_a_file_that_is_no_checkpoint_does_not_say_delete_it(tmp_path):
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ValueError) as err:
        read_checkpoint_config(other)
    message = str(err.value)
    assert message.startswith(f"{other} is not a jaxopt-course checkpoint (it is not an .npz file); --resume takes")
    assert "delete" not in message
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 cut short")  # a torn checkpoint keeps its wording
    with pytest.raises(ValueError, match="is not a readable checkpoint .* truncated or corrupted"):
        read_checkpoint_config(tmp_path)


# ---------------------------------------------------------------------------
# The stored-npz reader and the digits cache (points 1 and 2)
# ---------------------------------------------------------------------------


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_the_stored_npz_reader_refuses_before_allocating(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(5), b=np.array("text"))
    got = read_stored_npz(good, ("a", "b"))
    assert got["a"].tolist() == [0, 1, 2, 3, 4] and str(got["b"]) == "text"
    with pytest.raises(UnreadableNpz, match=r"holds the members \['a.npy', 'b.npy'\], expected \['a.npy'\]"):
        read_stored_npz(good, ("a",))
    huge = tmp_path / "huge.npz"  # a header that claims 4e12 float32 (16 TB) over 8 bytes of data
    header = npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", b"(4000000000000,)")
    with zipfile.ZipFile(huge, "w") as z:
        z.writestr("a.npy", header + b"\0" * 8)
    with pytest.raises(UnreadableNpz, match=r"declares float32 of shape \(4000000000000,\) \(16000000000000 bytes\)"):
        read_stored_npz(huge, ("a",))
    squeezed = tmp_path / "deflated.npz"
    np.savez_compressed(squeezed, a=np.arange(5))
    with pytest.raises(UnreadableNpz, match="its member a.npy is compressed"):
        read_stored_npz(squeezed, ("a",))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UnreadableNpz, match="declares object"):
        read_stored_npz(objects, ("a",))
    with pytest.raises(FileNotFoundError):
        read_stored_npz(tmp_path / "missing.npz", ("a",))


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


class Loader:
    """``load`` for :func:`cache.cached_digits`: the real digits, counting the calls."""

    def __init__(self, splits):
        self.splits, self.calls = splits, 0

    def __call__(self):
        self.calls += 1
        return self.splits


def assert_same_digits(got, want):
    for split in ("train", "val", "test"):
        for a in ("X", "y"):
            g, w = getattr(getattr(got, split), a), getattr(getattr(want, split), a)
            assert g.dtype == w.dtype and np.array_equal(g, w), (split, a)
    assert got.class_names == want.class_names and tuple(got.image_shape) == tuple(want.image_shape)


def cache_file(tmp_path: Path) -> Path:
    [path] = (tmp_path / "jaxopt-course").glob("digits-*.npz")
    return path


def edit_consistently(path: Path, edit) -> None:
    """Edit the cached arrays and store a matching checksum: what only the checks of the values can catch."""
    arrays = read_stored_npz(path, (*cache._MEMBERS, "checksum"))
    del arrays["checksum"]
    edit(arrays)
    np.savez(path, **arrays, checksum=np.str_(cache.arrays_checksum(arrays)))


def swap_test_for_train(a):
    a["test_X"], a["test_y"] = a["train_X"], a["train_y"]


def ten_columns(a):
    for s in ("train", "val", "test"):
        a[f"{s}_X"] = np.ascontiguousarray(a[f"{s}_X"][:, -10:])
    a["mean"], a["image_shape"] = a["mean"][:9], np.array([3, 3, 1])


def one_nan(a):
    a["val_X"][3, 5] = np.nan


def zero_d_image_shape(a):
    a["image_shape"] = np.array(8)


def header_claims_4e12(path: Path):
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    members["train_X.npy"] = npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", b"(4000000000000,)") + b"\0" * 64
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def deflated(path: Path):
    arrays = read_stored_npz(path, (*cache._MEMBERS, "checksum"))
    np.savez_compressed(path, **arrays)


def broken_deflate(path: Path):
    deflated(path)
    blob = bytearray(path.read_bytes())
    blob[200:260] = b"\xff" * 60
    path.write_bytes(bytes(blob))


def stale_checksum(path: Path):  # one pixel edited, the zip rewritten whole: only the stored checksum sees it
    arrays = read_stored_npz(path, (*cache._MEMBERS, "checksum"))
    arrays["train_X"][0, 1] = 0.5
    np.savez(path, **arrays)


def flipped_byte(path: Path):  # a bit of rot inside train_X's data: the zip's CRC-32 sees it
    blob = bytearray(path.read_bytes())
    at = blob.index(b"train_X.npy") + 2000
    blob[at] ^= 0x01
    path.write_bytes(bytes(blob))


CORRUPTIONS = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:1000]), "not a readable .npz"),
    "npy-header-4e12": (header_claims_4e12, r"declares float32 of shape \(4000000000000,\)"),
    "deflated": (deflated, "is compressed"),
    "broken-deflate": (broken_deflate, r"is compressed|not a readable"),
    "flipped-byte": (flipped_byte, "Bad CRC-32 for file 'train_X.npy'"),
    "stale-checksum": (stale_checksum, "its checksum does not match its arrays"),
    "test-replaced-by-train": (
        lambda p: edit_consistently(p, swap_test_for_train),
        r"test.X is float32 of shape \(1257, 65\), expected float32 of shape \(270, 65\)",
    ),
    "D-10": (lambda p: edit_consistently(p, ten_columns), r"image_shape is \(3, 3, 1\), not \(8, 8, 1\)"),
    "one-NaN": (lambda p: edit_consistently(p, one_nan), "val.X holds values that are not finite"),
    "0-d-image-shape": (lambda p: edit_consistently(p, zero_d_image_shape), "image_shape .* is malformed"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_a_digits_cache_that_fails_its_checks_is_rebuilt_with_one_line_naming_it(tmp_path, capsys, digits, name):
    corrupt, reason = CORRUPTIONS[name]
    env, load = {"XDG_CACHE_HOME": str(tmp_path)}, Loader(digits)
    cache.cached_digits(load, env)
    path = cache_file(tmp_path)
    assert load.calls == 1 and capsys.readouterr().err == ""
    corrupt(path)
    assert_same_digits(cache.cached_digits(load, env), digits)  # the run goes on with the right numbers
    assert load.calls == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"jaxopt-course: the digits cache {path} is unusable (") and line.endswith("rebuilding it")
    assert __import__("re").search(reason, line), line
    assert_same_digits(cache.cached_digits(load, env), digits)  # healed: read back, silently
    assert load.calls == 2 and capsys.readouterr().err == ""


@pytest.mark.slow
def test_a_deflate_bomb_in_the_digits_cache_costs_no_memory(tmp_path, digits):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    cache.cached_digits(Loader(digits), env)
    path = cache_file(tmp_path)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:  # the others stored as written; train_X 512 MiB of zeros in 0.5 MB
        for name, blob in members.items():
            if name != "train_X.npy":
                z.writestr(name, blob)
        info = zipfile.ZipInfo("train_X.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            f.write(npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", b"(134217728,)"))
            for _ in range(512):
                f.write(bytes(2**20))
    assert path.stat().st_size < 2**20
    report = measure(
        tmp_path,
        [path],
        imports="from pathlib import Path; from jaxopt_course.cache import _read_digits",
        call="_read_digits(Path(path))",
    )
    assert "is compressed" in report["results"][str(path)], report
    assert report["after"] - report["before"] < 64 * 2**20, report


def test_the_cache_folder_is_private_and_one_others_may_write_is_not_used(tmp_path, capsys, digits):
    env, load = {"XDG_CACHE_HOME": str(tmp_path)}, Loader(digits)
    cache.cached_digits(load, env)
    root = tmp_path / "jaxopt-course"
    assert (root.stat().st_mode & 0o777) == 0o700
    os.chmod(root, 0o755)  # an older version's folder: this user's, readable by others -> tightened
    cache.cached_digits(load, env)
    assert (root.stat().st_mode & 0o777) == 0o700 and load.calls == 1
    os.chmod(root, 0o777)  # writable by anyone: not used
    assert_same_digits(cache.cached_digits(load, env), digits)
    assert load.calls == 2
    assert (
        capsys.readouterr().err
        == f"jaxopt-course: not using the cache folder {root}: others may write it (mode 0777)\n"
    )
    os.chmod(root, 0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_folder_owned_by_someone_else_is_not_used(tmp_path, capsys, digits):
    root = tmp_path / "jaxopt-course"
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    load = Loader(digits)
    assert_same_digits(cache.cached_digits(load, {"XDG_CACHE_HOME": str(tmp_path)}), digits)
    assert load.calls == 1 and list(root.iterdir()) == []
    assert "belongs to another user (uid 65534)" in capsys.readouterr().err


def test_an_empty_or_relative_home_gives_no_cache_in_slash_or_here(tmp_path, capsys, digits):
    for env in ({"HOME": ""}, {"HOME": "relative/home"}, {"HOME": "", "XDG_CACHE_HOME": "rel"}, {}):
        assert cache.cache_root(env) is None and cache.cache_dir(env) is None
    assert cache.cache_root({"HOME": "", "XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "jaxopt-course"
    load = Loader(digits)
    assert_same_digits(cache.cached_digits(load, {"HOME": ""}), digits)
    assert "HOME='' and XDG_CACHE_HOME='' name no absolute folder: running without the cache" in capsys.readouterr().err
    code = """
        import os, sys
        from jaxopt_course.cache import enable_compilation_cache
        env = {"HOME": sys.argv[1]}
        print(enable_compilation_cache(env), env.get("JAX_COMPILATION_CACHE_DIR"), "jax" in sys.modules)
    """
    cwd_env = child_env()
    proc = run_python(code, "", env=cwd_env)
    assert proc.stdout.split() == ["None", "None", "False"], proc.stderr
    assert proc.stderr.splitlines() == [
        "jaxopt-course: HOME='' and XDG_CACHE_HOME='' name no absolute folder: running without the cache"
    ]
    proc = run_python(code, tmp_path, env=cwd_env)
    folder = tmp_path / ".cache" / "jaxopt-course" / "jax"
    assert proc.stdout.split() == [str(folder), str(folder), "False"] and proc.stderr == "", proc.stderr
    assert (folder.stat().st_mode & 0o777) == 0o700 and (folder.parent.stat().st_mode & 0o777) == 0o700


def test_compilation_cache_entries_jax_could_not_use_are_pruned(tmp_path):
    program = os.urandom(1000) * 20  # compresses about 20x, like a real entry's repetitive code
    entries = {
        "empty": b"",  # a full disk while JAX wrote it
        "good": zlib.compress(program),
        "truncated": zlib.compress(program)[:-50],
        "garbled": b"not a zlib stream at all",
        "bomb": zlib.compress(bytes(100 * 2**20)),  # 100 MiB of zeros in 100 KB: 1000x
    }
    for name, blob in entries.items():
        (tmp_path / f"jit_{name}-cache").write_bytes(blob)
        (tmp_path / f"jit_{name}-atime").write_bytes(b"\0" * 8)
    (tmp_path / "unrelated.txt").write_text("not ours")
    removed = cache.prune_compilation_cache(tmp_path)
    assert sorted(p.name for p in removed) == sorted(
        f"jit_{n}-{s}" for n in entries if n != "good" for s in ("cache", "atime")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["jit_good-cache", "jit_good-atime", "unrelated.txt", cache.VERIFIED_FILE]
    )
    verified = json.loads((tmp_path / cache.VERIFIED_FILE).read_text())
    assert list(verified) == ["jit_good-cache"]
    assert cache.prune_compilation_cache(tmp_path) == []  # checked once: now only its size and time are compared
    (tmp_path / "jit_good-cache").write_bytes(b"")  # the same name, emptied later: pruned on the next start
    assert [p.name for p in cache.prune_compilation_cache(tmp_path)] == ["jit_good-cache", "jit_good-atime"]
    # Another valid entry copied over a checked one (softmax's program under the SVM's key): JAX never rewrites
    # an entry, so a checked entry that changed was replaced from outside, and goes.
    (tmp_path / "jit_svm-cache").write_bytes(zlib.compress(program))
    (tmp_path / "jit_softmax-cache").write_bytes(zlib.compress(program[::-1] + b"softmax"))
    assert cache.prune_compilation_cache(tmp_path) == []
    (tmp_path / "jit_svm-cache").write_bytes((tmp_path / "jit_softmax-cache").read_bytes())
    assert [p.name for p in cache.prune_compilation_cache(tmp_path)] == ["jit_svm-cache"]
    assert sorted(json.loads((tmp_path / cache.VERIFIED_FILE).read_text())) == ["jit_softmax-cache"]


@pytest.mark.slow
def test_real_compilation_cache_entries_pass_the_pruning(tmp_path):
    code = """
        import os, sys
        from jaxopt_course.cache import enable_compilation_cache
        env = dict(os.environ, XDG_CACHE_HOME=sys.argv[1])
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        folder = enable_compilation_cache(env)
        os.environ.update(env)
        import jax, jax.numpy as jnp
        from jaxopt_course import softmax_loss
        X, y = jnp.ones((8, 5)), jnp.arange(8) % 3
        print(float(jax.jit(jax.grad(softmax_loss))(jnp.zeros((3, 5)), X, y).sum()), folder)
    """
    env = {k: v for k, v in child_env().items() if k not in ("JAXOPT_COURSE_NO_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    proc = run_python(code, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "jaxopt-course" / "jax"
    written = sorted(p.name for p in folder.glob("*-cache"))
    assert written, list(folder.iterdir())
    assert cache.prune_compilation_cache(folder) == []
    assert sorted(json.loads((folder / cache.VERIFIED_FILE).read_text())) == written


# ---------------------------------------------------------------------------
# Signals (points 3 and 4)
# ---------------------------------------------------------------------------


SIGNAL_SCRIPT = """
# A tiny fit: minibatch SGD on softmax through train.fit, in chunks of 50 steps; the signals are checked at
# chunk boundaries (Loop.on_chunk), and fit's interrupt path (TrainingInterrupted) writes the checkpoint.
import sys, time
from jaxopt_course import signals
signals.install()
print("installed", time.monotonic(), flush=True)
import jax, optax
from jaxopt_course import data, softmax_loss
from jaxopt_course.checkpoint import save_checkpoint
from jaxopt_course.hostloop import TrainingInterrupted
from jaxopt_course.train import Loop, Run, fit
X, y = data.synthetic_problem(0, num_examples=200, dim=5, num_classes=3)
run = Run(softmax_loss, optax.sgd, batch_size=32, num_steps=int(sys.argv[2]), eval_every=None)
loop = Loop(chunk_size=50, progress=False, on_chunk=signals.check_hook)
print("training", time.monotonic(), flush=True)
try:
    with signals.deferred():
        try:
            fit(run, jax.numpy.zeros((3, 6)), X, y, key=jax.random.key(0), lr=0.1, loop=loop)
        except TrainingInterrupted as err:  # at a chunk boundary: the checkpoint path
            save_checkpoint(sys.argv[1], err.state, err.metrics, {"lr": 0.1})
            print("saved", err.step, flush=True)
            raise SystemExit(signals.exit_code(signals.last_signal()))
except signals.Interrupted as err:  # after the last chunk, before the block ended: nothing left to save
    print("stopped after training", flush=True)
    raise SystemExit(err.exit_code)
print("done", time.monotonic(), flush=True)
"""


def signal_trial(script: Path, signum: int, delay: float, steps: int, marker: str) -> dict:
    """Start the script, wait for its line ``marker`` ('installed' or 'training'), sleep ``delay``, send ``signum``."""
    ckpt = script.parent / f"ckpt-{signum}-{marker}-{delay:.6f}"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(steps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        for line in iter(proc.stdout.readline, ""):  # at most two lines before the marker
            if line.split()[0] == marker:
                break
        time.sleep(delay)
        sent = time.monotonic()
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"code": proc.returncode, "out": out, "err": err, "sent": sent, "ckpt": ckpt}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_a_random_moment_ends_the_run_cleanly_with_128_plus_its_number(tmp_path, signum):
    steps = 4000
    script = tmp_path / "run.py"
    script.write_text(SIGNAL_SCRIPT)

    def phases(name) -> tuple[float, float]:
        """An undisturbed run: the seconds from 'installed' to 'training' (importing JAX, the data) and from
        'training' to 'done' (compiling the chunk, 80 chunks)."""
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / name), str(steps)],
            capture_output=True,
            text=True,
            timeout=300,
            env=child_env(),
        )
        assert done.returncode == 0, done.stderr
        times = {line.split()[0]: float(line.split()[1]) for line in done.stdout.splitlines()}
        return times["training"] - times["installed"], times["done"] - times["training"]

    # Calibrated on two runs at once, as the trials run; the shorter spans, so that the moments fall inside.
    with ThreadPoolExecutor(max_workers=2) as pool:
        spans = list(pool.map(phases, ["calibration-1", "calibration-2"]))
    start_up, training = min(s[0] for s in spans), min(s[1] for s in spans)
    rng = random.Random(24 + signum)
    # Ten moments uniform over start-up (timed from 'installed'), ten over training (timed from 'training').
    trials = [("installed", rng.uniform(0.0, start_up)) for _ in range(10)] + [
        ("training", rng.uniform(0.0, training)) for _ in range(10)
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at a time: each trial is bounded (communicate's timeout)
        results = list(pool.map(lambda t: signal_trial(script, signum, t[1], steps, t[0]), trials))
    assert time.monotonic() - started < 600, "20 trials took more than 10 minutes"
    outcomes = {"outside training": 0, "during training": 0, "at the end of training": 0, "after": 0}
    for trial, ((marker, delay), r) in enumerate(zip(trials, results, strict=True)):
        where = (
            f"trial {trial}: {delay:.3f} s after {marker!r} (start-up {start_up:.2f} s, training {training:.2f} s): {r}"
        )
        assert "Traceback" not in r["err"] and "Exception ignored" not in r["err"], where
        if r["code"] in (0, -signum) and "done" in r["out"]:
            # Finished before the signal came, never after (a swallowed signal). Sent while the interpreter
            # shuts down (its handlers restored to the defaults), the signal itself may end it: nothing is lost.
            assert r["out"].split()[-2] == "done" and float(r["out"].split()[-1]) <= r["sent"], where
            outcomes["after"] += 1
        elif "saved" in r["out"]:  # during training: the checkpoint path ran, for SIGTERM as for SIGINT
            assert r["code"] == 128 + signum and r["err"] == "", where
            step = int(r["out"].split()[-1])
            assert step % 50 == 0 and 0 < step < steps, where
            assert read_checkpoint_config(r["ckpt"]) == {"lr": 0.1, "step": step}, where
            outcomes["during training"] += 1
        elif "stopped after training" in r["out"]:
            assert r["code"] == 128 + signum and r["err"] == "", where
            outcomes["at the end of training"] += 1
        else:  # start-up (or after the run): at once, one line, no traceback, nothing written
            assert r["code"] == 128 + signum, where
            assert r["err"] == f"jaxopt-course: interrupted ({signal.Signals(signum).name})\n", where
            assert not r["ckpt"].exists(), where
            outcomes["outside training"] += 1
    print(signal.Signals(signum).name, outcomes)
    # Both phases were hit: start-up (importing JAX, the data) and training (compiling, the chunks).
    assert outcomes["outside training"] >= 3 and outcomes["during training"] >= 3, outcomes


def test_a_deferred_signal_is_raised_at_the_next_check_and_a_second_one_is_not_lost():
    previous = {s: signal.getsignal(s) for s in signals.SIGNALS}
    try:
        assert signals.install()
        with pytest.raises(signals.Interrupted) as err:
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs between bytecodes: it has run before this loop ends
                    pass
                assert signals.last_signal() == signal.SIGTERM  # recorded, not raised
                signals.check()
                raise AssertionError("check() should have raised")
        assert isinstance(err.value, KeyboardInterrupt) and err.value.exit_code == 143
        signals.check()  # consumed: nothing pending any more
        with pytest.raises(signals.Interrupted, match=r"interrupted \(SIGINT\)"):
            with signals.deferred():  # pending at the end of the block: raised there
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
        result = []
        thread = threading.Thread(target=lambda: result.append(signals.install()))
        thread.start()
        thread.join(10)
        assert result == [False]  # only the main thread may set handlers
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_exit_codes_are_128_plus_the_signal():
    assert signals.exit_code(signal.SIGINT) == 130 and signals.exit_code(signal.SIGTERM) == 143
    assert signals.Interrupted(signal.SIGINT).exit_code == 130


# ---------------------------------------------------------------------------
# One writer per folder (point 4)
# ---------------------------------------------------------------------------


HOLDER = """
import sys, time
from jaxopt_course import locks
with locks.hold(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
print("released", flush=True)
"""


def test_a_second_run_on_a_folder_gets_an_error_naming_the_holder_and_a_killed_holder_does_not_block(tmp_path):
    folder = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), "120"], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(locks.FolderInUse) as err:
            with locks.hold(folder):
                raise AssertionError("a second holder got the lock")
        assert err.value.holder["pid"] == holder.pid and err.value.holder["host"] == socket.gethostname()
        assert str(err.value).startswith(
            f"{folder} is in use by another run (pid {holder.pid} on host {socket.gethostname()}, since "
        )
        assert isinstance(err.value, OSError) and str(err.value).endswith("or use another folder")
    finally:
        holder.kill()  # SIGKILL: no clean-up ran, the owner file stays behind
        holder.wait(30)
    assert locks.holder(folder)["pid"] == holder.pid  # stale ...
    with locks.hold(folder, folder):  # ... but it does not block; one process may name a folder twice
        assert locks.holder(folder)["pid"] == os.getpid()
        with locks.hold(folder):  # and hold it again, nested
            pass
        proc = subprocess.run(
            [sys.executable, "-c", HOLDER, str(folder), "0"],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
        )
        assert proc.returncode == 1 and "FolderInUse" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert not (folder / locks.OWNER_FILE).exists()
    proc = subprocess.run(
        [sys.executable, "-c", HOLDER, str(folder), "0"], capture_output=True, text=True, timeout=60, env=child_env()
    )
    assert proc.stdout == "holding\nreleased\n", proc.stderr  # released: the next run takes it


def test_a_second_run_on_a_live_runs_folder_is_told_it_is_in_use_not_to_resume_or_force(tmp_path, capsys):
    """The overwrite guard's advice (--resume, --force) is wrong while the first run lives: the lock speaks first."""
    from jaxopt_course.cli import main

    out = tmp_path / "out"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / CHECKPOINT_FILE).write_bytes(b"the live run's checkpoint, half written")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out), "120"], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    try:
        assert holder.stdout.readline() == "holding\n"
        assert main(["train", "--steps", "3", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"is in use by another run (pid {holder.pid}" in err and "--force" not in err
    finally:
        holder.kill()
        holder.wait(30)
    assert main(["train", "--steps", "3", "--out", str(out)]) == 2  # the holder gone: the guard's own advice
    err = capsys.readouterr().err
    assert "holds the checkpoint of another run" in err and "--force" in err


# ---------------------------------------------------------------------------
# The coordinator (point 7)
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connecting_to_a_coordinator_nobody_runs_times_out_with_a_message():
    port = free_port()
    start = time.monotonic()
    with pytest.raises(
        ConnectionError,
        match=rf"nobody accepts connections at 127.0.0.1:{port} after 0.5 s "
        r"\(Connection refused\): start process 0",
    ):
        wait_for_coordinator(f"127.0.0.1:{port}", 0.5)
    assert 0.4 < time.monotonic() - start < 30
    with pytest.raises(ConnectionError, match="nobody accepts connections"):  # through initialize_multihost
        initialize_multihost(f"127.0.0.1:{port}", 2, 1, environ={}, timeout=0.3)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        initialize_multihost(f"127.0.0.1:{port}", 2, 1, environ={}, timeout=0)


def test_a_coordinator_that_starts_late_is_waited_for():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    timer = threading.Timer(0.5, server.listen)
    timer.start()
    try:
        wait_for_coordinator(f"127.0.0.1:{port}", 30)
    finally:
        timer.cancel()
        server.close()


def test_a_second_signal_while_the_first_waits_ends_the_process_at_once():
    proc = run_python(
        """
        import os, signal, time
        from jaxopt_course import signals
        signals.install()
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # recorded, not raised: still here
            print("still running", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        print("not reached", flush=True)
    """,
        timeout=60,
    )
    assert proc.returncode == 143 and proc.stdout == "still running\n", proc
    assert proc.stderr == "jaxopt-course: interrupted again, stopping at once (SIGTERM)\n"


@pytest.mark.slow
def test_an_unavailable_platform_is_one_clear_error():
    code = """
        from jaxopt_course import distributed
        try:
            print(distributed.check_platform())
        except ValueError as err:
            print(err)
    """
    env = {k: v for k, v in child_env().items() if k != "JAX_PLATFORMS"}
    proc = run_python(code, env={**env, "JAX_PLATFORMS": "cuda"}, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    if proc.stdout in ("gpu\n", "cuda\n"):
        pytest.skip("this machine has CUDA")
    assert proc.stdout.startswith("JAX_PLATFORMS='cuda' names no platform this machine can start ("), proc.stdout
    assert proc.stdout.rstrip().endswith("unset it, or set it to cpu")
    assert run_python(code, env={**env, "JAX_PLATFORMS": "cpu"}, timeout=120).stdout == "cpu\n"


# ---------------------------------------------------------------------------
# What the replayed attack still found (benchmarks/attack/audit24.py), fixed
# ---------------------------------------------------------------------------


def test_the_command_line_imports_neither_numpy_nor_jax_before_it_installs_its_handlers():
    """Until ``signals.install`` runs, a Ctrl-C meets Python's own handler (a KeyboardInterrupt traceback) and a
    SIGTERM kills at once: the audit saw both 0.05-0.1 s after the spawn, while ``jaxopt_course.files`` imported
    NumPy. Importing the entry point must cost only the standard library."""
    proc = run_python(
        """
        import sys
        import jaxopt_course.cli
        print(sorted({m.split(".")[0] for m in sys.modules} & {"numpy", "jax", "jaxlib", "scipy", "sklearn"}))
    """
    )
    assert proc.returncode == 0 and proc.stdout == "[]\n", proc.stdout + proc.stderr


def small_fit(**run_fields):
    X, y = data.synthetic_problem(0, num_examples=50, dim=4, num_classes=3)
    return X, y, dict(loss_fn=softmax_loss, optimizer=optax.sgd, batch_size=8, num_steps=3) | run_fields


def test_a_count_beyond_int32_is_refused_by_the_one_integer_check_before_jax_sees_it():
    from jaxopt_course.train import Loop, Run, fit

    with pytest.raises(limits.LimitError, match=r"num_steps must be <= 2147483647 \(2\*\*31 - 1, .*got 2147483648"):
        _checks.check_int(2**31, "num_steps")
    assert _checks.check_int(2**31 - 1, "num_steps") == 2**31 - 1
    assert _checks.check_int(2**40, "seed", low=-(2**63)) == 2**40  # may be negative: a seed, int64
    with pytest.raises(limits.LimitError, match=r"seed must lie in \[-2\*\*63, 2\*\*63 - 1\]"):
        _checks.check_int(2**63, "seed", low=-(2**63))
    # Through fit with one chunk: JAX's OverflowError from inside the jitted call before the fix.
    X, y, fields = small_fit(num_steps=2**31)
    with pytest.raises(limits.LimitError, match=r"Run.num_steps must be <= 2147483647"):
        fit(
            Run(**fields),
            np.zeros((3, 5), np.float32),
            X,
            y,
            key=jax.random.key(0),
            lr=0.1,
            reg=0.0,
            loop=Loop(chunk_size=None, progress=False),
        )


def test_fit_refuses_an_lr_that_is_zero_in_float32_and_data_beyond_float32_naming_them():
    from jaxopt_course.train import Loop, Run, fit

    X, y, fields = small_fit()
    W0, loop = np.zeros((3, 5), np.float32), Loop(progress=False)
    assert np.float32(1e-320) == 0  # what training with it would do: nothing, and "succeed"
    with pytest.raises(ValueError, match=r"lr = 1e-320 rounds to 0 in float32"):
        fit(Run(**fields), W0, X, y, key=jax.random.key(0), lr=1e-320, reg=0.0, loop=loop)
    wide = np.asarray(X, np.float64)
    wide[3, 2] = 1e39  # finite in float64, inf in float32: before the fix, "the step size is probably too large"
    with pytest.raises(ValueError, match=r"X holds values up to 1e\+39 .*The data overflow, not the step size"):
        fit(Run(**fields), W0, wide, y, key=jax.random.key(0), lr=0.1, reg=0.0, loop=loop)
    with pytest.raises(ValueError, match=r"X_val holds values up to 1e\+39"):
        fit(Run(**fields), W0, X, y, key=jax.random.key(0), lr=0.1, reg=0.0, X_val=wide, y_val=y, loop=loop)
    wide[3, 2] = np.inf  # not finite at all: still the finiteness check's message
    with pytest.raises(ValueError, match=r"X must be finite, got 1 NaN/Inf value\(s\) out of 250"):
        fit(Run(**fields), W0, wide, y, key=jax.random.key(0), lr=0.1, reg=0.0, loop=loop)
    with jax.enable_x64(True):  # in float64 the same lr is a (subnormal) number: fine
        _checks.check_representable(1e-320, "lr", _checks.compute_dtype(np.float64))


def test_sweep_estimates_its_memory_from_the_shapes_before_it_allocates(monkeypatch):
    from jaxopt_course.train import Loop, Run, sweep

    X, y, fields = small_fit(num_steps=100)
    monkeypatch.setenv(limits.MEMORY_LIMIT_ENV, "1G")
    expected = limits.sweep_bytes(10**7, 15, 100, 8, 3)  # 10**7 models of W (3, 5): by the documented formula
    with pytest.raises(
        limits.LimitError,
        match=rf"a sweep of 10000000 models needs about {re.escape(limits.format_bytes(expected))} of memory, "
        r"more than the 1.0 GiB available \(\$JAXOPT_COURSE_MEMORY_LIMIT\)",
    ):
        sweep(
            Run(**fields),
            np.zeros((3, 5), np.float32),
            X,
            y,
            key=jax.random.key(0),
            learning_rates=[0.1],
            regs=[0.0],
            seeds=10**7,
            loop=Loop(progress=False),
        )
    result = sweep(
        Run(**fields),
        np.zeros((3, 5), np.float32),
        X,
        y,
        key=jax.random.key(0),
        learning_rates=[0.1],
        regs=[0.0],
        seeds=2,
        loop=Loop(progress=False),
    )  # a small grid under the same limit runs
    assert result.losses.shape == (1, 1, 2, 100)


def test_an_address_space_limit_is_memory_that_is_not_available():
    """``ulimit -v`` (RLIMIT_AS): past it every allocation fails whatever the machine has free; the audit's 10**7
    seed sweep aborted in XLA (SIGABRT) at 1.1 GiB under a 3 GiB limit."""
    proc = run_python(
        """
        import json, resource
        from jaxopt_course import limits
        with open("/proc/self/status") as f:
            size = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + 2 ** 30, resource.RLIM_INFINITY))
        figure, where = limits.available_memory({})
        try:
            limits.check_memory(2 * 2 ** 30, "a sweep of 9 models", environ={})
            refused = ""
        except limits.LimitError as err:
            refused = str(err)
        print(json.dumps({"figure": figure, "where": where, "refused": refused}))
    """
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["where"] == "the address-space limit (ulimit -v) less this process's size", report
    assert 0.9 * 2**30 < report["figure"] <= 2**30, report  # the limit less the size, less what the check imported
    assert report["refused"].startswith("a sweep of 9 models needs about 2.0 GiB of memory, more than the "), report


@pytest.mark.slow
def test_an_entry_the_last_run_wrote_and_someone_then_replaced_is_pruned(tmp_path):
    """The audit copied softmax's compiled program over the SVM's, which the last run had just written: no
    start had listed it yet, so it decompressed fine and ``train --loss svm`` printed softmax's accuracies.
    A run now lists its own entries as it exits, so the replacement is seen at the next start."""
    code = """
        import os, sys
        from jaxopt_course.cache import enable_compilation_cache
        env = dict(os.environ, XDG_CACHE_HOME=sys.argv[1])
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        enable_compilation_cache(env)
        os.environ.update(env)
        import jax, jax.numpy as jnp
        from jaxopt_course import softmax_loss, svm_loss
        loss = {"softmax": softmax_loss, "svm": svm_loss}[sys.argv[2]]
        X, y = jnp.ones((8, 5)), jnp.arange(8) % 3
        print(float(jax.jit(jax.grad(loss))(jnp.zeros((3, 5)), X, y, 0.0).sum()))
    """
    env = {k: v for k, v in child_env().items() if k not in ("JAXOPT_COURSE_NO_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    folder = tmp_path / "jaxopt-course" / "jax"
    written = {}
    for loss in ("softmax", "svm"):
        before = set(folder.glob("*-cache")) if folder.exists() else set()
        proc = run_python(code, tmp_path, loss, env=env)
        assert proc.returncode == 0, proc.stderr
        written[loss] = max(set(folder.glob("*-cache")) - before, key=lambda p: p.stat().st_size)
    listed = json.loads((folder / cache.VERIFIED_FILE).read_text())
    assert written["svm"].name in listed  # listed by the run that wrote it, at its exit
    shutil.copy2(written["softmax"], written["svm"])  # cp -p: its time travels with it; its size does not match
    removed = cache.prune_compilation_cache(folder)
    assert written["svm"] in removed and written["softmax"].exists(), removed


@pytest.mark.slow
@pytest.mark.parametrize("command", [["tea"], ["search", "--method", "grid"], ["train", "--steps", "2"]])
def test_every_command_on_an_unavailable_platform_says_so_in_one_line(command):
    """The audit found ``check_platform`` tested but never called: ``jaxopt-course train`` with JAX_PLATFORMS=cuda
    on a machine without CUDA was JAX's AssertionError traceback (exit 1)."""
    env = {k: v for k, v in child_env().items() if k != "JAX_PLATFORMS"}
    proc = subprocess.run(
        [sys.executable, "-m", "jaxopt_course", *command],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "JAX_PLATFORMS": "cuda"},
    )
    if proc.returncode == 0:
        pytest.skip("this machine has CUDA")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "jaxopt-course: error: JAX_PLATFORMS='cuda' names no platform this machine can start (AssertionError): "
        "unset it, or set it to cpu"
    ], proc.stderr
