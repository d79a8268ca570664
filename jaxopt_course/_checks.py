"""Input validation at the boundary.

Public functions call these in plain Python *before* any tracing. Shapes and
dtypes are always known, so they are always checked. Values (finiteness,
label range) are only known when an array is concrete: under ``jax.grad``,
``jax.vmap``, ``jax.jit`` or ``lax.scan`` an argument is a ``Tracer`` and its
value checks are skipped -- they ran once already, where the data entered.

Every error names the argument, what was expected and what came.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from .limits import INT32_MAX, INT64_MAX, LimitError


def is_traced(x) -> bool:
    """True when ``x`` is an abstract value inside a JAX transformation."""
    return isinstance(x, jax.core.Tracer)


def _shape_dtype(x, name: str):
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    return tuple(x.shape), np.dtype(x.dtype)


def check_real_array(x, name: str, ndim: int | None = None, allow_complex: bool = False):
    """Check that ``x`` is a floating (optionally complex) array of ``ndim`` dimensions.

    Returns the shape.
    """
    shape, dtype = _shape_dtype(x, name)
    if ndim is not None and len(shape) != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {shape} ({len(shape)}-D)")
    if jnp.issubdtype(dtype, jnp.complexfloating):
        if not allow_complex:
            raise TypeError(f"{name} must be a real floating array, got complex dtype {dtype}")
    elif not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating array (float32 or float64), got dtype {dtype}")
    return shape


def check_finite(x, name: str) -> None:
    """Raise ValueError if a concrete ``x`` holds NaN or Inf (skipped when traced)."""
    if is_traced(x):
        return
    arr = np.asarray(x)
    if not arr.size:
        return
    # In blocks of rows: np.isfinite of a whole 600 MB matrix would allocate a
    # 150 MB boolean temporary just to say "yes".
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    rows_per_block = max(1, (1 << 20) // max(1, flat.shape[1]))
    bad = 0
    for start in range(0, flat.shape[0], rows_per_block):
        block = flat[start : start + rows_per_block]
        bad += int(block.size - np.count_nonzero(np.isfinite(block)))
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN/Inf value(s) out of {arr.size}")


def check_labels(y, num_classes: int | None, name: str = "y", n: int | None = None):
    """Check ``y``: 1-D integer labels in ``[0, num_classes)``, ``n`` of them."""
    shape, dtype = _shape_dtype(y, name)
    if len(shape) != 1:
        raise ValueError(f"{name} must be 1-D integer labels of shape (N,), got shape {shape}")
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {dtype}")
    if n is not None and shape[0] != n:
        raise ValueError(f"{name} must have one label per row of X (N={n}), got {shape[0]} labels")
    # Wider integers (int64, uint32, uint64) become int32 when they go to JAX (64-bit mode off), and
    # 2**32 + 1 becomes 1: so their range is checked here, on the values as given, before any narrowing.
    wide = np.iinfo(dtype).max > np.iinfo(np.int32).max
    if (num_classes is not None or wide) and not is_traced(y) and shape[0]:
        arr = np.asarray(y)
        lo, hi = int(arr.min()), int(arr.max())
        if num_classes is None:
            if lo < np.iinfo(np.int32).min or hi > np.iinfo(np.int32).max:
                raise ValueError(
                    f"{name} must hold class labels that fit in int32 (JAX's integers), got {dtype} "
                    f"values in [{lo}, {hi}]: they would be narrowed to other labels"
                )
        elif lo < 0 or hi >= num_classes:
            raise ValueError(
                f"{name} must hold labels in [0, {num_classes}) for W with {num_classes} classes, "
                f"got values in [{lo}, {hi}]"
            )


def check_problem(W, X, y=None, *, allow_complex_W: bool = False) -> None:
    """Validate a linear-classifier problem: ``W`` (C, D), ``X`` (N, D), ``y`` (N,)."""
    for name, value in (("W", W), ("X", X), ("y", y)):
        if isinstance(value, (list, tuple)):
            # A list would pass the shape checks (as np.asarray) but reach the
            # compiled maths as a Python list, which fails there in odd ways.
            raise TypeError(
                f"{name} must be an array (NumPy or JAX), got a {type(value).__name__}; "
                f"convert it first, e.g. {name} = jnp.asarray({name})"
            )
    w_shape = check_real_array(W, "W", ndim=2, allow_complex=allow_complex_W)
    x_shape = check_real_array(X, "X", ndim=2)
    if x_shape[0] == 0:
        raise ValueError(f"X must hold at least one example, got shape {x_shape} (N=0)")
    if w_shape[1] != x_shape[1]:
        raise ValueError(
            f"W and X disagree on the dimension D: W is {w_shape} (C, D) so X must be (N, {w_shape[1]}), "
            f"got X of shape {x_shape}" + dimension_hint(w_shape, x_shape[1], "W")
        )
    if y is not None:
        check_labels(y, w_shape[0], n=x_shape[0])
    check_finite(W, "W")
    check_finite(X, "X")
    check_fits_dtype(W, "W")
    check_fits_dtype(X, "X")


def compute_dtype(dtype) -> np.dtype:
    """The dtype JAX computes a ``dtype`` array in: float64 -> float32 unless 64-bit mode is on."""
    return np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(dtype)))


def check_fits_dtype(x, name: str, dtype=None) -> None:
    """A concrete floating ``x`` must fit ``dtype`` (default: the dtype JAX will compute it in).

    A float64 array of ``1e39`` is finite, but becomes ``inf`` in float32 --
    and then every loss is ``inf`` and the run "diverges" for a reason that
    has nothing to do with the step size. So it is refused here, as a
    problem of the data: ``"X holds values up to 1e+39 in magnitude, beyond
    float32's largest (3.4e+38) ..."``. Checked in blocks (no big
    temporary); skipped when traced, and when the dtype does not narrow.
    """
    if is_traced(x) or not hasattr(x, "dtype"):
        return
    source = np.dtype(x.dtype)
    if not jnp.issubdtype(source, jnp.floating):
        return
    target = compute_dtype(source) if dtype is None else np.dtype(dtype)
    if not jnp.issubdtype(target, jnp.floating) or np.finfo(target).max >= np.finfo(source).max:
        return
    arr = np.asarray(x)
    if not arr.size:
        return
    flat = arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr.reshape(1, -1)
    rows_per_block = max(1, (1 << 20) // max(1, flat.shape[1]))
    largest = 0.0
    for start in range(0, flat.shape[0], rows_per_block):
        block = np.abs(flat[start : start + rows_per_block])
        block = block[np.isfinite(block)]  # NaN and Inf are the finiteness check's to name, not this one's
        if block.size:
            largest = max(largest, float(block.max()))
    limit = float(np.finfo(target).max)
    if largest > limit:
        raise ValueError(
            f"{name} holds values up to {largest:.3g} in magnitude, beyond {target}'s largest "
            f"({limit:.3g}): in {target} they would be inf. The data overflow, not the step size: "
            f"rescale {name} (e.g. divide by its largest value)"
        )


def check_representable(value, name: str, dtype) -> None:
    """A nonzero finite number (or array of them) must stay nonzero and finite in ``dtype``.

    ``lr = 1e-320`` is a valid float64 but 0 in float32: training with it
    changes nothing and "succeeds". So a hyperparameter that rounds to 0 or
    to inf in the dtype it is used in is an error naming it. Zero itself is
    left to the caller's own checks (``reg = 0`` is fine). Skipped when traced.

    Examples:
      >>> check_representable(1e-320, "lr", np.float32)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: lr = 1e-320 rounds to 0 in float32 (its smallest positive number is 1.4e-45): use a larger lr, ...
    """
    if is_traced(value):
        return
    target = np.dtype(dtype)
    if not jnp.issubdtype(target, jnp.floating):
        return
    for v in np.asarray(value, dtype=np.float64).ravel():
        if not np.isfinite(v) or v == 0:
            continue
        with np.errstate(over="ignore", under="ignore"):
            rounded = np.asarray(v).astype(target)
        if rounded == 0:
            tiny = float(np.finfo(target).smallest_subnormal)
            raise ValueError(
                f"{name} = {float(v)!r} rounds to 0 in {target} (its smallest positive number is "
                f"{tiny:.2g}): use a larger {name}, or compute in float64"
            )
        if not np.isfinite(rounded):
            raise ValueError(
                f"{name} = {float(v)!r} is inf in {target} (its largest number is "
                f"{float(np.finfo(target).max):.3g}): use a smaller {name}"
            )


def check_positive(value, name: str, *, allow_zero: bool = False, integer: bool = False):
    """Check a scalar hyperparameter is a finite positive number (skipped when traced)."""
    if is_traced(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Number, np.number, np.ndarray, jax.Array)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    arr = np.asarray(value)
    vals: np.ndarray | list
    if arr.ndim != 0:
        # Arrays of hyperparameters (sweeps) are checked elementwise.
        vals = arr.ravel()
    else:
        vals = [arr.item()]
    for v in vals:
        if integer and (not float(v).is_integer()):
            raise TypeError(f"{name} must be an integer, got {v!r}")
        if not np.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
        if v < 0 or (v == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{name} must be {bound}, got {v!r}")
    return value


def check_nonnegative(value, name: str):
    """Check a scalar hyperparameter such as ``reg`` is finite and >= 0."""
    return check_positive(value, name, allow_zero=True)


def check_int(value, name: str, low: int = 1, *, expected: str | None = None) -> int:
    """The package's one integer check: a count such as ``num_steps``, ``batch_size`` or ``trials``, ``>= low``.

    Python and NumPy integers pass (``bool`` does not); a float such as
    ``2.0`` or ``2.5`` is a ``TypeError``, a value below ``low`` a
    ``ValueError`` saying ``"{name} must be >= {low}, got {value}"`` (or
    ``"{name} must be {expected}, got {value}"`` when ``expected`` words the
    bound, e.g. ``"a positive integer"``). Returns ``int(value)``.

    It is also bounded above, before JAX sees it (issue 24.5): a count
    (``low >= 0``) is something JAX steps or indexes with in 32-bit integers,
    so at most ``2**31 - 1`` (``num_steps=2**31`` would otherwise be an
    ``OverflowError`` from deep inside a jitted call); an integer that may be
    negative (a seed) must fit an ``int64``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    as_int = int(value)  # exact for every Integral; numbers.Integral itself declares no comparison with int
    if as_int < low:
        raise ValueError(f"{name} must be {expected or f'>= {low}'}, got {value}")
    if low >= 0 and as_int > INT32_MAX:
        raise LimitError(f"{name} must be <= {INT32_MAX} (2**31 - 1, JAX's 32-bit integers), got {value}")
    if as_int > INT64_MAX:
        raise LimitError(f"{name} must lie in [-2**63, 2**63 - 1] (a 64-bit integer), got {value}")
    return as_int


def dimension_hint(w_shape, x_dim: int, name: str = "W") -> str:
    """What a ``W`` (C, D) whose D differs from X's ``x_dim`` most likely means, as a message tail.

    ``" -- did you forget the bias column ..."`` when the dimensions differ
    by one, ``" -- is W transposed? ..."`` when ``W`` looks like ``(D, C)``
    (its first axis has X's dimension), both when both fit, else ``""``.

    Examples:
      >>> dimension_hint((65, 10), 65)
      ' -- is W transposed? W must be (C, D) = (classes, features), here (10, 65); this one looks like (D, C): use W.T'
    """
    hints = []
    if len(w_shape) == 2 and abs(w_shape[1] - x_dim) == 1:
        hints.append("did you forget the bias column (the bias trick)?")
    if len(w_shape) == 2 and w_shape[0] == x_dim and w_shape[1] != x_dim:
        hints.append(
            f"is {name} transposed? {name} must be (C, D) = (classes, features), here "
            f"({w_shape[1]}, {w_shape[0]}); this one looks like (D, C): use {name}.T"
        )
    return "".join(f" -- {h}" for h in hints)


def check_choice(value, name: str, choices) -> None:
    """``value`` must be one of ``choices``: ``"{name} must be one of [...], got {value!r}"``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_callable(f, name: str = "f", what: str = "a callable loss f(W) -> scalar") -> None:
    """``f`` must be callable: ``TypeError "{name} must be {what}, got <type>"``."""
    if not callable(f):
        raise TypeError(f"{name} must be {what}, got {type(f).__name__}")


def check_key(key, name: str = "key") -> None:
    """A JAX PRNG key: typed (``jax.random.key``) or raw uint32 ``(2,)`` (``PRNGKey``)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        if jnp.ndim(key) != 0:
            raise ValueError(f"{name} must be a single key (shape ()), got a key array of shape {key.shape}")
        return
    if dtype is not None and np.dtype(dtype) == np.uint32 and tuple(key.shape) == (2,):
        return
    desc = f"{np.dtype(dtype)} array of shape {tuple(key.shape)}" if dtype is not None else type(key).__name__
    raise TypeError(f"{name} must be a JAX random key such as jax.random.key(0), got {desc}")


# ---------------------------------------------------------------------------
# The numerical gradients' arguments (finite differences, complex step, checks).
# ---------------------------------------------------------------------------


def check_step(h, name: str = "h") -> None:
    """A finite-difference step: one finite number > 0 (skipped when traced)."""
    if is_traced(h):
        return
    check_positive(h, name)
    if np.ndim(h) != 0:
        raise ValueError(f"{name} must be one step (a scalar), got shape {np.shape(h)}")


def check_params(W, name: str = "W") -> int:
    """``W`` is a finite floating array or a pytree of them; returns the number of weights."""
    leaves = jax.tree_util.tree_leaves(W)
    if not leaves:
        raise ValueError(f"{name} must hold at least one floating array, got an empty pytree {W!r}")
    size = 0
    for i, leaf in enumerate(leaves):
        leaf_name = name if len(leaves) == 1 else f"{name} (leaf {i})"
        shape = check_real_array(leaf, leaf_name)
        check_finite(leaf, leaf_name)
        size += int(np.prod(shape, dtype=np.int64))
    if size == 0:
        raise ValueError(f"{name} must hold at least one weight, got {size}")
    return size


def check_scalar_loss(f, W) -> None:
    """``f(W)`` must be a floating scalar (checked on shapes only, ``jax.eval_shape``)."""
    out = jax.eval_shape(f, W)
    if not (hasattr(out, "shape") and out.shape == ()):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"f must return a scalar loss, got output of shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"f must return a floating scalar loss, got dtype {out.dtype}")
