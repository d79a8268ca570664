"""Checkpoints: a training run on disk, whole or not at all.

A checkpoint is one file, ``DIR/checkpoint.npz``, holding everything
:func:`~jaxopt_course.train.fit` (or :func:`~jaxopt_course.train.sweep`)
needs to continue a run bit for bit:

* the :class:`~jaxopt_course.train.TrainState` -- the weights ``W``, the
  optimizer's state (momentum, Adam's moments, ...), the key (its raw
  ``key_data`` and the name of its PRNG implementation), the step counter
  and, with ``sampling="shuffle"``, the epoch's order;
* the :class:`~jaxopt_course.hostloop.Metrics` of every step so far;
* for a sweep of M models, the same with a leading ``(M,)`` axis on the
  weights, the optimizer's state and the metrics (:func:`sweep_like` makes
  the ``like`` state that restores it);
* the run's configuration (a JSON text), so that a resume with other
  settings is refused instead of silently mixing two runs.

It is written with :func:`jaxopt_course.files.atomic_save_npz` (temporary
file, fsync, rename), so a crash or a second Ctrl-C leaves the previous
checkpoint or the new one, never half of one; a full disk raises
:class:`~jaxopt_course.files.WriteError` and leaves the previous one.

It is read without trusting it: only the members this module writes, each
stored uncompressed (so none can claim more bytes than the file holds), and
each member's npy header checked against the shape and dtype the run expects
before a byte of it is read. Anything else is one line, ``... is not a
readable checkpoint (...)``, in memory bounded by the file's size.
:func:`resolve` turns a checkpoint file or its folder into the file, and
creates nothing.

Why plain ``.npz`` and not orbax-checkpoint: the state is a handful of small
arrays (Adam on CIFAR-10: 3 x 10 x 3073 floats), one process writes it, and
it must be atomic -- ``numpy.savez`` plus a rename does all of that with no
new dependency, where orbax brings tensorstore, asynchronous writers and a
folder per step. Both need the same thing to restore an optax state, which
is a pytree of NamedTuples: its *structure*, recreated from
``optimizer.init(W0)`` (the ``like`` argument of :func:`load_checkpoint`).

Examples:
  >>> import jax, jax.numpy as jnp, optax, tempfile
  >>> from jaxopt_course.train import TrainState, Metrics
  >>> opt = optax.adam(1e-3)
  >>> W = jnp.ones((2, 3))
  >>> state = TrainState(W, opt.init(W), jax.random.key(0), jnp.int32(5))
  >>> folder = tempfile.mkdtemp()
  >>> _ = save_checkpoint(folder, state, Metrics(jnp.zeros(5), jnp.zeros(5)), {"lr": 1e-3})
  >>> like = TrainState(W, opt.init(W), jax.random.key(0), jnp.int32(0))
  >>> ckpt = load_checkpoint(folder, like)
  >>> int(ckpt.state.step), ckpt.config, bool(jnp.all(ckpt.state.params == W))
  (5, {'lr': 0.001}, True)
"""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .files import atomic_save_npz, atomic_write_json, ensure_dir
from .hostloop import Metrics
from .sgd import TrainState

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT = 1


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns.

    Attributes:
      state: the :class:`~jaxopt_course.train.TrainState` (``fit(...,
        init_state=state)``).
      metrics: the :class:`~jaxopt_course.hostloop.Metrics` of steps ``0 ..
        state.step - 1`` (``fit(..., init_metrics=metrics)``).
      config: the run's configuration as saved (a dict).
      path: the file read.
    """

    state: TrainState
    metrics: Metrics
    config: dict
    path: Path


def _is_typed_key(key) -> bool:
    return jnp.issubdtype(getattr(key, "dtype", np.float32), jax.dtypes.prng_key)


def _with_raw_key(state: TrainState) -> tuple[TrainState, str]:
    """The state with its key as raw ``uint32`` data, and the key's implementation name ('' for raw keys)."""
    if _is_typed_key(state.key):
        return state._replace(key=jax.random.key_data(state.key)), str(jax.random.key_impl(state.key))
    return state, ""


def _models(state: TrainState) -> tuple:
    """The leading model axes of a state's weights: ``()`` for one model ``W`` (C, D), ``(M,)`` for a sweep."""
    return tuple(np.shape(state.params)[:-2])


def sweep_like(like: TrainState, num_models: int) -> TrainState:
    """One model's state made the state of a sweep of ``num_models`` models, for :func:`load_checkpoint`'s ``like``.

    A sweep (:func:`~jaxopt_course.train.sweep`) carries one ``params`` and
    one optimizer state per model, stacked on a leading axis, and one shared
    key, step and epoch order: so ``params`` and every ``opt_state`` leaf
    are repeated ``num_models`` times, the rest is kept.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> W = jnp.zeros((2, 3))
      >>> like = sweep_like(TrainState(W, optax.adam(0.1).init(W), jax.random.key(0), jnp.int32(0)), 6)
      >>> like.params.shape, like.opt_state[0].mu.shape, like.opt_state[0].count.shape, like.step.shape
      ((6, 2, 3), (6, 2, 3), (6,), ())
    """
    if not isinstance(like, TrainState):
        raise TypeError(f"like must be a TrainState of one model, got {type(like).__name__}")
    if isinstance(num_models, bool) or not isinstance(num_models, (int, np.integer)) or num_models < 1:
        raise ValueError(f"num_models must be a positive integer, got {num_models!r}")

    def repeat(x):
        x = jnp.asarray(x)
        return jnp.broadcast_to(x, (int(num_models),) + x.shape)

    return like._replace(params=repeat(like.params), opt_state=jax.tree.map(repeat, like.opt_state))


def _leaves(state: TrainState) -> tuple[list[str], list, object]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    return [jax.tree_util.keystr(path) for path, _ in leaves], [leaf for _, leaf in leaves], treedef


def save_checkpoint(directory, state: TrainState, metrics: Metrics | None = None, config: dict | None = None) -> Path:
    """Write ``state`` (and the metrics so far, and the run's config) to ``directory/checkpoint.npz``, atomically.

    Args:
      directory: the checkpoint folder (created if needed).
      state: a :class:`~jaxopt_course.train.TrainState` at a chunk boundary
        (a sweep's: ``params`` ``(M, C, D)``).
      metrics: the :class:`~jaxopt_course.hostloop.Metrics` of steps ``0 ..
        state.step - 1``, shape ``(steps,)`` (a sweep's: ``(M, steps)``;
        ``None``: none kept).
      config: a JSON-able dict describing the run (checked on resume).

    Returns:
      The path of the file written.

    Raises:
      PermissionError: the folder cannot be written.
    """
    if not isinstance(state, TrainState):
        raise TypeError(f"state must be a TrainState, got {type(state).__name__}")
    directory = ensure_dir(directory)
    raw, impl = _with_raw_key(state)
    names, leaves, _ = _leaves(raw)
    arrays = {f"leaf_{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    step = int(state.step)
    shape = _models(state) + (step,)
    if metrics is None:  # no metrics kept: NaN for every step before state.step
        loss = val = np.full(shape, np.nan, np.float32)
    else:
        loss, val = np.asarray(metrics.loss), np.asarray(metrics.val_accuracy)
    if loss.shape != shape or val.shape != shape:
        raise ValueError(
            f"metrics must hold the {step} steps before state.step (shape {shape}), got loss of shape "
            f"{loss.shape} and val_accuracy of shape {val.shape}"
        )
    return atomic_save_npz(
        directory / CHECKPOINT_FILE,
        format=np.int64(FORMAT),
        step=np.int64(step),
        key_impl=np.str_(impl),
        leaf_names=np.array(names, dtype=str),
        metrics_loss=loss,
        metrics_val_accuracy=val,
        config_json=np.str_(json.dumps(config or {})),
        **arrays,
    )


def resolve(path) -> Path:
    """The checkpoint file that ``path`` names: the file itself, or ``path/checkpoint.npz`` for a folder.

    What ``--resume PATH`` accepts. Nothing is created: a missing path is an
    error. New checkpoints of the resumed run go to ``resolve(path).parent``.

    Raises:
      FileNotFoundError: no checkpoint there (the message names the path).

    Examples:
      >>> import tempfile
      >>> resolve(tempfile.mkdtemp())
      Traceback (most recent call last):
      ...
      FileNotFoundError: no checkpoint at ...checkpoint.npz: a run writes one with --checkpoint-dir (or ...
    """
    path = Path(path).expanduser()
    if path.is_file():
        return path
    missing = path if path.suffix == ".npz" and not path.is_dir() else path / CHECKPOINT_FILE
    if missing.is_file():
        return missing
    raise FileNotFoundError(
        f"no checkpoint at {missing}: a run writes one with --checkpoint-dir (or save_checkpoint), and on Ctrl-C"
    )


# What a checkpoint file may hold: these members, plus leaf_00000, leaf_00001, ...
# (one per state leaf), each an uncompressed .npy as numpy.savez writes them.
_META = ("format", "step", "key_impl", "leaf_names", "metrics_loss", "metrics_val_accuracy", "config_json")
_LEAF = re.compile(r"leaf_\d{5}")
_TEXT_MAX_BYTES = 16 * 2**20  # the config (JSON), the leaf names, the key's name
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
)


def _unreadable(path: Path, reason: str) -> ValueError:
    return ValueError(
        f"{path} is not a readable checkpoint ({reason}); it is truncated or corrupted -- delete it "
        "and start the run again"
    )


def _not_a_checkpoint(path: Path, reason: str) -> ValueError:
    """For a file that is no checkpoint at all (``--resume /etc/passwd``): say so, and suggest deleting nothing."""
    return ValueError(
        f"{path} is not a jaxopt-course checkpoint ({reason}); --resume takes the checkpoint.npz a "
        "run wrote with --checkpoint-dir (or on Ctrl-C), or the folder that holds it"
    )


class _CheckpointFile:
    """A checkpoint's zip directory, checked; its members read one by one, each only after its header is checked.

    Every member must be one this project writes, stored uncompressed inside
    the file (as ``numpy.savez`` does): so no member can claim more bytes
    than the file holds, and nothing is read before its declared size and
    shape are known to be the expected ones.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
        except OSError as err:
            raise _unreadable(path, f"{type(err).__name__}: {err}") from None
        if magic != b"PK\x03\x04" and path.name != CHECKPOINT_FILE:
            raise _not_a_checkpoint(path, "it is not an .npz file")
        try:
            self.zip = zipfile.ZipFile(path)
        except _ZIP_ERRORS as err:
            raise _unreadable(path, f"{type(err).__name__}: {err}") from None
        size, infos = path.stat().st_size, self.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _unreadable(path, "it names a member twice")
        self.members = {}
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or not (name in _META or _LEAF.fullmatch(name)):
                raise _unreadable(path, f"it holds an unexpected member {info.filename!r}")
            if (
                info.compress_type != zipfile.ZIP_STORED
                or info.flag_bits & 0x1
                or info.file_size != info.compress_size
                or info.header_offset + info.compress_size > size
            ):
                raise _unreadable(
                    path,
                    f"its member {info.filename!r} is compressed, encrypted or larger than the "
                    "file (checkpoints are written uncompressed)",
                )
            self.members[name] = info
        missing = [k for k in _META if k not in self.members]
        if missing:
            raise ValueError(f"{path} is not a jaxopt-course checkpoint: it lacks {missing}")

    def _header(self, name: str):
        """The open member ``name`` positioned after its npy header, and ``(shape, fortran, dtype)``."""
        info = self.members.get(name)
        if info is None:
            raise _unreadable(self.path, f"it lacks the member {name}")
        f = self.zip.open(info)
        try:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version}")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return f, read(f), info.file_size
        except _ZIP_ERRORS as err:
            f.close()
            raise _unreadable(
                self.path, f"its member {name} is not an .npy array ({type(err).__name__}: {err})"
            ) from None

    def read(self, name: str, check) -> np.ndarray:
        """Member ``name``'s array; ``check(shape, dtype)`` returns why it is refused (or None) before reading."""
        f, (shape, fortran, dtype), file_size = self._header(name)
        with f:
            nbytes = math.prod(shape) * dtype.itemsize
            if dtype.hasobject or f.tell() + nbytes != file_size:
                raise _unreadable(
                    self.path,
                    f"its member {name} declares {dtype} of shape {shape} ({nbytes} bytes), "
                    f"the file holds {file_size - f.tell()}",
                )
            refused = check(shape, dtype)
            if refused:
                raise refused if isinstance(refused, Exception) else _unreadable(self.path, f"{name}: {refused}")
            array = np.empty(shape, dtype, order="F" if fortran else "C")
            try:
                # numpy's stubs declare ndarray.__buffer__ (PEP 688) for Python >= 3.12 only; it is a buffer on 3.11 too
                view = memoryview(array.reshape(-1, order="A").view(np.uint8))  # type: ignore[arg-type]
                got = f.readinto(view) if nbytes else 0
            except _ZIP_ERRORS as err:
                raise _unreadable(
                    self.path, f"its member {name} cannot be read ({type(err).__name__}: {err})"
                ) from None
            if got != nbytes:
                raise _unreadable(self.path, f"its member {name} is cut short")
        return array


def _text(shape, dtype, *, ndim=0):
    """The check for a text member (a string, or with ``ndim=1`` a list of them) of bounded size."""
    if dtype.kind != "U" or len(shape) != ndim or math.prod(shape) * dtype.itemsize > _TEXT_MAX_BYTES:
        return f"expected text of at most {_TEXT_MAX_BYTES} bytes, got {dtype} of shape {shape}"
    return None


def _integer(shape, dtype):
    return None if dtype.kind in "iu" and shape == () else f"expected an integer, got {dtype} of shape {shape}"


def _open_checked(directory) -> tuple[_CheckpointFile, dict]:
    """The checkpoint file (checked) and its small members: format, step, key_impl, leaf_names, config_json."""
    path = resolve(directory)
    ckpt = _CheckpointFile(path)
    try:
        meta = {"format": ckpt.read("format", _integer), "step": ckpt.read("step", _integer)}
        if int(meta["format"]) != FORMAT:
            raise ValueError(f"{path} has checkpoint format {int(meta['format'])}, this version reads {FORMAT}")
        meta["key_impl"] = ckpt.read("key_impl", _text)
        meta["leaf_names"] = ckpt.read("leaf_names", lambda s, d: _text(s, d, ndim=1))
        meta["config_json"] = ckpt.read("config_json", _text)
    except BaseException:
        ckpt.zip.close()
        raise
    return ckpt, meta


#: A run's configuration is a flat dict of a few hundred bytes; these bound what a crafted one may cost.
CONFIG_MAX_CHARS = 1 << 20
CONFIG_MAX_DEPTH = 32


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, brackets inside strings not counted (linear, no recursion)."""
    # Remove the strings (with their escapes) first, then count what is left; every step is a C-level scan.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    deepest = level = 0
    for match in re.finditer(r"[\[\]{}]", bare):
        level += 1 if match[0] in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _config(path: Path, content: dict) -> dict:
    text = str(content["config_json"])
    if len(text) > CONFIG_MAX_CHARS:
        raise _unreadable(
            path,
            f"its run configuration is {len(text)} characters, more than the "
            f"{CONFIG_MAX_CHARS} a configuration may have",
        )
    depth = _depth(text)
    if depth > CONFIG_MAX_DEPTH:
        raise _unreadable(
            path,
            f"its run configuration is nested {depth} levels deep, more than the "
            f"{CONFIG_MAX_DEPTH} a configuration may have",
        )
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: its run configuration is not valid JSON ({err}); it is corrupted") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: its run configuration must be a JSON object, got {type(config).__name__}")
    return config


def read_checkpoint_config(directory) -> dict:
    """The saved run configuration and step, without restoring the state: ``{**config, "step": n}``.

    Reads only the small members (never the weights or the metrics), each
    after checking its declared size.
    """
    ckpt, meta = _open_checked(directory)
    with ckpt.zip:
        return {**_config(ckpt.path, meta), "step": int(meta["step"])}


def load_checkpoint(directory, like: TrainState) -> Checkpoint:
    """Read ``directory/checkpoint.npz`` back into a :class:`~jaxopt_course.train.TrainState` shaped like ``like``.

    Args:
      directory: the checkpoint folder (or the ``.npz`` file itself).
      like: a state of the same run, for its structure, shapes and dtypes --
        e.g. ``TrainState(W0, optimizer.init(W0), key, jnp.int32(0))``, plus
        the epoch order ``jnp.arange(N, dtype=jnp.int32)`` with
        ``sampling="shuffle"``; for a sweep, ``sweep_like(that state, M)``.
        Only its structure, shapes and dtypes are used.

    Returns:
      A :class:`Checkpoint` ``(state, metrics, config, path)``.

    Raises:
      FileNotFoundError: no checkpoint there.
      ValueError: the file is truncated or corrupted, or holds another run's
        state (another optimizer, other shapes); the message names the file.
    """
    if not isinstance(like, TrainState):
        raise TypeError(f"like must be a TrainState of the same run, got {type(like).__name__}")
    ckpt, meta = _open_checked(directory)
    with ckpt.zip:
        return _restore(ckpt, meta, like)


def _restore(ckpt: _CheckpointFile, meta: dict, like: TrainState) -> Checkpoint:
    """The state, metrics and config of a checked checkpoint file, each array read after its shape is checked."""
    path = ckpt.path
    raw_like, impl_like = _with_raw_key(like)
    names, leaves, treedef = _leaves(raw_like)
    saved_names = [str(n) for n in meta["leaf_names"]]
    if saved_names != names:
        raise ValueError(
            f"{path} holds the state of another kind of run (another optimizer or sampling?): "
            f"its arrays are {saved_names}, this run's are {names}"
        )
    if sum(1 for m in ckpt.members if _LEAF.fullmatch(m)) != len(names):
        raise _unreadable(path, f"it holds another number of state arrays than its {len(names)} names")

    def same_as(name, leaf):
        def check(shape, dtype):
            if shape != np.shape(leaf) or dtype != jnp.result_type(leaf):
                return ValueError(
                    f"{path}: state{name} is {dtype} of shape {shape}, this run needs "
                    f"{jnp.result_type(leaf)} of shape {np.shape(leaf)} (another data set or model?)"
                )
            return None

        return check

    restored = [
        jnp.asarray(ckpt.read(f"leaf_{i:05d}", same_as(name, leaf)))
        for i, (name, leaf) in enumerate(zip(names, leaves, strict=True))
    ]
    state = jax.tree_util.tree_unflatten(treedef, restored)
    step = int(meta["step"])
    shape = _models(state) + (step,)
    if int(state.step) != step:
        raise _unreadable(path, f"its step is {step} but its state's step {int(state.step)}")

    def metric(shape_, dtype):
        return None if shape_ == shape and dtype.kind == "f" else f"expected {shape} floats, got {dtype} {shape_}"

    loss, val = ckpt.read("metrics_loss", metric), ckpt.read("metrics_val_accuracy", metric)
    impl = str(meta["key_impl"])
    if impl != impl_like:
        raise ValueError(f"{path} holds a {impl or 'raw uint32'} key, this run uses a {impl_like or 'raw uint32'} key")
    if impl:
        state = state._replace(key=jax.random.wrap_key_data(state.key, impl=impl))
    metrics = Metrics(loss, val)
    return Checkpoint(state, metrics, _config(path, meta), path)


def save_run(directory, *, params, metrics: Metrics, summary: dict, config: dict | None = None) -> Path:
    """Write a run's results to ``directory``: ``params.npz`` (``W``), ``metrics.json`` and ``config.json``.

    What the command line's ``--out`` writes whether the run finished,
    diverged (``params`` then are the last weights with a finite loss) or
    was interrupted. Every file is written atomically.

    ``metrics.json`` holds ``summary`` (e.g. ``{"status": "diverged", "step":
    41}``) plus ``losses`` (one per step, ``null`` where not finite) and the
    validation curve ``val_steps`` / ``val_accuracies``. For a sweep,
    ``params`` are ``(L, R, C, D)`` and ``losses`` nested lists ``(L, R,
    steps)``, with no validation curve (a sweep scores once, at the end).
    """
    directory = ensure_dir(directory)
    loss, val = np.asarray(metrics.loss), np.asarray(metrics.val_accuracy)
    curves = {"losses": loss}
    if loss.ndim == 1:
        measured = np.flatnonzero(~np.isnan(val))
        curves.update(val_steps=measured + 1, val_accuracies=val[measured])
    atomic_save_npz(directory / "params.npz", W=np.asarray(params))
    atomic_write_json(directory / "metrics.json", {**summary, **curves})
    if config is not None:
        atomic_write_json(directory / "config.json", config)
    return directory
