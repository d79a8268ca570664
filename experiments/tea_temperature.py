"""Exhaustive search vs gradient descent on the tea-drinking-temperature toy.

The code is :mod:`jaxopt_course.experiments.tea_temperature`; this file is its entry point in a source
checkout: ``python experiments/tea_temperature.py --help``.
"""

from jaxopt_course.experiments.tea_temperature import main

if __name__ == "__main__":
    raise SystemExit(main())
