"""The stable step size: 2 / lambda_max, measured, predicted and swept; and what preprocessing does to it.

The code is :mod:`jaxopt_course.experiments.step_size`; this file is its entry point in a source
checkout: ``python experiments/step_size.py --help``.
"""

from jaxopt_course.experiments.step_size import main

if __name__ == "__main__":
    raise SystemExit(main())
