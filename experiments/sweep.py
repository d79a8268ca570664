"""CS231n's tuning step: a learning rate x regularization grid, trained in one vmapped call.

The code is :mod:`jaxopt_course.experiments.sweep`; this file is its entry point in a source
checkout: ``python experiments/sweep.py --help``.
"""

from jaxopt_course.experiments.sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
