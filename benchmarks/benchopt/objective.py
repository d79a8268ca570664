"""benchopt objective: L2-regularized multiclass softmax and SVM, suboptimality against jaxopt-course's f*.

    benchopt run benchmarks/benchopt -d digits -n 25 --timeout 30 --no-plot --output digits
    python benchmarks/benchopt/summarise.py benchmarks/benchopt/outputs/digits.parquet

The objective is the lecture's total loss on the training set,

    f(W) = 1/N sum_i L_i(W x_i, y_i) + reg * sum W**2,   W of shape (C, D), the bias folded into x,

with ``L_i`` the softmax cross-entropy or the Weston--Watkins multiclass
hinge (margin 1). benchopt's own suboptimality curves use the best value any
run reached; this objective reports ``gap = f(W) - f*`` against the optimum
that this package computes: for softmax the exact minimizer (Newton-CG in
float64 to a gradient norm of 1e-8, ``jaxopt_course.compare.softmax_optimum``);
for the SVM a best known value (``compare.svm_best_known``, a long float64
run: labelled ``f_star_kind = "best known"``, not an optimum). f(W) is
evaluated here in float64 NumPy, apart from every solver.
"""

from benchopt import BaseObjective, safe_import_context

with safe_import_context() as import_ctx:
    import numpy as np


def objective_value(W, X, y, reg: float, loss: str) -> float:
    """``1/N sum_i L_i + reg * sum W**2`` in float64 NumPy (the softmax through a stable logsumexp)."""
    W, X, y = np.asarray(W, np.float64), np.asarray(X, np.float64), np.asarray(y)
    S = X @ W.T
    rows = np.arange(len(y))
    if loss == "softmax":
        top = S.max(axis=1, keepdims=True)
        data = np.mean(np.log(np.exp(S - top).sum(axis=1)) + top[:, 0] - S[rows, y])
    else:
        M = np.maximum(0.0, S - S[rows, y][:, None] + 1.0)
        M[rows, y] = 0.0
        data = M.sum(axis=1).mean()
    return float(data + reg * np.sum(W * W))


class Objective(BaseObjective):
    name = "L2 multiclass linear classifier"
    url = "https://github.com/jaxopt-course"
    min_benchopt_version = "1.5"
    requirements = ["pip:jaxopt-course"]
    parameters = {"loss": ["softmax", "svm"], "reg": [1e-3]}
    sampling_strategy = "callback"

    def set_data(self, X, y):
        from jaxopt_course.compare import softmax_optimum, svm_best_known

        self.X, self.y = X, y
        self.num_classes = int(np.max(y)) + 1
        optimum = (softmax_optimum if self.loss == "softmax" else svm_best_known)(X, y, self.reg)
        self.f_star, self.f_star_kind = optimum.value, optimum.kind

    def evaluate_result(self, W):
        value = objective_value(W, self.X, self.y, self.reg, self.loss)
        return dict(value=value, gap=value - self.f_star, f_star=self.f_star, f_star_kind=self.f_star_kind)

    def get_one_result(self):
        return dict(W=np.zeros((self.num_classes, self.X.shape[1])))

    def get_objective(self):
        return dict(X=self.X, y=self.y, reg=self.reg, loss=self.loss)
