"""What the loss looks like: 1-D and 2-D slices along random directions through W.

The code is :mod:`jaxopt_course.experiments.landscape`; this file is its entry point in a source
checkout: ``python experiments/landscape.py --help``.
"""

from jaxopt_course.experiments.landscape import main

if __name__ == "__main__":
    raise SystemExit(main())
