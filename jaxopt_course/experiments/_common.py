"""What every experiment script shares: its arguments, its data and where it writes.

Each script answers one question of the lecture and runs as

    python experiments/<name>.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

writing ``<out>/<name>/config.json``, ``metrics.json`` and its PNG figures,
and printing a short table. A ``--quick`` smoke test writes to
``<out>/quick/<name>/`` instead (:func:`results_dir`), so it never overwrites a
full run's results, and the lecture's report of a full run never shows a
smoke test's figures. Figures are drawn by :mod:`jaxopt_course.plots`
from the saved metrics only, so a figure can always be redrawn from disk.

Each experiment is a module of this package, ``jaxopt_course.experiments.<name>``;
``experiments/<name>.py`` in a source checkout is a three-line entry point over its
``main``, and ``jaxopt-course lecture`` / ``compare`` import the modules by name, so
they work from an installed wheel in any folder. The options every script and
the command line share (``--data``, ``--data-dir``, ``--download``, ``--quick``,
``--out``, ``--seed``) and their argument types are defined once, here
(:func:`add_data_arguments`, :func:`add_run_arguments`); ``jaxopt-course``
builds its parsers from them too. Importing this module
turns on JAX's persistent compilation cache, as the command line does
(:mod:`jaxopt_course.cache`; ``JAXOPT_COURSE_NO_CACHE=1`` turns it off).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

from jaxopt_course.cache import enable_compilation_cache
from jaxopt_course.files import atomic_write_json, ensure_dir

enable_compilation_cache()  # before any experiment imports JAX


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        fail(self, message)


def fail(args, message: str) -> NoReturn:
    """One line ``<prog>: error: <message>`` on stderr, exit code 2 (``args``: the parsed arguments or the parser)."""
    print(f"{getattr(args, 'prog', 'experiments')}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------------------
# The options every script and the command line share: one definition each
# ---------------------------------------------------------------------------

#: Where ``--data-dir`` comes from when it is not given.
CIFAR10_ENV = "JAXOPT_COURSE_CIFAR10"


def count(text: str) -> int:
    """argparse type: a positive integer JAX can count with, ``1 .. 2**31 - 1`` (steps, seeds, trials, points)."""
    from jaxopt_course.limits import INT32_MAX

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if value > INT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer <= {INT32_MAX} (2**31 - 1, JAX's 32-bit integers), got {value}"
        )
    return value


def seed(text: str) -> int:
    """argparse type: a random seed, any 64-bit integer (what ``jax.random.key`` takes)."""
    from jaxopt_course.limits import LimitError, check_seed

    try:
        return check_seed(int(text), "the seed")
    except ValueError as err:  # not an integer, or a LimitError: out of range
        raise argparse.ArgumentTypeError(
            str(err) if isinstance(err, LimitError) else f"expected an integer, got {text!r}"
        ) from None


def _number(text: str, *, low: str) -> float:
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


def positive(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate, a step)."""
    return _number(text, low="> 0")


def nonnegative(text: str) -> float:
    """argparse type: a finite number >= 0 (a regularization strength, a scale)."""
    return _number(text, low=">= 0")


def float_list(positive: bool):
    """argparse type: ``"1e-7,5e-7"`` -> ``[1e-07, 5e-07]``, every number > 0 (``positive``) or >= 0."""
    check = _number

    def parse(text):
        values = [check(part.strip(), low="> 0" if positive else ">= 0") for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
        return values

    return parse


def mesh_sizes(text: str) -> dict:
    """argparse type: ``"data=2,model=4"`` -> ``{"data": 2, "model": 4}``."""
    from jaxopt_course.distributed import parse_mesh

    try:
        return parse_mesh(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_data_arguments(p) -> None:
    """``--data``, ``--data-dir`` and ``--download``: which data set, and where CIFAR-10 lies."""
    from jaxopt_course.data import DATASETS

    p.add_argument(
        "--data",
        choices=DATASETS,
        default="digits",
        help="the data set: digits (bundled with scikit-learn, offline) or cifar10",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help=f"the folder holding cifar-10-batches-py/ (default ${CIFAR10_ENV}); only with --data "
        "cifar10, an error otherwise",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download CIFAR-10 into --data-dir if it is not there (MD5-checked); only with --data cifar10",
    )


def add_run_arguments(p, *, quick: str = "small budgets: a smoke test in seconds", out: str = "results") -> None:
    """``--quick``, ``--out`` and ``--seed``: the budget, the results folder and the seed of an experiment."""
    p.add_argument("--quick", action="store_true", help=f"{quick}; writes to OUT/quick/<name>/, never over a full run")
    p.add_argument("--out", default=out, help="the results folder: a run writes OUT/<name>/")
    p.add_argument("--seed", type=seed, default=0, help="random seed")


def make_parser(name: str, description: str) -> argparse.ArgumentParser:
    """The common arguments; a script adds its own before ``parse_args``."""
    p = _Parser(prog=f"experiments/{name}.py", description=description)
    p.set_defaults(prog=p.prog)  # the name its one-line errors start with
    add_data_arguments(p)
    add_run_arguments(p)
    return p


def check_data_options(args) -> None:
    """``--data-dir``/``--download`` without ``--data cifar10`` would be ignored: a ``ValueError`` naming them."""
    if args.data != "cifar10":
        given = [
            flag
            for flag, value in (("--data-dir", args.data_dir), ("--download", getattr(args, "download", False)))
            if value
        ]
        if given:
            raise ValueError(
                f"{' and '.join(given)} only appl{'y' if len(given) > 1 else 'ies'} to --data cifar10 "
                f"(this run uses --data {args.data}, which ignores them): drop them or add --data cifar10"
            )


def load_data(args):
    """The data named by ``--data`` (:func:`jaxopt_course.data.load_data`; digits through the on-disk cache).

    Raises ``ValueError``/``OSError`` with one line; :func:`load_splits` turns
    them into the scripts' exit code 2.
    """
    from jaxopt_course.cache import cached_digits
    from jaxopt_course.data import load_data as load

    check_data_options(args)
    if args.data == "digits":
        return cached_digits(lambda: load("digits"))  # kept on disk: a second run skips scikit-learn
    data_dir = args.data_dir or os.environ.get(CIFAR10_ENV) or None
    if data_dir is None:
        raise ValueError(
            f"--data cifar10 needs --data-dir DIR, the folder that holds cifar-10-batches-py/ (or "
            f"${CIFAR10_ENV}; add --download to fetch it there)"
        )
    return load(args.data, data_dir, download=getattr(args, "download", False))


def load_splits(args):
    """:func:`load_data`, or exit code 2 and one line if the data cannot be had."""
    try:
        return load_data(args)
    except (ValueError, OSError) as err:
        fail(args, str(err).splitlines()[0])


def results_dir(out, name: str, quick: bool) -> Path:
    """Where an experiment writes: ``<out>/<name>/``, or ``<out>/quick/<name>/`` for a ``--quick`` smoke test."""
    return Path(out) / "quick" / name if quick else Path(out) / name


def output_dir(args, name: str) -> Path:
    """:func:`results_dir` of ``args``, created and checked writable (exit code 2 otherwise)."""
    try:
        return ensure_dir(results_dir(args.out, name, getattr(args, "quick", False)))
    except PermissionError as err:
        fail(args, str(err))


def save_results(outdir: Path, config: dict, metrics: dict) -> None:
    """Write ``config.json`` and ``metrics.json`` atomically."""
    atomic_write_json(outdir / "config.json", config)
    atomic_write_json(outdir / "metrics.json", metrics)


def format_table(headers, rows) -> str:
    """A markdown table as text (floats to 4 significant digits)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def print_table(headers, rows, file=None) -> str:
    """A markdown table (returned, and printed)."""
    text = format_table(headers, rows)
    print(text, file=file or sys.stdout)
    return text


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------------------
# What the experiment scripts share beyond arguments and files
# ---------------------------------------------------------------------------


@functools.cache
def optimizer_factory(name: str):
    """``lr -> optax optimizer`` by name, one object per name for the whole process.

    :func:`jaxopt_course.train.fit` and :func:`~jaxopt_course.train.sweep`
    compile once per (loss function, optimizer object, shapes): handing every
    experiment the *same* factory lets ``lecture.py`` reuse compiled runs.
    """
    from jaxopt_course.optimizers import get_optimizer

    return functools.partial(get_optimizer, name)


def percent(x) -> str:
    """``0.1554 -> '15.5 %'``; ``None``/NaN -> ``'-'``."""
    if x is None or x != x:
        return "-"
    return f"{100 * float(x):.1f} %"


def finish(name: str, outdir: Path, config: dict, metrics: dict, plot, table: str, summary) -> dict:
    """Save ``config.json``/``metrics.json``, draw the figures from them, return the report item.

    Args:
      plot: a function of the results folder (from :mod:`jaxopt_course.plots`)
        that reads the saved JSON and returns the PNG paths it wrote.
      summary: one or two sentences on what the numbers show, or a function
        of ``metrics`` returning them.

    Returns:
      ``{"name", "dir", "config", "metrics", "figures" (paths), "table", "summary"}``
      -- what ``lecture.py`` puts in its report.
    """
    save_results(outdir, config, metrics)
    figures = [Path(f) for f in plot(outdir)]
    return {
        "name": name,
        "dir": Path(outdir),
        "config": config,
        "metrics": metrics,
        "figures": figures,
        "table": table,
        "summary": summary,
    }


def script_main(module, argv=None) -> int:
    """The ``main()`` of every experiment script: parse, ``run``, print the table."""
    args = module.build_parser().parse_args(argv)
    with Timer() as t:
        result = module.run(args)
    print(result["table"])
    print()
    print(result["summary"])
    print(
        f"\nwrote {result['dir']}/config.json, metrics.json, "
        + ", ".join(f.name for f in result["figures"])
        + f" ({t.seconds:.1f} s)"
    )
    return 0


def smooth(values, window: int = 20):
    """Trailing moving average (the first points average what there is): for noisy minibatch losses."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def thin(values, max_points: int = 500):
    """Every k-th value (and the last), so that at most about ``max_points`` are saved: ``(steps, values)``.

    ``steps`` counts from 1 (the value after step 1, ..., after step n).
    """
    import numpy as np

    values = np.asarray(values)
    k = max(1, int(np.ceil(values.size / max_points)))
    idx = np.arange(0, values.size, k)
    if values.size and idx[-1] != values.size - 1:
        idx = np.append(idx, values.size - 1)
    return idx + 1, values[idx]
