"""Exhaustive search vs gradient descent on the tea-drinking-temperature toy.

    python experiments/tea_temperature.py [--quick] [--out results/]

The lecture's first optimization problem has one parameter, the temperature
of a cup of tea (after Brandon Rohrer, "How optimization works"). Two ways to
find the best cup:

* exhaustive search -- taste every temperature of a grid (0, 1, ..., 100 C)
  and keep the best (:func:`jaxopt_course.search.grid_search`);
* gradient descent -- start somewhere, measure the slope, step downhill,
  ``t <- t - step_size * cost'(t)`` (:func:`jaxopt_course.toys.gradient_descent_1d`).

On the smooth cost both find 60 C. The two failure cases show what the slope
cannot see: several minima (iced tea near 10 C, a forgotten cup near 36 C)
and wiggles (a fussy taster's ripples, each a tiny local minimum). Exhaustive
search is not fooled by either -- it just costs one evaluation per grid point,
which is hopeless for the 30730 weights of CIFAR-10.

Also: the lecture's finite-difference slope ``(f(40 + 5) - f(40)) / 5`` next
to the exact slope at 40 C. The toy has no data: ``--data`` is accepted (so
``lecture.py`` can pass it) and ignored.

Writes ``<out>/tea_temperature/{config,metrics}.json`` and
``tea_temperature.png``.
"""

from __future__ import annotations

from jaxopt_course.experiments._common import Timer, finish, format_table, make_parser, output_dir, script_main

NAME = "tea_temperature"

#: Where the marble is dropped (degrees C).
STARTS = (5.0, 20.0, 40.0, 90.0)
#: Small steps get trapped; a big step jumps some traps (and bounces on others).
STEP_SIZES = (5.0, 50.0)


def build_parser():
    p = make_parser(
        NAME,
        "Exhaustive search vs gradient descent on the 1-D tea-temperature toy: "
        "the cost curve, every evaluated point, and where each method ends up on the "
        "smooth cost and on the two failure cases (several minima, wiggles).",
    )
    p.add_argument(
        "--points",
        type=int,
        default=None,
        help="grid points over 0..100 C for exhaustive search (default 101: every degree)",
    )
    p.add_argument("--steps", type=int, default=None, help="gradient-descent steps (default 500)")
    return p


def run(args, splits=None) -> dict:
    """Run the experiment, save its results and figure; return the report item (see ``_common.finish``)."""
    del splits  # the toy has no data
    import jax

    from jaxopt_course import plots
    from jaxopt_course.toys import TEA_COSTS, TEA_TEMPERATURE_RANGE

    points = args.points or (21 if args.quick else 101)
    steps = args.steps or 500  # cheap even in --quick: one compiled scan per descent
    low, high = TEA_TEMPERATURE_RANGE
    outdir = output_dir(args, NAME)
    config = {
        "experiment": NAME,
        "grid_points": points,
        "range_C": [low, high],
        "gd_steps": steps,
        "gd_starts_C": list(STARTS),
        "gd_step_sizes": list(STEP_SIZES),
        "quick": args.quick,
        "dense_points_for_the_true_minimum": 100_001,
    }

    with Timer() as timer, jax.enable_x64(True):  # float64: the toy is tiny, and exact answers read better
        toys = {toy: _one_toy(f, points, steps) for toy, f in TEA_COSTS.items()}
        f = TEA_COSTS["smooth"]
        slope = {
            "t": 40.0,
            "h": 5.0,
            "finite_difference": float((f(45.0) - f(40.0)) / 5.0),
            "exact": float(jax.grad(f)(40.0)),
        }

    metrics = {"toys": toys, "slope_at_40": slope, "seconds": timer.seconds}
    rows = [row for toy, result in toys.items() for row in _rows(toy, result, points)]
    table = format_table(["cost", "method", "start C", "steps", "found C", "its cost", "evaluations", "verdict"], rows)
    return finish(NAME, outdir, config, metrics, plots.plot_tea_temperature, table, _summary(toys, points, slope))


def _one_toy(f, points, steps) -> dict:
    """One cost curve: exhaustive search on ``points`` temperatures, gradient descent from every start."""
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course.search import grid_search
    from jaxopt_course.toys import TEA_TEMPERATURE_RANGE, gradient_descent_1d

    low, high = TEA_TEMPERATURE_RANGE
    dense_t = jnp.linspace(low, high, 100_001)  # 0.001 C: the reference "true" best cup
    grid = jnp.linspace(low, high, points)
    found = grid_search(f, grid)
    dense = f(dense_t)
    best = int(jnp.argmin(dense))
    curve_t = np.linspace(low, high, 401)
    descents = []
    for step_size in STEP_SIZES:
        for start in STARTS:
            ts, costs = gradient_descent_1d(f, start, step_size=step_size, steps=steps)
            descents.append(
                {
                    "start": start,
                    "step_size": step_size,
                    "steps": steps,
                    "path_t": np.asarray(ts),
                    "path_cost": np.asarray(costs),
                    "final_t": float(ts[-1]),
                    "final_cost": float(costs[-1]),
                }
            )
    return {
        "curve": {"t": curve_t, "cost": np.asarray(f(jnp.asarray(curve_t)))},
        "grid": {
            "t": np.asarray(grid),
            "cost": np.asarray(found.losses),
            "best_t": float(found.params),
            "best_cost": float(found.loss),
            "evaluations": points,
        },
        "true_best": {"t": float(dense_t[best]), "cost": float(dense[best])},
        "descents": descents,
    }


def _rows(toy, result, points) -> list:
    """The table's rows of one cost curve: exhaustive search, then every descent."""
    true_cost, grid = result["true_best"]["cost"], result["grid"]
    rows = [
        [
            toy,
            f"exhaustive, {points} points",
            "-",
            "-",
            f"{grid['best_t']:.2f}",
            _cost(grid["best_cost"]),
            points,
            _verdict(grid["best_cost"], true_cost),
        ]
    ]
    for d in result["descents"]:
        rows.append(
            [
                toy,
                f"gradient descent, step {d['step_size']:g}",
                f"{d['start']:g}",
                d["steps"],
                f"{d['final_t']:.2f}",
                _cost(d["final_cost"]),
                d["steps"],
                _verdict(d["final_cost"], true_cost),
            ]
        )
    return rows


def _summary(toys, points, slope) -> str:
    smooth, minima, wiggly = (toys[k] for k in ("smooth", "local_minima", "wiggly"))
    trapped_minima = [
        d
        for d in minima["descents"]
        if d["step_size"] == STEP_SIZES[0] and d["final_cost"] > minima["true_best"]["cost"] + 0.1
    ]
    trapped_at = ", ".join(f"{d['final_t']:.0f}" for d in trapped_minima) or "-"
    trapped_wiggly = [
        d
        for d in wiggly["descents"]
        if d["step_size"] == STEP_SIZES[0] and d["final_cost"] > wiggly["true_best"]["cost"] + 0.1
    ]
    ends = sorted({round(d["final_t"], 1) for d in smooth["descents"]})
    ends_text = f"at {ends[0]:.1f} C" if len(ends) == 1 else f"between {ends[0]:.1f} and {ends[-1]:.1f} C"
    return (
        f"On the smooth cost exhaustive search ({points} tastings) finds {smooth['grid']['best_t']:.0f} C and "
        f"gradient descent ends {ends_text} from every start. With several minima, "
        f"{len(trapped_minima)} of {len(STARTS)} small-step descents (step {STEP_SIZES[0]:g}) stop in a worse "
        f"valley (at {trapped_at} C); with wiggles {len(trapped_wiggly)} of {len(STARTS)} get stuck in a ripple, "
        f"while exhaustive search picks {wiggly['grid']['best_t']:.0f} C (the best cup is at "
        f"{wiggly['true_best']['t']:.2f} C). The lecture's slope (f(45) - f(40)) / 5 = "
        f"{slope['finite_difference']:.4f} against the exact f'(40) = {slope['exact']:.4f}."
    )


def _cost(c):
    return f"{round(c, 4) + 0.0:.4f}"  # no "-0.0000"


def _verdict(cost, best_cost):
    if cost <= best_cost + 0.01:
        return "best cup"
    return "close" if cost <= best_cost + 0.2 else "trapped"


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
