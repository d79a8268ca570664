"""The update rule as one argument: optax sgd, momentum, nesterov, adam, rmsprop, adagrad.

The code is :mod:`jaxopt_course.experiments.optimizers`; this file is its entry point in a source
checkout: ``python experiments/optimizers.py --help``.
"""

from jaxopt_course.experiments.optimizers import main

if __name__ == "__main__":
    raise SystemExit(main())
