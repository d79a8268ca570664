"""The command line: the main job's JSON, and one-line errors with exit code 2."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jaxopt_course import cli
from jaxopt_course.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxopt_course", *args], capture_output=True, text=True, timeout=300)


def test_train_json_reaches_95_percent_on_digits(capsys):
    assert main(["train", "--data", "digits", "--loss", "softmax", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"train_accuracy", "val_accuracy", "test_accuracy", "final_loss"} <= set(result)
    assert result["test_accuracy"] >= 0.95
    assert result["final_loss"] > 0


def test_train_table_and_svm(capsys):
    assert main(["train", "--loss", "svm", "--steps", "200"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "svm classifier on digits" in out


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--loss", "hinge"], "--loss"),
        (["train", "--data", "mnist"], "--data"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--data", "cifar10"], "--data-dir"),
        (["nope"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, pattern):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert pattern in lines[0] and "Traceback" not in proc.stderr


def test_missing_cifar_folder_is_one_line(tmp_path):
    proc = run_cli("train", "--data", "cifar10", "--data-dir", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "no CIFAR-10 at" in proc.stderr


def test_help_in_the_lectures_words():
    proc = run_cli("train", "--help")
    assert proc.returncode == 0 and "minibatch" in proc.stdout


def test_help_states_the_one_divergence_rule_with_the_engines_factor():
    """Issue 20.1: --help says the rule that train, sweep and compare apply, with the number they use."""
    from jaxopt_course.divergence import DIVERGENCE_FACTOR

    for command in ("train", "sweep"):
        text = " ".join(cli.build_parser()._subparsers._group_actions[0].choices[command].format_help().split())
        assert f"rises above {DIVERGENCE_FACTOR:g} x its loss at step 0" in text and "divergence_step" in text


# ---------------------------------------------------------------------------
# Start-up: lazy imports, the compilation cache, the bare command
# ---------------------------------------------------------------------------

IMPORTED = (
    "import sys\nfrom jaxopt_course.cli import main\ntry:\n    code = main({argv!r})\nexcept SystemExit as e:\n"
    "    code = e.code\nprint(code, sorted(m for m in ('jax', 'sklearn', 'matplotlib') if m in sys.modules))"
)


def imported_by(argv, **env):
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAXOPT_COURSE_NO_CACHE": "1", **env},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_help_and_the_bare_command_import_no_jax():
    assert imported_by(["--help"]) == "0 []"
    assert imported_by([]) == "0 []"
    assert imported_by(["tea", "--help"]) == "0 []"
    assert imported_by(["gradcheck", "--help"]) == "0 []"


@pytest.mark.slow
def test_tea_does_not_import_scikit_learn():
    assert imported_by(["tea", "--steps", "3", "--json"]) == "0 ['jax']"


def test_bare_command_lists_the_commands():
    proc = run_cli()
    assert proc.returncode == 0, proc.stderr
    for command in ("train", "search", "gradcheck", "sweep", "tea", "lecture"):
        assert f"\n    {command}" in proc.stdout
    assert "JAXOPT_COURSE_NO_CACHE=1" in proc.stdout.replace("\n", " ")


@pytest.mark.slow
def test_the_compilation_cache_is_written_under_xdg_cache_home_unless_turned_off(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "JAXOPT_COURSE_NO_CACHE"}
    cold = subprocess.run(
        [sys.executable, "-m", "jaxopt_course", "tea", "--steps", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "XDG_CACHE_HOME": str(tmp_path / "on")},
    )
    assert cold.returncode == 0 and cold.stderr == "", cold.stderr
    assert any((tmp_path / "on" / "jaxopt-course" / "jax").iterdir())
    off = subprocess.run(
        [sys.executable, "-m", "jaxopt_course", "tea", "--steps", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "XDG_CACHE_HOME": str(tmp_path / "off"), "JAXOPT_COURSE_NO_CACHE": "1"},
    )
    assert off.returncode == 0, off.stderr
    assert not (tmp_path / "off").exists()
    assert json.loads(off.stdout) == {**json.loads(cold.stdout), "seconds": json.loads(off.stdout)["seconds"]}


def test_enable_compilation_cache_leaves_an_imported_jax_alone():
    from jaxopt_course.cache import cache_dir, enable_compilation_cache

    env = {"XDG_CACHE_HOME": "/nowhere"}
    assert enable_compilation_cache(env) is None and env == {"XDG_CACHE_HOME": "/nowhere"}  # jax is imported here
    assert cache_dir(env) == Path("/nowhere/jaxopt-course/jax")


# ---------------------------------------------------------------------------
# Help, defaults that follow the data set, one-line errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, shown",
    [
        (
            "train",
            [
                "--lr LR",
                "1 on digits, 1e-07 on cifar10",
                "25000 on cifar10",
                "200 on cifar10",
                "1500 on cifar10",
                "0.001 on cifar10",
                "(default: sgd)",
                "(default: softmax)",
                "(default: 1000)",
            ],
        ),
        ("sweep", ["0.01,0.1,1 on digits, 1e-07,5e-07 on cifar10", "25000,50000 on cifar10"]),
        ("search", ["0.01 (random), 0.1 (local) on digits", "(default: random)", "(default: 1000)"]),
        ("gradcheck", ["(default: float64)", "0.0001 in float64, 0.01 in float32", "10 on cifar10"]),
        ("tea", ["(default: 20.0)", "(default: 5.0)", "(default: smooth)"]),
        ("lecture", ["(default: results)"]),
    ],
)
def test_every_help_shows_the_defaults(command, shown):
    from jaxopt_course.cli import build_parser

    text = " ".join(build_parser()._subparsers._group_actions[0].choices[command].format_help().split())
    for words in shown:
        assert words in text, words


def test_cifar10_defaults_are_the_cs231n_recipe_unless_told_otherwise():
    from jaxopt_course.cli import _parse

    args = _parse(["train", "--data", "cifar10", "--data-dir", "D", "--lr", "5e-7"])
    assert (args.lr, args.reg, args.batch_size, args.steps, args.init_scale) == (5e-7, 2.5e4, 200, 1500, 1e-3)
    assert args.recipe == {"--reg": 2.5e4, "--batch-size": 200, "--steps": 1500, "--init-scale": 1e-3}
    digits = _parse(["train"])
    assert (digits.lr, digits.reg, digits.batch_size, digits.steps, digits.init_scale) == (1.0, 1e-4, 256, 2000, 1e-4)
    local = _parse(["search", "--method", "local"])
    assert (local.scale, local.step_size) == (0.1, 0.01)  # digits' scales: the README's 83.7 % row
    assert _parse(["search", "--data", "cifar10", "--data-dir", "D"]).scale == 1e-4
    assert _parse(["sweep", "--data", "cifar10", "--data-dir", "D"]).lrs == [1e-7, 5e-7]
    assert _parse(["gradcheck", "--data", "cifar10", "--data-dir", "D"]).num_checks == 10


def test_the_recipe_is_announced_on_stderr(capsys):
    from jaxopt_course.cli import _parse
    from jaxopt_course.commands import say_recipe

    say_recipe(_parse(["train", "--data", "cifar10", "--data-dir", "D", "--steps", "10"]))
    assert capsys.readouterr().err == (
        "jaxopt-course: --data cifar10: CS231n's recipe for the options not given: "
        "--lr 1e-07 --reg 25000 --batch-size 200 --init-scale 0.001\n"
    )


@pytest.mark.parametrize(
    "argv, line",
    [
        (["train", "--lr", "-0.1"], "jaxopt-course: error: argument --lr: expected a number > 0, got -0.1"),
        (["train", "--lr", "0"], "jaxopt-course: error: argument --lr: expected a number > 0, got 0"),
        (["train", "--reg", "-1"], "jaxopt-course: error: argument --reg: expected a number >= 0, got -1"),
        (["train", "--data", "cifar10"], "jaxopt-course: error: --data cifar10 needs --data-dir DIR"),
        (["sweep", "--resume", "{tmp}/missing"], "jaxopt-course: error: --resume {tmp}/missing: no checkpoint at"),
    ],
)
def test_errors_are_one_line_with_the_prefix(argv, line, tmp_path, capsys, monkeypatch):
    from jaxopt_course.cli import main

    monkeypatch.delenv("JAXOPT_COURSE_CIFAR10", raising=False)
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(line.replace("{tmp}", str(tmp_path))), err
    assert not (tmp_path / "missing").exists()  # a missing --resume folder is not created


@pytest.mark.slow
def test_lecture_and_compare_run_from_an_installed_wheel_in_any_folder(tmp_path):
    """A real wheel of this checkout, installed into a folder of its own, run from an empty folder."""
    repo = Path(__file__).resolve().parents[1]
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "wheel"), str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0 and "No matching distribution" in build.stderr:
        pytest.skip(f"no wheel could be built here (setuptools not reachable): {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "wheel").glob("jaxopt_course-*.whl"))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import jaxopt_course, jaxopt_course.commands, jaxopt_course.experiments.lecture as m\n"
            "for module in (jaxopt_course, jaxopt_course.commands, m): print(module.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    files = where.stdout.split()
    assert where.returncode == 0 and len(files) == 3, (where.stdout, where.stderr)
    assert all(Path(f).is_relative_to(site) for f in files), files  # the wheel's copy, not this checkout's
    for argv in (
        ["lecture", "--quick", "--only", "tea_temperature", "--progress", "off"],
        [
            "compare",
            "--quick",
            "--tuning-seeds",
            "1",
            "--eval-seeds",
            "2",
            "--num-lrs",
            "2",
            "--steps",
            "10",
            "--optimizers",
            "sgd",
            "--bootstrap",
            "10",
        ],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "jaxopt_course", *argv, "--out", "results", "--json"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout)


# ---------------------------------------------------------------------------
# Checkpoints are never lost silently; resume says so
# ---------------------------------------------------------------------------

SMALL = ["train", "--steps", "4", "--chunk-size", "2", "--batch-size", "16"]


@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_not_overwritten_without_force(tmp_path, capsys):
    from jaxopt_course.checkpoint import read_checkpoint_config
    from jaxopt_course.cli import main

    ckpt = str(tmp_path / "ckpt")
    assert main([*SMALL, "--checkpoint-dir", ckpt]) == 0
    before = (tmp_path / "ckpt" / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert main([*SMALL, "--loss", "svm", "--checkpoint-dir", ckpt]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "holds the checkpoint of another run (--loss softmax, this command has svm)" in err[0]
    assert "--force" in err[0] and f"--resume {ckpt}" in err[0]
    assert (tmp_path / "ckpt" / "checkpoint.npz").read_bytes() == before
    assert main([*SMALL, "--checkpoint-dir", ckpt]) == 0  # the same run again: nothing is lost
    assert main([*SMALL, "--loss", "svm", "--checkpoint-dir", ckpt, "--force"]) == 0
    assert read_checkpoint_config(ckpt)["loss"] == "svm"


def cli_process(cwd, *args):
    """``jaxopt-course ARGS`` as a real process in ``cwd`` (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "jaxopt_course", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


LONG = ["train", "--steps", "1000000", "--chunk-size", "20", "--json"]


@pytest.mark.slow
def test_an_interrupted_run_is_resumed_by_the_same_command_and_other_runs_are_not_blocked(tmp_path):
    """Issue 20.5 with real signals: the Ctrl-C folder is keyed by the run's options; rerunning resumes."""
    start = time.perf_counter()
    assert run_cli_in(tmp_path, "train", "--steps", "1", "--json").returncode == 0
    delay = time.perf_counter() - start  # start-up and one step: the next run is training by then
    for _ in range(6):
        proc = cli_process(tmp_path, *LONG)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 130 and "Traceback" not in err, err  # in start-up too: one line, 130
        found = list((tmp_path / "jaxopt-course-checkpoint").glob("train-*/checkpoint.npz"))
        if found:
            break
        delay *= 1.5  # the signal came during start-up: nothing to save yet
    [checkpoint] = found
    assert re.fullmatch(r"train-[0-9a-f]{12}", checkpoint.parent.name)
    step = json.loads(out)["step"]
    folder = f"jaxopt-course-checkpoint/{checkpoint.parent.name}"
    assert err.strip().splitlines()[-1] == (
        f"jaxopt-course: interrupted (SIGINT) at step {step} of 1000000; checkpoint written to {folder}/ -- run the "
        f"same command to continue (or add --resume {folder})"
    )
    before = checkpoint.read_bytes()
    other = run_cli_in(tmp_path, "train", "--loss", "svm", "--steps", "4", "--json")  # another run, same folder
    assert other.returncode == 0 and other.stderr == "", other.stderr
    assert checkpoint.read_bytes() == before
    again = run_cli_in(tmp_path, *LONG[:2], str(step + 20), *LONG[3:])  # the same run (--steps may grow)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0] == (
        f"jaxopt-course: a checkpoint of this command exists at step {step} in "
        f"{folder}/: resuming from it (the result equals an uninterrupted run's; "
        "--force starts again from step 0)"
    )
    resumed = json.loads(again.stdout)
    assert resumed["resumed_from_step"] == step and resumed["timed_steps"] == 20
    fresh = json.loads(run_cli_in(tmp_path, *LONG[:2], str(step + 20), *LONG[3:], "--force").stdout)
    assert "resumed_from_step" not in fresh
    for name in ("final_loss", "train_accuracy", "val_accuracy", "test_accuracy"):
        assert resumed[name] == fresh[name], name  # bit for bit


@pytest.mark.slow
def test_sigterm_checkpoints_like_ctrl_c_and_a_second_run_on_the_folder_is_refused(tmp_path):
    """Issue 24: SIGTERM behaves like SIGINT; --out is held (locked) by its run for as long as it runs."""
    out = tmp_path / "out"
    proc = cli_process(tmp_path, *LONG, "--out", str(out))
    deadline = time.monotonic() + 240
    while not (out / ".jaxopt-course.lock.owner").exists():  # written once the run holds its folders
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    second = run_cli_in(tmp_path, "train", "--steps", "4", "--lr", "0.5", "--out", str(out))
    assert second.returncode == 2, second.stderr
    assert second.stderr.splitlines() == [
        f"jaxopt-course: error: {out} is in use by another run (pid {proc.pid} on "
        f"host {socket.gethostname()}, since " + second.stderr.split(", since ")[1].splitlines()[0]
    ]
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    record = json.loads(stdout)
    assert record["interrupted"] and record["signal"] == "SIGTERM" and record["checkpoint"] == str(out / "checkpoint")
    assert f"interrupted (SIGTERM) at step {record['step']} of 1000000; checkpoint written to {out}/checkpoint/" in err
    assert json.loads((out / "metrics.json").read_text())["status"] == "interrupted"
    assert (out / "checkpoint" / "checkpoint.npz").is_file() and not (out / ".jaxopt-course.lock.owner").exists()


def run_cli_in(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "jaxopt_course", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_resume_from_a_checkpoint_file_says_so_and_times_only_its_steps(tmp_path, capsys):
    from jaxopt_course.cli import main

    ckpt = tmp_path / "ckpt"
    assert main([*SMALL, "--checkpoint-dir", str(ckpt), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main([*SMALL[:2], "6", *SMALL[3:], "--resume", str(ckpt / "checkpoint.npz")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\(\d+\.\d s for steps 5-6, resumed from step 4\)", out.splitlines()[0]), out
    assert main([*SMALL[:2], "8", *SMALL[3:], "--resume", str(ckpt / "checkpoint.npz"), "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["resumed_from_step"] == 6 and resumed["timed_steps"] == 2 and whole["timed_steps"] == 4
    assert sorted(p.name for p in ckpt.iterdir()) == [".jaxopt-course.lock", "checkpoint.npz"]  # and its lock file


def test_divergence_is_told_in_the_commands_words_and_json_still_prints_the_record(tmp_path, capsys):
    from jaxopt_course.cli import main

    assert main(["train", "--lr", "1000", "--reg", "1", "--steps", "30", "--chunk-size", "10"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("jaxopt-course: error: training diverged: the loss is")
    assert "try a smaller --lr" in err[0] and "--out DIR keeps the last finite weights" in err[0]
    assert ".params" not in err[0]
    # Issue 20.1/20.6: lr 1e4 explodes without a NaN; the run still exits 1 and --json still prints its record.
    out = tmp_path / "out"
    assert main(["train", "--lr", "1e4", "--steps", "300", "--chunk-size", "100", "--json", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["diverged"] is True and record["final_loss"] is None
    step = record["diverged_at_step"]
    assert 0 <= step < 300 and f"at step {step} of 300 and rose above 10 x its start" in captured.err
    assert f"Kept the last finite params and the metrics so far in {out}/" in captured.err
    # The record is honest about how far the run went: "steps" is the length asked for, "steps_run" (and
    # metrics.json's "step") the steps whose losses were computed, 0 .. diverged_at_step, as many as it saved.
    saved = json.loads((out / "metrics.json").read_text())
    assert record["steps"] == 300 and record["steps_run"] == step + 1 < 300
    assert saved["status"] == "diverged" and saved["step"] == step + 1 == len(saved["losses"])
    assert record["timed_steps"] == min(100 * -(-(step + 1) // 100), 300)  # up to the end of the diverged chunk
    losses = np.array([np.inf if v is None else v for v in saved["losses"]])  # the one rule, by hand
    assert losses[step] > 10 * losses[0] and np.all(losses[:step] <= 10 * losses[0])
    assert main(["train", "--lr", "1", "--steps", "300", "--chunk-size", "100", "--json", "--out", str(out)]) == 0
    record = json.loads(capsys.readouterr().out)  # lr 1 is fine
    saved = json.loads((out / "metrics.json").read_text())
    assert record["diverged"] is False and "diverged_at_step" not in record
    assert record["steps_run"] == record["timed_steps"] == saved["step"] == len(saved["losses"]) == 300


def test_a_run_whose_checkpoint_cannot_be_written_still_prints_a_record(tmp_path, capsys):
    """Issue 20.6: a --json run that stops on a failed write (exit 74) prints its record on stdout too.

    The write fails for real: a folder stands where the checkpoint file must be renamed to.
    """
    ckpt = tmp_path / "ckpt"
    (ckpt / "checkpoint.npz").mkdir(parents=True)
    assert main([*SMALL, "--checkpoint-dir", str(ckpt), "--json"]) == cli.EXIT_WRITE_FAILED
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0] == f"jaxopt-course: error: {record['error']}"
    assert record["write_failed"] is True and record["steps"] == 4 and record["checkpoint"] == str(ckpt)
    assert "checkpoint" in record["error"] and str(ckpt) in record["error"]


def test_a_sweep_marks_diverged_models_and_never_chooses_them(capsys):
    from jaxopt_course.cli import main

    assert main(["sweep", "--lrs", "1,10000", "--regs", "0", "--steps", "300", "--chunk-size", "100", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["diverged"] == [[False], [True]] and result["val_accuracy"][1] == [None]
    assert result["diverged_step"][0] == [-1] and result["diverged_step"][1][0] >= 0
    assert result["best"]["lr"] == 1.0


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--data-dir", "{tmp}"], "--data-dir only applies to --data cifar10"),
        (["train", "--download"], "--download only applies to --data cifar10"),
        (["lecture", "--data-dir", "{tmp}", "--out", "{tmp}"], "--data-dir only applies to --data cifar10"),
        (["train", "--full-batch", "--batch-size", "5"], "--batch-size has no effect here: --full-batch uses"),
        (["sweep", "--full-batch", "--batch-size", "5"], "--batch-size has no effect here: --full-batch uses"),
        (
            ["search", "--method", "grid", "--trials", "5"],
            "--trials has no effect here: --method grid searches the tea",
        ),
        (["search", "--method", "grid", "--data", "digits"], "--data has no effect here"),
        (["search", "--toy", "wiggly"], "--toy has no effect here: only --method grid"),
        (["search", "--step-size", "0.1"], "--step-size has no effect here: only --method local"),
        (["train", "--batch-size", "5000"], "--batch-size 5000 is more than the 1257 training examples of digits"),
        (["train", "--seed", str(2**64)], "argument --seed: the seed must lie in [-2**63, 2**63 - 1]"),
        (["train", "--steps", "1000000000000"], "argument --steps: expected a positive integer <= 2147483647"),
        (["search", "--trials", "3000000000"], "argument --trials: expected a positive integer <= 2147483647"),
        (["tea", "--points", "1000000000000"], "argument --points: expected a positive integer <= 2147483647"),
        (["sweep", "--lrs", ",".join(["1"] * 300), "--regs", ",".join(["0"] * 300)], "a sweep of 300 x 300"),
    ],
)
def test_no_silent_options_and_no_requests_past_the_limits(argv, words, tmp_path, capsys):
    """Issue 20.4 and 24.5: an option the command would ignore, or a request it cannot meet, is one line, exit 2."""
    from jaxopt_course.cli import main

    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("jaxopt-course: error: ") and words in err[0], err


def _a_value(action, tmp_path) -> list[str]:
    """Something an option accepts: nothing for a flag, a choice, a folder, or 1 (a count, a number, a seed)."""
    if action.nargs == 0:
        return []
    if action.choices:
        return [list(action.choices)[-1]]
    return [str(tmp_path)] if action.type is None else ["1"]


@pytest.mark.parametrize("row", cli.IGNORED, ids=lambda r: f"{r.command}-{r.option}-{'-'.join(r.when)}")
def test_every_ignored_option_of_the_table_is_refused_by_name(row, tmp_path, capsys):
    """Issue 20.4: each row of cli.IGNORED, given where it is ignored (its ``when``), is one line naming it, exit 2."""
    parser = cli.build_parser(only=row.command)
    sub = parser._subparsers._group_actions[0].choices[row.command]
    action = next(a for a in sub._actions if a.dest == row.option)
    when = [str(tmp_path) if w == "DIR" else w for w in row.when]
    argv = [row.command, *when, action.option_strings[0], *_a_value(action, tmp_path)]
    assert row.ignored(parser.parse_args(argv)), argv  # the example is a setting the row says ignores it
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"jaxopt-course: error: {action.option_strings[0]} has no effect here: {row.why}; drop it"]


def test_a_batch_above_n_is_refused_alike_by_train_and_sweep(capsys):
    """Issue 20.4: neither command cuts a batch larger than N silently; both say it in the same words."""
    lines = []
    for command in ("train", "sweep"):
        assert main([command, "--batch-size", "1258", "--steps", "3"]) == 2
        lines += capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]
    assert lines[0] == (
        "jaxopt-course: error: --batch-size 1258 is more than the 1257 training examples of digits: "
        "give at most 1257, or --full-batch for gradient descent on all of them"
    )
    assert main(["train", "--batch-size", "1257", "--steps", "2", "--json"]) == 0  # N itself is allowed
    assert json.loads(capsys.readouterr().out)["batch_size"] == 1257


@pytest.mark.slow
def test_gradcheck_defaults_make_a_meaningful_check_with_a_verdict(capsys):
    from jaxopt_course.cli import main

    assert main(["gradcheck", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["h"] == 1e-4 and report["num_checked"] == 650
    assert report["passed"] and report["verdict"] in ("good", "ok")
    assert report["diagnosis"] is None  # a passed check proves no mismatch: nothing to diagnose
    assert report["relative_error_definition"] == "|a - b| / max(|a|, |b|)"
    assert report["verdict_line"].startswith("verdict: ") and "1e-2" in report["verdict_line"]
    # --json keeps the numbers: the worst coordinates' own relative errors give the maximum.
    assert report["max_relative_error"] == max(w["relative_error"] for w in report["worst"])
    assert main(["gradcheck", "--loss", "softmax"]) == 0
    out = capsys.readouterr().out
    assert "relative error = |a - b| / max(|a|, |b|)" in out and "\n  verdict: " in out


@pytest.mark.slow
def test_the_digits_are_kept_on_disk_bit_for_bit_and_rebuilt_when_unreadable(tmp_path):
    from jaxopt_course.cache import cached_digits
    from jaxopt_course.data import load_digits

    calls = []

    def load():
        calls.append(1)
        return load_digits()

    env = {"XDG_CACHE_HOME": str(tmp_path)}
    made, kept = cached_digits(load, env), cached_digits(load, env)
    assert len(calls) == 1
    for split in ("train", "val", "test"):
        for a in ("X", "y"):
            got, want = getattr(getattr(kept, split), a), getattr(getattr(made, split), a)
            assert got.dtype == want.dtype and np.array_equal(got, want)
    assert kept.class_names == made.class_names and kept.image_shape == (8, 8, 1) and kept.dev is None
    np.testing.assert_array_equal(kept.mean, made.mean)
    [path] = (tmp_path / "jaxopt-course").glob("digits-*.npz")
    path.write_bytes(path.read_bytes()[:100])  # truncated: made again
    assert np.array_equal(cached_digits(load, env).train.X, made.train.X) and len(calls) == 2
    cached_digits(load, {**env, "JAXOPT_COURSE_NO_CACHE": "1"})
    assert len(calls) == 3


@pytest.mark.slow
def test_a_repeated_train_on_digits_imports_no_scikit_learn(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path), "JAXOPT_COURSE_NO_CACHE": ""}
    assert imported_by(["train", "--steps", "5", "--json"], **env) == "0 ['jax', 'sklearn']"
    assert imported_by(["train", "--steps", "5", "--json"], **env) == "0 ['jax']"
