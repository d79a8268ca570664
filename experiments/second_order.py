"""Beyond the gradient: SGD, Adam, L-BFGS and Newton's method on the same softmax problem.

The code is :mod:`jaxopt_course.experiments.second_order`; this file is its entry point in a source
checkout: ``python experiments/second_order.py --help``.
"""

from jaxopt_course.experiments.second_order import main

if __name__ == "__main__":
    raise SystemExit(main())
