"""The linear score function, predictions, accuracy and initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import accuracy, init_weights, predict, scores
from jaxopt_course.model import accuracy_core, scores_core


def test_scores_are_W_times_each_x():
    rng = np.random.default_rng(0)
    W, X = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((7, 6)).astype(np.float32)
    expected = np.array([[W[j] @ X[i] for j in range(4)] for i in range(7)])
    np.testing.assert_allclose(scores(W, X), expected, rtol=1e-5, atol=1e-5)
    assert scores(W, X).shape == (7, 4)


def test_predict_and_accuracy_by_hand():
    W = jnp.eye(3)
    X = jnp.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # the lecture's table
    np.testing.assert_array_equal(predict(W, X), [1, 1, 1])
    assert float(accuracy(W, X, jnp.array([0, 1, 2]))) == pytest.approx(1 / 3)


def test_init_weights_scale_and_shape():
    W = init_weights(jax.random.key(0), 10, 3073)
    assert W.shape == (10, 3073) and W.dtype == jnp.float32
    assert float(jnp.std(W)) == pytest.approx(1e-4, rel=0.05)
    assert not jnp.array_equal(W, init_weights(jax.random.key(1), 10, 3073))


@pytest.mark.parametrize(
    "args, error, pattern",
    [
        ((0, 5), ValueError, "num_classes must be a positive integer, got 0"),
        ((3, -1), ValueError, "dim must be a positive integer, got -1"),
        (
            (3.0, 5),
            TypeError,
            "num_classes must be an integer, got 3.0",
        ),  # the one integer check: a float is a TypeError
        ((True, 5), TypeError, "num_classes must be an integer, got True"),
    ],
)
def test_init_weights_bad_sizes(args, error, pattern):
    with pytest.raises(error, match=pattern):
        init_weights(jax.random.key(0), *args)


def test_the_cores_equal_the_checked_functions_and_trace():
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((8, 5)).astype(np.float32)
    y = rng.integers(0, 3, 8).astype(np.int32)
    np.testing.assert_allclose(scores_core(W, X), scores(W, X), rtol=1e-6, atol=1e-6)
    assert float(accuracy_core(W, X, y)) == float(accuracy(W, X, y))
    # NumPy reference for accuracy: the argmax of W x_i against y_i.
    assert float(accuracy(W, X, y)) == pytest.approx(np.mean(np.argmax(X @ W.T, axis=1) == y))
    assert jax.jit(accuracy_core)(W, X, y).shape == ()


def test_a_transposed_W_gets_a_hint():
    W_DxC, X = np.zeros((5, 3), np.float32), np.zeros((8, 5), np.float32)
    with pytest.raises(ValueError, match=r"W and X disagree.*is W transposed\? W must be \(C, D\).*\(3, 5\).*W\.T"):
        scores(W_DxC, X)
    with pytest.raises(ValueError, match="is W transposed"):
        accuracy(W_DxC, X, np.zeros(8, np.int32))
    with pytest.raises(ValueError, match="bias trick"):  # one column short: the other hint
        scores(np.zeros((3, 6), np.float32), X)
    with pytest.raises(ValueError) as info:  # neither: no hint
        scores(np.zeros((3, 9), np.float32), X)
    assert "--" not in str(info.value)


def test_accuracy_validates_labels():
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        accuracy(jnp.eye(3), jnp.ones((2, 3)), jnp.array([0, 5]))
