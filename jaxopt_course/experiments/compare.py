"""Optimizers compared so that the numbers can be trusted: one budget, seeds, spreads, the gap to the optimum.

    python experiments/compare.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/] [--seed 0]
                                  [--seeds S] [--steps N] [--num-lrs L] [--select val_accuracy|train_loss]

A single run's accuracy is noise twice over: the test set's own standard
error ``sqrt(p (1 - p) / n)`` and the seed's minibatches. Here every optax
optimizer of :data:`jaxopt_course.train.OPTIMIZER_NAMES` gets the same
budget -- the same ``L`` learning rates of one log grid, the same steps,
batch size, ``W0``, ``reg`` and seeds -- and trains its ``L x S`` models in
one vmapped ``sweep(..., seeds=S)`` call
(:func:`jaxopt_course.compare.compare_optimizers`). The learning rate is
chosen by the mean validation accuracy over seeds; validation and test
accuracy are reported as mean, sd and a 95 % t interval over the seeds,
beside the test set's own standard error. Because softmax + L2 is strictly
convex, the exact optimum ``f*`` comes from Newton-CG in float64, and every
run's gap ``f(W_t) - f*`` of the full training objective is evaluated at
20 (CIFAR-10: 10) evenly spaced steps, the sweep's chunk boundaries. Optimizers whose intervals overlap are not ranked.

Writes ``<out>/compare/{config,metrics}.json`` and ``compare_lr.png`` (lr
sensitivity with bands over seeds), ``compare_gap.png`` (the gap on a log
scale), ``compare_profile.png`` (Dolan--More profiles over optimizers x seeds),
all drawn by :mod:`jaxopt_course.plots` from the JSON.
"""

from __future__ import annotations

import sys

from jaxopt_course.experiments._common import finish, format_table, load_splits, make_parser, output_dir, script_main

NAME = "compare"

#: Per data set: the objective, the shared learning-rate grid (log10 bounds), the budget.
SETTINGS = {
    "digits": {"reg": 1e-3, "lr_log10": (-4, 1), "num_lrs": 8, "steps": 1000, "batch_size": 64, "seeds": 5,
               "init_scale": 1e-4, "evaluations": 20},
    "cifar10": {"reg": 2.5e4, "lr_log10": (-9, -2), "num_lrs": 8, "steps": 1000, "batch_size": 200, "seeds": 5,
                "init_scale": 1e-4, "evaluations": 10},
}
QUICK = {"num_lrs": 4, "steps": 100, "seeds": 2}


def optimizer_names() -> tuple:
    """The optimizers compared: the engine's one list of names."""
    from jaxopt_course import train

    return tuple(getattr(train, "OPTIMIZER_NAMES", None) or train.OPTIMIZERS)


def build_parser():
    p = make_parser(NAME, "Every optax optimizer on the same budget (learning rates of one log grid, steps, "
                          "seeds), one vmapped call each: accuracies as mean, sd and 95 % t interval over seeds, "
                          "the gap to the exact softmax optimum (Newton-CG, float64), a performance profile.")
    p.add_argument("--seeds", type=int, default=None, help="seeds per learning rate (default 5; --quick 2)")
    p.add_argument("--steps", type=int, default=None, help="steps per model (default 1000; --quick 100)")
    p.add_argument("--num-lrs", type=int, default=None, help="learning rates per optimizer (default 8; --quick 4)")
    p.add_argument("--select", choices=["val_accuracy", "train_loss"], default="val_accuracy",
                   help="choose each optimizer's lr by mean validation accuracy (default) or final training loss")
    p.add_argument("--optimizers", default=None, help="comma-separated subset of the optimizer names")
    return p


def settings(args) -> dict:
    """The budget of this run: the data set's settings, shrunk by --quick, overridden by the flags."""
    s = dict(SETTINGS[args.data])
    if args.quick:
        s.update(QUICK)
    for flag, key in (("seeds", "seeds"), ("steps", "steps"), ("num_lrs", "num_lrs")):
        if getattr(args, flag, None) is not None:
            s[key] = getattr(args, flag)
    names = optimizer_names()
    if getattr(args, "optimizers", None):
        wanted = [w.strip() for w in args.optimizers.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown:
            print(f"error: unknown optimizer(s) {unknown}; choose from {list(names)}", file=sys.stderr)
            raise SystemExit(2)
        names = tuple(wanted)
    s["optimizers"] = list(names)
    return s


def run(args, splits=None) -> dict:
    import time

    import jax

    from jaxopt_course import plots
    from jaxopt_course.compare import compare_optimizers, log_grid
    from jaxopt_course.losses import softmax_loss

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    s = settings(args)
    lrs = log_grid(10.0 ** s["lr_log10"][0], 10.0 ** s["lr_log10"][1], s["num_lrs"])
    batch_size = min(s["batch_size"], int(splits.train.X.shape[0]))
    key_w, key_b = jax.random.split(jax.random.key(args.seed))
    W0 = s["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    start = time.perf_counter()
    result = compare_optimizers(softmax_loss, s["optimizers"], W0, splits.train.X, splits.train.y, key=key_b,
                                learning_rates=lrs, reg=s["reg"], seeds=s["seeds"], batch_size=batch_size,
                                num_steps=s["steps"], X_val=splits.val.X, y_val=splits.val.y,
                                X_test=splits.test.X, y_test=splits.test.y, select=args.select,
                                eval_every=max(1, s["steps"] // s["evaluations"]), progress=False)
    seconds = time.perf_counter() - start
    config = {"experiment": NAME, "data": args.data, "seed": args.seed, "quick": args.quick, "loss": "softmax",
              "init_scale": s["init_scale"], "learning_rates": lrs, "lr_grid": "shared by every optimizer: "
              f"{s['num_lrs']} values from 1e{s['lr_log10'][0]} to 1e{s['lr_log10'][1]}, evenly in log10",
              **result["config"]}
    metrics = {key: result[key] for key in ("optimum", "runs", "ranking", "profile")}
    metrics["seconds"] = seconds
    models = len(s["optimizers"]) * s["num_lrs"] * s["seeds"]
    metrics["models"] = models
    table = results_table(result)
    summary = describe(result, models, seconds)
    return finish(NAME, outdir, config, metrics, plots.plot_compare, table, summary)


def _pm(iv, scale=100.0, digits=1) -> str:
    """``mean +- sd`` of an interval dict (``-`` when absent)."""
    if not iv:
        return "-"
    sd = iv.get("sd")
    sd_text = "" if sd is None or sd != sd else f" ± {scale * sd:.{digits}f}"
    return f"{scale * iv['mean']:.{digits}f}{sd_text}"


def _ci(iv, scale=100.0, digits=1) -> str:
    if not iv or iv.get("low") is None or iv["low"] != iv["low"]:
        return "-"
    return f"[{scale * iv['low']:.{digits}f}, {scale * iv['high']:.{digits}f}]"


def results_table(result) -> str:
    """The markdown table of a comparison: one row per optimizer."""
    n = result["config"]["seeds"]
    rows = []
    for r in result["runs"]:
        if r.get("lr") is None:
            rows.append([r["optimizer"], "all diverged"] + ["-"] * 6)
            continue
        test = r.get("test_accuracy")
        gap = r.get("final_gap")
        hits = r.get("steps_to_target", {})
        rows.append([r["optimizer"], f"{r['lr']:.1e}", _pm(r["val_accuracy"]), _pm(test), _ci(test),
                     "-" if not test else f"{100 * test['test_set_se']:.1f}",
                     "-" if not gap else f"{gap['mean']:.2e} ± {gap['sd'] if gap['sd'] == gap['sd'] else 0:.1e}",
                     "-" if not hits else f"{hits['median']:.0f} ({hits['reached']}/{n})"])
    return format_table(["optimizer", "chosen lr", f"val % (mean ± sd, {n} seeds)", "test % (mean ± sd)",
                         "test 95 % t interval", "test-set SE (points)", "final gap f - f*",
                         "steps to target (median, reached)"], rows)


def describe(result, models: int, seconds: float) -> str:
    """One paragraph: the optimum, the groups the intervals allow, the time."""
    opt = result["optimum"]
    groups = result["ranking"].get("test_accuracy", {}).get("groups", [])
    pairs = [p for p in result["ranking"].get("test_accuracy", {}).get("pairs", []) if p["distinguishable"]]
    gap_groups = result["ranking"].get("final_gap", {}).get("groups", [])
    text = (f"{models} models ({len(result['runs'])} optimizers x {len(result['runs'][0]['learning_rates'])} "
            f"learning rates x {result['config']['seeds']} seeds) in {seconds:.0f} s. ")
    if opt:
        text += f"f* = {opt['value']:.10g} ({opt['kind']}; {opt['method']}). "
    if len(groups) <= 1:
        text += "By test accuracy no optimizer is distinguishable from another (every 95 % interval overlaps). "
    else:
        text += ("By test accuracy the intervals separate only " + ", ".join(
            f"{p['better']} > {p['b'] if p['better'] == p['a'] else p['a']}" for p in pairs) + ". ")
    if gap_groups:
        text += "By final gap to f*: " + " > ".join("{" + ", ".join(g) + "}" for g in gap_groups) + \
            " (best first; braces: intervals overlap)."
    return text


def main(argv=None) -> int:
    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
