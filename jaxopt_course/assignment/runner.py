"""Grading in a child process: the student's code runs with a time limit and a memory limit, never in the grader.

:func:`grade` copies the submission's graded code into a fresh temporary
folder and starts ``python -m jaxopt_course.assignment.runner REQUEST`` there.
The child

1. sets ``resource.setrlimit``: ``RLIMIT_AS`` (the memory limit) and
   ``RLIMIT_CPU`` (a CPU-seconds budget: past it the kernel ends the child);
2. runs the submission's code in a fresh namespace under a wall-clock alarm;
3. runs the tests one by one, each under its own alarm (``signal.setitimer``),
   writing one JSON line per test to a results file *before* (``started``) and
   after (``done``) it: the grader reads those, never the child's stdout, which
   the student's prints share. Once a test of a graded function runs out of
   time, that function's other tests are not run (each would only wait out
   the same limit): a hang costs one time limit per function, not one per test.

The parent waits at most a fixed wall-clock deadline. If the child hangs
past it (an alarm swallowed by a bare ``except:``, a C loop), or is killed
(the CPU or memory limit), the test it had started gets 0 with a hint that
says which (the same function's other tests are skipped), and a new child
runs the tests left. So a submission that hangs,
raises or returns the wrong shape loses that part only, and the grader
itself never hangs and never crashes.

This is a guard against accidents, not a security boundary: the child runs
as the same user, with the same files and network as the grader.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import checks

#: Defaults: seconds per test (and for running the submission's code), memory in MiB.
TIME_LIMIT = 20.0
MEMORY_LIMIT_MB = 3072
#: Seconds the child may take to start (import NumPy and JAX) beyond the tests' own limits.
STARTUP_ALLOWANCE = 60.0


class TimeLimit(BaseException):
    """Raised by the alarm in the child: a ``BaseException``, so an ``except Exception`` cannot swallow it."""


def _on_alarm(signum, frame):
    raise TimeLimit()


def _limit(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _set_resource_limits(memory_mb: int, cpu_seconds: int) -> None:
    memory = int(memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))


def _child(request_path: str) -> int:
    """The child process: run the submission, then each requested test; results go to the results file."""
    request = json.loads(Path(request_path).read_text())
    results = open(request["results"], "a", buffering=1, encoding="utf-8")

    def write(**record):
        results.write(json.dumps(record) + "\n")
        results.flush()

    _set_resource_limits(request["memory_mb"], int(request["cpu_seconds"]))
    signal.signal(signal.SIGALRM, _on_alarm)
    checks.import_references()  # imported before the clock starts: the student's code is timed, not ours

    namespace = {"__name__": "submission"}
    write(event="started", test="<submission>")
    try:
        _limit(request["time_limit"])
        exec(compile(Path(request["source"]).read_text(encoding="utf-8"), "submission.py", "exec"), namespace)
        _limit(0)
    except TimeLimit:
        write(
            event="done",
            test="<submission>",
            hint=f"running the submission's code took over {request['time_limit']:g} s (the time limit): "
            "a loop that never ends, or heavy work outside the graded functions",
        )
        return 0
    except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt from student code too
        _limit(0)
        write(
            event="done",
            test="<submission>",
            hint=f"running the submission's code raised {type(error).__name__}: {str(error)[:300]}",
        )
        return 0
    write(event="done", test="<submission>", hint=None)
    timed_out: dict[str, str] = {}  # function -> its test that hit the time limit: its other tests are skipped
    for name in request["tests"]:
        function = checks.function_of(name)
        if function in timed_out:
            write(event="done", test=name, hint=skipped_hint(timed_out[function]))
            continue
        write(event="started", test=name)
        try:
            _limit(request["time_limit"])
            hint = checks.run_check(name, namespace)
            _limit(0)
        except TimeLimit:
            timed_out[function] = name
            hint = (
                f"took over {request['time_limit']:g} s (the time limit): a loop that never ends, or a "
                "loop over examples where a matrix product would do"
            )
        except BaseException as error:  # noqa: BLE001 - whatever the student's code did, report it
            _limit(0)
            hint = f"the test stopped with {type(error).__name__}: {str(error)[:300]}"
        write(event="done", test=name, hint=hint)
    return 0


def skipped_hint(test: str) -> str:
    """The hint of a test not run because ``test``, of the same graded function, hit the time limit or was stopped."""
    return f"not run: {test}, a test of the same function, did not finish in time (its hint says why)"


def _read_results(path: Path) -> tuple[dict, str | None]:
    """The finished tests ``{name: hint}`` and the test started but not finished (or ``None``)."""
    done: dict[str, str | None] = {}
    started: str | None = None
    if not path.exists():
        return done, None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "started":
            started = record.get("test")
        elif record.get("event") == "done":
            done[record["test"]] = record.get("hint")
            started = None
    return done, started


def _death_hint(returncode, timed_out: bool, time_limit: float, memory_mb: int) -> str:
    if timed_out:
        return (
            f"did not finish: the grader stopped it after its time limit ({time_limit:g} s); an endless loop "
            "(perhaps inside a try/except that swallowed the alarm)"
        )
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return "was stopped by the CPU-time limit: an endless loop, or far too much work"
    if returncode is not None and returncode < 0:
        return f"crashed the process (signal {-returncode}); often memory: the limit is {memory_mb} MiB"
    return f"ended the process (exit code {returncode}) before the test finished: a sys.exit or os._exit?"


def run_tests(
    source: str, tests: list[str], *, time_limit: float = TIME_LIMIT, memory_mb: int = MEMORY_LIMIT_MB
) -> dict:
    """Run ``tests`` on the code ``source`` in child processes: ``{test name: hint or None}``.

    Each test gets ``time_limit`` seconds (so does running ``source``);
    ``"<submission>"`` in the result is running the code itself.
    """
    remaining, outcome = list(tests), {}
    with tempfile.TemporaryDirectory(prefix="jaxopt-course-grade-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "submission.py").write_text(source, encoding="utf-8")
        attempt = 0
        while remaining:
            attempt += 1
            results = tmp / f"results-{attempt}.jsonl"
            request = tmp / f"request-{attempt}.json"
            budget = time_limit * (len(remaining) + 1)
            request.write_text(
                json.dumps(
                    {
                        "source": str(tmp / "submission.py"),
                        "tests": remaining,
                        "results": str(results),
                        "time_limit": time_limit,
                        "memory_mb": memory_mb,
                        "cpu_seconds": int(budget + STARTUP_ALLOWANCE),
                    }
                )
            )
            env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONDONTWRITEBYTECODE="1")
            with open(tmp / "output.txt", "wb") as output:
                child = subprocess.Popen(
                    [sys.executable, "-m", "jaxopt_course.assignment.runner", str(request)],
                    cwd=tmp,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
                timed_out = False
                try:
                    child.wait(timeout=budget + STARTUP_ALLOWANCE)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            done, started = _read_results(results)
            if "<submission>" in done and done["<submission>"] is not None:
                return {"<submission>": done["<submission>"], **{t: done["<submission>"] for t in remaining}}
            outcome.update({t: h for t, h in done.items() if t != "<submission>"})
            if started is None and not any(t in done for t in remaining):
                # It died before running anything of the student's: a broken grader or Python, not the student.
                tail = (tmp / "output.txt").read_bytes()[-500:].decode("utf-8", "replace")
                raise RuntimeError(f"the grading process failed to start (exit {child.returncode}): {tail}")
            if started is not None:
                death = _death_hint(child.returncode, timed_out, time_limit, memory_mb)
                if started == "<submission>":
                    hint = "running the submission's code " + death
                    return {"<submission>": hint, **{t: hint for t in remaining}}
                outcome[started] = death
                function = checks.function_of(started)
                outcome.update(
                    {
                        t: skipped_hint(started)
                        for t in remaining
                        if t not in outcome and checks.function_of(t) == function
                    }
                )
            remaining = [t for t in remaining if t not in outcome]
    return outcome


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return _child(argv[0])


if __name__ == "__main__":
    sys.exit(main())
