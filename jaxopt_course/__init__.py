"""jaxopt-course: how linear classifiers are optimized, in JAX.

The modules follow the lecture's order:

* :mod:`~jaxopt_course.data` -- digits (default) and CIFAR-10, preprocessed;
* :mod:`~jaxopt_course.model` -- the score function ``f(x, W) = W x``;
* :mod:`~jaxopt_course.losses` -- multiclass SVM and softmax, plus ``reg * sum W**2``.
* :mod:`~jaxopt_course.analytic`, :mod:`~jaxopt_course.gradcheck` (:mod:`~jaxopt_course.finite_differences`,
  :mod:`~jaxopt_course.complex_step`) -- hand-derived gradients, checked against the numerical gradient;
* :mod:`~jaxopt_course.toys` -- the tea-temperature objective and its failure cases;
* :mod:`~jaxopt_course.search` -- exhaustive, random and random local search;
* :mod:`~jaxopt_course.sgd` -- the lecture's loop alone: sample, gradient, update, in one ``lax.scan``;
* :mod:`~jaxopt_course.train` -- the runner around it: one ``Run``, ``fit``, ``sweep`` (a vmap of the one
  ``make_train``), over :mod:`~jaxopt_course.hostloop` (chunks, progress, Ctrl-C, resume) and
  :mod:`~jaxopt_course.divergence` (the one divergence rule).
* :mod:`~jaxopt_course.distributed` -- the same runs on several devices or machines (``mesh=``);
* :mod:`~jaxopt_course.compare` -- optimizers compared over seeds, with spreads and the gap to the optimum.

Figures come from :mod:`~jaxopt_course.plots` (``from jaxopt_course import plots``;
not imported here, so the maths never loads matplotlib), which draws the results
that the scripts in ``experiments/`` save.

Nothing is imported until it is used (PEP 562): ``from jaxopt_course import fit``
imports :mod:`~jaxopt_course.train` then, so ``import jaxopt_course`` alone (and the
``jaxopt-course --help`` that starts with it) loads no JAX.
"""

import importlib

#: Where each name of the package root lives: ``from jaxopt_course import fit``
#: imports :mod:`jaxopt_course.train` on first use (PEP 562), so that
#: ``import jaxopt_course`` -- and the ``jaxopt-course --help`` that starts
#: with it -- imports no JAX until a name needs it.
_EXPORTS = {
    "data": ("Split", "Splits", "load_cifar10", "load_data", "load_digits", "synthetic_problem"),
    "distributed": ("make_mesh",),
    "divergence": ("DIVERGENCE_FACTOR", "DivergenceError", "divergence_step"),
    "hostloop": ("Loop", "Metrics", "TrainingInterrupted"),
    "gradcheck": ("check_gradient", "complex_step_gradient", "numerical_gradient", "relative_error"),
    "losses": ("l2_penalty", "softmax_loss", "softmax_per_example", "svm_loss", "svm_per_example"),
    "model": ("accuracy", "evaluate", "init_weights", "predict", "scores"),
    "optimizers": ("OPTIMIZER_NAMES", "get_optimizer"),
    "search": ("SearchResult", "grid_search", "random_local_search", "random_search"),
    "toys": ("gradient_descent_1d", "tea_cost", "tea_cost_local_minima", "tea_cost_wiggly"),
    "train": (
        "FitResult",
        "Run",
        "SweepResult",
        "TrainOutput",
        "TrainState",
        "fit",
        "initial_state",
        "make_train",
        "sweep",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBMODULES = (
    "analytic",
    "cache",
    "checkpoint",
    "cli",
    "compare",
    "complex_step",
    "curvature",
    "data",
    "distributed",
    "divergence",
    "files",
    "finite_differences",
    "gradcheck",
    "hostloop",
    "limits",
    "locks",
    "losses",
    "model",
    "optimizers",
    "plots",
    "search",
    "sgd",
    "signals",
    "toys",
    "train",
)


def __getattr__(name):
    """``jaxopt_course.fit`` (or ``.train``): import the module that holds it, on first use."""
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF) | set(_SUBMODULES))


__version__ = "0.1.0"

__all__ = sorted(_MODULE_OF)  # every name of the package root, from _EXPORTS above
