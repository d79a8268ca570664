"""jaxopt-course: how linear classifiers are optimized, in JAX.

The modules follow the lecture's order:

* :mod:`~jaxopt_course.data` -- digits (default) and CIFAR-10, preprocessed;
* :mod:`~jaxopt_course.model` -- the score function ``f(x, W) = W x``;
* :mod:`~jaxopt_course.losses` -- multiclass SVM and softmax, plus ``reg * sum W**2``.
"""

from .data import Split, Splits, load_cifar10, load_data, load_digits, synthetic_problem
from .losses import l2_penalty, softmax_loss, softmax_per_example, svm_loss, svm_per_example
from .model import accuracy, init_weights, predict, scores

__version__ = "0.1.0"

__all__ = [
    "Split",
    "Splits",
    "accuracy",
    "init_weights",
    "l2_penalty",
    "load_cifar10",
    "load_data",
    "load_digits",
    "predict",
    "scores",
    "softmax_loss",
    "softmax_per_example",
    "svm_loss",
    "svm_per_example",
    "synthetic_problem",
]
