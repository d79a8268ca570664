"""scikit-learn's LogisticRegression solvers (lbfgs, saga, newton-cg) on the same softmax + L2 objective.

scikit-learn minimizes ``C sum_i L_i + ||W||^2 / 2`` over the whole ``W``
(``fit_intercept=False``: the bias is a column of ``X`` and is penalized, as
in the lecture). With ``C = 1 / (2 reg N)`` that is the objective times
``1 / (2 reg)``: the same minimizer. It has no multiclass hinge, so the
SVM objective is skipped.
"""

from benchopt import BaseSolver, safe_import_context

with safe_import_context() as import_ctx:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression


class Solver(BaseSolver):
    name = "sklearn"
    requirements = ["scikit-learn"]
    parameters = {"solver": ["lbfgs", "saga", "newton-cg"]}
    sampling_strategy = "iteration"

    def skip(self, X, y, reg, loss):
        if loss != "softmax":
            return True, "scikit-learn's LogisticRegression minimizes the softmax loss only"
        return False, None

    def set_objective(self, X, y, reg, loss):
        self.X, self.y = X, y
        self.C = 1.0 / (2.0 * reg * X.shape[0])

    def run(self, n_iter):
        clf = LogisticRegression(
            C=self.C, fit_intercept=False, solver=self.solver, tol=1e-15, max_iter=max(1, int(n_iter))
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(self.X, self.y)
        self.W = clf.coef_

    def get_result(self):
        return dict(W=self.W)
