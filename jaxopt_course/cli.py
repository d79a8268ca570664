"""The ``jaxopt-course`` command (also ``python -m jaxopt_course``): parse, call the package, print.

Every subcommand prints a short human table, or one JSON object with
``--json`` (also when a run diverged). Bad arguments end with exit code 2
and one line on stderr that starts ``jaxopt-course: error:``; so does an
option the chosen command or data set would ignore (:data:`IGNORED`).

How this file is laid out (read top to bottom):

* the per-data-set defaults (:data:`RECIPES`) and the options a command
  would ignore (:data:`IGNORED`); the argument types and the options the
  experiment scripts share are :mod:`jaxopt_course.experiments._common`'s;
* ``train`` and ``sweep``: load, call :func:`jaxopt_course.train.fit` or
  :func:`~jaxopt_course.train.sweep`, print; the folders, checkpoints and
  resume around them are :mod:`jaxopt_course.runs`';
* ``search``, ``gradcheck``, ``tea``; ``lecture``, ``compare`` and
  ``assignment`` register their package modules' ``add_arguments(parser)``
  and call their ``run_cli``/``run``;
* the parser: one :class:`_Command` row per subcommand in :data:`COMMANDS`.
  :func:`main` installs the signal handler first (:mod:`jaxopt_course.signals`:
  SIGINT and SIGTERM stop a run at a chunk boundary, with a checkpoint),
  builds only the arguments of the subcommand it runs, and imports every
  module inside the function that needs it, so ``jaxopt-course --help``
  never imports JAX and ``tea`` never imports scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Callable, NamedTuple

from . import signals
from .commands import GRADCHECK_H, Report, shown
from .experiments._common import count, float_list, mesh_sizes, nonnegative, positive, seed
from .runs import DEFAULT_CHECKPOINT_ROOT, EXIT_DIVERGED, EXIT_WRITE_FAILED, WriteFailed, mesh_words

EXIT_USAGE = 2
PREFIX = "jaxopt-course: error:"


class UsageError(Exception):
    """A bad argument: reported in one line (``jaxopt-course: error: ...``), exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2 (and no abbreviated options)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

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
# Defaults that follow the data set; options a command would ignore
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

_GRID_IGNORES = ("data", "data_dir", "download", "loss", "reg", "trials", "scale", "seed")


class Ignored(NamedTuple):
    """An option that a command ignores in some settings: given there, it is an error (exit 2) that names it."""

    command: str
    option: str  # its dest: "batch_size" for --batch-size
    ignored: Callable[[argparse.Namespace], bool]  # the parsed arguments ignore it
    why: str
    when: tuple[str, ...]  # options that make it ignored: the example that the docs and tests give


#: Every option a command ignores in some settings (each a test: ``tests/test_cli.py`` runs every row's
#: ``when``). ``--data-dir``/``--download`` without ``--data cifar10`` are refused for every command by
#: ``experiments._common.check_data_options``; a ``--batch-size`` above the N training examples by ``train``
#: and ``sweep`` once the data are loaded. Every other option of every command changes its run.
IGNORED = (
    *(Ignored(command, "batch_size", lambda a: a.full_batch, "--full-batch uses the whole training set every step",
              ("--full-batch",)) for command in ("train", "sweep")),
    *(Ignored(command, "force", lambda a: a.resume is not None, "--resume continues its checkpoint, and --force "
              "would start from step 0 (give one of them)", ("--resume", "DIR")) for command in ("train", "sweep")),
    Ignored("search", "toy", lambda a: a.method != "grid", "only --method grid searches the tea toy",
            ("--method", "random")),
    Ignored("search", "points", lambda a: a.method != "grid", "only --method grid tastes a grid of temperatures",
            ("--method", "local")),
    Ignored("search", "step_size", lambda a: a.method != "local", "only --method local takes steps",
            ("--method", "random")),
    *(Ignored("search", name, lambda a: a.method == "grid", "--method grid searches the tea toy, not a data set",
              ("--method", "grid")) for name in _GRID_IGNORES),
)


def _by_data(command: str, name: str) -> str:
    """``"default: 1 on digits, 1e-07 on cifar10"``, for the help of an option of :data:`RECIPES`."""
    return "default: " + ", ".join(f"{shown(recipe[name])} on {data}" for data, recipe in RECIPES[command].items())


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


def _refuse_ignored(args, given: set) -> None:
    """An option the command would ignore here (:data:`IGNORED`) is an error that names it."""
    for command, name, ignored, why, _ in IGNORED:
        if command == args.command and name in given and ignored(args):
            raise UsageError(f"--{name.replace('_', '-')} has no effect here: {why}; drop it")


def _load(args):
    from .commands import load

    return load(args)


def _with_recipe(args, result: dict) -> dict:
    from .commands import with_recipe

    return with_recipe(args, result)


def _emit(args, result: dict, lines: list[str]) -> None:
    from .files import to_jsonable

    print(json.dumps(to_jsonable(result)) if args.json else "\n".join(lines), flush=True)


def _print(args, report: Report) -> int:
    """Print a subcommand's :class:`~jaxopt_course.commands.Report`: the result, then --out, then its line."""
    if not report.quiet:
        _emit(args, report.result, report.lines)
    if report.save is not None:
        report.save()  # after the result: printed even when --out cannot be written
    if report.error and not report.quiet:
        print(f"{PREFIX} {report.error}", file=sys.stderr)
    return report.code


# ---------------------------------------------------------------------------
# train and sweep
# ---------------------------------------------------------------------------


class _Setup(NamedTuple):
    """What ``train`` and ``sweep`` know once the data are loaded: the engine's inputs and the run's folders."""

    splits: object
    mesh: object  # a jax.sharding.Mesh, or None: one device
    writer: bool  # several processes: only process 0 writes files and prints
    key: object
    W0: object
    batch_size: int | None  # None: gradient descent on the whole training set
    X: object  # this host's training rows
    y: object
    left_out: int  # several processes: training rows no device holds
    run: dict  # runs.identity: what makes this run the same run
    folders: object  # runs.Folders


def _setup(args, *, one_model: bool) -> _Setup:
    """Devices, data, batch size, the run's identity and folders: everything before training."""
    import jax

    from . import runs
    from .distributed import initialize_multihost
    from .model import init_weights

    initialize_multihost(args.coordinator_address, args.num_processes, args.process_id)  # before other JAX calls
    mesh = runs.mesh_for(args.devices, args.mesh, one_model=one_model)
    if not one_model and jax.process_count() > 1 and (args.checkpoint_dir or args.resume):
        raise UsageError("--checkpoint-dir/--resume: a sweep over several processes keeps each model's state on "
                         "the host that trains it, and checkpointing that is not supported; run the sweep in one "
                         "process (any number of devices) to checkpoint it")
    splits = _load(args)
    N = splits.train.X.shape[0]
    if not args.full_batch and args.batch_size > N:
        raise UsageError(f"--batch-size {args.batch_size} is more than the {N} training examples of {args.data}: "
                         f"give at most {N}, or --full-batch for gradient descent on all of them")
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W0 = init_weights(init_key, splits.num_classes, splits.dim, scale=args.init_scale)
    batch_size = None if args.full_batch else args.batch_size
    grid = {"lr": args.lr, "reg": args.reg} if one_model else {"lrs": args.lrs, "regs": args.regs}
    run = runs.identity(args.command, {"data": args.data, "loss": args.loss, "optimizer": args.optimizer, **grid,
                                       "batch_size": batch_size, "seed": args.seed, "init_scale": args.init_scale},
                        splits.train.X, splits.train.y)
    writer = jax.process_index() == 0
    folders = runs.plan(run, steps=args.steps, out=args.out if writer else None, checkpoint_dir=args.checkpoint_dir,
                        resume=args.resume, force=args.force or not writer, auto_resume=jax.process_count() == 1)
    X, y, left_out = runs.host_rows(splits.train.X, splits.train.y, mesh)
    return _Setup(splits, mesh, writer, key, W0, batch_size, X, y, left_out, run, folders)


def _train(args, s: _Setup, like: Callable, call: Callable, so_far: Callable):
    """:func:`jaxopt_course.runs.execute`: ``(output, seconds, first_step)``, or the exit code of an early end."""
    from . import runs

    if s.folders.note and s.writer:
        print(f"jaxopt-course: {s.folders.note}", file=sys.stderr)
    try:
        return runs.execute(s.folders, s.run, steps=args.steps, like=like, call=call, so_far=so_far, writer=s.writer,
                            config={**s.run, "steps": args.steps, "chunk_size": args.chunk_size})
    except runs.RunEnded as ended:
        if ended.line:
            print(ended.line, file=sys.stderr)
        if ended.record and args.json:  # a record for scripts: where the run stopped, where its checkpoint is
            print(json.dumps(ended.record), flush=True)
        return ended.code


def _finish(args, s: _Setup, result: dict, lines: list[str], seconds: float, first: int, *, params, metrics,
            status: str = "completed", end: int | None = None) -> None:
    """Print the result (first: printed even when --out cannot be written), then write --out.

    ``seconds`` timed the steps ``first .. end - 1`` (``end``: the last computed chunk's end; ``--steps``
    unless the run diverged earlier).
    """
    from . import distributed, runs

    end = args.steps if end is None else end
    if first:
        lines[0] += f" ({seconds:.1f} s for steps {first + 1}-{end}, resumed from step {first})"
        result.update(resumed_from_step=first)
    else:
        lines[0] += f" ({seconds:.1f} s)" if end == args.steps else f" ({seconds:.1f} s for steps 1-{end})"
    result.update(seconds=seconds, timed_steps=end - first)
    result.setdefault("steps_run", args.steps)
    result.update(distributed.describe(s.mesh))
    if s.left_out:
        result["train_examples_left_out"] = s.left_out
    _with_recipe(args, result)
    if s.writer:
        _emit(args, result, lines)
        runs.save_results(s.folders, params=params, metrics=metrics,
                          config={**s.run, "steps": args.steps, "chunk_size": args.chunk_size},
                          summary={"status": status, "step": result["steps_run"], **result})


def _engine_run(args, s: _Setup):
    """The command's :class:`jaxopt_course.train.Run`: the loss, the optimizer by name, batch, steps, devices."""
    from functools import partial

    from .losses import get_loss
    from .train import Run, get_optimizer

    return Run(get_loss(args.loss), partial(get_optimizer, args.optimizer), batch_size=s.batch_size,
               num_steps=args.steps, mesh=s.mesh)


def _loop(args, init_state, init_metrics, on_chunk):
    from .train import Loop

    return Loop(chunk_size=args.chunk_size, on_chunk=on_chunk, init_state=init_state, init_metrics=init_metrics)


def _cmd_train(args):
    import numpy as np

    from .train import DivergenceError, Metrics, evaluate, fit, initial_state

    s = _setup(args, one_model=True)
    run = _engine_run(args, s)

    def like():
        return initial_state(run, s.W0, s.key, num_examples=s.X.shape[0], lr=args.lr)

    def call(init_state, init_metrics, on_chunk):
        return fit(run, s.W0, s.X, s.y, key=s.key, lr=args.lr, reg=args.reg,
                   loop=_loop(args, init_state, init_metrics, on_chunk))

    done = _train(args, s, like, call, lambda err: (err.state.params, err.metrics))
    if isinstance(done, int):
        return done
    output, seconds, first = done
    diverged = output if isinstance(output, DivergenceError) else None
    W = np.asarray(output.params)  # replicated over a mesh: one host copy
    accuracies = evaluate(W, s.splits)
    method = "gradient descent (full batch)" if s.batch_size is None else f"SGD steps of batch {s.batch_size}"
    result = {"data": args.data, "loss": args.loss, "optimizer": args.optimizer, "lr": args.lr, "reg": args.reg,
              "batch_size": s.batch_size, "steps": args.steps, "seed": args.seed,
              "train_accuracy": accuracies["train"], "val_accuracy": accuracies["val"],
              "test_accuracy": accuracies["test"], "diverged": diverged is not None,
              "final_loss": None if diverged else float(run.loss_fn(W, s.splits.train.X, s.splits.train.y, args.reg))}
    lines = [f"{args.loss} classifier on {args.data}: {args.steps} {method}, {args.optimizer} lr {args.lr:g}, "
             f"reg {args.reg:g}{mesh_words(s.mesh)}",
             f"  final loss      {result['final_loss'] or float('nan'):.4f}",
             *(f"  {split + ' accuracy':<16}{accuracies[split]:.2%}" for split in ("train", "val", "test"))]
    if diverged is not None:
        return _diverged(args, s, result, lines, diverged, seconds, first)
    losses = np.asarray(output.losses)
    _finish(args, s, result, lines, seconds, first, params=W, metrics=Metrics(losses, np.full_like(losses, np.nan)))
    return 0


def _diverged(args, s: _Setup, result: dict, lines: list[str], err, seconds: float, first: int) -> int:
    """train: the run broke the divergence rule: its JSON (``"diverged": true``) on stdout, one line on stderr, exit 1."""
    import numpy as np

    from .train import DIVERGENCE_FACTOR

    losses = np.asarray(err.metrics.loss)
    cause = ("is not finite" if not np.isfinite(losses[err.step]) else
             f"rose above {DIVERGENCE_FACTOR:g} x its start ({losses[0]:.6g} at step 0)")
    earlier = f" (the loss was {err.last_finite_loss:.6g} at step {err.step - 1})" if err.step else ""
    line = (f"training diverged: the loss is {losses[err.step]:.6g} at step {err.step} of {args.steps} and {cause}"
            f"{earlier}; the step size is probably too large -- try a smaller --lr.")
    line += (f" Kept the last finite params and the metrics so far in {s.folders.out}/." if s.folders.out else
             " (--out DIR keeps the last finite weights and the metrics so far.)")
    # "steps" stays the run's requested length; "steps_run" (and metrics.json's "step") counts the steps whose
    # losses were computed, 0 .. diverged_at_step: as for a finished or interrupted run, the losses saved.
    result.update(steps_run=err.step + 1, diverged_at_step=err.step, last_finite_loss=err.last_finite_loss)
    lines[0] += f" -- diverged at step {err.step}; the accuracies are the weights' of step {err.step - 1}"
    chunk = min(args.chunk_size, args.steps)  # fit's chunks start at the first step; the diverged one ran to its end
    end = min(first + -(-(err.step + 1 - first) // chunk) * chunk, args.steps)
    _finish(args, s, result, lines, seconds, first, params=err.params, metrics=err.metrics, status="diverged",
            end=end)
    print(f"{PREFIX} {line}", file=sys.stderr)
    return EXIT_DIVERGED


def _cmd_sweep(args):
    import numpy as np

    from . import limits
    from .train import Metrics, evaluate, initial_state, sweep

    s = _setup(args, one_model=False)
    L, R = len(args.lrs), len(args.regs)
    limits.check_sweep(L * R, s.W0.size, args.steps, s.batch_size or s.X.shape[0], s.splits.num_classes,
                       what=f"a sweep of {L} x {R} learning rates and regs", yes=args.yes)
    run = _engine_run(args, s)

    def like():
        return initial_state(run, s.W0, s.key, num_examples=s.X.shape[0], learning_rates=args.lrs, regs=args.regs)

    def call(init_state, init_metrics, on_chunk):
        return sweep(run, s.W0, s.X, s.y, key=s.key, learning_rates=args.lrs, regs=args.regs, X_val=s.splits.val.X,
                     y_val=s.splits.val.y, loop=_loop(args, init_state, init_metrics, on_chunk))

    def so_far(err):  # the M = L * R models so far, as an lr x reg grid
        params = np.asarray(err.state.params).reshape((L, R) + s.W0.shape)
        return params, Metrics(*(np.asarray(m).reshape(L, R, err.step) for m in err.metrics))

    done = _train(args, s, like, call, so_far)
    if isinstance(done, int):
        return done
    grid, seconds, first = done
    params, diverged = np.asarray(grid.params), np.asarray(grid.diverged)  # replicated over a mesh: one host copy
    val = np.where(diverged, np.nan, grid.val_accuracy)
    result = {"data": args.data, "loss": args.loss, "optimizer": args.optimizer, "learning_rates": args.lrs,
              "regs": args.regs, "steps": args.steps, "batch_size": s.batch_size, "seed": args.seed,
              "val_accuracy": [[None if np.isnan(v) else float(v) for v in row] for row in val],
              "diverged": diverged.tolist(), "diverged_step": np.asarray(grid.diverged_step).tolist(), "best": None}
    width = max(8, *(len(f"{r:g}") + 1 for r in args.regs))
    lines = [f"{L * R} {args.loss} classifiers on {args.data}, {args.optimizer}, {args.steps} steps, trained at "
             f"once, vmapped{mesh_words(s.mesh)}: validation accuracy",
             "  " + "lr / reg".rjust(10) + "".join(f"{r:g}".rjust(width) for r in args.regs)]
    lines += ["  " + f"{lr:g}".rjust(10) + "".join(("diverged" if diverged[a, b] else f"{100 * val[a, b]:.1f}%")
                                                    .rjust(width) for b in range(R)) for a, lr in enumerate(args.lrs)]
    metrics = Metrics(grid.losses, np.full_like(grid.losses, np.nan))
    if np.all(np.isnan(val)):
        lines.append("  every model diverged")
        _finish(args, s, result, lines, seconds, first, params=params, metrics=metrics, status="diverged")
        print(f"{PREFIX} every model of the sweep diverged; try smaller --lrs", file=sys.stderr)
        return EXIT_DIVERGED
    i, j = np.unravel_index(int(np.nanargmax(val)), val.shape)
    accuracies = evaluate(params[i, j], s.splits)
    result["best"] = {"lr": args.lrs[i], "reg": args.regs[j], "train_accuracy": accuracies["train"],
                      "val_accuracy": accuracies["val"], "test_accuracy": accuracies["test"]}
    lines.append(f"  best: lr {args.lrs[i]:g}, reg {args.regs[j]:g} -- val {accuracies['val']:.2%}, "
                 f"test {accuracies['test']:.2%}")
    _finish(args, s, result, lines, seconds, first, params=params, metrics=metrics)
    return 0


# ---------------------------------------------------------------------------
# search, gradcheck, tea
# ---------------------------------------------------------------------------


def _cmd_search(args):
    import jax
    import jax.numpy as jnp

    from .losses import get_loss
    from .search import grid_search, random_local_search, random_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost, temperature_grid
    from .train import evaluate

    start = time.perf_counter()
    if args.method == "grid":
        low, high = TEA_TEMPERATURE_RANGE
        found = grid_search(get_tea_cost(args.toy), temperature_grid(args.points))
        seconds = time.perf_counter() - start
        result = {"method": "grid", "toy": args.toy, "evaluations": args.points,
                  "best_temperature": float(found.params), "best_loss": float(found.loss), "seconds": seconds}
        _emit(args, result, [f"exhaustive search over {args.points} tea temperatures in [{low:g}, {high:g}] C "
                             f"({args.toy} toy, {seconds:.2f} s)",
                             f"  best temperature  {result['best_temperature']:.2f} C",
                             f"  its cost          {result['best_loss']:.4f}"])
        return 0
    splits = _load(args)
    X, y, loss = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y), get_loss(args.loss)

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
    _emit(args, result, [f"{what} on {args.data}, {args.loss} loss ({seconds:.1f} s)",
                         f"  best loss       {result['best_loss']:.4f}",
                         *(f"  {split + ' accuracy':<16}{accuracies[split]:.2%}" for split in ("train", "val", "test"))])
    return 0


def _cmd_gradcheck(args):
    from . import commands

    return _print(args, commands.gradcheck(args))


def _cmd_tea(args):
    from .search import grid_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost, gradient_descent_1d, temperature_grid

    f, (low, high) = get_tea_cost(args.toy), TEA_TEMPERATURE_RANGE
    start = time.perf_counter()
    found = grid_search(f, temperature_grid(args.points))
    temperatures, costs = gradient_descent_1d(f, args.start, step_size=args.step_size, steps=args.steps)
    seconds = time.perf_counter() - start
    ex = {"evaluations": args.points, "best_temperature": float(found.params), "best_cost": float(found.loss)}
    gd = {"start": args.start, "step_size": args.step_size, "steps": args.steps,
          "final_temperature": float(temperatures[-1]), "final_cost": float(costs[-1])}
    _emit(args, {"toy": args.toy, "exhaustive": ex, "gradient_descent": gd, "seconds": seconds}, [
        f"tea temperature, {args.toy} cost ({seconds:.2f} s)",
        f"  exhaustive search, {args.points} tastings over [{low:g}, {high:g}] C: best {ex['best_temperature']:.2f} C, "
        f"cost {round(ex['best_cost'], 4) + 0.0:.4f}",
        f"  gradient descent from {args.start:g} C, {args.steps} steps of {args.step_size:g} x slope: ends at "
        f"{gd['final_temperature']:.2f} C, cost {round(gd['final_cost'], 4) + 0.0:.4f}"])
    return 0


def _cmd_lecture(args):
    """The lecture: :func:`jaxopt_course.experiments.lecture.run_cli` -> a dict; its ``"text"`` is the table."""
    from .experiments import lecture

    result = lecture.run_cli(args)
    _emit(args, {k: v for k, v in result.items() if k != "text"}, [result["text"]])
    return 0


def _cmd_compare(args):
    """The comparison: :func:`jaxopt_course.experiments.compare.run`, after the size checks (limits)."""
    from . import limits
    from .experiments import compare

    splits = _load(args)
    s = compare.settings(args)
    seeds, problems, C, D = s["tuning_seeds"] + s["eval_seeds"], len(s["problems"]), splits.num_classes, splits.dim
    models = s["num_lrs"] * seeds  # one optimizer's lr x seed grid: one vmapped call
    what = f"a comparison of {len(s['optimizers'])} optimizers x {problems} problems x {models} models"
    limits.check_sweep(models, C * D, s["steps"], s["batch_size"], C, what=what, yes=True)
    limits.check_duration(limits.sweep_seconds(models * len(s["optimizers"]) * problems, s["steps"],
                                               s["batch_size"], C * D), what, yes=args.yes)
    item = compare.run(args, splits=splits)
    result = {"dir": str(item["dir"]), "figures": [str(f) for f in item["figures"]], "summary": item["summary"],
              "config": item["config"], **item["metrics"]}
    _emit(args, result, [item["table"], "", item["summary"], f"wrote {item['dir']}/config.json, metrics.json, "
                         + ", ".join(f.name for f in item["figures"])])
    return 0


def _add_lecture_args(p):
    from .experiments import lecture

    lecture.add_arguments(p)
    _add_json_arg(p)


def _add_compare_args(p):
    from .experiments import compare

    compare.add_arguments(p)
    p.add_argument("--yes", action="store_true", help="run a comparison estimated to take over an hour")
    _add_json_arg(p)


# ---------------------------------------------------------------------------
# The parser: one _Command row per subcommand
# ---------------------------------------------------------------------------


def _add_json_arg(p):
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table (also when a "
                                                       "run diverged)")


def _add_data_args(p):
    from .experiments._common import add_data_arguments

    add_data_arguments(p)


def _add_model_args(p, command: str):
    """train's and sweep's loss, optimizer, batch, steps, init and seed."""
    from .train import OPTIMIZER_NAMES

    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax",
                   help="the data loss: softmax cross-entropy or multiclass SVM (hinge)")
    p.add_argument("--optimizer", choices=OPTIMIZER_NAMES, default="sgd",
                   help="the update rule (sgd: W <- W - lr * dW, the lecture's)")
    p.add_argument("--batch-size", type=count, default=None,
                   help=f"examples per SGD step, at most N ({_by_data(command, 'batch_size')})")
    p.add_argument("--full-batch", action="store_true",
                   help="gradient descent: the whole training set every step (--batch-size is then an error)")
    p.add_argument("--steps", type=count, default=None,
                   help=f"number of SGD steps, maxIterations ({_by_data(command, 'steps')})")
    p.add_argument("--init-scale", type=nonnegative, default=None,
                   help=f"initial W = init_scale * randn(C, D) ({_by_data(command, 'init_scale')})")
    p.add_argument("--seed", type=seed, default=0, help="random seed (initial W and minibatches)")
    p.add_argument("--chunk-size", type=count, default=1000,
                   help="steps per compiled chunk; progress, checkpoints, the divergence check and Ctrl-C/SIGTERM "
                        "happen between chunks (it never changes the result)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="write a checkpoint (params, optimizer state, key, step, metrics) to DIR after every chunk "
                        "and on Ctrl-C/SIGTERM (default on those: OUT/checkpoint with --out, else "
                        f"./{DEFAULT_CHECKPOINT_ROOT}/{command}-<hash of the run's options>/); a checkpoint of this "
                        "same run found there is resumed, and the first line says so")
    p.add_argument("--resume", default=None, metavar="PATH",
                   help="continue the run checkpointed at PATH, a folder or its checkpoint.npz (give the same "
                        "options; --steps may grow; implies --checkpoint-dir PATH's folder unless given); the "
                        "result equals an uninterrupted run's bit for bit")
    p.add_argument("--force", action="store_true",
                   help="start from step 0: overwrite a checkpoint in the checkpoint folder (of another run: "
                        "refused otherwise; of this run: resumed otherwise); an error with --resume")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write params.npz, metrics.json (losses per step, status) and config.json to DIR -- also "
                        "when the run diverges (train: the last finite params) or is interrupted")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--devices", type=count, default=None, metavar="N",
                       help="run on the first N devices JAX sees: train splits each minibatch N ways, sweep the "
                            "models (on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N devices)")
    group.add_argument("--mesh", type=mesh_sizes, default=None, metavar="data=D,model=M",
                       help="the device mesh: D devices split every minibatch, M devices split a sweep's models")
    p.add_argument("--coordinator-address", default=None, metavar="HOST:PORT",
                   help="several machines: process 0's address (or $JAX_COORDINATOR_ADDRESS); every process runs "
                        "the same command with --num-processes and its own --process-id")
    p.add_argument("--num-processes", type=count, default=None, metavar="P",
                   help="several machines: how many processes take part (or $JAX_NUM_PROCESSES)")
    p.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="several machines: this process's number, 0 .. P-1 (or $JAX_PROCESS_ID)")
    _add_json_arg(p)


def _add_train_args(p):
    _add_data_args(p)
    p.add_argument("--lr", type=positive, default=None,
                   help=f"the step size, learning rate ({_by_data('train', 'lr')})")
    p.add_argument("--reg", type=nonnegative, default=None,
                   help=f"regularization strength lambda ({_by_data('train', 'reg')})")
    _add_model_args(p, "train")


def _add_sweep_args(p):
    _add_data_args(p)
    p.add_argument("--lrs", type=float_list(positive=True), default=None,
                   help=f"comma-separated learning rates, e.g. 1e-7,5e-7 ({_by_data('sweep', 'lrs')})")
    p.add_argument("--regs", type=float_list(positive=False), default=None,
                   help=f"comma-separated regularization strengths, e.g. 2.5e4,5e4 ({_by_data('sweep', 'regs')})")
    p.add_argument("--yes", action="store_true", help="run a grid estimated to take over an hour (refused otherwise)")
    _add_model_args(p, "sweep")


def _add_toy_args(p, what: str):
    p.add_argument("--toy", choices=["smooth", "local_minima", "wiggly"], default="smooth",
                   help=f"the tea-temperature cost{what}: smooth (one minimum), local_minima (iced tea, a forgotten "
                        "cup) or wiggly")
    p.add_argument("--points", type=count, default=101, help="exhaustive search: grid points over 0..100 C")


def _add_search_args(p):
    p.add_argument("--method", choices=["grid", "random", "local"], default="random",
                   help="grid (tea toy; then the data options are errors), random or local (on the data)")
    _add_toy_args(p, " (only --method grid)")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm",
                   help="the loss to minimize over the training set")
    p.add_argument("--reg", type=nonnegative, default=0.0, help="regularization strength lambda")
    p.add_argument("--trials", type=count, default=1000, help="loss evaluations: random W to draw, or local steps")
    p.add_argument("--scale", type=nonnegative, default=None,
                   help=f"std of the random W (random) or of W0 (local) ({_by_data('search', 'scale')})")
    p.add_argument("--step-size", type=positive, default=None,
                   help=f"std of a local step, only --method local ({_by_data('search', 'step_size')})")
    p.add_argument("--seed", type=seed, default=0, help="random seed")
    _add_json_arg(p)


def _add_gradcheck_args(p):
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm", help="the loss whose gradient to check")
    p.add_argument("--method", choices=["forward", "central"], default="central",
                   help="forward (the lecture's formula) or central differences (the better one)")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="float64: a tight check (float32 round-off, eps * |L| / h, hides slopes below ~1e-6 / h)")
    p.add_argument("--h", type=positive, default=None,
                   help="the finite-difference step (default: " + ", ".join(
                       f"{h:g} in {dtype}" for dtype, h in GRADCHECK_H.items()) + ")")
    p.add_argument("--reg", type=nonnegative, default=0.0, help="regularization strength lambda")
    p.add_argument("--num-checks", type=count, default=None,
                   help=f"check this many random weights, CS231n's grad_check_sparse "
                        f"({_by_data('gradcheck', 'num_checks')})")
    p.add_argument("--init-scale", type=nonnegative, default=1e-4, help="W = init_scale * randn(C, D)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (W and the checked weights)")
    _add_json_arg(p)


def _add_tea_args(p):
    _add_toy_args(p, "")
    p.add_argument("--start", type=float, default=20.0, help="gradient descent: the starting temperature (C)")
    p.add_argument("--step-size", type=positive, default=5.0, help="gradient descent: the step size")
    p.add_argument("--steps", type=count, default=500, help="gradient descent: the number of steps")
    _add_json_arg(p)


def _add_assignment_args(p):
    from .assignment import add_arguments

    add_arguments(p)


def _cmd_assignment(args):
    from .assignment import run

    return run(args)


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
             "CS231n's recipe (lr 1e-7, reg 2.5e4, batch 200, 1500 steps, init 1e-3). A run whose loss "
             "diverges exits 1 (--json still prints its record, \"diverged\": true).",
             _add_train_args, _cmd_train),
    _Command("search", "optimize without gradients: grid, random or random local search",
             "The lecture's first strategies. grid: exhaustive search over the tea-temperature toy; random: keep "
             "the best of --trials random W; local: perturb W by --step-size * randn, keep it if the loss drops.",
             _add_search_args, _cmd_search),
    _Command("gradcheck", "check the analytic gradient against finite differences",
             "The lecture's numerical gradient, (L(W + h e_k) - L(W)) / h for every weight (or the central "
             "difference), against the hand-derived gradient: relative error |a - b| / max(|a|, |b|) (the CS231n "
             "notes'; its assignment code divides by |a| + |b|, half as large near a match), the worst "
             "coordinates and a verdict with CS231n's thresholds (> 1e-2 probably wrong, <= 1e-7 good, "
             "1e-7..1e-4 ok only for the SVM's kinks; the mismatch is read beyond the check's own round-off "
             "and truncation error, and a check that cannot resolve 1e-7, as in float32, says inconclusive). "
             "CIFAR-10 uses its 500-image dev set.",
             _add_gradcheck_args, _cmd_gradcheck),
    _Command("sweep", "train a learning rate x regularization grid in one vmapped call",
             "CS231n's tuning step: train one linear classifier per (learning rate, regularization strength) "
             "pair -- all of them at once, one vmapped call, the same minibatches for every model -- and keep "
             "the best on the validation set; report its test accuracy. Diverged models are marked, never chosen.",
             _add_sweep_args, _cmd_sweep),
    _Command("tea", "exhaustive search vs gradient descent on the tea-temperature toy",
             "The lecture's one-parameter problem: the best temperature for a cup of tea. Exhaustive search "
             "tastes every temperature of a grid; gradient descent starts at --start and steps downhill, "
             "t <- t - step_size * slope. Try --toy local_minima or wiggly to see gradient descent get stuck.",
             _add_tea_args, _cmd_tea),
    _Command("compare", "compare optax optimizers over seeds, with spreads and the gap to the optimum",
             "Every optimizer on the same budget -- the same log grid of learning rates, steps, batch size and "
             "seeds -- each lr x seed grid in one vmapped call. Reports accuracies as mean, sd and 95 % t "
             "interval over seeds, the gap f(W_t) - f* to the exact softmax optimum (Newton-CG, float64), which "
             "pairs the intervals can tell apart, and writes <out>/compare/ (--quick: <out>/quick/compare/).",
             _add_compare_args, _cmd_compare),
    _Command("lecture", "run the whole lecture and write results/lecture/report.md",
             "The main job: every experiment of the optimization lecture in its order -- the loss landscape, "
             "random search, exhaustive search vs gradient descent, the numerical vs analytic gradient, batch "
             "sizes and SGD, optax optimizers, the lr x reg sweep, the learned templates -- writing each one's "
             "results and figures under --out and a report with every table and figure (--quick: all of it "
             "under <out>/quick/, so a full report never shows a smoke test).",
             _add_lecture_args, _cmd_lecture),
    _Command("assignment", "build a student assignment from the notebooks, or grade a submission",
             "build OUT writes the student and teacher notebooks, the tests and the autograder; grade FILE "
             "grades a student's .py or .ipynb in a child process, with limits, and hints from the gradient "
             "check's diagnosis (--json: the score and every test).",
             _add_assignment_args, _cmd_assignment),
)

EPILOG = ("Start-up: JAX's persistent compilation cache is on, in $XDG_CACHE_HOME/jaxopt-course/jax "
          "(~/.cache/jaxopt-course/jax; $JAX_COMPILATION_CACHE_DIR wins if set), so a repeated command skips "
          "most compiling; JAXOPT_COURSE_NO_CACHE=1 turns it off. An option the chosen command or data set would "
          "ignore is an error that names it. Exit codes: 0 done, 1 diverged, 2 bad arguments or data, "
          f"{EXIT_WRITE_FAILED} a checkpoint or result could not be written (disk full...), 130 interrupted "
          "(Ctrl-C), 143 terminated (SIGTERM): a run stopped by either writes its checkpoint first.")


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
        p.set_defaults(func=command.run, prog="jaxopt-course")  # prog: the experiments' one-line errors
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with only its subcommand's options built; refuse ignored options; fill the recipe."""
    names = {command.name for command in COMMANDS}
    parser = build_parser(only=argv[0] if argv[0] in names else "")
    args = parser.parse_args(argv)
    flags = {flag: action.dest for action in parser._subparsers._group_actions[0].choices[args.command]._actions
             for flag in action.option_strings}
    _refuse_ignored(args, {flags[t.split("=", 1)[0]] for t in argv[1:] if t.split("=", 1)[0] in flags})
    args.recipe = _apply_recipe(args)
    return args


def main(argv=None) -> int:
    """``jaxopt-course ...``: run one subcommand; return its exit code."""
    previous = {signum: signal.getsignal(signum) for signum in signals.SIGNALS}
    signals.install()  # first: SIGINT/SIGTERM from now on end the process cleanly, or at a chunk boundary
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    finally:
        for signum, handler in previous.items():  # a caller in the same process keeps its own handlers
            signal.signal(signum, handler)


def _main(argv: list[str]) -> int:
    from .cache import enable_compilation_cache
    from .limits import LimitError

    if not argv:  # bare `jaxopt-course`: what there is to run
        build_parser(only="").print_help()
        return 0
    enable_compilation_cache()
    try:
        args = _parse(argv)
        return args.func(args)
    except SystemExit as err:  # --help, or an experiment's one-line error (already printed)
        return err.code if isinstance(err.code, int) else EXIT_USAGE
    except UsageError as err:
        print(f"{PREFIX} {err}", file=sys.stderr)
        return EXIT_USAGE
    except WriteFailed as err:  # --out written after the run (its result already printed): one line, exit 74
        print(f"{PREFIX} {err}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    except (LimitError, ValueError, TypeError, OSError, ConnectionError) as err:
        print(f"{PREFIX} {err}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # a signal raised at a check outside a training loop: nothing to save
        print("jaxopt-course: interrupted", file=sys.stderr)
        return signals.exit_code(signals.last_signal() or signal.SIGINT)
