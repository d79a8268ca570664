"""The tea-drinking-temperature toy: optimization in one dimension.

The lecture's first optimization problem (after Brandon Rohrer, "How
optimization works", https://brohrer.github.io/how_optimization_works_1.html)
has one parameter, the temperature of a cup of tea in degrees Celsius. Too
hot and it scalds your tongue; lukewarm and it is a disappointment; somewhere
in between it is just right. Optimizers flip the question around: instead of
maximizing enjoyment they *minimize suffering*, the cost. The same word --
cost, error, loss -- is what the classifiers of this course minimize over
``W``; here it is a function of a single number, so every idea can be drawn.

Three cost curves, all pure ``jax.numpy`` functions of temperature (a scalar
or an array, evaluated elementwise):

* :func:`tea_cost` -- smooth, with a single minimum at
  :data:`TEA_BEST_TEMPERATURE` (60 C). Exhaustive search and gradient descent
  both find it.
* :func:`tea_cost_local_minima` -- the same cup plus two shallower valleys
  (iced tea, and the cup left on the desk). Gradient descent started in the
  cold rolls into the nearest valley and stays there; exhaustive search
  does not care where it starts.
* :func:`tea_cost_wiggly` -- the same cup rated by a fussy taster whose
  scores wobble: small ripples on the smooth curve. Each ripple is a tiny
  local minimum that traps small gradient steps far from the best cup.

:func:`gradient_descent_1d` walks downhill on any of them, to compare with
:func:`jaxopt_course.search.grid_search` (exhaustive search).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from . import _checks, limits

#: The temperature (degrees C) of the perfect cup: the minimum of :func:`tea_cost`.
TEA_BEST_TEMPERATURE = 60.0

#: The range of temperatures worth trying, degrees C (frozen to boiling).
TEA_TEMPERATURE_RANGE = (0.0, 100.0)

#: How many degrees make one unit of the cost's exponent (the curve's width).
TEA_SCALE = 10.0


def tea_cost(temperature):
    """Suffering from a cup of tea at ``temperature`` degrees C: smooth, one minimum.

    ``cost(t) = exp(u) - u - 1`` with ``u = (t - 60) / 10``.

    Zero at the perfect 60 C and positive everywhere else. It is lopsided on
    purpose: every degree too hot hurts exponentially more (a scalded tongue),
    every degree too cold only a little more (lukewarm disappointment). Its
    slope ``(exp(u) - 1) / 10`` is zero only at 60 C and its curvature
    ``exp(u) / 100`` is positive: convex, so gradient descent cannot miss.

    Args:
      temperature: degrees C, a scalar or an array (elementwise).

    Returns:
      The cost, same shape as ``temperature``.

    Examples:
      >>> float(tea_cost(60.0))
      0.0
      >>> round(float(tea_cost(100.0)), 2), round(float(tea_cost(20.0)), 2)
      (49.6, 3.02)
    """
    u = (jnp.asarray(temperature) - TEA_BEST_TEMPERATURE) / TEA_SCALE
    return jnp.exp(u) - u - 1.0


#: The shallower valleys of :func:`tea_cost_local_minima`: (temperature C, depth, width C).
TEA_VALLEYS = ((10.0, 3.0, 5.0), (35.0, 1.0, 4.0))


def tea_cost_local_minima(temperature):
    """:func:`tea_cost` with two extra, shallower valleys: several local minima.

    ``cost(t) = tea_cost(t) - 3 exp(-((t - 10) / 5)**2) - exp(-((t - 35) / 4)**2)``

    Some people like iced tea (a valley near 10 C), and a cup forgotten on
    the desk is not so bad either (near 35 C) -- but neither beats the hot cup
    near 60 C, which is still the global minimum (cost about 0). A marble
    dropped at 5 C rolls into the iced-tea valley near 10 C and stays there
    (cost about 1.0); dropped at 20 C it stops on the desk near 36 C (cost
    about 0.55): gradient descent only knows the slope where it stands.
    Exhaustive search measures everything and finds the best cup anyway.

    Examples:
      >>> float(tea_cost_local_minima(60.0)) < float(tea_cost_local_minima(12.0))
      True
    """
    t = jnp.asarray(temperature)
    cost = tea_cost(t)
    for centre, depth, width in TEA_VALLEYS:
        cost = cost - depth * jnp.exp(-(((t - centre) / width) ** 2))
    return cost


#: The ripples of :func:`tea_cost_wiggly`: amplitude (cost units) and period (degrees C).
TEA_WIGGLE_AMPLITUDE = 0.1
TEA_WIGGLE_PERIOD = 4.0


def tea_cost_wiggly(temperature):
    """:func:`tea_cost` rated by a fussy taster: small wiggles, many tiny minima.

    ``cost(t) = tea_cost(t) + 0.1 sin(2 pi t / 4)``

    The ripples never change the big picture (the best cup is still within a
    couple of degrees of 60 C), but their slope (up to ``0.1 * 2 pi / 4 =
    0.16``) beats the gentle slope of the cold side of the curve, so each
    ripple is a little local minimum. Small gradient steps from a cold cup
    get stuck in the first ripple; exhaustive search, or a step (or a finite
    difference ``h``) wider than a ripple, sees past them.

    Examples:
      >>> float(tea_cost_wiggly(59.0)) < 0  # a ripple dips below the smooth curve's 0
      True
    """
    t = jnp.asarray(temperature)
    return tea_cost(t) + TEA_WIGGLE_AMPLITUDE * jnp.sin(2.0 * jnp.pi * t / TEA_WIGGLE_PERIOD)


#: The tea toys by name, for the command line.
TEA_COSTS = {"smooth": tea_cost, "local_minima": tea_cost_local_minima, "wiggly": tea_cost_wiggly}


def get_tea_cost(name: str):
    """The tea cost called ``name``: ``"smooth"``, ``"local_minima"`` or ``"wiggly"``."""
    try:
        return TEA_COSTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"toy must be one of {sorted(TEA_COSTS)}, got {name!r}") from None


def gradient_descent_1d(f, temperature, step_size: float = 5.0, steps: int = 500):
    """Gradient descent on a function of one number: ``t <- t - step_size * f'(t)``.

    The lecture's loop (``W = W + -1 * (stepSize * dW)``) with a single
    parameter, the slope ``f'(t)`` from ``jax.grad``. Use it on the tea toys
    to watch a marble roll downhill -- and get stuck.

    Args:
      f: a scalar function of one scalar (e.g. :func:`tea_cost`).
      temperature: the starting point.
      step_size: how far to move per unit of slope.
      steps: how many steps to take.

    Returns:
      ``(temperatures, costs)``, each of shape ``(steps + 1,)``: the start and
      the point after every step, and ``f`` there.

    Examples:
      >>> ts, costs = gradient_descent_1d(tea_cost, 20.0, step_size=50.0, steps=200)
      >>> round(float(ts[-1]), 3)
      60.0
    """
    if not callable(f):
        raise TypeError(f"f must be a function of one number, got {type(f).__name__}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (numbers.Real, jax.Array))
        # ignore: the stub takes array-likes only; a numbers.Real such as a Fraction still works here
        # (NumPy's rule, with JAX's deprecation warning), so the wider check stays as it is
        or jnp.ndim(temperature) != 0  # type: ignore[arg-type]
    ):
        raise TypeError(f"temperature must be a real scalar, got {temperature!r}")
    _checks.check_finite(temperature, "temperature")
    _checks.check_positive(step_size, "step_size")
    _checks.check_int(steps, "steps", expected="a positive integer")
    steps = limits.check_int32(steps, "steps")
    dtype = jnp.result_type(float)
    _checks.check_representable(step_size, "step_size", dtype)
    _checks.check_representable(temperature, "temperature", dtype)
    limits.check_memory(
        2 * (steps + 1) * jnp.dtype(dtype).itemsize, f"gradient descent of {steps} steps", hint="use fewer steps"
    )
    t0 = jnp.asarray(temperature, dtype=dtype)
    start_cost = f(t0)
    if not bool(jnp.isfinite(start_cost)):
        raise ValueError(
            f"temperature = {float(temperature):g} gives a cost of {float(start_cost)} (the cost "
            f"overflows there): start within a sensible range such as {TEA_TEMPERATURE_RANGE}"
        )
    slope = jax.grad(f)

    def step(t, _):
        t_next = t - step_size * slope(t)
        return t_next, t_next

    _, path = jax.lax.scan(step, t0, None, length=int(steps))
    temperatures = jnp.concatenate([t0[None], path])
    return temperatures, jax.vmap(f)(temperatures)


def temperature_grid(points: int, low: float = TEA_TEMPERATURE_RANGE[0], high: float = TEA_TEMPERATURE_RANGE[1]):
    """``points`` evenly spaced temperatures from ``low`` to ``high`` C, for exhaustive search.

    ``jnp.linspace(low, high, points)``, after the checks that must come
    before it allocates: ``points`` a count JAX can index (``<= 2**31 - 1``)
    and the search over them (:func:`~jaxopt_course.limits.grid_search_bytes`)
    within the memory available; ``low < high``, both finite.

    Examples:
      >>> temperature_grid(5).tolist()
      [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    points = limits.check_int32(points, "points")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not jnp.isfinite(value):
            raise ValueError(f"{name} must be a finite temperature, got {value!r}")
    if not low < high:
        raise ValueError(f"low must be below high, got low = {low:g}, high = {high:g}")
    dtype = jnp.result_type(float)
    limits.check_memory(
        limits.grid_search_bytes(points, 1, None, jnp.dtype(dtype).itemsize) + points * 4,
        f"an exhaustive search over {points} temperatures",
        hint="use fewer points",
    )
    return jnp.linspace(low, high, points, dtype=dtype)
