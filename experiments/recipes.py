"""CS231n's recipes on CIFAR-10 over many seeds, each as mean +- sd beside the number CS231n quotes.

The code is :mod:`jaxopt_course.experiments.recipes`; this file is its entry point in a source
checkout: ``python experiments/recipes.py --help``.
"""

from jaxopt_course.experiments.recipes import main

if __name__ == "__main__":
    raise SystemExit(main())
