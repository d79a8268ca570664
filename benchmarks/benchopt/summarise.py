"""The table docs/compare.md gives from a benchopt run: each solver's wall time to a target gap, per objective.

    python benchmarks/benchopt/summarise.py benchmarks/benchopt/outputs/digits.parquet [--target 1e-3]

The gap is absolute, ``f(W) - f*``, with this package's f* (the objective's
``gap``; for the SVM a best known value). benchopt evaluates the objective
at geometrically spaced steps (each about 1.5 x the last), so the time given
is that of the first evaluation at or below the target: an upper bound on
the true time, by at most that spacing.
"""

from __future__ import annotations

import argparse

import pandas as pd


def time_to_gap(results: pd.DataFrame, target: float) -> pd.DataFrame:
    """One row per (objective, solver): the first evaluated step and time with ``gap <= target``, else NaN.

    Args:
      results: benchopt's result table (columns ``objective_name``,
        ``solver_name``, ``stop_val``, ``time``, ``objective_gap``), one row
        per evaluation.
      target: the absolute gap ``f - f*`` to reach.

    Returns:
      columns ``objective``, ``solver``, ``steps``, ``seconds``, ``final_gap``,
      ``evaluated_steps`` (the last step benchopt evaluated), in the
      results' order; ``steps``/``seconds`` NaN where the target was never
      reached.
    """
    rows = []
    for (objective, solver), runs in results.groupby(["objective_name", "solver_name"], sort=False):
        runs = runs.sort_values("stop_val")
        reached = runs[runs["objective_gap"] <= target]
        first = reached.iloc[0] if len(reached) else None
        rows.append(
            {
                "objective": objective,
                "solver": solver,
                "steps": float("nan") if first is None else float(first["stop_val"]),
                "seconds": float("nan") if first is None else float(first["time"]),
                "final_gap": float(runs["objective_gap"].iloc[-1]),
                "evaluated_steps": int(runs["stop_val"].iloc[-1]),
            }
        )
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, target: float) -> str:
    """The table as Markdown, the objectives in turn, each one's solvers fastest first (never reached last)."""
    lines = [
        f"| objective | solver | seconds to gap <= {target:g} | steps (iterations) | final gap | last step evaluated |",
        "|---|---|---|---|---|---|",
    ]
    for objective, rows in table.groupby("objective", sort=False):
        for row in rows.sort_values("seconds", na_position="last").itertuples():
            reached = row.seconds == row.seconds  # not NaN
            seconds = f"{row.seconds:.3f}" if reached else "not reached"
            steps = f"{int(row.steps)}" if reached else "-"
            short = objective.split("[", 1)[-1].rstrip("]")  # "loss=softmax,reg=0.001"
            lines.append(
                f"| {short} | {row.solver} | {seconds} | {steps} | {row.final_gap:.1e} | {row.evaluated_steps} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parquet", help="the result file benchopt wrote (benchmarks/benchopt/outputs/*.parquet)")
    parser.add_argument("--target", type=float, default=1e-3, help="absolute gap f - f* to reach (default 1e-3)")
    args = parser.parse_args(argv)
    print(markdown(time_to_gap(pd.read_parquet(args.parquet), args.target), args.target))


if __name__ == "__main__":
    main()
