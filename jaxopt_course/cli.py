"""The ``jaxopt-course`` command (also ``python -m jaxopt_course``).

Every subcommand prints a short human table, or one JSON object with
``--json``. Bad arguments end with exit code 2 and one line on stderr that
starts ``jaxopt-course: error:``.

How this file is laid out (read top to bottom):

* argument types and the per-data-set defaults (:data:`RECIPES`);
* ``train`` and ``sweep``: one shared path (:func:`_run_command`) that loads
  the data, checks the folders, resumes, trains, and reports; the two differ
  only in a :class:`_Kind` of four small functions;
* ``search``, ``gradcheck``, ``tea`` and ``lecture``;
* the parser: one :class:`_Command` row per subcommand in :data:`COMMANDS`.
  :func:`main` builds only the arguments of the subcommand it runs, and
  every module is imported inside the function that needs it, so
  ``jaxopt-course --help`` never imports JAX and ``tea`` never imports
  scikit-learn.

Adding a subcommand: write ``_add_<name>_args(p)`` (its options) and
``_cmd_<name>(args) -> exit code``, and add a :class:`_Command` row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

EXIT_USAGE = 2
EXIT_DIVERGED = 1
EXIT_WRITE_FAILED = 74  # BSD sysexits EX_IOERR: a checkpoint or result could not be written (disk full, ...)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for Ctrl-C
DEFAULT_CHECKPOINT_DIR = "jaxopt-course-checkpoint"
PREFIX = "jaxopt-course: error:"


class UsageError(Exception):
    """A bad argument: reported in one line (``jaxopt-course: error: ...``), exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's API
        command = self.prog.split(" ", 1)[1] if " " in self.prog else None
        see = f" (see jaxopt-course {command} --help)" if command else ""
        raise UsageError(f"{message}{see}")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default; options without one (``None``, flags) say nothing."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


# ---------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _number(text, *, low: str):
    """``text`` as a finite float ``>= 0`` (``low=">= 0"``) or ``> 0`` (``low="> 0"``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number {low}, got {text}")
    if value < 0 or (low == "> 0" and value == 0):
        raise argparse.ArgumentTypeError(f"expected a number {low}, got {text}")
    return value


def _nonnegative_float(text):
    return _number(text, low=">= 0")


def _positive_float(text):
    return _number(text, low="> 0")


def _float_list(positive: bool):
    """argparse type: ``"1e-7,5e-7"`` -> ``[1e-07, 5e-07]``, every number > 0 (or >= 0)."""
    check = _positive_float if positive else _nonnegative_float

    def parse(text):
        values = [check(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
        return values

    return parse


def _mesh_sizes(text):
    """argparse type: ``"data=2,model=4"`` -> ``{"data": 2, "model": 4}``."""
    from .distributed import parse_mesh

    try:
        return parse_mesh(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# ---------------------------------------------------------------------------
# Defaults that follow the data set
# ---------------------------------------------------------------------------

#: The options whose default depends on ``--data``: digits' values suit its
#: pixels in [-1, 1]; CIFAR-10's are CS231n's recipe (assignment 1: pixels
#: of order 100, so weights and steps 100 to 10^7 times smaller).
RECIPES = {
    "train": {"digits": dict(lr=1.0, reg=1e-4, batch_size=256, steps=2000, init_scale=1e-4),
              "cifar10": dict(lr=1e-7, reg=2.5e4, batch_size=200, steps=1500, init_scale=1e-3)},
    "sweep": {"digits": dict(lrs=[1e-2, 1e-1, 1.0], regs=[0.0, 1e-3, 1e-1], batch_size=256, steps=1000,
                             init_scale=1e-4),
              "cifar10": dict(lrs=[1e-7, 5e-7], regs=[2.5e4, 5e4], batch_size=200, steps=1500, init_scale=1e-3)},
    "search": {"digits": dict(scale={"random": 1e-2, "local": 1e-1}, step_size=1e-2),
               "cifar10": dict(scale={"random": 1e-4, "local": 1e-3}, step_size=1e-4)},
    # CS231n checks 10 random weights of its dev set (grad_check_sparse); digits are small enough for all.
    "gradcheck": {"digits": dict(num_checks=None), "cifar10": dict(num_checks=10)},
}


def _shown(value) -> str:
    """An option's value as the user would type it: ``1e-07``, ``0.01,0.1``, ``all`` (None)."""
    if isinstance(value, dict):
        return ", ".join(f"{_shown(v)} ({k})" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return "all" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _by_data(command: str, name: str) -> str:
    """``"default: 1 on digits, 1e-07 on cifar10"``, for the help of an option of :data:`RECIPES`."""
    return "default: " + ", ".join(f"{_shown(recipe[name])} on {data}" for data, recipe in RECIPES[command].items())


def _apply_recipe(args) -> dict:
    """Fill the options left unset (``None``) from ``RECIPES[command][data]``; return those filled, by flag."""
    filled = {}
    for name, value in RECIPES.get(args.command, {}).get(getattr(args, "data", None), {}).items():
        if getattr(args, name, None) is None:
            value = value.get(args.method) if isinstance(value, dict) else value  # search: per --method
            if value is not None:
                setattr(args, name, value)
                filled["--" + name.replace("_", "-")] = value
    return filled


def _say_recipe(args) -> None:
    """On CIFAR-10, say on stderr which options took the CS231n recipe's values."""
    if args.data == "cifar10" and args.recipe:
        words = " ".join(f"{flag} {_shown(value)}" for flag, value in args.recipe.items())
        print(f"jaxopt-course: --data cifar10: CS231n's recipe for the options not given: {words}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Data, output
# ---------------------------------------------------------------------------


def _load(args):
    """The data set named by ``--data``, through :func:`jaxopt_course.data.load_data`."""
    import os

    from .cache import cached_digits
    from .data import load_data

    data_dir = args.data_dir or os.environ.get("JAXOPT_COURSE_CIFAR10") or None
    if args.data == "cifar10" and data_dir is None:
        raise UsageError("--data cifar10 needs --data-dir DIR, the folder that holds cifar-10-batches-py/ "
                         "(or $JAXOPT_COURSE_CIFAR10; add --download to fetch it there)")
    if args.data == "digits":
        splits = cached_digits(lambda: load_data("digits"))  # kept on disk: a second run skips scikit-learn
    else:
        splits = load_data(args.data, data_dir, download=args.download)
    _say_recipe(args)
    return splits


def _emit(args, result: dict, lines: list[str]):
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print("\n".join(lines), flush=True)


def _with_recipe(args, result: dict) -> dict:
    if args.data == "cifar10" and args.recipe:
        result["cs231n_recipe"] = args.recipe
    return result


# ---------------------------------------------------------------------------
# More than one device or machine (train and sweep)
# ---------------------------------------------------------------------------


def _start_multihost(args):
    """--coordinator-address/--num-processes/--process-id (or $JAX_*): jax.distributed, before any JAX call."""
    from .distributed import initialize_multihost

    try:
        initialize_multihost(args.coordinator_address, args.num_processes, args.process_id)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _cli_mesh(args, *, one_model: bool):
    """The mesh --devices/--mesh ask for; ``None`` for one device in one process.

    ``--devices N`` splits the minibatch (train, ``one_model``) or the models
    (sweep) N ways; several processes without either use all their devices so.
    """
    import jax

    from .distributed import make_mesh

    if args.devices is None and args.mesh is None and jax.process_count() == 1:
        return None
    if args.mesh is not None:
        flag = "--mesh " + ",".join(f"{axis}={size}" for axis, size in args.mesh.items())
        if one_model and args.mesh.get("model", 1) > 1:
            raise UsageError(f"{flag}: train trains one model, so there are no models to split: split its "
                             "minibatch with data=N (sweep splits models)")
        sizes = {"data": args.mesh.get("data", 1), "model": args.mesh.get("model", 1)}
    else:
        flag = f"--devices {args.devices}" if args.devices is not None else "all devices"
        count = args.devices if args.devices is not None else jax.device_count()
        sizes = {"data": count, "model": 1} if one_model else {"data": 1, "model": count}
    try:
        return make_mesh(**sizes)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from None


def _mesh_words(mesh) -> str:
    if mesh is None:
        return ""
    import jax

    hosts = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    return f" on {mesh.size} devices{hosts} (data={mesh.shape['data']}, model={mesh.shape['model']})"


def _host_rows(X, y, mesh):
    """Several processes whose devices split 'data': this host's rows as global arrays split along it.

    Returns ``(X, y, left_out)``: the last ``N % data`` rows are left out, since
    every device of the 'data' axis must hold as many rows as the others.
    Otherwise (one process, or a 'data' axis that does not span the processes,
    as in a sweep split by models only) ``X``, ``y`` unchanged: every device
    gets all of them.
    """
    import jax

    from .distributed import axis_size, host_shard, shard_rows

    data = 1 if mesh is None else axis_size(mesh, "data")
    if jax.process_count() == 1 or data % jax.process_count():
        return X, y, 0
    keep = X.shape[0] - X.shape[0] % data
    try:
        X_local, y_local = host_shard(X[:keep], y[:keep])
        X_rows, y_rows = shard_rows(X_local, y_local, mesh)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return X_rows, y_rows, X.shape[0] - keep


# ---------------------------------------------------------------------------
# train and sweep: the run's identity, its folders, resume
# ---------------------------------------------------------------------------

# What makes a train (or sweep) run the same run: a checkpoint written with other
# values cannot be resumed (--steps, --chunk-size and the output options may change).
_RUN_OPTIONS = {"command": "the subcommand", "data": "--data", "loss": "--loss", "optimizer": "--optimizer",
                "lr": "--lr", "reg": "--reg", "lrs": "--lrs", "regs": "--regs",
                "batch_size": "--batch-size (or --full-batch)", "seed": "--seed", "init_scale": "--init-scale",
                "train_data": "training data (fingerprint)"}


class _Run(NamedTuple):
    """What ``train`` and ``sweep`` share once the data are loaded and the folders checked."""

    args: argparse.Namespace
    splits: Any
    mesh: Any  # a jax.sharding.Mesh, or None: one device
    writer: bool  # several processes: only process 0 writes files and prints
    key: Any  # the run's key (minibatches)
    W0: Any  # the initial weights (C, D)
    batch_size: int | None  # None: gradient descent on the whole training set
    run_config: dict  # the run's identity, saved in its checkpoints
    out: Path | None  # --out, on the writing process
    checkpoint_dir: Path | None  # where a checkpoint goes after every chunk (None: only on Ctrl-C)
    interrupt_dir: Path  # where the checkpoint goes on Ctrl-C
    X_train: Any
    y_train: Any
    left_out: int  # several processes: training rows no device holds


def _run_config(args, batch_size, splits) -> dict:
    """The options that make this ``train`` or ``sweep`` run the same run (saved in its checkpoints)."""
    import zlib

    import numpy as np

    X, y = splits.train.X, splits.train.y
    fingerprint = f"{X.shape[0]}x{X.shape[1]}:{zlib.crc32(np.ascontiguousarray(X)):08x}:" \
                  f"{zlib.crc32(np.ascontiguousarray(y)):08x}"
    grid = {"lr": args.lr, "reg": args.reg} if args.command == "train" else {"lrs": args.lrs, "regs": args.regs}
    return {"command": args.command, "data": args.data, "loss": args.loss, "optimizer": args.optimizer, **grid,
            "batch_size": batch_size, "seed": args.seed, "init_scale": args.init_scale, "train_data": fingerprint}


def _saved(value) -> str:
    """A run option as its checkpoint holds it (``1.0``; lists as ``0.1,1``)."""
    return ",".join(f"{v:g}" for v in value) if isinstance(value, list) else str(value)


def _other_run(saved: dict, now: dict) -> str | None:
    """The first option in which a checkpoint's run differs from this one: ``"--lr 1, this command has 0.5"``."""
    for name, value in now.items():
        if saved.get(name) != value:
            return f"{_RUN_OPTIONS[name]} {_saved(saved.get(name))}, this command has {_saved(value)}"
    return None


def _resume_path(args):
    """``--resume PATH`` (a folder or its checkpoint file): ``(folder, file)``; a missing path creates nothing."""
    from .checkpoint import resolve

    try:
        path = resolve(args.resume)
    except FileNotFoundError as err:
        raise UsageError(f"--resume {args.resume}: {err}") from None
    return path.parent, path


def _run_folders(args):
    """``(out, checkpoint_dir, interrupt_dir)``, created and checked writable before any training."""
    from .files import ensure_dir

    out = ensure_dir(args.out) if args.out else None
    if args.checkpoint_dir:
        checkpoint_dir = ensure_dir(args.checkpoint_dir)
    elif args.resume:
        checkpoint_dir = _resume_path(args)[0]
    else:
        checkpoint_dir = None
    default = out / "checkpoint" if out is not None else Path(DEFAULT_CHECKPOINT_DIR)
    return out, checkpoint_dir, checkpoint_dir or default


def _refuse_overwrite(args, folder: Path, run_config: dict) -> None:
    """A checkpoint of another run in ``folder`` is never overwritten silently: exit 2 unless ``--force``."""
    from .checkpoint import CHECKPOINT_FILE, read_checkpoint_config

    path = folder / CHECKPOINT_FILE
    if args.force or not path.is_file() or (args.resume and _resume_path(args)[1].resolve() == path.resolve()):
        return
    try:
        differs = _other_run(read_checkpoint_config(folder), run_config)
    except ValueError as err:  # unreadable: still somebody's file
        differs = f"an unreadable checkpoint ({err})".splitlines()[0]
    if differs:
        raise UsageError(f"{path} holds the checkpoint of another run ({differs}); this run would overwrite it: "
                         f"continue that run with its own options and --resume {folder}, pick another "
                         "--checkpoint-dir (or --out), or pass --force to overwrite it")


def _prepare_run(args, *, one_model: bool) -> _Run:
    """Everything before training: devices, data, batch size, folders, the run's identity."""
    import jax

    from .model import init_weights

    _start_multihost(args)  # several processes: before any other JAX call
    mesh = _cli_mesh(args, one_model=one_model)
    writer = jax.process_index() == 0
    if not one_model and jax.process_count() > 1 and (args.checkpoint_dir or args.resume):
        raise UsageError("--checkpoint-dir/--resume: a sweep over several processes keeps each model's state on "
                         "the host that trains it, and checkpointing that is not supported; run the sweep in one "
                         "process (any number of devices) to checkpoint it")
    splits = _load(args)
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W0 = init_weights(init_key, splits.num_classes, splits.dim, scale=args.init_scale)
    # Gradient descent sees the whole training set each step; minibatch SGD
    # samples batch_size examples (with replacement, the lecture's X.sample(n=256)).
    # A --batch-size above N is cut to N: drawn with replacement, it would
    # repeat examples to no use (and the run is still not the full batch).
    batch_size = None if args.full_batch else min(args.batch_size, splits.train.X.shape[0])
    run_config = _run_config(args, batch_size, splits)
    out, checkpoint_dir, interrupt_dir = _run_folders(args)  # checked now: a run must not fail at its end
    if writer:
        _refuse_overwrite(args, interrupt_dir, run_config)
    X_train, y_train, left_out = _host_rows(splits.train.X, splits.train.y, mesh)
    return _Run(args, splits, mesh, writer, key, W0, batch_size, run_config, out if writer else None,
                checkpoint_dir, interrupt_dir, X_train, y_train, left_out)


def _resume(run: _Run, like):
    """The state and metrics checkpointed at ``--resume``, refused unless they are this command's run."""
    from .checkpoint import load_checkpoint, read_checkpoint_config

    args = run.args
    path = _resume_path(args)[1]
    differs = _other_run(read_checkpoint_config(path), run.run_config)
    if differs:
        raise UsageError(f"--resume {args.resume}: the checkpoint is of a run with {differs}; repeat the "
                         "interrupted command's options (only --steps, --chunk-size, --checkpoint-dir, --out and "
                         "--json may change)")
    saved = load_checkpoint(path, like=like)
    if int(saved.state.step) > args.steps:
        raise UsageError(f"--resume {args.resume}: the checkpoint is at step {int(saved.state.step)}, beyond "
                         f"--steps {args.steps}")
    return saved.state, saved.metrics


# ---------------------------------------------------------------------------
# train and sweep: writing, and the ways a run ends early
# ---------------------------------------------------------------------------


class _WriteFailed(Exception):
    """A checkpoint or result could not be written (an ``OSError``: disk full, permissions, ...)."""


def _write(what: str, path, save, *args, **kwargs):
    """``save(*args, **kwargs)``; an ``OSError`` becomes :class:`_WriteFailed`, one line naming the file and cause."""
    from .files import WriteError

    try:
        return save(*args, **kwargs)
    except OSError as err:
        message = str(err) if isinstance(err, WriteError) else f"could not write {what} {path}: {err.strerror or err}"
        raise _WriteFailed(message.splitlines()[0]) from err


def _checkpoint_hook(run: _Run):
    """``on_chunk``: a checkpoint into the checkpoint folder after every chunk (None: no folder, or not process 0)."""
    from .checkpoint import CHECKPOINT_FILE, save_checkpoint

    if run.checkpoint_dir is None or not run.writer:
        return None

    def write_checkpoint(state, metrics):
        _write("the checkpoint", run.checkpoint_dir / CHECKPOINT_FILE, save_checkpoint, run.checkpoint_dir, state,
               metrics, run.run_config)

    return write_checkpoint


def _write_failed(run: _Run, err: _WriteFailed, folder: Path | None) -> int:
    """One line: what could not be written and why, the last good checkpoint in ``folder`` and how to continue."""
    from .checkpoint import read_checkpoint_config

    try:
        saved = read_checkpoint_config(folder) if folder is not None else {}
    except (OSError, ValueError):  # none there, or not readable
        saved = {}
    if saved and _other_run(saved, run.run_config) is None:
        hint = (f" -- the last good checkpoint (step {saved['step']}) is in {folder}/: free some space and run the "
                f"same command with --resume {folder} to continue")
    else:
        hint = " -- no checkpoint of this run was written" if folder is not None else ""
    print(f"{PREFIX} {err}{hint}", file=sys.stderr)
    return EXIT_WRITE_FAILED


def _save_out(run: _Run, *, params, metrics, summary: dict):
    """``--out``: params.npz, metrics.json, config.json."""
    from .checkpoint import save_run

    if run.out is not None:
        config = {**run.run_config, "steps": run.args.steps, "chunk_size": run.args.chunk_size}
        _write("the results in", run.out, save_run, run.out, params=params, metrics=metrics, config=config,
               summary=summary)


def _interrupted(run: _Run, err, params, metrics) -> int:
    """Ctrl-C: a checkpoint of the last chunk boundary (and the run so far in ``--out``), one line, exit 130."""
    from .checkpoint import CHECKPOINT_FILE, save_checkpoint

    import jax

    args, where = run.args, run.interrupt_dir
    if not run.writer:
        return EXIT_INTERRUPTED
    if not run.args.command == "train" and jax.process_count() > 1:  # each host holds only its own models
        print(f"jaxopt-course: interrupted at step {err.step} of {args.steps}", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        _write("the checkpoint", where / CHECKPOINT_FILE, save_checkpoint, where, err.state, err.metrics,
               run.run_config)
        _save_out(run, params=params, metrics=metrics, summary={"status": "interrupted", "step": err.step})
    except _WriteFailed as failed:
        return _write_failed(run, failed, where)
    print(f"jaxopt-course: interrupted at step {err.step} of {args.steps}; checkpoint written to {where}/ -- "
          f"run the same command with --resume {where} to continue", file=sys.stderr)
    return EXIT_INTERRUPTED


def _diverged(run: _Run, err) -> int:
    """train: the loss turned NaN/Inf: one line in the command's words, the last finite weights in ``--out``."""
    import numpy as np

    loss = np.asarray(err.metrics.loss)[err.step]
    earlier = f" (the last finite loss was {err.last_finite_loss:.6g} at step {err.step - 1})" if err.step else ""
    line = (f"training diverged: the loss is {loss} at step {err.step} of {run.args.steps}{earlier}; the step size "
            "is probably too large -- try a smaller --lr.")
    if run.out is not None:
        _save_out(run, params=err.params, metrics=err.metrics,
                  summary={"status": "diverged", "step": err.step, "last_finite_loss": err.last_finite_loss})
        line += f" Kept the last finite params and the metrics so far in {run.out}/."
    else:
        line += " (--out DIR keeps the last finite weights and the metrics so far.)"
    print(f"{PREFIX} {line}", file=sys.stderr)
    return EXIT_DIVERGED


# ---------------------------------------------------------------------------
# train and sweep: the one path
# ---------------------------------------------------------------------------


class _Kind(NamedTuple):
    """How ``train`` and ``sweep`` differ: four small functions of a :class:`_Run`."""

    one_model: bool  # train: one model (--devices split its minibatch); sweep: a grid (split the models)
    like: Callable  # (run) -> the fresh TrainState a checkpoint must fit
    train: Callable  # (run, init_state, init_metrics, on_chunk) -> the engine's result, on the host
    so_far: Callable  # (run, TrainingInterrupted) -> (params, metrics) to keep in --out
    report: Callable  # (run, output) -> (result, lines, params, metrics), or an exit code


def _run_command(args, kind: _Kind) -> int:
    """``train`` or ``sweep``: prepare, resume, train (in chunks), report, write -- each early end its one line."""
    import numpy as np

    from .train import DivergenceError, Metrics, TrainingInterrupted

    run = _prepare_run(args, one_model=kind.one_model)
    init_state = init_metrics = None
    if args.resume:
        init_state, init_metrics = _resume(run, kind.like(run))
    first = 0 if init_state is None else int(init_state.step)
    start = time.perf_counter()
    try:
        output = kind.train(run, init_state, init_metrics, _checkpoint_hook(run))
        seconds = time.perf_counter() - start
        reported = kind.report(run, output)
        if isinstance(reported, int):
            return reported
        result, lines, params, losses = reported
        result.update(_timing(result, lines, seconds, first, args.steps))
        if not run.writer:
            return 0
        _emit(args, result, lines)  # first: printed even when --out cannot be written
        _save_out(run, params=params, metrics=Metrics(losses, np.full_like(losses, np.nan)),
                  summary={"status": "completed", "step": args.steps, **result})
    except DivergenceError as err:
        return _diverged(run, err)
    except TrainingInterrupted as err:
        return _interrupted(run, err, *kind.so_far(run, err))
    except _WriteFailed as err:
        return _write_failed(run, err, run.checkpoint_dir)
    return 0


def _timing(result: dict, lines: list[str], seconds: float, first: int, steps: int) -> dict:
    """``seconds`` (and the table's first line) say which steps they timed: a resumed run times only its own."""
    if first:
        lines[0] += f" ({seconds:.1f} s for steps {first + 1}-{steps}, resumed from step {first})"
        return {"seconds": seconds, "resumed_from_step": first, "timed_steps": steps - first}
    lines[0] += f" ({seconds:.1f} s)"
    return {"seconds": seconds, "timed_steps": steps}


def _common_result(run: _Run) -> dict:
    from .distributed import describe

    result = describe(run.mesh)
    if run.left_out:
        result["train_examples_left_out"] = run.left_out
    return _with_recipe(run.args, result)


# --- train -------------------------------------------------------------------


def _train_like(run: _Run):
    """The state ``fit`` starts from (the engine builds it): what a checkpoint to resume must fit."""
    from .train import get_optimizer, initial_state

    return initial_state(get_optimizer(run.args.optimizer, run.args.lr), run.W0, run.key, batch_size=run.batch_size,
                         num_examples=run.X_train.shape[0], mesh=run.mesh)


def _train_train(run: _Run, init_state, init_metrics, on_chunk):
    from functools import partial

    import numpy as np

    from .losses import get_loss
    from .train import fit, get_optimizer

    args = run.args
    loss_fn = partial(get_loss(args.loss), reg=args.reg)
    fitted = fit(loss_fn, get_optimizer(args.optimizer, args.lr), run.W0, run.X_train, run.y_train, key=run.key,
                 batch_size=run.batch_size, num_steps=args.steps,
                 chunk_size=args.chunk_size, init_state=init_state, init_metrics=init_metrics, on_chunk=on_chunk,
                 mesh=run.mesh)
    W = np.asarray(fitted.params)  # replicated over a mesh: one host copy
    return W, np.asarray(fitted.losses), float(loss_fn(W, run.splits.train.X, run.splits.train.y))


def _train_so_far(run: _Run, err):
    return err.state.params, err.metrics


def _train_report(run: _Run, output):
    from .train import evaluate

    args = run.args
    W, losses, final_loss = output
    accuracies = evaluate(W, run.splits)
    method = "gradient descent (full batch)" if run.batch_size is None else f"SGD steps of batch {run.batch_size}"
    result = {"data": args.data, "loss": args.loss, "optimizer": args.optimizer, "lr": args.lr, "reg": args.reg,
              "batch_size": run.batch_size, "steps": args.steps, "seed": args.seed,
              "train_accuracy": accuracies["train"], "val_accuracy": accuracies["val"],
              "test_accuracy": accuracies["test"], "final_loss": final_loss, **_common_result(run)}
    lines = [f"{args.loss} classifier on {args.data}: {args.steps} {method}, {args.optimizer} lr {args.lr:g}, "
             f"reg {args.reg:g}{_mesh_words(run.mesh)}",
             f"  final loss      {final_loss:.4f}",
             f"  train accuracy  {result['train_accuracy']:.2%}",
             f"  val accuracy    {result['val_accuracy']:.2%}",
             f"  test accuracy   {result['test_accuracy']:.2%}"]
    return result, lines, W, losses


TRAIN = _Kind(True, _train_like, _train_train, _train_so_far, _train_report)


def _cmd_train(args):
    return _run_command(args, TRAIN)


# --- sweep -------------------------------------------------------------------


def _sweep_like(run: _Run):
    """The state of the sweep's models before step 0 (the engine builds it): what a checkpoint must fit."""
    from functools import partial

    from .train import get_optimizer, initial_sweep_state

    args = run.args
    return initial_sweep_state(partial(get_optimizer, args.optimizer), run.W0, run.key, learning_rates=args.lrs,
                               regs=args.regs, batch_size=run.batch_size, num_examples=run.X_train.shape[0],
                               mesh=run.mesh)


def _sweep_train(run: _Run, init_state, init_metrics, on_chunk):
    from functools import partial

    import jax
    import numpy as np

    from .losses import get_loss
    from .train import get_optimizer, sweep

    args = run.args
    grid = sweep(get_loss(args.loss), partial(get_optimizer, args.optimizer), run.W0, run.X_train, run.y_train,
                 key=run.key, learning_rates=args.lrs, regs=args.regs, batch_size=run.batch_size,
                 num_steps=args.steps, X_val=run.splits.val.X, y_val=run.splits.val.y, chunk_size=args.chunk_size,
                 init_state=init_state, init_metrics=init_metrics, on_chunk=on_chunk, mesh=run.mesh)
    jax.block_until_ready(grid.params)
    return grid._replace(params=np.asarray(grid.params))  # replicated over a mesh: one host copy


def _sweep_so_far(run: _Run, err):
    """The M = L * R models so far, as an lr x reg grid."""
    import numpy as np

    from .train import Metrics

    L, R = len(run.args.lrs), len(run.args.regs)
    params = np.asarray(err.state.params).reshape((L, R) + run.W0.shape)
    return params, Metrics(*(np.asarray(m).reshape(L, R, err.step) for m in err.metrics))


def _sweep_report(run: _Run, grid):
    import numpy as np

    from .train import evaluate

    args = run.args
    diverged = ~np.all(np.isfinite(grid.losses), axis=2)
    val = np.where(diverged, np.nan, grid.val_accuracy)
    if np.all(np.isnan(val)):
        _save_out(run, params=grid.params, metrics=_losses_only(grid.losses),
                  summary={"status": "diverged", "step": args.steps})
        print(f"{PREFIX} every model of the sweep diverged; try smaller --lrs", file=sys.stderr)
        return EXIT_DIVERGED
    i, j = np.unravel_index(int(np.nanargmax(val)), val.shape)
    accuracies = evaluate(grid.params[i, j], run.splits)
    result = {"data": args.data, "loss": args.loss, "optimizer": args.optimizer, "learning_rates": args.lrs,
              "regs": args.regs, "steps": args.steps, "batch_size": run.batch_size, "seed": args.seed,
              "val_accuracy": [[None if np.isnan(v) else float(v) for v in row] for row in val],
              "diverged": diverged.tolist(),
              "best": {"lr": args.lrs[i], "reg": args.regs[j], "train_accuracy": accuracies["train"],
                       "val_accuracy": accuracies["val"], "test_accuracy": accuracies["test"]},
              **_common_result(run)}
    return result, _sweep_table(run, val, diverged, result["best"]), grid.params, grid.losses


def _losses_only(losses):
    import numpy as np

    from .train import Metrics

    return Metrics(losses, np.full_like(losses, np.nan))


def _sweep_table(run: _Run, val, diverged, best) -> list[str]:
    args = run.args
    width = max(8, *(len(f"{r:g}") + 1 for r in args.regs))
    lines = [f"{len(args.lrs) * len(args.regs)} {args.loss} classifiers on {args.data}, {args.optimizer}, "
             f"{args.steps} steps, trained at once, vmapped{_mesh_words(run.mesh)}: validation accuracy",
             "  " + "lr / reg".rjust(10) + "".join(f"{r:g}".rjust(width) for r in args.regs)]
    for a, lr in enumerate(args.lrs):
        cells = ["diverged" if diverged[a, b] else f"{100 * val[a, b]:.1f}%" for b in range(len(args.regs))]
        lines.append("  " + f"{lr:g}".rjust(10) + "".join(cell.rjust(width) for cell in cells))
    lines.append(f"  best: lr {best['lr']:g}, reg {best['reg']:g} -- val {best['val_accuracy']:.2%}, "
                 f"test {best['test_accuracy']:.2%}")
    return lines


SWEEP = _Kind(False, _sweep_like, _sweep_train, _sweep_so_far, _sweep_report)


def _cmd_sweep(args):
    return _run_command(args, SWEEP)


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------


def _cmd_search(args):
    if args.method == "grid":
        return _search_grid(args)
    import jax
    import jax.numpy as jnp

    from .losses import get_loss
    from .search import random_local_search, random_search
    from .train import evaluate

    splits = _load(args)
    start = time.perf_counter()
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    loss = get_loss(args.loss)

    def loss_fn(W):
        return loss(W, X, y, reg=args.reg)

    shape, key = (splits.num_classes, splits.dim), jax.random.key(args.seed)
    if args.method == "random":
        found = random_search(loss_fn, key, shape, trials=args.trials, scale=args.scale)
        what = f"random search: {args.trials} random W = {args.scale:g} * randn{shape}"
    else:
        init_key, key = jax.random.split(key)
        W0 = args.scale * jax.random.normal(init_key, shape)
        found = random_local_search(loss_fn, key, W0, steps=args.trials, step_size=args.step_size)
        what = (f"random local search: {args.trials} tries of steps {args.step_size:g} * randn{shape} "
                f"from W0 = {args.scale:g} * randn")
    accuracies = evaluate(found.params, splits)
    seconds = time.perf_counter() - start
    result = _with_recipe(args, {
        "method": args.method, "data": args.data, "loss": args.loss, "reg": args.reg, "evaluations": args.trials,
        "scale": args.scale, "step_size": args.step_size if args.method == "local" else None, "seed": args.seed,
        "best_loss": float(found.loss), "train_accuracy": accuracies["train"], "val_accuracy": accuracies["val"],
        "test_accuracy": accuracies["test"], "seconds": seconds})
    _emit(args, result, [
        f"{what} on {args.data}, {args.loss} loss ({seconds:.1f} s)",
        f"  best loss       {result['best_loss']:.4f}",
        f"  train accuracy  {result['train_accuracy']:.2%}",
        f"  val accuracy    {result['val_accuracy']:.2%}",
        f"  test accuracy   {result['test_accuracy']:.2%}",
    ])
    return 0


def _search_grid(args):
    import jax.numpy as jnp

    from .search import grid_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost

    low, high = TEA_TEMPERATURE_RANGE
    start = time.perf_counter()
    found = grid_search(get_tea_cost(args.toy), jnp.linspace(low, high, args.points))
    seconds = time.perf_counter() - start
    result = {"method": "grid", "toy": args.toy, "evaluations": args.points,
              "best_temperature": float(found.params), "best_loss": float(found.loss), "seconds": seconds}
    _emit(args, result, [
        f"exhaustive search over {args.points} tea temperatures in [{low:g}, {high:g}] C "
        f"({args.toy} toy, {seconds:.2f} s)",
        f"  best temperature  {result['best_temperature']:.2f} C",
        f"  its cost          {result['best_loss']:.4f}",
    ])
    return 0


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------

#: gradcheck's finite-difference step when --h is not given: the lecture's
#: h = 1e-4 in float64 (on digits the best of 1e-6..1e-3 for softmax; the SVM,
#: piecewise linear, would take larger); in float32 the loss is known only to
#: about 1e-7 of itself, so a slope needs a larger step to rise above round-off.
GRADCHECK_H = {"float64": 1e-4, "float32": 1e-2}


def _cmd_gradcheck(args):
    import contextlib

    import jax

    splits = _load(args)
    # CIFAR-10: CS231n's 500-image dev set; digits (no dev set): the training split.
    split, split_name = (splits.dev, "dev") if splits.dev is not None else (splits.train, "train")
    if args.h is None:
        args.h = GRADCHECK_H[args.dtype]
    x64 = jax.enable_x64(True) if args.dtype == "float64" else contextlib.nullcontext()
    start = time.perf_counter()
    with x64:
        report, autodiff_vs_hand, W_shape = _gradcheck(args, splits, split)
    seconds = time.perf_counter() - start
    result = _with_recipe(args, {
        "data": args.data, "split": split_name, "num_examples": int(split.X.shape[0]), "loss": args.loss,
        "reg": args.reg, "init_scale": args.init_scale, "seed": args.seed,
        "jax_grad_vs_hand_max_relative_error": autodiff_vs_hand, **report.to_dict(), "seconds": seconds})
    _emit(args, result, [
        f"{args.loss} loss on {args.data} ({split_name}: {split.X.shape[0]} examples), W = {args.init_scale:g} * "
        f"randn{W_shape}, reg {args.reg:g}: numerical vs hand-derived gradient ({seconds:.1f} s)",
        str(report),
        f"  jax.grad vs hand-derived: max relative error {autodiff_vs_hand:.2e}",
    ])
    return 0


def _gradcheck(args, splits, split):
    """The check itself, in ``--dtype``: ``(report, max relative error of jax.grad vs by hand, W's shape)``."""
    import jax
    import jax.numpy as jnp

    from .analytic import LOSS_AND_GRAD
    from .gradcheck import check_gradient, relative_error, svm_kink_crossings
    from .losses import get_loss

    X, y = jnp.asarray(split.X, dtype=args.dtype), jnp.asarray(split.y)
    W = args.init_scale * jax.random.normal(jax.random.key(args.seed), (splits.num_classes, splits.dim),
                                            dtype=args.dtype)
    loss = get_loss(args.loss)

    def loss_fn(W):
        return loss(W, X, y, reg=args.reg)

    _, hand_dW = LOSS_AND_GRAD[args.loss](W, X, y, reg=args.reg)
    autodiff_vs_hand = float(jnp.max(relative_error(jax.grad(loss_fn)(W), hand_dW)))
    kinks = svm_kink_crossings(W, X, y, h=args.h) if args.loss == "svm" else None
    report = check_gradient(loss_fn, W, hand_dW, num_checks=args.num_checks, h=args.h, method=args.method,
                            key=jax.random.key(args.seed + 1), kinks=kinks)
    return report, autodiff_vs_hand, tuple(W.shape)


# ---------------------------------------------------------------------------
# tea, lecture
# ---------------------------------------------------------------------------


def _cmd_tea(args):
    import jax.numpy as jnp

    from .search import grid_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost, gradient_descent_1d

    f = get_tea_cost(args.toy)
    low, high = TEA_TEMPERATURE_RANGE
    start = time.perf_counter()
    found = grid_search(f, jnp.linspace(low, high, args.points))
    temperatures, costs = gradient_descent_1d(f, args.start, step_size=args.step_size, steps=args.steps)
    seconds = time.perf_counter() - start
    result = {
        "toy": args.toy,
        "exhaustive": {"evaluations": args.points, "best_temperature": float(found.params),
                       "best_cost": float(found.loss)},
        "gradient_descent": {"start": args.start, "step_size": args.step_size, "steps": args.steps,
                             "final_temperature": float(temperatures[-1]), "final_cost": float(costs[-1])},
        "seconds": seconds,
    }
    ex, gd = result["exhaustive"], result["gradient_descent"]
    _emit(args, result, [
        f"tea temperature, {args.toy} cost ({seconds:.2f} s)",
        f"  exhaustive search, {args.points} tastings over [{low:g}, {high:g}] C: best {ex['best_temperature']:.2f} C, "
        f"cost {round(ex['best_cost'], 4) + 0.0:.4f}",
        f"  gradient descent from {args.start:g} C, {args.steps} steps of {args.step_size:g} x slope: ends at "
        f"{gd['final_temperature']:.2f} C, cost {round(gd['final_cost'], 4) + 0.0:.4f}",
    ])
    return 0


def _cmd_lecture(args):
    from .files import ensure_dir

    from .experiments import lecture
    names = [name for name, _, _ in lecture.SECTIONS]
    unknown = [w for w in (args.only or "").split(",") if w.strip() and w.strip() not in names]
    if unknown:
        raise UsageError(f"--only got unknown experiment(s) {unknown}; choose from {names}")
    ensure_dir(args.out)
    splits = _load(args)
    argv = ["--data", args.data, "--out", args.out, "--seed", str(args.seed), "--progress", args.progress]
    argv += ["--data-dir", args.data_dir] if args.data_dir else []
    argv += ["--quick"] if args.quick else []
    argv += ["--only", args.only] if args.only else []
    lecture_args = lecture.build_parser().parse_args(argv)
    lecture_args.prog = "jaxopt-course"  # the experiments' one-line errors start with it
    run = lecture.run(lecture_args, splits=splits)
    items = run["items"]
    result = {
        "report": str(run["report"]), "data": args.data, "quick": args.quick, "seconds": run["metrics"]["seconds"],
        "experiments": [item["name"] for item in items],
        "summaries": {item["name"]: item["summary"] for item in items},
        "figures": {item["name"]: [str(f) for f in item["figures"]] for item in items},
    }
    lines = [f"the lecture on {args.data}{' (quick)' if args.quick else ''}: {len(items)} experiments in "
             f"{result['seconds']:.0f} s"]
    lines += [f"  {item['name']:<16} {item['seconds']:6.1f} s  {', '.join(f.name for f in item['figures'])}"
              for item in items]
    lines.append(f"report: {run['report']}")
    _emit(args, result, lines)
    return 0


# ---------------------------------------------------------------------------
# compare: experiments/compare.py's code, from the command line
# ---------------------------------------------------------------------------


def _compare_argv(args) -> list[str]:
    """The experiment's own arguments for this command's options (unknown optimizers refused)."""
    from .train import OPTIMIZER_NAMES

    if args.optimizers:
        unknown = [w.strip() for w in args.optimizers.split(",") if w.strip() and w.strip() not in OPTIMIZER_NAMES]
        if unknown:
            raise UsageError(f"--optimizers got unknown name(s) {unknown}; choose from {list(OPTIMIZER_NAMES)}")
    argv = ["--data", args.data, "--out", args.out, "--seed", str(args.seed), "--select", args.select]
    argv += ["--data-dir", args.data_dir] if args.data_dir else []
    argv += ["--quick"] if args.quick else []
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--num-lrs", args.num_lrs),
                        ("--optimizers", args.optimizers)):
        argv += [flag, str(value)] if value is not None else []
    return argv


def _cmd_compare(args):
    from .files import ensure_dir, to_jsonable

    from .experiments import compare as experiment
    argv = _compare_argv(args)
    ensure_dir(args.out)
    splits = _load(args)
    experiment_args = experiment.build_parser().parse_args(argv)
    experiment_args.prog = "jaxopt-course"  # the experiment's one-line errors start with it
    item = experiment.run(experiment_args, splits=splits)
    metrics = item["metrics"]
    keep = ("optimizer", "lr", "val_accuracy", "test_accuracy", "final_gap", "steps_to_target", "diverged_by_lr")
    result = {"dir": str(item["dir"]), "figures": [str(f) for f in item["figures"]], "summary": item["summary"],
              "config": item["config"], "optimum": metrics["optimum"], "ranking": metrics["ranking"],
              "runs": [{k: r[k] for k in keep if k in r} for r in metrics["runs"]], "seconds": metrics["seconds"]}
    lines = [item["table"], "", item["summary"],
             f"wrote {item['dir']}/config.json, metrics.json, " + ", ".join(f.name for f in item["figures"])]
    _emit(args, to_jsonable(result), lines)
    return 0


# ---------------------------------------------------------------------------
# The parser: one _Command row per subcommand
# ---------------------------------------------------------------------------


def _add_data_args(p):
    from .data import DATASETS

    p.add_argument("--data", choices=DATASETS, default="digits",
                   help="the data set: digits (bundled with scikit-learn, offline) or cifar10; the defaults of "
                        "the options marked 'on digits / on cifar10' follow it")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the folder holding cifar-10-batches-py/ (for --data cifar10; default $JAXOPT_COURSE_CIFAR10)")
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 into --data-dir if it is not there (MD5-checked)")


def _add_json_arg(p):
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _add_model_args(p, command: str):
    """train's and sweep's loss, optimizer, batch, steps, init and seed."""
    from .train import OPTIMIZER_NAMES

    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax",
                   help="the data loss: softmax cross-entropy or multiclass SVM (hinge)")
    p.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="sgd",
                   help="the update rule (sgd: W <- W - lr * dW, the lecture's)")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help=f"examples per SGD step ({_by_data(command, 'batch_size')})")
    p.add_argument("--full-batch", action="store_true",
                   help="gradient descent: use the whole training set every step (ignores --batch-size)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help=f"number of SGD steps, maxIterations ({_by_data(command, 'steps')})")
    p.add_argument("--init-scale", type=_nonnegative_float, default=None,
                   help=f"initial W = init_scale * randn(C, D) ({_by_data(command, 'init_scale')})")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial W and minibatches)")


def _add_run_safety_args(p):
    """train's and sweep's --chunk-size, --checkpoint-dir, --resume, --force and --out."""
    p.add_argument("--chunk-size", type=_positive_int, default=1000,
                   help="steps per compiled chunk; progress, checkpoints (and train's divergence check) happen "
                        "between chunks (it never changes the result)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write a checkpoint (params, optimizer state, key, step, metrics) to DIR after every "
                        "chunk and on Ctrl-C (default on Ctrl-C: OUT/checkpoint with --out, else "
                        f"./{DEFAULT_CHECKPOINT_DIR})")
    p.add_argument("--resume", default=None, metavar="PATH",
                   help="continue the run checkpointed at PATH, a folder or its checkpoint.npz (give the same "
                        "options; --steps may grow; new checkpoints go to that folder unless --checkpoint-dir says "
                        "otherwise); the result equals an uninterrupted run's bit for bit")
    p.add_argument("--force", action="store_true",
                   help="overwrite a checkpoint of another run in the checkpoint folder (refused otherwise)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write params.npz, metrics.json (losses per step, status) and config.json to DIR -- also "
                        "when the run diverges (train: the last finite params) or is interrupted")


def _add_mesh_args(p, *, devices_split: str):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--devices", type=_positive_int, default=None, metavar="N",
                       help=f"run on the first N devices JAX sees, {devices_split} (on a CPU, "
                            "XLA_FLAGS=--xla_force_host_platform_device_count=N splits it into N devices)")
    group.add_argument("--mesh", type=_mesh_sizes, default=None, metavar="data=D,model=M",
                       help="the device mesh: D devices split every minibatch, M devices split a sweep's models "
                            "(an axis left out has size 1)")
    p.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                   help="several machines: process 0's address (or $JAX_COORDINATOR_ADDRESS); every process runs "
                        "the same command with --num-processes and its own --process-id, and keeps only its share "
                        "of the training rows")
    p.add_argument("--num-processes", type=_positive_int, default=None, metavar="P",
                   help="several machines: how many processes take part (or $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="several machines: this process's number, 0 .. P-1 (or $JAX_PROCESS_ID)")


def _add_train_args(p):
    _add_data_args(p)
    p.add_argument("--lr", type=_positive_float, default=None,
                   help=f"the step size, learning rate ({_by_data('train', 'lr')})")
    p.add_argument("--reg", type=_nonnegative_float, default=None,
                   help=f"regularization strength lambda ({_by_data('train', 'reg')})")
    _add_model_args(p, "train")
    _add_run_safety_args(p)
    _add_mesh_args(p, devices_split="each minibatch split N ways (the same run up to float32 rounding)")
    _add_json_arg(p)


def _add_sweep_args(p):
    _add_data_args(p)
    p.add_argument("--lrs", type=_float_list(positive=True), default=None,
                   help=f"comma-separated learning rates, e.g. 1e-7,5e-7 ({_by_data('sweep', 'lrs')})")
    p.add_argument("--regs", type=_float_list(positive=False), default=None,
                   help=f"comma-separated regularization strengths, e.g. 2.5e4,5e4 ({_by_data('sweep', 'regs')})")
    _add_model_args(p, "sweep")
    _add_run_safety_args(p)
    _add_mesh_args(p, devices_split="the models split N ways (--mesh data=D,model=M splits each minibatch too)")
    _add_json_arg(p)


def _add_toy_args(p, what: str):
    p.add_argument("--toy", choices=["smooth", "local_minima", "wiggly"], default="smooth",
                   help=f"the tea-temperature cost{what}: smooth (one minimum), local_minima (iced tea, a forgotten "
                        "cup) or wiggly")
    p.add_argument("--points", type=_positive_int, default=101, help="exhaustive search: grid points over 0..100 C")


def _add_search_args(p):
    p.add_argument("--method", choices=["grid", "random", "local"], default="random",
                   help="grid (tea toy), random or local (on the data)")
    _add_toy_args(p, " for --method grid")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm",
                   help="the loss to minimize over the training set")
    p.add_argument("--reg", type=_nonnegative_float, default=0.0, help="regularization strength lambda")
    p.add_argument("--trials", type=_positive_int, default=1000,
                   help="loss evaluations: random W to draw, or local steps to try")
    p.add_argument("--scale", type=_nonnegative_float, default=None,
                   help=f"std of the random W (random) or of W0 (local) ({_by_data('search', 'scale')})")
    p.add_argument("--step-size", type=_positive_float, default=None,
                   help=f"std of a local step ({_by_data('search', 'step_size')})")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _add_json_arg(p)


def _add_gradcheck_args(p):
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm", help="the loss whose gradient to check")
    p.add_argument("--method", choices=["forward", "central"], default="central",
                   help="forward (the lecture's formula) or central differences (the better one)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="float64: a tight check (float32 round-off, eps * |L| / h, hides slopes below ~1e-6 / h)")
    p.add_argument("--h", type=_positive_float, default=None,
                   help="the finite-difference step (default: " + ", ".join(
                       f"{h:g} in {dtype}" for dtype, h in GRADCHECK_H.items()) + ")")
    p.add_argument("--reg", type=_nonnegative_float, default=0.0, help="regularization strength lambda")
    p.add_argument("--num-checks", type=_positive_int, default=None,
                   help="check this many random weights, CS231n's grad_check_sparse "
                        f"({_by_data('gradcheck', 'num_checks')})")
    p.add_argument("--init-scale", type=_nonnegative_float, default=1e-4, help="W = init_scale * randn(C, D)")
    p.add_argument("--seed", type=int, default=0, help="random seed (W and the checked weights)")
    _add_json_arg(p)


def _add_tea_args(p):
    _add_toy_args(p, "")
    p.add_argument("--start", type=float, default=20.0, help="gradient descent: the starting temperature (C)")
    p.add_argument("--step-size", type=_positive_float, default=5.0, help="gradient descent: the step size")
    p.add_argument("--steps", type=_positive_int, default=500, help="gradient descent: the number of steps")
    _add_json_arg(p)


def _add_lecture_args(p):
    _add_data_args(p)
    p.add_argument("--quick", action="store_true", help="small budgets: a smoke test")
    p.add_argument("--out", default="results", help="the results folder")
    p.add_argument("--only", default=None, help="comma-separated experiments to run (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                   help="the progress bar on stderr (auto: when stderr is a terminal)")
    _add_json_arg(p)


def _add_compare_args(p):
    _add_data_args(p)
    p.add_argument("--quick", action="store_true", help="small budgets: 4 lrs x 2 seeds x 100 steps, a smoke test")
    p.add_argument("--seeds", type=_positive_int, default=None, help="seeds per learning rate (default 5)")
    p.add_argument("--steps", type=_positive_int, default=None, help="steps per model (default 1000)")
    p.add_argument("--num-lrs", type=_positive_int, default=None,
                   help="learning rates per optimizer, one shared log grid (default 8)")
    p.add_argument("--select", choices=["val_accuracy", "train_loss"], default="val_accuracy",
                   help="choose each optimizer's lr by mean validation accuracy or mean final training loss")
    p.add_argument("--optimizers", default=None, help="comma-separated optimizer names (default: all)")
    p.add_argument("--out", default="results", help="the results folder (writes <out>/compare/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (W0 and the minibatch key)")
    _add_json_arg(p)


class _Command(NamedTuple):
    """One subcommand: its name, one-line help, description, options and the function that runs it."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS = (
    _Command("train", "train a linear classifier with minibatch SGD",
             "Train a linear classifier (scores W x) by minibatch stochastic gradient descent: sample "
             "--batch-size examples, step against the gradient, repeat. On --data cifar10 the defaults are "
             "CS231n's recipe (lr 1e-7, reg 2.5e4, batch 200, 1500 steps, init 1e-3).",
             _add_train_args, _cmd_train),
    _Command("search", "optimize without gradients: grid, random or random local search",
             "The lecture's first strategies. grid: exhaustive search over the tea-temperature toy; random: keep "
             "the best of --trials random W; local: perturb W by --step-size * randn, keep it if the loss drops.",
             _add_search_args, _cmd_search),
    _Command("gradcheck", "check the analytic gradient against finite differences",
             "The lecture's numerical gradient, (L(W + h e_k) - L(W)) / h for every weight (or the central "
             "difference), against the hand-derived gradient: relative error |a - b| / max(|a|, |b|) (the CS231n "
             "notes'; its assignment code divides by |a| + |b|, half as large near a match), the worst "
             "coordinates and a verdict with CS231n's thresholds (> 1e-2 probably wrong, < 1e-7 good; kinks "
             "explained). CIFAR-10 uses its 500-image dev set.",
             _add_gradcheck_args, _cmd_gradcheck),
    _Command("sweep", "train a learning rate x regularization grid in one vmapped call",
             "CS231n's tuning step: train one linear classifier per (learning rate, regularization strength) "
             "pair -- all of them at once, one vmapped call, the same minibatches for every model -- and keep "
             "the best on the validation set; report its test accuracy.",
             _add_sweep_args, _cmd_sweep),
    _Command("tea", "exhaustive search vs gradient descent on the tea-temperature toy",
             "The lecture's one-parameter problem: the best temperature for a cup of tea. Exhaustive search "
             "tastes every temperature of a grid; gradient descent starts at --start and steps downhill, "
             "t <- t - step_size * slope. Try --toy local_minima or wiggly to see gradient descent get stuck.",
             _add_tea_args, _cmd_tea),
    _Command("compare", "compare optax optimizers over seeds, with spreads and the gap to the optimum",
             "Every optimizer on the same budget -- the same log grid of learning rates, steps, batch size and "
             "seeds -- each lr x seed grid in one vmapped call; the lr chosen by mean validation accuracy. "
             "Reports validation and test accuracy as mean, sd and 95 % t interval over seeds beside the test "
             "set's own standard error, the gap f(W_t) - f* to the exact softmax optimum (Newton-CG, float64), "
             "which pairs the intervals can tell apart, and writes <out>/compare/ with its figures. Runs "
             "experiments/compare.py's code (needs a source checkout).",
             _add_compare_args, _cmd_compare),
    _Command("lecture", "run the whole lecture and write results/lecture/report.md",
             "The main job: every experiment of the optimization lecture in its order -- the loss landscape, "
             "random search, exhaustive search vs gradient descent, the numerical vs analytic gradient, batch "
             "sizes and SGD, optax optimizers, the lr x reg sweep, the learned templates -- writing each one's "
             "results and figures under --out and a report with every table and figure. Needs the experiments/ "
             "folder of a source checkout (it imports experiments/*.py by their file paths).",
             _add_lecture_args, _cmd_lecture),
)

EPILOG = ("Start-up: JAX's persistent compilation cache is on, in $XDG_CACHE_HOME/jaxopt-course/jax "
          "(~/.cache/jaxopt-course/jax; $JAX_COMPILATION_CACHE_DIR wins if set), so a repeated command skips "
          "most compiling; JAXOPT_COURSE_NO_CACHE=1 turns it off. Exit codes: 0 done, 1 diverged, 2 bad "
          f"arguments or data, {EXIT_WRITE_FAILED} a checkpoint or result could not be written (disk full...), "
          "130 interrupted (Ctrl-C).")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; ``only="train"`` adds only that subcommand's options (``only=""``: none of them).

    :func:`main` passes the subcommand it runs, so that building the parser
    imports nothing the command does not use.
    """
    parser = _Parser(prog="jaxopt-course", formatter_class=_HelpFormatter, epilog=EPILOG, description=(
        "How linear classifiers are optimized: the CS231n optimization lecture in JAX. "
        "Run jaxopt-course COMMAND --help for a command's options and their defaults."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description, epilog=EPILOG,
                           formatter_class=_HelpFormatter)
        if only is None or only == command.name:
            command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with only its subcommand's options built; fill the data-set defaults (``args.recipe``)."""
    names = {command.name for command in COMMANDS}
    args = build_parser(only=argv[0] if argv[0] in names else "").parse_args(argv)
    args.recipe = _apply_recipe(args)
    return args


def main(argv=None) -> int:
    """``jaxopt-course ...``: run one subcommand; return its exit code."""
    from .cache import enable_compilation_cache

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:  # bare `jaxopt-course`: what there is to run
        build_parser(only="").print_help()
        return 0
    enable_compilation_cache()
    try:
        args = _parse(argv)
        return args.func(args)
    except UsageError as err:
        print(f"{PREFIX} {err}", file=sys.stderr)
        return EXIT_USAGE
    except _WriteFailed as err:
        print(f"{PREFIX} {err}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    except (ValueError, TypeError, OSError, ConnectionError) as err:
        print(f"{PREFIX} {err}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a training loop: nothing to save
        print("jaxopt-course: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
