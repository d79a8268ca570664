"""The command line: the main job's JSON, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("args, pattern", [
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--loss", "hinge"], "--loss"),
    (["train", "--data", "mnist"], "--data"),
    (["train", "--batch-size", "0"], "--batch-size"),
    (["train", "--data", "cifar10"], "--data-dir"),
    (["nope"], "invalid choice"),
])
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
