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
