"""The lecture's experiments: one module a question, each writing ``results/<name>/``.

``python experiments/<name>.py`` (a source checkout) and ``python -m
jaxopt_course.experiments.<name>`` run the same ``main``; ``jaxopt-course
lecture`` runs them all in the lecture's order (:mod:`.lecture`).
"""
