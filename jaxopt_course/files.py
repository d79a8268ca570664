"""Files that must never be half-written: results JSON, figures, checkpoints.

Every writer here writes to a temporary file in the target's folder and then
renames it over the target (``os.replace`` is atomic on POSIX), so a crash or
Ctrl-C leaves either the old file or the new one, never a torn one. Three
more promises:

* **Modes follow the umask.** ``tempfile.mkstemp`` creates its file ``0600``;
  the file gets ``0o666 & ~umask`` before the rename, as ``open(path, "w")``
  would give (``0644`` under the usual umask 022), so a shared ``results/``
  can be read by others.
* **A failed write says so.** Any ``OSError`` while writing (a full disk, an
  I/O error, a read-only file system) becomes one :class:`WriteError` that
  names the file and the cause; the temporary is removed and the previous
  file is untouched.
* **No leftovers.** A process killed mid-write (SIGKILL, power loss) leaves
  its temporary behind. Temporaries are named
  ``.<target>.<host>-<pid>.<random>.tmp``, and the next write of the same
  target in that folder removes those whose process is gone
  (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno as _errno
import io
import json
import math
import os
import re
import socket
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, cast

# NumPy is imported by the functions that need it, not here: the command line imports this module before it
# installs its signal handlers (``signals.install``), and the less it imports first, the shorter the moment in
# which a Ctrl-C still meets Python's default handler (a ``KeyboardInterrupt`` traceback; issue 24.3).

#: Temporaries of another machine (a shared network folder), or of an older
#: version without the owner in the name, are only removed once older than these.
OTHER_HOST_STALE_SECONDS = 24 * 3600
UNTAGGED_STALE_SECONDS = 3600


class WriteError(OSError):
    """Writing ``path`` failed (disk full, I/O error, ...); the file that was there is unchanged.

    An ``OSError`` (so ``except OSError`` still catches it) with the usual
    ``errno``, ``strerror`` and ``filename``, plus ``path``. Its text is one
    line naming the file and the cause, e.g. ``could not write
    out/checkpoint.npz: No space left on device (ENOSPC); the file that was
    there, if any, is unchanged``.
    """

    def __init__(self, path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        code = f" ({_errno.errorcode[self.errno]})" if self.errno is not None and self.errno in _errno.errorcode else ""
        return f"could not write {self.path}: {self.strerror}{code}; the file that was there, if any, is unchanged"


def file_mode() -> int:
    """The mode a new file gets under the current umask: ``0o666 & ~umask``."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a new folder gets under the current umask: ``0o777 & ~umask``."""
    return 0o777 & ~_umask()


def _umask() -> int:
    try:  # Linux says it without changing it (setting and restoring it would race with other threads)
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)  # elsewhere the portable way: set it ...
        os.umask(mask)  # ... and put it back
    return mask


def _owner_tag() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _process_gone(pid: int) -> bool:
    """No process ``pid`` runs on this machine (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def remove_stale_temporaries(path) -> list[Path]:
    """Remove the leftovers of killed writers of ``path``: its temporaries whose process is gone.

    A temporary ``.<name>.<host>-<pid>.<random>.tmp`` is stale when ``host``
    is this machine and no process ``pid`` runs (a live writer's file is
    never touched: its pid is alive); another machine's only after
    :data:`OTHER_HOST_STALE_SECONDS`, an untagged one (an older version's
    ``.<name>.<random>.tmp``) after :data:`UNTAGGED_STALE_SECONDS`: no write
    takes that long. Returns the paths removed.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.)?[A-Za-z0-9_]+\.tmp")
    here, now = _owner_tag().rsplit("-", 1)[0], time.time()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if match["pid"] is None:
                stale = age > UNTAGGED_STALE_SECONDS
            elif match["host"] == here:
                stale = int(match["pid"]) != os.getpid() and _process_gone(int(match["pid"]))
            else:
                stale = age > OTHER_HOST_STALE_SECONDS
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already (another cleaner), or not ours to remove
            continue
    return removed


def ensure_dir(path) -> Path:
    """Create ``path`` (and parents) and check it can be written; a clear error if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path / "write-test")  # a probe of a process killed right here
        fd, probe = tempfile.mkstemp(prefix=f".write-test.{_owner_tag()}.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"the results folder {path} cannot be written: {err.strerror or err}") from None
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, mode from the umask, fsync, rename).

    Raises:
      WriteError: the file could not be written (the old one is kept).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_owner_tag()}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as err:
        raise WriteError(path, err) from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def to_jsonable(obj):
    """NumPy/JAX arrays and scalars to plain Python; NaN/Inf to None (JSON has neither)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return to_jsonable(arr.tolist()) if arr.ndim else to_jsonable(arr.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return to_jsonable(obj.item())
    return obj


def atomic_write_json(path, obj, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (arrays become lists) to ``path`` atomically."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def read_json(path):
    with open(path) as f:
        return json.load(f)


def atomic_save_npz(path, **arrays) -> Path:
    """``numpy.savez`` to ``path`` atomically."""
    import numpy as np

    buf = io.BytesIO()
    # typed Any: a dict of arrays unpacked as keywords would otherwise look as if it could fill savez's allow_pickle
    members: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(buf, **members)
    return atomic_write_bytes(path, buf.getvalue())


class UnreadableNpz(ValueError):
    """An ``.npz`` file refused by :func:`read_stored_npz`; the text says why (one line, naming the file)."""


def read_stored_npz(path, names) -> dict:
    """Read the arrays ``names`` of an ``.npz`` written by :func:`atomic_save_npz`, trusting nothing in it.

    Memory is bounded by the file's size: every member must be stored
    uncompressed (as ``numpy.savez`` writes them: no deflate stream to
    decompress, so no "zip bomb" and no broken stream), lie inside the file,
    be an ``.npy`` whose header declares exactly the bytes it holds, and not
    hold Python objects -- all checked before an array is allocated. The
    file must hold exactly the members ``names`` (each ``NAME.npy``).

    Returns:
      ``{name: array}``.

    Raises:
      FileNotFoundError: no file there.
      UnreadableNpz: anything else (truncated, compressed, other members,
        a header that claims more than the file holds, ...).
    """
    import zipfile
    import zlib

    import numpy as np

    path = Path(path)
    wanted = {f"{name}.npy": name for name in names}
    errors = (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        ValueError,
        KeyError,
        NotImplementedError,
        RuntimeError,
        zlib.error,
    )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read forever
            raise UnreadableNpz(f"{path} is not a regular file")
        size = info.st_size
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, UnreadableNpz):
        raise
    except (OSError, *errors) as err:
        raise UnreadableNpz(f"{path} is not a readable .npz ({type(err).__name__}: {err})") from None
    out = {}
    with archive:
        infos = archive.infolist()
        found = sorted(info.filename for info in infos)
        if found != sorted(wanted):
            raise UnreadableNpz(f"{path} holds the members {found[:8]}, expected {sorted(wanted)}")
        for info in infos:
            if (
                info.compress_type != zipfile.ZIP_STORED
                or info.flag_bits & 0x1
                or info.file_size != info.compress_size
                or info.header_offset + info.compress_size > size
            ):
                raise UnreadableNpz(
                    f"{path}: its member {info.filename} is compressed, encrypted or larger than the "
                    "file (this project writes them uncompressed)"
                )
            try:
                # typeshed types ZipFile.open as IO[bytes]; in read mode it returns a ZipExtFile (with readinto)
                with cast("zipfile.ZipExtFile", archive.open(info)) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"npy format version {version}")
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read(f)
                    declared = math.prod(shape) * dtype.itemsize
                    if dtype.hasobject or f.tell() + declared != info.file_size:
                        raise ValueError(
                            f"it declares {dtype} of shape {shape} ({declared} bytes), the file holds "
                            f"{info.file_size - f.tell()}"
                        )
                    array = np.empty(shape, dtype, order="F" if fortran else "C")
                    # .data: the array's memoryview (numpy declares ndarray a Buffer only for Python >= 3.12)
                    got = f.readinto(array.reshape(-1, order="A").view(np.uint8).data) if declared else 0
                    if got != declared:
                        raise ValueError("it is cut short")
            except (OSError, *errors) as err:
                raise UnreadableNpz(
                    f"{path}: its member {info.filename} is not a readable .npy ({type(err).__name__}: {err})"
                ) from None
            out[wanted[info.filename]] = array
    return out
