"""Beyond the slope: curvature, the stable step size, and Newton's method.

The gradient says which way is down; the Hessian ``H = d^2 L / dW^2`` says how
fast the slope changes. For gradient descent ``W <- W - lr * grad L`` on a
quadratic, each eigen-direction of ``H`` with eigenvalue ``lam`` is multiplied
by ``(1 - lr * lam)`` per step, so the run is stable only while
``|1 - lr * lam_max| < 1``, i.e. ``lr < 2 / lam_max``. The largest eigenvalue
is found here without ever forming ``H``: power iteration on Hessian-vector
products (``jax.jvp`` of ``jax.grad``), which costs about two gradients each.

All functions take a loss ``f(W)`` of the parameters only: bind the data
first, e.g. ``f = functools.partial(softmax_loss, X=X, y=y, reg=reg)``.

Both Newton solvers, :func:`newton` (``solver="cg"``) and
:func:`minimize_newton_cg`, solve ``H d = g`` with the one conjugate-gradient
loop here, ``_cg``, not ``jax.scipy.sparse.linalg.cg``:
``minimize_newton_cg`` reports how many Hessian-vector products it spent
(``NewtonCGResult.hvps``, quoted by ``compare.softmax_optimum``), and
jax.scipy's ``cg`` returns no iteration count. Starting from ``x = 0`` it
also skips the product jax.scipy's ``cg`` spends on the initial residual
``b - A x0``, so a step costs at most ``cg_iters`` products. The arithmetic is
jax.scipy's (same updates, inner products at ``Precision.HIGHEST``), so the
iterates are the same.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import _checks
from .model import scores_core


def hvp(f, W, v):
    """Hessian-vector product ``H(W) v`` by forward-over-reverse differentiation.

    ``jax.jvp(jax.grad(f), (W,), (v,))``: the directional derivative of the
    gradient along ``v``. Same shape as ``W``; never forms ``H``.

    Examples:
      >>> import jax.numpy as jnp
      >>> f = lambda w: jnp.sum(w ** 3)          # H = diag(6 w)
      >>> hvp(f, jnp.array([1., 2.]), jnp.array([1., 1.])).tolist()
      [6.0, 12.0]
    """
    treedef: Any = jax.tree_util.tree_structure(W)  # Any: jaxlib ships no type stub for PyTreeDef
    if treedef != jax.tree_util.tree_structure(v):
        raise ValueError("v must have the same structure as W")
    return jax.jvp(jax.grad(f), (W,), (v,))[1]


def hessian(f, W):
    """The full Hessian of ``f`` at ``W``, shaped ``(W.size, W.size)``.

    Rows and columns follow ``W.ravel()`` (row-major: index ``c * D + d`` for a
    ``(C, D)`` weight matrix). Only for small problems: digits has 650
    parameters (a 650 x 650 matrix); CIFAR-10's 30730 would need 3.8 GB.
    """
    flat, unravel = ravel_pytree(W)
    if flat.size > 20000:
        raise ValueError(
            f"W has {flat.size} parameters: its Hessian would hold {flat.size**2:.2e} numbers. "
            "Use hvp or max_eigenvalue, which never form it"
        )
    return jax.hessian(lambda w: f(unravel(w)))(flat)


class PowerIteration(NamedTuple):
    """Result of :func:`power_iteration`: the eigenvalue, its unit eigenvector and the iterates."""

    eigenvalue: jax.Array
    eigenvector: jax.Array
    history: jax.Array  # the Rayleigh quotient after each iteration


# f and num_iters are static: a new W (or key) with the same f reuses the compiled iteration.
@partial(jax.jit, static_argnums=(0, 1))
def _power_iteration(f, num_iters, W, key):
    flat, unravel = ravel_pytree(W)

    def matvec(v):
        return ravel_pytree(hvp(f, W, unravel(v)))[0]

    def step(v, _):
        Hv = matvec(v)
        rayleigh = jnp.vdot(v, Hv)
        norm = jnp.linalg.norm(Hv)
        v_next = jnp.where(norm > 0, Hv / jnp.where(norm > 0, norm, 1.0), v)
        return v_next, rayleigh

    v0 = jax.random.normal(key, flat.shape, flat.dtype)
    v0 = v0 / jnp.linalg.norm(v0)
    v, history = jax.lax.scan(step, v0, None, length=num_iters)
    return PowerIteration(jnp.vdot(v, matvec(v)), unravel(v), history)


def power_iteration(f, W, key, num_iters: int = 100) -> PowerIteration:
    """Largest-magnitude eigenvalue of the Hessian by power iteration on ``hvp``.

    ``v <- H v / ||H v||``, and the Rayleigh quotient ``v . H v`` estimates the
    eigenvalue. For a convex loss (softmax, any loss with ``reg > 0`` near a
    minimum) the Hessian is positive semi-definite, so this is ``lambda_max``.
    The iteration runs inside ``lax.scan``, compiled once per ``f`` (by
    identity) and ``num_iters``: measuring the curvature at many points ``W``
    of the same loss compiles once.
    """
    _checks.check_positive(num_iters, "num_iters", integer=True)
    flat, _ = ravel_pytree(W)
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"W must be floating, got {flat.dtype}")
    return _power_iteration(f, int(num_iters), W, key)


def max_eigenvalue(f, W, key, num_iters: int = 100):
    """``lambda_max`` of the Hessian of ``f`` at ``W`` (power iteration; works at CIFAR-10 size).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> A = jnp.diag(jnp.array([1., 4., 10.]))
      >>> f = lambda w: 0.5 * w @ A @ w
      >>> round(float(max_eigenvalue(f, jnp.zeros(3), jax.random.key(0))), 4)
      10.0
    """
    return power_iteration(f, W, key, num_iters).eigenvalue


def stable_learning_rate(lam_max) -> float:
    """The largest stable gradient-descent step on a quadratic: ``2 / lambda_max``."""
    lam_max = float(lam_max)
    if not lam_max > 0:
        raise ValueError(f"lam_max must be > 0 for a stable step size to exist, got {lam_max}")
    return 2.0 / lam_max


def eigenvalues(f, W) -> np.ndarray:
    """All eigenvalues of the (small) Hessian, ascending, by ``numpy.linalg.eigvalsh``."""
    H = np.asarray(hessian(f, W), dtype=np.float64)
    return np.linalg.eigvalsh((H + H.T) / 2)


def condition_number(f, W) -> float:
    """``lambda_max / lambda_min`` of the Hessian (small problems); ``inf`` when singular.

    The softmax loss without regularization is flat along ``W + 1 v^T`` (adding
    the same vector to every class row changes no probability), so its
    Hessian is singular and the condition number infinite; ``reg > 0`` fixes it.
    """
    eig = eigenvalues(f, W)
    lo, hi = eig[0], eig[-1]
    if lo <= hi * 1e-12 * len(eig):
        return float("inf")
    return float(hi / lo)


def softmax_hessian_closed_form(W, X, reg=0.0):
    """The softmax loss's Hessian in closed form, ``(C*D, C*D)``, for testing and teaching.

    ``H = 1/N sum_i (diag(p_i) - p_i p_i^T) kron (x_i x_i^T) + 2 reg I``,
    with ``p_i = softmax(W x_i)``; it does not depend on the labels.
    """
    X = jnp.asarray(X)
    P = jax.nn.softmax(scores_core(jnp.asarray(W), X), axis=1)  # (N, C)
    A = jax.vmap(lambda p: jnp.diag(p) - jnp.outer(p, p))(P)  # (N, C, C)
    H = jnp.einsum("nab,nd,ne->adbe", A, X, X) / X.shape[0]
    C, D = W.shape
    return H.reshape(C * D, C * D) + 2 * reg * jnp.eye(C * D, dtype=H.dtype)


# ---------------------------------------------------------------------------
# Newton's method
# ---------------------------------------------------------------------------


class NewtonResult(NamedTuple):
    params: jax.Array
    losses: jax.Array  # loss before each step, then the final loss


def _cg(matvec, b, tol, maxiter):
    """Conjugate gradient for ``A x = b`` (``A`` symmetric positive definite) from ``x = 0``.

    The one CG solver of this module (:func:`newton` and
    :func:`minimize_newton_cg`). Stops when ``||r|| <= tol ||b||`` or after
    ``maxiter`` products of ``matvec``; ``tol = 0`` runs all ``maxiter`` (unless
    the residual is exactly zero). The updates and the inner products
    (``Precision.HIGHEST``) are those of ``jax.scipy.sparse.linalg.cg``, less
    its product for the initial residual. Returns ``(x, products used)``.
    """
    vdot = partial(jnp.vdot, precision=jax.lax.Precision.HIGHEST)
    threshold = tol * jnp.linalg.norm(b)  # once, not in every iteration's test

    def cond(carry):
        _, r, _, rr, k = carry
        return (jnp.sqrt(rr) > threshold) & (k < maxiter)

    def body(carry):
        x, r, p, rr, k = carry
        Ap = matvec(p)
        alpha = rr / vdot(p, Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr_next = vdot(r, r)
        return x, r, r + (rr_next / rr) * p, rr_next, k + 1

    start = (jnp.zeros_like(b), b, b, vdot(b, b), jnp.zeros((), jnp.int32))
    x, _, _, _, k = jax.lax.while_loop(cond, body, start)
    return x, k


# f, the solver and the CG budget are static; W, damping and the CG tolerance
# are traced: a second run with the same f reuses the compiled step.
@partial(jax.jit, static_argnums=(0, 1, 2))
def _newton_step(f, solver, cg_iters, W, damping, cg_tol, args=()):
    """One Newton step from ``W``: ``(W - (H + damping I)^{-1} g, L(W))``, on the flat weights."""
    w, unravel = ravel_pytree(W)

    def loss(w):
        return f(unravel(w), *args)

    grad = jax.grad(loss)
    g = grad(w)
    if solver == "direct":
        H = jax.hessian(loss)(w) + damping * jnp.eye(w.size, dtype=w.dtype)
        delta = jnp.linalg.solve(H, g)
    else:

        def matvec(v):
            return jax.jvp(grad, (w,), (v,))[1] + damping * v

        delta, _ = _cg(matvec, g, cg_tol, cg_iters)
    return unravel(w - delta), loss(w)


def newton(
    f,
    W0,
    num_steps: int = 10,
    *,
    solver: str = "cg",
    damping: float = 0.0,
    cg_iters: int = 50,
    cg_tol: float = 1e-5,
    callback=None,
    args=(),
):
    """Newton's method: ``W <- W - (H + damping I)^{-1} grad L``.

    Args:
      f: the loss of ``W`` alone.
      W0: the starting point.
      num_steps: Newton steps.
      solver: ``"direct"`` forms the Hessian and solves (small problems);
        ``"cg"`` runs conjugate gradient on Hessian-vector products
        (the module's one CG loop, see the module docstring), never forming it.
      damping: added to the Hessian's diagonal (Levenberg--Marquardt style);
        the unregularized softmax Hessian is singular, so use ``damping > 0``
        or ``reg > 0`` there.
      cg_iters: the most iterations of conjugate gradient per step (each one
        Hessian-vector product; CG starts from 0, so no product for the
        initial residual).
      cg_tol: conjugate gradient stops once ``||r|| <= cg_tol ||grad L||``;
        ``0.0`` runs all ``cg_iters`` iterations (a fixed, countable cost).
      callback: called on the host as ``callback(step, W)`` after every
        step (``step`` from 1), e.g. to time the run or record the path.
      args: arrays passed to ``f`` after ``W`` (``f(W, *args)``) as arguments
        of the compiled step. Give large data this way: a closure's arrays
        become constants of the program (CIFAR-10's 600 MB training set
        would be compiled in); with ``args`` and
        :func:`full_objective` the CG step runs at CIFAR-10 size. See also
        :func:`minimize_newton_cg` (a line search and a gradient tolerance).

    The step is compiled once per ``f`` (by identity), solver and
    ``cg_iters``; calling ``newton`` again with the same ``f`` reuses it.

    Returns:
      ``NewtonResult(params, losses)``: the final ``W`` and the loss before
      each step, then the final loss (``num_steps + 1`` values).
    """
    if solver not in ("direct", "cg"):
        raise ValueError(f"solver must be 'direct' or 'cg', got {solver!r}")
    _checks.check_positive(num_steps, "num_steps", integer=True)
    _checks.check_positive(cg_iters, "cg_iters", integer=True)
    _checks.check_nonnegative(damping, "damping")
    _checks.check_nonnegative(cg_tol, "cg_tol")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(step, W), got {type(callback).__name__}")

    W = W0
    losses = []
    for t in range(int(num_steps)):
        W, value = _newton_step(f, solver, int(cg_iters), W, damping, cg_tol, tuple(args))
        losses.append(value)
        if callback is not None:
            callback(t + 1, W)
    losses.append(f(W, *args))
    return NewtonResult(W, jnp.stack(losses))


# ---------------------------------------------------------------------------
# The exact optimum: the full objective in row blocks, Newton-CG to a gradient tolerance
# ---------------------------------------------------------------------------


def full_objective(W_CxD, X_NxD, y_N, reg, *, loss: str = "softmax", margin=1.0, block_rows: int = 4096):
    """The full training objective ``1/N sum_i L_i(W) + reg * sum W**2``, in row blocks.

    The rows of ``X`` are visited ``block_rows`` at a time (a ``lax.fori_loop``
    over ``dynamic_slice`` windows, the last window shifted back to end at
    ``N`` and its already-counted rows masked out), each block cast to
    ``W``'s dtype: with a float64 ``W`` the objective is computed in float64
    while ``X`` stays float32 in memory (one float64 block at a time, not a
    1.2 GB float64 copy of CIFAR-10's training set). Exact: every float32 is a
    float64. Differentiable (``jax.grad``, ``jax.jvp``), so Newton-CG runs on
    it at CIFAR-10 size.

    Args:
      W_CxD: weights ``(C, D)``; its dtype is the dtype of the computation.
      X_NxD, y_N: the training set.
      reg: the L2 strength (``R(W) = sum W**2``).
      loss: ``"softmax"`` or ``"svm"``.
      margin: the SVM's margin.
      block_rows: rows per block (memory: ``block_rows x D`` numbers of ``W``'s dtype).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxopt_course import softmax_loss, synthetic_problem
      >>> X, y = synthetic_problem(num_examples=50)
      >>> W = jnp.ones((3, 6)) * 0.1
      >>> bool(jnp.allclose(full_objective(W, X, y, 0.1, block_rows=16), softmax_loss(W, X, y, reg=0.1)))
      True
    """
    from .losses import softmax_per_example, svm_per_example

    if loss == "softmax":
        per_example = softmax_per_example
    elif loss == "svm":

        def per_example(W, X, y):
            return svm_per_example(W, X, y, margin=margin)
    else:
        raise ValueError(f"loss must be 'softmax' or 'svm', got {loss!r}")
    N = X_NxD.shape[0]
    B = min(int(block_rows), N)

    def add_block(b, total):
        start = jnp.minimum(b * B, N - B)
        X_BxD = jax.lax.dynamic_slice_in_dim(X_NxD, start, B).astype(W_CxD.dtype)
        y_B = jax.lax.dynamic_slice_in_dim(y_N, start, B)
        fresh_B = start + jnp.arange(B) >= b * B  # the last window's rows already counted are masked
        return total + jnp.sum(jnp.where(fresh_B, per_example(W_CxD, X_BxD, y_B), 0.0))

    data = jax.lax.fori_loop(0, -(-N // B), add_block, jnp.zeros((), W_CxD.dtype))
    return data / N + reg * jnp.sum(W_CxD * W_CxD)


class NewtonCGResult(NamedTuple):
    """Result of :func:`minimize_newton_cg`."""

    params: jax.Array
    value: float  # f at params
    grad_norm: float  # ||grad f|| at params (Frobenius)
    steps: int  # Newton steps taken
    hvps: int  # Hessian-vector products spent in conjugate gradient, all steps together
    converged: bool  # grad_norm <= grad_tol
    grad_norms: np.ndarray  # ||grad f|| before each step, then at the end


# f and the CG budget are static (one compilation per f); w and the data are traced.
@partial(jax.jit, static_argnums=(0, 1))
def _newton_cg_direction(f, cg_iters, w, args):
    """The Newton direction ``H^{-1} g`` by CG (forcing tolerance ``min(0.5, sqrt||g||)``), ``g``, ``f(w)``."""
    value, g = jax.value_and_grad(f)(w, *args)

    def matvec(v):
        return jax.jvp(lambda u: jax.grad(f)(u, *args), (w,), (v,))[1]

    g_norm = jnp.linalg.norm(g)
    direction, products = _cg(matvec, g, jnp.minimum(0.5, jnp.sqrt(g_norm)), cg_iters)
    return direction, g, value, g_norm, products


@partial(jax.jit, static_argnums=0)
def _value(f, w, args):
    """``f(w, *args)``, compiled once per ``f``."""
    return f(w, *args)


@partial(jax.jit, static_argnums=0)
def _value_and_grad_norm(f, w, args):
    """``(f(w, *args), ||grad f||)``, compiled once per ``f``."""
    value, g = jax.value_and_grad(f)(w, *args)
    return value, jnp.linalg.norm(g)


def _armijo_step(f, W, d, args, value: float, slope: float) -> float:
    """The first ``t = 1, 1/2, ...`` with ``f(W - t d) <= f(W) - 1e-4 t g.d``.

    Near the optimum the predicted decrease ``g.d`` falls below the rounding
    of ``f`` itself (``~ eps |f|``) and no ``t`` can pass the test: there the
    full Newton step is taken (the quadratic model is exact to rounding).
    """
    if slope <= 1e3 * np.finfo(np.asarray(W).dtype).eps * max(abs(value), 1.0):
        return 1.0
    t = 1.0
    while t > 1e-10 and not float(_value(f, W - t * d, args)) <= value - 1e-4 * t * slope:
        t /= 2
    return t


def minimize_newton_cg(
    f, W0, args=(), *, grad_tol: float = 1e-8, max_steps: int = 50, cg_iters: int = 500, callback=None
) -> NewtonCGResult:
    """Minimize a smooth convex ``f(W, *args)`` by Newton-CG with a backtracking line search.

    Each step solves ``H d = g`` by conjugate gradient on Hessian-vector
    products (never forming ``H``) to the relative tolerance
    ``min(0.5, sqrt(||g||))`` (an inexact Newton method: loose far away,
    tight near the optimum, so convergence is superlinear), then takes
    ``W <- W - t d`` with the first ``t = 1, 1/2, 1/4, ...`` that satisfies
    Armijo's condition ``f(W - t d) <= f(W) - 1e-4 t g.d``. It stops once
    ``||grad f(W)|| <= grad_tol``.

    Unlike :func:`newton`, the data go in ``args`` and reach the compiled
    step as arguments, not as constants baked into the program: this is what
    makes it run at CIFAR-10 size (49000 x 3073 x 10) with
    ``f = full_objective`` in float64 -- memory: the data, a few copies of
    ``W`` and one block of rows.

    Args:
      f: ``f(W, *args) -> scalar`` (static: one compilation per ``f``).
      W0: the starting point; its dtype is the dtype of the computation.
      args: arrays passed to ``f`` after ``W``.
      grad_tol: stop when the gradient's norm is at most this.
      max_steps: the most Newton steps.
      cg_iters: the most CG iterations (Hessian-vector products) per step.
      callback: called as ``callback(step, W, value, grad_norm)`` after each step.

    Returns:
      A :class:`NewtonCGResult`.
    """
    _checks.check_positive(grad_tol, "grad_tol")
    _checks.check_positive(max_steps, "max_steps", integer=True)
    _checks.check_positive(cg_iters, "cg_iters", integer=True)
    args = tuple(args)
    W = jnp.asarray(W0)
    norms, hvps, steps = [], 0, 0
    for steps in range(int(max_steps) + 1):
        d, g, value, g_norm, products = _newton_cg_direction(f, int(cg_iters), W, args)
        norms.append(float(g_norm))
        if norms[-1] <= grad_tol or steps == max_steps:
            break
        hvps += int(products)
        W = W - _armijo_step(f, W, d, args, float(value), float(jnp.vdot(g, d))) * d
        if callback is not None:
            callback(steps + 1, W, float(_value(f, W, args)), None)
    value, g_norm = _value_and_grad_norm(f, W, args)
    return NewtonCGResult(W, float(value), float(g_norm), steps, hvps, float(g_norm) <= grad_tol, np.asarray(norms))
