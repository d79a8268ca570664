"""A griffe extension: Sphinx roles in the docstrings become inline code.

The docstrings name other objects the Sphinx way (``:func:`~jaxopt_course.train.fit```,
``:class:`TrainState```, ``:data:`OPTIMIZER_NAMES```), which help() and IDEs
show as they are. mkdocstrings does not know these roles and would print
them raw; this extension rewrites each into inline code with the name a
reader needs: ``~a.b.c`` becomes ``c`` (Sphinx's "last part only"), other
targets stay whole.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def _replace(match: re.Match) -> str:
    tilde, target = match.groups()
    target = target.strip()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def rewrite_roles(text: str) -> str:
    """``:func:`~a.b.c``` -> ```c```; ``:mod:`a.b``` -> ```a.b```."""
    return ROLE.sub(_replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx cross-reference roles in every docstring into inline code."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite_roles(obj.docstring.value)
