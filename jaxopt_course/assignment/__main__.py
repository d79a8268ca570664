"""``python -m jaxopt_course.assignment build OUT`` / ``grade FILE [--json]``."""

import sys

from . import main

sys.exit(main())
