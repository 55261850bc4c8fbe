"""The answer: model → mirror average → calibration temperature, written once.

Evaluation (temperature 1: the raw answer, which the calibration is fitted on and measured
against), the Predictor (the run's temperature) and export (the same steps traced into the
exported graph) all call `Answer`. It is written in keras.ops, so every backend runs it, JAX
compiles it in one `jit`, and `keras.Model.export` can trace it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from provador.core.models import mirrors_at_inference

_FLOOR = 1e-12  # the log of a probability of exactly 0 is -inf
CHUNK = 1024  # the most images handed to the model at once


@dataclass(frozen=True)
class Answer:
    """How a model's outputs become provador's answer; immutable, shared by every caller."""

    mirror: bool = False  # average each image's probabilities with its mirror's
    temperature: float = 1.0  # softmax(log p / T); 1 leaves the probabilities as they are

    @classmethod
    def for_recipe(cls, model_params: dict, calibration: dict | None = None) -> Answer:
        """The answer of a model trained with these parameters, at the calibration's temperature
        (none: the raw answer)."""
        temperature = float(calibration["temperature"]) if calibration else 1.0
        return cls(mirror=mirrors_at_inference(model_params), temperature=temperature)

    def __call__(self, call: Callable, images):
        """The answer for a batch of float32 images, `call` being the model (keras.ops only)."""
        from keras import ops

        if self.mirror:
            # Two calls, not one on both halves concatenated: inside a graph being exported the
            # batch size is unknown, so the halves could not be split again. Under `jit` the
            # two are one compiled program.
            probabilities = (call(images) + call(ops.flip(images, axis=2))) / 2
        else:
            probabilities = call(images)
        if self.temperature == 1.0:
            return probabilities
        return ops.softmax(ops.log(ops.maximum(probabilities, _FLOOR)) / self.temperature, axis=-1)

    def compiled(self, model) -> Callable[[np.ndarray], np.ndarray]:
        """A function float32 batch → probabilities for this Keras model: on JAX one jitted
        stateless call (about 5× less overhead per call than `predict_on_batch`, which matters
        for single images), on TensorFlow a `tf.function`, elsewhere the eager call."""
        from provador.base._keras import backend_name

        backend = backend_name()
        if backend == "jax":
            import jax

            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            call = lambda batch: model.stateless_call(trainable, non_trainable, batch, training=False)[0]  # noqa: E731
            return jax.jit(lambda x: self(call, x))
        forward = lambda x: self(lambda batch: model(batch, training=False), x)  # noqa: E731
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.function(forward, reduce_retracing=True)
        return forward

    def probabilities(self, forward: Callable, images: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
        """The answers (float64, shape (N, classes)) for raw images, `forward` being `compiled(model)`
        or any function batch → probabilities, in chunks of at most `chunk`."""
        images = np.asarray(images, dtype=np.float32)
        rows = [_padded(forward, images[i : i + chunk]) for i in range(0, len(images), chunk)]
        return np.concatenate(rows) if rows else np.zeros((0, 0))


def _padded(forward: Callable, images: np.ndarray) -> np.ndarray:
    # JAX compiles once per batch shape: pad to a power of two so only ~11 shapes exist.
    n = len(images)
    bucket = 1 << max(0, n - 1).bit_length()
    if bucket > n:
        images = np.concatenate([images, np.zeros((bucket - n, *images.shape[1:]), images.dtype)])
    return np.asarray(forward(images), dtype=np.float64)[:n]


def predict_probabilities(model, images: np.ndarray, batch_size: int = CHUNK, mirror: bool = False) -> np.ndarray:
    """The raw answer (temperature 1) of a Keras model, as evaluation and calibration use it."""
    answer = Answer(mirror=mirror)
    return answer.probabilities(answer.compiled(model), images, batch_size)
