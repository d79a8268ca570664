"""This package's optax optimizers, full batch: the lecture's step (``jaxopt_course.sgd.train_step``).

benchopt's ``callback`` strategy owns the loop: it calls ``callback()``
before every step, evaluates the objective at growing intervals and keeps
that time out of the clock. Each step is waited for before the clock stops,
and compiled (once per objective) before it starts. The step runs in
float32, as the package trains.
"""

from benchopt import BaseSolver, safe_import_context
from benchopt.stopping_criterion import SufficientProgressCriterion

with safe_import_context() as import_ctx:
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

#: A full-batch learning rate per optimizer that converges on digits' softmax and SVM at reg 1e-3.
LEARNING_RATES = {"sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adam": 0.03, "rmsprop": 0.01, "adagrad": 0.3}


class Solver(BaseSolver):
    name = "optax"
    requirements = ["pip:jaxopt-course"]
    parameters = {"optimizer": list(LEARNING_RATES)}
    # benchopt stops a solver after ``patience`` evaluations without progress (3 by default). Momentum's
    # objective rises for a few evaluations before it falls (on the SVM it was stopped after 19 steps at a
    # gap of 0.5), so the optax solvers get 10.
    stopping_criterion = SufficientProgressCriterion(patience=10, strategy="callback")

    def set_objective(self, X, y, reg, loss):
        from jaxopt_course import losses, sgd
        from jaxopt_course.optimizers import get_optimizer

        self.X, self.y, self.reg = jnp.asarray(X, jnp.float32), jnp.asarray(y), jnp.float32(reg)
        self.num_classes = int(np.max(y)) + 1
        self.lr = jnp.float32(LEARNING_RATES[self.optimizer])
        optimizer = functools.partial(_with_extra_args, get_optimizer, self.optimizer)
        self.config = sgd.Config(losses.get_loss(loss), optimizer, batch_size=None)
        self.step = jax.jit(functools.partial(sgd.train_step, self.config))
        # Compile here, outside the clock. Not in ``warm_up``: benchopt calls that once per solver, and the
        # same solver then meets the next objective (the SVM after softmax) with a step compiled for neither.
        jax.block_until_ready(self.step(self.X, self.y, self.lr, self.reg, self._initial_state()))

    def _initial_state(self):
        from jaxopt_course import sgd

        W0 = jnp.zeros((self.num_classes, self.X.shape[1]), jnp.float32)
        return sgd.init_state(self.config, W0, jax.random.key(0), self.lr, int(self.X.shape[0]))

    def run(self, callback):
        state = self._initial_state()
        self.W = state.params
        while callback():
            # Wait for the step before ``callback`` stops the clock: JAX dispatches asynchronously.
            state, _ = jax.block_until_ready(self.step(self.X, self.y, self.lr, self.reg, state))
            self.W = state.params

    def get_result(self):
        return dict(W=np.asarray(jax.block_until_ready(self.W), np.float64))


def _with_extra_args(get_optimizer, name, lr):
    """The named optax optimizer, accepting the step's extra arguments (``value``, ``grad``, ``value_fn``)."""
    return optax.with_extra_args_support(get_optimizer(name, lr))
