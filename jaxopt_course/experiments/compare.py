"""Optimizers compared so that the conclusions survive a second seed: chosen on some seeds, reported on others.

    python experiments/compare.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/] [--seed 0]
                                  [--suite] [--tuning-seeds T] [--eval-seeds E] [--steps N] [--num-lrs L]
                                  [--select val_accuracy|train_loss] [--optimizers a,b] [--bootstrap B]

The contract with the command line (``jaxopt-course compare``):

* :func:`add_arguments` ``(parser, shared=True)`` adds every option of this
  experiment to a parser: the shared ``--data``/``--data-dir``/``--download``
  and ``--quick``/``--out``/``--seed`` (from :mod:`._common`; ``shared=False``
  leaves them out) and compare's own ``--suite``, ``--select``,
  ``--tuning-seeds``, ``--eval-seeds``, ``--steps``, ``--num-lrs``,
  ``--optimizers``, ``--bootstrap``. Not ``--json``.
* :func:`run` ``(args, splits=None) -> dict`` runs from the parsed arguments
  and returns the report item ``{"name", "dir", "config", "metrics",
  "figures", "table", "summary"}``; ``metrics`` (JSON-ready) holds
  ``problems``, ``claims`` and ``profile``. Bad input (an unknown
  optimizer, overlapping seeds) is one line ``<args.prog>: error: ...`` and
  exit code 2.
* :func:`build_parser` and :func:`main` are the script's.

The protocol (:func:`jaxopt_course.compare.compare_optimizers`): every
optax optimizer of :data:`jaxopt_course.optimizers.OPTIMIZER_NAMES` gets the same
``L`` learning rates of one log grid, steps, batch size and seeds. Its lr is
chosen on the *tuning seeds*; every reported number comes from the
*evaluation seeds*, disjoint and fresh (each its own ``W0`` and minibatches).
A bootstrap re-runs the choice on resampled tuning seeds and reads the
metric on resampled evaluation seeds; a claim "A better than B" is made only
when a Holm-corrected paired t test over the evaluation seeds and that
bootstrap both support it, with the lrs chosen by either rule (``--select``
changes the reported numbers, not the claims). ``--suite`` runs the problem suite (softmax and
SVM at three regs each) with a Dolan--More profile over the problems, on
steps and on seconds to the target gap, one per evaluation seed.

Writes ``<out>/compare/{config,metrics}.json`` (``--suite``:
``<out>/compare_suite/``) and ``compare_lr.png`` (lr sensitivity on the
tuning seeds, diverged lrs marked), ``compare_gap.png`` (the gap against
steps and against seconds, per problem), ``compare_profile.png`` (the
profiles over problems with their spread over seeds), all drawn by
:mod:`jaxopt_course.plots` from the JSON.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from jaxopt_course.experiments._common import (
    _Parser,
    add_data_arguments,
    add_run_arguments,
    count,
    fail,
    finish,
    format_table,
    load_splits,
    output_dir,
    script_main,
)

NAME = "compare"

#: Per data set: the default objective, the shared learning-rate grid (log10 bounds), the budget, the suite's regs.
SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {
        "reg": 1e-3,
        "lr_log10": (-4, 1),
        "num_lrs": 8,
        "steps": 1000,
        "batch_size": 64,
        "tuning_seeds": 3,
        "eval_seeds": 5,
        "init_scale": 1e-4,
        "evaluations": 20,
        "suite_regs": (1e-4, 1e-3, 1e-2),
    },
    "cifar10": {
        "reg": 2.5e4,
        "lr_log10": (-9, -2),
        "num_lrs": 8,
        "steps": 1000,
        "batch_size": 200,
        "tuning_seeds": 3,
        "eval_seeds": 5,
        "init_scale": 1e-4,
        "evaluations": 10,
        "suite_regs": (2.5e3, 2.5e4, 5e4),
    },
}
QUICK = {"num_lrs": 4, "steps": 100, "tuning_seeds": 2, "eval_seeds": 3}
LOSSES = ("softmax", "svm")


def optimizer_names() -> tuple:
    """The optimizers compared: the engine's one list of names."""
    from jaxopt_course.optimizers import OPTIMIZER_NAMES

    return tuple(OPTIMIZER_NAMES)


def add_arguments(p, shared: bool = True) -> None:
    """Every option of ``compare`` on the parser ``p`` (``shared=False``: only compare's own)."""
    if shared:
        add_data_arguments(p)
        add_run_arguments(p, quick="small budgets: 4 lrs, 2 tuning + 3 evaluation seeds, 100 steps")
    p.add_argument(
        "--suite",
        action="store_true",
        help="the problem suite: softmax and SVM at three regs each, a performance profile over them",
    )
    p.add_argument(
        "--tuning-seeds", type=count, default=None, help="seeds the learning rate is chosen on (default 3; --quick 2)"
    )
    p.add_argument(
        "--eval-seeds",
        type=count,
        default=None,
        help="fresh seeds every reported number comes from (default 5; --quick 3)",
    )
    p.add_argument("--steps", type=count, default=None, help="steps per model (default 1000; --quick 100)")
    p.add_argument("--num-lrs", type=count, default=None, help="learning rates per optimizer (default 8; --quick 4)")
    p.add_argument(
        "--select",
        choices=["val_accuracy", "train_loss"],
        default="val_accuracy",
        help="choose each optimizer's lr by mean validation accuracy (default) or final training "
        "objective, on the tuning seeds",
    )
    p.add_argument("--optimizers", default=None, help="comma-separated subset of the optimizer names")
    p.add_argument(
        "--bootstrap",
        type=count,
        default=1000,
        help="bootstrap resamples of the choice and of the evaluation seeds (default 1000)",
    )


def build_parser():
    p = _Parser(
        prog=f"experiments/{NAME}.py",
        description="Every optax optimizer on the same budget: the lr chosen on tuning seeds, every number "
        "reported on fresh evaluation seeds, claims only where a Holm-corrected paired test "
        "and a bootstrap of the choice agree; --suite for six problems and a profile.",
    )
    p.set_defaults(prog=p.prog)
    add_arguments(p)
    return p


def settings(args) -> dict:
    """The budget of this run: the data set's settings, shrunk by --quick, overridden by the flags."""
    s = dict(SETTINGS[args.data])
    if args.quick:
        s.update(QUICK)
    for key in ("tuning_seeds", "eval_seeds", "steps", "num_lrs"):
        if getattr(args, key, None) is not None:
            s[key] = getattr(args, key)
    names = optimizer_names()
    if getattr(args, "optimizers", None):
        wanted = [w.strip() for w in args.optimizers.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown or not wanted:
            fail(args, f"--optimizers got unknown name(s) {unknown}; choose from {list(names)}")
        names = tuple(wanted)
    s["optimizers"] = list(names)
    s["problems"] = (
        [(loss, reg) for loss in LOSSES for reg in s["suite_regs"]]
        if getattr(args, "suite", False)
        else [("softmax", s["reg"])]
    )
    return s


def run(args, splits=None) -> dict:
    import time

    from jaxopt_course import plots
    from jaxopt_course.compare import (
        Budget,
        Protocol,
        compare_optimizers,
        log_grid,
        seed_lists,
        suite_profile,
    )

    splits = splits if splits is not None else load_splits(args)
    s = settings(args)
    name = "compare_suite" if getattr(args, "suite", False) else NAME
    outdir = output_dir(args, name)
    lrs = log_grid(10.0 ** s["lr_log10"][0], 10.0 ** s["lr_log10"][1], s["num_lrs"])
    tuning, evaluation = seed_lists(args.seed, s["tuning_seeds"], s["eval_seeds"])
    budget = Budget(
        lrs,
        batch_size=min(s["batch_size"], int(splits.train.X.shape[0])),
        num_steps=s["steps"],
        eval_every=max(1, s["steps"] // s["evaluations"]),
        init_scale=s["init_scale"],
    )
    protocol = Protocol(tuple(tuning), tuple(evaluation), select=args.select, bootstrap=args.bootstrap)
    start = time.perf_counter()
    problems = []
    for loss, reg in s["problems"]:
        problems.append(
            compare_optimizers(
                loss,
                s["optimizers"],
                splits,
                budget._replace(reg=reg),
                protocol,
                name=f"{args.data} {loss} reg {reg:g}",
                progress=False,
            )
        )
    seconds = time.perf_counter() - start
    first = problems[0]["config"]
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "suite": bool(getattr(args, "suite", False)),
        "tuning_seeds": tuning,
        "eval_seeds": evaluation,
        "learning_rates": lrs,
        "lr_grid": f"shared by every optimizer: {s['num_lrs']} values from "
        f"1e{s['lr_log10'][0]} to 1e{s['lr_log10'][1]}, evenly in log10",
        "problems": [{"loss": loss, "reg": reg} for loss, reg in s["problems"]],
        **{k: v for k, v in first.items() if k not in ("loss", "reg", "target_loss", "initial_objective")},
    }
    models = len(problems) * len(s["optimizers"]) * s["num_lrs"] * (len(tuning) + len(evaluation))
    metrics = {
        "problems": problems,
        "claims": [c for p in problems for c in p["claims"]],
        "profile": {cost: suite_profile(problems, cost) for cost in ("steps_to_target", "seconds_to_target")},
        "seconds": seconds,
        "models": models,
    }
    return finish(
        name, outdir, config, metrics, plots.plot_compare, results_table(metrics), describe(metrics, models, seconds)
    )


def _pm(iv, scale=100.0, digits=1) -> str:
    """``mean +- sd`` of an interval dict (``-`` when absent)."""
    if not iv:
        return "-"
    sd = iv.get("sd")
    sd_text = "" if sd is None or math.isnan(sd) else f" ± {scale * sd:.{digits}f}"
    return f"{scale * iv['mean']:.{digits}f}{sd_text}"


def _boot(run, metric, scale=100.0, fmt=".1f") -> str:
    """The bootstrap interval of ``metric`` (the choice's noise included), ``[low, high]``."""
    b = run.get("bootstrap", {}).get(metric)
    if not b or math.isnan(b["low"]):
        return "-"
    return f"[{scale * b['low']:{fmt}}, {scale * b['high']:{fmt}}]"


def _to_target(steps, secs, n: int) -> str:
    """``median steps / median seconds (reached/n)`` to the target gap; ``never (0/n)`` when no seed reached it."""
    if not steps:
        return "-"
    median = steps["median"]  # inf in memory, null in metrics.json
    if median is None or not math.isfinite(median):  # more than half the seeds never reached it
        return f"never ({steps['reached']}/{n})"
    return f"{steps['median']:.0f} / {secs['median']:.3f} s ({steps['reached']}/{n})"


def results_table(metrics) -> str:
    """The markdown table of a comparison: one row per problem and optimizer."""
    rows = []
    for p in metrics["problems"]:
        n = len(p["config"]["eval_seeds"])
        for r in p["runs"]:
            if r.get("lr") is None:
                rows.append([p["problem"], r["optimizer"], "all diverged"] + ["-"] * 7)
                continue
            test, gap = r.get("test_accuracy"), r.get("final_gap")
            steps, secs = r.get("steps_to_target", {}), r.get("seconds_to_target", {})
            rows.append(
                [
                    p["problem"],
                    r["optimizer"],
                    f"{r['lr']:.2g}",
                    f"{100 * r['bootstrap']['lr_changes']:.0f} %",
                    _pm(test),
                    _boot(r, "test_accuracy"),
                    "-" if not gap else f"{gap['mean']:.2e}",
                    _boot(r, "final_gap", 1.0, ".1e"),
                    _to_target(steps, secs, n),
                    f"{r['compile_seconds']:.1f}",
                ]
            )
    return format_table(
        [
            "problem",
            "optimizer",
            "lr (tuning seeds)",
            "lr changes (bootstrap)",
            "test % (mean ± sd, eval seeds)",
            "test % bootstrap 95 %",
            "final gap f - f*",
            "gap bootstrap 95 %",
            "steps / seconds to target (median, reached)",
            "compile s (apart)",
        ],
        rows,
    )


def describe(metrics, models: int, seconds: float) -> str:
    """One paragraph: the budget, the time, and what ``claims`` holds -- or that nothing can be claimed."""
    problems = metrics["problems"]
    cfg = problems[0]["config"]
    text = (
        f"{models} models ({len(problems)} problem(s) x {len(cfg['optimizers'])} optimizers x "
        f"{len(problems[0]['runs'][0]['learning_rates'])} learning rates x {len(cfg['tuning_seeds'])} tuning + "
        f"{len(cfg['eval_seeds'])} evaluation seeds) in {seconds:.0f} s. "
    )
    claimed = metrics["claims"]
    if not claimed:
        return text + (
            "Nothing can be claimed: no pair passes both the Holm-corrected paired test and the "
            "bootstrap under both choosing rules."
        )
    words = {"test_accuracy": "test accuracy", "final_gap": "final gap"}
    by: dict[tuple, list] = {}
    for c in claimed:
        by.setdefault((c["problem"], c["metric"]), []).append(f"{c['better']} > {c['worse']}")
    return (
        text
        + "Claims (both tests agree, whichever rule chose the lrs): "
        + "; ".join(
            f"{problem}, {words.get(metric, metric)}: " + ", ".join(pairs) for (problem, metric), pairs in by.items()
        )
        + "."
    )


def main(argv=None) -> int:
    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
