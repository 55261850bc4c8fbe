"""Small building blocks shared by the architectures."""

from __future__ import annotations

from typing import Literal

from keras import ops

from provador._keras import keras

Augmentation = Literal["none", "flip", "flip-shift", "flip-shift-erase"]


@keras.saving.register_keras_serializable(package="provador")
class MaxPool2x2(keras.layers.Layer):
    """2×2 max pooling written as reshape + max.

    On XLA's CPU backend this trains about 1.7× faster than keras.layers.MaxPooling2D
    (measured on this project's 2-core machine); odd sizes are cropped like "valid" pooling.
    """

    def call(self, x):
        height, width, channels = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2, x.shape[3]
        x = x[:, :height, :width, :]
        x = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))
        return ops.max(x, axis=(2, 4))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // 2, input_shape[2] // 2, input_shape[3])


@keras.saving.register_keras_serializable(package="provador")
class BatchNorm(keras.layers.Layer):
    """Batch normalization over the last axis whose batch statistics are matrix products.

    Same maths as keras.layers.BatchNormalization (moving averages for inference), but
    XLA's CPU backend reduces over (batch, height, width) slowly, forward and backward;
    written as products with a row of ones, the `cnn` model's epoch is 1.08× faster on top of
    provador's convolution flag (and no faster without it; bench/cnn_speed.py).
    """

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(shape=channels, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(
            shape=channels, initializer="ones", name="moving_variance", trainable=False
        )

    def call(self, x, training=None):
        shape = ops.shape(x)
        rows = ops.reshape(x, (-1, shape[-1]))
        if training:
            ones = ops.transpose(ops.ones_like(rows[:, :1]))  # (1, n); n may be unknown (TensorFlow)
            count = ops.sum(ones)
            mean = ops.matmul(ones, rows)[0] / count
            # E[x²] − E[x]²: one pass; clamped because rounding can make it slightly negative.
            variance = ops.maximum(ops.matmul(ones, ops.square(rows))[0] / count - ops.square(mean), 0.0)
            m = self.momentum
            self.moving_mean.assign(m * self.moving_mean + (1 - m) * mean)
            self.moving_variance.assign(m * self.moving_variance + (1 - m) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * ops.rsqrt(variance + self.epsilon)
        return ops.reshape(rows * scale + (self.beta - mean * scale), shape)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="provador")
class RandomShift(keras.layers.Layer):
    """Shifts each training image by a random whole number of pixels, up to `max_shift` each way,
    filling with black; the identity at inference.

    Written as two batched products with one-hot selection matrices (out = rows @ image @ cols):
    exact, and nearly free on XLA's CPU backend, where keras.layers.RandomTranslation's
    interpolating gather made the `best` recipe's epoch 171 s instead of 64 s.
    """

    def __init__(self, max_shift: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_shift, self.seed = max_shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _selection(self, size: int, shifts, dtype):
        # selection[i, r, s] = 1 where s == r − shift[i]: row r of the output is row s of the input.
        positions = ops.arange(size)
        wanted = positions[None, :, None] - shifts[:, None, None]
        return ops.cast(ops.equal(wanted, positions[None, None, :]), dtype)

    def call(self, images, training=None):
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        shifts = keras.random.randint((2, batch), -self.max_shift, self.max_shift + 1, seed=self.seed_generator)
        rows = self._selection(height, shifts[0], images.dtype)
        cols = self._selection(width, shifts[1], images.dtype)
        return ops.matmul(ops.matmul(rows, images), ops.transpose(cols, (0, 2, 1)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift, "seed": self.seed}


@keras.saving.register_keras_serializable(package="provador")
class RandomErasing(keras.layers.Layer):
    """Blacks out a random rectangle in half of the training images (Zhong et al., 2017, "Random
    Erasing Data Augmentation", whose Fashion-MNIST results motivated it); the identity at
    inference.

    Sides are drawn between `min_size` and `max_size` pixels and the rectangle lies inside the
    image (a side longer than the image spans all of it). Built from broadcast comparisons,
    without gathers, which XLA's CPU backend runs slowly.
    """

    def __init__(self, probability: float = 0.5, min_size: int = 4, max_size: int = 14, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.probability, self.min_size, self.max_size, self.seed = probability, min_size, max_size, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _inside(self, size: int, length, batch):
        # positions in [start, start + length) with start uniform over the places it fits
        # (a side longer than the image covers all of it).
        start = ops.floor(keras.random.uniform((batch,), seed=self.seed_generator) * (size - length + 1))
        positions = ops.cast(ops.arange(size), "float32")[None, :]
        return ops.logical_and(positions >= start[:, None], positions < (start + length)[:, None])

    def call(self, images, training=None):
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        sides = keras.random.randint((2, batch), self.min_size, self.max_size + 1, seed=self.seed_generator)
        sides = ops.cast(sides, "float32")
        erase = keras.random.uniform((batch,), seed=self.seed_generator) < self.probability
        rows = ops.logical_and(self._inside(height, sides[0], batch), erase[:, None])
        cols = self._inside(width, sides[1], batch)
        hole = ops.logical_and(rows[:, :, None], cols[:, None, :])
        return ops.where(hole, ops.zeros_like(images), images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "probability": self.probability,
            "min_size": self.min_size,
            "max_size": self.max_size,
            "seed": self.seed,
        }


def augmentation_layers(kind: Augmentation, image_shape: tuple[int, int], seed: int = 0) -> list:
    """Training-only augmentation (a no-op at inference): horizontal flips, shifts up to 2 pixels,
    erased rectangles.

    Keras' flip layer wants a channel axis, so the images get one for the way through.
    """
    if kind == "none":
        return []
    layers = [
        keras.layers.Reshape((*image_shape, 1), name="add_channel"),
        keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"),
        keras.layers.Reshape(image_shape, name="drop_channel"),
    ]
    if kind in ("flip-shift", "flip-shift-erase"):
        layers.append(RandomShift(2, seed=seed, name="random_shift"))
    if kind == "flip-shift-erase":
        layers.append(RandomErasing(seed=seed, name="random_erasing"))
    return layers
