"""Optimizers compared so that the numbers can be trusted: one budget, seeds, spreads, the gap to the optimum.

The code is :mod:`jaxopt_course.experiments.compare`; this file is its entry point in a source
checkout: ``python experiments/compare.py --help``.
"""

from jaxopt_course.experiments.compare import main

if __name__ == "__main__":
    raise SystemExit(main())
