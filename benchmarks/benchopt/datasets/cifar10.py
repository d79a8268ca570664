"""CIFAR-10's training split as jaxopt-course prepares it (mean image subtracted, bias column), given a folder.

The folder holding ``cifar-10-batches-py/`` comes from ``$JAXOPT_COURSE_CIFAR10``
(nothing is downloaded here: ``jaxopt-course ... --data cifar10 --download``
fetches it, MD5-checked).
"""

import os

from benchopt import BaseDataset, safe_import_context

with safe_import_context() as import_ctx:
    import numpy as np


class Dataset(BaseDataset):
    name = "cifar10"
    requirements = ["pip:jaxopt-course"]
    parameters = {}

    def get_data(self):
        from jaxopt_course.data import load_data

        folder = os.environ.get("JAXOPT_COURSE_CIFAR10")
        if not folder:
            raise ValueError(
                "the cifar10 dataset needs $JAXOPT_COURSE_CIFAR10, the folder that holds cifar-10-batches-py/"
            )
        train = load_data("cifar10", folder).train
        return dict(X=np.asarray(train.X, np.float32), y=np.asarray(train.y))
