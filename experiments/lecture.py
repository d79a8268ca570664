"""The main job: the whole optimization lecture, in its order, as one report.

The code is :mod:`jaxopt_course.experiments.lecture`; this file is its entry point in a source
checkout: ``python experiments/lecture.py --help``.
"""

from jaxopt_course.experiments.lecture import main

if __name__ == "__main__":
    raise SystemExit(main())
