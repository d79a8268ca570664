"""The ``jaxopt-course`` command (also ``python -m jaxopt_course``).

Every subcommand prints a short human table, or one JSON object with
``--json``. Bad arguments end with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's API
        raise UsageError(f"{self.prog}: error: {message}")


def _add_data_args(p):
    p.add_argument("--data", choices=["digits", "cifar10"], default="digits",
                   help="the data set: digits (bundled with scikit-learn, offline; default) or cifar10")
    p.add_argument("--data-dir", default=None,
                   help="the folder holding cifar-10-batches-py/ (for --data cifar10)")
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 into --data-dir if it is not there (MD5-checked)")


def _load(args):
    from .data import load_cifar10, load_digits

    if args.data == "digits":
        return load_digits()
    if args.data_dir is None:
        raise UsageError("--data cifar10 needs --data-dir DIR, the folder that holds cifar-10-batches-py/")
    return load_cifar10(args.data_dir, download=args.download)


def _emit(args, result: dict, lines: list[str]):
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(lines))


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------


def _cmd_train(args):
    import jax
    import jax.numpy as jnp
    import optax

    from .losses import get_loss
    from .model import accuracy, init_weights

    splits = _load(args)
    loss_fn = partial(get_loss(args.loss), reg=args.reg)
    optimizer = optax.sgd(args.lr)
    key, init_key = jax.random.split(jax.random.key(args.seed))
    W = init_weights(init_key, splits.num_classes, splits.dim)
    X, y = jnp.asarray(splits.train.X), jnp.asarray(splits.train.y)
    n = X.shape[0]
    batch_size = min(args.batch_size, n)

    @jax.jit
    def step(W, opt_state, step_key):
        # The lecture's minibatch SGD: sample batch_size examples, follow -grad.
        idx = jax.random.randint(step_key, (batch_size,), 0, n)
        loss, dW = jax.value_and_grad(loss_fn)(W, X[idx], y[idx])
        updates, opt_state = optimizer.update(dW, opt_state, W)
        return optax.apply_updates(W, updates), opt_state, loss

    opt_state = optimizer.init(W)
    start = time.perf_counter()
    for i in range(args.steps):
        W, opt_state, loss = step(W, opt_state, jax.random.fold_in(key, i))
    final_loss = float(loss_fn(W, X, y))
    seconds = time.perf_counter() - start
    result = {
        "data": args.data,
        "loss": args.loss,
        "steps": args.steps,
        "train_accuracy": float(accuracy(W, splits.train.X, splits.train.y)),
        "val_accuracy": float(accuracy(W, splits.val.X, splits.val.y)),
        "test_accuracy": float(accuracy(W, splits.test.X, splits.test.y)),
        "final_loss": final_loss,
        "seconds": seconds,
    }
    _emit(args, result, [
        f"{args.loss} classifier on {args.data}: {args.steps} SGD steps of batch {batch_size}, "
        f"lr {args.lr:g}, reg {args.reg:g} ({seconds:.1f} s)",
        f"  final loss      {final_loss:.4f}",
        f"  train accuracy  {result['train_accuracy']:.2%}",
        f"  val accuracy    {result['val_accuracy']:.2%}",
        f"  test accuracy   {result['test_accuracy']:.2%}",
    ])
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _positive_float(text):
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxopt-course", description=(
        "How linear classifiers are optimized: the CS231n optimization lecture in JAX."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a linear classifier with minibatch SGD",
                       description="Train a linear classifier (scores W x) by minibatch stochastic gradient "
                                   "descent: sample --batch-size examples, step against the gradient, repeat.")
    _add_data_args(p)
    p.add_argument("--loss", choices=["softmax", "svm"], default="softmax",
                   help="the data loss: softmax cross-entropy or multiclass SVM (hinge)")
    p.add_argument("--lr", type=_positive_float, default=1.0, help="the step size (learning rate)")
    p.add_argument("--reg", type=_nonnegative_float, default=1e-4, help="regularization strength lambda")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="examples per SGD step")
    p.add_argument("--steps", type=_positive_int, default=2000, help="number of SGD steps (maxIterations)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial W and minibatches)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, ConnectionError, PermissionError) as err:
        print(f"jaxopt-course: error: {err}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
