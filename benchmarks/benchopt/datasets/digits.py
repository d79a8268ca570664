"""scikit-learn's digits as jaxopt-course prepares them: centred, scaled by 1/16, the bias column appended."""

from benchopt import BaseDataset, safe_import_context

with safe_import_context() as import_ctx:
    import numpy as np


class Dataset(BaseDataset):
    name = "digits"
    requirements = ["pip:jaxopt-course"]
    parameters = {}

    def get_data(self):
        from jaxopt_course.data import load_digits

        train = load_digits().train
        return dict(X=np.asarray(train.X, np.float64), y=np.asarray(train.y))
