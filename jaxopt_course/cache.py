"""The command line's caches: JAX's compiled programs and the preprocessed digits, in a private folder.

Most of the time of a short run (``jaxopt-course train`` on digits) is JAX
compiling the training scan. With JAX's persistent compilation cache a
second run of the same program reads the compiled code from disk instead:

* the folder is ``$XDG_CACHE_HOME/jaxopt-course/jax`` (``$HOME/.cache/...``
  when ``XDG_CACHE_HOME`` is unset), or ``$JAX_COMPILATION_CACHE_DIR`` when
  that is set;
* ``JAXOPT_COURSE_NO_CACHE=1`` turns it off.

It is switched on through JAX's own environment variables before JAX is
imported, so a process that imported JAX already (a notebook, a test run,
your own script) keeps its own settings: library code never changes JAX's
global configuration. This module imports nothing heavy.

The command line also keeps the preprocessed digits beside it
(:func:`cached_digits`), so that a repeated command on digits does not import
scikit-learn (about a second of a short run's start-up).

What a cache may and may not do (see ``docs/reliability.md``):

* **The folder is private.** ``jaxopt-course/`` (and ``jax/`` in it) are
  made ``0700``. One owned by another user, or writable by others, is not
  used: one line on stderr says so, and the run goes on without the cache.
  A ``HOME`` or ``XDG_CACHE_HOME`` that is not an absolute path (``HOME=''``)
  is not used either (no cache in ``/.cache`` or in the current folder).
* **A cache heals.** A digits file that cannot be read, or fails its
  checks (a SHA-256 of its arrays stored beside them, then the shapes,
  sizes and values of the default digits), is rebuilt, with one line on
  stderr naming it; the run goes on with the right numbers. It is read in
  memory bounded by its size (:func:`~jaxopt_course.files.read_stored_npz`:
  stored members only, headers checked before anything is allocated).
  Compilation-cache entries of zero bytes (a full disk while JAX wrote
  them) or that do not decompress within a bound (truncated, garbled, a
  "zip bomb") are removed before JAX starts (:func:`prune_compilation_cache`).
* **A cache is trusted like your own code.** Someone who can write your
  cache folder can also edit your ``~/.bashrc``; the checks above catch
  accidents (torn writes, full disks, a stray edit), not an attacker who
  writes a consistent file.
"""

from __future__ import annotations

import atexit
import json
import os
import stat
import sys
import zlib
from pathlib import Path

#: Set to anything but ``""``/``"0"`` to turn the cache off.
NO_CACHE_ENV = "JAXOPT_COURSE_NO_CACHE"
PREFIX = "jaxopt-course:"
#: The compilation-cache entries already checked by :func:`prune_compilation_cache`: name -> [size, mtime_ns].
VERIFIED_FILE = ".jaxopt-course-verified.json"
#: A compressed entry may expand at most this many times (real ones: 3-10x), and to at most this many bytes.
MAX_EXPANSION, MAX_ENTRY_BYTES = 64, 1 << 30


_said: set[str] = set()


def _say(line: str) -> None:
    """One line on stderr, once per process (both caches may find the same folder unusable)."""
    if line not in _said:
        _said.add(line)
        print(f"{PREFIX} {line}", file=sys.stderr, flush=True)


def cache_root(environ=None) -> Path | None:
    """``$XDG_CACHE_HOME/jaxopt-course``, else ``$HOME/.cache/jaxopt-course``; ``None`` without a usable base.

    A base must be an absolute path (the XDG rule: a relative one is
    ignored), so ``HOME=''`` gives no cache rather than one in ``/.cache``
    or in whatever folder the command runs from.

    Examples:
      >>> str(cache_root({"XDG_CACHE_HOME": "/tmp/c"}))
      '/tmp/c/jaxopt-course'
      >>> cache_root({"HOME": ""}) is None
      True
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "jaxopt-course"
    home = env.get("HOME", "")
    if os.path.isabs(home):
        return Path(home) / ".cache" / "jaxopt-course"
    return None


def cache_dir(environ=None) -> Path | None:
    """The compilation cache folder: ``cache_root() / "jax"`` (``None`` when there is no usable base).

    Examples:
      >>> str(cache_dir({"XDG_CACHE_HOME": "/tmp/c"}))
      '/tmp/c/jaxopt-course/jax'
    """
    root = cache_root(environ)
    return None if root is None else root / "jax"


def _no_base_reason(environ) -> str:
    env = os.environ if environ is None else environ
    return (
        f"HOME={env.get('HOME', '')!r} and XDG_CACHE_HOME={env.get('XDG_CACHE_HOME', '')!r} name no absolute "
        "folder: running without the cache"
    )


def private_folder(path: Path) -> str | None:
    """Make ``path`` (and missing parents) and keep it ``0700``; ``None`` if it is safe to use, else why not.

    Refused: a path that is not a folder, one owned by another user, one
    that others (group or world) may write. A folder of this user's with a
    looser read mode (``0755``, as older versions made it) is tightened to
    ``0700``.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(path)
    except OSError as err:
        return f"it cannot be made ({err.strerror or err})"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if info.st_uid != os.getuid():
        return f"it belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"others may write it (mode {stat.S_IMODE(info.st_mode):04o})"
    if stat.S_IMODE(info.st_mode) != 0o700:
        try:
            os.chmod(path, 0o700)
        except OSError as err:
            return f"it cannot be made private ({err.strerror or err})"
    return None


def _usable(folder: Path) -> bool:
    """``private_folder`` for the cache root and ``folder`` in it; one line on stderr when not usable."""
    for path in dict.fromkeys((folder.parent, folder)):
        refused = private_folder(path)
        if refused:
            _say(f"not using the cache folder {path}: {refused}")
            return False
    return True


def enable_compilation_cache(environ=None) -> Path | None:
    """Turn JAX's persistent compilation cache on for this process, if JAX is not imported yet.

    Sets ``JAX_COMPILATION_CACHE_DIR`` (unless already set) and caches every
    compiled program however quick its compilation
    (``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``, unless already set).
    Our own folder (not one set by ``JAX_COMPILATION_CACHE_DIR``) must be
    private (:func:`private_folder`) and is pruned first
    (:func:`prune_compilation_cache`).

    Args:
      environ: the environment to read and update (default ``os.environ``).

    Returns:
      The cache folder, or ``None`` when ``JAXOPT_COURSE_NO_CACHE`` is set,
      JAX was imported before (its configuration is then left alone), or
      there is no usable private folder (one line on stderr says why).
    """
    env = os.environ if environ is None else environ
    if env.get(NO_CACHE_ENV, "") not in ("", "0") or "jax" in sys.modules:
        return None
    if "JAX_COMPILATION_CACHE_DIR" not in env:
        folder = cache_dir(env)
        if folder is None:
            _say(_no_base_reason(environ))
            return None
        if not _usable(folder):
            return None
        prune_compilation_cache(folder)
        # Once more as the process ends: the entries this run wrote are checked and listed with their size and
        # time while they are still its own, so one copied over later (another program's) is caught at the next
        # start (issue 24.7); without it, an entry written by the last run was never listed before it was used.
        atexit.register(prune_compilation_cache, folder)
        env["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return Path(env["JAX_COMPILATION_CACHE_DIR"])


# ---------------------------------------------------------------------------
# The compilation cache's entries
# ---------------------------------------------------------------------------


def _decompressor():
    """What JAX decompresses its entries with (zstd where available, else zlib): ``decompress(data, limit)``.

    Returns a function giving the decompressed size, or raising when the data
    are not a complete stream or would expand beyond ``limit`` bytes.
    """
    _zstd = None
    if sys.version_info >= (3, 14):  # the standard library's zstd (when Python was built with it)
        try:
            from compression import zstd as _zstd
        except ImportError:
            pass
    if _zstd is None:
        try:
            # optional, not a dependency of this project (JAX uses it when installed): no types here
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            zstandard = None
        if zstandard is not None:

            def zstandard_size(data: bytes, limit: int) -> int:
                import io

                with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
                    out = reader.read(limit + 1)
                if len(out) > limit:
                    raise ValueError(f"it expands beyond {limit} bytes")
                return len(out)

            return zstandard_size

    def stream_size(data: bytes, limit: int) -> int:
        d = _zstd.ZstdDecompressor() if _zstd is not None else zlib.decompressobj()
        out = d.decompress(data, max_length=limit + 1)
        tail = getattr(d, "unconsumed_tail", b"")  # zlib's: input left over once max_length was reached
        if len(out) > limit or tail:
            raise ValueError(f"it expands beyond {limit} bytes")
        if not d.eof:
            raise ValueError("it is cut short")
        return len(out)

    return stream_size


def prune_compilation_cache(folder) -> list[Path]:
    """Remove the entries of JAX's cache in ``folder`` that JAX could not use; returns the paths removed.

    An entry (``<key>-cache``, with its ``<key>-atime``) is removed when it
    is empty (a full disk while JAX wrote it: JAX would warn and recompile
    on every run), or when it does not decompress as a whole stream within
    ``MAX_EXPANSION`` times its size and ``MAX_ENTRY_BYTES`` (truncated,
    garbled, or a bomb that would cost gigabytes on every run). Each entry
    is decompressed once: those checked are listed, with their size and
    modification time, in ``VERIFIED_FILE``, so a later run only stats them
    -- and since JAX writes an entry once and never rewrites it, one whose
    size or time changed since it was checked was replaced from outside
    (say, another entry copied over it) and is removed too.

    :func:`enable_compilation_cache` calls it at start-up and again as the
    process exits, so the entries a run wrote are listed before any other
    run can use them. What it cannot catch: an entry replaced by a valid
    program for another computation before it was listed (while the run
    that wrote it still runs, or after a run killed before its exit). JAX's
    key is a hash of the program, but the entry's content is not checked
    against it (JAX can, at the cost of compiling everything once per
    process: ``JAX_COMPILATION_CACHE_CHECK_CONTENTS=1``). See
    ``docs/reliability.md``.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith("-cache") and e.is_file(follow_symlinks=False)]
    except OSError:
        return removed
    verified_path = folder / VERIFIED_FILE
    try:
        with open(verified_path) as f:
            verified = json.loads(f.read(1 << 20))
        verified = verified if isinstance(verified, dict) else {}
    except (OSError, ValueError):
        verified = {}
    size_of, now_verified, changed = _decompressor(), {}, False
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            stamp = [info.st_size, info.st_mtime_ns]
            if info.st_size and verified.get(entry.name) == stamp:
                now_verified[entry.name] = stamp
                continue
            changed = True
            # JAX writes an entry once and never rewrites it: one checked before whose size or time changed
            # was replaced by something else (a copy of another entry, say) -- removed, so it is compiled again.
            if info.st_size and entry.name not in verified:
                limit = min(MAX_ENTRY_BYTES, MAX_EXPANSION * info.st_size)
                with open(entry.path, "rb") as f:
                    data = f.read(MAX_ENTRY_BYTES + 1)
                try:
                    size_of(data, limit)
                    now_verified[entry.name] = stamp
                    continue
                except Exception:  # any failure to decompress: JAX could not use it either
                    pass
            for path in (entry.path, entry.path[: -len("-cache")] + "-atime"):
                try:
                    os.unlink(path)
                    removed.append(Path(path))
                except FileNotFoundError:
                    pass
        except OSError:
            continue
    if changed or set(now_verified) != set(verified):
        try:
            from .files import atomic_write_json

            atomic_write_json(verified_path, now_verified)
        except OSError:
            pass
    return removed


# ---------------------------------------------------------------------------
# The preprocessed digits
# ---------------------------------------------------------------------------


def _digits_key() -> str:
    """What the preprocessed digits depend on: the loader's source and the versions of the libraries it uses."""
    import hashlib
    from importlib import metadata

    source = (Path(__file__).parent / "data.py").read_bytes()
    versions = [metadata.version(name) for name in ("scikit-learn", "numpy")]
    return hashlib.sha256(source + repr(versions).encode()).hexdigest()[:16]


_SPLITS, _ARRAYS = ("train", "val", "test"), ("X", "y")
_MEMBERS = tuple(f"{s}_{a}" for s in _SPLITS for a in _ARRAYS) + ("class_names", "mean", "image_shape")


def arrays_checksum(arrays: dict) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes, in name order: what the digits file stores.

    Examples:
      >>> import numpy as np
      >>> same = arrays_checksum({"a": np.zeros(2)}) == arrays_checksum({"a": np.zeros(2)})
      >>> same and arrays_checksum({"a": np.zeros(2)}) != arrays_checksum({"a": np.ones(2)})
      True
    """
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _read_digits(path: Path):
    """The digits kept at ``path``, after the checks; ValueError saying what is wrong (FileNotFoundError: none)."""
    from .data import Split, Splits, check_default_digits
    from .files import read_stored_npz

    content = read_stored_npz(path, (*_MEMBERS, "checksum"))
    checksum = content.pop("checksum")
    if checksum.dtype.kind != "U" or checksum.shape != () or str(checksum) != arrays_checksum(content):
        raise ValueError("its checksum does not match its arrays")
    names, image_shape = content["class_names"], content["image_shape"]
    if names.dtype.kind != "U" or names.ndim != 1 or image_shape.dtype.kind not in "iu" or image_shape.ndim != 1:
        raise ValueError(
            f"class_names ({names.dtype} {names.shape}) or image_shape ({image_shape.dtype} "
            f"{image_shape.shape}) is malformed"
        )
    train, val, test = (Split(content[f"{s}_X"], content[f"{s}_y"]) for s in _SPLITS)
    splits = Splits(
        train,
        val,
        test,
        dev=None,
        class_names=tuple(str(c) for c in names),
        mean=content["mean"],
        image_shape=tuple(int(n) for n in image_shape),
    )
    check_default_digits(splits)
    return splits


def cached_digits(load, environ=None):
    """``load()`` -- the default digits :class:`~jaxopt_course.data.Splits` -- kept on disk, so a second run skips
    scikit-learn.

    The file is ``cache_root() / "digits-<key>.npz"``, its key a hash of
    ``data.py``'s source and the scikit-learn and NumPy versions: a change to
    any of them makes a new file. It holds the arrays and their SHA-256
    (:func:`arrays_checksum`). It is used only when it reads back whole,
    its checksum matches and it passes
    :func:`~jaxopt_course.data.check_default_digits`; otherwise it is made
    again, with one line on stderr that names it. ``JAXOPT_COURSE_NO_CACHE``
    turns it off; a folder that is not private, or a file that cannot be
    written, is simply not used.

    Args:
      load: a function of no arguments returning the default digits' ``Splits``
        (``lambda: data.load_data("digits")``).
      environ: the environment to read (default ``os.environ``).
    """
    import numpy as np

    from .files import UnreadableNpz, atomic_save_npz

    env = os.environ if environ is None else environ
    if env.get(NO_CACHE_ENV, "") not in ("", "0"):
        return load()
    root = cache_root(env)
    if root is None:
        _say(_no_base_reason(environ))
        return load()
    refused = private_folder(root)
    if refused:
        _say(f"not using the cache folder {root}: {refused}")
        return load()
    path = root / f"digits-{_digits_key()}.npz"
    try:
        return _read_digits(path)
    except FileNotFoundError:  # not made yet: make it
        pass
    except (OSError, UnreadableNpz, ValueError, TypeError) as err:
        _say(f"the digits cache {path} is unusable ({str(err).splitlines()[0]}); rebuilding it")
    splits = load()
    arrays = {f"{s}_{a}": np.asarray(getattr(getattr(splits, s), a)) for s in _SPLITS for a in _ARRAYS}
    arrays.update(
        class_names=np.asarray(splits.class_names),
        mean=np.asarray(splits.mean),
        image_shape=np.asarray(splits.image_shape, np.int64),
    )
    try:
        atomic_save_npz(path, **arrays, checksum=np.str_(arrays_checksum(arrays)))
    except OSError:
        pass
    return splits
