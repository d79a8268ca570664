"""The learned rows of W drawn as images: one template per class.

The code is :mod:`jaxopt_course.experiments.weights`; this file is its entry point in a source
checkout: ``python experiments/weights.py --help``.
"""

from jaxopt_course.experiments.weights import main

if __name__ == "__main__":
    raise SystemExit(main())
