"""Many training steps in one compiled call, on the JAX backend.

Keras 3's JAX trainer runs `steps_per_execution` as a Python loop over a compiled single step:
each batch is handed over from NumPy and the whole training state goes in and out of a compiled
call once per batch. For the notebook's MLP (batch 32, 1,844 steps an epoch) that costs more
than the arithmetic: bench/seed_floor.py measured the plain Keras loop at 1.5× a hand-written
JAX loop. Here each execution's full-size batches are stacked and run by one compiled loop of
Keras' own `train_step`: the same steps in the same order, so the same numbers
(tests/work/test_fused_steps.py checks the weights), one call per `images_per_call` images.

Dense models only: a convolution inside a compiled loop loses XLA's multithreaded CPU path (the
`cnn` recipe's epoch took 287 s instead of 14), and a CNN's step is long enough that Keras' own
loop costs it under 1%.
"""

from __future__ import annotations

import numpy as np

from provador.base._keras import keras
from provador.core.models import get_architecture

# Images per compiled call: enough to make the hand-over negligible for a batch of 32 (128 steps);
# Python sees Ctrl-C only between calls, and a dense model's call is a fraction of a second.
IMAGES_PER_CALL = 4096


def fuse_train_steps(model, architecture: str, batch_size: int, images_per_call: int = IMAGES_PER_CALL) -> bool:
    """Give a compiled Keras model a train function that runs several steps per compiled call.

    Only where it is faster and the same computation: a dense architecture, the JAX backend,
    compiled, on one device, without Flax NNX (whose step is called differently). Returns
    whether it did; otherwise the model keeps Keras' own loop. Call after `compile` (which resets
    the train function).
    """
    if get_architecture(architecture).convolutional:
        return False
    if keras.backend.backend() != "jax" or model.run_eagerly or not model.jit_compile:
        return False
    if keras.distribution.distribution() is not None or keras.config.is_nnx_enabled():
        return False
    length = max(1, min(model.steps_per_execution, images_per_call // max(1, batch_size)))
    if length == 1:
        return False
    model.train_function = _FusedTrainFunction(model.train_step, model.steps_per_execution, length)
    return True


class _FusedTrainFunction:
    """Keras' train function contract: `(state, batches) -> (logs, state)`, taking at most
    `steps_per_execution` batches from `batches` (the epoch's iterator, in Keras 3.15's JAX
    trainer, which counts the steps of each call as that many)."""

    def __init__(self, train_step, steps_per_execution: int, length: int):
        import jax

        self.steps_per_execution, self.length = steps_per_execution, length
        self.single = jax.jit(train_step, donate_argnums=0)

        def run(state, stacked, count):
            # The first step outside the loop gives the logs their structure; the loop's trip
            # count is a traced value, so a short last group (the epoch's end) reuses this
            # compilation: its padding rows are never stepped on.
            logs, state = train_step(state, jax.tree.map(lambda leaf: leaf[0], stacked))

            def body(i, carry):
                return train_step(carry[1], jax.tree.map(lambda leaf: leaf[i], stacked))

            return jax.lax.fori_loop(1, count, body, (logs, state))

        self.run = jax.jit(run, donate_argnums=0)

    def __call__(self, state, batches):
        pending, logs, batches = [], None, iter(batches)
        for _ in range(self.steps_per_execution):
            data = next(batches, None)
            if data is None:
                break
            if pending and _shape(data) != _shape(pending[0]):
                # A batch of another size (the epoch's last): what came before it, then it alone.
                logs, state = self._run_group(state, pending)
                pending = []
                logs, state = self.single(state, data)
                continue
            pending.append(data)
            if len(pending) == self.length:
                logs, state = self._run_group(state, pending)
                pending = []
        if pending:
            logs, state = self._run_group(state, pending)
        if logs is None:
            raise StopIteration  # what Keras' own loop raises when the epoch has no batch left
        return logs, state

    def _run_group(self, state, group: list):
        import jax

        if len(group) == 1:
            return self.single(state, group[0])
        padded = group + [group[-1]] * (self.length - len(group))
        stacked = jax.tree.map(_stack, *padded)
        logs, state = self.run(state, stacked, np.int32(len(group)))
        return logs, state


def _shape(data) -> list:
    import jax

    return [getattr(leaf, "shape", None) for leaf in jax.tree.leaves(data)]


def _stack(*leaves):
    """NumPy batches (CPU: Keras hands them over as they are) stack on the host, in one copy;
    batches already on an accelerator stack there."""
    if isinstance(leaves[0], np.ndarray):
        return np.stack(leaves)
    import jax.numpy as jnp

    return jnp.stack(leaves)
