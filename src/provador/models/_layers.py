"""Small building blocks shared by the architectures."""

from __future__ import annotations

from typing import Literal

from keras import ops

from provador._keras import keras

Augmentation = Literal["none", "flip", "flip-shift"]


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


def augmentation_layers(kind: Augmentation, image_shape: tuple[int, int], seed: int = 0) -> list:
    """Training-only augmentation (a no-op at inference): horizontal flips, shifts up to 10%.

    Keras' image layers want a channel axis, so the images get one for the way through.
    """
    if kind == "none":
        return []
    layers = [keras.layers.Reshape((*image_shape, 1), name="add_channel")]
    layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"))
    if kind == "flip-shift":
        layers.append(keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed, name="random_shift"))
    layers.append(keras.layers.Reshape(image_shape, name="drop_channel"))
    return layers
