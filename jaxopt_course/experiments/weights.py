"""The learned rows of W drawn as images: one template per class.

    python experiments/weights.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

A linear classifier scores class ``c`` by the dot product of its row
``W[c]`` with the image, so each row is a *template* the image is matched
against, and it can be drawn as an image itself (32x32x3 for CIFAR-10, 8x8
for digits). CS231n's recipe: drop the bias column, rescale to [0, 255] with
one minimum and maximum over all templates (so they stay comparable), and
show each. CIFAR-10 rows are channel-major (1024 R, 1024 G, 1024 B values),
so a row is reshaped to ``(3, 32, 32)`` and transposed to ``(32, 32, 3)``.

The classifier is trained by minibatch SGD with fixed settings (CIFAR-10:
CS231n's softmax values, lr 1e-7, reg 2.5e4, 1500 steps of 200).

Writes ``<out>/weights/{config,metrics}.json`` and ``weights.png``.
"""

from __future__ import annotations

from typing import Any

from jaxopt_course.experiments._common import (
    Timer,
    finish,
    format_table,
    load_splits,
    make_parser,
    optimizer_factory,
    output_dir,
    percent,
    script_main,
)

NAME = "weights"

SETTINGS: dict[str, dict[str, Any]] = {  # per data set; each value its own type
    "cifar10": {"lr": 1e-7, "reg": 2.5e4, "steps": 1500, "batch_size": 200, "init_scale": 1e-4},
    "digits": {"lr": 1.0, "reg": 1e-3, "steps": 1000, "batch_size": 64, "init_scale": 1e-4},
}


CIFAR_TEMPLATES = (
    "something like a blurred average of the class's images, colours and background included, "
    "since one template per class has to cover every pose, colour and position."
)
DIGITS_TEMPLATES = (
    "bright pixels vote for the class and dark ones against it (the 0's template is dark in the "
    "centre, where a 0 has no ink)."
)


def build_parser():
    p = make_parser(
        NAME,
        "Train a linear classifier and draw each row of W (bias dropped, rescaled to "
        "0..255 as CS231n does) as an image: the class templates.",
    )
    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax", help="the loss to train (default softmax)")
    p.add_argument("--steps", type=int, default=None, help="SGD steps (default: 1500 CIFAR-10, 1000 digits)")
    p.add_argument(
        "--reg", type=float, default=None, help="regularization strength (default: 2.5e4 CIFAR-10, 1e-3 digits)"
    )
    return p


def templates(W, image_shape):
    """CS231n's pictures of the rows of ``W`` (C, D): ``(C, H, W, channels)`` uint8 in 0..255.

    The bias column (the last) is dropped; one min and max over all the
    templates map them to [0, 255]; a row of ``H * W * channels`` values,
    stored channel-major, becomes an ``(H, W, channels)`` image.
    """
    import numpy as np

    h, w, channels = image_shape
    W = np.asarray(W, dtype=np.float64)[:, : h * w * channels]  # drop the bias column
    low, high = W.min(), W.max()
    scaled = 255.0 * (W - low) / max(high - low, 1e-30)
    images = scaled.reshape(-1, channels, h, w).transpose(0, 2, 3, 1)
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp

    from jaxopt_course import plots
    from jaxopt_course.losses import get_loss
    from jaxopt_course.model import evaluate
    from jaxopt_course.train import Loop, Run, fit

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    s = dict(SETTINGS[args.data])
    if args.reg is not None:
        s["reg"] = args.reg
    steps = args.steps or (100 if args.quick else s["steps"])
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    batch_size = min(s["batch_size"], int(X.shape[0]))
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "loss": args.loss,
        "optimizer": "sgd",
        "lr": s["lr"],
        "reg": s["reg"],
        "steps": steps,
        "batch_size": batch_size,
        "init_scale": s["init_scale"],
        "image_shape": list(splits.image_shape),
        "rescaling": "one min and max over all templates (CS231n), bias column dropped",
    }

    key_w, key_b = jax.random.split(jax.random.key(args.seed))
    W0 = s["init_scale"] * jax.random.normal(key_w, (splits.num_classes, splits.dim))
    with Timer() as timer:
        run = Run(get_loss(args.loss), optimizer_factory("sgd"), batch_size=batch_size, num_steps=steps)
        result = fit(run, W0, X, y, key=key_b, lr=s["lr"], reg=s["reg"], loop=Loop(chunk_size=steps))
    acc = evaluate(result.params, splits)
    pictures = templates(result.params, splits.image_shape)
    metrics = {
        "class_names": list(splits.class_names),
        "templates": pictures,
        "train_accuracy": acc["train"],
        "val_accuracy": acc["val"],
        "test_accuracy": acc["test"],
        "final_minibatch_loss": result.losses[-1],
        "seconds": timer.seconds,
    }
    table = format_table(
        ["loss", "lr", "reg", "steps", "train accuracy", "val accuracy", "test accuracy"],
        [
            [
                args.loss,
                f"{s['lr']:g}",
                f"{s['reg']:g}",
                steps,
                percent(acc["train"]),
                percent(acc["val"]),
                percent(acc["test"]),
            ]
        ],
    )
    h, w, ch = splits.image_shape
    summary = (
        f"Each row of W, drawn as a {h}x{w}" + ("x3" if ch == 3 else "") + " image, is the template its "
        f"class is matched against (test accuracy {percent(acc['test'])}): "
        + (CIFAR_TEMPLATES if args.data == "cifar10" else DIGITS_TEMPLATES)
    )
    return finish(NAME, outdir, config, metrics, plots.plot_weights, table, summary)


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
