"""Atomic writes: results are whole or absent, modes follow the umask, failures say so, no leftovers."""

import contextlib
import errno
import json
import math
import os
import resource
import socket
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxopt_course.files import (
    WriteError,
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_json,
    ensure_dir,
    file_mode,
    read_json,
    to_jsonable,
)


def test_json_roundtrip_with_arrays_and_nan(tmp_path):
    path = atomic_write_json(
        tmp_path / "sub" / "metrics.json", {"loss": np.array([1.0, math.nan]), "acc": np.float32(0.5), "n": np.int64(3)}
    )
    assert read_json(path) == {"loss": [1.0, None], "acc": 0.5, "n": 3}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_failed_write_keeps_the_old_file(tmp_path):
    path = atomic_write_json(tmp_path / "m.json", {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_npz_roundtrip(tmp_path):
    path = atomic_save_npz(tmp_path / "c.npz", W=np.ones((2, 3)), step=np.int32(7))
    with np.load(path) as z:
        assert z["W"].shape == (2, 3) and int(z["step"]) == 7


def test_unwritable_results_folder(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="cannot be written"):
        ensure_dir(blocker / "results")


def test_to_jsonable_nested():
    assert to_jsonable({"a": (np.arange(2), {"b": np.bool_(True)})}) == {"a": [[0, 1], {"b": True}]}


# ---------------------------------------------------------------------------
# Modes follow the umask; failed writes are one clear error; no leftovers
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    with umask(mask):
        assert file_mode() == mode
        paths = [
            atomic_write_json(tmp_path / "m.json", {"a": 1}),
            atomic_save_npz(tmp_path / "p.npz", W=np.ones(2)),
            atomic_write_bytes(tmp_path / "f.png", b"png"),
        ]
        atomic_write_json(tmp_path / "m.json", {"a": 2})  # a replaced file too
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    # What open() itself gives under this umask, as an independent reference:
    with umask(mask):
        (tmp_path / "plain").write_text("x")
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == mode


def test_a_write_that_fails_midway_is_one_write_error_and_keeps_the_old_file(tmp_path):
    """A real kernel refusal: RLIMIT_FSIZE makes write() fail with EFBIG past 1000 bytes (Python ignores SIGXFSZ)."""
    path = atomic_write_bytes(tmp_path / "checkpoint.npz", b"old")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(WriteError) as info:
            atomic_write_bytes(path, b"x" * 5000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = info.value
    assert isinstance(err, OSError) and err.errno == errno.EFBIG and err.path == path
    assert str(err) == f"could not write {path}: File too large (EFBIG); the file that was there, if any, is unchanged"
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # the temporary is gone


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path):
    (tmp_path / "a-file").write_text("in the way")
    with pytest.raises(WriteError, match=r"could not write .*a-file/sub/m.json: .*(Not a directory|File exists)"):
        atomic_write_json(tmp_path / "a-file" / "sub" / "m.json", {})


def dead_pid() -> int:
    """The pid of a process that has run and been reaped."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_temporaries_of_dead_writers_are_removed_at_the_next_save(tmp_path):
    host = socket.gethostname()
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in host)
    dead, live = dead_pid(), os.getppid()  # pytest's parent process is alive
    names = {
        "dead": f".checkpoint.npz.{host}-{dead}.abc_1234.tmp",
        "live": f".checkpoint.npz.{host}-{live}.abc_1234.tmp",
        "other host, fresh": f".checkpoint.npz.elsewhere-{dead}.abc_1234.tmp",
        "other host, 2 days old": f".checkpoint.npz.faraway-{dead}.abc_1234.tmp",
        "untagged, fresh": ".checkpoint.npz.abc_1234.tmp",
        "untagged, 2 hours old": ".checkpoint.npz.xyz_9876.tmp",
        "another target's": f".metrics.json.{host}-{dead}.abc_1234.tmp",
        "not ours": "checkpoint.npz.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    now = time.time()
    os.utime(tmp_path / names["other host, 2 days old"], (now - 2 * 86400, now - 2 * 86400))
    os.utime(tmp_path / names["untagged, 2 hours old"], (now - 7200, now - 7200))
    atomic_write_bytes(tmp_path / "checkpoint.npz", b"new")
    left = {p.name for p in tmp_path.iterdir()}
    gone = {k for k, v in names.items() if v not in left}
    assert gone == {"dead", "other host, 2 days old", "untagged, 2 hours old"}
    assert "checkpoint.npz" in left and (tmp_path / "checkpoint.npz").read_bytes() == b"new"


def test_ensure_dir_probes_with_a_tagged_temporary_and_removes_a_dead_probe(tmp_path):
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())
    dead = tmp_path / f".write-test.{host}-{dead_pid()}.abcd_123.tmp"
    dead.write_bytes(b"")
    ensure_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
