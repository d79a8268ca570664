"""Random search, random local search and SGD at the same budget of 1000 iterations.

The code is :mod:`jaxopt_course.experiments.random_search`; this file is its entry point in a source
checkout: ``python experiments/random_search.py --help``.
"""

from jaxopt_course.experiments.random_search import main

if __name__ == "__main__":
    raise SystemExit(main())
