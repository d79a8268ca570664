"""The assignment's tests: what each graded function must do, its points, and the hint when it does not.

Every test is a :class:`Check`: a part (the graded name), points, whether
the student sees it (public) or only the grader does (hidden), and a
function ``run(namespace) -> hint`` that returns ``None`` on a pass and a
hint (what is likely wrong) on a failure. The references are the package's
own: :mod:`jaxopt_course.losses`, :mod:`jaxopt_course.analytic`,
:func:`jaxopt_course.gradcheck.check_gradient`,
:func:`jaxopt_course.gradcheck.numerical_gradient`, ``optax.sgd`` and
:func:`jaxopt_course.sgd.run_steps`; the hints come from
:mod:`jaxopt_course.diagnosis`.

The graded functions (NumPy or JAX code both count; inputs arrive as
float64 NumPy arrays, fresh copies for every call, and JAX code runs with
64-bit mode on):

* ``svm_loss_and_grad(W, X, y, reg) -> (loss, dW)`` and
  ``softmax_loss_and_grad(W, X, y, reg) -> (loss, dW)``: ``W`` ``(C, D)``,
  ``X`` ``(N, D)`` with the bias column last, ``y`` ``(N,)`` integer labels;
  ``loss`` a scalar, ``dW`` of ``W``'s shape;
* ``numerical_gradient(f, W, h) -> dW``: finite differences of ``f(W) -> float``;
* ``sgd_step(W, dW, step_size) -> W`` and
  ``sample_minibatch(X, y, batch_size, seed) -> (X_batch, y_batch)``;
* ``best_step_size`` and ``best_reg``: the tuning cell's answer (floats).

These functions run inside the grader's child process
(:mod:`jaxopt_course.assignment.runner`), never in the grader itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import diagnosis

#: The graded names, by part.
PARTS = {
    "svm": ("svm_loss_and_grad",),
    "softmax": ("softmax_loss_and_grad",),
    "numerical_gradient": ("numerical_gradient",),
    "sgd": ("sgd_step", "sample_minibatch"),
    "tuning": ("best_step_size", "best_reg"),
}
#: Validation accuracy the tuning answer must reach (softmax, 300 SGD steps of 128 on digits).
TUNING_ACCURACY = 0.90
TUNING_STEPS, TUNING_BATCH = 300, 128


class StudentError(Exception):
    """The student's code failed to give a usable answer; the message is the hint."""


class Check(NamedTuple):
    """One test: ``run(namespace)`` returns ``None`` (passed) or the hint."""

    name: str
    part: str
    points: float
    hidden: bool
    run: Callable
    description: str


# ---------------------------------------------------------------------------
# The problems the tests use (small, float64, fixed seeds).
# ---------------------------------------------------------------------------


class Problem(NamedTuple):
    W: np.ndarray
    X: np.ndarray
    y: np.ndarray
    reg: float


def small_problem(
    seed: int = 0, num_classes: int = 4, dim: int = 6, num_examples: int = 12, w_scale: float = 0.5, reg: float = 0.05
) -> Problem:
    """A random problem ``W (C, D)``, ``X (N, D)`` with the bias column last, ``y (N,)``: every class present."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(num_examples, dim - 1)), np.ones((num_examples, 1))], axis=1)
    y = np.arange(num_examples) % num_classes
    rng.shuffle(y)
    return Problem(w_scale * rng.normal(size=(num_classes, dim)), X, y.astype(np.int64), reg)


def large_scores_problem() -> Problem:
    """Scores in the thousands: ``e^s`` overflows float64 (beyond ~709) without the max shift."""
    p = small_problem(seed=1)
    return p._replace(W=p.W * 2000.0, reg=0.0)


@functools.lru_cache(maxsize=1)
def digits_problem() -> Problem:
    """60 training images of scikit-learn's digits (D = 65 with the bias), ``W = 1e-3 * randn(10, 65)``."""
    from ..data import load_digits

    train = load_digits().train
    rng = np.random.default_rng(2)
    return Problem(
        1e-3 * rng.normal(size=(10, train.X.shape[1])),
        np.asarray(train.X[:60], np.float64),
        np.asarray(train.y[:60], np.int64),
        1e-3,
    )


# ---------------------------------------------------------------------------
# Calling the student's code: copies in, checked answers out.
# ---------------------------------------------------------------------------


def _get(namespace: dict, name: str):
    if name not in namespace:
        raise StudentError(f"{name} is not defined: the cell that defines it did not run, or it has another name")
    return namespace[name]


def _x64():
    import jax

    return jax.enable_x64(True)


def _call(namespace: dict, name: str, *args):
    """Call the student's ``name`` on copies of ``args`` (in 64-bit mode); exceptions become a hint."""
    fn = _get(namespace, name)
    if not callable(fn):
        raise StudentError(f"{name} must be a function, got {type(fn).__name__}")
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        with _x64():
            return fn(*copies)
    except NotImplementedError:
        raise StudentError(
            f"{name} is not written yet (it raises NotImplementedError): fill in its solution region"
        ) from None
    except MemoryError:
        raise StudentError(
            f"{name} ran out of memory (the grader's memory limit): look for an array of "
            "N x N or N x C x D elements, or a list that keeps growing"
        ) from None
    except Exception as error:  # noqa: BLE001 - any failure of student code is a hint, never a crash
        raise StudentError(f"{name} raised {type(error).__name__}: {str(error)[:300]}") from None


def _as_array(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except Exception:  # noqa: BLE001
        raise StudentError(f"{what} must be an array of numbers, got {type(value).__name__}") from None


def loss_and_grad(namespace: dict, name: str, p: Problem):
    """The student's ``(loss, dW)`` at ``p``, checked: a finite-or-not scalar and an array of ``W``'s shape."""
    out = _call(namespace, name, p.W, p.X, p.y, p.reg)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise StudentError(
            f"{name} must return a pair (loss, dW), got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    loss, dW = _as_array(out[0], "loss"), _as_array(out[1], "dW")
    if loss.size != 1:
        raise StudentError(
            f"the loss must be one number (the mean over examples), got shape {loss.shape}: "
            "average the per-example losses"
        )
    if dW.shape != p.W.shape:
        hint = " (that is W's shape transposed: dW = dscores.T @ X is (C, D))" if dW.shape == p.W.shape[::-1] else ""
        raise StudentError(f"dW must have W's shape (C, D) = {p.W.shape}, got {dW.shape}{hint}")
    return float(loss.reshape(())), dW


# ---------------------------------------------------------------------------
# The loss-and-gradient tests.
# ---------------------------------------------------------------------------


def reference_loss(loss: str, p: Problem) -> float:
    from .. import losses

    with _x64():
        return float(losses.get_loss(loss)(p.W, p.X, p.y, reg=p.reg))


def reference_gradient(loss: str, p: Problem) -> np.ndarray:
    """The hand-derived gradient of :mod:`jaxopt_course.analytic` at ``p`` (float64)."""
    from .. import analytic

    with _x64():
        return np.asarray(analytic.LOSS_AND_GRAD[loss](p.W, p.X, p.y, reg=p.reg)[1])


def _check_with_reference(loss: str, p: Problem, dW: np.ndarray, loss_fn=None):
    """check_gradient of ``dW`` against finite differences of ``loss_fn`` (default: the reference loss)."""
    import jax
    import jax.numpy as jnp

    from .. import losses
    from ..gradcheck import check_gradient, svm_kink_crossings

    with _x64():
        W = jnp.asarray(p.W)
        if loss_fn is None:
            reference = losses.get_loss(loss)

            def loss_fn(W):
                return reference(W, jnp.asarray(p.X), jnp.asarray(p.y), reg=p.reg)

        kinks = svm_kink_crossings(W, jnp.asarray(p.X), jnp.asarray(p.y), h=1e-5) if loss == "svm" else None
        return check_gradient(loss_fn, W, jnp.asarray(dW), h=1e-5, method="central", kinks=kinks, key=jax.random.key(0))


def _own_loss(namespace: dict, name: str, p: Problem):
    """The student's loss as a function of ``W`` that ``check_gradient`` can trace (a ``jax.pure_callback``)."""
    import jax
    import jax.numpy as jnp

    def value(W):
        return np.float64(loss_and_grad(namespace, name, p._replace(W=np.asarray(W, np.float64)))[0])

    def loss_fn(W):
        return jax.pure_callback(value, jax.ShapeDtypeStruct((), jnp.float64), W, vmap_method="sequential")

    return loss_fn


def gradient_hint(namespace: dict, name: str, loss: str, p: Problem) -> str | None:
    """None when the student's dW passes check_gradient at ``p``; else why not (a diagnosis)."""
    student_loss, dW = loss_and_grad(namespace, name, p)
    report = _check_with_reference(loss, p, dW)
    if np.all(np.isfinite(dW)) and (
        report.passed or (report.verdict == "inconclusive" and _close(dW, reference_gradient(loss, p)))
    ):
        # Inconclusive: finite differences cannot resolve the slopes (a loss in the thousands, at huge
        # scores); there the hand-derived reference gradient decides.
        return None
    verdict = f"check_gradient: {report.verdict} (max relative error {report.max_relative_error:.1e})"
    loss_diagnosis = diagnosis.diagnose_loss(
        student_loss, reference_loss(loss, p), loss, p.X.shape[0], penalty=p.reg * float(np.sum(p.W**2))
    )
    gradient = diagnosis.diagnose_gradient(dW, loss, p.W, p.X, p.y, p.reg)
    if loss_diagnosis.codes and np.all(np.isfinite(dW)):
        # A wrong loss: does the gradient follow it? Then the loss is the thing to fix first.
        own = _check_with_reference(loss, p, dW, loss_fn=_own_loss(namespace, name, p))
        if own.passed:
            return f"{verdict}. {diagnosis.HINTS['fits_own_loss']} ({loss_diagnosis.hint})"
    return f"{verdict}. {gradient.hint}"


def loss_hint(namespace: dict, name: str, loss: str, problems) -> str | None:
    """None when the student's loss equals the reference at every problem; else the first diagnosis."""
    for label, p in problems:
        student_loss, _ = loss_and_grad(namespace, name, p)
        found = diagnosis.diagnose_loss(
            student_loss, reference_loss(loss, p), loss, p.X.shape[0], penalty=p.reg * float(np.sum(p.W**2))
        )
        if found.codes:
            return f"at {label}: {found.hint}"
    return None


def _loss_problems():
    p = small_problem()
    return [
        ("W = 0 (every score 0)", p._replace(W=np.zeros_like(p.W), reg=0.0)),
        ("a random W without regularization", p._replace(reg=0.0)),
        ("a random W with reg = 0.05", p),
        ("large scores (|s| in the thousands)", large_scores_problem()),
    ]


def _runs(name: str, namespace: dict):
    loss_and_grad(namespace, name, small_problem())


def _loss_values(name: str, loss: str, namespace: dict):
    return loss_hint(namespace, name, loss, _loss_problems())


def _gradient(name: str, loss: str, problem: Callable, namespace: dict):
    return gradient_hint(namespace, name, loss, problem())


def _gradient_large_scores(name: str, loss: str, namespace: dict):
    p = large_scores_problem()
    _, dW = loss_and_grad(namespace, name, p)
    if not np.all(np.isfinite(dW)):
        return diagnosis.HINTS["softmax_overflow"] if loss == "softmax" else "dW holds Inf or NaN at large scores"
    return gradient_hint(namespace, name, loss, p)


def _digits(name: str, loss: str, namespace: dict):
    p = digits_problem()
    return loss_hint(namespace, name, loss, [("60 digits images", p)]) or gradient_hint(namespace, name, loss, p)


# ---------------------------------------------------------------------------
# The numerical gradient, the SGD step, the minibatch, the tuning answer.
# ---------------------------------------------------------------------------


def _numerical_problem():
    """``f(W)`` = the reference softmax loss on the small problem (a NumPy function), and a ``W``."""
    from .. import analytic

    p = small_problem(seed=3, num_classes=3, dim=4, num_examples=10)

    def f(W):
        with _x64():
            return float(analytic.softmax_loss_and_grad(np.asarray(W, np.float64), p.X, p.y, reg=p.reg)[0])

    return f, p


def _numerical_references(f, W, h):
    """The package's forward and central differences of ``f`` at ``W`` (float64)."""
    import jax
    import jax.numpy as jnp

    from ..gradcheck import numerical_gradient

    def traced_f(W):
        return jax.pure_callback(
            lambda w: np.float64(f(np.asarray(w))), jax.ShapeDtypeStruct((), jnp.float64), W, vmap_method="sequential"
        )

    with _x64():
        return {
            method: np.asarray(numerical_gradient(traced_f, jnp.asarray(W), h=h, method=method))
            for method in ("forward", "central")
        }


def _close(a, b, tol=1e-6) -> bool:
    return bool(np.max(np.abs(a - b)) <= tol * max(np.max(np.abs(b)), 1e-12))


def _numerical_gradient(namespace: dict):
    f, p = _numerical_problem()
    h = 1e-5
    out = _as_array(_call(namespace, "numerical_gradient", f, p.W, h), "numerical_gradient's result")
    if out.shape != p.W.shape:
        return f"numerical_gradient must return W's shape {p.W.shape}, got {out.shape}"
    refs = _numerical_references(f, p.W, h)
    if any(_close(out, ref) for ref in refs.values()):
        return None
    for ref in refs.values():
        if _close(out, -ref):
            return "the numerical gradient has the wrong sign: (f(W + h e_k) - f(W)) / h, not f(W) - f(W + h e_k)"
        if _close(out, 2 * ref) or _close(out, ref / 2):
            return (
                "the numerical gradient is off by a factor of 2: forward differences divide by h, "
                "central ones ((f(W + h e_k) - f(W - h e_k))) by 2h"
            )
    return (
        "the numerical gradient matches neither forward nor central differences: perturb one weight at a "
        "time (W[k] += h), evaluate f, and put W[k] back before the next one"
    )


def _numerical_gradient_restores(namespace: dict):
    f, p = _numerical_problem()
    W = p.W.copy()
    fn = _get(namespace, "numerical_gradient")
    try:
        with _x64():
            fn(f, W, 1e-5)
    except Exception as error:  # noqa: BLE001
        raise StudentError(f"numerical_gradient raised {type(error).__name__}: {str(error)[:300]}") from None
    if not np.array_equal(W, p.W):
        return (
            "numerical_gradient changed W: after evaluating f at W[k] + h, set W[k] back to its old value "
            "(the caller's weights must come back as they went in)"
        )
    return None


def _sgd_step(namespace: dict):
    import jax.numpy as jnp
    import optax

    p = small_problem(seed=4)
    dW = np.random.default_rng(5).normal(size=p.W.shape)
    step_size = 0.1
    out = _as_array(_call(namespace, "sgd_step", p.W, dW, step_size), "sgd_step's result")
    if out.shape != p.W.shape:
        return f"sgd_step must return the new W, shape {p.W.shape}, got {out.shape}"
    tx = optax.sgd(step_size)  # the reference: the lecture's W + -1 * (stepSize * dW)
    updates, _ = tx.update(jnp.asarray(dW), tx.init(jnp.asarray(p.W)))
    with _x64():
        expected = np.asarray(optax.apply_updates(jnp.asarray(p.W), updates), np.float64)
    if _close(out, expected, 1e-6):
        return None
    if _close(out, p.W + step_size * dW, 1e-6):
        return "sgd_step moved W uphill: the update is W - step_size * dW (the lecture's W + -1 * (stepSize * dW))"
    if _close(out, p.W - dW, 1e-6):
        return "sgd_step ignores step_size: W - step_size * dW"
    return "sgd_step must return W - step_size * dW"


def _minibatch(namespace: dict):
    p = small_problem(seed=6, num_examples=40)
    X = p.X.copy()
    X[:, 0] = np.arange(X.shape[0])  # every row identifiable by its first entry
    batches = []
    for seed in (0, 1):
        out = _call(namespace, "sample_minibatch", X, p.y, 8, seed)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return f"sample_minibatch must return a pair (X_batch, y_batch), got {type(out).__name__}"
        X_b, y_b = _as_array(out[0], "X_batch"), np.asarray(out[1])
        if X_b.shape != (8, X.shape[1]) or y_b.shape != (8,):
            return (
                f"sample_minibatch(X, y, 8, seed) must return shapes (8, {X.shape[1]}) and (8,), got "
                f"{X_b.shape} and {y_b.shape}"
            )
        rows = X_b[:, 0].astype(int)
        if not (np.array_equal(X_b, X[rows]) and np.array_equal(y_b, p.y[rows])):
            return (
                "each X_batch row must be a row of X with its own label: take X[idx] and y[idx] with the same "
                "indices idx"
            )
        batches.append(rows)
    if np.array_equal(batches[0], batches[1]):
        return "sample_minibatch gives the same batch for seeds 0 and 1: draw the indices from the seed"
    return None


def _tuning(namespace: dict):
    import jax
    import jax.numpy as jnp
    import optax

    from .. import losses, model, sgd
    from ..data import load_digits

    answer = {}
    for name in PARTS["tuning"]:
        value = _get(namespace, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            return f"{name} must be a number (the tuning cell's choice), got {value!r}"
        if not np.isfinite(value) or value < 0 or (name == "best_step_size" and value == 0):
            return f"{name} must be finite and positive, got {value!r}"
        answer[name] = float(value)
    splits = load_digits()
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    config = sgd.Config(
        loss_fn=lambda W, X, y, reg: losses.softmax_loss(W, X, y, reg=reg), optimizer=optax.sgd, batch_size=TUNING_BATCH
    )
    lr, reg = answer["best_step_size"], answer["best_reg"]
    state = sgd.init_state(config, jnp.zeros((splits.num_classes, splits.dim)), jax.random.key(0), lr, X.shape[0])
    run = jax.jit(sgd.run_steps, static_argnums=(0, 6))  # the lecture's loop, one lax.scan
    state, step_losses = run(config, state, X, y, lr, reg, TUNING_STEPS)
    if not np.all(np.isfinite(np.asarray(step_losses))):
        return f"training diverged with step_size {answer['best_step_size']:g}: choose a smaller step"
    val_accuracy = float(model.accuracy(state.params, jnp.asarray(splits.val.X), jnp.asarray(splits.val.y)))
    if val_accuracy >= TUNING_ACCURACY:
        return None
    drop = float(step_losses[0] - np.mean(np.asarray(step_losses[-20:])))
    why = (
        "the loss barely fell: a larger step_size"
        if drop < 0.5
        else "a smaller reg, or another step_size: compare them on the validation split"
    )
    return (
        f"{TUNING_STEPS} SGD steps with step_size {answer['best_step_size']:g}, reg {answer['best_reg']:g} "
        f"reach {val_accuracy:.1%} validation accuracy, below {TUNING_ACCURACY:.0%}: try {why}"
    )


# ---------------------------------------------------------------------------
# The list of tests.
# ---------------------------------------------------------------------------


def _loss_checks(loss: str) -> list:
    name = f"{loss}_loss_and_grad"
    checks = [
        Check(
            f"{loss}_returns",
            loss,
            1,
            False,
            functools.partial(_runs, name),
            f"{name} returns (loss, dW) with dW of W's shape",
        ),
        Check(
            f"{loss}_loss_values",
            loss,
            2,
            False,
            functools.partial(_loss_values, name, loss),
            f"{name}'s loss equals the reference at W = 0, random W, reg > 0 and large scores",
        ),
        Check(
            f"{loss}_gradient",
            loss,
            3,
            False,
            functools.partial(_gradient, name, loss, small_problem),
            f"{name}'s dW passes check_gradient (central differences, float64)",
        ),
        Check(
            f"{loss}_digits",
            loss,
            2,
            True,
            functools.partial(_digits, name, loss),
            f"{name} on 60 digits images: the loss and check_gradient",
        ),
    ]
    if loss == "softmax":
        checks.append(
            Check(
                "softmax_large_scores_gradient",
                loss,
                1,
                True,
                functools.partial(_gradient_large_scores, name, loss),
                "softmax dW is finite and right at scores in the thousands",
            )
        )
    return checks


def _wrap(run: Callable) -> Callable:
    def checked(namespace: dict):
        try:
            return run(namespace)
        except StudentError as error:
            return str(error)

    return checked


CHECKS = [
    check._replace(run=_wrap(check.run))
    for check in [
        *_loss_checks("svm"),
        *_loss_checks("softmax"),
        Check(
            "numerical_gradient_values",
            "numerical_gradient",
            2,
            False,
            _numerical_gradient,
            "numerical_gradient equals forward or central differences",
        ),
        Check(
            "numerical_gradient_restores_W",
            "numerical_gradient",
            1,
            True,
            _numerical_gradient_restores,
            "numerical_gradient leaves W as it found it",
        ),
        Check("sgd_step", "sgd", 1, False, _sgd_step, "sgd_step is W - step_size * dW (optax.sgd)"),
        Check("sample_minibatch", "sgd", 1, False, _minibatch, "sample_minibatch pairs rows and labels, per seed"),
        Check(
            "tuning",
            "tuning",
            2,
            False,
            _tuning,
            f"softmax SGD with the chosen step_size and reg reaches {TUNING_ACCURACY:.0%} validation accuracy",
        ),
    ]
]
CHECKS_BY_NAME = {check.name: check for check in CHECKS}


def import_references() -> None:
    """Import what the tests use (JAX, optax, the package's references) before any clock starts.

    The child calls this before it times the student's code: an import of
    JAX takes seconds on a loaded machine, and those seconds are not the student's.
    """
    import jax  # noqa: F401
    import jax.numpy  # noqa: F401
    import optax  # noqa: F401

    from .. import analytic, data, gradcheck, losses, model, sgd  # noqa: F401


def function_of(name: str) -> str:
    """The graded name the test ``name`` calls (its part's one function, or the test's own name in ``sgd``)."""
    check = CHECKS_BY_NAME[name]
    names = PARTS[check.part]
    if len(names) == 1:
        return names[0]
    return name if name in names else check.part


def run_check(name: str, namespace: dict) -> str | None:
    """Run one test on a namespace (the student's definitions): ``None`` or the hint."""
    return CHECKS_BY_NAME[name].run(namespace)


def otter_check(name: str, env: dict) -> None:
    """The same test for otter-grader's exception-based test files: raises ``AssertionError(hint)`` on a failure."""
    hint = run_check(name, env)
    assert hint is None, hint
