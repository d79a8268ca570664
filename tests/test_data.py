"""Data loading: digits, the official CIFAR-10 layout, and the atomic, checksummed download."""

import contextlib
import hashlib
import http.server
import io
import pickle
import tarfile
import threading
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from jaxopt_course import load_cifar10, load_digits, synthetic_problem
from jaxopt_course.data import CIFAR10_LOCK, download_cifar10, load_data, read_cifar10_batch

# ---------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------


def test_digits_splits_shapes_and_preprocessing(digits):
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    n = len(raw.target)
    sizes = [len(s.y) for s in (digits.train, digits.val, digits.test)]
    assert sum(sizes) == n and digits.dev is None
    for split in (digits.train, digits.val, digits.test):
        assert split.X.dtype == np.float32 and split.y.dtype == np.int32
        assert split.X.shape == (len(split.y), 65)
        np.testing.assert_array_equal(split.X[:, -1], 1.0)  # bias trick
    assert digits.class_names == tuple(str(i) for i in range(10))
    # The mean image is that of the training split only.
    assert np.abs(digits.train.X[:, :64].mean(axis=0)).max() < 1e-5
    assert np.abs(digits.val.X[:, :64].mean(axis=0)).max() > 1e-3


def test_digits_rows_are_the_sklearn_images_centred_and_scaled(digits):
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    # Find each training row in the raw data (undo centring and scaling).
    restored = digits.train.X[:, :64] * 16.0 + digits.mean
    raw_rows = {tuple(r): t for r, t in zip(raw.data.astype(np.float32), raw.target, strict=True)}
    hits = [raw_rows.get(tuple(np.round(r, 3)), None) for r in restored]
    assert all(h is not None for h in hits)
    np.testing.assert_array_equal(hits, digits.train.y)


def test_digits_split_is_stratified_disjoint_and_fixed():
    a, b = load_digits(seed=0), load_digits(seed=0)
    np.testing.assert_array_equal(a.test.X, b.test.X)
    c = load_digits(seed=1)
    assert not np.array_equal(a.test.y, c.test.y)
    counts = np.bincount(a.test.y, minlength=10)
    assert counts.min() >= 25 and counts.max() <= 29  # about 27 per class of 270
    rows = lambda s: {r.tobytes() for r in s.X}  # noqa: E731
    assert not rows(a.train) & rows(a.test)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"val_fraction": 0.0}, "val_fraction must be a fraction"),
        ({"test_fraction": 1.5}, "test_fraction must be a fraction"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "must be < 1"),
    ],
)
def test_digits_bad_fractions(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_digits(**kwargs)


def test_load_data_by_name():
    assert load_data("digits").train.X.shape[1] == 65
    with pytest.raises(ValueError, match="data must be one of"):
        load_data("mnist")
    with pytest.raises(ValueError, match="data_dir must name the folder"):
        load_data("cifar10")


def test_synthetic_problem():
    X, y = synthetic_problem(0, 30, 4, 3)
    assert X.shape == (30, 5) and y.shape == (30,) and set(np.unique(y)) == {0, 1, 2}
    np.testing.assert_array_equal(X[:, -1], 1.0)


# ---------------------------------------------------------------------------
# CIFAR-10: small, real files in the official layout
# ---------------------------------------------------------------------------

PER_BATCH = 40  # images per small batch file
CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_small_cifar(root: Path, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Write a small cifar-10-batches-py (5 x 40 train, 40 test) with the official pickle format."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train = rng.integers(0, 256, (5 * PER_BATCH, 3072), dtype=np.uint8)
    train_y = rng.integers(0, 10, 5 * PER_BATCH)
    test = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
    test_y = rng.integers(0, 10, PER_BATCH)
    for b in range(5):
        s = slice(b * PER_BATCH, (b + 1) * PER_BATCH)
        rec = {
            b"batch_label": b"training batch",
            b"labels": [int(v) for v in train_y[s]],
            b"data": train[s],
            b"filenames": [b"x.png"] * PER_BATCH,
        }
        (folder / f"data_batch_{b + 1}").write_bytes(pickle.dumps(rec, protocol=2))
    rec = {b"batch_label": b"testing batch", b"labels": [int(v) for v in test_y], b"data": test}
    (folder / "test_batch").write_bytes(pickle.dumps(rec, protocol=2))
    meta = {b"label_names": CLASSES, b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return train, train_y, test, test_y


def test_cifar_cs231n_split_and_preprocessing(tmp_path):
    train, train_y, test, test_y = write_small_cifar(tmp_path)
    s = load_cifar10(tmp_path, num_training=150, num_validation=30, num_test=20, num_dev=10, seed=3)
    # An independent NumPy version of the CS231n notebook's preprocessing.
    Xtr = train[:150].astype(np.float64)
    mean = Xtr.mean(axis=0)
    expect = lambda pix: np.hstack([pix.astype(np.float64) - mean, np.ones((len(pix), 1))])  # noqa: E731
    np.testing.assert_allclose(s.train.X, expect(train[:150]), atol=1e-4)
    np.testing.assert_allclose(s.val.X, expect(train[150:180]), atol=1e-4)
    np.testing.assert_allclose(s.test.X, expect(test[:20]), atol=1e-4)
    np.testing.assert_array_equal(s.train.y, train_y[:150])
    np.testing.assert_array_equal(s.val.y, train_y[150:180])
    np.testing.assert_array_equal(s.test.y, test_y[:20])
    assert s.dev.X.shape == (10, 3073)
    # dev rows are training rows, with their labels
    train_rows = {r.tobytes(): lab for r, lab in zip(s.train.X, s.train.y, strict=True)}
    assert all(train_rows[r.tobytes()] == lab for r, lab in zip(s.dev.X, s.dev.y, strict=True))
    np.testing.assert_allclose(s.mean, mean, rtol=1e-6)
    assert s.class_names[1] == "automobile" and s.image_shape == (32, 32, 3)
    assert s.train.X.dtype == np.float32 and s.train.y.dtype == np.int32


def test_cifar_accepts_the_batches_folder_itself(tmp_path):
    write_small_cifar(tmp_path)
    s = load_cifar10(tmp_path / "cifar-10-batches-py", num_training=100, num_validation=10, num_test=5, num_dev=0)
    assert s.train.X.shape == (100, 3073) and s.dev is None


def test_cifar_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 at .*download=True"):
        load_cifar10(tmp_path / "nowhere")


def test_cifar_asking_for_more_images_than_exist(tmp_path):
    write_small_cifar(tmp_path)
    with pytest.raises(ValueError, match="holds only 200 training images, 300 were asked for"):
        load_cifar10(tmp_path, num_training=250, num_validation=50, num_test=10, num_dev=0)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"num_training": 0}, ValueError),
        ({"num_training": 60000}, ValueError),
        ({"num_dev": -1}, ValueError),
        ({"num_test": 1.5}, TypeError),
    ],
)
def test_cifar_bad_sizes(tmp_path, kwargs, error):
    with pytest.raises(error, match="num_"):
        load_cifar10(tmp_path, **kwargs)


@pytest.mark.parametrize(
    "corrupt, pattern",
    [
        (lambda b: b[: len(b) // 2], "truncated or corrupted"),
        (lambda b: b"garbage" * 10, "truncated or corrupted"),
        (lambda b: pickle.dumps({b"labels": [1, 2]}), "lacks the key 'data'"),
        (lambda b: pickle.dumps([1, 2, 3]), "must hold a dict"),
        (
            lambda b: pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
            "must be a uint8 array",
        ),
        (
            lambda b: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}),
            "2 images but 3 labels",
        ),
        (
            lambda b: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
            r"labels must lie in \[0, 10\)",
        ),
    ],
)
def test_cifar_corrupted_batch_gets_a_clear_error(tmp_path, corrupt, pattern):
    write_small_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=pattern):
        load_cifar10(tmp_path, num_training=150, num_validation=10, num_test=5, num_dev=0)
    with pytest.raises(ValueError, match=pattern):
        read_cifar10_batch(path)


@pytest.mark.cifar
@pytest.mark.slow
def test_real_cifar10_copy(cifar10_root):
    s = load_cifar10(cifar10_root)
    assert s.train.X.shape == (49000, 3073) and s.val.X.shape == (1000, 3073)
    assert s.test.X.shape == (1000, 3073) and s.dev.X.shape == (500, 3073)
    assert np.bincount(s.train.y, minlength=10).min() > 4500  # about 4900 per class
    assert np.abs(s.train.X[:, :-1].mean(axis=0)).max() < 1e-2
    assert 0 < s.mean.min() and s.mean.max() < 255


# ---------------------------------------------------------------------------
# Download: a real HTTP server on 127.0.0.1 serving a small archive
# ---------------------------------------------------------------------------


def archive_of(root: Path) -> bytes:
    """``root/cifar-10-batches-py`` as a gzipped tar, the layout of the official archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return buf.getvalue()


@pytest.fixture(scope="session")
def archive_bytes(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    write_small_cifar(src)
    return archive_of(src)


class Server(NamedTuple):
    """A real HTTP server on 127.0.0.1 serving ``folder``.

    ``GET /hold/NAME`` sends the first half of ``folder/NAME``, then waits
    for ``release`` (a ``threading.Event``) before the rest: a download
    caught in the middle. ``requests`` lists every path asked for.
    """

    base: str
    folder: Path
    requests: list
    release: threading.Event


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        state.requests.append(self.path)
        if not self.path.startswith("/hold/"):
            return super().do_GET()
        data = (state.folder / self.path.removeprefix("/hold/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        half = len(data) // 2
        self.wfile.write(data[:half])
        self.wfile.flush()
        state.release.wait(120)
        try:
            self.wfile.write(data[half:])
        except OSError:  # the client was killed meanwhile
            pass


@contextlib.contextmanager
def serve_folder(folder: Path):
    """Run a :class:`Server` for ``folder`` in a thread; yields it."""
    handler = partial(_Handler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.state = Server(f"http://127.0.0.1:{httpd.server_address[1]}", Path(folder), [], threading.Event())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.state.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(tmp_path_factory, archive_bytes):
    """Serve a folder over HTTP on 127.0.0.1; yields (base_url, folder)."""
    folder = tmp_path_factory.mktemp("www")
    (folder / "cifar-10-python.tar.gz").write_bytes(archive_bytes)
    (folder / "truncated.tar.gz").write_bytes(archive_bytes[: len(archive_bytes) // 2])
    with serve_folder(folder) as state:
        yield state.base, folder


def entries(root: Path) -> list[str]:
    """What a download left in ``root``, beside the lock file every download keeps (hidden, empty)."""
    names = sorted(p.name for p in root.iterdir())
    if CIFAR10_LOCK in names:
        names.remove(CIFAR10_LOCK)
        assert (root / CIFAR10_LOCK).stat().st_size == 0
    return names


def test_download_verifies_md5_and_extracts(tmp_path, server, archive_bytes):
    base, _ = server
    md5 = hashlib.md5(archive_bytes).hexdigest()
    root = tmp_path / "data"
    s = load_cifar10(
        root,
        download=True,
        url=f"{base}/cifar-10-python.tar.gz",
        md5=md5,
        num_training=150,
        num_validation=10,
        num_test=5,
        num_dev=5,
    )
    assert s.train.X.shape == (150, 3073)
    assert (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert entries(root) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    # Second call: no download needed (the server could be gone).
    assert download_cifar10(root, url="http://127.0.0.1:9/none", md5=md5) == root / "cifar-10-batches-py"


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, server):
    base, _ = server
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="has MD5 .* expected c58f30108f718f92721af3b95e74349a.*deleted"):
        load_cifar10(root, download=True, url=f"{base}/cifar-10-python.tar.gz")
    assert entries(root) == []  # no archive, no part file, no half folder


def test_truncated_download_keeps_nothing(tmp_path, server, archive_bytes):
    base, _ = server
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="corrupted or incomplete"):
        download_cifar10(root, url=f"{base}/truncated.tar.gz", md5=hashlib.md5(archive_bytes).hexdigest())
    assert entries(root) == []


def test_download_404_and_unreachable_are_connection_errors(tmp_path, server):
    base, _ = server
    with pytest.raises(ConnectionError, match="could not download CIFAR-10 .*by hand"):
        download_cifar10(tmp_path / "a", url=f"{base}/missing.tar.gz", progress=False)
    with pytest.raises(ConnectionError, match="could not download"):
        download_cifar10(tmp_path / "b", url="http://127.0.0.1:9/x.tar.gz", progress=False, timeout=5)
    assert entries(tmp_path / "a") == []


def test_archive_without_the_layout_is_refused(tmp_path, server):
    base, folder = server
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (folder / "other.tar.gz").write_bytes(buf.getvalue())
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="does not hold the CIFAR-10 layout"):
        download_cifar10(root, url=f"{base}/other.tar.gz", md5=hashlib.md5(buf.getvalue()).hexdigest())
    assert not (root / "cifar-10-batches-py").exists()
    assert entries(root) == ["cifar-10-python.tar.gz"]  # verified archive kept, no folder
