"""The ``jaxopt-course`` command (also ``python -m jaxopt_course``).

Every subcommand prints a short human table, or one JSON object with
``--json``. Bad arguments end with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's API
        raise UsageError(f"{self.prog}: error: {message}")


def _add_data_args(p):
    p.add_argument("--data", choices=["digits", "cifar10"], default="digits",
                   help="the data set: digits (bundled with scikit-learn, offline; default) or cifar10")
    p.add_argument("--data-dir", default=None,
                   help="the folder holding cifar-10-batches-py/ (for --data cifar10)")
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 into --data-dir if it is not there (MD5-checked)")


def _load(args):
    from .data import load_cifar10, load_digits

    if args.data == "digits":
        return load_digits()
    if args.data_dir is None:
        raise UsageError("--data cifar10 needs --data-dir DIR, the folder that holds cifar-10-batches-py/")
    return load_cifar10(args.data_dir, download=args.download)


def _emit(args, result: dict, lines: list[str]):
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(lines))


# ---------------------------------------------------------------------------
# More than one device or machine (train and sweep)
# ---------------------------------------------------------------------------


def _mesh_sizes(text):
    """argparse type: ``"data=2,model=4"`` -> ``{"data": 2, "model": 4}``."""
    from .distributed import parse_mesh

    try:
        return parse_mesh(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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


def _start_multihost(args):
    """--coordinator-address/--num-processes/--process-id (or $JAX_*): jax.distributed, before any JAX call."""
    from .distributed import initialize_multihost

    try:
        initialize_multihost(args.coordinator_address, args.num_processes, args.process_id)
    except ValueError as err:
        raise UsageError(f"jaxopt-course: error: {err}") from None


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
            raise UsageError(f"jaxopt-course: error: {flag}: train trains one model, so there are no models to "
                             "split: split its minibatch with data=N (sweep splits models)")
        sizes = {"data": args.mesh.get("data", 1), "model": args.mesh.get("model", 1)}
    else:
        flag = f"--devices {args.devices}" if args.devices is not None else "all devices"
        count = args.devices if args.devices is not None else jax.device_count()
        sizes = {"data": count, "model": 1} if one_model else {"data": 1, "model": count}
    try:
        return make_mesh(**sizes)
    except ValueError as err:
        raise UsageError(f"jaxopt-course: error: {flag}: {err}") from None


def _mesh_report(mesh) -> dict:
    from .distributed import describe

    return describe(mesh)


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
        raise UsageError(f"jaxopt-course: error: {err}") from None
    return X_rows, y_rows, X.shape[0] - keep


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------


EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for Ctrl-C
DEFAULT_CHECKPOINT_DIR = "jaxopt-course-checkpoint"

# What makes a train (or sweep) run the same run: a checkpoint written with other
# values cannot be resumed (--steps, --chunk-size and the output options may change).
_RUN_OPTIONS = {"command": "the subcommand", "data": "--data", "loss": "--loss", "optimizer": "--optimizer",
                "lr": "--lr", "reg": "--reg", "lrs": "--lrs", "regs": "--regs",
                "batch_size": "--batch-size (or --full-batch)", "seed": "--seed", "init_scale": "--init-scale",
                "train_data": "training data (fingerprint)"}


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


def _shown(value) -> str:
    return ",".join(f"{v:g}" for v in value) if isinstance(value, list) else str(value)


def _check_same_run(saved: dict, now: dict, args) -> None:
    """``--resume DIR`` continues the run saved there, so its options must be that run's."""
    for name, value in now.items():
        if saved.get(name) != value:
            raise UsageError(
                f"jaxopt-course: error: --resume {args.resume}: the checkpoint is of a run with {_RUN_OPTIONS[name]} "
                f"{_shown(saved.get(name))}, this command has {_shown(value)}; repeat the interrupted command's "
                "options (only --steps, --chunk-size, --checkpoint-dir, --out and --json may change)")


def _run_folders(args):
    """``--out`` and the checkpoint folder (``--checkpoint-dir``, else ``--resume``), checked before any training."""
    from .files import ensure_dir

    out = ensure_dir(args.out) if args.out else None
    checkpoint_dir = args.checkpoint_dir or args.resume
    if checkpoint_dir:
        ensure_dir(checkpoint_dir)
    return out, checkpoint_dir


def _resume(args, like, run_config):
    """The state and metrics checkpointed in ``--resume DIR``, refused unless they are this command's run."""
    from .checkpoint import load_checkpoint, read_checkpoint_config

    _check_same_run(read_checkpoint_config(args.resume), run_config, args)
    saved = load_checkpoint(args.resume, like=like)
    if int(saved.state.step) > args.steps:
        raise UsageError(f"jaxopt-course: error: --resume {args.resume}: the checkpoint is at step "
                         f"{int(saved.state.step)}, beyond --steps {args.steps}")
    return saved.state, saved.metrics


def _interrupted(args, err, *, checkpoint_dir, out, run_config, out_config, params, metrics) -> int:
    """Ctrl-C: a checkpoint of the last chunk boundary (and the run so far in ``--out``), one line, exit 130."""
    from pathlib import Path

    from .checkpoint import save_checkpoint, save_run

    where = Path(checkpoint_dir or (out / "checkpoint" if out is not None else DEFAULT_CHECKPOINT_DIR))
    save_checkpoint(where, err.state, err.metrics, run_config)
    if out is not None:
        save_run(out, params=params, metrics=metrics, config=out_config,
                 summary={"status": "interrupted", "step": err.step})
    print(f"jaxopt-course: interrupted at step {err.step} of {args.steps}; checkpoint written to {where}/ -- "
          f"run the same command with --resume {where} to continue", file=sys.stderr)
    return EXIT_INTERRUPTED


def _cmd_train(args):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .checkpoint import save_checkpoint, save_run
    from .losses import get_loss
    from .model import init_weights
    from .train import DivergenceError, Metrics, TrainingInterrupted, TrainState, evaluate, fit, get_optimizer

    _start_multihost(args)  # several processes: before any other JAX call
    mesh = _cli_mesh(args, one_model=True)
    writer = jax.process_index() == 0  # several processes: one of them writes files and prints
    splits = _load(args)
    loss_fn = partial(get_loss(args.loss), reg=args.reg)
    optimizer = get_optimizer(args.optimizer, args.lr)
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W0 = init_weights(init_key, splits.num_classes, splits.dim, scale=args.init_scale)
    n = splits.train.X.shape[0]
    # Gradient descent sees the whole training set each step; minibatch SGD
    # samples batch_size examples (with replacement, the lecture's X.sample(n=256)).
    # A --batch-size above N is cut to N: drawn with replacement, it would
    # repeat examples to no use (and the run is still not the full batch).
    batch_size = None if args.full_batch else min(args.batch_size, n)
    run_config = _run_config(args, batch_size, splits)
    out_config = {**run_config, "steps": args.steps, "chunk_size": args.chunk_size}
    # Folders are checked before any training: a run must not fail at its end.
    out, checkpoint_dir = _run_folders(args)
    out = out if writer else None  # several processes: process 0 writes
    init_state = init_metrics = None
    if args.resume:
        like = TrainState(W0, optimizer.init(W0), key, jnp.zeros((), jnp.int32))
        init_state, init_metrics = _resume(args, like, run_config)

    def write_checkpoint(state, metrics):
        save_checkpoint(checkpoint_dir, state, metrics, run_config)

    X_train, y_train, left_out = _host_rows(splits.train.X, splits.train.y, mesh)
    start = time.perf_counter()
    try:
        run = fit(loss_fn, W0, X_train, y_train, key=key, optimizer=optimizer,
                  batch_size=batch_size, num_steps=args.steps, chunk_size=args.chunk_size,
                  init_state=init_state, init_metrics=init_metrics,
                  on_chunk=write_checkpoint if checkpoint_dir and writer else None, mesh=mesh)
    except DivergenceError as err:
        kept = ""
        if out is not None:
            save_run(out, params=err.params, metrics=err.metrics, config=out_config,
                     summary={"status": "diverged", "step": err.step, "last_finite_loss": err.last_finite_loss})
            kept = f" Kept the last finite params and the metrics so far in {out}/."
        print(f"jaxopt-course: error: {err}{kept}", file=sys.stderr)
        return EXIT_DIVERGED
    except TrainingInterrupted as err:
        if not writer:
            return EXIT_INTERRUPTED
        return _interrupted(args, err, checkpoint_dir=checkpoint_dir, out=out, run_config=run_config,
                            out_config=out_config, params=err.state.params, metrics=err.metrics)
    W = run.params if mesh is None else np.asarray(run.params)  # replicated over the mesh: one host copy
    final_loss = float(loss_fn(W, splits.train.X, splits.train.y))
    seconds = time.perf_counter() - start
    accuracies = evaluate(W, splits)
    method = "gradient descent (full batch)" if batch_size is None else f"SGD steps of batch {batch_size}"
    result = {
        "data": args.data,
        "loss": args.loss,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "reg": args.reg,
        "batch_size": batch_size,
        "steps": args.steps,
        "seed": args.seed,
        "train_accuracy": accuracies["train"],
        "val_accuracy": accuracies["val"],
        "test_accuracy": accuracies["test"],
        "final_loss": final_loss,
        "seconds": seconds,
        **_mesh_report(mesh),
    }
    if left_out:
        result["train_examples_left_out"] = left_out
    if init_state is not None:
        result["resumed_from_step"] = int(init_state.step)
    if not writer:
        return 0
    if out is not None:
        save_run(out, params=W, metrics=Metrics(run.losses, np.full(len(run.losses), np.nan, np.float32)),
                 config=out_config, summary={"status": "completed", "step": args.steps, **result})
    _emit(args, result, [
        f"{args.loss} classifier on {args.data}: {args.steps} {method}, "
        f"{args.optimizer} lr {args.lr:g}, reg {args.reg:g}{_mesh_words(mesh)} ({seconds:.1f} s)",
        f"  final loss      {final_loss:.4f}",
        f"  train accuracy  {result['train_accuracy']:.2%}",
        f"  val accuracy    {result['val_accuracy']:.2%}",
        f"  test accuracy   {result['test_accuracy']:.2%}",
    ])
    return 0


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------


def _cmd_search(args):
    import jax
    import jax.numpy as jnp

    from .search import grid_search, random_local_search, random_search

    start = time.perf_counter()
    if args.method == "grid":
        from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost

        low, high = TEA_TEMPERATURE_RANGE
        found = grid_search(get_tea_cost(args.toy), jnp.linspace(low, high, args.points))
        seconds = time.perf_counter() - start
        result = {
            "method": "grid",
            "toy": args.toy,
            "evaluations": args.points,
            "best_temperature": float(found.params),
            "best_loss": float(found.loss),
            "seconds": seconds,
        }
        _emit(args, result, [
            f"exhaustive search over {args.points} tea temperatures in [{low:g}, {high:g}] C "
            f"({args.toy} toy, {seconds:.2f} s)",
            f"  best temperature  {result['best_temperature']:.2f} C",
            f"  its cost          {result['best_loss']:.4f}",
        ])
        return 0

    from .losses import get_loss
    from .train import evaluate

    splits = _load(args)
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    loss = get_loss(args.loss)

    def loss_fn(W):
        return loss(W, X, y, reg=args.reg)

    shape = (splits.num_classes, splits.dim)
    key = jax.random.key(args.seed)
    if args.method == "random":
        scale = 1e-4 if args.scale is None else args.scale
        found = random_search(loss_fn, key, shape, trials=args.trials, scale=scale)
        what = f"random search: {args.trials} random W = {scale:g} * randn{shape}"
    else:
        scale = 1e-3 if args.scale is None else args.scale
        init_key, key = jax.random.split(key)
        W0 = scale * jax.random.normal(init_key, shape)
        found = random_local_search(loss_fn, key, W0, steps=args.trials, step_size=args.step_size)
        what = (f"random local search: {args.trials} tries of steps {args.step_size:g} * randn{shape} "
                f"from W0 = {scale:g} * randn")
    accuracies = evaluate(found.params, splits)
    seconds = time.perf_counter() - start
    result = {
        "method": args.method,
        "data": args.data,
        "loss": args.loss,
        "reg": args.reg,
        "evaluations": args.trials,
        "scale": scale,
        "step_size": args.step_size if args.method == "local" else None,
        "seed": args.seed,
        "best_loss": float(found.loss),
        "train_accuracy": accuracies["train"],
        "val_accuracy": accuracies["val"],
        "test_accuracy": accuracies["test"],
        "seconds": seconds,
    }
    _emit(args, result, [
        f"{what} on {args.data}, {args.loss} loss ({seconds:.1f} s)",
        f"  best loss       {result['best_loss']:.4f}",
        f"  train accuracy  {result['train_accuracy']:.2%}",
        f"  val accuracy    {result['val_accuracy']:.2%}",
        f"  test accuracy   {result['test_accuracy']:.2%}",
    ])
    return 0


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


def _cmd_gradcheck(args):
    import contextlib

    import jax
    import jax.numpy as jnp

    from .analytic import LOSS_AND_GRAD
    from .gradcheck import check_gradient, relative_error, svm_kink_crossings
    from .losses import get_loss

    splits = _load(args)
    # CIFAR-10: CS231n's 500-image dev set; digits (no dev set): the training split.
    split, split_name = (splits.dev, "dev") if splits.dev is not None else (splits.train, "train")
    x64 = jax.enable_x64(True) if args.dtype == "float64" else contextlib.nullcontext()
    start = time.perf_counter()
    with x64:
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
    seconds = time.perf_counter() - start
    result = {
        "data": args.data,
        "split": split_name,
        "num_examples": int(X.shape[0]),
        "loss": args.loss,
        "reg": args.reg,
        "init_scale": args.init_scale,
        "seed": args.seed,
        "jax_grad_vs_hand_max_relative_error": autodiff_vs_hand,
        **report.to_dict(),
        "seconds": seconds,
    }
    _emit(args, result, [
        f"{args.loss} loss on {args.data} ({split_name}: {X.shape[0]} examples), W = {args.init_scale:g} * randn"
        f"{tuple(W.shape)}, reg {args.reg:g}: numerical vs hand-derived gradient ({seconds:.1f} s)",
        str(report),
        f"  jax.grad vs hand-derived: max relative error {autodiff_vs_hand:.2e}",
    ])
    return 0


# ---------------------------------------------------------------------------
# tea, sweep, lecture
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


def _cmd_sweep(args):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .checkpoint import save_checkpoint, save_run, sweep_like
    from .losses import get_loss
    from .model import init_weights
    from .train import Metrics, TrainingInterrupted, TrainState, evaluate, get_optimizer, sweep

    _start_multihost(args)  # several processes: before any other JAX call
    mesh = _cli_mesh(args, one_model=False)
    writer = jax.process_index() == 0  # several processes: one of them writes files and prints
    if jax.process_count() > 1 and (args.checkpoint_dir or args.resume):
        raise UsageError("jaxopt-course: error: --checkpoint-dir/--resume: a sweep over several processes keeps each "
                         "model's state on the host that trains it, and checkpointing that is not supported; run "
                         "the sweep in one process (any number of devices) to checkpoint it")
    splits = _load(args)
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W0 = init_weights(init_key, splits.num_classes, splits.dim, scale=args.init_scale)
    batch_size = None if args.full_batch else min(args.batch_size, splits.train.X.shape[0])
    L, R = len(args.lrs), len(args.regs)
    models = L * R
    run_config = _run_config(args, batch_size, splits)
    out_config = {**run_config, "steps": args.steps, "chunk_size": args.chunk_size}
    out, checkpoint_dir = _run_folders(args)
    out = out if writer else None  # several processes: process 0 writes
    optimizer = partial(get_optimizer, args.optimizer)
    init_state = init_metrics = None
    if args.resume:
        one_model = TrainState(W0, optimizer(args.lrs[0]).init(W0), key, jnp.zeros((), jnp.int32))
        init_state, init_metrics = _resume(args, sweep_like(one_model, models), run_config)

    def write_checkpoint(state, metrics):
        save_checkpoint(checkpoint_dir, state, metrics, run_config)

    X_train, y_train, left_out = _host_rows(splits.train.X, splits.train.y, mesh)
    start = time.perf_counter()
    try:
        grid = sweep(get_loss(args.loss), optimizer, W0, X_train, y_train, key=key,
                     learning_rates=args.lrs, regs=args.regs, batch_size=batch_size, num_steps=args.steps,
                     X_val=splits.val.X, y_val=splits.val.y, chunk_size=args.chunk_size, init_state=init_state,
                     init_metrics=init_metrics, on_chunk=write_checkpoint if checkpoint_dir else None, mesh=mesh)
        jax.block_until_ready(grid.params)
        if mesh is not None:  # replicated over the mesh: one host copy
            grid = grid._replace(params=np.asarray(grid.params))
    except TrainingInterrupted as err:  # the M = L * R models so far, as an lr x reg grid in --out
        if jax.process_count() > 1:
            print(f"jaxopt-course: interrupted at step {err.step} of {args.steps}", file=sys.stderr)
            return EXIT_INTERRUPTED
        params = np.asarray(err.state.params).reshape((L, R) + W0.shape)
        metrics = Metrics(*(np.asarray(m).reshape(L, R, err.step) for m in err.metrics))
        return _interrupted(args, err, checkpoint_dir=checkpoint_dir, out=out, run_config=run_config,
                            out_config=out_config, params=params, metrics=metrics)
    seconds = time.perf_counter() - start
    losses = Metrics(grid.losses, np.full_like(grid.losses, np.nan))
    diverged = ~np.all(np.isfinite(grid.losses), axis=2)
    val = np.where(diverged, np.nan, grid.val_accuracy)
    if np.all(np.isnan(val)):
        if out is not None:
            save_run(out, params=grid.params, metrics=losses, config=out_config,
                     summary={"status": "diverged", "step": args.steps})
        print("jaxopt-course: error: every model of the sweep diverged; try smaller --lrs", file=sys.stderr)
        return EXIT_DIVERGED
    i, j = np.unravel_index(int(np.nanargmax(val)), val.shape)
    accuracies = evaluate(grid.params[i, j], splits)
    clean = [[None if np.isnan(v) else float(v) for v in row] for row in val]
    result = {
        "data": args.data, "loss": args.loss, "optimizer": args.optimizer, "learning_rates": args.lrs,
        "regs": args.regs, "steps": args.steps, "batch_size": batch_size, "seed": args.seed,
        "val_accuracy": clean, "diverged": diverged.tolist(),
        "best": {"lr": args.lrs[i], "reg": args.regs[j], "train_accuracy": accuracies["train"],
                 "val_accuracy": accuracies["val"], "test_accuracy": accuracies["test"]},
        "seconds": seconds,
        **_mesh_report(mesh),
    }
    if left_out:
        result["train_examples_left_out"] = left_out
    if init_state is not None:
        result["resumed_from_step"] = int(init_state.step)
    if not writer:
        return 0
    if out is not None:
        save_run(out, params=grid.params, metrics=losses, config=out_config,
                 summary={"status": "completed", "step": args.steps, **result})
    width = max(8, *(len(f"{r:g}") + 1 for r in args.regs))
    lines = [f"{models} {args.loss} classifiers on {args.data}, {args.optimizer}, {args.steps} steps, trained at once, "
             f"vmapped{_mesh_words(mesh)} ({seconds:.1f} s): validation accuracy",
             "  " + "lr / reg".rjust(10) + "".join(f"{r:g}".rjust(width) for r in args.regs)]
    for a, lr in enumerate(args.lrs):
        cells = ["diverged" if diverged[a, b] else f"{100 * val[a, b]:.1f}%" for b in range(len(args.regs))]
        lines.append("  " + f"{lr:g}".rjust(10) + "".join(cell.rjust(width) for cell in cells))
    best = result["best"]
    lines.append(f"  best: lr {best['lr']:g}, reg {best['reg']:g} -- val {best['val_accuracy']:.2%}, "
                 f"test {best['test_accuracy']:.2%}")
    _emit(args, result, lines)
    return 0


def _experiments_dir():
    """``experiments/`` of the source checkout this package runs from (``pip install -e .``)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "experiments"
    if not (folder / "lecture.py").is_file():
        raise UsageError(
            f"jaxopt-course lecture runs the scripts in experiments/ of a source checkout, and there is none at "
            f"{folder}: clone the repository and install it with pip install -e . (or run make demo)")
    return folder


def _cmd_lecture(args):
    import importlib

    folder = _experiments_dir()
    splits = _load(args)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    lecture = importlib.import_module("lecture")
    argv = ["--data", args.data, "--out", args.out, "--seed", str(args.seed), "--progress", args.progress]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    if args.quick:
        argv.append("--quick")
    if args.only:
        argv += ["--only", args.only]
    try:
        lecture_args = lecture.build_parser().parse_args(argv)
        run = lecture.run(lecture_args, splits=splits)
    except SystemExit as exit_:  # the experiments' own one-line errors (already printed)
        return int(exit_.code or 0)
    items = run["items"]
    result = {
        "report": str(run["report"]),
        "data": args.data,
        "quick": args.quick,
        "seconds": run["metrics"]["seconds"],
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


def _float_list(positive: bool):
    """argparse type: ``"1e-7,5e-7"`` -> ``[1e-07, 5e-07]``, every number > 0 (or >= 0)."""
    check = _positive_float if positive else _nonnegative_float

    def parse(text):
        values = [check(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
        return values

    return parse


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _positive_float(text):
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _add_run_safety_args(p):
    """train's and sweep's --chunk-size, --checkpoint-dir, --resume and --out."""
    p.add_argument("--chunk-size", type=_positive_int, default=1000,
                   help="steps per compiled chunk; progress, checkpoints (and train's divergence check) happen "
                        "between chunks (it never changes the result)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write a checkpoint (params, optimizer state, key, step, metrics) to DIR after every "
                        "chunk and on Ctrl-C")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run checkpointed in DIR (give the same options; --steps may grow; new "
                        "checkpoints go to DIR unless --checkpoint-dir says otherwise); the result equals an "
                        "uninterrupted run's bit for bit")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write params.npz, metrics.json (losses per step, status) and config.json to DIR -- also "
                        "when the run diverges (train: the last finite params) or is interrupted")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxopt-course", description=(
        "How linear classifiers are optimized: the CS231n optimization lecture in JAX."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a linear classifier with minibatch SGD",
                       description="Train a linear classifier (scores W x) by minibatch stochastic gradient "
                                   "descent: sample --batch-size examples, step against the gradient, repeat.")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax",
                   help="the data loss: softmax cross-entropy or multiclass SVM (hinge)")
    p.add_argument("--lr", type=_positive_float, default=1.0, help="the step size (learning rate)")
    p.add_argument("--reg", type=_nonnegative_float, default=1e-4, help="regularization strength lambda")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="examples per SGD step")
    p.add_argument("--steps", type=_positive_int, default=2000, help="number of SGD steps (maxIterations)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial W and minibatches)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"],
                   default="sgd", help="the update rule (sgd: W <- W - lr * dW, the lecture's)")
    p.add_argument("--full-batch", action="store_true",
                   help="gradient descent: use the whole training set every step (ignores --batch-size)")
    p.add_argument("--init-scale", type=_nonnegative_float, default=1e-4,
                   help="initial W = init_scale * randn(C, D) (CS231n: 1e-4 in the notes, 1e-3 in the assignment)")
    _add_run_safety_args(p)
    _add_mesh_args(p, devices_split="each minibatch split N ways (the same run up to float32 rounding)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("search", help="optimize without gradients: grid, random or random local search",
                       description="The lecture's first strategies. grid: exhaustive search over the "
                                   "tea-temperature toy; random: keep the best of --trials random W; local: "
                                   "perturb W by --step-size * randn, keep it if the loss drops.")
    p.add_argument("--method", choices=["grid", "random", "local"], default="random",
                   help="grid (tea toy), random or local (on the data)")
    p.add_argument("--toy", choices=["smooth", "local_minima", "wiggly"], default="smooth",
                   help="the tea-temperature cost for --method grid")
    p.add_argument("--points", type=_positive_int, default=101,
                   help="grid points over 0..100 C for --method grid")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm",
                   help="the loss to minimize over the training set")
    p.add_argument("--reg", type=_nonnegative_float, default=0.0, help="regularization strength lambda")
    p.add_argument("--trials", type=_positive_int, default=1000,
                   help="loss evaluations: random W to draw, or local steps to try")
    p.add_argument("--scale", type=_nonnegative_float, default=None,
                   help="std of the random W (random; default 1e-4) or of W0 (local; default 1e-3)")
    p.add_argument("--step-size", type=_positive_float, default=1e-4, help="std of a local step")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("gradcheck", help="check the analytic gradient against finite differences",
                       description="The lecture's numerical gradient, (L(W + h e_k) - L(W)) / h for every weight "
                                   "(or the central difference), against the hand-derived gradient: relative "
                                   "error |a - b| / max(|a|, |b|) and the worst coordinates. CIFAR-10 uses its "
                                   "500-image dev set.")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm", help="the loss whose gradient to check")
    p.add_argument("--method", choices=["forward", "central"], default="central",
                   help="forward (the lecture's formula) or central differences (the better one)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 for a tight check (round-off eps/h is 1e9 times smaller)")
    p.add_argument("--h", type=_positive_float, default=1e-4, help="the finite-difference step")
    p.add_argument("--reg", type=_nonnegative_float, default=0.0, help="regularization strength lambda")
    p.add_argument("--num-checks", type=_positive_int, default=None,
                   help="check this many random weights (CS231n's grad_check_sparse; default: all)")
    p.add_argument("--init-scale", type=_nonnegative_float, default=1e-4, help="W = init_scale * randn(C, D)")
    p.add_argument("--seed", type=int, default=0, help="random seed (W and the checked weights)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("sweep", help="train a learning rate x regularization grid in one vmapped call",
                       description="CS231n's tuning step: train one linear classifier per (learning rate, "
                                   "regularization strength) pair -- all of them at once, one vmapped call, the "
                                   "same minibatches for every model -- and keep the best on the validation set; "
                                   "report its test accuracy.")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax", help="the data loss")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad"],
                   default="sgd", help="the update rule (sgd: W <- W - lr * dW, the lecture's)")
    p.add_argument("--lrs", type=_float_list(positive=True), default=[1e-2, 1e-1, 1.0],
                   help="comma-separated learning rates (step sizes), e.g. 1e-7,5e-7 (default 0.01,0.1,1)")
    p.add_argument("--regs", type=_float_list(positive=False), default=[0.0, 1e-3, 1e-1],
                   help="comma-separated regularization strengths, e.g. 2.5e4,5e4 (default 0,0.001,0.1)")
    p.add_argument("--steps", type=_positive_int, default=1000, help="SGD steps per model (maxIterations)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="examples per SGD step")
    p.add_argument("--full-batch", action="store_true", help="gradient descent: the whole training set every step")
    p.add_argument("--init-scale", type=_nonnegative_float, default=1e-4, help="initial W = init_scale * randn(C, D)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial W and minibatches)")
    _add_run_safety_args(p)
    _add_mesh_args(p, devices_split="the models split N ways (--mesh data=D,model=M splits each minibatch too)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("tea", help="exhaustive search vs gradient descent on the tea-temperature toy",
                       description="The lecture's one-parameter problem: the best temperature for a cup of tea. "
                                   "Exhaustive search tastes every temperature of a grid; gradient descent starts "
                                   "at --start and steps downhill, t <- t - step_size * slope. Try --toy "
                                   "local_minima or wiggly to see gradient descent get stuck.")
    p.add_argument("--toy", choices=["smooth", "local_minima", "wiggly"], default="smooth",
                   help="the cost: smooth (one minimum), local_minima (iced tea, a forgotten cup) or wiggly")
    p.add_argument("--points", type=_positive_int, default=101, help="exhaustive search: grid points over 0..100 C")
    p.add_argument("--start", type=float, default=20.0, help="gradient descent: the starting temperature (C)")
    p.add_argument("--step-size", type=_positive_float, default=5.0, help="gradient descent: the step size")
    p.add_argument("--steps", type=_positive_int, default=500, help="gradient descent: the number of steps")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_tea)

    p = sub.add_parser("lecture", help="run the whole lecture and write results/lecture/report.md",
                       description="The main job: every experiment of the optimization lecture in its order -- the "
                                   "loss landscape, random search, exhaustive search vs gradient descent, the "
                                   "numerical vs analytic gradient, batch sizes and SGD, optax optimizers, the "
                                   "lr x reg sweep, the learned templates -- writing each one's results and "
                                   "figures under --out and a report with every table and figure. Needs the "
                                   "experiments/ folder of a source checkout.")
    _add_data_args(p)
    p.add_argument("--quick", action="store_true", help="small budgets: a smoke test")
    p.add_argument("--out", default="results", help="the results folder (default: results/)")
    p.add_argument("--only", default=None, help="comma-separated experiments to run (default: all)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                   help="the progress bar on stderr (auto: when stderr is a terminal)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_lecture)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, ConnectionError, PermissionError) as err:
        print(f"jaxopt-course: error: {err}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a training loop: nothing to save
        print("jaxopt-course: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
