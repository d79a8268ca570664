"""Hardening (issue 16): concurrent downloads, crafted files, full disks, killed processes, file modes.

Real parts only: real processes downloading from a real HTTP server on
127.0.0.1 (``test_data.serve_folder``), real SIGKILLs -- the child pauses at
a known point through an audit hook that only waits, so the kill lands
mid-save or mid-extraction every time --, crafted files whose peak memory is
measured in a child process (``resource.getrusage().ru_maxrss``, next to a
control allocation that shows the measurement can see 200 MB), a real tmpfs
(skipped cleanly where mounting is not permitted) and real
``jaxopt-course train`` subprocesses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy._core.multiarray import _reconstruct
from numpy._core.numeric import _frombuffer
from test_data import archive_bytes, entries, serve_folder, write_small_cifar  # noqa: F401 (a fixture)

import jaxopt_course
from jaxopt_course import cli
from jaxopt_course.checkpoint import CHECKPOINT_FILE, read_checkpoint_config, resolve, save_checkpoint
from jaxopt_course.data import (
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR10_LOCK,
    CIFAR10_MAX_MEMBER_BYTES,
    download_cifar10,
    load_cifar10,
    read_cifar10_batch,
)
from jaxopt_course.files import file_mode
from jaxopt_course.locks import LOCK_FILE

REPO = Path(jaxopt_course.__file__).resolve().parents[1]
EXIT_WRITE_FAILED = getattr(cli, "EXIT_WRITE_FAILED", 74)  # the contract in /tmp/coord/hardening_api.md
SMALL = dict(num_training=150, num_validation=10, num_test=5, num_dev=0)


def child_env() -> dict:
    """The environment of a child process: this checkout first on the path."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def start(code: str, *args, out: Path, pause: tuple | None = None) -> subprocess.Popen:
    """``python -c CODE ARGS`` with stdout/stderr to ``out.{out,err}``; ``pause=(event, needle, nth)``
    makes it print PAUSED and wait (an audit hook) at the nth audit event ``event`` whose arguments
    mention ``needle``."""
    hook = ""
    if pause is not None:
        hook = textwrap.dedent(f"""
            import sys, time
            _seen = [0]
            def _pause(event, args):
                if event == {pause[0]!r} and any({pause[1]!r} in str(a) for a in args):
                    _seen[0] += 1
                    if _seen[0] == {pause[2]!r}:
                        print("PAUSED", flush=True)
                        time.sleep(600)
            sys.addaudithook(_pause)
        """)
    return subprocess.Popen(
        [sys.executable, "-c", hook + code, *map(str, args)],
        env=child_env(),
        stdout=open(f"{out}.out", "w"),
        stderr=open(f"{out}.err", "w"),
    )


def wait_until(condition, proc: subprocess.Popen | None = None, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the child ended (exit {proc.returncode}) before the awaited moment")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def finish(proc: subprocess.Popen, out: Path, timeout: float = 240.0) -> tuple[int, str, str]:
    proc.wait(timeout=timeout)
    return proc.returncode, Path(f"{out}.out").read_text(), Path(f"{out}.err").read_text()


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)  # reaped: its pid is gone
    assert proc.returncode == -signal.SIGKILL


def cli_run(*args, timeout=300, umask=None):
    """``jaxopt-course ARGS`` in a real process (under ``umask`` if given); the CompletedProcess."""
    code = RUN_CLI if umask is None else f"import os; os.umask({umask}); {RUN_CLI}"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=child_env()
    )


RUN_CLI = "import sys; from jaxopt_course.cli import main; sys.exit(main(sys.argv[1:]))"
DOWNLOAD = (
    "import sys; from jaxopt_course.data import download_cifar10; "
    "print(download_cifar10(sys.argv[1], url=sys.argv[2], md5=sys.argv[3], progress=True))"
)


@pytest.fixture
def www(tmp_path_factory, archive_bytes):  # noqa: F811 (the fixture imported above)
    folder = tmp_path_factory.mktemp("www")
    (folder / CIFAR10_ARCHIVE).write_bytes(archive_bytes)
    with serve_folder(folder) as server:
        yield server


def parts(root: Path) -> list[Path]:
    return sorted(root.glob(f".{CIFAR10_ARCHIVE}.*.part"))


# ---------------------------------------------------------------------------
# Downloads and extraction: two processes, killed processes, bounds
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_downloading_into_one_empty_folder_both_get_the_one_finished_copy(tmp_path, www, archive_bytes):  # noqa: F811
    root, md5 = tmp_path / "data", hashlib.md5(archive_bytes).hexdigest()
    first = start(DOWNLOAD, root, f"{www.base}/hold/{CIFAR10_ARCHIVE}", md5, out=tmp_path / "first")
    wait_until(lambda: parts(root) and parts(root)[0].stat().st_size > 0, first)  # mid-download, holding the lock
    second = start(DOWNLOAD, root, f"{www.base}/{CIFAR10_ARCHIVE}", md5, out=tmp_path / "second")
    wait_until(lambda: "waiting for another process" in (tmp_path / "second.err").read_text(), second)
    www.release.set()  # let the first download finish
    results = [finish(first, tmp_path / "first"), finish(second, tmp_path / "second")]
    for code, out, err in results:
        assert code == 0, err
        assert out.strip() == str(root / CIFAR10_FOLDER)
    assert www.requests == [f"/hold/{CIFAR10_ARCHIVE}"]  # the second process never downloaded: it used the copy
    assert entries(root) == [CIFAR10_FOLDER, CIFAR10_ARCHIVE]
    assert load_cifar10(root, **SMALL).train.X.shape == (150, 3073)


@pytest.mark.slow
def test_a_download_killed_midway_leaves_a_part_file_that_the_next_download_removes(tmp_path, www, archive_bytes):  # noqa: F811
    root, md5 = tmp_path / "data", hashlib.md5(archive_bytes).hexdigest()
    proc = start(DOWNLOAD, root, f"{www.base}/hold/{CIFAR10_ARCHIVE}", md5, out=tmp_path / "killed")
    wait_until(lambda: parts(root) and parts(root)[0].stat().st_size > 0, proc)
    kill(proc)
    left = parts(root)
    assert len(left) == 1 and 0 < left[0].stat().st_size < len(archive_bytes)  # the leftover is real
    assert entries(root) == [left[0].name]
    download_cifar10(root, url=f"{www.base}/{CIFAR10_ARCHIVE}", md5=md5, progress=False)
    assert entries(root) == [CIFAR10_FOLDER, CIFAR10_ARCHIVE]  # the stale .part is gone


@pytest.mark.slow
def test_an_extraction_killed_midway_leaves_a_folder_that_the_next_extraction_removes(tmp_path, archive_bytes):  # noqa: F811,E501
    root, md5 = tmp_path / "data", hashlib.md5(archive_bytes).hexdigest()
    root.mkdir()
    (root / CIFAR10_ARCHIVE).write_bytes(archive_bytes)  # verified archive present: only the extraction runs
    proc = start(
        DOWNLOAD, root, "http://127.0.0.1:9/unused", md5, out=tmp_path / "killed", pause=("open", "data_batch_3", 1)
    )
    wait_until(lambda: "PAUSED" in (tmp_path / "killed.out").read_text(), proc)
    kill(proc)
    partial = sorted(root.glob(".cifar-10-extract.*"))
    assert len(partial) == 1 and (partial[0] / CIFAR10_FOLDER / "data_batch_2").is_file()
    assert not (root / CIFAR10_FOLDER).exists()
    download_cifar10(root, url="http://127.0.0.1:9/unused", md5=md5, progress=False)
    assert entries(root) == [CIFAR10_FOLDER, CIFAR10_ARCHIVE]


def test_a_download_lock_held_too_long_is_a_clear_timeout(tmp_path):
    import filelock

    root = tmp_path / "data"
    root.mkdir()
    with filelock.FileLock(root / CIFAR10_LOCK):  # another holder of the lock (a second file descriptor)
        with pytest.raises(
            TimeoutError,
            match=rf"another process has been downloading CIFAR-10 into {root} for "
            rf"more than 0.2 s \(it holds {root / CIFAR10_LOCK}\)",
        ):
            download_cifar10(root, url="http://127.0.0.1:9/x", lock_timeout=0.2, progress=False)
    assert entries(root) == []


class Zeros(io.RawIOBase):
    """A file of ``size`` zero bytes, read without holding it in memory."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def zero_archive(path: Path, sizes: dict) -> str:
    """A gzipped tar of zero-filled ``cifar-10-batches-py/NAME`` files of the given sizes; its MD5."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, size in sizes.items():
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = size
            tar.addfile(info, io.BufferedReader(Zeros(size)))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "sizes, pattern",
    [
        (
            {"data_batch_1": CIFAR10_MAX_MEMBER_BYTES + 1},
            r"the entry 'cifar-10-batches-py/data_batch_1' is 33554433 "
            r"bytes, more than any file of the official CIFAR-10 archive",
        ),
        ({f"data_batch_{i}": 31 * 2**20 for i in range(1, 8)}, r"would extract more than 201326592 bytes"),
        ({f"file_{i}": 1 for i in range(20)}, r"holds more than 16 entries; the official CIFAR-10 archive holds 9"),
    ],
)
def test_extraction_is_bounded_by_the_official_archive(tmp_path, sizes, pattern):
    root = tmp_path / "data"
    root.mkdir()
    md5 = zero_archive(root / CIFAR10_ARCHIVE, sizes)
    assert (root / CIFAR10_ARCHIVE).stat().st_size < 2**20  # a small archive that would extract many MB
    with pytest.raises(ValueError, match=pattern):
        download_cifar10(root, url="http://127.0.0.1:9/unused", md5=md5, progress=False)
    assert entries(root) == [CIFAR10_ARCHIVE]  # nothing extracted, no temporary folder


def test_downloaded_and_extracted_files_follow_the_umask(tmp_path, www, archive_bytes):  # noqa: F811
    old = os.umask(0o022)
    try:
        folder = download_cifar10(
            tmp_path, url=f"{www.base}/{CIFAR10_ARCHIVE}", md5=hashlib.md5(archive_bytes).hexdigest(), progress=False
        )
    finally:
        os.umask(old)
    assert oct((tmp_path / CIFAR10_ARCHIVE).stat().st_mode & 0o777) == oct(0o644)
    assert oct(folder.stat().st_mode & 0o777) == oct(0o755)  # not mkdtemp's 0700
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in folder.iterdir())  # readable by others


# ---------------------------------------------------------------------------
# Crafted batch pickles: refused before anything is allocated
# ---------------------------------------------------------------------------


class Call:
    """Pickles as ``fn(*args)`` (then ``BUILD state``): the building block of a crafted pickle."""

    def __init__(self, fn, *args, state=None):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return (self.fn, self.args) if self.state is None else (self.fn, self.args, self.state)


U8, I8 = np.dtype(np.uint8), np.dtype(np.int8)
EMPTY_DATA = np.zeros((0, 3072), np.uint8)


def crafted_batches() -> dict:
    """Batch files of a few hundred bytes to a few KB that ask for gigabytes."""
    hexes = b"ab"
    for _ in range(40):  # each level doubles the string: 2 ** 41 bytes at the top
        hexes = Call(__import__("codecs").encode, hexes, "hex")
    records = {
        # The two: 30 labels that are each a 100 MB array, and 4,000,000 "images" of nothing.
        "labels_of_huge_arrays": {b"data": EMPTY_DATA, b"labels": [Call(np.ndarray, (10**8,), I8) for _ in range(30)]},
        "data_batch_1": {
            b"data": Call(np.ndarray, (4_000_000, 3072), U8),
            b"labels": Call(np.ndarray, (4_000_000,), I8),
        },
        # The same sizes in NumPy's own two pickle forms, with the bytes missing.
        "declared_rows": {
            b"data": Call(_reconstruct, np.ndarray, (0,), b"b", state=(1, (4_000_000, 3072), U8, False, b"")),
            b"labels": [],
        },
        "frombuffer_rows": {b"data": Call(_frombuffer, bytearray(), U8, (4_000_000, 3072), "C"), b"labels": []},
        "too_many_labels": {b"data": EMPTY_DATA, b"labels": [0] * 10001},
        "hex_doubling": {b"data": EMPTY_DATA, b"labels": [], b"batch_label": hexes},
        "bytes_call": {b"data": EMPTY_DATA, b"labels": [], b"batch_label": Call(bytes, 10**10)},
    }
    blobs = {
        name: pickle.dumps(record, protocol=5 if name == "frombuffer_rows" else 2)  # 5: bytearray in-band
        for name, record in records.items()
    }
    # A BINBYTES8 that declares 8 GiB and holds 3 bytes.
    blobs["declared_bytes"] = b"\x80\x04\x8e" + struct.pack("<Q", 2**33) + b"abc"
    return blobs


MEASURE = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    {imports}
    def peak():
        # The process's own peak: VmHWM where Linux has it (ru_maxrss also counts the parent's image before
        # exec, here pytest's), else ru_maxrss. Writing 5 to clear_refs resets VmHWM to the current size.
        try:
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    results, before = {{}}, peak()
    for path in sys.argv[1:]:
        try:
            {call}
            results[path] = "accepted"
        except ValueError as err:
            results[path] = "ValueError: " + str(err)
    after = peak()
    control = np.ones(200 * 2 ** 20, np.uint8)  # the measurement sees a real 200 MB
    print(json.dumps({{"results": results, "before": before, "after": after, "control": peak()}}))
""")


def measure(tmp_path: Path, paths, *, imports: str, call: str) -> dict:
    code = MEASURE.format(imports=imports, call=call)
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=300, env=child_env()
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["control"] - report["after"] > 150 * 2**20, report  # the instrument works
    return report


@pytest.mark.slow
def test_crafted_batch_pickles_are_refused_in_bounded_memory(tmp_path):
    paths = []
    for name, blob in crafted_batches().items():
        (tmp_path / name).write_bytes(blob)
        assert len(blob) < 32 * 1024, (name, len(blob))  # a few KB (10001 labels: 20 KB)
        paths.append(tmp_path / name)
    report = measure(
        tmp_path, paths, imports="from jaxopt_course.data import read_cifar10_batch", call="read_cifar10_batch(path)"
    )
    for path in paths:
        message = report["results"][str(path)]
        assert message.startswith(f"ValueError: {path}"), message  # refused, naming the file
    assert report["after"] - report["before"] < 64 * 2**20, report  # files of a few KB: a few MB at most
    messages = report["results"]
    assert "calls numpy.ndarray(shape, dtype) directly" in messages[str(tmp_path / "data_batch_1")]
    assert "(4000000, 3072): more than the 10000 rows" in messages[str(tmp_path / "declared_rows")]
    assert "(4000000, 3072): more than the 10000 rows" in messages[str(tmp_path / "frombuffer_rows")]
    assert "got 10001, more than the 10000 of a batch" in messages[str(tmp_path / "too_many_labels")]


def test_a_tiny_batch_claiming_4_million_images_is_refused_by_load_cifar10(tmp_path):
    write_small_cifar(tmp_path)
    path = tmp_path / CIFAR10_FOLDER / "data_batch_1"
    path.write_bytes(crafted_batches()["data_batch_1"])
    assert path.stat().st_size < 300
    with pytest.raises(ValueError, match=rf"{path} is not a readable CIFAR-10 batch .*calls numpy.ndarray"):
        load_cifar10(tmp_path, **SMALL)


@pytest.mark.parametrize(
    "labels, data_rows, pattern",
    [
        ([0, 1], 3, r"3 images but 2 labels"),
        ([0, True], 2, r"'labels' must be a list of integers \(got a bool among them\)"),
        ([[0, 1]], 1, r"'labels' must be a list of integers \(got a list among them\)"),
        (np.array([[0, 1]]), 2, r"'labels' must be a list of integers \(got int64 array of shape \(1, 2\)\)"),
    ],
)
def test_labels_must_be_one_flat_integer_per_image(tmp_path, labels, data_rows, pattern):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((data_rows, 3072), np.uint8), b"labels": labels}, protocol=2))
    with pytest.raises(ValueError, match=rf"{path}: {pattern}"):
        read_cifar10_batch(path)


def test_a_batch_as_numpy_writes_it_in_any_protocol_is_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
    for protocol in (2, 4, 5):
        for labels in (
            [3, 1, 4, 1, 5, 9, 2],
            np.array([3, 1, 4, 1, 5, 9, 2], np.int64),
            [np.int64(v) for v in (3, 1, 4, 1, 5, 9, 2)],
        ):
            path = tmp_path / f"batch_{protocol}"
            path.write_bytes(pickle.dumps({b"data": data, b"labels": labels, b"batch_label": b""}, protocol=protocol))
            got, got_labels = read_cifar10_batch(path)
            np.testing.assert_array_equal(got, data)
            np.testing.assert_array_equal(got_labels, [3, 1, 4, 1, 5, 9, 2])
            assert got_labels.dtype == np.int32


# ---------------------------------------------------------------------------
# Crafted checkpoints: only the expected members, each checked before reading
# ---------------------------------------------------------------------------


def real_checkpoint(folder: Path) -> Path:
    import jax
    import jax.numpy as jnp
    import optax

    from jaxopt_course.train import TrainState

    W = jnp.zeros((3, 4))
    state = TrainState(W, optax.sgd(0.1).init(W), jax.random.key(0), jnp.int32(0))
    return save_checkpoint(folder, state, config={"lr": 0.1})


LIKE = (
    "import jax, jax.numpy as jnp, optax\n"
    "from jaxopt_course.checkpoint import load_checkpoint, read_checkpoint_config\n"
    "from jaxopt_course.train import TrainState\n"
    "W = jnp.zeros((3, 4))\n"
    "like = TrainState(W, optax.sgd(0.1).init(W), jax.random.key(0), jnp.int32(0))"
)


def npy_header(shape, descr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()  # magic string included


def rewritten(source: Path, target: Path, replace: dict, *, compression=zipfile.ZIP_STORED) -> Path:
    """``source`` with some members' bytes replaced (or added)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compression) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.pop(info.filename, zin.read(info)))
        for name, data in replace.items():
            zout.writestr(name, data)
    return target


def with_deflated_zeros(source: Path, target: Path, name: str, size: int) -> Path:
    """``source`` plus a member ``name``: an npy of ``size`` zero bytes, deflated to about size / 1000.

    The deflate stream is made from one compressed megabyte repeated (after a
    full flush the compressor's output repeats exactly), so making a 2 GiB
    member takes a second, not a minute.
    """
    header = npy_header((size,), "|u1")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    mb = bytes(2**20)
    chunk = c.compress(mb) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(mb) + c.flush(zlib.Z_FULL_FLUSH) == chunk  # the repetition holds
    stream = head + chunk * (size // 2**20) + c.flush()
    crc = zlib.crc32(header)
    for _ in range(size // 2**20):
        crc = zlib.crc32(mb, crc)
    # Write it stored, then mark it deflated with its true CRC and size (fixed-width fields, in place).
    rewritten(source, target, {name: stream})
    blob = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as z:
        local = z.getinfo(name).header_offset
    central = blob.rfind(b"PK\x01\x02")
    assert blob[local : local + 4] == b"PK\x03\x04" and blob[central + 46 : central + 46 + len(name)] == name.encode()
    struct.pack_into("<H", blob, local + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", blob, local + 14, crc)
    struct.pack_into("<I", blob, local + 22, len(header) + size)
    struct.pack_into("<H", blob, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<I", blob, central + 16, crc)
    struct.pack_into("<I", blob, central + 24, len(header) + size)
    target.write_bytes(bytes(blob))
    with zipfile.ZipFile(target) as z:  # a valid zip: the member really inflates to size bytes
        assert z.getinfo(name).file_size == len(header) + size
        with z.open(name) as f:
            assert f.read(len(header) + 2**20)[len(header) :] == mb
    return target


@pytest.mark.slow
def test_crafted_checkpoints_are_refused_in_bounded_memory(tmp_path):
    good = real_checkpoint(tmp_path / "good")
    files = {
        "extra": with_deflated_zeros(good, tmp_path / "extra.npz", "extra.npy", 2**31),
        "leaf": rewritten(
            good, tmp_path / "leaf.npz", {"leaf_00000.npy": npy_header((4 * 10**12,), "<f4") + b"x" * 64}
        ),
        "config": rewritten(good, tmp_path / "config.npz", {"config_json.npy": npy_header((10**9,), "<U1") + b"{}"}),
        "metrics": rewritten(
            good, tmp_path / "metrics.npz", {"metrics_loss.npy": npy_header((4 * 10**12,), "<f4") + b"x" * 64}
        ),
        "compressed": rewritten(good, tmp_path / "compressed.npz", {}, compression=zipfile.ZIP_DEFLATED),
    }
    assert 2 * 10**6 < files["extra"].stat().st_size < 3 * 10**6  # a 2 MB file holding a 2 GiB member
    report = measure(
        tmp_path, files.values(), imports=LIKE, call="read_checkpoint_config(path); load_checkpoint(path, like)"
    )
    assert report["after"] - report["before"] < 64 * 2**20, report
    results = {name: report["results"][str(path)] for name, path in files.items()}
    for name, message in results.items():
        assert message.startswith(f"ValueError: {files[name]} is not a readable checkpoint ("), (name, message)
        assert message.endswith("it is truncated or corrupted -- delete it and start the run again"), message
        assert "\n" not in message
    assert "it holds an unexpected member 'extra.npy'" in results["extra"]
    assert "leaf_00000 declares float32 of shape (4000000000000,) (16000000000000 bytes)" in results["leaf"]
    assert "config_json declares <U1 of shape (1000000000,)" in results["config"]
    assert "metrics_loss declares float32 of shape (4000000000000,)" in results["metrics"]
    assert "is compressed" in results["compressed"]


def test_the_config_reader_reads_only_the_small_members(tmp_path):
    import jax.numpy as jnp
    import optax

    from jaxopt_course.checkpoint import load_checkpoint
    from jaxopt_course.train import TrainState

    good = real_checkpoint(tmp_path / "good")
    # Garbage instead of the weights: the config reader never reads them, the full reader refuses them.
    broken = rewritten(good, tmp_path / "broken.npz", {"leaf_00000.npy": b"garbage" * 20})
    assert read_checkpoint_config(broken) == {"lr": 0.1, "step": 0}
    W = jnp.zeros((3, 4))
    like = TrainState(W, optax.sgd(0.1).init(W), __import__("jax").random.key(0), jnp.int32(0))
    with pytest.raises(
        ValueError,
        match=r"broken.npz is not a readable checkpoint \(its member leaf_00000 is not an "
        r".npy array .*\); it is truncated or corrupted",
    ):
        load_checkpoint(broken, like)


def test_resolve_takes_a_file_or_a_folder_and_creates_nothing(tmp_path):
    path = real_checkpoint(tmp_path / "ckpt")
    assert resolve(tmp_path / "ckpt") == path and resolve(path) == path
    for missing in (tmp_path / "none", tmp_path / "none" / CHECKPOINT_FILE, tmp_path / "ckpt" / "other.npz"):
        with pytest.raises(FileNotFoundError, match="no checkpoint at"):
            resolve(missing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


# ---------------------------------------------------------------------------
# A process killed while saving a checkpoint; output modes
# ---------------------------------------------------------------------------

TRAIN = [
    "train",
    "--steps",
    "3000",
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


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".part")))


@pytest.mark.slow
def test_a_run_killed_while_saving_a_checkpoint_keeps_the_last_one_and_its_temporary_goes_at_the_next_save(tmp_path):
    from jaxopt_course.files import remove_stale_temporaries

    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    # Pause the real run between writing its second checkpoint's temporary and renaming it; then SIGKILL.
    proc = start(
        RUN_CLI,
        *TRAIN,
        "--checkpoint-dir",
        ckpt,
        out=tmp_path / "killed",
        pause=("os.rename", f".{CHECKPOINT_FILE}.", 2),
    )
    wait_until(lambda: "PAUSED" in (tmp_path / "killed.out").read_text(), proc)
    [temporary] = temporaries(ckpt)
    assert f"-{proc.pid}." in temporary  # named after its writer
    assert remove_stale_temporaries(ckpt / CHECKPOINT_FILE) == []  # a live writer's temporary is never touched
    kill(proc)
    assert temporaries(ckpt) == [temporary]  # the SIGKILL's leftover
    assert read_checkpoint_config(ckpt)["step"] == 500  # the last good checkpoint, whole
    # The next save in that folder (the resumed run's first checkpoint) removes the leftover.
    resumed = cli_run(*TRAIN, "--resume", ckpt, "--out", out, "--json", umask=0o022)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_step"] == 500
    # The folder's lock file stays (a lock is released, not deleted); its owner file goes with the run.
    assert sorted(p.name for p in ckpt.iterdir() if p.name != LOCK_FILE) == [CHECKPOINT_FILE]
    assert read_checkpoint_config(ckpt)["step"] == 3000
    # Output files follow the umask (022 -> 0644), checkpoints and --out alike.
    for path in [ckpt / CHECKPOINT_FILE, *sorted(out.iterdir())]:
        assert oct(path.stat().st_mode & 0o777) == oct(0o644), path


# ---------------------------------------------------------------------------
# --resume takes a file; a missing --resume creates nothing (the CLI side: issue 16, H3)
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_accepts_the_checkpoint_file_itself(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    args = ["train", "--chunk-size", "1", "--seed", "5"]
    assert cli.main([*args, "--steps", "2", "--checkpoint-dir", str(ckpt)]) == 0
    capsys.readouterr()
    assert cli.main([*args, "--steps", "4", "--resume", str(ckpt / CHECKPOINT_FILE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["resumed_from_step"] == 2
    assert read_checkpoint_config(ckpt)["step"] == 4  # new checkpoints went beside the file
    assert sorted(p.name for p in ckpt.iterdir() if p.name != LOCK_FILE) == [CHECKPOINT_FILE]


@pytest.mark.parametrize("where", ["none", "none/checkpoint.npz"])
def test_resume_from_a_missing_path_is_an_error_that_creates_nothing(tmp_path, capsys, where):
    assert cli.main(["train", "--resume", str(tmp_path / where)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint at" in err[0] and str(tmp_path / "none") in err[0], err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# A full disk: a real tmpfs of 1 MB
# ---------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MB tmpfs mounted in the test's folder (we need root and mount permission: skipped otherwise)."""
    where = tmp_path / "tmpfs"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True, text=True, timeout=30
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"cannot mount a tmpfs here ({err})")
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(folder: Path, *, leave: int) -> Path:
    """Fill ``folder``'s file system but for about ``leave`` bytes."""
    st = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(bytes(max(0, st.f_bavail * st.f_frsize - leave)))
    return filler


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint_and_says_how_to_resume(tmp_path, tmpfs):
    ckpt = tmpfs / "ckpt"
    train = [*TRAIN[:2], "8000", *TRAIN[3:]]
    filler = fill(tmpfs, leave=64 * 1024)  # room for a few checkpoints (old + new side by side), not all 16
    proc = cli_run(*train, "--checkpoint-dir", ckpt, "--json")
    assert proc.returncode == EXIT_WRITE_FAILED, (proc.returncode, proc.stderr)
    line = one_line(proc.stderr)
    assert f"{ckpt / CHECKPOINT_FILE}: No space left on device" in line and "could not write" in line, line
    assert f"--resume {ckpt}" in line, line
    step = read_checkpoint_config(ckpt)["step"]
    assert 500 <= step < 8000 and step % 500 == 0
    # No temporary left on the full disk (the lock file stays).
    assert sorted(p.name for p in ckpt.iterdir() if p.name != LOCK_FILE) == [CHECKPOINT_FILE]
    # Nothing lost: with room again, the resumed run equals an uninterrupted one bit for bit.
    filler.unlink()
    resumed = cli_run(*train, "--resume", ckpt, "--out", tmp_path / "resumed", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_from_step"] == step
    reference = cli_run(*train, "--out", tmp_path / "reference", "--json")
    assert reference.returncode == 0, reference.stderr
    with np.load(tmp_path / "resumed" / "params.npz") as a, np.load(tmp_path / "reference" / "params.npz") as b:
        np.testing.assert_array_equal(a["W"], b["W"])
    losses = [json.loads((tmp_path / run / "metrics.json").read_text())["losses"] for run in ("resumed", "reference")]
    assert losses[0] == losses[1]


@pytest.mark.slow
def test_a_full_disk_at_the_end_still_prints_the_result(tmp_path, tmpfs):
    out = tmpfs / "out"
    fill(tmpfs, leave=8 * 1024)
    proc = cli_run("train", "--steps", "3000", "--out", out, "--json")
    assert proc.returncode == EXIT_WRITE_FAILED, (proc.returncode, proc.stderr)
    result = json.loads(proc.stdout)  # the finished run's result, printed all the same
    assert result["steps"] == 3000 and 0.5 < result["test_accuracy"] <= 1
    line = one_line(proc.stderr)
    assert "could not write" in line and f"{out}/metrics.json: No space left on device" in line, line
    assert temporaries(out) == []


def test_file_mode_is_what_open_gives(tmp_path):
    old = os.umask(0o027)
    try:
        mode = file_mode()
        (tmp_path / "f").write_text("x")
    finally:
        os.umask(old)
    assert mode == 0o640 == (tmp_path / "f").stat().st_mode & 0o777


@pytest.mark.parametrize("leave, during", [(100 * 1024, "download"), (None, "extraction")])
def test_a_full_disk_while_downloading_or_extracting_is_one_write_error_and_leaves_nothing_half_written(
    tmpfs,
    www,
    archive_bytes,
    leave,
    during,
):
    from jaxopt_course.files import WriteError

    root = tmpfs / "data"
    root.mkdir()
    if leave is not None:
        fill(tmpfs, leave=leave)  # not even the archive fits
    assert len(archive_bytes) < 2**20 < 2 * len(archive_bytes)  # without a filler: the archive fits, not twice
    with pytest.raises(WriteError, match="No space left on device") as info:
        download_cifar10(
            root, url=f"{www.base}/{CIFAR10_ARCHIVE}", md5=hashlib.md5(archive_bytes).hexdigest(), progress=False
        )
    if during == "download":
        assert info.value.path == root / CIFAR10_ARCHIVE and entries(root) == []  # no .part left
    else:
        assert info.value.path == root / CIFAR10_FOLDER
        assert entries(root) == [CIFAR10_ARCHIVE]  # the verified archive kept, no half-extracted folder
