"""Gradient descent (the full batch) against minibatch SGD at batch sizes 8 to 256.

The code is :mod:`jaxopt_course.experiments.batch_size`; this file is its entry point in a source
checkout: ``python experiments/batch_size.py --help``.
"""

from jaxopt_course.experiments.batch_size import main

if __name__ == "__main__":
    raise SystemExit(main())
