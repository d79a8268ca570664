"""Figures from saved results: each function reads one ``results/<name>/`` folder.

Every experiment in ``experiments/`` writes ``config.json`` and
``metrics.json``; the functions here read those files -- nothing else, no
maths, no training -- and write PNGs beside them, so any figure can be redrawn
from disk::

    from jaxopt_course import plots
    plots.plot_results("results/sweep")        # by the folder's experiment
    plots.plot_sweep("results/sweep")          # or by name

Each ``plot_<experiment>(result_dir)`` returns the paths of the PNGs it
wrote; ``draw_<experiment>(config, metrics)`` returns the unsaved figures
(``{file name: Figure}``), for a notebook or a test. Matplotlib is used through its object API (``Figure`` + Agg), so no
global backend or pyplot state is touched and it runs headless.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle as _Rectangle

from .files import atomic_write_bytes, read_json

DPI = 110
#: One colour per curve, in order (matplotlib's default cycle, colour-blind friendlier order).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


# ---------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------


def load_results(result_dir) -> tuple[dict, dict]:
    """``(config, metrics)`` of a results folder.

    Raises:
      FileNotFoundError: the folder has no ``metrics.json`` (run the experiment first).
    """
    result_dir = Path(result_dir)
    metrics_path = result_dir / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"no metrics.json in {result_dir}: run the experiment that writes it first")
    config_path = result_dir / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    return config, read_json(metrics_path)


def _save(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def _figure(width: float, height: float) -> Figure:
    """A figure with constrained layout (titles, colour bars and legends never overlap)."""
    return Figure(figsize=(width, height), layout="constrained")


def _floats(values) -> np.ndarray:
    """JSON lists (``None`` for NaN/Inf) as a float array with NaN."""
    return np.array(
        [np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], dtype=float
    ).reshape(np.shape(values))


def _data_title(config: dict) -> str:
    data = config.get("data")
    return "" if not data else f" ({'CIFAR-10' if data == 'cifar10' else data})"


# ---------------------------------------------------------------------------
# 1. The tea-temperature toy
# ---------------------------------------------------------------------------

TEA_TITLES = {"smooth": "smooth: one minimum", "local_minima": "several minima", "wiggly": "wiggles"}


def draw_tea_temperature(config: dict, metrics: dict) -> dict:
    """``tea_temperature.png``: each cost curve with every point exhaustive search tasted
    and the paths of gradient descent (the smallest step size) from each start."""
    toys = metrics["toys"]
    fig = _figure(5.2 * len(toys), 5.0)
    axes = fig.subplots(1, len(toys), squeeze=False)[0]
    for ax, (name, toy) in zip(axes, toys.items(), strict=True):
        ax.plot(toy["curve"]["t"], toy["curve"]["cost"], color="0.55", lw=1.5, label="cost", zorder=1)
        grid = toy["grid"]
        ax.scatter(
            grid["t"],
            grid["cost"],
            s=9,
            color="black",
            zorder=2,
            label=f"exhaustive search ({grid['evaluations']} tastings)",
        )
        ax.scatter(
            [grid["best_t"]],
            [grid["best_cost"]],
            s=220,
            marker="*",
            color="gold",
            edgecolor="black",
            zorder=5,
            label=f"best tasted: {grid['best_t']:.1f} C",
        )
        small_step = min(d["step_size"] for d in toy["descents"])
        for i, d in enumerate(x for x in toy["descents"] if x["step_size"] == small_step):
            color = COLORS[(i + 1) % len(COLORS)]
            ax.plot(d["path_t"], d["path_cost"], "-", color=color, lw=1.2, alpha=0.8, zorder=3)
            ax.scatter(
                [d["path_t"][0]], [d["path_cost"][0]], s=36, marker="o", facecolor="white", edgecolor=color, zorder=4
            )
            ax.scatter(
                [d["final_t"]],
                [d["final_cost"]],
                s=70,
                marker="X",
                color=color,
                edgecolor="black",
                zorder=4,
                label=f"gradient descent {d['start']:g} C -> {d['final_t']:.1f} C",
            )
        ax.set_title(f"{TEA_TITLES.get(name, name)}")
        ax.set_xlabel("tea temperature (C)")
        ax.set_ylabel("cost (suffering)")
        low = float(np.nanmin(toy["curve"]["cost"]))
        # Every start of gradient descent (the 90 C one too) inside the axes; the cost of the hottest
        # tastings (above 85 C) may leave through the top.
        top = 1.12 * max(float(d["path_cost"][0]) for d in toy["descents"]) + 0.3
        ax.set_ylim(low - 0.04 * (top - low) - 0.1, top)
        ax.legend(fontsize=7, loc="upper center")
    fig.suptitle(
        f"Exhaustive search vs gradient descent (step size {small_step:g}, "
        f"{config.get('gd_steps', '?')} steps; o start, X end)"
    )
    return {"tea_temperature.png": fig}


# ---------------------------------------------------------------------------
# The loss landscape
# ---------------------------------------------------------------------------


def draw_landscape(config: dict, metrics: dict) -> dict:
    """``landscape_1d.png`` (L(W + a W1) for one example and a batch, SVM and softmax) and
    ``landscape_2d.png`` (L(W + a W1 + b W2): SVM one example, SVM batch, softmax batch)."""
    losses = metrics["losses"]
    a = _floats(metrics["a_1d"])
    batch = config.get("batch", "a batch of")
    parts = (("one_example", "one example"), ("batch", f"{batch} examples"))
    fig = _figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, (part, label) in zip(axes, parts, strict=True):
        for i, name in enumerate(("svm", "softmax")):
            if name in losses:
                ax.plot(
                    a,
                    _floats(losses[name][part]["curve_1d"]),
                    color=COLORS[i],
                    lw=1.6,
                    label=f"{name}" + (f" ({metrics['svm_kinks_1d'][part]} kinks)" if name == "svm" else ""),
                )
        ax.axvline(0.0, color="0.7", lw=0.8, ls=":")
        ax.set_title(f"1-D slice, {label}")
        ax.set_xlabel("a  (W + a W1)")
        ax.set_ylabel("loss")
        ax.legend()
    fig.suptitle(f"The loss along a random direction through a random W{_data_title(config)}")
    figures = {"landscape_1d.png": fig}

    a2 = _floats(metrics["a_2d"])
    panels = [("svm", "one_example"), ("svm", "batch"), ("softmax", "batch")]
    panels = [(n, p) for n, p in panels if n in losses]
    fig = _figure(4.6 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    extent = (a2[0], a2[-1], a2[0], a2[-1])
    for ax, (name, part) in zip(axes, panels, strict=True):
        grid = _floats(losses[name][part]["grid_2d"])  # grid[i, j]: a = a2[i], b = a2[j]
        im = ax.imshow(grid.T, origin="lower", extent=extent, cmap="jet", aspect="equal")
        fig.colorbar(im, ax=ax, shrink=0.85, label="loss")
        ax.set_title(f"{name}, {dict(parts)[part]}")
        ax.set_xlabel("a  (along W1)")
        ax.set_ylabel("b  (along W2)")
    fig.suptitle(f"2-D slices L(W + a W1 + b W2) (blue low, red high){_data_title(config)}")
    figures["landscape_2d.png"] = fig
    return figures


# ---------------------------------------------------------------------------
# Random search, random local search, SGD
# ---------------------------------------------------------------------------


def _accuracy_bars(ax, names, accuracies, *, ylabel, chance=None, references=None, xlabel="test accuracy"):
    """Horizontal bars of accuracies (top to bottom in the given order), values printed on them."""
    ypos = np.arange(len(names))[::-1]
    acc = np.asarray([np.nan if a is None else a for a in accuracies], dtype=float)
    ax.barh(ypos, 100 * np.nan_to_num(acc), color=[COLORS[i % len(COLORS)] for i in range(len(names))])
    for yp, a in zip(ypos, acc, strict=True):
        if np.isfinite(a):
            ax.text(100 * a + 1, yp, f"{100 * a:.1f} %", va="center", fontsize=8)
    if references:
        ref = [(yp, r) for yp, r in zip(ypos, references, strict=True) if r is not None]
        if ref:
            ax.scatter(
                [100 * r for _, r in ref],
                [yp for yp, _ in ref],
                marker="|",
                s=400,
                color="black",
                zorder=5,
                label="CS231n",
            )
    if chance is not None:
        ax.axvline(100 * chance, color="0.4", ls="--", lw=1, label=f"chance ({100 * chance:.0f} %)")
    ax.set_yticks(ypos)
    ax.set_yticklabels(names)
    # Bars start at 0 (their lengths are the accuracies); the axis ends a little past the largest value
    # shown (bar, reference or chance) so that 33 % bars are not squeezed into a 0-100 % axis.
    shown = [a for a in acc if np.isfinite(a)] + [r for r in (references or []) if r is not None]
    shown += [chance] if chance is not None else []
    ax.set_xlim(0, min(110.0, 100 * max(shown, default=1.0) * 1.18 + 2))
    ax.set_xlabel(f"{xlabel} (%)")
    ax.set_ylabel(ylabel)
    if chance is not None or references:
        ax.legend(loc="lower right", fontsize=8)


def _continues(steps_long, long, steps_short, short) -> bool:
    """True when the curve ``long`` runs further than ``short`` and equals it at every step they share."""
    if not len(steps_short) or not len(steps_long) or steps_long[-1] <= steps_short[-1]:
        return False
    at = {step: value for step, value in zip(steps_long, long, strict=True)}
    shared = [(at[step], value) for step, value in zip(steps_short, short, strict=True) if step in at]
    if len(shared) < 2:
        return False
    at_long, at_short = np.array(shared).T
    return bool(np.allclose(at_long, at_short, equal_nan=True))


def draw_random_search(config: dict, metrics: dict) -> dict:
    """``random_search.png``: the loss against iterations for each strategy, and their test accuracies."""
    strategies = metrics["strategies"]
    fig = _figure(12, 4.3)
    ax, bx = fig.subplots(1, 2, width_ratios=[1.1, 1])
    # A shorter random search is the first trials of a longer one (same key), so its curve lies exactly
    # on the longer one: a curve that another one continues is drawn thin on top, the one that covers it
    # wide and pale underneath, and each search curve ends in a dot.
    curves = [_floats(st["curve"]) for st in strategies]
    covering = {
        j
        for i in range(len(strategies))
        for j in range(len(strategies))
        if _continues(strategies[j]["curve_steps"], curves[j], strategies[i]["curve_steps"], curves[i])
    }
    for i, st in enumerate(strategies):
        minibatch = "minibatch" in st["curve_kind"]
        steps, color = st["curve_steps"], COLORS[i % len(COLORS)]
        wide = i in covering
        ax.plot(
            steps,
            curves[i],
            color=color,
            lw=4.0 if wide else 1.6,
            alpha=0.45 if wide else 1.0,
            zorder=2 if wide else 3,
            ls="--" if minibatch else "-",
            label=f"{st['name']}: {st['curve_kind']}",
        )
        if not minibatch and len(steps):
            ax.plot(steps[-1:], curves[i][-1:], "o", color=color, ms=5, mec="black", mew=0.6, zorder=4)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("iteration (loss evaluations; SGD: steps)")
    ax.set_ylabel(f"{config.get('loss', 'svm').upper()} loss on the training set")
    ax.set_title("Loss reached")
    ax.legend(fontsize=7, loc="best")
    _accuracy_bars(
        bx,
        [st["name"] for st in strategies],
        [st["test_accuracy"] for st in strategies],
        ylabel="strategy",
        chance=metrics.get("chance"),
        references=[st.get("cs231n_test_accuracy") for st in strategies],
    )
    bx.set_title("Test accuracy")
    fig.suptitle(
        f"Random search, random local search and SGD at {config.get('budget', '?')} iterations{_data_title(config)}"
    )
    return {"random_search.png": fig}


# ---------------------------------------------------------------------------
# Gradient check
# ---------------------------------------------------------------------------


def draw_gradient_check(config: dict, metrics: dict) -> dict:
    """``gradient_check.png``: the error of forward/central differences against ``h`` in float32 and
    float64 (log-log), and the relative errors of the gradient check at the lecture's ``h``."""
    study = metrics["study"]
    fig = _figure(12.5, 4.6)
    ax, bx = fig.subplots(1, 2, width_ratios=[1.15, 1])
    hs = _floats(study["h"])
    styles = {"float32": "-", "float64": "--"}
    for dtype, by_method in study["error"].items():
        for i, (method, errors) in enumerate(by_method.items()):
            color = COLORS[i]
            ax.plot(
                hs,
                _floats(errors),
                styles.get(dtype, "-"),
                color=color,
                marker="o",
                ms=3,
                lw=1.4,
                label=f"{method}, {dtype}",
            )
            th = study["theory_h"][dtype][method]
            ax.axvline(th, color=color, ls=":", lw=0.9, alpha=0.7)
    lecture_h = config.get("h", 1e-4)
    ax.axvline(lecture_h, color="black", lw=1.0, alpha=0.5, label=f"the lecture's h = {lecture_h:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("finite-difference step h")
    ax.set_ylabel("||numerical - exact|| / ||exact||")
    s = config.get("study", {})
    ax.set_title(f"Error vs h ({s.get('loss', 'softmax')} loss; dotted: sqrt(eps), cbrt(eps))", fontsize=10)
    ax.legend(fontsize=8)

    checks = metrics["checks"]
    labels = [f"{c['loss']} {c['method']} {c['dtype'].replace('float', 'f')}" for c in checks]
    values = np.array([c["max_relative_error"] for c in checks], dtype=float)
    ypos = np.arange(len(checks))[::-1]
    colors = [
        to_rgba(COLORS[0] if c["method"] == "forward" else COLORS[1], 0.5 if c["dtype"] == "float32" else 1.0)
        for c in checks
    ]
    bx.barh(ypos, values, color=colors)
    for yp, v, c in zip(ypos, values, checks, strict=True):
        note = f"{v:.0e}" + (f"  ({c['num_kinks']} kink crossings)" if c["loss"] == "svm" and c["num_kinks"] else "")
        bx.text(v * 1.3, yp, note, va="center", fontsize=7)
    bx.set_xscale("log")
    bx.set_xlim(max(np.nanmin(values[values > 0]) / 10, 1e-17) if np.any(values > 0) else 1e-17, 1e3)
    bx.axvline(1e-7, color="green", ls="--", lw=1, label="1e-7: a match (CS231n)")
    bx.axvline(1e-2, color="red", ls="--", lw=1, label="1e-2: probably a bug")
    bx.set_yticks(ypos)
    bx.set_yticklabels(labels, fontsize=8)
    bx.set_xlabel(f"max relative error at h = {lecture_h:g}")
    bx.set_ylabel("loss, difference, precision")
    bx.set_title(f"Gradient check, {config.get('num_checks', '?')} weights", fontsize=10)
    bx.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Numerical vs analytic gradient{_data_title(config)}")
    return {"gradient_check.png": fig}


# ---------------------------------------------------------------------------
# Batch size
# ---------------------------------------------------------------------------


def draw_batch_size(config: dict, metrics: dict) -> dict:
    """``batch_size.png``: the training loss against steps, examples seen and wall-clock seconds."""
    runs = metrics["runs"]
    fig = _figure(15, 4.4)
    axes = fig.subplots(1, 3, sharey=True)
    for i, r in enumerate(runs):
        steps = np.asarray(r["eval_steps"], dtype=float)
        loss = _floats(r["train_loss"])
        later = steps > 0  # log axes: from the first measurement after step 0
        style = {
            "color": "black" if r["batch_size"] is None else COLORS[i % len(COLORS)],
            "lw": 2.2 if r["batch_size"] is None else 1.4,
            "label": r["label"],
        }
        axes[0].plot(steps, loss, **style)
        axes[1].plot(np.asarray(r["examples_seen"], dtype=float)[later], loss[later], **style)
        axes[2].plot(steps[later] * r["seconds_per_step"], loss[later], **style)
    if metrics.get("target_loss"):
        for ax in axes:
            ax.axhline(metrics["target_loss"], color="0.5", ls=":", lw=1)
    axes[0].set_xlabel("step")
    axes[0].set_xscale("log")
    axes[1].set_xlabel("examples seen (steps x batch size)")
    axes[1].set_xscale("log")
    axes[2].set_xlabel("wall-clock seconds (compiled run / steps; compile apart)")
    axes[2].set_xscale("log")
    for ax in axes:
        ax.set_ylabel(f"{config.get('loss', 'softmax')} loss on the whole training set")
    for ax, title in zip(axes, ("against steps", "against examples seen", "against time"), strict=True):
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Gradient descent vs minibatch SGD: lr {config.get('lr', '?'):g}, "
        f"{config.get('steps', '?')} steps{_data_title(config)}"
    )
    return {"batch_size.png": fig}


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------


def draw_optimizers(config: dict, metrics: dict) -> dict:
    """``optimizers.png``: each optimizer's loss curve at its best learning rate, validation accuracy
    against the learning rate, and the final test accuracies."""
    runs = metrics["runs"]
    lrs = _floats(config["learning_rates"])
    fig = _figure(16, 4.4)
    ax, cx, bx = fig.subplots(1, 3, width_ratios=[1.1, 1, 0.9])
    for i, r in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        ax.plot(
            r["curve_steps"], _floats(r["curve"]), color=color, lw=1.5, label=f"{r['optimizer']} (lr {r['lr']:.0e})"
        )
        cx.plot(lrs, 100 * _floats(r["val_by_lr"]), "o-", color=color, ms=3.5, lw=1.2, label=r["optimizer"])
        cx.scatter([r["lr"]], [100 * r["val_accuracy"]], s=80, facecolor="none", edgecolor=color, lw=1.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{config.get('loss', 'softmax')} minibatch loss (moving average of 20)")
    ax.set_title(
        f"Loss at each optimizer's best lr ({config.get('steps')} steps of {config.get('batch_size')})", fontsize=10
    )
    ax.legend(fontsize=8)
    cx.set_xscale("log")
    cx.set_xlabel("learning rate (step size)")
    cx.set_ylabel("validation accuracy (%)  (gaps: diverged)")
    cx.set_title("Validation accuracy over the lr grid (circle: chosen)", fontsize=10)
    cx.legend(fontsize=8)
    _accuracy_bars(bx, [r["optimizer"] for r in runs], [r["test_accuracy"] for r in runs], ylabel="optimizer")
    bx.set_title("Test accuracy at the chosen lr", fontsize=10)
    fig.suptitle(f"optax optimizers on the same budget{_data_title(config)}")
    return {"optimizers.png": fig}


# ---------------------------------------------------------------------------
# The lr x reg sweep
# ---------------------------------------------------------------------------


def robust_limits(values) -> tuple[float, float]:
    """Colour limits that a few outliers cannot stretch: Tukey's fences, ``Q1 - 1.5 IQR`` and ``Q3 + 1.5 IQR``.

    Clipped to the finite values' range; NaN is ignored. With fewer than 4
    finite values, the plain ``(min, max)``.

    Examples:
      A grid of accuracies near 90 % with one cell at chance (10 %):

      >>> robust_limits([88.0, 90.0, 91.0, 92.0, 93.0, 95.0, 10.0])  # Q1 89, Q3 92.5: 89 - 1.5 * 3.5
      (83.75, 95.0)
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    if v.size >= 4:
        q1, q3 = np.percentile(v, [25, 75])
        lo, hi = max(lo, float(q1 - 1.5 * (q3 - q1))), min(hi, float(q3 + 1.5 * (q3 - q1)))
    return lo, hi


def _sweep_panel(fig, ax, acc, diverged, lrs, regs, best, title):
    """One heat map: diverged cells grey and hatched, robust colour limits, every value written."""
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    acc = np.where(diverged, np.nan, acc)
    vmin, vmax = robust_limits(acc)
    finite = acc[np.isfinite(acc)]
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (bool(finite.size and finite.min() < vmin), bool(finite.size and finite.max() > vmax))
    ]
    im = ax.imshow(np.ma.masked_invalid(acc), cmap=cmap, aspect="auto", origin="lower", vmin=vmin, vmax=vmax)
    fig.colorbar(im, ax=ax, label=f"{title} (%)", extend=extend)
    for a in range(len(lrs)):
        for b in range(len(regs)):
            is_best = lrs[a] == best["lr"] and regs[b] == best["reg"]
            if diverged[a, b]:
                ax.add_patch(_Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.55", lw=0))
                text, color = "div.", "black"
            elif not np.isfinite(acc[a, b]):
                text, color = "-", "black"
            else:
                text = f"{acc[a, b]:.1f}"
                color = "black" if (acc[a, b] - vmin) >= 0.5 * (vmax - vmin) else "white"
            ax.text(
                b,
                a,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="red" if is_best else color,
                fontweight="bold" if is_best else "normal",
            )
    ax.set_xticks(range(len(regs)))
    ax.set_xticklabels([f"{r:g}" for r in regs], rotation=45)
    ax.set_yticks(range(len(lrs)))
    ax.set_yticklabels([f"{lr:g}" for lr in lrs])
    ax.set_xlabel("regularization strength reg")
    ax.set_ylabel("learning rate (step size)")
    ax.set_title(title)


def draw_sweep(config: dict, metrics: dict) -> dict:
    """``sweep.png``: heat maps of training and validation accuracy over the lr x reg grid.

    Diverged models are grey and hatched ("div."); the colour scale spans the
    other cells within Tukey's fences (:func:`robust_limits`), so one model at
    chance level does not wash out the rest (its value is still written, and
    the colour bar's arrow says the scale is clipped).
    """
    lrs, regs = config["learning_rates"], config["regs"]
    diverged = np.asarray(metrics["diverged"], dtype=bool)
    best = metrics["best"]
    fig = _figure(3.0 + 0.75 * len(regs) * 2, 1.8 + 0.42 * len(lrs))
    axes = fig.subplots(1, 2)
    for ax, key, title in zip(
        axes, ("train_accuracy", "val_accuracy"), ("training accuracy", "validation accuracy"), strict=True
    ):
        _sweep_panel(fig, ax, 100 * _floats(metrics[key]).reshape(diverged.shape), diverged, lrs, regs, best, title)
    num_diverged = int(diverged.sum())
    fig.suptitle(
        f"{config.get('models', '')} {config.get('loss', '')} models, {config.get('steps')} SGD steps "
        f"in one vmapped call; best on val (red): lr {best['lr']:g}, reg {best['reg']:g}, "
        f"test {100 * best['test_accuracy']:.1f} %{_data_title(config)}"
        + (f"; {num_diverged} diverged (hatched)" if num_diverged else ""),
        fontsize=10,
    )
    return {"sweep.png": fig}


# ---------------------------------------------------------------------------
# Weights as templates
# ---------------------------------------------------------------------------


def draw_weights(config: dict, metrics: dict) -> dict:
    """``weights.png``: each class's template (a row of W as an image, already rescaled to 0..255)."""
    images = np.asarray(metrics["templates"], dtype=np.uint8)  # (C, H, W, channels)
    names = metrics.get("class_names") or [str(i) for i in range(len(images))]
    cols = min(5, len(images))
    rows = math.ceil(len(images) / cols)
    fig = _figure(2.1 * cols, 2.3 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    # strict=False: the grid may hold more axes than images; those are turned off below
    for ax, image, name in zip(axes, images, names, strict=False):
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(images) :]:
        ax.axis("off")
    fig.suptitle(
        f"Rows of W as class templates ({config.get('loss', '')}, test accuracy "
        f"{100 * metrics['test_accuracy']:.1f} %){_data_title(config)}",
        fontsize=10,
    )
    return {"weights.png": fig}


# ---------------------------------------------------------------------------
# Saved results -> PNG files
# ---------------------------------------------------------------------------

#: Every experiment's drawing function: ``draw(config, metrics) -> {file name: Figure}``.
DRAWERS = {
    "landscape": draw_landscape,
    "random_search": draw_random_search,
    "tea_temperature": draw_tea_temperature,
    "gradient_check": draw_gradient_check,
    "batch_size": draw_batch_size,
    "optimizers": draw_optimizers,
    "sweep": draw_sweep,
    "weights": draw_weights,
}


def draw(result_dir) -> dict:
    """The figures of a results folder as matplotlib ``Figure`` objects, unsaved: ``{file name: Figure}``.

    The experiment is named by ``config.json``'s ``"experiment"`` entry, or
    else by the folder's name.
    """
    config, metrics = load_results(result_dir)
    name = config.get("experiment") or Path(result_dir).name
    if name not in DRAWERS:
        raise ValueError(f"no figures known for experiment {name!r} (in {result_dir}); known: {sorted(DRAWERS)}")
    return DRAWERS[name](config, metrics)


def plot_results(result_dir) -> list[Path]:
    """Draw every figure of a results folder from its saved JSON and write them there as PNGs.

    Returns:
      The paths written, e.g. ``[results/sweep/sweep.png]``.
    """
    result_dir = Path(result_dir)
    return [_save(fig, result_dir / name) for name, fig in draw(result_dir).items()]


def _plot(result_dir, draw_fn) -> list[Path]:
    result_dir = Path(result_dir)
    config, metrics = load_results(result_dir)
    return [_save(fig, result_dir / name) for name, fig in draw_fn(config, metrics).items()]


def plot_landscape(result_dir) -> list[Path]:
    """:func:`draw_landscape` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_landscape)


def plot_random_search(result_dir) -> list[Path]:
    """:func:`draw_random_search` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_random_search)


def plot_tea_temperature(result_dir) -> list[Path]:
    """:func:`draw_tea_temperature` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_tea_temperature)


def plot_gradient_check(result_dir) -> list[Path]:
    """:func:`draw_gradient_check` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_gradient_check)


def plot_batch_size(result_dir) -> list[Path]:
    """:func:`draw_batch_size` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_batch_size)


def plot_optimizers(result_dir) -> list[Path]:
    """:func:`draw_optimizers` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_optimizers)


def plot_sweep(result_dir) -> list[Path]:
    """:func:`draw_sweep` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_sweep)


def plot_weights(result_dir) -> list[Path]:
    """:func:`draw_weights` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_weights)


# ---------------------------------------------------------------------------
# Curvature: the stable step size and the preprocessing
# ---------------------------------------------------------------------------


def _step_size_curves(ax, runs, best):
    """Left panel of ``step_size.png``: the loss curves, coloured by the multiple of 2/lambda_max."""
    cmap = colormaps["coolwarm"]
    factors = [r["factor"] for r in runs]
    span = math.log(max(factors) / min(factors)) or 1.0
    for r in runs:
        losses = _floats(r["losses"])
        color = cmap(math.log(r["factor"] / min(factors)) / span)
        ax.plot(
            np.arange(losses.size),
            losses,
            color=color,
            lw=1.4,
            label=f"{r['factor']:g} x  (lr {r['lr']:.3g}): {r['verdict']}",
        )
    ax.axhline(best, color="black", ls=":", lw=1, label=f"minimum L* = {best:.4f}")
    ax.set_yscale("log")
    # Room above the curves for the legend: they fill the lower ~45 % of the (log) height.
    finite = np.concatenate([_floats(r["losses"]) for r in runs])
    finite = finite[np.isfinite(finite)]
    low, high = 0.9 * best, float(finite.max()) if finite.size else 10.0
    ax.set_ylim(low, math.exp(math.log(low) + 2.2 * (math.log(high) - math.log(low))))
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("training loss (full batch)")
    ax.set_title("Loss curves at multiples of the predicted 2/lambda_max", fontsize=10)
    ax.legend(fontsize=7, loc="upper right", ncol=1)


def _step_size_table(bx, config, metrics, best):
    """Right panel of ``step_size.png``: the loss reached against the step, the predictions drawn."""
    runs, lr_star, lr_min = metrics["runs"], metrics["predicted_max_lr"], metrics["max_lr_at_minimum"]
    lrs = np.array([r["lr"] for r in runs])
    finals = _floats([r["final_loss"] for r in runs])
    ok = np.isfinite(finals)
    bx.plot(lrs[ok], finals[ok], "o-", color=COLORS[0], label=f"loss after {config.get('steps', '?')} steps")
    top = np.nanmax(finals) if ok.any() else 1.0
    for lr, r in zip(lrs, runs, strict=True):
        if r["verdict"] == "diverges":
            bx.scatter(
                [lr], [top if r["final_loss"] is None else r["final_loss"]], marker="x", s=60, color=COLORS[3], zorder=5
            )
        elif r["verdict"] == "oscillates":
            bx.scatter([lr], [r["final_loss"]], marker="s", s=55, facecolor="none", edgecolor=COLORS[1], zorder=5)
    bx.scatter([], [], marker="x", color=COLORS[3], label="diverged")
    bx.scatter([], [], marker="s", facecolor="none", edgecolor=COLORS[1], label="oscillates")
    bx.axvline(lr_star, color=COLORS[3], ls="--", lw=1.5, label=f"predicted: 2/lambda_max(W0) = {lr_star:.3g}")
    bx.axvline(lr_min, color=COLORS[2], ls=":", lw=1.5, label=f"2/lambda_max at the minimum = {lr_min:.3g}")
    bx.axhline(best, color="black", ls=":", lw=1, label="minimum L*")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("learning rate (step size)")
    bx.set_ylabel(f"training loss after {config.get('steps', '?')} steps")
    bx.set_title(f"The step-size table: lambda_max(W0) = {metrics['lambda_max_at_start']:.4g}", fontsize=10)
    bx.legend(fontsize=7, loc="upper left")


def _preprocessing_figure(config, metrics) -> Figure:
    """``preprocessing.png``: L - L* per preprocessing, and lambda_max and the condition number of each."""
    variants = metrics["preprocessing"]
    fig = _figure(12.5, 4.6)
    ax, bx = fig.subplots(1, 2, width_ratios=[1.3, 1])
    for i, v in enumerate(variants):
        gap = np.maximum(_floats(v["gap"]), 1e-9)
        ax.plot(
            np.arange(gap.size),
            gap,
            color=COLORS[i],
            lw=1.6,
            label=f"{v['name']}: lr {v['lr']:.3g}, kappa {v['condition_number']:.3g}",
        )
    ax.axhline(config.get("tolerance", 1e-3), color="0.5", ls=":", lw=1, label="tolerance")
    ax.set_yscale("log")
    ax.set_xlabel("gradient-descent step (lr = 0.9 x 2/lambda_max of each)")
    ax.set_ylabel("L - L*  (its own minimum)")
    ax.set_title("Speed of gradient descent per preprocessing", fontsize=10)
    ax.legend(fontsize=7)
    names = [v["name"] for v in variants]
    x = np.arange(len(variants))
    bx.bar(x - 0.2, [v["lambda_max"] for v in variants], width=0.4, color=COLORS[0], label="lambda_max(W0)")
    bx.bar(
        x + 0.2,
        [v["condition_number"] for v in variants],
        width=0.4,
        color=COLORS[1],
        label="condition number lambda_max / lambda_min",
    )
    for xi, v in zip(x, variants, strict=True):
        bx.text(xi - 0.2, v["lambda_max"] * 1.15, f"{v['lambda_max']:.3g}", ha="center", fontsize=7)
        bx.text(xi + 0.2, v["condition_number"] * 1.15, f"{v['condition_number']:.3g}", ha="center", fontsize=7)
    bx.set_yscale("log")
    bx.set_xticks(x)
    bx.set_xticklabels(names, fontsize=8, rotation=15)
    bx.set_ylabel("value at W0 = 0 (log scale)")
    bx.set_title("Hessian at W0: the steepest curvature and the spread", fontsize=10)
    bx.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Centering and scaling the data shrink lambda_max and the condition number{_data_title(config)}")
    return fig


def draw_step_size(config: dict, metrics: dict) -> dict:
    """``step_size.png`` (gradient descent at multiples of the predicted 2 / lambda_max: loss curves and
    the loss reached against the step, with the prediction drawn) and ``preprocessing.png`` (L - L*
    per preprocessing, and lambda_max and the condition number of each)."""
    best = metrics["min_loss"]
    fig = _figure(12.5, 4.6)
    ax, bx = fig.subplots(1, 2)
    _step_size_curves(ax, metrics["runs"], best)
    _step_size_table(bx, config, metrics, best)
    fig.suptitle(
        f"Gradient descent on the softmax loss (reg {config.get('reg', '?'):g}): the step size "
        f"against the predicted largest stable step 2/lambda_max{_data_title(config)}"
    )
    return {"step_size.png": fig, "preprocessing.png": _preprocessing_figure(config, metrics)}


def plot_step_size(result_dir) -> list[Path]:
    """:func:`draw_step_size` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_step_size)


# ---------------------------------------------------------------------------
# Second-order and quasi-Newton methods
# ---------------------------------------------------------------------------


def draw_second_order(config: dict, metrics: dict) -> dict:
    """``second_order.png``: L - L* of SGD, Adam, gradient descent, L-BFGS and Newton against
    wall-clock seconds and against passes over the data."""
    methods = metrics["methods"]
    best = metrics["min_loss"]
    fig = _figure(12.5, 4.8)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, xlabel in (
        (axes[0], "seconds", "wall-clock seconds (compilation excluded)"),
        (axes[1], "passes", ("passes over the training set (gradient = 1, Hessian-vector product = 2)")),
    ):
        for i, m in enumerate(methods):
            gap = np.maximum(_floats(m["loss"]) - best, 1e-8)
            xs = _floats(m[key])
            ax.plot(
                xs,
                gap,
                marker="o" if len(xs) <= 60 else None,
                ms=3,
                lw=1.5,
                color=COLORS[i % len(COLORS)],
                label=f"{m['name']} ({m['steps']} steps)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss - minimum L*  (floored at 1e-8)")
    axes[0].set_title("Against time", fontsize=10)
    axes[1].set_title("Against passes over the data", fontsize=10)
    fig.suptitle(
        f"Softmax on {config.get('data', 'digits')} (reg {config.get('reg', '?'):g}): first-order, "
        f"quasi-Newton and Newton (L* = {best:.5f})"
    )
    return {"second_order.png": fig}


def plot_second_order(result_dir) -> list[Path]:
    """:func:`draw_second_order` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_second_order)


DRAWERS["step_size"] = draw_step_size
DRAWERS["second_order"] = draw_second_order


# ---------------------------------------------------------------------------
# Optimizer comparison over seeds (experiments/compare.py)
# ---------------------------------------------------------------------------


def _band(ax, xs, mean, sd, color, label, marker="o"):
    """A mean curve with a shaded mean +- sd band (no band where sd is missing)."""
    mean = _floats(mean)
    ax.plot(xs, mean, marker=marker, ms=3, lw=1.4, color=color, label=label)
    if sd is not None:
        sd = _floats(sd)
        ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.18, lw=0)


def _mark_diverged(ax, xs, diverged, color, label=None):
    """Every learning rate where a model diverged: a hatched band around it and an ``x`` at the foot.

    ``xs`` is a log grid; the band spans half a grid step (in log) either side.
    """
    xs, bad = np.asarray(xs, dtype=np.float64), np.asarray(diverged, dtype=bool)
    if not bad.any():
        return
    half = np.sqrt(xs[1] / xs[0]) if xs.size > 1 else 1.5
    for i, x in enumerate(xs[bad]):
        ax.axvspan(
            x / half,
            x * half,
            fill=False,
            hatch="xx",
            edgecolor=color,
            alpha=0.35,
            lw=0,
            label=label if i == 0 else None,
        )
    ax.scatter(
        xs[bad],
        np.full(bad.sum(), 0.02),
        marker="x",
        s=40,
        color=color,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
        zorder=4,
    )


def draw_compare_lr(config: dict, metrics: dict) -> Figure:
    """Per problem: validation accuracy (tuning seeds) and final gap (evaluation seeds) against the lr.

    Circles mark each optimizer's choice; a hatched band with an ``x`` at the
    foot marks a learning rate at which a model diverged
    (``diverged_by_lr``, the engine's one rule; never chosen).
    """
    problems = metrics["problems"]
    fig = _figure(13, 0.6 + 3.4 * len(problems))
    axes = np.atleast_2d(fig.subplots(len(problems), 2, squeeze=False))
    for (ax, gx), p in zip(axes, problems, strict=True):
        f_star = (p.get("optimum") or {}).get("value")
        for i, r in enumerate(p["runs"]):
            color = COLORS[i % len(COLORS)]
            lrs = _floats(r["learning_rates"])
            val = _floats(r["val_by_lr"]["per_seed"])
            _band(
                ax,
                lrs,
                100 * val.mean(axis=1),
                100 * val.std(axis=1, ddof=1) if val.shape[1] > 1 else None,
                color,
                r["optimizer"],
            )
            _mark_diverged(ax, lrs, r["diverged_by_lr"]["tuning"], color, f"{r['optimizer']} diverged (never chosen)")
            if r.get("lr") is not None:
                ax.scatter(
                    [r["lr"]], [100 * val[r["lr_index"]].mean()], s=80, facecolor="none", edgecolor=color, lw=1.8
                )
            if f_star is not None:
                gap = _floats(r["eval_final_objective_by_lr"]["per_seed"]) - f_star
                with np.errstate(invalid="ignore"):
                    gap = np.where(gap > 0, gap, np.nan)
                # the mean over the seeds where the gap is known; NaN (not drawn) where an lr diverged on all
                known = np.isfinite(gap).sum(axis=1)
                mean_gap = np.where(known > 0, np.nansum(gap, axis=1) / np.maximum(known, 1), np.nan)
                gx.plot(
                    lrs,
                    mean_gap,
                    "o-",
                    ms=3,
                    lw=1.4,
                    color=color,
                    label=r["optimizer"],
                )
                _mark_diverged(gx, lrs, r["diverged_by_lr"]["eval"], color)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("val. accuracy (%), tuning seeds")
        ax.set_title(f"{p['problem']}: the choice (circle), hatched x = diverged", fontsize=10)
        ax.legend(fontsize=7)
        gx.set_xscale("log")
        gx.set_yscale("log")
        gx.set_xlabel("learning rate")
        gx.set_ylabel("final gap f(W_T) - f*, evaluation seeds")
        gx.set_title(
            f"{p['problem']}: after {p['config']['num_steps']} steps ({(p.get('optimum') or {}).get('kind', 'no f*')})",
            fontsize=10,
        )
    fig.suptitle(f"Learning-rate sensitivity, the same grid for every optimizer{_data_title(config)}")
    return fig


def draw_compare_gap(config: dict, metrics: dict) -> Figure:
    """Per problem: the gap against steps and against seconds (mean, seeds thin), and the test accuracies.

    The test panel shows the t interval over evaluation seeds (bar), the
    bootstrap interval that carries the choice's noise (thin line) and the
    seeds (dots); an optimizer whose chosen lr diverged on an evaluation seed
    is hatched, and so is the row of one whose every lr diverged (no lr chosen).
    """
    problems = metrics["problems"]
    fig = _figure(15, 0.6 + 3.4 * len(problems))
    axes = np.atleast_2d(fig.subplots(len(problems), 3, squeeze=False, width_ratios=[1.2, 1.2, 1]))
    for (ax, tx, bx), p in zip(axes, problems, strict=True):
        optimum = p.get("optimum") or {}
        floor = max(float(optimum.get("resolution") or 0.0), 1e-12)
        for i, r in enumerate(p["runs"]):
            if "gap" not in r:
                continue
            color = COLORS[i % len(COLORS)]
            steps, per_seed = _floats(r["gap"]["steps"]), _floats(r["gap"]["per_seed"])
            seconds = _floats(r["gap"]["seconds_per_seed"])
            for row, secs in zip(per_seed, seconds, strict=True):
                ax.plot(steps, np.maximum(row, floor), color=color, lw=0.5, alpha=0.4)
                tx.plot(secs, np.maximum(row, floor), color=color, lw=0.5, alpha=0.4)
            mean = np.maximum(_floats(r["gap"]["mean"]), floor)
            label = f"{r['optimizer']} (lr {r['lr']:.2g})"
            ax.plot(steps, mean, color=color, lw=2, label=label)
            tx.plot(_floats(r["gap"]["seconds"]), mean, color=color, lw=2, label=label)
        for axis, what in (
            (ax, f"step (objective every {p['config']['eval_every']} steps)"),
            (tx, "seconds of training (compile apart)"),
        ):
            axis.set_yscale("log")
            axis.set_xlabel(what)
            axis.set_ylabel(f"f(W_t) - f*  (floor {floor:.0e})")
        ax.set_title(
            f"{p['problem']}: gap to the {optimum.get('kind', 'optimum')} {optimum.get('value', float('nan')):.8g}",
            fontsize=9,
        )
        tx.set_title("the same against wall time", fontsize=9)
        ax.legend(fontsize=7)
        tested = [r for r in p["runs"] if "test_accuracy" in r]
        first_hatched = next((r for r in tested if r.get("diverged_eval_seeds")), None)
        for i, r in enumerate(tested):
            t, color = r["test_accuracy"], COLORS[p["runs"].index(r) % len(COLORS)]
            low, high = _floats([t["low"], t["high"]])
            if r.get("diverged_eval_seeds"):
                bx.barh(
                    [i],
                    [100 * t["mean"]],
                    height=0.6,
                    color="none",
                    edgecolor=color,
                    hatch="//",
                    label="diverged on an evaluation seed" if r is first_hatched else None,
                )
            if np.isfinite(low):
                bx.errorbar(
                    [100 * t["mean"]],
                    [i],
                    xerr=[[100 * (t["mean"] - low)], [100 * (high - t["mean"])]],
                    fmt="o",
                    color=color,
                    capsize=4,
                )
            boot = r.get("bootstrap", {}).get("test_accuracy") or {}
            if boot and np.isfinite(_floats([boot["low"]])[0]):
                bx.plot(
                    [100 * boot["low"], 100 * boot["high"]],
                    [i - 0.25] * 2,
                    color="0.5",
                    lw=2,
                    label="bootstrap 95 % (choice included)" if i == 0 else None,
                )
            bx.scatter(100 * _floats(t["per_seed"]), [i] * len(t["per_seed"]), s=10, color="0.35", zorder=3)
        lost = [r for r in p["runs"] if r.get("lr") is None]  # every lr diverged on a tuning seed
        if tested:
            lows = [100 * min(r["test_accuracy"]["per_seed"]) for r in tested]
            bx.set_xlim(min(lows) - 1.0, 100 * max(max(r["test_accuracy"]["per_seed"]) for r in tested) + 1.0)
        for j, r in enumerate(lost):
            i, color = len(tested) + j, COLORS[p["runs"].index(r) % len(COLORS)]
            bx.axhspan(
                i - 0.3, i + 0.3, fill=False, hatch="//", edgecolor=color, label="every lr diverged" if j == 0 else None
            )
        if tested or lost:
            bx.set_yticks(range(len(tested) + len(lost)))
            bx.set_yticklabels([r["optimizer"] for r in tested + lost])
            bx.legend(fontsize=7)
        bx.set_xlabel("test accuracy (%): t interval, bootstrap, seeds")
        bx.set_ylabel("optimizer (at its chosen lr)")
        bx.set_title("test accuracy, evaluation seeds", fontsize=9)
    fig.suptitle(
        f"Distance to the optimum in steps and seconds, {len(config.get('eval_seeds', []))} evaluation "
        f"seeds{_data_title(config)}"
    )
    return fig


def draw_compare_profile(config: dict, metrics: dict) -> Figure:
    """Dolan--More profiles over the problems, on steps and on seconds to the target; band: min to max over seeds."""
    profiles = metrics.get("profile") or {}
    fig = _figure(12, 4.2)
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, ("steps_to_target", "seconds_to_target"), strict=True):
        prof = profiles.get(key)
        if not prof:
            ax.set_axis_off()
            continue
        taus = _floats(prof["taus"])
        for i, name in enumerate(prof["optimizers"]):
            color = COLORS[i % len(COLORS)]
            ax.step(taus, _floats(prof["rho_mean"][i]), where="post", color=color, lw=1.6, label=name)
            ax.fill_between(
                taus,
                _floats(prof["rho_low"][i]),
                _floats(prof["rho_high"][i]),
                step="post",
                color=color,
                alpha=0.15,
                lw=0,
            )
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("tau: within a factor tau of the best on that problem")
        ax.set_ylabel(f"fraction of the {len(prof['problems'])} problem(s)")
        ax.set_title(f"cost = {key.replace('_', ' ')} (mean over seeds; band: min to max)", fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Performance profiles (Dolan-More) over problems, the target f* + "
        f"{config.get('target_fraction', 0.01):g} (f(W0) - f*){_data_title(config)}"
    )
    return fig


def draw_compare(config: dict, metrics: dict) -> dict:
    """``compare_lr.png``, ``compare_gap.png``, ``compare_profile.png`` of an optimizer comparison."""
    return {
        "compare_lr.png": draw_compare_lr(config, metrics),
        "compare_gap.png": draw_compare_gap(config, metrics),
        "compare_profile.png": draw_compare_profile(config, metrics),
    }


def plot_compare(result_dir) -> list[Path]:
    """:func:`draw_compare` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_compare)


DRAWERS["compare"] = draw_compare


def draw_recipes(config: dict, metrics: dict) -> dict:
    """``recipes.png``: each CS231n recipe's accuracy over seeds (dots), mean +- sd, and CS231n's number.

    Each row shows the split CS231n's number was measured on (``cs231n_split``:
    test for the searches, validation for the SGD recipes).
    """
    recipes = metrics["recipes"]
    fig = _figure(8.5, 1.2 + 0.8 * len(recipes))
    ax = fig.subplots()
    labels = []
    for i, (name, r) in enumerate(recipes.items()):
        split = r.get("cs231n_split") or ("val" if "val" in str(r.get("cs231n", "")) else "test")
        labels.append(f"{name} ({split})")
        t = r["val_accuracy" if split == "val" else "test_accuracy"]
        sd = t["sd"] if t["sd"] is not None else 0.0
        ax.errorbar([100 * t["mean"]], [i], xerr=[100 * sd], fmt="o", color=COLORS[i % len(COLORS)], capsize=4)
        ax.scatter(100 * _floats(t["per_seed"]), [i] * len(t["per_seed"]), s=12, color="0.35", zorder=3)
        ax.scatter(
            [100 * r["cs231n_value"]],
            [i + 0.2],
            marker="v",
            s=50,
            color="black",
            label="CS231n's number" if i == 0 else None,
        )
    ax.set_yticks(range(len(recipes)))
    ax.set_yticklabels(labels)
    ax.set_xlabel(
        f"accuracy (%) on the split CS231n reports: dots = seeds, bar = mean ± sd over {config.get('seeds')} seeds"
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"CS231n's recipes over seeds{_data_title(config)}", fontsize=11)
    return {"recipes.png": fig}


def plot_recipes(result_dir) -> list[Path]:
    """:func:`draw_recipes` from ``result_dir``'s saved JSON, written there as PNGs; their paths."""
    return _plot(result_dir, draw_recipes)


DRAWERS["recipes"] = draw_recipes
