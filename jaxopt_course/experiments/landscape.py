"""What the loss looks like: 1-D and 2-D slices along random directions through W.

    python experiments/landscape.py [--data digits|cifar10] [--data-dir DIR] [--quick] [--out results/]

``W`` has 650 numbers for digits and 30730 for CIFAR-10, far too many to
draw. CS231n's trick: pick a random ``W`` and random directions ``W1``,
``W2`` of the same shape and draw

* ``L(W + a W1)`` against ``a`` (a 1-D slice), and
* ``L(W + a W1 + b W2)`` over a grid of ``(a, b)`` (a 2-D slice),

for a single example and for a batch of examples. The multiclass SVM is
piecewise linear -- a sum of hinges ``max(0, s_j - s_y + 1)`` -- so one
example's slice is a few straight pieces meeting at kinks, and the average
over many examples is a bowl made of many small facets (convex, since every
hinge is). Softmax is the smooth version of the same bowl.

The directions are scaled so that moving ``a`` by 1 changes the batch's
scores by about 2 (their standard deviation), whatever the data.

Writes ``<out>/landscape/{config,metrics}.json``, ``landscape_1d.png`` and
``landscape_2d.png``.
"""

from __future__ import annotations

from jaxopt_course.experiments._common import (
    Timer,
    finish,
    format_table,
    load_splits,
    make_parser,
    output_dir,
    script_main,
)

NAME = "landscape"


def build_parser():
    p = make_parser(
        NAME,
        "Slices of the loss through a random W along random directions W1, W2: "
        "L(W + a W1) and L(W + a W1 + b W2), for one example and for a batch (CS231n's "
        "loss-landscape figures), SVM and softmax.",
    )
    p.add_argument("--batch", type=int, default=100, help="examples in the batch slice (default 100, CS231n's)")
    p.add_argument(
        "--init-scale",
        type=float,
        default=None,
        help="W = init_scale * randn(C, D) (default: 1e-4 for CIFAR-10, as CS231n; 0.01 for digits)",
    )
    return p


#: Moving a (or b) by 1 changes the batch's scores by this much (their standard deviation).
SCORE_CHANGE = 2.0


def run(args, splits=None) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxopt_course import plots
    from jaxopt_course.losses import softmax_loss, svm_loss
    from jaxopt_course.model import scores

    splits = splits if splits is not None else load_splits(args)
    outdir = output_dir(args, NAME)
    init_scale = args.init_scale or (1e-4 if args.data == "cifar10" else 0.01)
    num_1d = 41 if args.quick else 201
    num_2d = 15 if args.quick else 61
    batch = min(args.batch, splits.train.X.shape[0])
    config = {
        "experiment": NAME,
        "data": args.data,
        "seed": args.seed,
        "quick": args.quick,
        "init_scale": init_scale,
        "batch": batch,
        "one_example_index": 0,
        "score_change": SCORE_CHANGE,
        "points_1d": num_1d,
        "points_2d": num_2d,
        "reg": 0.0,
        "range": [-1.0, 1.0],
    }

    with Timer() as timer:
        X = jnp.asarray(splits.train.X[:batch])
        y = jnp.asarray(splits.train.y[:batch])
        k_w, k_1, k_2 = jax.random.split(jax.random.key(args.seed), 3)
        shape = (splits.num_classes, splits.dim)
        W = init_scale * jax.random.normal(k_w, shape)

        def direction(key):
            d = jax.random.normal(key, shape)
            return d * (SCORE_CHANGE / jnp.std(scores(d, X)))  # the scores X d^T move by SCORE_CHANGE

        W1, W2 = direction(k_1), direction(k_2)
        a_1d, a_2d = _symmetric_range(num_1d), _symmetric_range(num_2d)
        A, B = jnp.meshgrid(a_2d, a_2d, indexing="ij")  # A[i, j] = a_i, B[i, j] = b_j

        def slices(loss, X, y):
            along = jax.jit(jax.vmap(lambda a, b: loss(W + a * W1 + b * W2, X, y)))
            curve = along(a_1d, jnp.zeros_like(a_1d))
            grid = along(A.ravel(), B.ravel()).reshape(A.shape)
            return np.asarray(curve), np.asarray(grid)

        out: dict[str, dict] = {}
        for loss_name, loss in (("svm", svm_loss), ("softmax", softmax_loss)):
            out[loss_name] = {}
            for part, (Xp, yp) in (("one_example", (X[:1], y[:1])), ("batch", (X, y))):
                curve, grid = slices(loss, Xp, yp)
                out[loss_name][part] = {
                    "curve_1d": curve,
                    "grid_2d": grid,
                    "at_W": float(loss(W, Xp, yp)),
                    "min_1d": float(curve.min()),
                    "max_1d": float(curve.max()),
                }
        # Where the SVM's 1-D slices bend: margins crossing 0 inside the range.
        kinks = {"one_example": _count_kinks(W, W1, X[:1], y[:1]), "batch": _count_kinks(W, W1, X, y)}

    metrics = {
        "a_1d": np.asarray(a_1d),
        "a_2d": np.asarray(a_2d),
        "losses": out,
        "svm_kinks_1d": kinks,
        "seconds": timer.seconds,
    }
    return finish(
        NAME,
        outdir,
        config,
        metrics,
        plots.plot_landscape,
        _table(out, kinks, batch),
        f"Along a random direction the SVM loss of one example is piecewise linear "
        f"({kinks['one_example']} kinks on the 1-D slice); averaged over {batch} examples the kinks "
        f"multiply ({kinks['batch']}) and the slice becomes a convex bowl of small facets. Softmax "
        f"draws the same bowl without kinks.",
    )


def _table(out, kinks, batch) -> str:
    rows = []
    for loss_name in ("svm", "softmax"):
        for part, label in (("one_example", "1 example"), ("batch", f"{batch} examples")):
            o = out[loss_name][part]
            rows.append(
                [loss_name, label, o["at_W"], o["min_1d"], o["max_1d"], kinks[part] if loss_name == "svm" else "smooth"]
            )
    return format_table(
        ["loss", "slice through", "L at W", "min on 1-D slice", "max on 1-D slice", "kinks on 1-D slice"], rows
    )


def _symmetric_range(num):
    """``num`` (odd) points from -1 to 1 whose middle one is exactly 0: the slice passes through W itself."""
    import jax.numpy as jnp
    import numpy as np

    a = np.linspace(-1.0, 1.0, num)
    a[num // 2] = 0.0
    return jnp.asarray(a, dtype=jnp.float32)


def _count_kinks(W, W1, X, y, margin=1.0):
    """Exact number of hinge kinks of the SVM on the 1-D slice ``a in (-1, 1)``.

    Along ``W + a W1`` every margin is linear in ``a``:
    ``m_ij(a) = m_ij(0) + a (X_i . (W1_j - W1_{y_i}))``, so it crosses 0 at
    ``a = -m_ij(0) / slope`` -- one kink of the slice for every wrong class
    ``j`` of every example ``i`` whose crossing lies inside the range.
    """
    import numpy as np

    W, W1, X, y = (np.asarray(v, dtype=np.float64) for v in (W, W1, X, y))
    y = y.astype(int)
    rows = np.arange(len(y))
    s, d = X @ W.T, X @ W1.T
    m0 = s - s[rows, y][:, None] + margin
    dm = d - d[rows, y][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        a_star = -m0 / dm
    wrong = np.ones_like(m0, dtype=bool)
    wrong[rows, y] = False
    return int(np.sum(wrong & (dm != 0) & (np.abs(a_star) < 1.0)))


def main(argv=None) -> int:
    import sys

    return script_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
