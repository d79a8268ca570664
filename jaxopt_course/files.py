"""Files that must never be half-written: results JSON, figures' data, checkpoints.

Every writer here writes to a temporary file in the target's folder and then
renames it over the target (``os.replace`` is atomic on POSIX), so a crash or
Ctrl-C leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def ensure_dir(path) -> Path:
    """Create ``path`` (and parents) and check it can be written; a clear error if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"the results folder {path} cannot be written: {err.strerror or err}") from None
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def to_jsonable(obj):
    """NumPy/JAX arrays and scalars to plain Python; NaN/Inf to None (JSON has neither)."""
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
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())
