"""Data: the bundled digits (default), CIFAR-10 and small synthetic problems.

Both loaders return the same structure, :class:`Splits`, preprocessed the way
the lecture (CS231n) does it:

1. images to rows (``(N, H, W, C)`` pixels become ``(N, D)``), float32;
2. subtract the *mean image* of the training split -- computed on train only,
   applied to every split;
3. optionally scale;
4. the bias trick: append a constant 1 to every row, so that ``W x`` includes
   the bias (D = 3073 for CIFAR-10, 65 for digits).

Everything here is NumPy on the host; the arrays go to JAX when they are
used. Preprocessing writes into one preallocated, 64-byte-aligned float32
array per split (which XLA can then use without a copy); CIFAR-10's pixels go
into it batch file by batch file, so beside the float32 result only one
batch's raw uint8 pixels are held at a time.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import pickle
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Literal, NamedTuple, cast

import numpy as np

from .files import WriteError, dir_mode, file_mode

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_PIXELS = 32 * 32 * 3


class Split(NamedTuple):
    """One split: examples ``X`` (N, D) float32 and labels ``y`` (N,) int32."""

    X: np.ndarray
    y: np.ndarray


class Splits(NamedTuple):
    """What every loader returns.

    Attributes:
      train, val, test: :class:`Split`.
      dev: a small :class:`Split` drawn from train for quick checks (CS231n's
        500-example dev set), or ``None`` where there is none.
      class_names: one name per class; ``len(class_names)`` is C.
      mean: the mean training image that was subtracted, shape ``(D_raw,)``.
      image_shape: ``(H, W, channels)`` of one image, to draw rows of ``W``.
    """

    train: Split
    val: Split
    test: Split
    dev: Split | None
    class_names: tuple
    mean: np.ndarray
    image_shape: tuple = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def dim(self) -> int:
        return int(self.train.X.shape[1])


# ---------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------


def _check_fraction(value, name):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction in (0, 1), got {value!r}")


def _check_count(value, name, *, low=0, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        hi = "" if high is None else f", <= {high}"
        raise ValueError(f"{name} must be >= {low}{hi}, got {value}")


def _empty_aligned(shape, dtype, alignment: int = 64) -> np.ndarray:
    """``np.empty`` whose data start on an ``alignment``-byte boundary.

    XLA on the CPU can use a 64-byte-aligned host array in place; an unaligned
    one is copied when it goes to the device (for CIFAR-10, a second 600 MB).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def preprocess(
    pixels_by_split: dict, train_rows, *, center: bool = True, scale: float | None = None, bias: bool = True
) -> tuple[dict, np.ndarray]:
    """Rows of raw pixels to float32 design matrices, the lecture's way.

    Args:
      pixels_by_split: ``{name: (pixels (N, D_raw), row indices or None)}``;
        each split's rows are taken from its pixel array (no copy of the raw
        data is made beyond the float32 result).
      train_rows: ``(pixels, rows)`` the mean image is computed from.
      center: subtract the mean training image.
      scale: multiply by this after centering (``None``: leave as is).
      bias: append the constant-1 column (the bias trick).

    Returns:
      ``({name: X (N, D_raw + bias) float32}, mean (D_raw,) float32)``.
    """
    pixels, rows = train_rows
    d = pixels.shape[1]
    if center:
        # float64 accumulation, reduced in place: no float copy of the raw data.
        source = pixels if rows is None else pixels[rows]
        # cast: the mean over axis 0 of 2-D rows is an array (the stub adds the scalar of axis=None)
        mean = cast(np.ndarray, np.mean(source, axis=0, dtype=np.float64)).astype(np.float32)
        del source
    else:
        mean = np.zeros(d, np.float32)
    out = {}
    for name, (pix, idx) in pixels_by_split.items():
        n = pix.shape[0] if idx is None else len(idx)
        X = _empty_aligned((n, d + int(bias)), np.float32)
        # Fill in blocks so that a gather of uint8 rows never becomes a big temporary.
        block = 4096
        for start in range(0, n, block):
            stop = min(start + block, n)
            src = pix[start:stop] if idx is None else pix[np.asarray(idx[start:stop])]
            X[start:stop, :d] = src
        out[name] = _center_scale_bias(X, d, mean, scale, bias)
    return out, mean


def _center_scale_bias(X, d: int, mean, scale, bias: bool):
    """In place: subtract the mean image, scale, and set the bias column to 1."""
    X[:, :d] -= mean
    if scale is not None:
        X[:, :d] *= np.float32(scale)
    if bias:
        X[:, d] = 1.0
    return X


# ---------------------------------------------------------------------------
# Digits: the default data set (scikit-learn ships it; offline)
# ---------------------------------------------------------------------------


def load_digits(
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    center: bool = True,
    scale: float | None = 1.0 / 16.0,
    bias: bool = True,
) -> Splits:
    """scikit-learn's bundled handwritten digits: 1797 real 8x8 images, 10 classes.

    Split train/val/test with a fixed, stratified seed; pixels (0..16) are
    mean-centred on train and scaled by ``scale`` (1/16 by default, so they lie
    in [-1, 1]); with the bias trick D = 65.

    Examples:
      >>> splits = load_digits()
      >>> splits.train.X.shape[1], splits.num_classes
      (65, 10)
    """
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")
    digits = _sk_digits()
    pixels = digits.data.astype(np.float32)  # (1797, 64), values 0..16
    labels = digits.target.astype(np.int32)
    index = np.arange(len(labels))
    rest, test_idx = train_test_split(index, test_size=test_fraction, stratify=labels, random_state=seed)
    train_idx, val_idx = train_test_split(
        rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest], random_state=seed
    )
    train_idx, val_idx, test_idx = np.sort(train_idx), np.sort(val_idx), np.sort(test_idx)
    Xs, mean = preprocess(
        {"train": (pixels, train_idx), "val": (pixels, val_idx), "test": (pixels, test_idx)},
        (pixels, train_idx),
        center=center,
        scale=scale,
        bias=bias,
    )
    return Splits(
        train=Split(Xs["train"], labels[train_idx]),
        val=Split(Xs["val"], labels[val_idx]),
        test=Split(Xs["test"], labels[test_idx]),
        dev=None,
        class_names=tuple(str(c) for c in digits.target_names),
        mean=mean,
        image_shape=(8, 8, 1),
    )


#: What :func:`load_digits` returns with its defaults: 1797 images of 8x8 pixels, 10 classes, D = 65.
DIGITS_EXAMPLES, DIGITS_IMAGE_SHAPE, DIGITS_CLASSES = 1797, (8, 8, 1), 10


def digits_split_sizes(val_fraction: float = 0.15, test_fraction: float = 0.15) -> tuple[int, int, int]:
    """``(train, val, test)`` sizes :func:`load_digits` makes: scikit-learn rounds each test share up.

    Examples:
      >>> digits_split_sizes()
      (1257, 270, 270)
    """
    import math

    test = math.ceil(test_fraction * DIGITS_EXAMPLES)
    val = math.ceil(val_fraction / (1 - test_fraction) * (DIGITS_EXAMPLES - test))
    return DIGITS_EXAMPLES - test - val, val, test


def check_default_digits(splits: Splits) -> None:
    """Raise ``ValueError`` (saying what is wrong) unless ``splits`` look like ``load_digits()``'s defaults.

    What a copy kept on disk is checked against before it is trusted (see
    :func:`jaxopt_course.cache.cached_digits`): the split sizes, D = 65 (64
    pixels and the bias column of ones), 10 class names, labels in [0, 10),
    finite float32 pixels within [-1, 1], the mean image, the image shape.
    """
    sizes = digits_split_sizes()
    d = int(np.prod(DIGITS_IMAGE_SHAPE)) + 1
    if tuple(splits.image_shape) != DIGITS_IMAGE_SHAPE:
        raise ValueError(f"image_shape is {splits.image_shape!r}, not {DIGITS_IMAGE_SHAPE}")
    if len(splits.class_names) != DIGITS_CLASSES:
        raise ValueError(f"it names {len(splits.class_names)} classes, not {DIGITS_CLASSES}")
    if np.shape(splits.mean) != (d - 1,) or not np.all(np.isfinite(splits.mean)):
        raise ValueError(f"its mean image has shape {np.shape(splits.mean)} or is not finite, expected ({d - 1},)")
    for name, split, n in zip(("train", "val", "test"), (splits.train, splits.val, splits.test), sizes, strict=True):
        X, y = split
        if X.dtype != np.float32 or X.shape != (n, d):
            raise ValueError(f"{name}.X is {X.dtype} of shape {X.shape}, expected float32 of shape {(n, d)}")
        if y.dtype != np.int32 or y.shape != (n,):
            raise ValueError(f"{name}.y is {y.dtype} of shape {y.shape}, expected int32 of shape {(n,)}")
        if not np.all(np.isfinite(X)) or np.abs(X[:, :-1]).max() > 1 or not np.all(X[:, -1] == 1):
            raise ValueError(f"{name}.X holds values that are not finite, beyond [-1, 1], or a bias column not 1")
        if y.min() < 0 or y.max() >= DIGITS_CLASSES:
            raise ValueError(f"{name}.y holds labels outside [0, {DIGITS_CLASSES})")


# ---------------------------------------------------------------------------
# CIFAR-10: the official python batches
# ---------------------------------------------------------------------------


# What the official archive holds, and so the most an extraction may write:
# nine entries (the folder, 5 training batches, the test batch, batches.meta,
# readme.html), the largest a batch of 31,035,704 bytes, 186 MB in all.
CIFAR10_MAX_MEMBERS = 16
CIFAR10_MAX_MEMBER_BYTES = 32 * 2**20
CIFAR10_MAX_TOTAL_BYTES = 192 * 2**20
#: The lock file (hidden, kept) that serializes downloads and extractions into one folder.
CIFAR10_LOCK = ".cifar-10.lock"
_PART_GLOB, _EXTRACT_PREFIX = f".{CIFAR10_ARCHIVE}.*.part", ".cifar-10-extract."


def _md5(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_cifar10(
    root,
    *,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    progress: bool = True,
    timeout: float = 60.0,
    lock_timeout: float = 3600.0,
) -> Path:
    """Download and extract the official CIFAR-10 archive into ``root``.

    Atomic: the archive is streamed to a temporary file in ``root``, its MD5
    is checked, it is extracted into a temporary folder, and only then renamed
    to ``root/cifar-10-batches-py``. A failed, interrupted or corrupted
    download leaves nothing behind that could be mistaken for the data.

    Safe when several processes do it at once: the work is done holding a lock
    on ``root`` (the file ``root/.cifar-10.lock``); a second process waits
    for it (at most ``lock_timeout`` seconds), then finds and uses the finished
    copy. Holding the lock, it also removes what killed processes left behind
    (``.cifar-10-python.tar.gz.*.part`` files, ``.cifar-10-extract.*``
    folders): only the lock holder writes those, so any found then are stale.
    The extraction writes only what the official archive holds: at most
    :data:`CIFAR10_MAX_MEMBERS` entries, each of at most
    :data:`CIFAR10_MAX_MEMBER_BYTES`, :data:`CIFAR10_MAX_TOTAL_BYTES` in all,
    checked before anything is written.

    Returns:
      The path of ``cifar-10-batches-py``.

    Raises:
      ConnectionError: the download failed.
      ValueError: the archive is corrupted, unsafe or too large.
      TimeoutError: another process held the lock longer than ``lock_timeout``.
      WriteError: the archive or the folder could not be written (a full
        disk, a read-only folder); nothing half-written is left.
    """
    root = Path(root)
    target = root / CIFAR10_FOLDER
    if target.is_dir():
        _remove_stale_downloads_if_idle(root)
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _folder_lock(root, lock_timeout, progress=progress):
            if target.is_dir():  # another process finished it while this one waited
                return target
            _remove_stale_downloads(root)
            archive = root / CIFAR10_ARCHIVE
            if not (archive.is_file() and _md5(archive) == md5):
                _download_verified(url, archive, md5, progress=progress, timeout=timeout)
            _extract_atomically(archive, root)
    except (ConnectionError, TimeoutError, WriteError):
        raise
    except OSError as err:  # a full disk or a folder that cannot be written, while extracting or renaming
        raise WriteError(target, err) from err
    return target


@contextlib.contextmanager
def _folder_lock(root: Path, timeout: float, *, progress: bool):
    """Hold ``root/.cifar-10.lock``; say so on stderr while waiting for another process."""
    import filelock  # here, not at the top: only a download needs it

    path = root / CIFAR10_LOCK
    lock = filelock.FileLock(path, mode=file_mode())
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if progress:
            print(
                f"waiting for another process that is downloading CIFAR-10 into {root} (it holds {path})",
                file=sys.stderr,
                flush=True,
            )
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise TimeoutError(
                f"another process has been downloading CIFAR-10 into {root} for more than "
                f"{timeout:g} s (it holds {path}); let it finish, or stop it and try again"
            ) from None
    try:
        yield
    finally:
        lock.release()


def _remove_stale_downloads(root: Path) -> None:
    """Remove partial downloads and extractions of killed processes (called holding the folder lock)."""
    for part in root.glob(_PART_GLOB):
        part.unlink(missing_ok=True)
    for folder in root.glob(f"{_EXTRACT_PREFIX}*"):
        shutil.rmtree(folder, ignore_errors=True)


def _remove_stale_downloads_if_idle(root: Path) -> None:
    """With the data in place, still remove what killed downloads left -- if no process is downloading now.

    Only when there is something to remove (so a read-only data folder is
    never written), and only if the folder lock is free at once: a process
    holding it may be writing those files.
    """
    if not (any(root.glob(_PART_GLOB)) or any(root.glob(f"{_EXTRACT_PREFIX}*"))):
        return
    import filelock

    lock = filelock.FileLock(root / CIFAR10_LOCK, mode=file_mode())
    try:
        lock.acquire(timeout=0)
    except (filelock.Timeout, OSError):  # busy, or a folder this user cannot write: leave them
        return
    try:
        _remove_stale_downloads(root)
    finally:
        lock.release()


def _stream(response, out, h, bar, archive: Path) -> int:
    """Copy the response body to ``out`` (hashing it); the number of bytes received."""
    received = 0
    read = getattr(response, "read1", response.read)  # what has arrived, not a full megabyte: the .part grows
    for block in iter(lambda: read(1 << 20), b""):
        try:
            out.write(block)
        except OSError as err:  # the disk, not the network
            raise WriteError(archive, err) from err
        h.update(block)
        received += len(block)
        if bar is not None:
            bar.update(len(block))
    return received


def _download_verified(url, archive: Path, md5: str, *, progress: bool, timeout: float) -> None:
    fd, part = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=archive.parent)
    h = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), file_mode())
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                raise ConnectionError(
                    f"could not download CIFAR-10 from {url}: {reason}. Check the network, or download "
                    f"{CIFAR10_ARCHIVE} by hand and extract it into {archive.parent}"
                ) from err
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = None
                if progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10", leave=False)
                try:
                    received = _stream(response, out, h, bar, archive)
                except WriteError:
                    raise
                except (OSError, urllib.error.URLError) as err:
                    raise ConnectionError(
                        f"the download of {url} broke off ({err}); nothing was kept, try again"
                    ) from err
                finally:
                    if bar is not None:
                        bar.close()
        digest = h.hexdigest()
        if digest != md5:
            raise ValueError(
                f"the archive downloaded from {url} has MD5 {digest}, expected {md5}: it is corrupted or "
                f"incomplete ({received} bytes) and was deleted. Try again, or download {CIFAR10_ARCHIVE} "
                f"by hand and extract it into {archive.parent}"
            )
        os.replace(part, archive)
    finally:
        if os.path.exists(part):
            os.unlink(part)


def _checked_members(tar: tarfile.TarFile, archive: Path) -> list:
    """The archive's entries under ``cifar-10-batches-py/``, each checked before anything is extracted.

    Refused: unsafe names (absolute, ``..``), links, devices, sparse files,
    and more entries or bytes than the official archive holds. Entries
    outside the folder are skipped.
    """
    members, total = [], 0
    for count, member in enumerate(tar, start=1):
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()) or member.issparse():
            raise ValueError(f"{archive} holds an unsafe entry {member.name!r}; refusing to extract")
        if count > CIFAR10_MAX_MEMBERS:
            raise ValueError(
                f"{archive} holds more than {CIFAR10_MAX_MEMBERS} entries; the official CIFAR-10 archive "
                "holds 9 -- refusing to extract"
            )
        if member.size > CIFAR10_MAX_MEMBER_BYTES:
            raise ValueError(
                f"{archive}: the entry {member.name!r} is {member.size} bytes, more than any file of the "
                f"official CIFAR-10 archive ({CIFAR10_MAX_MEMBER_BYTES} at most) -- refusing to extract"
            )
        total += member.size
        if total > CIFAR10_MAX_TOTAL_BYTES:
            raise ValueError(
                f"{archive} would extract more than {CIFAR10_MAX_TOTAL_BYTES} bytes, more than the "
                "official CIFAR-10 archive holds (186 MB) -- refusing to extract"
            )
        if name.parts and name.parts[0] == CIFAR10_FOLDER:
            members.append(member)
    return members


def _extract_atomically(archive: Path, root: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=_EXTRACT_PREFIX, dir=root))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _checked_members(tar, archive)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, members=members, filter="data")
                else:  # Pythons before 3.11.4: the checks above refused links, devices and escaping names
                    tar.extractall(tmp, members=members)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:  # any other OSError: the disk
            raise ValueError(
                f"{archive} is not a readable CIFAR-10 archive ({err}); delete it and download again"
            ) from err
        extracted = tmp / CIFAR10_FOLDER
        missing = [f for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE) if not (extracted / f).is_file()]
        if missing:
            raise ValueError(f"{archive} does not hold the CIFAR-10 layout: {CIFAR10_FOLDER}/ lacks {missing}")
        os.chmod(extracted, dir_mode())  # mkdtemp's 0700 would keep others out of a shared data folder
        os.replace(extracted, root / CIFAR10_FOLDER)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# Reading a batch pickle without trusting it
# ---------------------------------------------------------------------------
#
# A pickle is a small program: it may call any function it names, with any
# arguments. A CIFAR-10 batch needs only NumPy's array and dtype constructors
# and the latin-1 codec, but even those are unsafe to call as asked:
# ``numpy.ndarray((4_000_000, 3072), uint8)`` allocates 12 GB from a 234-byte
# file, and nested ``_codecs.encode(..., "hex")`` calls double a string each
# time. So the unpickler below calls nothing: each allowed name builds an
# inert record of the arguments it was given (:class:`_Call`), and only after
# loading are the two values a batch needs turned into arrays -- once their
# dtype, shape and row count are checked, and only as views of bytes that
# the file really held, of exactly the right length. The one allowed call
# that makes new bytes, ``_codecs.encode`` (latin-1, how protocol 2 pickles
# ``bytes``), copies its input -- and a pickle may pass it one memoized string
# thousands of times -- so the bytes all such calls produce are counted, and
# capped at the file's size (an honest batch encodes each string once).
# Memory is then bounded by a small multiple of the file's size, and the
# file's size by :data:`CIFAR10_MAX_FILE_BYTES`. Only regular files are
# read: a FIFO (which would block forever) or a device is refused.

CIFAR10_BATCH_ROWS = 10000  # images in one official batch file
CIFAR10_MAX_FILE_BYTES = 64 * 2**20  # an official batch file is 31,035,704 bytes (the test batch 31,035,623)

# The dtypes a batch's arrays may have (pixels uint8, labels any integer).
_PLAIN_DTYPES = {
    "u1",
    "i1",
    "u2",
    "i2",
    "u4",
    "i4",
    "u8",
    "i8",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "uint64",
    "int64",
    "b1",
    "f4",
    "f8",
}


class _Call:
    """What an allowed name was called with while unpickling (``what``, ``args``, then ``state`` from BUILD)."""

    def __init__(self, what: str, args: tuple):
        self.what, self.args, self.state = what, args, None

    def __setstate__(self, state):
        self.state = state


class _NDArrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: passed to ``_reconstruct``, never called."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError(
            "it calls numpy.ndarray(shape, dtype) directly, which allocates memory the file "
            "does not hold; a CIFAR-10 batch builds its arrays from their bytes"
        )


def _recorder(what):
    return lambda *args: _Call(what, args)


def _latin1(text, encoding="latin1"):
    """``_codecs.encode`` as Python 3 pickles ``bytes`` (protocol 2): latin-1 of a string, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"it calls _codecs.encode with {type(text).__name__}, {encoding!r}; a CIFAR-10 "
            "batch only encodes strings as latin1"
        )
    return text.encode("latin1")


def _empty_bytes(*args):
    """``bytes()`` as protocol 2 pickles ``b""``; ``bytes(n)`` would allocate n bytes, so it is refused."""
    if args:
        raise pickle.UnpicklingError("it calls bytes() with arguments; a CIFAR-10 batch never does")
    return b""


_ALLOWED_NAMES = {
    ("_codecs", "encode"): _latin1,
    ("builtins", "bytes"): _empty_bytes,
    ("__builtin__", "bytes"): _empty_bytes,
    ("numpy", "ndarray"): _NDArrayClass,
    ("numpy", "dtype"): _recorder("dtype"),
    **{
        (module, "_reconstruct"): _recorder("reconstruct")
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    },
    **{(module, "scalar"): _recorder("scalar") for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): _recorder("frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")},
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that runs nothing: dicts, lists, numbers, strings and inert :class:`_Call` records.

    Anything outside :data:`_ALLOWED_NAMES` (say ``os.system``) is refused
    instead of run (the Python docs' "restricting globals"). The bytes that
    ``_codecs.encode`` calls produce are counted against ``budget``.
    """

    def __init__(self, file, *, budget: int, **kwargs):
        super().__init__(file, **kwargs)
        self.budget, self.produced = budget, 0

    def _encode(self, text, encoding="latin1"):
        if isinstance(text, str):
            self.produced += len(text)  # latin-1: one byte per character (checked before the copy is made)
            if self.produced > self.budget:
                raise pickle.UnpicklingError(
                    f"its _codecs.encode calls would make more than {self.budget} bytes, "
                    "more than the file holds (it re-encodes one string many times)"
                )
        return _latin1(text, encoding)

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return self._encode
        if (module, name) in _ALLOWED_NAMES:
            return _ALLOWED_NAMES[(module, name)]
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never holds")


class _NotRegularFile(Exception):
    """A batch path that is a FIFO, a device or a socket: reading it could block or never end."""


def _open_regular(path: Path):
    """``open(path, "rb")`` for a regular file only; its size. Opened non-blocking first, so a FIFO cannot hang."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "not a regular file (a device or socket)"
            raise _NotRegularFile(kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


def _load_batch_pickle(path: Path):
    """The unpickled record of a batch file, read in memory bounded by the file's (capped) size."""
    f, size = _open_regular(path)
    with f:
        if size > CIFAR10_MAX_FILE_BYTES:
            raise pickle.UnpicklingError(
                f"it is {size} bytes, more than any CIFAR-10 batch file "
                f"({CIFAR10_MAX_FILE_BYTES} at most; the official ones are 31 MB)"
            )
        return _BatchUnpickler(f, budget=size, encoding="bytes").load()


def _dtype(record) -> np.dtype:
    """A real dtype from a recorded ``numpy.dtype(code, ...)`` call: plain numbers only (no objects, no fields)."""
    code = record.args[0] if isinstance(record, _Call) and record.what == "dtype" and record.args else None
    state = record.state if isinstance(record, _Call) else None
    if not isinstance(code, str) or code not in _PLAIN_DTYPES:
        raise ValueError(f"got dtype {code!r}, not a plain number type")
    if state is not None and not (
        isinstance(state, tuple)
        and len(state) >= 5
        and state[1] in ("<", ">", "|", "=")
        and state[2] is None
        and state[3] is None
        and state[4] is None
    ):
        raise ValueError("got a dtype with fields or sub-arrays")
    order: Literal["<", ">", "="] = state[1] if state is not None and state[1] != "|" else "="  # checked above
    return np.dtype(code).newbyteorder(order)


def _array_parts(record):
    """``(buffer, dtype record, shape, fortran)`` of a recorded array, in either of NumPy's pickle forms."""
    if record.what == "frombuffer" and len(record.args) == 4:
        buffer, dtype, shape, order = record.args
        return buffer, dtype, shape, order == "F"
    if record.what == "reconstruct" and len(record.args) == 3 and record.args[0] is _NDArrayClass:
        state = record.state
        if isinstance(state, tuple) and len(state) in (4, 5):
            shape, dtype, fortran, buffer = state[-4:]
            return buffer, dtype, shape, bool(fortran)
    raise ValueError(f"got a {record.what} record, not a NumPy array")


def _as_array(record, *, ndim: int) -> np.ndarray:
    """A read-only array viewing the bytes a recorded array holds, after checking dtype, shape and length.

    Raises ValueError (without allocating) for anything else.
    """
    if not isinstance(record, _Call):
        raise ValueError(f"got {type(record).__name__}")
    buffer, dtype, shape, fortran = _array_parts(record)
    dtype = _dtype(dtype)
    if not (isinstance(shape, tuple) and len(shape) == ndim and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"got {dtype} array of shape {shape!r}")
    if shape[0] > CIFAR10_BATCH_ROWS:
        raise ValueError(f"got {dtype} array of shape {shape}: more than the {CIFAR10_BATCH_ROWS} rows of a batch")
    if ndim == 2 and shape[1] != CIFAR10_PIXELS:
        raise ValueError(f"got {dtype} array of shape {shape}")
    expected = int(np.prod(shape)) * dtype.itemsize
    if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != expected:
        got = f"{len(buffer)} bytes" if isinstance(buffer, (bytes, bytearray)) else f"a {type(buffer).__name__}"
        raise ValueError(f"got {dtype} array of shape {shape} whose data are {got} in the file, not {expected} bytes")
    return np.frombuffer(buffer, dtype).reshape(shape, order="F" if fortran else "C")


def _pixels(value, path: Path) -> np.ndarray:
    """A batch's ``data``: ``(n, 3072)`` uint8, ``n <= 10000``, from bytes the file holds."""
    try:
        data = _as_array(value, ndim=2)
        if data.dtype != np.uint8:
            raise ValueError(f"got {data.dtype} array of shape {data.shape}")
    except ValueError as err:
        raise ValueError(
            f"{path}: 'data' must be a uint8 array of shape (n, {CIFAR10_PIXELS}) with n <= {CIFAR10_BATCH_ROWS}, {err}"
        ) from None
    return data


def _label(value) -> int:
    if type(value) is int:
        return value
    if isinstance(value, _Call) and value.what == "scalar" and len(value.args) == 2:
        dtype, raw = _dtype(value.args[0]), value.args[1]
        if dtype.kind in "iu" and isinstance(raw, bytes) and len(raw) == dtype.itemsize:
            return int(np.frombuffer(raw, dtype)[0])
    kind = f"{value.what} record" if isinstance(value, _Call) else type(value).__name__
    raise ValueError(f"got a {kind} among them")


def _labels(value, path: Path, num_rows: int) -> np.ndarray:
    """A batch's ``labels``: a flat list (or 1-D integer array) of one label in [0, 10) per image."""
    try:
        if isinstance(value, (list, tuple)):
            if len(value) > CIFAR10_BATCH_ROWS:
                raise ValueError(f"got {len(value)}, more than the {CIFAR10_BATCH_ROWS} of a batch")
            labels = np.array([_label(v) for v in value], dtype=np.int64)
        else:
            labels = _as_array(value, ndim=1)
            if labels.dtype.kind not in "iu":
                raise ValueError(f"got {labels.dtype} array of shape {labels.shape}")
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{path}: 'labels' must be a list of integers ({err})") from None
    if len(labels) != num_rows:
        raise ValueError(f"{path}: {num_rows} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise ValueError(f"{path}: labels must lie in [0, 10), got [{labels.min()}, {labels.max()}]")
    return labels.astype(np.int32)


def _get(record: dict, key: str):
    for k in (key.encode(), key):
        if k in record:
            return record[k]
    raise KeyError(key)


def _read_record(path: Path) -> dict:
    """The dict a batch (or meta) file holds; clear errors for a missing, unreadable or hostile file."""
    try:
        record = _load_batch_pickle(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"CIFAR-10 batch file {path} is missing") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a CIFAR-10 batch file") from None
    except _NotRegularFile as err:
        raise ValueError(f"{path} is {err}, not a CIFAR-10 batch file; refusing to read it") from None
    except Exception as err:  # a truncated or garbled pickle fails in many ways
        raise ValueError(
            f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err}); the file is truncated or "
            "corrupted -- delete the folder and download CIFAR-10 again"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold a dict with 'data' and 'labels', got {type(record).__name__}")
    return record


def read_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one official CIFAR-10 batch file: ``(pixels (n, 3072) uint8, labels (n,) int32)``.

    The files are Python pickles (as published by the data set's authors).
    They are read without running anything they name (see the comment above
    :class:`_Call`), and their sizes are checked before any array is made:
    ``n == len(labels) <= 10000``. The pixels are a read-only view of the
    bytes read from the file.

    Raises:
      FileNotFoundError: the file is missing.
      ValueError: the file is truncated, corrupted or not a CIFAR-10 batch
        (wrong keys, sizes, dtypes or labels); the message names the file.
    """
    path = Path(path)
    record = _read_record(path)
    try:
        data, labels = _get(record, "data"), _get(record, "labels")
    except KeyError as err:
        raise ValueError(f"{path} lacks the key {err.args[0]!r} of a CIFAR-10 batch (has {list(record)[:6]})") from None
    pixels = _pixels(data, path)
    return pixels, _labels(labels, path, len(pixels))


def _read_class_names(folder: Path) -> tuple:
    meta = folder / "batches.meta"
    if not meta.is_file():
        return CIFAR10_CLASSES
    try:
        names = _get(_read_record(meta), "label_names")
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
            raise ValueError("label_names must be a list of strings")
        names = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
    except Exception as err:
        raise ValueError(f"{meta} is not a readable CIFAR-10 meta file ({err})") from None
    if len(names) != len(CIFAR10_CLASSES):
        raise ValueError(f"{meta}: expected 10 label names, got {len(names)}")
    return names


def _fill_train_val(folder: Path, X_train: np.ndarray, X_val: np.ndarray) -> np.ndarray:
    """Pixels of the training batch files into ``X_train`` then ``X_val`` (their first 3072 columns); the labels.

    Each batch file's uint8 pixels go straight into the float32 matrices (a
    casting copy, batch by batch), so the 150 MB of raw training pixels are
    never held at once beside the 600 MB float32 training matrix.
    """
    d, num_training = CIFAR10_PIXELS, len(X_train)
    need = num_training + len(X_val)
    labels_all = np.empty(need, dtype=np.int32)
    filled = 0
    for name in CIFAR10_TRAIN_FILES:
        if filled >= need:
            break
        data, labels = read_cifar10_batch(folder / name)
        take = min(len(data), need - filled)
        labels_all[filled : filled + take] = labels[:take]
        first, stop = filled, filled + take  # rows of the 50000 this batch covers
        split = min(max(num_training, first), stop)  # rows before it are train, from it val
        X_train[first:split, :d] = data[: split - first]
        X_val[split - num_training : stop - num_training, :d] = data[split - first : take]
        filled = stop
        del data
    if filled < need:
        raise ValueError(f"{folder} holds only {filled} training images, {need} were asked for")
    return labels_all


def load_cifar10(
    root,
    *,
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    num_dev: int = 500,
    download: bool = False,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    center: bool = True,
    scale: float | None = None,
    bias: bool = True,
    seed: int = 0,
) -> Splits:
    """CIFAR-10 from the official ``cifar-10-batches-py`` layout, split the CS231n way.

    Train is the first ``num_training`` of the 50000 training images, val the
    next ``num_validation``, test the first ``num_test`` of the test batch and
    dev ``num_dev`` random training images (fixed ``seed``). The mean training
    image is subtracted from all of them and the bias column appended: D = 3073.

    Args:
      root: the folder that holds (or, with ``download=True``, will hold)
        ``cifar-10-batches-py/``.
      download: fetch the official archive (MD5-checked, extracted atomically)
        when the folder is missing.

    Raises:
      FileNotFoundError: the folder is missing and ``download`` is False.
      ValueError: a batch file is truncated, corrupted or malformed.
    """
    _check_count(num_training, "num_training", low=1, high=50000)
    _check_count(num_validation, "num_validation", low=0, high=50000 - num_training)
    _check_count(num_test, "num_test", low=0, high=10000)
    _check_count(num_dev, "num_dev", low=0, high=num_training)
    if root is None:
        raise ValueError("root must be the folder that holds cifar-10-batches-py/, got None")
    root = Path(root).expanduser()
    if root.name == CIFAR10_FOLDER and not (root / CIFAR10_FOLDER).exists():
        folder = root  # the user named the batches folder itself; accept it
    else:
        folder = root / CIFAR10_FOLDER
    if not folder.is_dir():
        if download:
            folder = download_cifar10(root, url=url, md5=md5)
        else:
            raise FileNotFoundError(
                f"no CIFAR-10 at {folder}. Download {CIFAR10_URL} and extract it into {root} "
                "(or pass download=True / --download)"
            )
    class_names = _read_class_names(folder)

    d, width = CIFAR10_PIXELS, CIFAR10_PIXELS + int(bias)
    X_train = _empty_aligned((num_training, width), np.float32)
    X_val = _empty_aligned((num_validation, width), np.float32)
    labels_all = _fill_train_val(folder, X_train, X_val)
    test_pixels, test_labels = read_cifar10_batch(folder / CIFAR10_TEST_FILE)
    if len(test_pixels) < num_test:
        raise ValueError(f"{folder}/{CIFAR10_TEST_FILE} holds {len(test_pixels)} images, {num_test} were asked for")
    X_test = _empty_aligned((num_test, width), np.float32)
    X_test[:, :d] = test_pixels[:num_test]
    del test_pixels

    # float64 accumulation, reduced in place: no float64 copy of the matrix.
    mean = X_train[:, :d].mean(axis=0, dtype=np.float64).astype(np.float32) if center else np.zeros(d, np.float32)
    for X in (X_train, X_val, X_test):
        _center_scale_bias(X, d, mean, scale, bias)
    dev_rows = np.sort(np.random.default_rng(seed).choice(num_training, num_dev, replace=False))
    return Splits(
        train=Split(X_train, labels_all[:num_training]),
        val=Split(X_val, labels_all[num_training:]),
        test=Split(X_test, test_labels[:num_test].copy()),
        dev=Split(X_train[dev_rows], labels_all[dev_rows]) if num_dev else None,
        class_names=class_names,
        mean=mean,
        image_shape=(32, 32, 3),
    )


# ---------------------------------------------------------------------------
# Synthetic problems for tests and toys
# ---------------------------------------------------------------------------


def synthetic_problem(
    seed: int = 0,
    num_examples: int = 200,
    dim: int = 5,
    num_classes: int = 3,
    *,
    spread: float = 0.5,
    bias: bool = True,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class: ``(X (N, dim + bias), y (N,) int32)``.

    The class centres lie at distance about 3 from each other; with a small
    ``spread`` the classes are linearly separable.
    """
    _check_count(num_examples, "num_examples", low=1)
    _check_count(dim, "dim", low=1)
    _check_count(num_classes, "num_classes", low=2)
    from . import limits

    limits.check_int32(num_examples, "num_examples")
    # float64 draws, their noise, the stacked bias column and the cast: about four (N, D + 1) arrays at once.
    limits.check_memory(
        4 * limits.nbytes((num_examples, dim + 1), 8) + limits.nbytes((num_classes, dim), 8),
        f"a synthetic problem of {num_examples} x {dim}",
        hint="use fewer examples or dimensions",
    )
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((num_classes, dim))
    y = np.arange(num_examples) % num_classes
    rng.shuffle(y)
    X = centres[y] + spread * rng.standard_normal((num_examples, dim))
    if bias:
        X = np.hstack([X, np.ones((num_examples, 1))])
    return X.astype(dtype), y.astype(np.int32)


DATASETS = ("digits", "cifar10")


def load_data(name: str, data_dir=None, *, download: bool = False, **kwargs) -> Splits:
    """Load a data set by name: ``"digits"`` (default, offline) or ``"cifar10"``.

    The one loader the command line and the experiments call.

    Args:
      name: one of :data:`DATASETS`.
      data_dir: for CIFAR-10, the folder that holds (or will hold)
        ``cifar-10-batches-py/``; ``None``: ``$JAXOPT_COURSE_CIFAR10``.
      download: for CIFAR-10, fetch the official archive if it is missing
        (see :func:`download_cifar10`); digits ship with scikit-learn.
      **kwargs: passed to :func:`load_digits` or :func:`load_cifar10`.

    Examples:
      >>> load_data("digits").train.X.shape[1]
      65
    """
    if name == "digits":
        return load_digits(**kwargs)
    if name == "cifar10":
        data_dir = data_dir if data_dir is not None else os.environ.get("JAXOPT_COURSE_CIFAR10") or None
        if data_dir is None:
            raise ValueError(
                "data_dir must name the folder that holds cifar-10-batches-py/ (on the command line: "
                "--data cifar10 needs --data-dir DIR, or set $JAXOPT_COURSE_CIFAR10)"
            )
        return load_cifar10(data_dir, download=download, **kwargs)
    raise ValueError(f"data must be one of {list(DATASETS)}, got {name!r}")
