"""The linear score function, predictions, accuracy and initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_course import accuracy, init_weights, predict, scores


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


@pytest.mark.parametrize("args, pattern", [((0, 5), "num_classes"), ((3, -1), "dim"), ((3.0, 5), "num_classes")])
def test_init_weights_bad_sizes(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        init_weights(jax.random.key(0), *args)


def test_accuracy_validates_labels():
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        accuracy(jnp.eye(3), jnp.ones((2, 3)), jnp.array([0, 5]))
