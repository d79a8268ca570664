"""Replay the second attack (issue 24) against the current code and print what each case does now.

Every bullet of the issue's points 1-10 is one case (a signal's random moments are one case per signal
and phase). Each case runs the real command line (``.venv/bin/jaxopt-course ...``) or, for the bullets
that name the Python API, a short ``python -c`` script, in a real child process, inside a fresh temporary
folder, with real files, FIFOs, sockets and signals. Every child runs:

* under ``RLIMIT_AS`` (``--cap``, 3 GiB by default), so that a case that would blow up memory is stopped
  by the kernel instead of taking the machine down (its allocation fails: a ``MemoryError`` or an abort,
  which the table shows);
* with a wall-clock timeout per case (it is killed with its whole process group past it);
* in its own session, so that a signal reaches only it.

Its peak memory is the child's own ``ru_maxrss`` from ``wait4`` (this parent imports only the standard
library, so the forked child starts small: no inherited image inflates the figure).

Files are crafted by this same script in a helper child (``audit24.py craft OP ...``) that may import
NumPy, the package and the tests' crafting helpers: the parent stays small.

Usage::

    nice -n 5 .venv/bin/python benchmarks/attack/audit24.py [--only PATTERN] [--markdown FILE] [--json FILE]

The table: case -> expected -> observed (exit code, first stderr line, peak memory) -> SAFE/UNSAFE.
Exit status 0 when every case is SAFE, 1 otherwise.

Shrunk or skipped on purpose (long by nature): the deflate bomb in the digits cache is 1 GiB of zeros
(the attack's was 2.4 GB: the same ratio, half the crafting time); the JAX cache's zlib bomb 1 GiB; the
3000 x 3000 sweep is only asked for (without ``--yes`` it must be refused before it starts), never run;
the SIGTERM-after-101k-steps case is SIGTERM once training has started (the step count does not matter
to the signal path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
CLI = str(REPO / ".venv" / "bin" / "jaxopt-course")
GiB = 2**30
MiB = 2**20


# ---------------------------------------------------------------------------
# Running one child: RSS cap, timeout, peak memory
# ---------------------------------------------------------------------------


@dataclass
class Result:
    code: int | None  # the exit status (negative: killed by that signal); None: timed out
    out: str
    err: str
    peak: int  # bytes, the child's ru_maxrss
    seconds: float
    timed_out: bool = False

    @property
    def first_line(self) -> str:
        lines = [line for line in self.err.splitlines() if line.strip()]
        return lines[0] if lines else ""

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


class Child:
    """A started child process: stdout/stderr to files, RLIMIT_AS set before exec, its own session."""

    def __init__(self, argv, *, cwd: Path, env: dict, cap: int, tag: str):
        self.cwd, self.started = cwd, time.monotonic()
        self.out_path, self.err_path = cwd / f"{tag}.out", cwd / f"{tag}.err"

        def limit():  # runs in the forked child, before exec
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [str(a) for a in argv],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                preexec_fn=limit,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> Result:
        deadline, timed_out = time.monotonic() + timeout, False
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline and not timed_out:
                timed_out = True
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 30
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        try:  # a kernel or helper the child left behind
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return Result(
            None if timed_out else self.proc.returncode,
            self.out_path.read_text(errors="replace"),
            self.err_path.read_text(errors="replace"),
            usage.ru_maxrss * 1024,
            time.monotonic() - self.started,
            timed_out,
        )


class Audit:
    """The shared settings of one audit: the temporary root, the cap, the environment."""

    def __init__(self, root: Path, cap: int):
        self.root, self.cap, self.count = root, cap, 0
        self.shared_cache = root / "cache"  # the XDG cache most cases share (digits, JAX's programs)

    def env(self, **changes) -> dict:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JAX", "XLA", "JAXOPT", "XDG", "PYTHON", "IPYTHON", "JUPYTER"))
        }
        env.update(HOME=str(self.root / "home"), XDG_CACHE_HOME=str(self.shared_cache), PYTHONPATH=str(REPO))
        for k, v in changes.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def folder(self, name: str) -> Path:
        path = self.root / re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, argv, *, cwd: Path, env: dict | None = None) -> Child:
        self.count += 1
        return Child(argv, cwd=cwd, env=env or self.env(), cap=self.cap, tag=f"run{self.count}")

    def run(self, argv, *, cwd: Path, env: dict | None = None, timeout: float = 120) -> Result:
        return self.start(argv, cwd=cwd, env=env).wait(timeout)

    def cli(self, *args, cwd: Path, env: dict | None = None, timeout: float = 120) -> Result:
        return self.run([CLI, *args], cwd=cwd, env=env, timeout=timeout)

    def api(self, code: str, *args, cwd: Path, env: dict | None = None, timeout: float = 120) -> Result:
        """A Python API case: ``code`` prints its observation; a ValueError is one line on stderr, exit 2."""
        wrapped = (
            "import sys\ntry:\n"
            + "".join(f"    {line}\n" for line in code.strip().splitlines())
            + "except ValueError as err:\n    print(f'ValueError: {err}', file=sys.stderr)\n    sys.exit(2)\n"
        )
        return self.run([PYTHON, "-c", wrapped, *map(str, args)], cwd=cwd, env=env, timeout=timeout)

    def craft(self, op: str, *args, cwd: Path | None = None) -> str:
        """Build a crafted file in a helper child (NumPy, the package and the tests' helpers allowed there)."""
        proc = subprocess.run(
            [PYTHON, __file__, "craft", op, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env(),
            cwd=cwd or self.root,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"crafting {op} failed: {proc.stderr[-2000:]}")
        return proc.stdout.strip()


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------


def clean(r: Result) -> list[str]:
    """What no case may show: a traceback, a swallowed exception, a crash, a hang."""
    problems = []
    if r.timed_out:
        problems.append("timed out")
    if "Traceback" in r.err:
        problems.append("traceback")
    if "Exception ignored" in r.err:
        problems.append("'Exception ignored'")
    if r.code in (-6, -11, 134, 139):
        problems.append(f"crashed ({r.code})")
    return problems


def one_line_error(r: Result, match: str = "", *, code: int = 2, prefix: str = "jaxopt-course: error: ") -> list[str]:
    problems = clean(r)
    if r.code != code:
        problems.append(f"exit {r.code}, expected {code}")
    if len(r.err_lines) != 1:
        problems.append(f"{len(r.err_lines)} stderr lines")
    if not r.first_line.startswith(prefix):
        problems.append(f"stderr does not start with {prefix!r}")
    if match and not re.search(match, r.err):
        problems.append(f"no {match!r} in stderr")
    return problems


def api_error(r: Result, match: str = "") -> list[str]:
    return one_line_error(r, match, prefix="ValueError: ")


def small(r: Result, limit: int) -> list[str]:
    return [] if r.peak < limit else [f"peak {r.peak / MiB:.0f} MiB >= {limit / MiB:.0f} MiB"]


def last_json(text: str) -> dict:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


ACCURACIES = ("train_accuracy", "val_accuracy", "test_accuracy", "final_loss")


def same_numbers(r: Result, reference: dict) -> list[str]:
    got = last_json(r.out)
    wrong = [k for k in ACCURACIES if got.get(k) != reference.get(k)]
    return [f"{', '.join(wrong)} differ from a clean run's ({ {k: got.get(k) for k in wrong} })"] if wrong else []


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------


@dataclass
class Row:
    point: str
    case: str
    expected: str
    code: str = ""
    first_line: str = ""
    peak_mib: float = 0.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "SAFE" if not self.problems else "UNSAFE"


CASES: list[tuple[str, str, str, Callable]] = []


def case(point: str, name: str, expected: str):
    def register(fn):
        CASES.append((point, name, expected, fn))
        return fn

    return register


def observed(row: Row, r: Result, problems: list[str]) -> Row:
    row.code = "timeout" if r.timed_out else str(r.code)
    row.first_line, row.peak_mib, row.seconds = r.first_line, r.peak / MiB, r.seconds
    row.problems = problems
    return row


SHORT = ("--steps", "40", "--chunk-size", "20")


# -- 1. the batch reader ------------------------------------------------------------------------


@case("1", "batch calling _codecs.encode 2000x on one 1 MiB string", "exit 2, one line, peak < 512 MiB")
def batch_encode_bomb(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    a.craft("small-cifar", d, "encode-bomb")
    r = a.cli("train", "--data", "cifar10", "--data-dir", d, *SHORT, cwd=d)
    return observed(row, r, one_line_error(r, "re-encodes") + small(r, 512 * MiB))


# -- 2. a deeply nested config_json ---------------------------------------------------------------


def nested_checkpoint(a: Audit, name: str) -> Path:
    d = a.folder(name)
    ckpt = d / "ckpt"
    r = a.cli("train", *SHORT, "--checkpoint-dir", ckpt, "--json", cwd=d)
    if r.code != 0 or not (ckpt / "checkpoint.npz").exists():
        raise RuntimeError(f"the real checkpoint run failed: {r.code} {r.err[-500:]}")
    a.craft("nest-config", ckpt / "checkpoint.npz")
    return ckpt


@case("2", "config_json of 200k brackets, --resume", "exit 2, one line")
def nested_resume(a: Audit, row: Row) -> Row:
    ckpt = nested_checkpoint(a, row.case)
    r = a.cli("train", *SHORT, "--resume", ckpt, cwd=ckpt.parent)
    return observed(row, r, one_line_error(r, "nested"))


@case("2", "config_json of 200k brackets, --checkpoint-dir", "exit 2, one line")
def nested_checkpoint_dir(a: Audit, row: Row) -> Row:
    ckpt = nested_checkpoint(a, row.case)
    r = a.cli("train", *SHORT, "--checkpoint-dir", ckpt, cwd=ckpt.parent)
    return observed(row, r, one_line_error(r, "nested"))


# -- 3 and 4. signals -----------------------------------------------------------------------------

START_UP_MOMENTS = (0.05, 0.15, 0.25, 0.30, 0.35, 0.45, 0.6, 0.8, 1.0, 1.2, 1.35, 1.5)
LONG = ("--steps", "10000000", "--chunk-size", "2000")


def signal_moments(a: Audit, row: Row, signum: int, moments) -> Row:
    """``signum`` at each moment after the spawn; every run must end with 128 + signum, cleanly."""
    codes, problems, peak, first = [], [], 0, ""
    for t in moments:
        d = a.folder(f"{row.case}-{t}")
        child = a.start([CLI, "train", *LONG], cwd=d)
        time.sleep(max(0.0, child.started + t - time.monotonic()))
        child.signal(signum)
        r = child.wait(120)
        codes.append(r.code)
        peak, first = max(peak, r.peak), first or r.first_line
        bad = clean(r) + ([] if r.code == 128 + signum else [f"exit {r.code}"])
        problems += [f"at {t} s: {p}" for p in bad]
    counts = {c: codes.count(c) for c in dict.fromkeys(codes)}
    row.code = ", ".join(f"{c} x{n}" for c, n in counts.items())
    row.first_line, row.peak_mib, row.problems = first, peak / MiB, problems
    return row


@case("3", f"SIGINT at {len(START_UP_MOMENTS)} moments, 0.05-1.5 s after the spawn", "exit 130 each, no traceback")
def sigint_start_up(a: Audit, row: Row) -> Row:
    return signal_moments(a, row, signal.SIGINT, START_UP_MOMENTS)


@case("4", "SIGTERM at 6 moments, 0.1-1.5 s after the spawn", "exit 143 each, no traceback")
def sigterm_start_up(a: Audit, row: Row) -> Row:
    return signal_moments(a, row, signal.SIGTERM, (0.1, 0.3, 0.35, 0.7, 1.1, 1.5))


def wait_for(path: Path, child: Child, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if child.proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


OWNER = ".jaxopt-course.lock.owner"


@case("4", "SIGTERM while training, no --checkpoint-dir", "exit 143, OUT/checkpoint written, resume line")
def sigterm_training(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    out = d / "out"
    child = a.start([CLI, "train", *LONG, "--out", out], cwd=d)
    started = wait_for(out / OWNER, child)
    time.sleep(2.0)  # past the lock: loading is done, compiling or training
    child.signal(signal.SIGTERM)
    r = child.wait(120)
    problems = clean(r) + ([] if started else ["never took its --out lock"])
    if r.code != 143:
        problems.append(f"exit {r.code}")
    if not (out / "checkpoint" / "checkpoint.npz").exists():
        problems.append("no checkpoint in OUT/checkpoint")
    if "--resume" not in r.err:
        problems.append("no resume line")
    return observed(row, r, problems)


# -- 5. two runs on one folder --------------------------------------------------------------------


def two_writers(a: Audit, row: Row, *extra: str) -> Row:
    """A long run (lr 0.5) holds a folder; a second (lr 1.0, plus ``extra``) starts on the same folders."""
    d = a.folder(row.case)
    ckpt, out = d / "ckpt", d / "out"
    first = a.start([CLI, "train", *LONG, "--lr", "0.5", "--checkpoint-dir", ckpt, "--out", out], cwd=d)
    held = wait_for(out / OWNER, first)
    r = a.cli("train", *LONG, "--lr", "1.0", "--checkpoint-dir", ckpt, "--out", out, *extra, cwd=d)
    first.signal(signal.SIGINT)
    r1 = first.wait(120)
    pattern = rf"in use by another run \(pid {first.pid} on host {re.escape(socket.gethostname())}"
    problems = one_line_error(r, pattern if extra else r"in use by another run|holds the checkpoint of another run")
    problems += [] if held else ["the first run never took its lock"]
    problems += [f"first run: {p}" for p in clean(r1)] + ([] if r1.code == 130 else [f"first run exit {r1.code}"])
    config = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    if config.get("lr") != 0.5:
        problems.append(f"OUT/config.json's lr is {config.get('lr')}, not the first run's 0.5")
    return observed(row, r, problems)


case(
    "5", "two runs (lr 0.5, lr 1.0) on one --checkpoint-dir/--out", "the second exits 2, one line; nothing overwritten"
)(lambda a, row: two_writers(a, row))
case("5", "the same, the second with --force", "the second exits 2 naming the holder's pid and host")(
    lambda a, row: two_writers(a, row, "--force")
)


# -- 6. the digits cache --------------------------------------------------------------------------


class DigitsCache:
    """One clean run in a cache folder of its own: its numbers and its digits file, kept pristine."""

    steps = ("--steps", "50", "--json")

    def __init__(self, a: Audit):
        self.home = a.folder("digits-cache")
        self.env = a.env(XDG_CACHE_HOME=self.home / "xdg")
        r = a.cli("train", *self.steps, cwd=self.home, env=self.env)
        [self.file] = (self.home / "xdg" / "jaxopt-course").glob("digits-*.npz")
        self.pristine = self.home / "pristine.npz"
        shutil.copyfile(self.file, self.pristine)
        self.reference = last_json(r.out)
        if r.code != 0 or not self.reference:
            raise RuntimeError(f"the clean digits run failed: {r.err[-500:]}")


DIGITS: list[DigitsCache] = []


def digits_case(a: Audit, row: Row, op: str, limit: int = 1 * GiB) -> Row:
    if not DIGITS:
        DIGITS.append(DigitsCache(a))
    dc = DIGITS[0]
    shutil.copyfile(dc.pristine, dc.file)
    a.craft(op, dc.file)
    r = a.cli("train", *dc.steps, cwd=dc.home, env=dc.env)
    problems = clean(r) + ([] if r.code == 0 else [f"exit {r.code}"])
    if not (len(r.err_lines) == 1 and str(dc.file) in r.first_line and "rebuilding" in r.first_line):
        problems.append("not one stderr line naming the cache file and rebuilding it")
    problems += same_numbers(r, dc.reference) + small(r, limit)
    row = observed(row, r, problems)
    row.first_line = row.first_line.replace(str(dc.file), "<cache>/digits-KEY.npz")
    return row


DIGITS_EXPECTED = "exit 0, one line naming the file, rebuilt, the clean run's numbers"
for _op, _name in (
    ("npy-header-4e12", "npy header claiming 4e12 elements"),
    ("broken-deflate", "a broken deflate stream"),
    ("unknown-method", "an unsupported compression method (99)"),
    ("deflate-bomb", "a deflate bomb (1 GiB of zeros in ~1 MB)"),
    ("test-replaced-by-train", "well-formed edit: test split replaced by train"),
    ("D-10", "well-formed edit: D = 10"),
    ("0-d-image-shape", "a 0-d image_shape"),
    ("one-NaN", "one NaN in X"),
):
    case("6", _name, DIGITS_EXPECTED)(lambda a, row, op=_op: digits_case(a, row, op))


# -- 7. the JAX compilation cache -----------------------------------------------------------------


class CompilationCache:
    """Softmax's and the SVM's runs in a fresh cache: which entries each wrote, the SVM's numbers."""

    steps = ("--steps", "50", "--json")

    def __init__(self, a: Audit):
        self.home = a.folder("jax-cache")
        self.env = a.env(XDG_CACHE_HOME=self.home / "xdg")
        self.folder = self.home / "xdg" / "jaxopt-course" / "jax"
        a.cli("train", "--loss", "softmax", *self.steps, cwd=self.home, env=self.env)
        softmax = {p.name: p.stat().st_size for p in self.folder.glob("*-cache")}
        r = a.cli("train", "--loss", "svm", *self.steps, cwd=self.home, env=self.env)
        self.reference = last_json(r.out)
        svm = {p.name: p.stat().st_size for p in self.folder.glob("*-cache") if p.name not in softmax}
        if r.code != 0 or not svm:
            raise RuntimeError(f"the clean SVM run failed or wrote no entry: {r.err[-500:]}")
        # The SVM's biggest program (the training steps) and softmax's program of the same name.
        self.svm_entry = max(svm, key=svm.get)
        prefix = self.svm_entry.split("-")[0]
        self.softmax_entry = max((n for n in softmax if n.split("-")[0] == prefix), key=softmax.get)
        self.pristine = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in self.folder.iterdir() if p.is_file()}

    def restore(self) -> None:
        """The folder as the clean runs left it, times included (the pruner compares sizes and times)."""
        for p in self.folder.iterdir():
            if p.is_file():
                p.unlink()
        for name, (blob, mtime) in self.pristine.items():
            (self.folder / name).write_bytes(blob)
            os.utime(self.folder / name, ns=(mtime, mtime))


JAXCACHE: list[CompilationCache] = []


def jax_cache_case(a: Audit, row: Row, corrupt: Callable[[CompilationCache], None], limit: int = 1 * GiB) -> Row:
    if not JAXCACHE:
        JAXCACHE.append(CompilationCache(a))
    cc = JAXCACHE[0]
    cc.restore()
    corrupt(cc)
    r = a.cli("train", "--loss", "svm", *cc.steps, cwd=cc.home, env=cc.env)
    problems = clean(r) + ([] if r.code == 0 else [f"exit {r.code}"]) + same_numbers(r, cc.reference)
    problems += small(r, limit)
    warnings = [line for line in r.err_lines if "warn" in line.lower()]
    problems += [f"warning: {warnings[0][:80]}"] if warnings else []
    empty = [p.name for p in cc.folder.glob("*-cache") if p.stat().st_size == 0]
    problems += [f"{len(empty)} empty entries left"] if empty else []
    return observed(row, r, problems)


def copy_softmax_over_svm(cc: CompilationCache) -> None:
    shutil.copy2(cc.folder / cc.softmax_entry, cc.folder / cc.svm_entry)  # cp -p: the time travels with it


def zlib_bomb(cc: CompilationCache) -> None:
    import zlib

    z, chunk = zlib.compressobj(9), bytes(MiB)
    with open(cc.folder / cc.svm_entry, "wb") as f:
        for _ in range(1024):
            f.write(z.compress(chunk))
        f.write(z.flush())


def zero_bytes(cc: CompilationCache) -> None:
    for p in cc.folder.glob("*-cache"):
        p.write_bytes(b"")


JAX_EXPECTED = "exit 0, the clean SVM run's numbers, no warning, nothing empty left"
case("7", "softmax's compiled steps copied over the SVM's", JAX_EXPECTED)(
    lambda a, row: jax_cache_case(a, row, copy_softmax_over_svm)
)
case("7", "a zlib bomb (1 GiB of zeros) as the SVM's entry", JAX_EXPECTED + ", peak < 1 GiB")(
    lambda a, row: jax_cache_case(a, row, zlib_bomb)
)
case("7", "every entry 0 bytes (a full disk while JAX wrote)", JAX_EXPECTED)(
    lambda a, row: jax_cache_case(a, row, zero_bytes)
)


# -- 8. limits before allocation ------------------------------------------------------------------

LIMIT_EXPECTED = "exit 2, one line, before allocating"


def cli_limit(*args, match: str = "", limit: int = 1 * GiB, timeout: float = 120):
    def run(a: Audit, row: Row) -> Row:
        d = a.folder(row.case)
        r = a.cli(*args, cwd=d, timeout=timeout)
        return observed(row, r, one_line_error(r, match) + small(r, limit))

    return run


def grid(n: int, low: float, high: float) -> str:
    return ",".join(f"{low * (high / low) ** (i / (n - 1)):.6g}" for i in range(n))


for _name, _args, _match in (
    ("--seed 2**64", ("train", "--seed", str(2**64)), "seed"),
    ("--steps 1e12 --chunk-size 1e12", ("train", "--steps", str(10**12), "--chunk-size", str(10**12)), "steps"),
    ("tea --steps 1e12", ("tea", "--steps", str(10**12)), "steps"),
    ("search --trials 3e9", ("search", "--method", "random", "--trials", str(3 * 10**9)), "trials"),
    ("sweep 300 x 300", ("sweep", "--lrs", grid(300, 1e-3, 1.0), "--regs", grid(300, 1e-6, 1e-1)), "memory|take about"),
    ("compare --eval-seeds 100000", ("compare", "--eval-seeds", "100000", "--out", "res"), "memory|hour|seeds"),
    ("tea --points 1e9", ("tea", "--points", str(10**9)), "memory|points"),
    ("tea --points 1e12", ("tea", "--points", str(10**12)), "memory|points"),
    ("search --method grid --points 3e9", ("search", "--method", "grid", "--points", str(3 * 10**9)), "points"),
    (
        "sweep 3000 x 3000 without --yes",
        ("sweep", "--lrs", grid(3000, 1e-3, 1.0), "--regs", grid(3000, 1e-6, 1e-1)),
        "--yes|memory",
    ),
):
    case("8", _name, LIMIT_EXPECTED)(cli_limit(*_args, match=_match))

API_PROBLEM = """
import jax, numpy as np, optax
from jaxopt_course import data, softmax_loss
from jaxopt_course.train import Loop, Run, fit, sweep
X, y = data.synthetic_problem(0, num_examples=200, dim=5, num_classes=3)
W0 = np.zeros((3, 6), np.float32)
"""


def api_case(code: str, match: str = "", limit: int = 1 * GiB, check: Callable | None = None):
    def run(a: Audit, row: Row) -> Row:
        d = a.folder(row.case)
        r = a.api(API_PROBLEM + code, cwd=d)
        return observed(row, r, (check(r) if check else api_error(r, match)) + small(r, limit))

    return run


case("8", "API: num_steps=2**31, chunk_size=None", "ValueError naming num_steps")(
    api_case(
        "fit(Run(softmax_loss, optax.sgd, num_steps=2**31, batch_size=32), W0, X, y, key=jax.random.key(0),"
        " lr=0.1, reg=0.0, loop=Loop(chunk_size=None, progress=False))",
        "num_steps",
    )
)
case("8", "API: sweep seeds=10**7", "ValueError naming seeds or the memory")(
    api_case(
        "sweep(Run(softmax_loss, optax.sgd, num_steps=100, batch_size=32), W0, X, y, key=jax.random.key(0),"
        " learning_rates=[0.1], regs=[0.0], seeds=10**7, loop=Loop(progress=False))",
        "seeds|memory",
    )
)


# -- 9. silent wrong answers ----------------------------------------------------------------------

case("9", "API: int64 labels 2**32 + 1 passed to fit", "ValueError naming y, before narrowing")(
    api_case(
        "y = np.asarray(y, np.int64); y[0] = 2**32 + 1\n"
        "fit(Run(softmax_loss, optax.sgd, num_steps=10, batch_size=32), W0, X, y, key=jax.random.key(0),"
        " lr=0.1, reg=0.0, loop=Loop(progress=False))",
        r"\by\b.*4294967297|4294967297.*\by\b",
    )
)


def verdict_not_good(r: Result) -> list[str]:
    problems = clean(r) + ([] if r.code == 0 else [f"exit {r.code}"])
    m = re.search(r"verdict=(\w+) hint=(.*)", r.err)
    if not m:
        return problems + ["no verdict printed"]
    if m.group(1) == "good" or m.group(1) not in ("wrong", "inconclusive"):
        problems.append(f"verdict {m.group(1)}")
    if not m.group(2).strip() or m.group(2).strip() == "None":
        problems.append("no hint")
    return problems


case("9", "check_gradient with one NaN numerical slope", "verdict wrong or inconclusive, with a hint")(
    api_case(
        "import jax.numpy as jnp\nfrom jaxopt_course.gradcheck import check_gradient\n"
        "with jax.enable_x64(True):\n"
        "    W = jnp.ones((3, 4))\n"
        "    f = lambda W: jnp.sum(W ** 2) + jnp.where(W[0, 0] > 1.00005, jnp.nan, 0.0)\n"
        "    report = check_gradient(f, W, analytic_grad=2 * W)\n"
        "print(f'verdict={report.verdict} hint={report.hint}', file=sys.stderr)",
        check=verdict_not_good,
    )
)
case("9", "--lr 1e-320 (0 in float32)", "exit 2, one line naming --lr")(
    cli_limit("train", "--lr", "1e-320", match="lr")
)
case("9", "tea --start 1e308", "exit 2, one line naming the start temperature")(
    cli_limit("tea", "--start", "1e308", match="start|temperature")
)
case("9", "API: float64 X holding 1e39", "ValueError about the data, not the learning rate")(
    api_case(
        "X = np.asarray(X, np.float64); X[3, 2] = 1e39\n"
        "fit(Run(softmax_loss, optax.sgd, num_steps=10, batch_size=32), W0, X, y, key=jax.random.key(0),"
        " lr=0.1, reg=0.0, loop=Loop(progress=False))",
        r"^(?!.*learning rate).*\b(data|X)\b",
    )
)


# -- 10. smaller ones -----------------------------------------------------------------------------


@case("10", ".part and .cifar-10-extract.* beside cifar-10-batches-py/", "exit 0, both removed")
def leftovers(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    a.craft("small-cifar", d, "none")
    part, extract = d / ".cifar-10-python.tar.gz.k1ll3d.part", d / ".cifar-10-extract.k1ll3d"
    part.write_bytes(b"half an archive")
    extract.mkdir()
    (extract / "x").write_bytes(b"half a folder")
    r = a.api("from jaxopt_course.data import download_cifar10\ndownload_cifar10(sys.argv[1])", d, cwd=d)
    problems = clean(r) + ([] if r.code == 0 else [f"exit {r.code}"])
    problems += [f"{p.name} left" for p in (part, extract) if p.exists()]
    return observed(row, r, problems)


@case("10", "a coordinator nobody listens on (JAX_COORDINATOR_TIMEOUT=3)", "exit 2 within the timeout, one line")
def coordinator(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ("--coordinator-address", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", "1")
    r = a.cli("train", *SHORT, *args, cwd=d, env=a.env(JAX_COORDINATOR_TIMEOUT=3), timeout=90)
    return observed(row, r, one_line_error(r, "nobody accepts connections"))


@case("10", "a FIFO as data_batch_2", "exit 2, one line, no hang")
def fifo_batch(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    a.craft("small-cifar", d, "fifo")
    r = a.cli("train", "--data", "cifar10", "--data-dir", d, *SHORT, cwd=d, timeout=60)
    return observed(row, r, one_line_error(r, "FIFO"))


@case("10", "HOME='' (no XDG_CACHE_HOME)", "exit 0, one line, no /.cache/jaxopt-course, no ./.cache")
def empty_home(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    existed = Path("/.cache/jaxopt-course").exists()
    r = a.cli("train", "--steps", "20", "--json", cwd=d, env=a.env(HOME="", XDG_CACHE_HOME=None))
    problems = clean(r) + ([] if r.code == 0 else [f"exit {r.code}"])
    problems += [] if len(r.err_lines) == 1 and "without the cache" in r.first_line else ["not the one cache line"]
    problems += ["made /.cache/jaxopt-course"] if Path("/.cache/jaxopt-course").exists() and not existed else []
    problems += ["made ./.cache"] if (d / ".cache").exists() else []
    return observed(row, r, problems)


@case("10", "JAX_PLATFORMS=cuda on a machine without CUDA", "exit 2, one line naming JAX_PLATFORMS")
def no_cuda(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    r = a.cli("train", "--steps", "20", cwd=d, env=a.env(JAX_PLATFORMS="cuda"))
    return observed(row, r, one_line_error(r, "JAX_PLATFORMS"))


@case("10", "--resume /etc/passwd", "exit 2, one line, no 'delete it'")
def resume_passwd(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    r = a.cli("train", *SHORT, "--resume", "/etc/passwd", cwd=d)
    return observed(
        row, r, one_line_error(r, "not a jaxopt-course checkpoint") + (["says delete"] if "delete" in r.err else [])
    )


@case("10", "a notebook kernel with ~/.ipython/profile_default/startup/00.py", "the startup file does not run")
def kernel_profile(a: Audit, row: Row) -> Row:
    d = a.folder(row.case)
    home, marker = d / "home", d / "startup-ran"
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-hostile.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (d / "probe.py").write_text("# %%\nprint('probe ran')\n")
    code = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('nb_execute', {str(REPO / 'notebooks' / 'execute.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "from pathlib import Path\nm.execute(Path(sys.argv[1]), Path(sys.argv[2]), timeout=120)\nprint('executed')"
    )
    r = a.api(code, d / "probe.py", d / "out", cwd=d, env=a.env(HOME=home), timeout=180)
    problems = clean(r) + ([] if r.code == 0 and "executed" in r.out else [f"exit {r.code}"])
    problems += ["the user's startup file ran"] if marker.exists() else []
    return observed(row, r, problems)


# ---------------------------------------------------------------------------
# Crafting (in a helper child: NumPy, the package and the tests' helpers allowed)
# ---------------------------------------------------------------------------


def craft(op: str, *args: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import zipfile

    import numpy as np

    if op == "small-cifar":  # a small official-format CIFAR-10, one batch made hostile
        from test_data import write_small_cifar

        root, how = Path(args[0]), args[1]
        write_small_cifar(root)
        batch = root / "cifar-10-batches-py" / ("data_batch_1" if how == "encode-bomb" else "data_batch_2")
        if how == "encode-bomb":
            from test_hardening2 import encode_bomb

            batch.write_bytes(encode_bomb())
        elif how == "fifo":
            batch.unlink()
            os.mkfifo(batch)
        return
    if op == "nest-config":
        from test_hardening2 import rewrite_member

        rewrite_member(Path(args[0]), "config_json", np.str_('{"a": ' + "[" * 200000 + "]" * 200000 + "}"))
        return
    import test_hardening2 as h

    path = Path(args[0])
    edits = {
        "test-replaced-by-train": h.swap_test_for_train,
        "D-10": h.ten_columns,
        "0-d-image-shape": h.zero_d_image_shape,
        "one-NaN": h.one_nan,
    }
    if op in edits:
        h.edit_consistently(path, edits[op])
    elif op == "npy-header-4e12":
        h.header_claims_4e12(path)
    elif op == "broken-deflate":
        h.broken_deflate(path)
    elif op == "unknown-method":  # train_X.npy's compression method set to 99 in both of its headers
        blob = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("train_X.npy")
        blob[info.header_offset + 8 : info.header_offset + 10] = (99).to_bytes(2, "little")
        at = 0
        while (at := blob.find(b"PK\x01\x02", at + 1)) != -1:
            name_len = int.from_bytes(blob[at + 28 : at + 30], "little")
            if bytes(blob[at + 46 : at + 46 + name_len]) == b"train_X.npy":
                blob[at + 10 : at + 12] = (99).to_bytes(2, "little")
        path.write_bytes(bytes(blob))
    elif op == "deflate-bomb":  # the other members as written; train_X 1 GiB of zeros deflated
        with zipfile.ZipFile(path) as z:
            members = {name: z.read(name) for name in z.namelist()}
        with zipfile.ZipFile(path, "w") as z:
            for name, blob in members.items():
                if name != "train_X.npy":
                    z.writestr(name, blob)
            info = zipfile.ZipInfo("train_X.npy")
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                f.write(h.npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", b"(268435456,)"))
                for _ in range(1024):
                    f.write(bytes(MiB))
        print(path.stat().st_size)
    else:
        raise SystemExit(f"unknown craft {op}")


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def markdown(rows: list[Row]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| # | case | expected | exit | first stderr line | peak MiB | verdict |",
        "|---|---|---|---|---|---:|---|",
    ]
    for row in rows:
        first = row.first_line if len(row.first_line) <= 110 else row.first_line[:107] + "..."
        verdict = row.verdict + (f" ({'; '.join(row.problems)})" if row.problems else "")
        lines.append(
            f"| {row.point} | {cell(row.case)} | {cell(row.expected)} | {row.code} | {cell(first)} "
            f"| {row.peak_mib:.0f} | {cell(verdict)} |"
        )
    safe = sum(r.verdict == "SAFE" for r in rows)
    lines.append("")
    lines.append(f"{safe} SAFE, {len(rows) - safe} UNSAFE of {len(rows)} cases.")
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["craft"]:
        craft(*argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="run the cases whose name matches this regular expression")
    parser.add_argument("--cap", type=float, default=3.0, help="RLIMIT_AS of every child, GiB (default 3)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="audit24-"))
    (root / "home").mkdir()
    audit, rows = Audit(root, int(args.cap * GiB)), []
    started = time.monotonic()
    try:
        for point, name, expected, fn in CASES:
            if args.only and not re.search(args.only, name):
                continue
            row = Row(point, name, expected)
            try:
                row = fn(audit, row)
            except Exception as err:  # the set-up of a case failed: a row that says so, and go on
                row.problems = [f"audit set-up failed: {type(err).__name__}: {str(err)[:300]}"]
            row.first_line = row.first_line.replace(str(root), "$TMP")  # the table reads the same on every run
            print(
                f"{row.verdict:6} [{row.point}] {row.case}: exit {row.code}, {row.peak_mib:.0f} MiB, "
                f"{row.seconds:.1f} s; {row.first_line[:100]} {row.problems or ''}",
                file=sys.stderr,
                flush=True,
            )
            rows.append(row)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    table = markdown(rows)
    elapsed = time.monotonic() - started
    print(table)
    print(f"\n{len(rows)} cases in {elapsed:.0f} s, load {os.getloadavg()[0]:.1f} (1 min) at the end")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps([row.__dict__ | {"verdict": row.verdict} for row in rows], indent=1) + "\n")
    return 0 if all(r.verdict == "SAFE" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
