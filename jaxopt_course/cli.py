"""The ``jaxopt-course`` command (also ``python -m jaxopt_course``): parse, call the package, print.

Every subcommand prints a short human table, or one JSON object with
``--json`` (also when a run diverged). Bad arguments end with exit code 2
and one line on stderr that starts ``jaxopt-course: error:``; so does an
option the chosen command or data set would ignore (:data:`IGNORED`).

How this file is laid out (read top to bottom):

* the per-data-set defaults (:data:`RECIPES`) and the options a command
  would ignore (:data:`IGNORED`); the argument types and the options the
  experiment scripts share are :mod:`jaxopt_course.experiments._common`'s;
* printing: a subcommand's work is a function of :mod:`jaxopt_course.commands`
  that returns a :class:`~jaxopt_course.commands.Report` (its JSON record,
  its table, its exit code, a line for stderr and the ``--out`` files to
  write after printing); :func:`_print` prints it. The folders, checkpoints
  and resume of ``train`` and ``sweep`` are :mod:`jaxopt_course.runs`';
  ``lecture``, ``compare`` and ``assignment`` register their package
  modules' ``add_arguments(parser)``;
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
from collections.abc import Callable
from typing import Any, NamedTuple

from . import commands, runs, signals
from .commands import GRADCHECK_H, Report, shown
from .divergence import DIVERGENCE_FACTOR
from .experiments._common import count, float_list, nonnegative, positive, seed
from .runs import EXIT_WRITE_FAILED, RunEnded, WriteFailed

EXIT_USAGE = 2
PREFIX = "jaxopt-course: error:"


class UsageError(Exception):
    """A bad argument: reported in one line (``jaxopt-course: error: ...``), exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2 (and no abbreviated options)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

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
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "train": {
        "digits": dict(lr=1.0, reg=1e-4, batch_size=256, steps=2000, init_scale=1e-4),
        "cifar10": dict(lr=1e-7, reg=2.5e4, batch_size=200, steps=1500, init_scale=1e-3),
    },
    "sweep": {
        "digits": dict(lrs=[1e-2, 1e-1, 1.0], regs=[0.0, 1e-3, 1e-1], batch_size=256, steps=1000, init_scale=1e-4),
        "cifar10": dict(lrs=[1e-7, 5e-7], regs=[2.5e4, 5e4], batch_size=200, steps=1500, init_scale=1e-3),
    },
    "search": {
        "digits": dict(scale={"random": 1e-2, "local": 1e-1}, step_size=1e-2),
        "cifar10": dict(scale={"random": 1e-4, "local": 1e-3}, step_size=1e-4),
    },
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
    *(
        Ignored(
            command,
            "batch_size",
            lambda a: a.full_batch,
            "--full-batch uses the whole training set every step",
            ("--full-batch",),
        )
        for command in ("train", "sweep")
    ),
    *(
        Ignored(
            command,
            "force",
            lambda a: a.resume is not None,
            "--resume continues its checkpoint, and --force would start from step 0 (give one of them)",
            ("--resume", "DIR"),
        )
        for command in ("train", "sweep")
    ),
    Ignored(
        "search", "toy", lambda a: a.method != "grid", "only --method grid searches the tea toy", ("--method", "random")
    ),
    Ignored(
        "search",
        "points",
        lambda a: a.method != "grid",
        "only --method grid tastes a grid of temperatures",
        ("--method", "local"),
    ),
    Ignored(
        "search", "step_size", lambda a: a.method != "local", "only --method local takes steps", ("--method", "random")
    ),
    *(
        Ignored(
            "search",
            name,
            lambda a: a.method == "grid",
            "--method grid searches the tea toy, not a data set",
            ("--method", "grid"),
        )
        for name in _GRID_IGNORES
    ),
)


def _by_data(command: str, name: str) -> str:
    """``"default: 1 on digits, 1e-07 on cifar10"``, for the help of an option of :data:`RECIPES`."""
    return "default: " + ", ".join(f"{shown(recipe[name])} on {data}" for data, recipe in RECIPES[command].items())


def _apply_recipe(args) -> dict:
    """Fill the options left unset (``None``) from ``RECIPES[command][data]``; return those filled, by flag."""
    filled = {}
    for name, value in RECIPES.get(args.command, {}).get(getattr(args, "data", ""), {}).items():
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


def _emit(args, result: dict, lines: list[str]) -> None:
    from .files import to_jsonable

    print(json.dumps(to_jsonable(result)) if args.json else "\n".join(lines), flush=True)


def _print(args, report: Report) -> int:
    """Print a subcommand's :class:`~jaxopt_course.commands.Report`: the result, then --out, then its line."""
    if not report.quiet:
        _emit(args, report.result, report.lines)
    if report.save is not None:
        report.save()  # after the result: printed even when --out cannot be written
    if report.error:
        print(f"{PREFIX} {report.error}", file=sys.stderr)
    return report.code


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
    p.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table (also when a run diverged)"
    )


def _add_data_args(p):
    from .experiments._common import add_data_arguments

    add_data_arguments(p)


def _add_model_args(p, command: str):
    """train's and sweep's loss, optimizer, batch, steps, init and seed."""
    from .optimizers import OPTIMIZER_NAMES

    p.add_argument(
        "--loss",
        choices=["softmax", "svm"],
        default="softmax",
        help="the data loss: softmax cross-entropy or multiclass SVM (hinge)",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZER_NAMES,
        default="sgd",
        help="the update rule (sgd: W <- W - lr * dW, the lecture's)",
    )
    p.add_argument(
        "--batch-size",
        type=count,
        default=None,
        help=f"examples per SGD step, at most N ({_by_data(command, 'batch_size')})",
    )
    p.add_argument(
        "--full-batch",
        action="store_true",
        help="gradient descent: the whole training set every step (--batch-size is then an error)",
    )
    p.add_argument(
        "--steps", type=count, default=None, help=f"number of SGD steps, maxIterations ({_by_data(command, 'steps')})"
    )
    p.add_argument(
        "--init-scale",
        type=nonnegative,
        default=None,
        help=f"initial W = init_scale * randn(C, D) ({_by_data(command, 'init_scale')})",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed (initial W and minibatches)")
    p.add_argument(
        "--chunk-size",
        type=count,
        default=1000,
        help="steps per compiled chunk; progress, checkpoints, the divergence check and Ctrl-C/SIGTERM "
        "happen between chunks (it never changes the result)",
    )
    runs.add_arguments(p, command)  # --checkpoint-dir, --resume, --force, --out and the devices: runs.py reads them
    _add_json_arg(p)


def _add_train_args(p):
    _add_data_args(p)
    p.add_argument(
        "--lr", type=positive, default=None, help=f"the step size, learning rate ({_by_data('train', 'lr')})"
    )
    p.add_argument(
        "--reg", type=nonnegative, default=None, help=f"regularization strength lambda ({_by_data('train', 'reg')})"
    )
    _add_model_args(p, "train")


def _add_sweep_args(p):
    _add_data_args(p)
    p.add_argument(
        "--lrs",
        type=float_list(positive=True),
        default=None,
        help=f"comma-separated learning rates, e.g. 1e-7,5e-7 ({_by_data('sweep', 'lrs')})",
    )
    p.add_argument(
        "--regs",
        type=float_list(positive=False),
        default=None,
        help=f"comma-separated regularization strengths, e.g. 2.5e4,5e4 ({_by_data('sweep', 'regs')})",
    )
    p.add_argument("--yes", action="store_true", help="run a grid estimated to take over an hour (refused otherwise)")
    _add_model_args(p, "sweep")


def _add_toy_args(p, what: str):
    p.add_argument(
        "--toy",
        choices=["smooth", "local_minima", "wiggly"],
        default="smooth",
        help=f"the tea-temperature cost{what}: smooth (one minimum), local_minima (iced tea, a forgotten "
        "cup) or wiggly",
    )
    p.add_argument("--points", type=count, default=101, help="exhaustive search: grid points over 0..100 C")


def _add_search_args(p):
    p.add_argument(
        "--method",
        choices=["grid", "random", "local"],
        default="random",
        help="grid (tea toy; then the data options are errors), random or local (on the data)",
    )
    _add_toy_args(p, " (only --method grid)")
    _add_data_args(p)
    p.add_argument(
        "--loss", choices=["softmax", "svm"], default="svm", help="the loss to minimize over the training set"
    )
    p.add_argument("--reg", type=nonnegative, default=0.0, help="regularization strength lambda")
    p.add_argument("--trials", type=count, default=1000, help="loss evaluations: random W to draw, or local steps")
    p.add_argument(
        "--scale",
        type=nonnegative,
        default=None,
        help=f"std of the random W (random) or of W0 (local) ({_by_data('search', 'scale')})",
    )
    p.add_argument(
        "--step-size",
        type=positive,
        default=None,
        help=f"std of a local step, only --method local ({_by_data('search', 'step_size')})",
    )
    p.add_argument("--seed", type=seed, default=0, help="random seed")
    _add_json_arg(p)


def _add_gradcheck_args(p):
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="svm", help="the loss whose gradient to check")
    p.add_argument(
        "--method",
        choices=["forward", "central"],
        default="central",
        help="forward (the lecture's formula) or central differences (the better one)",
    )
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="float64: a tight check (float32 round-off, eps * |L| / h, hides slopes below ~1e-6 / h)",
    )
    p.add_argument(
        "--h",
        type=positive,
        default=None,
        help="the finite-difference step (default: "
        + ", ".join(f"{h:g} in {dtype}" for dtype, h in GRADCHECK_H.items())
        + ")",
    )
    p.add_argument("--reg", type=nonnegative, default=0.0, help="regularization strength lambda")
    p.add_argument(
        "--num-checks",
        type=count,
        default=None,
        help=f"check this many random weights, CS231n's grad_check_sparse ({_by_data('gradcheck', 'num_checks')})",
    )
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


def _assignment(args):
    """``assignment``: :func:`jaxopt_course.assignment.run` prints its own results and returns the exit code."""
    from .assignment import run

    return run(args)


class _Command(NamedTuple):
    """One subcommand: its name, one-line help, description, options and the function that runs it."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Report | int]  # a Report to print (commands.py), or an exit code


COMMANDS = (
    _Command(
        "train",
        "train a linear classifier with minibatch SGD",
        "Train a linear classifier (scores W x) by minibatch stochastic gradient descent: sample "
        "--batch-size examples, step against the gradient, repeat. On --data cifar10 the defaults are "
        "CS231n's recipe (lr 1e-7, reg 2.5e4, batch 200, 1500 steps, init 1e-3). A run whose loss "
        'diverges exits 1 (--json still prints its record, "diverged": true).',
        _add_train_args,
        commands.train,
    ),
    _Command(
        "search",
        "optimize without gradients: grid, random or random local search",
        "The lecture's first strategies. grid: exhaustive search over the tea-temperature toy; random: keep "
        "the best of --trials random W; local: perturb W by --step-size * randn, keep it if the loss drops.",
        _add_search_args,
        commands.search,
    ),
    _Command(
        "gradcheck",
        "check the analytic gradient against finite differences",
        "The lecture's numerical gradient, (L(W + h e_k) - L(W)) / h for every weight (or the central "
        "difference), against the hand-derived gradient: relative error |a - b| / max(|a|, |b|) (the CS231n "
        "notes'; its assignment code divides by |a| + |b|, half as large near a match), the worst "
        "coordinates and a verdict with CS231n's thresholds (> 1e-2 probably wrong, <= 1e-7 good, "
        "1e-7..1e-4 ok only for the SVM's kinks; the mismatch is read beyond the check's own round-off "
        "and truncation error, and a check that cannot resolve 1e-7, as in float32, says inconclusive). "
        "CIFAR-10 uses its 500-image dev set.",
        _add_gradcheck_args,
        commands.gradcheck,
    ),
    _Command(
        "sweep",
        "train a learning rate x regularization grid in one vmapped call",
        "CS231n's tuning step: train one linear classifier per (learning rate, regularization strength) "
        "pair -- all of them at once, one vmapped call, the same minibatches for every model -- and keep "
        "the best on the validation set; report its test accuracy. Diverged models are marked, never chosen.",
        _add_sweep_args,
        commands.sweep,
    ),
    _Command(
        "tea",
        "exhaustive search vs gradient descent on the tea-temperature toy",
        "The lecture's one-parameter problem: the best temperature for a cup of tea. Exhaustive search "
        "tastes every temperature of a grid; gradient descent starts at --start and steps downhill, "
        "t <- t - step_size * slope. Try --toy local_minima or wiggly to see gradient descent get stuck.",
        _add_tea_args,
        commands.tea,
    ),
    _Command(
        "compare",
        "compare optax optimizers over seeds, with spreads and the gap to the optimum",
        "Every optimizer on the same budget -- the same log grid of learning rates, steps, batch size and "
        "seeds -- each lr x seed grid in one vmapped call. Reports accuracies as mean, sd and 95 % t "
        "interval over seeds, the gap f(W_t) - f* to the exact softmax optimum (Newton-CG, float64), which "
        "pairs the intervals can tell apart, and writes <out>/compare/ (--quick: <out>/quick/compare/).",
        _add_compare_args,
        commands.compare,
    ),
    _Command(
        "lecture",
        "run the whole lecture and write results/lecture/report.md",
        "The main job: every experiment of the optimization lecture in its order -- the loss landscape, "
        "random search, exhaustive search vs gradient descent, the numerical vs analytic gradient, batch "
        "sizes and SGD, optax optimizers, the lr x reg sweep, the learned templates -- writing each one's "
        "results and figures under --out and a report with every table and figure (--quick: all of it "
        "under <out>/quick/, so a full report never shows a smoke test).",
        _add_lecture_args,
        commands.lecture,
    ),
    _Command(
        "assignment",
        "build a student assignment from the notebooks, or grade a submission",
        "build OUT writes the student and teacher notebooks, the tests and the autograder; grade FILE "
        "grades a student's .py or .ipynb in a child process, with limits, and hints from the gradient "
        "check's diagnosis (--json: the score and every test).",
        _add_assignment_args,
        _assignment,
    ),
)


EPILOG = (
    "Start-up: JAX's persistent compilation cache is on, in $XDG_CACHE_HOME/jaxopt-course/jax "
    "(~/.cache/jaxopt-course/jax; $JAX_COMPILATION_CACHE_DIR wins if set), so a repeated command skips "
    "most compiling; JAXOPT_COURSE_NO_CACHE=1 turns it off. An option the chosen command or data set would "
    "ignore is an error that names it. A run diverged when its loss turns NaN/Inf or rises above "
    f"{DIVERGENCE_FACTOR:g} x its loss at step 0 (one rule for train, sweep and compare: "
    "jaxopt_course.divergence.divergence_step). Exit codes: 0 done, 1 diverged, 2 bad arguments or data, "
    f"{EXIT_WRITE_FAILED} a checkpoint or result could not be written (disk full...), 130 interrupted "
    "(Ctrl-C), 143 terminated (SIGTERM): a run stopped by either writes its checkpoint first."
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; ``only="train"`` adds only that subcommand's options (``only=""``: none of them).

    :func:`main` passes the subcommand it runs, so that building the parser
    imports nothing the command does not use.
    """
    parser = _Parser(
        prog="jaxopt-course",
        formatter_class=_HelpFormatter,
        epilog=EPILOG,
        description=(
            "How linear classifiers are optimized: the CS231n optimization lecture in JAX. "
            "Run jaxopt-course COMMAND --help for a command's options and their defaults."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            epilog=EPILOG,
            formatter_class=_HelpFormatter,
        )
        if only is None or only == command.name:
            command.add_arguments(p)
        p.set_defaults(func=command.run, prog="jaxopt-course")  # prog: the experiments' one-line errors
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` with only its subcommand's options built; refuse ignored options; fill the recipe."""
    names = {command.name for command in COMMANDS}
    parser = build_parser(only=argv[0] if argv[0] in names else "")
    args = parser.parse_args(argv)
    commands_action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {
        flag: action.dest for action in commands_action.choices[args.command]._actions for flag in action.option_strings
    }
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
        done = args.func(args)
        return done if isinstance(done, int) else _print(args, done)
    except RunEnded as ended:  # stopped by a signal (checkpoint written) or a failed write: one line
        if ended.line:
            print(ended.line, file=sys.stderr)
        if ended.record and args.json:  # a record for scripts: where the run stopped, where its checkpoint is
            print(json.dumps(ended.record), flush=True)
        return ended.code
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
