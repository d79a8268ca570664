"""More than one device or machine: a device mesh, multi-host start-up, each host's rows.

The training functions (:func:`~jaxopt_course.train.make_train`,
:func:`~jaxopt_course.train.fit`, :func:`~jaxopt_course.train.sweep`) take
``mesh=``, a :class:`jax.sharding.Mesh` with up to two named axes:

* ``"data"`` splits every step's *global* minibatch: the indices are drawn
  exactly as on one device (``randint(fold_in(key, t), (batch_size,), 0, N)``),
  and device ``k`` of ``d`` gathers and differentiates rows
  ``k * batch_size / d ..`` of that batch. The loss is a mean over the whole
  batch, so the gradient is the mean of the devices' partial gradients: the
  compiler inserts that all-reduce itself (nothing here is hand-written);
* ``"model"`` splits a sweep's models (the flattened ``lr x reg`` grid): each
  device trains ``M / m`` of them, on the same shared minibatches.

No second implementation: the same compiled core runs with sharding
annotations (``jax.lax.with_sharding_constraint`` on the minibatch indices
and rows along ``"data"``, on the weights and metrics -- replicated -- and
``jax.vmap(..., spmd_axis_name="model")`` over the models); XLA's SPMD
partitioner turns that into one program per device plus the collectives.
With a one-device mesh it is the same code, and ``mesh=None`` is today's
single-device run.

Where the training set lives: by default it is copied whole to every
device of the mesh, so each device gathers its part of the batch locally
and only the ``(C, D)`` gradient travels. When it does not fit one device
(or on several machines, where each host holds only its rows), split it by
rows along ``"data"`` with :func:`shard_rows`; the gather then becomes a
masked local gather plus an all-reduce of the ``(batch_size, D)`` batch --
the compiler's choice, correct for any index -- so each step moves more
bytes.

On several machines (processes), every process runs the same program:
call :func:`initialize_multihost` first (``jax.distributed.initialize``
with the coordinator's address, the number of processes and this process's
id, from arguments or the environment), build the mesh over all processes'
devices (:func:`make_mesh`), keep only this host's rows (:func:`host_shard`)
and assemble the global arrays (:func:`shard_rows`).

Examples:
  >>> mesh = make_mesh(1)
  >>> dict(mesh.shape)
  {'data': 1, 'model': 1}
  >>> parse_mesh("data=2,model=4")
  {'data': 2, 'model': 4}
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._checks import check_int

DATA_AXIS = "data"
MODEL_AXIS = "model"
AXES = (DATA_AXIS, MODEL_AXIS)

# The environment variables initialize_multihost reads (the first is also jax.distributed's own).
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"


# ---------------------------------------------------------------------------
# The mesh
# ---------------------------------------------------------------------------


def _too_many_devices(what: str, wanted: int, available: list) -> ValueError:
    platform = available[0].platform if available else "none"
    hint = ""
    if platform == "cpu":
        hint = (
            f"; on a CPU, split it into {wanted} devices before JAX starts: "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={wanted} (or JAX_NUM_CPU_DEVICES={wanted})"
        )
    return ValueError(f"asked for {wanted} devices ({what}), but JAX sees {len(available)} ({platform}){hint}")


def make_mesh(devices=None, data: int | None = None, model: int | None = None) -> Mesh:
    """A ``(data, model)`` device mesh for :func:`~jaxopt_course.train.fit` and friends.

    ``data * model`` devices arranged as a grid whose axes are named
    ``"data"`` (split the minibatch) and ``"model"`` (split a sweep's
    models). Both axes are ``AxisType.Auto``: the compiler places every
    intermediate array, guided by the training code's annotations.

    Args:
      devices: how many devices to use (the first ``devices`` of
        ``jax.devices()``, across all processes), or a sequence of
        ``jax.Device``; ``None``: ``data * model`` of them when both are
        given, else all devices.
      data: the size of the ``"data"`` axis; ``None``: what ``model`` leaves
        (all devices when ``model`` is ``None`` too).
      model: the size of the ``"model"`` axis; ``None``: what ``data``
        leaves (1 when ``data`` is ``None``).

    Returns:
      A :class:`jax.sharding.Mesh` with ``mesh.shape == {"data": data, "model": model}``.

    Raises:
      ValueError: more devices asked for than JAX sees, or sizes that do
        not multiply to the number of devices.

    Examples:
      >>> mesh = make_mesh(devices=1)
      >>> mesh.axis_names, mesh.size
      (('data', 'model'), 1)
    """
    for name, value in (("data", data), ("model", model)):
        if value is not None:
            check_int(value, name, expected="a positive number of devices")
    available = jax.devices()
    if devices is None:
        count = data * model if data is not None and model is not None else len(available)
        if count > len(available):
            raise _too_many_devices(f"data={data}, model={model}", count, available)
        chosen = available[:count]
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if devices < 1:
            raise ValueError(f"devices must be >= 1, got {devices}")
        if devices > len(available):
            raise _too_many_devices(f"devices={int(devices)}", int(devices), available)
        chosen = available[: int(devices)]
    else:
        chosen = list(devices)
        if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
            raise TypeError(f"devices must be a number or a non-empty sequence of jax.Device, got {devices!r}")
    n = len(chosen)
    if data is None:
        model = 1 if model is None else model  # neither given: all devices on the data axis
        if n % model:
            raise ValueError(f"model={model} must divide the number of devices, {n}")
        data = n // model
    elif model is None:
        if n % data:
            raise ValueError(f"data={data} must divide the number of devices, {n}")
        model = n // data
    if data * model != n:
        raise ValueError(f"the mesh data={data} x model={model} needs {data * model} devices, got {n}")
    return jax.make_mesh((data, model), AXES, axis_types=(AxisType.Auto, AxisType.Auto), devices=chosen)


def parse_mesh(text: str) -> dict:
    """``"data=2,model=4"`` -> ``{"data": 2, "model": 4}`` (either axis may be left out).

    Raises:
      ValueError: an unknown axis name, a size that is not a positive integer,
        or an axis named twice.

    Examples:
      >>> parse_mesh("model=8")
      {'model': 8}
    """
    sizes: dict = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in AXES:
            raise ValueError(f"mesh must read like data=2,model=4 (axes {' and '.join(AXES)}), got {text!r}")
        if name in sizes:
            raise ValueError(f"mesh names the axis {name!r} twice: {text!r}")
        try:
            size = int(value)
        except ValueError:
            size = 0
        if size < 1:
            raise ValueError(f"mesh axis {name} must be a positive integer, got {value.strip()!r} in {text!r}")
        sizes[name] = size
    if not sizes:
        raise ValueError(f"mesh must read like data=2,model=4, got {text!r}")
    return sizes


def check_mesh(mesh, *, name: str = "mesh", one_model: bool = False) -> None:
    """Check ``mesh`` is a :class:`jax.sharding.Mesh` the training code can use.

    Its axes must be named ``"data"`` and/or ``"model"`` and be of type
    ``AxisType.Auto`` (explicit axes would make every array's sharding part
    of its type, which the plain NumPy-style training code does not spell
    out). ``one_model=True`` (``fit``, ``make_train``): a single model has
    nothing to split along ``"model"``, so that axis must have size 1.

    Raises:
      TypeError: ``mesh`` is not a :class:`jax.sharding.Mesh`.
      ValueError: other axis names, explicit axes, or a ``"model"`` axis for one model.

    Examples:
      >>> check_mesh(make_mesh(1), one_model=True)  # fine: nothing to say
      >>> check_mesh("data=2")
      Traceback (most recent call last):
      ...
      TypeError: mesh must be a jax.sharding.Mesh (e.g. jaxopt_course.distributed.make_mesh(4)), got str
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"{name} must be a jax.sharding.Mesh (e.g. jaxopt_course.distributed.make_mesh(4)), "
            f"got {type(mesh).__name__}"
        )
    unknown = [axis for axis in mesh.axis_names if axis not in AXES]
    if unknown:
        raise ValueError(
            f"{name} must name its axes {' and/or '.join(repr(a) for a in AXES)}, got {tuple(mesh.axis_names)}"
        )
    for axis, kind in zip(mesh.axis_names, mesh.axis_types, strict=True):
        if kind != AxisType.Auto:
            raise ValueError(
                f"{name}'s axis {axis!r} must be AxisType.Auto, got {kind}: build the mesh with "
                "make_mesh(...) or jax.make_mesh(..., axis_types=(AxisType.Auto, ...))"
            )
    if one_model and dict(mesh.shape).get(MODEL_AXIS, 1) != 1:
        raise ValueError(
            f"{name} has a 'model' axis of size {mesh.shape[MODEL_AXIS]}, but one model is trained "
            "here: split the batch along 'data' (e.g. make_mesh(data=4)), or shard a sweep's models "
            "with sweep(..., mesh=mesh)"
        )


def axis_size(mesh, axis: str) -> int:
    """The size of ``axis`` in ``mesh`` (1 when the mesh has no such axis).

    Examples:
      >>> axis_size(make_mesh(1), MODEL_AXIS)
      1
    """
    return int(dict(mesh.shape).get(axis, 1))


def describe(mesh) -> dict:
    """What a run used, for a ``--json`` report.

    Examples:
      >>> describe(make_mesh(1))["devices"]
      1
    """
    if mesh is None:
        device = jax.devices()[0]
        return {
            "devices": 1,
            "mesh": {DATA_AXIS: 1, MODEL_AXIS: 1},
            "processes": jax.process_count(),
            "platform": device.platform,
        }
    return {
        "devices": int(mesh.size),
        "mesh": {axis: axis_size(mesh, axis) for axis in AXES},
        "processes": jax.process_count(),
        "platform": mesh.devices.flat[0].platform,
    }


# ---------------------------------------------------------------------------
# Several processes (hosts)
# ---------------------------------------------------------------------------


def _env_int(value, env: str, name: str, environ) -> int | None:
    if value is None:
        text = environ.get(env)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {env}={text!r}") from None
    return check_int(value, name, low=-(2**63))  # only the type here: initialize_multihost checks the range


def check_platform() -> str:
    """Start JAX's backends now; the default platform's name, or one clear error if none can start.

    With ``JAX_PLATFORMS=cuda`` on a machine without CUDA, JAX's first
    ``jax.devices()`` fails deep inside with a bare ``AssertionError`` (or a
    ``RuntimeError``); called first, this turns it into one ``ValueError``
    naming the setting: ``"JAX_PLATFORMS='cuda' names no platform this
    machine can start (...): unset it, or set it to cpu"``.
    """
    try:
        return jax.devices()[0].platform
    except (RuntimeError, AssertionError) as err:
        wanted = os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms or ""  # type: ignore[attr-defined]  # an option jax's Config sets at runtime, not in its stubs
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(
            f"JAX_PLATFORMS={wanted!r} names no platform this machine can start ({detail}): unset it, or set it to cpu"
        ) from None


#: How long a process waits for the coordinator to accept connections, seconds (``JAX_COORDINATOR_TIMEOUT``).
COORDINATOR_TIMEOUT = 60.0
ENV_COORDINATOR_TIMEOUT = "JAX_COORDINATOR_TIMEOUT"


def wait_for_coordinator(
    coordinator_address: str, timeout: float = COORDINATOR_TIMEOUT, *, interval: float = 0.25
) -> None:
    """Wait until something accepts TCP connections at ``host:port``, at most ``timeout`` seconds.

    A process other than 0 connects to the coordinator that process 0 runs;
    if nobody listens there (process 0 not started, a wrong address or
    port, a firewall), ``jax.distributed.initialize`` would wait for
    minutes. This probe says so, with the address, after ``timeout``. The
    processes of a run may start in any order, so it retries every
    ``interval`` seconds until then.

    Raises:
      ConnectionError: ``"nobody accepts connections at host:port after 60 s
        (...): start process 0 first, or check the address and port"``.
    """
    host, _, port_text = coordinator_address.rpartition(":")
    host = host.strip("[]")  # an IPv6 address in brackets
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"coordinator_address must read host:port, got {coordinator_address!r}") from None
    deadline, last = time.monotonic() + timeout, None
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.05, min(left, 5.0))):
                return
        except OSError as err:
            last = err
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    reason = getattr(last, "strerror", None) or last
    raise ConnectionError(
        f"nobody accepts connections at {coordinator_address} after {timeout:g} s ({reason}): "
        "start process 0 (the coordinator) first, or check the address and port"
    )


def initialize_multihost(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    environ=None,
    timeout: float | None = None,
) -> dict | None:
    """Start JAX's distributed runtime: ``jax.distributed.initialize`` from arguments or the environment.

    Every process of a multi-host run calls this once, before any other JAX
    call (even ``jax.devices()``). Each value comes from its argument, else
    from the environment: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
    process 0, which runs the coordinator), ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID`` (``0 .. num_processes - 1``). Afterwards
    ``jax.devices()`` lists the devices of *all* processes and
    ``jax.local_devices()`` this one's.

    When none of the three is set anywhere, this is a one-process run and
    nothing is started (``None`` is returned). On a cluster that JAX
    detects itself (Slurm, Open MPI, Cloud TPU), call
    ``jax.distributed.initialize()`` without arguments instead.

    Args:
      coordinator_address: ``"10.0.0.1:1234"``.
      num_processes: how many processes take part.
      process_id: this process's number.
      environ: the environment to read (default ``os.environ``).
      timeout: how long to wait for the coordinator, seconds (default
        ``$JAX_COORDINATOR_TIMEOUT``, else :data:`COORDINATOR_TIMEOUT`); a
        process other than 0 first waits for it to listen
        (:func:`wait_for_coordinator`), and JAX's own start-up gets the same bound.

    Returns:
      ``{"coordinator_address", "num_processes", "process_id"}`` as used, or
      ``None`` for a one-process run.

    Raises:
      ValueError: only some of the three are set, or ``process_id`` is out of range.
      ConnectionError: nobody accepted connections at the coordinator's address within ``timeout``.

    Examples:
      >>> initialize_multihost(environ={}) is None  # nothing set: one process
      True
    """
    environ = os.environ if environ is None else environ
    if coordinator_address is None:
        coordinator_address = environ.get(ENV_COORDINATOR) or None
    num_processes = _env_int(num_processes, ENV_NUM_PROCESSES, "num_processes", environ)
    process_id = _env_int(process_id, ENV_PROCESS_ID, "process_id", environ)
    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    if all(value is None for value in given.values()):
        return None
    if coordinator_address is None or num_processes is None or process_id is None:
        missing = [name for name, value in given.items() if value is None]
        envs = {
            "coordinator_address": ENV_COORDINATOR,
            "num_processes": ENV_NUM_PROCESSES,
            "process_id": ENV_PROCESS_ID,
        }
        raise ValueError(
            "a multi-host run needs the coordinator address, the number of processes and this "
            f"process's id; missing: {', '.join(f'{m} (or {envs[m]})' for m in missing)}"
        )
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(f"coordinator_address must read host:port, got {coordinator_address!r}")
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must lie in [0, num_processes = {num_processes}), got {process_id}")
    if timeout is None:
        text = environ.get(ENV_COORDINATOR_TIMEOUT) or str(COORDINATOR_TIMEOUT)
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"timeout must be a number of seconds, got {ENV_COORDINATOR_TIMEOUT}={text!r}") from None
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < float("inf")):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if process_id != 0:
        wait_for_coordinator(coordinator_address, timeout)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=max(1, int(timeout)),
    )
    return given


def host_shard(X, y, process_index: int | None = None, process_count: int | None = None):
    """This host's rows of the training set: block ``process_index`` of ``process_count`` equal blocks.

    Process ``i`` keeps rows ``[i * N / P, (i + 1) * N / P)``: with a mesh
    from :func:`make_mesh` (devices in process order along ``"data"``) these
    are exactly the rows its devices hold in :func:`shard_rows`'s layout.
    Only those rows are read: with ``X = np.load("X.npy", mmap_mode="r")``
    a host never reads the others from disk.

    Args:
      X, y: the whole training set ``(N, D)``, ``(N,)`` (or memory maps of it).
      process_index, process_count: default ``jax.process_index()`` and
        ``jax.process_count()``.

    Returns:
      ``(X_local, y_local)`` as NumPy arrays, ``N / P`` rows each.

    Raises:
      ValueError: ``N`` is not a multiple of ``process_count``, or the index is out of range.

    Examples:
      >>> X, y = np.arange(12.0).reshape(6, 2), np.arange(6)
      >>> X_1, y_1 = host_shard(X, y, process_index=1, process_count=3)
      >>> X_1.tolist(), y_1.tolist()
      ([[4.0, 5.0], [6.0, 7.0]], [2, 3])
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    check_int(process_index, "process_index", low=0)
    check_int(process_count, "process_count")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"process_index must lie in [0, process_count = {process_count}), got {process_index}")
    n = int(np.shape(X)[0])
    if np.shape(y)[:1] != (n,):
        raise ValueError(f"y must have one label per row of X (N={n}), got shape {np.shape(y)}")
    if n % process_count:
        raise ValueError(
            f"X has N = {n} rows, which do not split evenly over {process_count} processes: keep "
            f"the first {n - n % process_count} on every host (X[:{n - n % process_count}])"
        )
    rows = n // process_count
    block = slice(process_index * rows, (process_index + 1) * rows)
    return np.asarray(X[block]), np.asarray(y[block])


def replicate(x, mesh):
    """``x`` copied whole to every device of ``mesh`` (``NamedSharding(mesh, PartitionSpec())``).

    ``jax.device_put`` does this on one process; when the mesh spans several
    processes each process contributes its own copy
    (``jax.make_array_from_process_local_data``), which must be the same
    value everywhere -- as it is for the weights, keys and hyperparameters of
    a run that every process starts with the same arguments. Random keys
    travel as their key data.

    Examples:
      >>> replicate(np.arange(3.0), make_mesh(1)).sharding.is_fully_replicated
      True
    """
    sharding = NamedSharding(mesh, P())
    if all(d.process_index == jax.process_index() for d in mesh.devices.flat):
        return jax.device_put(x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x), sharding)
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(replicate(jax.random.key_data(x), mesh), impl=jax.random.key_impl(x))
    if isinstance(x, jax.Array) and x.sharding.device_set == set(mesh.devices.flat) and x.is_fully_replicated:
        return x
    value = np.asarray(x)
    value = value.astype(jax.dtypes.canonicalize_dtype(value.dtype), copy=False)
    return jax.make_array_from_process_local_data(sharding, value, value.shape)


def shard_rows(X, y, mesh):
    """The training set split by rows along the mesh's ``"data"`` axis (copied along ``"model"``).

    Device ``k`` of the ``d`` along ``"data"`` holds rows ``[k * N / d,
    (k + 1) * N / d)``: ``1/d`` of the memory per device. Pass the result to
    ``fit``/``make_train``/``sweep`` with the same ``mesh`` and it stays
    where it is (a plain array is instead copied whole to every device).

    On one process ``X``, ``y`` are the whole set; on several, each
    process passes *its* rows (:func:`host_shard`) and the global arrays
    of ``N = P * len(X)`` rows are assembled without any host holding
    them all (``jax.make_array_from_process_local_data``).

    Args:
      X, y: the rows this process holds, ``(n, D)`` and ``(n,)``.
      mesh: a mesh with a ``"data"`` axis (:func:`make_mesh`).

    Returns:
      ``(X, y)`` as global ``jax.Array``s sharded ``PartitionSpec("data")``.

    Raises:
      ValueError: the global number of rows is not a multiple of the
        ``"data"`` axis size.

    Examples:
      >>> X, y = shard_rows(np.ones((4, 3), np.float32), np.zeros(4, np.int32), make_mesh(1))
      >>> X.shape, X.sharding.spec
      ((4, 3), P('data',))
    """
    check_mesh(mesh)
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.shape != X.shape[:1]:
        raise ValueError(f"X must be (n, D) and y (n,) with one label per row, got shapes {X.shape} and {y.shape}")
    num_processes = len({d.process_index for d in mesh.devices.flat})
    n = X.shape[0] * num_processes
    d = axis_size(mesh, DATA_AXIS)
    if n % d:
        raise ValueError(
            f"the training set has N = {n} rows, which do not split evenly over the mesh's 'data' "
            f"axis of {d} devices: keep the first {n - n % d} rows (or pass X, y unsplit: each "
            "device then holds all of them)"
        )
    spec = P(DATA_AXIS) if DATA_AXIS in mesh.axis_names else P()
    sharding = NamedSharding(mesh, spec)
    X_global = jax.make_array_from_process_local_data(sharding, X, (n,) + X.shape[1:])
    y_global = jax.make_array_from_process_local_data(sharding, y, (n,))
    return X_global, y_global


# ---------------------------------------------------------------------------
# Placement: where the training code's inputs and outputs live
# ---------------------------------------------------------------------------


def constrain(tree, mesh, *axes):
    """Every array of ``tree`` laid out as ``PartitionSpec(*axes)`` over ``mesh``, inside a traced function.

    An annotation for the compiler, not a computation: ``constrain(W, mesh)``
    keeps ``W`` whole on every device, ``constrain(X_b, mesh, "data")`` splits
    the rows of a minibatch across the ``"data"`` devices. An axis the mesh
    lacks is not split; ``mesh=None`` (one device) leaves ``tree`` unchanged.
    """
    if mesh is None:
        return tree
    spec = P(*(axis if axis in mesh.axis_names else None for axis in axes))
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec)), tree)


# A frozen dataclass, not a NamedTuple: hashable and equal by its mesh, and a Callable to the type checker.
@dataclasses.dataclass(frozen=True)
class BatchSplit:
    """The training step's placement hook for ``mesh``: the minibatch's rows split along ``"data"``.

    Hashable (it is part of the static configuration that keys the
    compilation cache): two hooks for the same mesh are equal.

    Examples:
      >>> split = BatchSplit(make_mesh(1))
      >>> split == BatchSplit(make_mesh(1))
      True
    """

    mesh: Mesh

    def __call__(self, arrays):
        return constrain(arrays, self.mesh, DATA_AXIS)


def place(tree, mesh):
    """Host values (weights, keys, hyperparameters, a saved state) copied to every device of ``mesh``.

    Done once before a compiled call, so that it finds every argument on the
    mesh (which several processes need). ``mesh=None``, and values traced
    under the caller's own ``jit``/``vmap``, are left as they are.
    """
    if mesh is None:
        return tree
    return jax.tree.map(lambda x: x if isinstance(x, jax.core.Tracer) else replicate(x, mesh), tree)


def place_data(x, mesh=None) -> jax.Array:
    """A training or validation array on the device(s), copied at most once.

    ``jnp.asarray`` of a NumPy array makes a transient second copy on the way
    (1.2 GB at once for CIFAR-10's 600 MB training matrix); ``jax.device_put``
    makes one, and none when the NumPy buffer is 64-byte aligned: the CPU
    device then shares it (so modify ``X`` in place only after training).

    With a mesh: an array already laid out over the mesh's devices (say, split
    by rows with :func:`shard_rows`) stays as it is; anything else is copied
    whole to every device of the mesh.
    """
    if mesh is None:
        return jax.device_put(x if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x))
    if isinstance(x, jax.Array) and x.sharding.device_set == set(mesh.devices.flat):
        return x
    return replicate(x, mesh)
