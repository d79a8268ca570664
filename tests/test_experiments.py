"""The experiments and the lecture report, end to end in --quick mode on digits.

One quick lecture runs every experiment in-process (one JAX start, shared
compiled functions); the tests then read what it wrote: valid JSON, PNG
figures, a report whose every linked figure exists and is named, and numbers
that agree with independent references (NumPy restatements of the formulas,
closed forms, the JSON's own definitions).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"  # the entry-point scripts of a source checkout

from jaxopt_course.experiments import lecture  # noqa: E402

NAMES = [name for name, _, _ in lecture.SECTIONS]
FIGURES = {
    "landscape": ["landscape_1d.png", "landscape_2d.png"],
    "random_search": ["random_search.png"],
    "tea_temperature": ["tea_temperature.png"],
    "gradient_check": ["gradient_check.png"],
    "batch_size": ["batch_size.png"],
    "optimizers": ["optimizers.png"],
    "compare": ["compare_lr.png", "compare_gap.png", "compare_profile.png"],
    "sweep": ["sweep.png"],
    "weights": ["weights.png"],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def strict_json(path: Path):
    """json.load that refuses NaN/Infinity (not JSON, though Python writes them by default)."""

    def bad(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=bad)


@pytest.fixture(scope="module")
def quick_lecture(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("results")
    args = lecture.build_parser().parse_args(["--quick", "--out", str(out), "--progress", "off"])
    result = lecture.run(args, splits=digits)
    assert sorted(p.name for p in out.iterdir()) == ["quick"]  # a smoke test writes apart (issue 20.3)
    return out / "quick", result


# ---------------------------------------------------------------------------
# Every experiment: files
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_lecture_runs_every_experiment_in_the_lectures_order(quick_lecture):
    _, result = quick_lecture
    assert [item["name"] for item in result["items"]] == NAMES
    assert NAMES == [
        "landscape",
        "random_search",
        "tea_temperature",
        "gradient_check",
        "batch_size",
        "optimizers",
        "compare",
        "sweep",
        "weights",
    ]


@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.slow
def test_each_experiment_writes_valid_json_and_its_pngs(quick_lecture, name):
    out, result = quick_lecture
    folder = out / name
    config = strict_json(folder / "config.json")
    metrics = strict_json(folder / "metrics.json")
    assert config["experiment"] == name and config["quick"] is True
    assert metrics["seconds"] > 0
    item = next(i for i in result["items"] if i["name"] == name)
    assert sorted(f.name for f in item["figures"]) == sorted(FIGURES[name])
    for fig in FIGURES[name]:
        data = (folder / fig).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000, fig
    assert item["table"].startswith("|") and item["summary"].endswith(".")


@pytest.mark.slow
def test_the_report_names_every_figure_it_links_and_every_link_exists(quick_lecture):
    out, result = quick_lecture
    report = result["report"]
    assert report == out / "lecture" / "report.md"
    text = report.read_text()
    links = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)
    linked = {Path(target).name for _, target in links}
    assert linked == {f for figs in FIGURES.values() for f in figs}
    for alt, target in links:
        path = (report.parent / target).resolve()
        assert path.is_file(), target
        assert alt == path.name
        # Named in the text beside the image, not only in the link.
        assert f"*Figure `{path.name}`*" in text
    for item in result["items"]:
        assert f"## {NAMES.index(item['name']) + 1}. {item['title']}" in text
        assert item["summary"] in text and item["table"] in text
    # The table of contents points at the section headings (GitHub anchors).
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        heading = next(h for h in re.findall(r"^## (.+)$", text, flags=re.M) if lecture._anchor(h) == anchor)
        assert heading
    lecture_metrics = strict_json(out / "lecture" / "metrics.json")
    assert set(lecture_metrics["experiments"]) == set(NAMES)


# ---------------------------------------------------------------------------
# The numbers agree with independent references
# ---------------------------------------------------------------------------


def np_tea(t):  # toys.tea_cost restated: exp(u) - u - 1, u = (t - 60) / 10
    u = (np.asarray(t) - 60.0) / 10.0
    return np.exp(u) - u - 1.0


@pytest.mark.slow
def test_tea_records_every_tasted_point_and_its_cost(quick_lecture):
    out, _ = quick_lecture
    m = strict_json(out / "tea_temperature" / "metrics.json")
    smooth = m["toys"]["smooth"]
    t = np.asarray(smooth["grid"]["t"])
    np.testing.assert_allclose(smooth["grid"]["cost"], np_tea(t), rtol=1e-9, atol=1e-12)
    assert smooth["grid"]["best_t"] == 60.0  # the closed-form minimum is on the grid
    # The lecture's slope: (f(45) - f(40)) / 5 against f'(40) = (exp(-2) - 1) / 10.
    np.testing.assert_allclose(m["slope_at_40"]["finite_difference"], (np_tea(45.0) - np_tea(40.0)) / 5, rtol=1e-9)
    np.testing.assert_allclose(m["slope_at_40"]["exact"], (math.exp(-2.0) - 1) / 10, rtol=1e-9)
    # Each descent's path is the cost curve evaluated along it.
    for d in smooth["descents"]:
        np.testing.assert_allclose(d["path_cost"], np_tea(d["path_t"]), rtol=1e-9, atol=1e-12)
    # The iced-tea valley traps the small step started at 5 C; exhaustive search is not fooled.
    minima = m["toys"]["local_minima"]
    trapped = next(d for d in minima["descents"] if d["start"] == 5.0 and d["step_size"] == 5.0)
    assert 8.0 < trapped["final_t"] < 13.0
    assert abs(minima["grid"]["best_t"] - 60.0) <= 2.5


@pytest.mark.slow
def test_random_search_curves_and_budgets(quick_lecture):
    out, _ = quick_lecture
    config = strict_json(out / "random_search" / "config.json")
    m = strict_json(out / "random_search" / "metrics.json")
    few, many, local, sgd = m["strategies"]
    for st in (few, many, local):
        assert np.all(np.diff(st["curve"]) <= 0)  # the running best never goes up
    assert many["train_loss"] <= few["train_loss"]  # the first trials are a prefix of the longer run
    n = config["num_train"]
    assert many["examples_touched"] == config["budget"] * n
    assert sgd["examples_touched"] == config["budget"] * config["batch_size"]
    # Following the gradient beats guessing, even with the quick budget.
    assert sgd["test_accuracy"] > many["test_accuracy"] + 0.2


@pytest.mark.slow
def test_gradient_check_agrees_in_float64_and_the_study_finds_the_roundoff_floor(quick_lecture):
    out, _ = quick_lecture
    m = strict_json(out / "gradient_check" / "metrics.json")
    checks = {(c["loss"], c["method"], c["dtype"]): c for c in m["checks"]}
    assert len(checks) == 8
    assert checks["softmax", "central", "float64"]["max_relative_error"] < 1e-5
    assert checks["svm", "central", "float64"]["max_relative_error_away_from_kinks"] < 1e-5
    # float32 at h = 1e-4 is limited by round-off, not by the formula.
    assert (
        checks["softmax", "central", "float32"]["max_relative_error"]
        > 100 * checks["softmax", "central", "float64"]["max_relative_error"]
    )
    assert m["jax_grad_vs_hand_max_relative_error_float64"]["softmax"] < 1e-10
    # The verdicts: float64 central differences pass on CS231n's scale, float32 at h = 1e-4 does not,
    # and its hint blames round-off.
    assert checks["softmax", "central", "float64"]["passed"] and checks["svm", "central", "float64"]["passed"]
    assert not checks["softmax", "central", "float32"]["passed"]
    assert "float32 round-off" in checks["softmax", "central", "float32"]["hint"]
    study = m["study"]
    # Round-off eps/h: the best step is larger in float32 than in float64, for both formulas.
    for method in ("forward", "central"):
        assert study["best_h"]["float32"][method] > study["best_h"]["float64"][method]
    assert study["best_error"]["float64"]["central"] < study["best_error"]["float64"]["forward"]


@pytest.mark.slow
def test_batch_size_bookkeeping(quick_lecture):
    out, _ = quick_lecture
    config = strict_json(out / "batch_size" / "config.json")
    m = strict_json(out / "batch_size" / "metrics.json")
    assert m["runs"][0]["batch_size"] is None and m["runs"][0]["examples_per_step"] == config["num_train"]
    for r in m["runs"]:
        per = r["examples_per_step"]
        assert r["examples_seen"] == [t * per for t in r["eval_steps"]]
        assert r["eval_steps"][0] == 0 and r["eval_steps"][-1] == config["steps"]
        assert len(r["train_loss"]) == len(r["eval_steps"])
        assert r["train_loss"][-1] < r["train_loss"][0]
        assert r["seconds_per_step"] > 0
        assert r["train_loss"][r["eval_steps"].index(r["steps_to_target"])] <= m["target_loss"]


@pytest.mark.slow
def test_sweep_picks_the_best_validation_model(quick_lecture):
    out, _ = quick_lecture
    config = strict_json(out / "sweep" / "config.json")
    m = strict_json(out / "sweep" / "metrics.json")
    val = np.array([[np.nan if v is None else v for v in row] for row in m["val_accuracy"]])
    assert val.shape == (len(config["learning_rates"]), len(config["regs"]))
    i, j = np.unravel_index(np.nanargmax(val), val.shape)
    assert (m["best"]["lr"], m["best"]["reg"]) == (config["learning_rates"][i], config["regs"][j])
    assert m["best"]["val_accuracy"] == pytest.approx(val[i, j], abs=1e-6)


@pytest.mark.slow
def test_weights_templates_span_0_to_255(quick_lecture):
    out, _ = quick_lecture
    m = strict_json(out / "weights" / "metrics.json")
    t = np.asarray(m["templates"])
    assert t.shape == (10, 8, 8, 1)
    assert t.min() == 0 and t.max() == 255  # one min and max over all templates (CS231n)


@pytest.mark.slow
def test_landscape_slices_pass_through_W(quick_lecture):
    out, _ = quick_lecture
    m = strict_json(out / "landscape" / "metrics.json")
    a = np.asarray(m["a_1d"])
    middle = int(np.argmin(np.abs(a)))
    assert a[middle] == 0.0
    for loss in ("svm", "softmax"):
        for part in ("one_example", "batch"):
            o = m["losses"][loss][part]
            np.testing.assert_allclose(o["curve_1d"][middle], o["at_W"], rtol=1e-5)
            grid = np.asarray(o["grid_2d"])
            c = grid.shape[0] // 2
            np.testing.assert_allclose(grid[c, c], o["at_W"], rtol=1e-5)
    # One example's SVM slice is piecewise linear: between kinks the second difference vanishes,
    # so at most two grid intervals per kink can bend.
    curve = np.asarray(m["losses"]["svm"]["one_example"]["curve_1d"], dtype=np.float64)
    bends = np.abs(np.diff(curve, 2)) > 1e-4 * np.max(np.abs(curve))
    assert np.sum(bends) <= 2 * m["svm_kinks_1d"]["one_example"]


# ---------------------------------------------------------------------------
# Templates: CS231n's rescaling and CIFAR's channel-major rows
# ---------------------------------------------------------------------------


def test_templates_rescale_with_one_min_and_max_and_unpack_channel_major_rows():
    from jaxopt_course.experiments import weights

    # Two classes, 2x2 RGB images: a row is 4 R values, 4 G values, 4 B values, then the bias.
    W = np.zeros((2, 13))
    W[0, :4] = [0.0, 1.0, 2.0, 3.0]  # red channel of class 0
    W[1, 8:12] = 4.0  # blue channel of class 1
    W[:, 12] = 100.0  # the bias: dropped, or it would set the max
    images = weights.templates(W, (2, 2, 3))
    assert images.shape == (2, 2, 2, 3) and images.dtype == np.uint8
    # 255 * (w - 0) / (4 - 0), over all templates at once.
    np.testing.assert_array_equal(images[0, :, :, 0], [[0, 64], [128, 191]])
    np.testing.assert_array_equal(images[0, :, :, 1:], 0)
    np.testing.assert_array_equal(images[1, :, :, 2], 255)


# ---------------------------------------------------------------------------
# Scripts and the command line
# ---------------------------------------------------------------------------


def run_script(*args, timeout=240):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_a_script_runs_alone_and_prints_its_table(tmp_path):
    proc = run_script("experiments/tea_temperature.py", "--quick", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "| cost" in proc.stdout and "exhaustive" in proc.stdout
    assert (tmp_path / "quick" / "tea_temperature" / "tea_temperature.png").is_file()
    assert not (tmp_path / "tea_temperature").exists()


@pytest.mark.slow
def test_a_smoke_test_never_overwrites_a_full_run_and_the_full_report_shows_only_full_runs(tmp_path, digits):
    """Issue 20.3: --quick writes to <out>/quick/<name>/; the report of a full lecture links only full runs."""

    def lecture_run(*flags):
        argv = ["--only", "tea_temperature", "--out", str(tmp_path), "--progress", "off", *flags]
        return lecture.run(lecture.build_parser().parse_args(argv), splits=digits)

    full = lecture_run()
    before = (tmp_path / "tea_temperature" / "metrics.json").read_bytes()
    quick = lecture_run("--quick")
    assert quick["report"] == tmp_path / "quick" / "lecture" / "report.md"
    assert (tmp_path / "tea_temperature" / "metrics.json").read_bytes() == before  # the full run is untouched
    assert strict_json(tmp_path / "quick" / "tea_temperature" / "config.json")["quick"] is True
    assert full["report"] == tmp_path / "lecture" / "report.md"
    text = full["report"].read_text()
    assert "Quick mode" not in text and "--quick" not in text
    links = [target for _, target in re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)]
    assert links and all(
        (full["report"].parent / t).resolve().parent == (tmp_path / "tea_temperature").resolve() for t in links
    ), links
    assert strict_json(tmp_path / "tea_temperature" / "config.json")["quick"] is False


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["experiments/sweep.py", "--data", "mnist"], "--data"),
        (["experiments/lecture.py", "--only", "nope", "--out", "OUT"], "--only"),
        (["experiments/random_search.py", "--data", "cifar10", "--data-dir", "MISSING"], "no CIFAR-10 at"),
    ],
)
def test_scripts_exit_2_with_one_line_on_bad_arguments(tmp_path, args, pattern):
    args = [a.replace("OUT", str(tmp_path)).replace("MISSING", str(tmp_path / "missing")) for a in args]
    proc = run_script(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_tea_sweep_and_lecture(tmp_path, capsys):
    from jaxopt_course.cli import main

    assert main(["tea", "--toy", "local_minima", "--start", "5", "--json"]) == 0
    tea = json.loads(capsys.readouterr().out)
    assert abs(tea["exhaustive"]["best_temperature"] - 60.0) <= 0.5
    assert 8.0 < tea["gradient_descent"]["final_temperature"] < 13.0  # the iced-tea valley

    assert main(["sweep", "--lrs", "0.1,1", "--regs", "0,0.001", "--steps", "50", "--json"]) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert len(sweep["val_accuracy"]) == 2 and len(sweep["val_accuracy"][0]) == 2
    assert sweep["best"]["test_accuracy"] > 0.5

    assert main(["lecture", "--quick", "--only", "tea_temperature", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["report"]).is_file() and result["experiments"] == ["tea_temperature"]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["sweep", "--lrs", "0.1,-1"], "--lrs"),
        (["tea", "--toy", "oolong"], "--toy"),
        (["lecture", "--data", "cifar10"], "--data-dir"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(args, pattern):
    proc = run_script("-m", "jaxopt_course", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and pattern in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["sweep", "tea", "lecture"])
def test_cli_help_in_the_lectures_words(command):
    from jaxopt_course.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices[command].format_help()
    words = {"sweep": "regularization", "tea": "gradient descent", "lecture": "report"}[command]
    assert words in text and "--json" in text
