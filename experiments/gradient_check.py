"""Numerical vs analytic gradient: forward vs central differences, float32 vs float64.

The code is :mod:`jaxopt_course.experiments.gradient_check`; this file is its entry point in a source
checkout: ``python experiments/gradient_check.py --help``.
"""

from jaxopt_course.experiments.gradient_check import main

if __name__ == "__main__":
    raise SystemExit(main())
