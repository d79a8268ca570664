"""What the ``train`` and ``sweep`` commands do around the runner: folders, checkpoints, resume, early ends.

:func:`jaxopt_course.train.fit` and :func:`~jaxopt_course.train.sweep` train;
they know nothing of folders. A command that can be stopped and started
again needs a policy on top, and this module is that policy, in one place:

* **A run's identity.** :func:`identity` lists the options that make two
  commands the same run (data, loss, optimizer, step sizes, batch, seed,
  a fingerprint of the training data); ``--steps``, ``--chunk-size`` and the
  output options may change between an interrupted command and its resume.
* **Folders keyed by the run.** Without ``--checkpoint-dir`` or ``--out``, a
  Ctrl-C checkpoint goes to ``./jaxopt-course-checkpoint/<command>-<key>/``,
  ``<key>`` a short hash of the identity (:func:`config_key`), so unrelated
  runs started in one folder never meet (issue 20.5).
* **Resume, said aloud.** When the checkpoint folder already holds a
  checkpoint of *this* run, the command resumes from it and says so on its
  first line (``--force`` starts again from step 0); the result is the
  uninterrupted run's, bit for bit. A checkpoint of *another* run in a
  folder the user named is never overwritten without ``--force``.
* **One writer per folder.** The checkpoint folder and ``--out`` are held
  with :func:`jaxopt_course.locks.hold` while the run runs.
* **Early ends.** :func:`interrupted` writes the checkpoint of the last chunk
  boundary when SIGINT or SIGTERM stopped the run (:mod:`jaxopt_course.signals`
  defers both to chunk boundaries); :func:`write_failed` turns a failed write
  into one line naming the last good checkpoint.

Every refusal is a ``ValueError`` with one line (the command line's exit 2).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import time
import zlib
from pathlib import Path
from typing import NamedTuple

from . import signals

#: Where a run's Ctrl-C checkpoint goes when neither --checkpoint-dir nor --out says: one subfolder per run.
DEFAULT_CHECKPOINT_ROOT = "jaxopt-course-checkpoint"
EXIT_DIVERGED = 1
EXIT_WRITE_FAILED = 74  # BSD sysexits EX_IOERR: a checkpoint or result could not be written (disk full, ...)

#: The options of :func:`identity`, as the user spells them (for the messages).
RUN_OPTIONS = {
    "command": "the subcommand",
    "data": "--data",
    "loss": "--loss",
    "optimizer": "--optimizer",
    "lr": "--lr",
    "reg": "--reg",
    "lrs": "--lrs",
    "regs": "--regs",
    "batch_size": "--batch-size (or --full-batch)",
    "seed": "--seed",
    "init_scale": "--init-scale",
    "train_data": "training data (fingerprint)",
}


class WriteFailed(Exception):
    """A checkpoint or result could not be written (an ``OSError``: disk full, permissions, ...); one line."""


class RunEnded(Exception):
    """The run stopped before its end: ``code`` to exit with, ``line`` to say on stderr, ``record`` for ``--json``."""

    def __init__(self, code: int, line: str | None, record: dict | None = None):
        super().__init__(line or f"exit {code}")
        self.code, self.line, self.record = code, line, record


# ---------------------------------------------------------------------------
# The run's identity and its folders
# ---------------------------------------------------------------------------


def fingerprint(X, y) -> str:
    """``"1257x65:1a2b3c4d:5e6f7a8b"``: the training data's shape and CRC-32s, to tell data sets apart."""
    import numpy as np

    # an ndarray is a buffer; numpy's stubs declare its __buffer__ only for Python >= 3.12 (this targets 3.11)
    X_crc = zlib.crc32(np.ascontiguousarray(X))  # type: ignore[arg-type]
    y_crc = zlib.crc32(np.ascontiguousarray(y))  # type: ignore[arg-type]
    return f"{X.shape[0]}x{X.shape[1]}:{X_crc:08x}:{y_crc:08x}"


def identity(command: str, options: dict, X, y) -> dict:
    """The options that make a ``train`` or ``sweep`` run the same run, saved in its checkpoints.

    ``options`` holds the keys of :data:`RUN_OPTIONS` the command has (data,
    loss, optimizer, lr and reg or lrs and regs, batch_size, seed, init_scale).
    """
    unknown = set(options) - set(RUN_OPTIONS)
    if unknown:
        raise ValueError(f"options must be keys of RUN_OPTIONS, got {sorted(unknown)}")
    return {"command": command, **options, "train_data": fingerprint(X, y)}


def config_key(run: dict) -> str:
    """A short hash of a run's identity: 12 hex digits of SHA-256 over its canonical JSON.

    Examples:
      >>> config_key({"command": "train", "lr": 1.0}) == config_key({"lr": 1.0, "command": "train"})
      True
    """
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:12]


def default_checkpoint_dir(run: dict) -> Path:
    """``jaxopt-course-checkpoint/<command>-<config_key>``: the Ctrl-C folder of a run given no folder."""
    return Path(DEFAULT_CHECKPOINT_ROOT) / f"{run['command']}-{config_key(run)}"


def _shown(value) -> str:
    return ",".join(f"{v:g}" for v in value) if isinstance(value, list) else str(value)


def other_run(saved: dict, now: dict) -> str | None:
    """The first option in which a checkpoint's run differs from this one: ``"--lr 1, this command has 0.5"``."""
    for name, value in now.items():
        if saved.get(name) != value:
            return f"{RUN_OPTIONS[name]} {_shown(saved.get(name))}, this command has {_shown(value)}"
    return None


class Folders(NamedTuple):
    """Where one run reads and writes; made by :func:`plan`."""

    out: Path | None  # --out: the results
    checkpoint_dir: Path | None  # a checkpoint after every chunk (None: only on an interrupt)
    interrupt_dir: Path  # where the checkpoint goes on SIGINT/SIGTERM
    resume: Path | None  # the checkpoint file to continue from (None: start at step 0)
    note: str | None  # said on stderr before training (why and from where it resumes)


def plan(
    run: dict, *, steps: int, out=None, checkpoint_dir=None, resume=None, force: bool = False, auto_resume: bool = True
) -> Folders:
    """The run's folders, created and checked before any training (a run must not fail at its end).

    Args:
      run: :func:`identity`.
      steps: ``--steps``: a checkpoint beyond it is not resumed.
      out, checkpoint_dir, resume, force: the command's ``--out``,
        ``--checkpoint-dir``, ``--resume`` and ``--force``.
      auto_resume: resume a checkpoint of this run found in the checkpoint
        folder (``False``: say so and stop; several processes must all resume
        or none, so they need an explicit ``--resume``).

    Raises:
      ValueError: ``--resume`` names no checkpoint, or one of another run;
        the checkpoint folder holds another run's checkpoint (without
        ``force``); a checkpoint of this run lies beyond ``steps``.
      FolderInUse: a checkpoint is there and a live run holds the folders
        (:mod:`jaxopt_course.locks`).
    """
    from . import locks
    from .checkpoint import CHECKPOINT_FILE, read_checkpoint_config, resolve
    from .files import ensure_dir

    resume_file = None
    if resume is not None:
        try:
            resume_file = resolve(resume)
        except FileNotFoundError as err:
            raise ValueError(f"--resume {resume}: {err}") from None
        differs = other_run(read_checkpoint_config(resume_file), run)
        if differs:
            raise ValueError(
                f"--resume {resume}: the checkpoint is of a run with {differs}; repeat the interrupted "
                "command's options (only --steps, --chunk-size, --checkpoint-dir, --out and --json may "
                "change)"
            )
    out = ensure_dir(out) if out else None
    every_chunk = ensure_dir(checkpoint_dir) if checkpoint_dir else resume_file.parent if resume_file else None
    interrupt_dir = every_chunk or (out / "checkpoint" if out is not None else default_checkpoint_dir(run))
    found = interrupt_dir / CHECKPOINT_FILE
    note = None
    if resume_file is None and found.is_file() and not force:
        # A live run writing these folders owns that checkpoint: say so (FolderInUse names it), not the
        # advice below (--resume or --force), which is wrong while it runs.
        with locks.hold(every_chunk, out):
            pass
        try:
            saved = read_checkpoint_config(interrupt_dir)
            differs = other_run(saved, run)
        except ValueError as err:  # unreadable: still somebody's file
            saved, differs = {}, f"an unreadable checkpoint ({err})".splitlines()[0]
        if differs:
            raise ValueError(
                f"{found} holds the checkpoint of another run ({differs}); this run would overwrite it: "
                f"continue that run with its own options and --resume {interrupt_dir}, pick another "
                "--checkpoint-dir (or --out), or pass --force to overwrite it"
            )
        if saved["step"] > steps:
            raise ValueError(
                f"{found} holds a checkpoint of this run at step {saved['step']}, beyond --steps "
                f"{steps}: give --steps {saved['step']} or more to continue it, or --force to start "
                "again from step 0"
            )
        if not auto_resume:
            raise ValueError(
                f"{found} holds a checkpoint of this run at step {saved['step']}: continue it with "
                f"--resume {interrupt_dir}, or pass --force to start again from step 0"
            )
        resume_file = found
        note = (
            f"a checkpoint of this command exists at step {saved['step']} in {interrupt_dir}/: resuming from it "
            "(the result equals an uninterrupted run's; --force starts again from step 0)"
        )
    return Folders(out, every_chunk, interrupt_dir, resume_file, note)


def load_resume(folders: Folders, like, *, steps: int):
    """The ``(state, metrics)`` of ``folders.resume`` shaped like ``like`` (``(None, None)``: nothing to resume)."""
    from .checkpoint import load_checkpoint

    if folders.resume is None:
        return None, None
    saved = load_checkpoint(folders.resume, like=like)
    if int(saved.state.step) > steps:
        raise ValueError(
            f"--resume {folders.resume}: the checkpoint is at step {int(saved.state.step)}, beyond --steps {steps}"
        )
    return saved.state, saved.metrics


def hold(folders: Folders):
    """Hold the locks of the folders this run writes for its whole length (:func:`jaxopt_course.locks.hold`)."""
    from . import locks

    return locks.hold(folders.checkpoint_dir, folders.out)


# ---------------------------------------------------------------------------
# Writing, and the ways a run ends early
# ---------------------------------------------------------------------------


def _write(what: str, path, save, *args, **kwargs):
    """``save(*args, **kwargs)``; an ``OSError`` becomes :class:`WriteFailed`, one line naming the file and cause."""
    from .files import WriteError

    try:
        return save(*args, **kwargs)
    except OSError as err:
        message = str(err) if isinstance(err, WriteError) else f"could not write {what} {path}: {err.strerror or err}"
        raise WriteFailed(message.splitlines()[0]) from err


def write_checkpoint(folder: Path, state, metrics, run: dict) -> None:
    """``folder/checkpoint.npz``: the state, the metrics so far and the run's identity (atomic)."""
    from .checkpoint import CHECKPOINT_FILE, save_checkpoint

    _write("the checkpoint", folder / CHECKPOINT_FILE, save_checkpoint, folder, state, metrics, run)


def chunk_hook(folders: Folders, run: dict, *, writer: bool = True):
    """``on_chunk(state, metrics)``: a checkpoint after every chunk (with a checkpoint folder), then the signal check.

    The check (:func:`jaxopt_course.signals.check`) raises a pending SIGINT or
    SIGTERM as a ``KeyboardInterrupt`` at the chunk boundary, so that the
    runner stops there with the state of that boundary.
    """

    def on_chunk(state, metrics):
        if folders.checkpoint_dir is not None and writer:
            write_checkpoint(folders.checkpoint_dir, state, metrics, run)
        signals.check()

    return on_chunk


def save_results(folders: Folders, *, params, metrics, config: dict, summary: dict) -> None:
    """``--out``: ``params.npz``, ``metrics.json`` (with ``summary``) and ``config.json``; nothing without it."""
    from .checkpoint import save_run

    if folders.out is not None:
        _write(
            "the results in",
            folders.out,
            save_run,
            folders.out,
            params=params,
            metrics=metrics,
            config=config,
            summary=summary,
        )


def interrupt_exit_code() -> int:
    """128 + the signal that stopped the run: 130 for SIGINT (Ctrl-C), 143 for SIGTERM."""
    return signals.exit_code(signals.last_signal() or signal.SIGINT)


def interrupted(folders: Folders, run: dict, err, *, steps: int, params, metrics, config: dict) -> str:
    """SIGINT/SIGTERM stopped the run at ``err.step``: write its checkpoint (and ``--out``); the line to say.

    ``err`` is the runner's :class:`~jaxopt_course.hostloop.TrainingInterrupted`
    (``.step``, ``.state``, ``.metrics``); ``params``/``metrics`` are what to
    keep in ``--out``. Raises :class:`WriteFailed` if the checkpoint cannot be
    written.
    """
    from . import locks

    name = signal.Signals(signals.last_signal() or signal.SIGINT).name
    with locks.hold(folders.interrupt_dir):
        write_checkpoint(folders.interrupt_dir, err.state, err.metrics, run)
    save_results(
        folders, params=params, metrics=metrics, config=config, summary={"status": "interrupted", "step": err.step}
    )
    return (
        f"jaxopt-course: interrupted ({name}) at step {err.step} of {steps}; checkpoint written to "
        f"{folders.interrupt_dir}/ -- run the same command to continue (or add --resume {folders.interrupt_dir})"
    )


def execute(folders: Folders, run: dict, *, steps: int, like, call, so_far, config: dict, writer: bool = True):
    """Resume (if ``folders`` say so), then ``call(init_state, init_metrics, on_chunk)`` with the folders held.

    The runner's call runs inside :func:`jaxopt_course.signals.deferred`:
    SIGINT and SIGTERM stop it at the next chunk boundary, where
    :func:`chunk_hook` raises them, and the runner's ``TrainingInterrupted``
    is checkpointed here (:func:`interrupted`).

    Args:
      like: ``() -> TrainState``: the fresh state a checkpoint must fit.
      call: ``(init_state, init_metrics, on_chunk) -> output``: ``fit`` or ``sweep``.
      so_far: ``(TrainingInterrupted) -> (params, metrics)``: what ``--out`` keeps of a stopped run.
      config: what ``--out``'s ``config.json`` holds.
      writer: this process writes files (several processes: process 0 only).

    Returns:
      ``(output, seconds, first_step)``; ``first_step`` is the resumed step (0: a fresh run). A run that
      diverged returns the runner's :class:`~jaxopt_course.divergence.DivergenceError` as its ``output``: the
      command still reports it (its record, exit 1), timed like any other.

    Raises:
      RunEnded: stopped by a signal (exit ``128 + signum``, the checkpoint
        written) or by a failed write (exit 74); its line says which and how to go on,
        its record (``--json``) says the same for scripts.
    """
    from .divergence import DivergenceError
    from .hostloop import TrainingInterrupted

    init_state, init_metrics = load_resume(folders, like(), steps=steps)
    first = 0 if init_state is None else int(init_state.step)
    start = time.perf_counter()
    try:
        with hold(folders) if writer else contextlib.nullcontext(), signals.deferred():
            try:
                output = call(init_state, init_metrics, chunk_hook(folders, run, writer=writer))
            except DivergenceError as err:
                output = err
            except TrainingInterrupted as err:
                if not writer:
                    raise RunEnded(interrupt_exit_code(), None) from None
                params, metrics = so_far(err)
                line = interrupted(folders, run, err, steps=steps, params=params, metrics=metrics, config=config)
                record = {
                    "interrupted": True,
                    "signal": signal.Signals(signals.last_signal() or signal.SIGINT).name,
                    "step": err.step,
                    "steps": steps,
                    "checkpoint": str(folders.interrupt_dir),
                }
                raise RunEnded(interrupt_exit_code(), line, record) from None
    except WriteFailed as err:
        message = write_failed(err, folders.interrupt_dir, run)
        record = {"write_failed": True, "error": message, "steps": steps, "checkpoint": str(folders.interrupt_dir)}
        raise RunEnded(EXIT_WRITE_FAILED, f"jaxopt-course: error: {message}", record) from None
    return output, time.perf_counter() - start, first


def write_failed(err: WriteFailed, folder: Path | None, run: dict) -> str:
    """One line: what could not be written and why, the last good checkpoint of this run in ``folder``, how to go on."""
    from .checkpoint import read_checkpoint_config

    try:
        saved = read_checkpoint_config(folder) if folder is not None else {}
    except (OSError, ValueError):  # none there, or not readable
        saved = {}
    if saved and other_run(saved, run) is None:
        hint = (
            f" -- the last good checkpoint (step {saved['step']}) is in {folder}/: free some space and run the "
            f"same command with --resume {folder} to continue"
        )
    else:
        hint = " -- no checkpoint of this run was written" if folder is not None else ""
    return f"{err}{hint}"


# ---------------------------------------------------------------------------
# Devices and machines: the mesh a command asks for, this host's rows
# ---------------------------------------------------------------------------


def mesh_for(devices: int | None, sizes: dict | None, *, one_model: bool):
    """The mesh ``--devices N`` / ``--mesh data=D,model=M`` ask for; ``None`` for one device in one process.

    ``--devices N`` splits the minibatch (``one_model``: train) or the models
    (a sweep) N ways; several processes given neither use all their devices so.
    Raises ``ValueError`` (one line naming the flag) for a mesh that cannot be made.
    """
    import jax

    from .distributed import make_mesh

    if devices is None and sizes is None and jax.process_count() == 1:
        return None
    if sizes is not None:
        flag = "--mesh " + ",".join(f"{axis}={size}" for axis, size in sizes.items())
        if one_model and sizes.get("model", 1) > 1:
            raise ValueError(
                f"{flag}: train trains one model, so there are no models to split: split its "
                "minibatch with data=N (sweep splits models)"
            )
        shape = {"data": sizes.get("data", 1), "model": sizes.get("model", 1)}
    else:
        flag = f"--devices {devices}" if devices is not None else "all devices"
        count = devices if devices is not None else jax.device_count()
        shape = {"data": count, "model": 1} if one_model else {"data": 1, "model": count}
    try:
        return make_mesh(**shape)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None


def mesh_words(mesh) -> str:
    """`` on 4 devices (data=4, model=1)`` for the table's first line; ``""`` for one device."""
    if mesh is None:
        return ""
    import jax

    hosts = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    return f" on {mesh.size} devices{hosts} (data={mesh.shape['data']}, model={mesh.shape['model']})"


def host_rows(X, y, mesh):
    """Several processes whose devices split 'data': ``(X, y, left_out)``, this host's rows as global arrays.

    The last ``N % data`` rows are left out, since every device of the 'data'
    axis must hold as many rows as the others. Otherwise (one process, or a
    'data' axis that does not span the processes) ``X``, ``y`` unchanged.
    """
    import jax

    from .distributed import axis_size, host_shard, shard_rows

    data = 1 if mesh is None else axis_size(mesh, "data")
    if jax.process_count() == 1 or data % jax.process_count():
        return X, y, 0
    keep = X.shape[0] - X.shape[0] % data
    X_host, y_host = host_shard(X[:keep], y[:keep])
    X_rows, y_rows = shard_rows(X_host, y_host, mesh)
    return X_rows, y_rows, X.shape[0] - keep


# ---------------------------------------------------------------------------
# The options this policy reads, for the train and sweep parsers
# ---------------------------------------------------------------------------


def add_arguments(p, command: str) -> None:
    """``--checkpoint-dir``, ``--resume``, ``--force``, ``--out`` and the devices and machines, on parser ``p``.

    The options of :func:`plan`, :func:`mesh_for` and
    :func:`jaxopt_course.distributed.initialize_multihost`, defined beside
    them; ``command`` (``"train"`` or ``"sweep"``) names the default folder.
    """
    from .experiments._common import count, mesh_sizes

    p.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="write a checkpoint (params, optimizer state, key, step, metrics) to DIR after every chunk "
        "and on Ctrl-C/SIGTERM (default on those: OUT/checkpoint with --out, else "
        f"./{DEFAULT_CHECKPOINT_ROOT}/{command}-<hash of the run's options>/); a checkpoint of this "
        "same run found there is resumed, and the first line says so",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="PATH",
        help="continue the run checkpointed at PATH, a folder or its checkpoint.npz (give the same "
        "options; --steps may grow; implies --checkpoint-dir PATH's folder unless given); the "
        "result equals an uninterrupted run's bit for bit",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="start from step 0: overwrite a checkpoint in the checkpoint folder (of another run: "
        "refused otherwise; of this run: resumed otherwise); an error with --resume",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write params.npz, metrics.json (losses per step, status) and config.json to DIR -- also "
        "when the run diverges (train: the last finite params) or is interrupted",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--devices",
        type=count,
        default=None,
        metavar="N",
        help="run on the first N devices JAX sees: train splits each minibatch N ways, sweep the "
        "models (on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices)",
    )
    group.add_argument(
        "--mesh",
        type=mesh_sizes,
        default=None,
        metavar="data=D,model=M",
        help="the device mesh: D devices split every minibatch, M devices split a sweep's models",
    )
    p.add_argument(
        "--coordinator-address",
        default=None,
        metavar="HOST:PORT",
        help="several machines: process 0's address (or $JAX_COORDINATOR_ADDRESS); every process runs "
        "the same command with --num-processes and its own --process-id",
    )
    p.add_argument(
        "--num-processes",
        type=count,
        default=None,
        metavar="P",
        help="several machines: how many processes take part (or $JAX_NUM_PROCESSES)",
    )
    p.add_argument(
        "--process-id",
        type=int,
        default=None,
        metavar="I",
        help="several machines: this process's number, 0 .. P-1 (or $JAX_PROCESS_ID)",
    )
