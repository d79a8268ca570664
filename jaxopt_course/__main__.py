"""``python -m jaxopt_course`` is the ``jaxopt-course`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
