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

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

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
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def preprocess(pixels_by_split: dict, train_rows, *, center: bool = True, scale: float | None = None,
               bias: bool = True) -> tuple[dict, np.ndarray]:
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
        mean = np.mean(source, axis=0, dtype=np.float64).astype(np.float32)
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


def load_digits(*, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0,
                center: bool = True, scale: float | None = 1.0 / 16.0, bias: bool = True) -> Splits:
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
        (pixels, train_idx), center=center, scale=scale, bias=bias,
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


# ---------------------------------------------------------------------------
# CIFAR-10: the official python batches
# ---------------------------------------------------------------------------


def _md5(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_cifar10(root, *, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5, progress: bool = True,
                     timeout: float = 60.0) -> Path:
    """Download and extract the official CIFAR-10 archive into ``root``.

    Atomic: the archive is streamed to a temporary file in ``root``, its MD5
    is checked, it is extracted into a temporary folder, and only then renamed
    to ``root/cifar-10-batches-py``. A failed, interrupted or corrupted
    download leaves nothing behind that could be mistaken for the data.

    Returns:
      The path of ``cifar-10-batches-py``.
    """
    root = Path(root)
    target = root / CIFAR10_FOLDER
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    archive = root / CIFAR10_ARCHIVE
    if not (archive.is_file() and _md5(archive) == md5):
        _download_verified(url, archive, md5, progress=progress, timeout=timeout)
    _extract_atomically(archive, root)
    return target


def _download_verified(url, archive: Path, md5: str, *, progress: bool, timeout: float) -> None:
    fd, part = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=archive.parent)
    h = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out:
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
                received = 0
                try:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        h.update(block)
                        received += len(block)
                        if bar is not None:
                            bar.update(len(block))
                except (OSError, urllib.error.URLError) as err:
                    raise ConnectionError(
                        f"the download of {url} broke off after {received} bytes ({err}); nothing was kept, "
                        "try again"
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


def _extract_atomically(archive: Path, root: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=".cifar-10-extract.", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():
                    name = Path(member.name)
                    if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
                        raise ValueError(f"{archive} holds an unsafe entry {member.name!r}; refusing to extract")
                tar.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise ValueError(f"{archive} is not a readable CIFAR-10 archive ({err}); delete it and download again") from err
        extracted = tmp / CIFAR10_FOLDER
        missing = [f for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE) if not (extracted / f).is_file()]
        if missing:
            raise ValueError(f"{archive} does not hold the CIFAR-10 layout: {CIFAR10_FOLDER}/ lacks {missing}")
        os.replace(extracted, root / CIFAR10_FOLDER)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _get(record: dict, key: str):
    for k in (key.encode(), key):
        if k in record:
            return record[k]
    raise KeyError(key)


# What a CIFAR-10 pickle may refer to: NumPy arrays (any NumPy's spelling) and
# the latin-1 codec that Python 3 uses for bytes in a protocol-2 pickle.
_CIFAR10_PICKLE_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR-10 batch holds (dicts, lists, NumPy arrays).

    A pickle can name any Python function to call while loading; a batch file
    never needs more than NumPy's array constructors, so anything else (say
    ``os.system``) is refused instead of run (the Python docs' "restricting
    globals").
    """

    def find_class(self, module, name):
        if (module, name) in _CIFAR10_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch never holds")


def _load_batch_pickle(f):
    return _BatchUnpickler(f, encoding="bytes").load()


def read_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one official CIFAR-10 batch file: ``(pixels (n, 3072) uint8, labels (n,) int32)``.

    The files are Python pickles (as published by the data set's authors).
    They are read with an unpickler that builds only dicts, lists, numbers,
    strings and NumPy arrays, so a file that would run other code is refused.

    Raises:
      FileNotFoundError: the file is missing.
      ValueError: the file is truncated, corrupted or not a CIFAR-10 batch
        (wrong keys, sizes, dtypes or labels); the message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            record = _load_batch_pickle(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"CIFAR-10 batch file {path} is missing") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a CIFAR-10 batch file") from None
    except Exception as err:  # a truncated or garbled pickle fails in many ways
        raise ValueError(
            f"{path} is not a readable CIFAR-10 batch ({type(err).__name__}: {err}); the file is truncated or "
            "corrupted -- delete the folder and download CIFAR-10 again"
        ) from None
    if not isinstance(record, dict):
        raise ValueError(f"{path} must hold a dict with 'data' and 'labels', got {type(record).__name__}")
    try:
        data, labels = _get(record, "data"), _get(record, "labels")
    except KeyError as err:
        raise ValueError(f"{path} lacks the key {err.args[0]!r} of a CIFAR-10 batch (has {list(record)[:6]})") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR10_PIXELS:
        desc = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: 'data' must be a uint8 array of shape (n, {CIFAR10_PIXELS}), got {desc}")
    try:
        labels = np.asarray(labels)
    except Exception:  # ragged or odd objects
        raise ValueError(f"{path}: 'labels' must be a list of integers") from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' must be a list of integers, got {labels.dtype} of shape {labels.shape}")
    if len(labels) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise ValueError(f"{path}: labels must lie in [0, 10), got [{labels.min()}, {labels.max()}]")
    return data, labels.astype(np.int32)


def _read_class_names(folder: Path) -> tuple:
    meta = folder / "batches.meta"
    if not meta.is_file():
        return CIFAR10_CLASSES
    try:
        with open(meta, "rb") as f:
            names = _get(_load_batch_pickle(f), "label_names")
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except Exception as err:
        raise ValueError(f"{meta} is not a readable CIFAR-10 meta file ({err})") from None
    if len(names) != len(CIFAR10_CLASSES):
        raise ValueError(f"{meta}: expected 10 label names, got {len(names)}")
    return names


def load_cifar10(root, *, num_training: int = 49000, num_validation: int = 1000, num_test: int = 1000,
                 num_dev: int = 500, download: bool = False, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5,
                 center: bool = True, scale: float | None = None, bias: bool = True, seed: int = 0) -> Splits:
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

    # Each batch file's uint8 pixels go straight into the float32 matrices
    # (a casting copy, batch by batch), so the 150 MB of raw training pixels
    # are never held at once beside the 600 MB float32 training matrix.
    d, width = CIFAR10_PIXELS, CIFAR10_PIXELS + int(bias)
    need = num_training + num_validation
    X_train = _empty_aligned((num_training, width), np.float32)
    X_val = _empty_aligned((num_validation, width), np.float32)
    labels_all = np.empty(need, dtype=np.int32)
    filled = 0
    for name in CIFAR10_TRAIN_FILES:
        if filled >= need:
            break
        data, labels = read_cifar10_batch(folder / name)
        take = min(len(data), need - filled)
        labels_all[filled:filled + take] = labels[:take]
        first, stop = filled, filled + take  # rows of the 50000 this batch covers
        split = min(max(num_training, first), stop)  # rows before it are train, from it val
        X_train[first:split, :d] = data[:split - first]
        X_val[split - num_training:stop - num_training, :d] = data[split - first:take]
        filled = stop
        del data
    if filled < need:
        raise ValueError(f"{folder} holds only {filled} training images, {need} were asked for")
    test_pixels, test_labels = read_cifar10_batch(folder / CIFAR10_TEST_FILE)
    if len(test_pixels) < num_test:
        raise ValueError(f"{folder}/{CIFAR10_TEST_FILE} holds {len(test_pixels)} images, {num_test} were asked for")
    X_test = _empty_aligned((num_test, width), np.float32)
    X_test[:, :d] = test_pixels[:num_test]
    del test_pixels

    # float64 accumulation, reduced in place: no float64 copy of the matrix.
    mean = (np.mean(X_train[:, :d], axis=0, dtype=np.float64).astype(np.float32) if center
            else np.zeros(d, np.float32))
    for X in (X_train, X_val, X_test):
        _center_scale_bias(X, d, mean, scale, bias)
    dev_rows = np.sort(np.random.default_rng(seed).choice(num_training, num_dev, replace=False))
    return Splits(
        train=Split(X_train, labels_all[:num_training]),
        val=Split(X_val, labels_all[num_training:need]),
        test=Split(X_test, test_labels[:num_test].copy()),
        dev=Split(X_train[dev_rows], labels_all[dev_rows]) if num_dev else None,
        class_names=class_names,
        mean=mean,
        image_shape=(32, 32, 3),
    )


# ---------------------------------------------------------------------------
# Synthetic problems for tests and toys
# ---------------------------------------------------------------------------


def synthetic_problem(seed: int = 0, num_examples: int = 200, dim: int = 5, num_classes: int = 3, *,
                      spread: float = 0.5, bias: bool = True, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs, one per class: ``(X (N, dim + bias), y (N,) int32)``.

    The class centres lie at distance about 3 from each other; with a small
    ``spread`` the classes are linearly separable.
    """
    _check_count(num_examples, "num_examples", low=1)
    _check_count(dim, "dim", low=1)
    _check_count(num_classes, "num_classes", low=2)
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.standard_normal((num_classes, dim))
    y = np.arange(num_examples) % num_classes
    rng.shuffle(y)
    X = centres[y] + spread * rng.standard_normal((num_examples, dim))
    if bias:
        X = np.hstack([X, np.ones((num_examples, 1))])
    return X.astype(dtype), y.astype(np.int32)


DATASETS = ("digits", "cifar10")


def load_data(name: str, data_dir=None, **kwargs) -> Splits:
    """Load a data set by name: ``"digits"`` (default, offline) or ``"cifar10"``."""
    if name == "digits":
        return load_digits(**kwargs)
    if name == "cifar10":
        if data_dir is None:
            raise ValueError("data_dir must name the folder that holds cifar-10-batches-py/ for --data cifar10")
        return load_cifar10(data_dir, **kwargs)
    raise ValueError(f"data must be one of {list(DATASETS)}, got {name!r}")
