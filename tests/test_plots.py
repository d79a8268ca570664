"""plots.py: every figure is drawn from a saved metrics.json alone, labelled, titled, with legends.

The metrics here are written by hand (small, in each experiment's format),
so these tests need no training and check the plots on their own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxopt_course import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tea_toy(shift):
    t = np.linspace(0, 100, 11)
    path = np.linspace(20, 60 + shift, 6)
    return {
        "curve": {"t": t.tolist(), "cost": ((t - 60) ** 2 / 100).tolist()},
        "grid": {
            "t": t.tolist(),
            "cost": ((t - 60) ** 2 / 100).tolist(),
            "best_t": 60.0,
            "best_cost": 0.0,
            "evaluations": 11,
        },
        "true_best": {"t": 60.0, "cost": 0.0},
        "descents": [
            {
                "start": 20.0,
                "step_size": 5.0,
                "steps": 5,
                "path_t": path.tolist(),
                "path_cost": ((path - 60) ** 2 / 100).tolist(),
                "final_t": float(path[-1]),
                "final_cost": float((path[-1] - 60) ** 2 / 100),
            }
        ],
    }


def _strategy(name, kind):
    return {
        "name": name,
        "curve_steps": [1, 2, 3],
        "curve": [9.0, 8.0, 7.5],
        "curve_kind": kind,
        "test_accuracy": 0.2,
        "cs231n_test_accuracy": 0.155,
    }


def _check(loss, method, dtype, err):
    return {"loss": loss, "method": method, "dtype": dtype, "max_relative_error": err, "num_kinks": 1}


def _compare_run(name, lr_index, diverged_tuning, shift):
    """One optimizer's entry of a comparison (4 lrs, 2 tuning and 3 evaluation seeds, steps 0, 10, 20)."""
    lrs = [0.01, 0.1, 1.0, 10.0]
    gap = [[1.0, 0.1 + shift, 0.01 + shift] for _ in range(3)]
    entry = {
        "optimizer": name,
        "learning_rates": lrs,
        "lr_index": lr_index,
        "diverged_by_lr": {"tuning": diverged_tuning, "eval": diverged_tuning},
        "val_by_lr": {"per_seed": [[0.5, 0.52], [0.8, 0.82], [0.9, 0.88], [0.1, 0.1]]},
        "eval_final_objective_by_lr": {
            "per_seed": [[1.3, 1.31, 1.32], [1.2, 1.21, 1.2], [1.1, 1.1, 1.12], [9.0, 9.0, 9.0]]
        },
    }
    if lr_index < 0:
        return {**entry, "lr": None}
    return {
        **entry,
        "lr": lrs[lr_index],
        "diverged_eval_seeds": 0,
        "gap": {
            "steps": [0, 10, 20],
            "per_seed": gap,
            "seconds_per_seed": [[0.0, 0.1, 0.2]] * 3,
            "seconds": [0.0, 0.1, 0.2],
            "mean": gap[0],
        },
        "test_accuracy": {"mean": 0.9, "low": 0.88, "high": 0.92, "per_seed": [0.89, 0.9, 0.91]},
        "bootstrap": {"test_accuracy": {"low": 0.87, "high": 0.93}},
    }


def _compare():
    runs = [
        _compare_run("sgd", 2, [False, False, False, True], 0.0),  # lr 10 diverged: never chosen
        _compare_run("adam", 1, [False, False, False, False], 0.01),
        _compare_run("rmsprop", -1, [True, True, True, True], 0.0),
    ]  # every lr diverged: no choice
    problem = {
        "problem": "digits softmax reg 0.001",
        "runs": runs,
        "config": {"num_steps": 20, "eval_every": 10, "eval_seeds": [2, 3, 4]},
        "optimum": {"value": 0.3, "kind": "optimum", "resolution": 3e-8},
    }
    taus = [1.0, 2.0, 4.0]
    profile = {
        "optimizers": ["sgd", "adam", "rmsprop"],
        "problems": [problem["problem"]],
        "taus": taus,
        "rho_mean": [[1, 1, 1], [0, 1, 1], [0, 0, 0]],
        "rho_low": [[1, 1, 1], [0, 0, 1], [0, 0, 0]],
        "rho_high": [[1, 1, 1], [0, 1, 1], [0, 0, 0]],
    }
    return (
        {"experiment": "compare", "data": "digits", "eval_seeds": [2, 3, 4], "target_fraction": 0.01},
        {"problems": [problem], "claims": [], "profile": {"steps_to_target": profile, "seconds_to_target": profile}},
    )


RESULTS = {
    "compare": _compare(),
    "tea_temperature": (
        {"experiment": "tea_temperature", "gd_steps": 5},
        {"toys": {"smooth": _tea_toy(0.0), "local_minima": _tea_toy(-20.0)}},
    ),
    "landscape": (
        {"experiment": "landscape", "data": "digits", "batch": 4},
        {
            "a_1d": [-1.0, 0.0, 1.0],
            "a_2d": [-1.0, 0.0, 1.0],
            "svm_kinks_1d": {"one_example": 1, "batch": 3},
            "losses": {
                name: {
                    part: {"curve_1d": [2.0, 1.0, 2.0], "grid_2d": np.eye(3).tolist()}
                    for part in ("one_example", "batch")
                }
                for name in ("svm", "softmax")
            },
        },
    ),
    "random_search": (
        {"experiment": "random_search", "data": "cifar10", "budget": 3, "loss": "svm"},
        {
            "chance": 0.1,
            "strategies": [_strategy("random search", "best loss so far"), _strategy("SGD", "minibatch loss")],
        },
    ),
    "gradient_check": (
        {"experiment": "gradient_check", "h": 1e-4, "num_checks": 10, "study": {"loss": "softmax"}},
        {
            "study": {
                "h": [1e-6, 1e-4, 1e-2],
                "error": {
                    "float32": {"forward": [1e-1, 1e-3, 1e-2], "central": [1e-1, 1e-4, 1e-4]},
                    "float64": {"forward": [1e-9, 1e-5, 1e-2], "central": [1e-9, 1e-9, 1e-5]},
                },
                "theory_h": {
                    "float32": {"forward": 3e-4, "central": 5e-3},
                    "float64": {"forward": 1.5e-8, "central": 6e-6},
                },
            },
            "checks": [_check("svm", "forward", "float32", 0.5), _check("softmax", "central", "float64", 1e-9)],
        },
    ),
    "batch_size": (
        {"experiment": "batch_size", "lr": 0.5, "steps": 10, "loss": "softmax"},
        {
            "target_loss": 1.0,
            "runs": [
                {
                    "label": "GD",
                    "batch_size": None,
                    "eval_steps": [0, 5, 10],
                    "train_loss": [2.3, 1.0, 0.5],
                    "examples_seen": [0, 500, 1000],
                    "seconds_per_step": 1e-4,
                },
                {
                    "label": "SGD, batch 8",
                    "batch_size": 8,
                    "eval_steps": [0, 5, 10],
                    "train_loss": [2.3, 1.2, 0.6],
                    "examples_seen": [0, 40, 80],
                    "seconds_per_step": 1e-5,
                },
            ],
        },
    ),
    "optimizers": (
        {"experiment": "optimizers", "learning_rates": [0.1, 1.0], "steps": 3, "batch_size": 8},
        {
            "runs": [
                {
                    "optimizer": name,
                    "lr": 0.1,
                    "val_by_lr": [0.5, None],
                    "curve_steps": [1, 2, 3],
                    "curve": [2.0, 1.0, 0.5],
                    "val_accuracy": 0.5,
                    "test_accuracy": 0.4,
                }
                for name in ("sgd", "adam")
            ]
        },
    ),
    "sweep": (
        {
            "experiment": "sweep",
            "learning_rates": [0.1, 1.0],
            "regs": [0.0, 0.5],
            "models": 4,
            "steps": 9,
            "loss": "svm",
        },
        {
            "val_accuracy": [[0.5, 0.6], [0.7, None]],
            "train_accuracy": [[0.55, 0.65], [0.8, None]],
            "diverged": [[False, False], [False, True]],
            "best": {"lr": 1.0, "reg": 0.0, "test_accuracy": 0.66},
        },
    ),
    "weights": (
        {"experiment": "weights", "loss": "softmax", "data": "cifar10"},
        {
            "class_names": ["cat", "dog", "ship"],
            "test_accuracy": 0.3,
            "templates": np.arange(3 * 2 * 2 * 3).reshape(3, 2, 2, 3).tolist(),
        },
    ),
}


def write(folder, config, metrics):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_each_plot_writes_a_png_from_a_saved_metrics_json(tmp_path, name):
    folder = write(tmp_path / name, *RESULTS[name])
    paths = getattr(plots, f"plot_{name}")(folder)
    assert paths and all(p.parent == folder and p.suffix == ".png" for p in paths)
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 2_000
    # plot_results finds the same drawing by the config's "experiment".
    assert [p.name for p in plots.plot_results(folder)] == [p.name for p in paths]


@pytest.mark.parametrize("name", sorted(set(RESULTS) - {"weights"}))
def test_every_chart_has_axis_labels_a_title_and_a_legend(name):
    config, metrics = json.loads(json.dumps(RESULTS[name]))  # as read back from disk
    figures = plots.DRAWERS[name](config, metrics)
    for fname, fig in figures.items():
        assert fig.get_suptitle(), fname
        charts = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert charts
        for ax in charts:
            assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title(), (fname, ax.get_title())
        has_legend = any(ax.get_legend() is not None for ax in charts)
        has_colorbar = len(fig.axes) > len(charts)
        assert has_legend or has_colorbar, fname


def test_weights_shows_each_saved_template_under_its_class_name():
    config, metrics = RESULTS["weights"]
    (fig,) = plots.draw_weights(config, metrics).values()
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == ["cat", "dog", "ship"]
    for ax, template in zip(shown, metrics["templates"], strict=True):
        np.testing.assert_array_equal(np.asarray(ax.get_images()[0].get_array()), np.asarray(template, np.uint8))
    assert "30.0 %" in fig.get_suptitle()


def test_sweep_marks_diverged_cells_and_the_best_model():
    config, metrics = RESULTS["sweep"]
    (fig,) = plots.draw_sweep(config, metrics).values()
    val_ax = next(ax for ax in fig.axes if ax.get_title() == "validation accuracy")
    texts = {t.get_text(): t for t in val_ax.texts}
    assert "div." in texts and "70.0" in texts and "50.0" in texts
    assert texts["70.0"].get_color() == "red"  # the best on validation: lr 1.0, reg 0.0


def test_compare_hatches_diverged_models_which_are_never_the_choice():
    """Issue 20.1: a diverged lr is hatched (tuning and evaluation panels); an optimizer with none left, its row."""
    config, metrics = json.loads(json.dumps(RESULTS["compare"]))
    figures = plots.draw_compare(config, metrics)
    val_ax, gap_ax = figures["compare_lr.png"].axes[:2]
    for ax in (val_ax, gap_ax):  # sgd's lr 10 and rmsprop's four lrs: 5 hatched bands, each around its lr
        bands = [patch for patch in ax.patches if patch.get_hatch() == "xx"]
        assert len(bands) == 5
        sgd_band = next(b for b in bands if b.get_edgecolor()[:3] == plots.to_rgba(plots.COLORS[0])[:3])
        low, high = (sgd_band.get_x(), sgd_band.get_x() + sgd_band.get_width())
        assert low < 10.0 < high and low > 1.0  # around lr 10 alone, not its chosen neighbour
    assert "sgd diverged (never chosen)" in [t.get_text() for t in val_ax.get_legend().get_texts()]
    # the circles mark the choices: sgd at lr 1 (index 2), adam at 0.1; rmsprop has none
    circles = [c for c in val_ax.collections if c.get_facecolor().size == 0 or c.get_facecolor()[0][3] == 0]
    assert sorted(float(c.get_offsets()[0][0]) for c in circles) == [0.1, 1.0]
    test_ax = figures["compare_gap.png"].axes[2]
    assert [t.get_text() for t in test_ax.get_yticklabels()] == ["sgd", "adam", "rmsprop"]
    rows = [patch for patch in test_ax.patches if patch.get_hatch() == "//"]
    assert len(rows) == 1 and "every lr diverged" in [t.get_text() for t in test_ax.get_legend().get_texts()]


def test_missing_results_and_unknown_experiments_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        plots.plot_sweep(tmp_path)
    write(tmp_path / "mystery", {"experiment": "mystery"}, {})
    with pytest.raises(ValueError, match="no figures known for experiment 'mystery'"):
        plots.plot_results(tmp_path / "mystery")


# ---------------------------------------------------------------------------
# The figures' axes fit their data (issue 13, point 8)
# ---------------------------------------------------------------------------


def test_robust_limits_ignore_a_few_outliers():
    values = [88.0, 90.0, 91.0, 92.0, 93.0, 95.0, 10.0, float("nan")]
    q1, q3 = np.percentile([v for v in values if not np.isnan(v)], [25, 75])
    assert plots.robust_limits(values) == (pytest.approx(q1 - 1.5 * (q3 - q1)), 95.0)
    assert plots.robust_limits([3.0, 1.0]) == (1.0, 3.0)  # too few values for quartiles: min and max


def test_sweep_colour_scale_is_not_stretched_by_diverged_or_outlying_cells():
    lrs, regs = [0.01, 0.1, 1.0, 10.0], [0.0, 0.1, 1.0]
    val = [[0.90, 0.91, 0.92], [0.93, 0.94, 0.95], [0.96, 0.95, 0.94], [0.10, 0.93, 0.5]]
    diverged = [[False] * 3, [False] * 3, [False] * 3, [False, False, True]]  # 0.5: finite but diverged
    config = {"experiment": "sweep", "learning_rates": lrs, "regs": regs, "models": 12, "steps": 9, "loss": "svm"}
    metrics = {
        "val_accuracy": val,
        "train_accuracy": val,
        "diverged": diverged,
        "best": {"lr": 1.0, "reg": 0.0, "test_accuracy": 0.95},
    }
    (fig,) = plots.draw_sweep(config, metrics).values()
    val_ax = next(ax for ax in fig.axes if ax.get_title() == "validation accuracy")
    vmin, vmax = val_ax.get_images()[0].get_clim()
    assert vmax == pytest.approx(96.0) and vmin > 80.0  # not 10 % (an outlier) nor 50 % (diverged)
    image = val_ax.get_images()[0].get_array()
    assert np.ma.is_masked(image[3, 2])  # the diverged cell is not coloured ...
    assert sum(p.get_hatch() == "///" for p in val_ax.patches) == 1  # ... but hatched,
    texts = [t.get_text() for t in val_ax.texts]
    assert "div." in texts and "10.0" in texts  # and the clipped outlier still shows its value
    assert "1 diverged" in fig.get_suptitle()


def test_accuracy_bars_axis_fits_accuracies_near_a_third():
    config, metrics = json.loads(json.dumps(RESULTS["optimizers"]))
    for r, acc in zip(metrics["runs"], (0.33, 0.35), strict=True):
        r["test_accuracy"] = acc
    (fig,) = plots.draw_optimizers(config, metrics).values()
    bars = next(ax for ax in fig.axes if ax.get_title().startswith("Test accuracy"))
    low, high = bars.get_xlim()
    assert low == 0 and 35 < high < 50
    config, metrics = json.loads(json.dumps(RESULTS["random_search"]))  # CS231n's 15.5 % mark and chance shown
    (fig,) = plots.draw_random_search(config, metrics).values()
    bars = next(ax for ax in fig.axes if ax.get_title() == "Test accuracy")
    assert 20 < bars.get_xlim()[1] < 40


def test_tea_figure_shows_every_start_including_the_hot_one():
    toy = _tea_toy(0.0)

    def descent(start):
        path = np.linspace(start, 60, 6)
        return {
            "start": start,
            "step_size": 5.0,
            "steps": 5,
            "path_t": path.tolist(),
            "path_cost": ((path - 60) ** 2 / 100).tolist(),
            "final_t": 60.0,
            "final_cost": 0.0,
        }

    toy["descents"] = [descent(40.0), descent(90.0)]  # costs 4 and 9: the hot start is the highest
    (fig,) = plots.draw_tea_temperature(
        {"experiment": "tea_temperature", "gd_steps": 5}, {"toys": {"smooth": toy}}
    ).values()
    (ax,) = fig.axes
    assert ax.get_ylim()[1] > 9.0


def test_random_search_keeps_a_shorter_search_visible_on_the_longer_one():
    long = {
        "name": "random search (6 trials)",
        "curve_steps": [1, 2, 3, 4, 5, 6],
        "curve": [9.0, 8.0, 8.0, 7.5, 7.5, 7.0],
        "curve_kind": "best loss so far",
        "test_accuracy": 0.2,
    }
    short = dict(long, name="random search (3 trials)", curve_steps=[1, 2, 3], curve=[9.0, 8.0, 8.0])
    (fig,) = plots.draw_random_search(
        {"experiment": "random_search", "budget": 6}, {"chance": 0.1, "strategies": [short, long]}
    ).values()
    ax = next(ax for ax in fig.axes if ax.get_title() == "Loss reached")
    lines = {line.get_label(): line for line in ax.get_lines()}
    thin = lines["random search (3 trials): best loss so far"]
    wide = lines["random search (6 trials): best loss so far"]
    assert thin.get_zorder() > wide.get_zorder() and thin.get_linewidth() < wide.get_linewidth()
    ends = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert sorted(float(e.get_xdata()[0]) for e in ends) == [3.0, 6.0]  # where each search stopped
