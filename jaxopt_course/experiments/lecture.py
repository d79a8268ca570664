"""The main job: the whole optimization lecture, in its order, as one report.

    python experiments/lecture.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]
    jaxopt-course lecture ...                      (the same, from the command line)
    make demo                                      (the same, on digits)

Runs every experiment of this folder in the lecture's order -- what the loss
looks like, random search, the tea-temperature toy (exhaustive search and
gradient descent), the numerical and analytic gradient, batch sizes and SGD,
then optax's optimizers (and their comparison over seeds, with spreads),
CS231n's hyperparameter sweep and the learned templates -- in one process:
the data are loaded once, JAX starts once, and compiled functions are shared
between experiments. Each experiment writes
its own ``<out>/<name>/`` folder; this script then writes
``<out>/lecture/report.md`` with every table and figure and a sentence on
what each shows, plus ``config.json`` and ``metrics.json`` (timings and the
headline numbers). With ``--quick`` everything goes under ``<out>/quick/``
instead (``<out>/quick/lecture/report.md``), so the report of a full run only
ever shows full runs.

The command line's ``jaxopt-course lecture`` is :func:`add_arguments` and
:func:`run_cli`: the same options, the same run, its result as a dict.

On digits (the default) it takes about a minute or two on 2 CPU cores; a
progress bar on stderr shows which step is running.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

from jaxopt_course.experiments._common import (
    Timer,
    _Parser,
    add_data_arguments,
    add_run_arguments,
    fail,
    format_table,
    load_data,
    load_splits,
    output_dir,
    save_results,
)

#: Each experiment is a module of this package, ``jaxopt_course.experiments.<name>``,
#: imported by name: ``jaxopt-course lecture`` works from an installed wheel in any folder.

NAME = "lecture"

#: The lecture's order: (module, section title, what the lecture says there).
SECTIONS = (
    (
        "landscape",
        "What the loss looks like",
        "The total loss L(W) = 1/N sum_i L_i(f(x_i, W), y_i) + lambda R(W) is what every strategy below minimizes. "
        "W has too many numbers to draw, so, like CS231n, we draw slices of it along random directions.",
    ),
    (
        "random_search",
        "Optimization by guessing: random search",
        "The lecture's first strategy: try `trials = 100` random W and keep the one with the lowest loss. "
        "CS231n's 1000 trials and its random local search (perturb W, keep the step if the loss drops) are beside "
        "it, and minibatch SGD at the same number of iterations.",
    ),
    (
        "tea_temperature",
        "Tea drinking temperature: exhaustive search and gradient descent",
        "One parameter, the temperature of a cup of tea: exhaustive search tastes every temperature; gradient "
        "descent measures the slope, (f(x + h) - f(x)) / h, and steps downhill. Two failure cases: several minima "
        "and wiggles.",
    ),
    (
        "gradient_check",
        "The numerical and the analytic gradient",
        "With thousands of weights the slope becomes the gradient, one partial derivative per weight. The lecture "
        "computes it numerically, (L(W + h) - L(W)) / h with h = 0.0001; in practice it is computed analytically "
        "and checked against the numerical one.",
    ),
    (
        "batch_size",
        "Gradient descent, batch sizes and stochastic gradient descent",
        '`W = W + -1 * (stepSize * W_gradient_dW)` on the whole training set is gradient descent -- "VERY slow '
        'for large training datasets". Sampling a minibatch (`X.sample(n=256)`) is stochastic gradient descent; '
        "the batch size is a knob (8, 16, 32, 64, ...).",
    ),
    (
        "optimizers",
        "Beyond the lecture: the update rule (optax)",
        "The lecture's update is `optax.sgd(stepSize)`. Momentum, Nesterov, Adam, RMSProp and Adagrad change only "
        "how the gradient becomes a step -- one argument in this code.",
    ),
    (
        "compare",
        "Trusting the numbers: optimizers over seeds, with spreads and the gap to the optimum",
        "Every optax optimizer gets the same budget -- the same log grid of learning rates, steps and seeds -- and "
        "trains its whole lr x seed grid in one vmapped call. Accuracies come as mean, sd and a 95 % t interval over "
        "seeds beside the test set's own standard error, and because softmax + L2 is strictly convex each run is "
        "measured by its gap f(W_t) - f* to the exact optimum (Newton-CG in float64).",
    ),
    (
        "sweep",
        "Beyond the lecture: choosing the step size and the regularization",
        "CS231n's tuning step: train a grid of learning rates x regularization strengths, pick the best on the "
        "validation set, score it once on the test set. Here the whole grid is one vmapped call.",
    ),
    (
        "weights",
        "What was learned: the rows of W as templates",
        "Each row of W is matched against the image by a dot product, so it can be drawn as an image: one "
        "template per class.",
    ),
)


DESCRIPTION = (
    "Run the whole optimization lecture in its order -- the loss landscape, random search, exhaustive "
    "search vs gradient descent on the tea toy, the gradient check, batch sizes and SGD, optax optimizers, "
    "the lr x reg sweep and the learned templates -- and write results/lecture/report.md with every "
    "table and figure."
)


def add_arguments(p) -> None:
    """The lecture's options (the experiments' common ones, ``--only``, ``--progress``) on parser ``p``."""
    add_data_arguments(p)
    add_run_arguments(p, quick="small budgets: a smoke test of every experiment")
    p.add_argument(
        "--only", default=None, help="comma-separated experiments to run (default: all, in the lecture's order)"
    )
    p.add_argument(
        "--progress",
        choices=["auto", "on", "off"],
        default="auto",
        help="the progress bar on stderr (auto: when stderr is a terminal)",
    )


def build_parser():
    p = _Parser(prog=f"experiments/{NAME}.py", description=DESCRIPTION)
    p.set_defaults(prog=p.prog)  # the name its one-line errors start with
    add_arguments(p)
    return p


def _experiment_args(module, args):
    argv = ["--data", args.data, "--out", str(args.out), "--seed", str(args.seed)]
    if args.data_dir:
        argv += ["--data-dir", str(args.data_dir)]
    if args.quick:
        argv.append("--quick")
    return module.build_parser().parse_args(argv)


def _selected(args):
    names = [name for name, _, _ in SECTIONS]
    if not args.only:
        return list(SECTIONS)
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        fail(args, f"--only got unknown experiment(s) {unknown}; choose from {names}")
    return [s for s in SECTIONS if s[0] in wanted]


def run(args, splits=None) -> dict:
    """Run the lecture; return ``{"report": path, "items": [...], "metrics": {...}}``."""
    from tqdm.auto import tqdm

    sections = _selected(args)
    outdir = output_dir(args, NAME)
    disable = {"auto": None, "on": False, "off": True}[getattr(args, "progress", "auto")]
    bar = tqdm(
        total=len(sections) + 1,
        desc="lecture: loading data",
        unit="step",
        file=sys.stderr,
        disable=disable,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
    )
    items = []
    try:
        with Timer() as total:
            with Timer() as t_data:
                splits = splits if splits is not None else load_splits(args)
            bar.update(1)
            for name, title, intro in sections:
                bar.set_description(f"lecture: {name}")
                module = importlib.import_module(f"jaxopt_course.experiments.{name}")
                with Timer() as t:
                    item = module.run(_experiment_args(module, args), splits=splits)
                item.update(title=title, intro=intro, seconds=t.seconds)
                items.append(item)
                bar.update(1)
    finally:
        bar.close()

    report = outdir / "report.md"
    text = _report(args, items, report.parent, total.seconds, t_data.seconds)
    from jaxopt_course.files import atomic_write_bytes

    atomic_write_bytes(report, text.encode())
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "experiments": [i["name"] for i in items],
    }
    metrics = {
        "seconds": total.seconds,
        "data_seconds": t_data.seconds,
        "experiments": {
            i["name"]: {"seconds": i["seconds"], "summary": i["summary"], "figures": [str(f) for f in i["figures"]]}
            for i in items
        },
    }
    save_results(outdir, config, metrics)
    return {"report": report, "items": items, "metrics": metrics}


def _report(args, items, report_dir: Path, seconds: float, data_seconds: float) -> str:
    import jax

    data = "CIFAR-10" if args.data == "cifar10" else "digits (scikit-learn's 8x8 handwritten digits)"
    command = (
        "python experiments/lecture.py --data "
        + args.data
        + (" --data-dir DIR" if args.data_dir else "")
        + (" --quick" if args.quick else "")
    )
    lines = [
        "# How linear classifiers are optimized: the lecture, run",
        "",
        f"Data: {data}. Produced by `{command}` (or `jaxopt-course lecture`) in {seconds:.0f} s "
        f"(data loading {data_seconds:.1f} s) with JAX {jax.__version__} on {jax.default_backend().upper()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}." + (" **Quick mode: small budgets, a smoke test.**" if args.quick else ""),
        "",
        "Every number below was computed by that run; each section's `config.json` and `metrics.json` hold "
        "the settings and all the numbers, and `jaxopt_course.plots` redraws every figure from them.",
        "",
        "## Contents",
        "",
    ]
    for k, item in enumerate(items, 1):
        lines.append(f"{k}. [{item['title']}](#{k}-{_anchor(item['title'])}) -- `experiments/{item['name']}.py`")
    for k, item in enumerate(items, 1):
        lines += ["", f"## {k}. {item['title']}", "", item["intro"], "", f"**What it shows.** {item['summary']}", ""]
        for fig in item["figures"]:
            rel = Path(os.path.relpath(fig, report_dir)).as_posix()
            lines += [
                f"![{fig.name}]({rel})",
                "",
                f"*Figure `{fig.name}`* (from `{Path(os.path.relpath(item['dir'], report_dir)).as_posix()}/`).",
                "",
            ]
        lines += [
            item["table"],
            "",
            f"Run alone: `python experiments/{item['name']}.py --data {args.data}"
            + (" --quick" if args.quick else "")
            + f"` ({item['seconds']:.1f} s here).",
            "",
        ]
    return "\n".join(lines)


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")


def run_cli(args) -> dict:
    """``jaxopt-course lecture``: check the options, load the data, run; the result as one JSON-able dict.

    ``args`` holds :func:`add_arguments`' options. The dict's ``"text"`` is
    the human table; the rest is what ``--json`` prints. A bad option raises
    ``ValueError`` (one line) before anything runs.
    """
    names = [name for name, _, _ in SECTIONS]
    unknown = [w.strip() for w in (args.only or "").split(",") if w.strip() and w.strip() not in names]
    if unknown:
        raise ValueError(f"--only got unknown experiment(s) {unknown}; choose from {names}")
    splits = load_data(args)
    run_ = run(args, splits=splits)
    items = run_["items"]
    quick = " (quick)" if args.quick else ""
    lines = [f"the lecture on {args.data}{quick}: {len(items)} experiments in {run_['metrics']['seconds']:.0f} s"]
    lines += [
        f"  {item['name']:<16} {item['seconds']:6.1f} s  {', '.join(f.name for f in item['figures'])}" for item in items
    ]
    lines.append(f"report: {run_['report']}")
    return {
        "report": str(run_["report"]),
        "data": args.data,
        "quick": args.quick,
        "seconds": run_["metrics"]["seconds"],
        "experiments": [item["name"] for item in items],
        "summaries": {item["name"]: item["summary"] for item in items},
        "figures": {item["name"]: [str(f) for f in item["figures"]] for item in items},
        "text": "\n".join(lines),
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    rows = [[i["name"], f"{i['seconds']:.1f}", ", ".join(f.name for f in i["figures"])] for i in result["items"]]
    print(format_table(["experiment", "seconds", "figures"], rows))
    print(f"\nwrote {result['report']} ({result['metrics']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
