"""Small building blocks shared by the architectures."""

from __future__ import annotations

from keras import ops

from provador.base._keras import keras
from provador.core.models._registry import Augmentation


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
class PhotoLook(keras.layers.Layer):
    """Makes training images look like photos after provador's photo pipeline; the identity at
    inference.

    Every image is mirrored half the time (shop photos show shoes pointing right, the dataset
    left). A `share` of the images (half by default) also get a scale of 0.8-1.05 with its own
    aspect change of up to 10% and a shift of up to 2 pixels (segmentation keeps a little too
    much or too little), a Gaussian blur of sigma 0-1 pixel (small photos are soft), a gamma of
    0.6-1.6 and a contrast of 0.7-1 (cloth and light vary), a background
    level of 0-0.05 and noise of sigma 0-0.04.

    Geometry and blur are one separable linear map per image, out = rows @ image @ cols^T, with
    interpolation matrices built from the random numbers: exact, and a few batched 28×28
    products, where an interpolating gather costs the CPU far more (see RandomShift).
    Expects images scaled to 0-1, shape (batch, height, width).
    """

    def __init__(self, share: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.share, self.seed = share, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, low, high):
        return keras.random.uniform((batch,), low, high, seed=self.seed_generator)

    def _resampling(self, size: int, scale, shift, sigma, flip):
        """(batch, size, size): output pixel r reads the blurred input around centre + (r − centre)/scale + shift."""
        positions = ops.arange(size, dtype="float32")
        centre = (size - 1) / 2
        source = centre + (positions[None, :] - centre) / scale[:, None] + shift[:, None]
        source = ops.where(flip[:, None], (size - 1) - source, source)
        # Linear interpolation: weight 1 − distance to the two nearest input pixels (0 outside).
        sample = ops.relu(1 - ops.abs(source[:, :, None] - positions[None, None, :]))
        distance = positions[:, None] - positions[None, :]
        blur = ops.exp(-ops.square(distance)[None] / (2 * ops.square(sigma)[:, None, None] + 1e-4))
        blur = blur / ops.sum(blur, axis=2, keepdims=True)
        return ops.matmul(sample, blur)

    def call(self, images, training=None):
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        # The photo look for a share of the images; the others stay as the dataset has them
        # (mirrored or not), so the model keeps its accuracy on Fashion-MNIST itself.
        looks = self._uniform(batch, 0.0, 1.0) < self.share

        def draw(low, high, plain):
            return ops.where(looks, self._uniform(batch, low, high), plain)

        scale, aspect, sigma = draw(0.8, 1.05, 1.0), draw(0.9, 1.1, 1.0), draw(0.0, 1.0, 0.0)
        shift_rows, shift_cols = draw(-2.0, 2.0, 0.0), draw(-2.0, 2.0, 0.0)
        flip = self._uniform(batch, 0.0, 1.0) < 0.5
        rows = self._resampling(height, scale * aspect, shift_rows, sigma, ops.zeros_like(flip))
        cols = self._resampling(width, scale / aspect, shift_cols, sigma, flip)
        x = ops.matmul(ops.matmul(rows, images), ops.transpose(cols, (0, 2, 1)))
        x = ops.power(ops.clip(x, 0.0, 1.0), draw(0.6, 1.6, 1.0)[:, None, None])
        x = x * draw(0.7, 1.0, 1.0)[:, None, None] + draw(0.0, 0.05, 0.0)[:, None, None]
        noise = keras.random.normal(ops.shape(x), seed=self.seed_generator) * draw(0.0, 0.04, 0.0)[:, None, None]
        return ops.clip(x + noise, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "share": self.share, "seed": self.seed}


def augmentation_layers(kind: Augmentation, image_shape: tuple[int, int], seed: int = 0) -> list:
    """Training-only augmentation (a no-op at inference): horizontal flips, erased rectangles,
    shifts up to 2 pixels, or the whole look of a photo (`photo`).

    Keras' image layers want a channel axis, so the images get one for the way through.
    """
    if kind == "none":
        return []
    if kind == "photo":
        return [PhotoLook(seed=seed, name="photo_look")]
    layers = [
        keras.layers.Reshape((*image_shape, 1), name="add_channel"),
        keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"),
    ]
    if kind == "flip-shift-erase":
        # Random erasing (Zhong et al., 2017, whose Fashion-MNIST results suggested it): a black
        # rectangle in half of the images, each side 1/7 to 1/2 of the image's (4-14 pixels on
        # Fashion-MNIST); `scale` bounds the squared fractions.
        layers.append(
            keras.layers.RandomErasing(
                factor=(0.5, 0.5), scale=(1 / 49, 1 / 4), fill_value=0.0, value_range=(0, 1), seed=seed,
                name="random_erasing",
            )
        )  # fmt: skip
    layers.append(keras.layers.Reshape(image_shape, name="drop_channel"))
    if kind in ("flip-shift", "flip-shift-erase"):
        layers.append(RandomShift(2, seed=seed, name="random_shift"))
    return layers
