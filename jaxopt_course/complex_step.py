"""Exact slopes without cancellation, and how the finite-difference error depends on ``h``.

* :func:`complex_step_gradient` -- ``Im f(W + i h e_k) / h``: no subtraction,
  so no round-off; machine precision for any tiny ``h`` (analytic losses only);
* :func:`step_size_study` -- the error of forward and central differences
  (and of the complex step) as ``h`` shrinks: truncation error on the right,
  round-off on the left.

Both are re-exported by :mod:`jaxopt_course.gradcheck`.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _checks, losses
from .finite_differences import DEFAULT_CHUNK_SIZE, METHODS, numerical_gradient

#: What :func:`step_size_study` compares: the two formulas and the complex step.
STUDY_METHODS = METHODS + ("complex",)


# ---------------------------------------------------------------------------
# The complex-step derivative: no subtraction, so no cancellation.
# ---------------------------------------------------------------------------


def _complex_dtype(dtype):
    """complex64 for float32 (and smaller), complex128 for float64."""
    return jnp.result_type(dtype, jnp.complex64)


def _is_svm(f) -> bool:
    """``f`` is the SVM loss itself, or a ``functools.partial`` of it (however nested)."""
    while isinstance(f, functools.partial):
        f = f.func
    return f in (losses.svm_loss, losses.svm_per_example, losses._svm_loss)


_NOT_ANALYTIC = (
    "the multiclass SVM's hinge max(0, s_j - s_y + margin) is not analytic (it has kinks), "
    "so it has no complex extension for the complex step to follow; check the SVM with "
    "numerical_gradient(..., method='central') instead"
)


def _check_complex_loss(f, W_complex) -> None:
    """``f`` must accept a complex ``W`` and return a complex scalar (an analytic loss)."""
    if _is_svm(f):
        raise ValueError(f"complex_step_gradient cannot differentiate the SVM loss: {_NOT_ANALYTIC}")
    try:
        out = jax.eval_shape(f, W_complex)
    except TypeError as err:
        raise ValueError(
            "complex_step_gradient evaluates f at a complex W, and f refused it "
            f"({type(err).__name__}: {err}). It needs a real-analytic loss that accepts a complex W, "
            f"such as softmax_loss; if f is the SVM: {_NOT_ANALYTIC}"
        ) from err
    if not (hasattr(out, "shape") and out.shape == ()):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"f must return a scalar loss, got output of shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise ValueError(
            f"f must return a complex scalar for a complex W, got dtype {out.dtype}: it dropped the "
            "imaginary part (abs, real, a comparison or a cast), where the complex step reads the slope; "
            "the loss must be real-analytic, written without them"
        )


def _check_imaginary_step(h, W) -> None:
    """The imaginary step must not underflow: ``h >= finfo(dtype).tiny``."""
    if _checks.is_traced(h):
        return
    tiny = min(float(jnp.finfo(leaf.dtype).tiny) for leaf in jax.tree_util.tree_leaves(W))
    if float(h) < tiny:
        dtype = jax.tree_util.tree_leaves(W)[0].dtype
        raise ValueError(
            f"h must be at least the smallest normal number of W's dtype {dtype} ({tiny:.1e}), "
            f"got h={float(h):g}: the imaginary step would underflow (use float64 for a smaller h)"
        )


def _complex_step_gradient(f, W, h, chunk_size):
    w_P, unravel = ravel_pytree(W)
    W_complex = jax.tree_util.tree_map(lambda leaf: leaf.astype(_complex_dtype(leaf.dtype)), W)
    w_complex_P, unravel_complex = ravel_pytree(W_complex)
    num_weights = w_P.shape[0]
    h = jnp.asarray(h, dtype=w_P.dtype)

    def slope(k):
        # Im f(W + i h e_k) / h: the one-hot direction e_k, taken an imaginary step h.
        e_k = (jnp.arange(num_weights) == k).astype(w_P.dtype)
        moved = w_complex_P + jax.lax.complex(jnp.zeros_like(e_k), h * e_k)
        return jnp.imag(f(unravel_complex(moved))) / h

    indices = jnp.arange(num_weights)
    return unravel(lax.map(slope, indices, batch_size=chunk_size).astype(w_P.dtype))


# f and chunk_size are static, h is traced: a new h does not recompile.
_complex_step_gradient_jit = jax.jit(_complex_step_gradient, static_argnums=(0, 3))


def complex_step_gradient(f, W, h=1e-20, chunk_size=DEFAULT_CHUNK_SIZE):
    """The complex-step derivative: ``Im f(W + i h e_k) / h`` for every weight ``k``.

    For a real-analytic ``f`` the Taylor series along an *imaginary* step is
    ``f(W + i h e_k) = f(W) + i h df/dW_k - h^2/2 d2f/dW_k^2 - i h^3/6 ... ``,
    so the imaginary part divided by ``h`` is the slope with an ``O(h^2)``
    error -- and no subtraction of two nearly equal losses: unlike the
    finite differences there is no cancellation, no round-off growing like
    ``eps / h``. Any tiny ``h`` works; with the default ``1e-20`` the result
    agrees with the exact gradient to machine precision (about 1e-15
    relative in float64).

    The loss must be real-analytic and written to accept a complex ``W``
    (no ``abs``, ``max`` of ``W``-dependent values, comparisons or casts to
    real): :func:`~jaxopt_course.losses.softmax_loss` is (its max shift is
    taken on the real part; the data stay real). The multiclass SVM is not
    -- its hinge ``max(0, .)`` has kinks -- and asking for it raises
    ``ValueError``.

    The losses are evaluated like :func:`~jaxopt_course.gradcheck.numerical_gradient`'s:
    ``chunk_size`` complex perturbations per ``jax.vmap`` call, in a ``lax.map``;
    compiled once per ``f`` (by identity), shape and dtype (``h`` is traced).

    Args:
      f: the loss ``f(W) -> scalar``, accepting a complex ``W``
        (e.g. ``lambda W: softmax_loss(W, X, y, reg=reg)``).
      W: the real weights: a float32/float64 array (or a pytree of them);
        they are evaluated as complex64/complex128.
      h: the imaginary step, > 0 and at least the dtype's smallest normal
        number (1e-20, 1e-100 or 1e-200 all give the same float64 result).
      chunk_size: perturbed losses evaluated per vmap call (speed and memory only).

    Returns:
      The gradient, the same shape (pytree) and dtype as ``W``.

    Raises:
      ValueError: ``f`` is the SVM loss, refuses a complex ``W``, or drops
        the imaginary part of its result.

    References:
      Squire and Trapp, "Using complex variables to estimate derivatives of
      real functions", SIAM Review 40(1), 1998.

    Examples:
      ``f(w) = sum(exp(w))`` has gradient ``exp(w)``, and the complex step
      finds it to the last digit:

      >>> import jax.numpy as jnp
      >>> g = complex_step_gradient(lambda w: jnp.sum(jnp.exp(w)), jnp.array([0.0, 1.0]))
      >>> [round(float(v), 6) for v in g]
      [1.0, 2.718282]
    """
    _checks.check_callable(f)
    _checks.check_params(W)
    _checks.check_step(h)
    _checks.check_int(chunk_size, "chunk_size", expected="a positive integer")
    _check_imaginary_step(h, W)
    W_complex = jax.tree_util.tree_map(
        lambda leaf: jax.ShapeDtypeStruct(np.shape(leaf), _complex_dtype(jnp.asarray(leaf).dtype)), W
    )
    _check_complex_loss(f, W_complex)
    return _complex_step_gradient_jit(f, W, h, int(chunk_size))


# ---------------------------------------------------------------------------
# The step-size study.
# ---------------------------------------------------------------------------


def _default_study_problem():
    """A small softmax problem: ``f(W)`` in the dtype of ``W``, and ``W`` (3, 5)."""
    kx, ky, kw = jax.random.split(jax.random.key(0), 3)
    # Features of spread 3 give the loss enough curvature that truncation
    # error shows clearly within h <= 0.1, in float32 too.
    X = 3.0 * np.asarray(jax.random.normal(kx, (50, 5), dtype=jnp.float32))
    y = np.asarray(jax.random.randint(ky, (50,), 0, 3), dtype=np.int32)
    W = np.asarray(jax.random.normal(kw, (3, 5), dtype=jnp.float32))

    def f(W):
        # The data in W's real dtype (float64 for a complex128 W: data stay real).
        return losses.softmax_loss(W, jnp.asarray(X, dtype=jnp.finfo(W.dtype).dtype), jnp.asarray(y))

    return f, W


def _study_arguments(f, W, hs, methods, dtypes):
    """Validate :func:`step_size_study`'s arguments; returns ``(f, W, hs)`` with the defaults filled in."""
    if f is None:
        if W is not None:
            raise ValueError(
                "W must be None when f is None (the default problem brings its own W), "
                f"got W of type {type(W).__name__}"
            )
        f, W = _default_study_problem()
    else:
        _checks.check_callable(f)
        if W is None:
            raise ValueError("W must be given when f is given, got None")
    W = np.asarray(W)
    _checks.check_real_array(W, "W")
    hs = np.logspace(-12, -1, 45) if hs is None else np.asarray(hs, dtype=np.float64).ravel()
    if hs.size == 0 or not np.all(np.isfinite(hs)) or np.any(hs <= 0):
        raise ValueError(f"hs must be a non-empty list of finite steps > 0, got {hs.tolist()}")
    for m in methods:
        if m not in STUDY_METHODS:
            raise ValueError(f"methods must hold some of {list(STUDY_METHODS)}, got {m!r}")
    for d in dtypes:
        if d not in ("float32", "float64"):
            raise ValueError(f"dtypes must hold 'float32' and/or 'float64', got {d!r}")
    return f, W, hs


def _exact_gradient(f, W, grad):
    """The reference: ``grad``, or ``jax.grad(f)`` in float64; and its norm (> 0)."""
    with jax.enable_x64(True):
        W64 = jnp.asarray(W, dtype=jnp.float64)
        _checks.check_scalar_loss(f, W64)
        exact = np.asarray(jax.grad(f)(W64) if grad is None else grad, dtype=np.float64)
    if exact.shape != W.shape:
        raise ValueError(f"grad must have W's shape {W.shape}, got shape {exact.shape}")
    exact_norm = np.linalg.norm(exact)
    if exact_norm == 0:
        raise ValueError("the exact gradient is 0 at W, so no relative error is defined; pick another W")
    return exact, exact_norm


def _errors_in(dtype, f, W, hs, methods, exact, exact_norm) -> dict:
    """``{method: [||g_h - g|| / ||g|| for h in hs]}`` with ``W`` cast to ``dtype``."""
    context = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    errors = {}
    with context:
        Wd = jnp.asarray(W, dtype=dtype)
        for method in methods:
            errs = []
            for h in hs:
                if method == "complex":
                    g_h = complex_step_gradient(f, Wd, h=float(h))
                else:
                    g_h = numerical_gradient(f, Wd, h=float(h), method=method)
                g_h = np.asarray(g_h, dtype=np.float64)
                errs.append(float(np.linalg.norm(g_h - exact) / exact_norm))
            errors[method] = errs
    return errors


def step_size_study(f=None, W=None, grad=None, hs=None, methods=METHODS, dtypes=("float32", "float64")) -> dict:
    """The error of forward and central differences as the step ``h`` shrinks.

    For each dtype, method and ``h`` the numerical gradient ``g_h`` of ``f``
    at ``W`` is compared with the exact gradient ``g`` by the norm-wise
    relative error ``||g_h - g|| / ||g||`` (one number per ``h``; unlike the
    elementwise relative error it is not thrown by tiny components). Two
    errors compete:

    * truncation, from the Taylor series: ``~ h |f''| / 2`` (forward) and
      ``~ h^2 |f'''| / 6`` (central) -- it dominates for large ``h``;
    * round-off: ``f`` is only known to about ``eps |f|``, and dividing by
      ``h`` magnifies that to ``~ eps |f| / h`` -- it dominates for small ``h``.

    Balancing them puts the best ``h`` near ``sqrt(eps)`` (forward) and
    ``cbrt(eps)`` (central), up to problem-dependent factors: about 3e-4 and
    5e-3 in float32, 1.5e-8 and 6e-6 in float64.

    ``method="complex"`` adds the complex step (:func:`complex_step_gradient`;
    ``f`` must then accept a complex ``W``): its truncation error is
    ``~ h^2 |f'''| / 6`` like the central difference's, but it subtracts
    nothing, so there is no round-off term: once ``h`` is below about
    ``sqrt(eps)`` (its ``theory_h``) the error stays flat at machine
    precision, however small ``h`` gets.

    Float64 runs happen inside ``with jax.enable_x64(True):``.

    Args:
      f: the function, ``f(W) -> scalar``, computing in the dtype of ``W``.
        ``None``: the softmax loss on a fixed small random problem
        (50 examples, D = 5 with features ~ 3 N(0, 1), C = 3, W ~ N(0, 1)).
      W: the point (cast to each dtype); ``None`` with the default ``f``.
      grad: the exact gradient at ``W``; ``None``: ``jax.grad(f)`` in float64.
      hs: the steps; ``None``: ``logspace(-12, -1, 45)`` (4 per decade).
      methods: which of ``"forward"``, ``"central"``, ``"complex"``.
      dtypes: which of ``"float32"``, ``"float64"``.

    Returns:
      A dict of plain Python lists and floats (JSON-ready)::

        {"h": [...],
         "error": {dtype: {method: [one per h]}},
         "best_h": {dtype: {method: h with the smallest error}},
         "best_error": {dtype: {method: that error}},
         "theory_h": {dtype: {"forward": sqrt(eps), "central": cbrt(eps),
                              "complex": sqrt(eps)}},
         "eps": {dtype: machine epsilon},
         "metric": "..."}

    Examples:
      ``sin`` at 1: the central error is ``1 - sin(h)/h ~ h**2 / 6``.

      >>> import jax.numpy as jnp
      >>> study = step_size_study(lambda w: jnp.sum(jnp.sin(w)), jnp.ones(3),
      ...                         hs=[1e-1, 1e-3], methods=("central",), dtypes=("float64",))
      >>> [float(f"{e:.3g}") for e in study["error"]["float64"]["central"]]
      [0.00167, 1.67e-07]
    """
    f, W, hs = _study_arguments(f, W, hs, methods, dtypes)
    exact, exact_norm = _exact_gradient(f, W, grad)
    error, best_h, best_error, theory_h, eps = {}, {}, {}, {}, {}
    for dtype in dtypes:
        error[dtype] = _errors_in(dtype, f, W, hs, methods, exact, exact_norm)
        e = float(np.finfo(dtype).eps)
        eps[dtype] = e
        # forward: sqrt(eps); central: cbrt(eps); complex: below sqrt(eps) its h^2 truncation is under eps.
        theory_h[dtype] = {m: (e ** (1.0 / 3.0) if m == "central" else e**0.5) for m in methods}
        best_h[dtype] = {m: float(hs[int(np.argmin(error[dtype][m]))]) for m in methods}
        best_error[dtype] = {m: float(np.min(error[dtype][m])) for m in methods}
    return {
        "h": [float(h) for h in hs],
        "error": error,
        "best_h": best_h,
        "best_error": best_error,
        "theory_h": theory_h,
        "eps": eps,
        "metric": "||g_h - g||_2 / ||g||_2, g the exact gradient (jax.grad in float64)",
    }
