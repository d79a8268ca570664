"""What each ``jaxopt-course`` subcommand computes, as functions of its parsed options.

:mod:`jaxopt_course.cli` parses the command line, calls one function here
and prints what it returns: a :class:`Report` (the JSON record and the human
table, the exit code, a line for stderr, and what to write to ``--out``
after the result is printed). Nothing here parses or prints a result; a note
that must appear *before* a long run (the CIFAR-10 recipe, a resume) goes to
stderr through :func:`note`.

The subcommands read top to bottom: ``gradcheck``.

Every function imports what it needs inside its body, so that importing
this module (``jaxopt-course --help`` does) imports no JAX.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, NamedTuple

#: gradcheck's finite-difference step when --h is not given: the lecture's
#: h = 1e-4 in float64 (on digits the best of 1e-6..1e-3 for softmax; the SVM,
#: piecewise linear, would take larger); in float32 the loss is known only to
#: about 1e-7 of itself, so a slope needs a larger step to rise above round-off.
GRADCHECK_H = {"float64": 1e-4, "float32": 1e-2}


class Report(NamedTuple):
    """What a subcommand hands the command line to print, in this order.

    Attributes:
      result: the ``--json`` record.
      lines: the human table (printed instead of ``result`` without ``--json``).
      code: the exit code (0 done, 1 diverged).
      error: one line for stderr after the result (``None``: nothing to say).
      save: writes ``--out`` once the result is printed (``None``: nothing to write); it may raise
        :class:`jaxopt_course.runs.WriteFailed`.
      quiet: print nothing (several processes: only process 0 prints).
    """

    result: dict
    lines: list[str]
    code: int = 0
    error: str | None = None
    save: Callable[[], None] | None = None
    quiet: bool = False


def note(line: str) -> None:
    """A note on stderr before the work it announces (``jaxopt-course: <line>``)."""
    print(f"jaxopt-course: {line}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


#: The verdicts that report a mismatch beyond the check's own error: the ones a diagnosis explains.
#: ``good`` needs none; ``ok`` (the SVM's kinks) and ``inconclusive`` (a check that cannot resolve 1e-7,
#: as in float32) prove no mistake, and a fit to round-off would name one that is not there (a right
#: float32 SVM gradient reads ``unexplained``).
DIAGNOSED_VERDICTS = ("wrong", "uncomfortable")


def diagnosis_of(report, loss: str, W, X, y, reg: float) -> tuple[dict | None, list[str]]:
    """The shared diagnosis (:func:`jaxopt_course.diagnosis.diagnose_report`) of a verdict that finds a mismatch.

    Returns:
      ``(record, lines)``: ``record`` is ``{"codes", "hint", "coefficients"}`` for ``--json`` and
      ``lines`` what the table prints; ``(None, [])`` for a verdict outside :data:`DIAGNOSED_VERDICTS`.

    Examples:
      >>> import numpy as np
      >>> from jaxopt_course.gradcheck import check_gradient
      >>> from jaxopt_course.diagnosis import gradient_parts
      >>> rng = np.random.default_rng(0)
      >>> W, X, y = rng.normal(size=(3, 4)), rng.normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
      >>> from jaxopt_course.losses import softmax_loss
      >>> import jax
      >>> with jax.enable_x64(True):
      ...     no_reg = gradient_parts("softmax", W, X, y, reg=0.1)["data"]  # the 2 reg W forgotten
      ...     report = check_gradient(lambda W: softmax_loss(W, X, y, reg=0.1), W, no_reg)
      ...     record, lines = diagnosis_of(report, "softmax", W, X, y, reg=0.1)
      >>> record["codes"]
      ['reg_missing']
    """
    from .diagnosis import diagnose_report

    if report.verdict not in DIAGNOSED_VERDICTS:
        return None, []
    found = diagnose_report(report, loss, W, X, y, reg)
    record = {"codes": list(found.codes), "hint": found.hint or None, "coefficients": found.coefficients}
    if found.codes:
        return record, [f"  diagnosis: {', '.join(found.codes)} -- {found.hint}"]
    return record, ["  diagnosis: none -- dW is the true gradient at the checked coordinates (its parts fit it "
                    "exactly), so the mismatch lies in the finite differences: try another --h or --method central"]


def check_loss_gradient(loss: str, W, X, y, reg: float, *, h: float, method: str = "central",
                        num_checks: int | None = None, key=None, dW=None):
    """``gradcheck``'s check: ``dW`` (default: the hand-derived gradient) against finite differences.

    Args:
      loss: ``"svm"`` or ``"softmax"``.
      W, X, y, reg: the problem: ``W`` ``(C, D)``, ``X`` ``(N, D)``, ``y`` ``(N,)``, in the dtype to check in.
      h, method, num_checks, key: :func:`jaxopt_course.gradcheck.check_gradient`'s.
      dW: the gradient to check, ``W``'s shape (``None``: :data:`jaxopt_course.analytic.LOSS_AND_GRAD`'s).

    Returns:
      ``(report, autodiff_vs_hand, diagnosis, lines)``: the
      :class:`~jaxopt_course.gradcheck.GradCheckReport`, the max relative error of ``jax.grad`` against
      the hand-derived gradient, and :func:`diagnosis_of`'s record and lines.
    """
    import jax
    import jax.numpy as jnp

    from .analytic import LOSS_AND_GRAD
    from .gradcheck import check_gradient, relative_error, svm_kink_crossings
    from .losses import get_loss

    loss_fn = get_loss(loss)

    def objective(W):
        return loss_fn(W, X, y, reg=reg)

    _, hand_dW = LOSS_AND_GRAD[loss](W, X, y, reg=reg)
    autodiff_vs_hand = float(jnp.max(relative_error(jax.grad(objective)(W), hand_dW)))
    kinks = svm_kink_crossings(W, X, y, h=h) if loss == "svm" else None
    report = check_gradient(objective, W, hand_dW if dW is None else dW, num_checks=num_checks, h=h, method=method,
                            key=key, kinks=kinks)
    diagnosis, lines = diagnosis_of(report, loss, W, X, y, reg)
    return report, autodiff_vs_hand, diagnosis, lines


def gradcheck(args) -> Report:
    """``jaxopt-course gradcheck``: the hand-derived gradient on the data, its verdict and, if not good, why."""
    import contextlib

    import jax
    import jax.numpy as jnp

    splits = load(args)
    # CIFAR-10: CS231n's 500-image dev set; digits (no dev set): the training split.
    split, split_name = (splits.dev, "dev") if splits.dev is not None else (splits.train, "train")
    h = GRADCHECK_H[args.dtype] if args.h is None else args.h
    start = time.perf_counter()
    with jax.enable_x64(True) if args.dtype == "float64" else contextlib.nullcontext():
        X, y = jnp.asarray(split.X, dtype=args.dtype), jnp.asarray(split.y)
        W = args.init_scale * jax.random.normal(jax.random.key(args.seed), (splits.num_classes, splits.dim),
                                                dtype=args.dtype)
        report, autodiff_vs_hand, diagnosis, diagnosis_lines = check_loss_gradient(
            args.loss, W, X, y, args.reg, h=h, method=args.method, num_checks=args.num_checks,
            key=jax.random.key(args.seed + 1))
    seconds = time.perf_counter() - start
    result = with_recipe(args, {
        "data": args.data, "split": split_name, "num_examples": int(split.X.shape[0]), "loss": args.loss,
        "reg": args.reg, "init_scale": args.init_scale, "seed": args.seed,
        "jax_grad_vs_hand_max_relative_error": autodiff_vs_hand, **report.to_dict(), "diagnosis": diagnosis,
        "seconds": seconds})
    return Report(result, [
        f"{args.loss} loss on {args.data} ({split_name}: {split.X.shape[0]} examples), W = {args.init_scale:g} * "
        f"randn{tuple(W.shape)}, reg {args.reg:g}: numerical vs hand-derived gradient ({seconds:.1f} s)",
        str(report), *diagnosis_lines, f"  jax.grad vs hand-derived: max relative error {autodiff_vs_hand:.2e}"])


# ---------------------------------------------------------------------------
# The data and the CIFAR-10 recipe
# ---------------------------------------------------------------------------


def load(args):
    """The data set named by ``--data`` (experiments._common.load_data: digits through the on-disk cache).

    On CIFAR-10, first says on stderr which options took CS231n's recipe (``args.recipe``, filled by the parser).
    """
    from .experiments._common import load_data

    splits = load_data(args)
    say_recipe(args)
    return splits


def say_recipe(args) -> None:
    """On CIFAR-10, say on stderr which options took the CS231n recipe's values."""
    if args.data == "cifar10" and getattr(args, "recipe", None):
        words = " ".join(f"{flag} {shown(value)}" for flag, value in args.recipe.items())
        note(f"--data cifar10: CS231n's recipe for the options not given: {words}")


def with_recipe(args, result: dict) -> dict:
    """``result`` with ``"cs231n_recipe"``: the options that took CS231n's values (CIFAR-10 only)."""
    if args.data == "cifar10" and getattr(args, "recipe", None):
        result["cs231n_recipe"] = args.recipe
    return result


def shown(value) -> str:
    """An option's value as the user would type it: ``1e-07``, ``0.01,0.1``, ``all`` (None)."""
    if isinstance(value, dict):
        return ", ".join(f"{shown(v)} ({k})" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return "all" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
