"""The bug zoo: wrong implementations students typically write, each with the hint the grader must give.

Each file defines one graded function with one mistake (marked ``# BUG``).
:data:`ZOO` maps the file's name to the part it answers and a piece of the
hint it must get: a key of :data:`jaxopt_course.diagnosis.HINTS` (its whole
text must appear) or a plain phrase. Teachers can hand the files out as
"find the bug" exercises; ``tests/test_assignment.py`` grades every one.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

FOLDER = Path(__file__).parent


class Specimen(NamedTuple):
    part: str  # the graded part (jaxopt_course.assignment.checks.PARTS)
    expected: str  # a diagnosis.HINTS key, or a phrase of the hint

    def path(self, name: str) -> Path:
        return FOLDER / f"{name}.py"


ZOO = {
    "svm_gradient_doubled": Specimen("svm", "factor_2"),
    "svm_gradient_not_divided_by_n": Specimen("svm", "factor_n"),
    "svm_no_reg_gradient": Specimen("svm", "reg_missing"),
    "svm_correct_class_counted": Specimen("svm", "correct_class_in_margin"),
    "svm_correct_class_row_missing": Specimen("svm", "correct_class_row_missing"),
    "svm_margins_not_clipped": Specimen("svm", "fits_own_loss"),
    "svm_sum_not_mean": Specimen("svm", "fits_own_loss"),
    "svm_hangs": Specimen("svm", "time limit"),
    "softmax_sign_flipped": Specimen("softmax", "sign_flipped"),
    "softmax_no_max_shift": Specimen("softmax", "softmax_overflow"),
    "softmax_onehot_missing": Specimen("softmax", "onehot_missing"),
    "softmax_reg_without_2": Specimen("softmax", "reg_without_2"),
    "softmax_reg_doubled": Specimen("softmax", "reg_doubled"),
    "softmax_divided_twice": Specimen("softmax", "factor_n"),
    "softmax_log10": Specimen("softmax", "fits_own_loss"),
    "softmax_dW_transposed": Specimen("softmax", "W's shape transposed"),
    "softmax_raises": Specimen("softmax", "raised ValueError"),
    "numerical_gradient_no_restore": Specimen("numerical_gradient", "set W[k] back"),
    "numerical_gradient_central_over_h": Specimen("numerical_gradient", "factor of 2"),
    "sgd_step_uphill": Specimen("sgd", "uphill"),
}
