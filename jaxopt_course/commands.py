"""What each ``jaxopt-course`` subcommand computes, as functions of its parsed options.

:mod:`jaxopt_course.cli` parses the command line, calls one function here
and prints what it returns: a :class:`Report` (the JSON record and the human
table, the exit code, a line for stderr, and what to write to ``--out``
after the result is printed). Nothing here parses or prints a result; a note
that must appear *before* a long run (the CIFAR-10 recipe, a resume) goes to
stderr through :func:`note`.

The subcommands read top to bottom: ``gradcheck``; ``train`` and ``sweep``
(around :mod:`jaxopt_course.runs`' folders, checkpoints and resume); ``search``
and ``tea``; ``lecture`` and ``compare`` (the modules of
:mod:`jaxopt_course.experiments`); then the data and CIFAR-10's recipe.

Every function imports what it needs inside its body, so that importing
this module (``jaxopt-course --help`` does) imports no JAX.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

#: gradcheck's finite-difference step when --h is not given: the lecture's
#: h = 1e-4 in float64 (on digits the best of 1e-6..1e-3 for softmax; the SVM,
#: piecewise linear, would take larger); in float32 the loss is known only to
#: about 1e-7 of itself, so a slope needs a larger step to rise above round-off.
GRADCHECK_H = {"float64": 1e-4, "float32": 1e-2}


class Report(NamedTuple):
    """What a subcommand hands the command line to print, in this order.

    Attributes:
      result: the ``--json`` record.
      lines: the human table (printed instead of ``result`` without ``--json``).
      code: the exit code (0 done, 1 diverged).
      error: one line for stderr after the result (``None``: nothing to say).
      save: writes ``--out`` once the result is printed (``None``: nothing to write); it may raise
        :class:`jaxopt_course.runs.WriteFailed`.
      quiet: print nothing (several processes: only process 0 prints).
    """

    result: dict
    lines: list[str]
    code: int = 0
    error: str | None = None
    save: Callable[[], None] | None = None
    quiet: bool = False


def note(line: str) -> None:
    """A note on stderr before the work it announces (``jaxopt-course: <line>``)."""
    print(f"jaxopt-course: {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


#: The verdicts that report a mismatch beyond the check's own error: the ones a diagnosis explains.
#: ``good`` needs none; ``ok`` (the SVM's kinks) and ``inconclusive`` (a check that cannot resolve 1e-7,
#: as in float32) prove no mistake, and a fit to round-off would name one that is not there (a right
#: float32 SVM gradient reads ``unexplained``).
DIAGNOSED_VERDICTS = ("wrong", "uncomfortable")


def diagnosis_of(report, loss: str, W, X, y, reg: float) -> tuple[dict | None, list[str]]:
    """The shared diagnosis (:func:`jaxopt_course.diagnosis.diagnose_report`) of a verdict that finds a mismatch.

    Returns:
      ``(record, lines)``: ``record`` is ``{"codes", "hint", "coefficients"}`` for ``--json`` and
      ``lines`` what the table prints; ``(None, [])`` for a verdict outside :data:`DIAGNOSED_VERDICTS`.

    Examples:
      >>> import numpy as np
      >>> from jaxopt_course.gradcheck import check_gradient
      >>> from jaxopt_course.diagnosis import gradient_parts
      >>> rng = np.random.default_rng(0)
      >>> W, X, y = rng.normal(size=(3, 4)), rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
      >>> from jaxopt_course.losses import softmax_loss
      >>> import jax
      >>> with jax.enable_x64(True):
      ...     no_reg = gradient_parts("softmax", W, X, y, reg=0.1)["data"]  # the 2 reg W forgotten
      ...     report = check_gradient(lambda W: softmax_loss(W, X, y, reg=0.1), W, no_reg)
      ...     record, lines = diagnosis_of(report, "softmax", W, X, y, reg=0.1)
      >>> record["codes"]
      ['reg_missing']
    """
    from .diagnosis import diagnose_report

    if report.verdict not in DIAGNOSED_VERDICTS:
        return None, []
    found = diagnose_report(report, loss, W, X, y, reg)
    record = {"codes": list(found.codes), "hint": found.hint or None, "coefficients": found.coefficients}
    if found.codes:
        return record, [f"  diagnosis: {', '.join(found.codes)} -- {found.hint}"]
    return record, [
        "  diagnosis: none -- dW is the true gradient at the checked coordinates (its parts fit it "
        "exactly), so the mismatch lies in the finite differences: try another --h or --method central"
    ]


def check_loss_gradient(
    loss: str,
    W,
    X,
    y,
    reg: float,
    *,
    h: float,
    method: str = "central",
    num_checks: int | None = None,
    key=None,
    dW=None,
):
    """``gradcheck``'s check: ``dW`` (default: the hand-derived gradient) against finite differences.

    Args:
      loss: ``"svm"`` or ``"softmax"``.
      W, X, y, reg: the problem: ``W`` ``(C, D)``, ``X`` ``(N, D)``, ``y`` ``(N,)``, in the dtype to check in.
      h, method, num_checks, key: :func:`jaxopt_course.gradcheck.check_gradient`'s.
      dW: the gradient to check, ``W``'s shape (``None``: :data:`jaxopt_course.analytic.LOSS_AND_GRAD`'s).

    Returns:
      ``(report, autodiff_vs_hand, diagnosis, lines)``: the
      :class:`~jaxopt_course.gradcheck.GradCheckReport`, the max relative error of ``jax.grad`` against
      the hand-derived gradient, and :func:`diagnosis_of`'s record and lines.
    """
    import jax
    import jax.numpy as jnp

    from .analytic import LOSS_AND_GRAD
    from .gradcheck import check_gradient, relative_error, svm_kink_crossings
    from .losses import get_loss

    loss_fn = get_loss(loss)

    def objective(W):
        return loss_fn(W, X, y, reg=reg)

    _, hand_dW = LOSS_AND_GRAD[loss](W, X, y, reg=reg)
    autodiff_vs_hand = float(jnp.max(relative_error(jax.grad(objective)(W), hand_dW)))
    kinks = svm_kink_crossings(W, X, y, h=h) if loss == "svm" else None
    report = check_gradient(
        objective, W, hand_dW if dW is None else dW, num_checks=num_checks, h=h, method=method, key=key, kinks=kinks
    )
    diagnosis, lines = diagnosis_of(report, loss, W, X, y, reg)
    return report, autodiff_vs_hand, diagnosis, lines


def gradcheck(args) -> Report:
    """``jaxopt-course gradcheck``: the hand-derived gradient on the data, its verdict and, if not good, why."""
    import contextlib

    import jax
    import jax.numpy as jnp

    from .distributed import check_platform

    check_platform()
    splits = load(args)
    # CIFAR-10: CS231n's 500-image dev set; digits (no dev set): the training split.
    split, split_name = (splits.dev, "dev") if splits.dev is not None else (splits.train, "train")
    h = GRADCHECK_H[args.dtype] if args.h is None else args.h
    start = time.perf_counter()
    with jax.enable_x64(True) if args.dtype == "float64" else contextlib.nullcontext():
        X, y = jnp.asarray(split.X, dtype=args.dtype), jnp.asarray(split.y)
        W = args.init_scale * jax.random.normal(
            jax.random.key(args.seed), (splits.num_classes, splits.dim), dtype=args.dtype
        )
        report, autodiff_vs_hand, diagnosis, diagnosis_lines = check_loss_gradient(
            args.loss,
            W,
            X,
            y,
            args.reg,
            h=h,
            method=args.method,
            num_checks=args.num_checks,
            key=jax.random.key(args.seed + 1),
        )
    seconds = time.perf_counter() - start
    result = with_recipe(
        args,
        {
            "data": args.data,
            "split": split_name,
            "num_examples": int(split.X.shape[0]),
            "loss": args.loss,
            "reg": args.reg,
            "init_scale": args.init_scale,
            "seed": args.seed,
            "jax_grad_vs_hand_max_relative_error": autodiff_vs_hand,
            **report.to_dict(),
            "diagnosis": diagnosis,
            "seconds": seconds,
        },
    )
    return Report(
        result,
        [
            f"{args.loss} loss on {args.data} ({split_name}: {split.X.shape[0]} examples), W = {args.init_scale:g} * "
            f"randn{tuple(W.shape)}, reg {args.reg:g}: numerical vs hand-derived gradient ({seconds:.1f} s)",
            str(report),
            *diagnosis_lines,
            f"  jax.grad vs hand-derived: max relative error {autodiff_vs_hand:.2e}",
        ],
    )


# ---------------------------------------------------------------------------
# train and sweep
# ---------------------------------------------------------------------------


class Setup(NamedTuple):
    """What ``train`` and ``sweep`` know once the data are loaded: the engine's inputs and the run's folders."""

    splits: Any
    mesh: Any  # a jax.sharding.Mesh, or None: one device
    writer: bool  # several processes: only process 0 writes files and prints
    key: Any
    W0: Any
    batch_size: int | None  # None: gradient descent on the whole training set
    X: Any  # this host's training rows
    y: Any
    left_out: int  # several processes: training rows no device holds
    run: dict  # runs.identity: what makes this run the same run
    folders: Any  # runs.Folders


def setup(args, *, one_model: bool) -> Setup:
    """Devices, data, batch size, the run's identity and folders: everything before training.

    Raises ``ValueError`` (one line, the command line's exit 2) for a batch above the N training examples
    (never cut silently), a mesh that cannot be made, or a checkpoint folder that must not be touched.
    """
    import jax

    from . import runs
    from .distributed import check_platform, initialize_multihost
    from .model import init_weights

    initialize_multihost(args.coordinator_address, args.num_processes, args.process_id)  # before other JAX calls
    check_platform()  # JAX_PLATFORMS=cuda without CUDA: one line, not JAX's bare AssertionError (issue 24.7)
    mesh = runs.mesh_for(args.devices, args.mesh, one_model=one_model)
    if not one_model and jax.process_count() > 1 and (args.checkpoint_dir or args.resume):
        raise ValueError(
            "--checkpoint-dir/--resume: a sweep over several processes keeps each model's state on "
            "the host that trains it, and checkpointing that is not supported; run the sweep in one "
            "process (any number of devices) to checkpoint it"
        )
    splits = load(args)
    N = splits.train.X.shape[0]
    if not args.full_batch and args.batch_size > N:
        raise ValueError(
            f"--batch-size {args.batch_size} is more than the {N} training examples of {args.data}: "
            f"give at most {N}, or --full-batch for gradient descent on all of them"
        )
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W0 = init_weights(init_key, splits.num_classes, splits.dim, scale=args.init_scale)
    batch_size = None if args.full_batch else args.batch_size
    grid = {"lr": args.lr, "reg": args.reg} if one_model else {"lrs": args.lrs, "regs": args.regs}
    run = runs.identity(
        args.command,
        {
            "data": args.data,
            "loss": args.loss,
            "optimizer": args.optimizer,
            **grid,
            "batch_size": batch_size,
            "seed": args.seed,
            "init_scale": args.init_scale,
        },
        splits.train.X,
        splits.train.y,
    )
    writer = jax.process_index() == 0
    folders = runs.plan(
        run,
        steps=args.steps,
        out=args.out if writer else None,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
        force=args.force or not writer,
        auto_resume=jax.process_count() == 1,
    )
    X, y, left_out = runs.host_rows(splits.train.X, splits.train.y, mesh)
    return Setup(splits, mesh, writer, key, W0, batch_size, X, y, left_out, run, folders)


def engine_run(args, s: Setup):
    """The command's :class:`jaxopt_course.train.Run`: the loss, the optimizer by name, batch, steps, devices."""
    from functools import partial

    from .losses import get_loss
    from .optimizers import get_optimizer
    from .train import Run

    return Run(
        get_loss(args.loss),
        partial(get_optimizer, args.optimizer),
        batch_size=s.batch_size,
        num_steps=args.steps,
        mesh=s.mesh,
    )


def execute(args, s: Setup, *, like: Callable, fit: Callable, so_far: Callable):
    """:func:`jaxopt_course.runs.execute` with the command's options: ``(output, seconds, first_step)``.

    ``fit(loop)`` trains with the :class:`~jaxopt_course.hostloop.Loop` it is given. A run stopped by a
    signal or a failed write raises :class:`jaxopt_course.runs.RunEnded` (the command line prints it).
    """
    from . import runs
    from .hostloop import Loop

    if s.folders.note and s.writer:
        note(s.folders.note)

    def call(init_state, init_metrics, on_chunk):
        return fit(
            Loop(chunk_size=args.chunk_size, on_chunk=on_chunk, init_state=init_state, init_metrics=init_metrics)
        )

    return runs.execute(
        s.folders, s.run, steps=args.steps, like=like, call=call, so_far=so_far, writer=s.writer, config=config(args, s)
    )


def config(args, s: Setup) -> dict:
    """What ``--out``'s ``config.json`` holds: the run's identity, its steps and chunk size."""
    return {**s.run, "steps": args.steps, "chunk_size": args.chunk_size}


def finish(
    args,
    s: Setup,
    result: dict,
    lines: list[str],
    seconds: float,
    first: int,
    *,
    params,
    metrics,
    status: str = "completed",
    end: int | None = None,
    code: int = 0,
    error: str | None = None,
) -> Report:
    """The :class:`Report` of a run that reached its end (or diverged): timings, devices, and ``--out`` to write.

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
    with_recipe(args, result)

    def save():
        runs.save_results(
            s.folders,
            params=params,
            metrics=metrics,
            config=config(args, s),
            summary={"status": status, "step": result["steps_run"], **result},
        )

    return Report(result, lines, code, error, save if s.writer else None, quiet=not s.writer)


def train(args) -> Report:
    """``jaxopt-course train``: :func:`jaxopt_course.train.fit` on the data; exit 1 if it diverged."""
    import numpy as np

    from .divergence import DivergenceError
    from .hostloop import Metrics
    from .model import evaluate
    from .runs import mesh_words
    from .train import fit, initial_state

    s = setup(args, one_model=True)
    run = engine_run(args, s)
    output, seconds, first = execute(
        args,
        s,
        like=lambda: initial_state(run, s.W0, s.key, num_examples=s.X.shape[0], lr=args.lr),
        fit=lambda loop: fit(run, s.W0, s.X, s.y, key=s.key, lr=args.lr, reg=args.reg, loop=loop),
        so_far=lambda err: (err.state.params, err.metrics),
    )
    diverged = output if isinstance(output, DivergenceError) else None
    W = np.asarray(output.params)  # replicated over a mesh: one host copy
    accuracies = evaluate(W, s.splits)
    method = "gradient descent (full batch)" if s.batch_size is None else f"SGD steps of batch {s.batch_size}"
    result = {
        "data": args.data,
        "loss": args.loss,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "reg": args.reg,
        "batch_size": s.batch_size,
        "steps": args.steps,
        "seed": args.seed,
        "train_accuracy": accuracies["train"],
        "val_accuracy": accuracies["val"],
        "test_accuracy": accuracies["test"],
        "diverged": diverged is not None,
        "final_loss": None if diverged else float(run.loss_fn(W, s.splits.train.X, s.splits.train.y, args.reg)),
    }
    lines = [
        f"{args.loss} classifier on {args.data}: {args.steps} {method}, {args.optimizer} lr {args.lr:g}, "
        f"reg {args.reg:g}{mesh_words(s.mesh)}",
        f"  final loss      {result['final_loss'] or float('nan'):.4f}",
        *(f"  {split + ' accuracy':<16}{accuracies[split]:.2%}" for split in ("train", "val", "test")),
    ]
    if diverged is not None:
        return _diverged(args, s, result, lines, diverged, seconds, first)
    losses = np.asarray(output.losses)
    metrics = Metrics(losses, np.full_like(losses, np.nan))
    return finish(args, s, result, lines, seconds, first, params=W, metrics=metrics)


def _diverged(args, s: Setup, result: dict, lines: list[str], err, seconds: float, first: int) -> Report:
    """train: the run broke the divergence rule: its record (``"diverged": true``), one line on stderr, exit 1."""
    import numpy as np

    from .divergence import DIVERGENCE_FACTOR
    from .runs import EXIT_DIVERGED

    losses = np.asarray(err.metrics.loss)
    cause = (
        "is not finite"
        if not np.isfinite(losses[err.step])
        else f"rose above {DIVERGENCE_FACTOR:g} x its start ({losses[0]:.6g} at step 0)"
    )
    earlier = f" (the loss was {err.last_finite_loss:.6g} at step {err.step - 1})" if err.step else ""
    line = (
        f"training diverged: the loss is {losses[err.step]:.6g} at step {err.step} of {args.steps} and {cause}"
        f"{earlier}; the step size is probably too large -- try a smaller --lr."
    )
    line += (
        f" Kept the last finite params and the metrics so far in {s.folders.out}/."
        if s.folders.out
        else " (--out DIR keeps the last finite weights and the metrics so far.)"
    )
    # "steps" stays the run's requested length; "steps_run" (and metrics.json's "step") counts the steps whose
    # losses were computed, 0 .. diverged_at_step: as for a finished or interrupted run, the losses saved.
    result.update(steps_run=err.step + 1, diverged_at_step=err.step, last_finite_loss=err.last_finite_loss)
    lines[0] += f" -- diverged at step {err.step}; the accuracies are the weights' of step {err.step - 1}"
    chunk = min(args.chunk_size, args.steps)  # fit's chunks start at the first step; the diverged one ran to its end
    end = min(first + -(-(err.step + 1 - first) // chunk) * chunk, args.steps)
    return finish(
        args,
        s,
        result,
        lines,
        seconds,
        first,
        params=err.params,
        metrics=err.metrics,
        status="diverged",
        end=end,
        code=EXIT_DIVERGED,
        error=line,
    )


def sweep(args) -> Report:
    """``jaxopt-course sweep``: :func:`jaxopt_course.train.sweep` over the lr x reg grid; the best by val accuracy."""
    import numpy as np

    from . import limits
    from .hostloop import Metrics
    from .model import evaluate
    from .runs import EXIT_DIVERGED, mesh_words
    from .train import initial_state
    from .train import sweep as sweep_grid

    s = setup(args, one_model=False)
    L, R = len(args.lrs), len(args.regs)
    limits.check_sweep(
        L * R,
        s.W0.size,
        args.steps,
        s.batch_size or s.X.shape[0],
        s.splits.num_classes,
        what=f"a sweep of {L} x {R} learning rates and regs",
        yes=args.yes,
    )
    run = engine_run(args, s)

    def so_far(err):  # the M = L * R models so far, as an lr x reg grid
        params = np.asarray(err.state.params).reshape((L, R) + s.W0.shape)
        return params, Metrics(*(np.asarray(m).reshape(L, R, err.step) for m in err.metrics))

    grid, seconds, first = execute(
        args,
        s,
        so_far=so_far,
        like=lambda: initial_state(
            run, s.W0, s.key, num_examples=s.X.shape[0], learning_rates=args.lrs, regs=args.regs
        ),
        fit=lambda loop: sweep_grid(
            run,
            s.W0,
            s.X,
            s.y,
            key=s.key,
            learning_rates=args.lrs,
            regs=args.regs,
            X_val=s.splits.val.X,
            y_val=s.splits.val.y,
            loop=loop,
        ),
    )
    params, diverged = np.asarray(grid.params), np.asarray(grid.diverged)  # replicated over a mesh: one host copy
    val = np.where(diverged, np.nan, grid.val_accuracy)
    result = {
        "data": args.data,
        "loss": args.loss,
        "optimizer": args.optimizer,
        "learning_rates": args.lrs,
        "regs": args.regs,
        "steps": args.steps,
        "batch_size": s.batch_size,
        "seed": args.seed,
        "val_accuracy": [[None if np.isnan(v) else float(v) for v in row] for row in val],
        "diverged": diverged.tolist(),
        "diverged_step": np.asarray(grid.diverged_step).tolist(),
        "best": None,
    }
    width = max(8, *(len(f"{r:g}") + 1 for r in args.regs))
    lines = [
        f"{L * R} {args.loss} classifiers on {args.data}, {args.optimizer}, {args.steps} steps, trained at "
        f"once, vmapped{mesh_words(s.mesh)}: validation accuracy",
        "  " + "lr / reg".rjust(10) + "".join(f"{r:g}".rjust(width) for r in args.regs),
    ]
    lines += [
        "  "
        + f"{lr:g}".rjust(10)
        + "".join(("diverged" if diverged[a, b] else f"{100 * val[a, b]:.1f}%").rjust(width) for b in range(R))
        for a, lr in enumerate(args.lrs)
    ]
    metrics = Metrics(grid.losses, np.full_like(grid.losses, np.nan))
    if np.all(np.isnan(val)):
        lines.append("  every model diverged")
        return finish(
            args,
            s,
            result,
            lines,
            seconds,
            first,
            params=params,
            metrics=metrics,
            status="diverged",
            code=EXIT_DIVERGED,
            error="every model of the sweep diverged; try smaller --lrs",
        )
    i, j = np.unravel_index(int(np.nanargmax(val)), val.shape)
    accuracies = evaluate(params[i, j], s.splits)
    result["best"] = {
        "lr": args.lrs[i],
        "reg": args.regs[j],
        "train_accuracy": accuracies["train"],
        "val_accuracy": accuracies["val"],
        "test_accuracy": accuracies["test"],
    }
    lines.append(
        f"  best: lr {args.lrs[i]:g}, reg {args.regs[j]:g} -- val {accuracies['val']:.2%}, "
        f"test {accuracies['test']:.2%}"
    )
    return finish(args, s, result, lines, seconds, first, params=params, metrics=metrics)


# ---------------------------------------------------------------------------
# search and tea
# ---------------------------------------------------------------------------


def search(args) -> Report:
    """``jaxopt-course search``: exhaustive search on the tea toy, or random / random local search on the data."""
    import jax
    import jax.numpy as jnp

    from .distributed import check_platform
    from .losses import get_loss
    from .model import evaluate
    from .search import grid_search, random_local_search, random_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost, temperature_grid

    check_platform()
    start = time.perf_counter()
    if args.method == "grid":
        low, high = TEA_TEMPERATURE_RANGE
        found = grid_search(get_tea_cost(args.toy), temperature_grid(args.points))
        seconds = time.perf_counter() - start
        result = {
            "method": "grid",
            "toy": args.toy,
            "evaluations": args.points,
            "best_temperature": float(found.params),
            "best_loss": float(found.loss),
            "seconds": seconds,
        }
        return Report(
            result,
            [
                f"exhaustive search over {args.points} tea temperatures in [{low:g}, {high:g}] C "
                f"({args.toy} toy, {seconds:.2f} s)",
                f"  best temperature  {result['best_temperature']:.2f} C",
                f"  its cost          {result['best_loss']:.4f}",
            ],
        )
    splits = load(args)
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
        what = (
            f"random local search: {args.trials} tries of steps {args.step_size:g} * randn{shape} "
            f"from W0 = {args.scale:g} * randn"
        )
    accuracies = evaluate(found.params, splits)
    seconds = time.perf_counter() - start
    result = with_recipe(
        args,
        {
            "method": args.method,
            "data": args.data,
            "loss": args.loss,
            "reg": args.reg,
            "evaluations": args.trials,
            "scale": args.scale,
            "step_size": args.step_size if args.method == "local" else None,
            "seed": args.seed,
            "best_loss": float(found.loss),
            "train_accuracy": accuracies["train"],
            "val_accuracy": accuracies["val"],
            "test_accuracy": accuracies["test"],
            "seconds": seconds,
        },
    )
    return Report(
        result,
        [
            f"{what} on {args.data}, {args.loss} loss ({seconds:.1f} s)",
            f"  best loss       {result['best_loss']:.4f}",
            *(f"  {split + ' accuracy':<16}{accuracies[split]:.2%}" for split in ("train", "val", "test")),
        ],
    )


def tea(args) -> Report:
    """``jaxopt-course tea``: exhaustive search vs gradient descent on the tea-temperature toy."""
    from .distributed import check_platform
    from .search import grid_search
    from .toys import TEA_TEMPERATURE_RANGE, get_tea_cost, gradient_descent_1d, temperature_grid

    check_platform()
    f, (low, high) = get_tea_cost(args.toy), TEA_TEMPERATURE_RANGE
    start = time.perf_counter()
    found = grid_search(f, temperature_grid(args.points))
    temperatures, costs = gradient_descent_1d(f, args.start, step_size=args.step_size, steps=args.steps)
    seconds = time.perf_counter() - start
    ex = {"evaluations": args.points, "best_temperature": float(found.params), "best_cost": float(found.loss)}
    gd = {
        "start": args.start,
        "step_size": args.step_size,
        "steps": args.steps,
        "final_temperature": float(temperatures[-1]),
        "final_cost": float(costs[-1]),
    }
    return Report(
        {"toy": args.toy, "exhaustive": ex, "gradient_descent": gd, "seconds": seconds},
        [
            f"tea temperature, {args.toy} cost ({seconds:.2f} s)",
            f"  exhaustive search, {args.points} tastings over [{low:g}, {high:g}] C: "
            f"best {ex['best_temperature']:.2f} C, cost {round(ex['best_cost'], 4) + 0.0:.4f}",
            f"  gradient descent from {args.start:g} C, {args.steps} steps of {args.step_size:g} x slope: ends at "
            f"{gd['final_temperature']:.2f} C, cost {round(gd['final_cost'], 4) + 0.0:.4f}",
        ],
    )


# ---------------------------------------------------------------------------
# lecture and compare: the experiment modules of jaxopt_course.experiments
# ---------------------------------------------------------------------------


def lecture(args) -> Report:
    """``jaxopt-course lecture``: :func:`jaxopt_course.experiments.lecture.run_cli`; its ``"text"`` is the table."""
    from .experiments import lecture as module

    result = module.run_cli(args)
    return Report({k: v for k, v in result.items() if k != "text"}, [result["text"]])


def compare(args) -> Report:
    """``jaxopt-course compare``: :func:`jaxopt_course.experiments.compare.run`, after the size checks (limits)."""
    from . import limits
    from .distributed import check_platform
    from .experiments import compare as module

    check_platform()
    splits = load(args)
    s = module.settings(args)
    seeds, problems, C, D = s["tuning_seeds"] + s["eval_seeds"], len(s["problems"]), splits.num_classes, splits.dim
    models = s["num_lrs"] * seeds  # one optimizer's lr x seed grid: one vmapped call
    what = f"a comparison of {len(s['optimizers'])} optimizers x {problems} problems x {models} models"
    limits.check_sweep(models, C * D, s["steps"], s["batch_size"], C, what=what, yes=True)
    limits.check_duration(
        limits.sweep_seconds(models * len(s["optimizers"]) * problems, s["steps"], s["batch_size"], C * D),
        what,
        yes=args.yes,
    )
    item = module.run(args, splits=splits)
    result = {
        "dir": str(item["dir"]),
        "figures": [str(f) for f in item["figures"]],
        "summary": item["summary"],
        "config": item["config"],
        **item["metrics"],
    }
    return Report(
        result,
        [
            item["table"],
            "",
            item["summary"],
            f"wrote {item['dir']}/config.json, metrics.json, " + ", ".join(f.name for f in item["figures"]),
        ],
    )


# ---------------------------------------------------------------------------
# The data and the CIFAR-10 recipe
# ---------------------------------------------------------------------------


def load(args):
    """The data set named by ``--data`` (experiments._common.load_data: digits through the on-disk cache).

    On CIFAR-10, first says on stderr which options took CS231n's recipe (``args.recipe``, filled by the parser).
    """
    from .experiments._common import load_data

    splits = load_data(args)
    say_recipe(args)
    return splits


def say_recipe(args) -> None:
    """On CIFAR-10, say on stderr which options took the CS231n recipe's values."""
    if args.data == "cifar10" and getattr(args, "recipe", None):
        words = " ".join(f"{flag} {shown(value)}" for flag, value in args.recipe.items())
        note(f"--data cifar10: CS231n's recipe for the options not given: {words}")


def with_recipe(args, result: dict) -> dict:
    """``result`` with ``"cs231n_recipe"``: the options that took CS231n's values (CIFAR-10 only)."""
    if args.data == "cifar10" and getattr(args, "recipe", None):
        result["cs231n_recipe"] = args.recipe
    return result


def shown(value) -> str:
    """An option's value as the user would type it: ``1e-07``, ``0.01,0.1``, ``all`` (None)."""
    if isinstance(value, dict):
        return ", ".join(f"{shown(v)} ({k})" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return "all" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
