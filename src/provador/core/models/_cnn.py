"""Convolutional nets sized for a laptop CPU: `cnn` (small, fast) and `cnn-bn` (wider, batch norm)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from provador.base.i18n import _
from provador.core.models._registry import Augmentation, ModelParams, Size, register_model

if TYPE_CHECKING:  # the builders import Keras when called: listing and validating need none of it
    from provador.base._keras import keras

# Far past what 28×28 images need; a typo such as 1e8 is refused before it asks for gigabytes.
Filters = Annotated[int, Field(ge=1, le=1024)]
MAX_DENSE = 8192


class CNNParams(ModelParams):
    filters: list[Filters] = Field(default=[32, 64], min_length=1, max_length=4)
    dense: int = Field(default=128, ge=1, le=MAX_DENSE)
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    batch_norm: bool = False
    augmentation: Augmentation = "none"


def _conv_block(x, filters: int, batch_norm: bool, index: int, convs: int):
    """`convs` × (3×3 conv → BN → ReLU), with the 2×2 max-pool moved before the last BN and ReLU.

    Pooling first is the same function without batch norm (ReLU and a per-channel bias commute
    with max) and nearly so with it (batch statistics of the pooled values); it makes the block's
    element-wise work 4× smaller: with provador's convolution flag the `cnn` model's epoch is about
    1.5× faster (bench/cnn_speed.py).
    """
    from provador.base._keras import keras
    from provador.core.models._layers import BatchNorm, MaxPool2x2

    for j in range(convs):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{index}_{j}")(x)
        if j == convs - 1:
            x = MaxPool2x2(name=f"pool{index}")(x)
        if batch_norm:
            # Momentum 0.9, not Keras' 0.99: runs here are a few thousand steps long.
            x = BatchNorm(momentum=0.9, name=f"bn{index}_{j}")(x)
        x = keras.layers.Activation("relu", name=f"relu{index}_{j}")(x)
    return x


def _build(params: CNNParams, input_shape, num_classes: int, convs: list[int], name: str) -> keras.Model:
    from provador.base._keras import keras
    from provador.core.models._layers import augmentation_layers

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for layer in augmentation_layers(params.augmentation, tuple(input_shape)):
        x = layer(x)
    x = keras.layers.Reshape((*input_shape, 1), name="channel")(x)
    for i, (filters, count) in enumerate(zip(params.filters, convs, strict=True)):
        x = _conv_block(x, filters, params.batch_norm, i, count)
    x = keras.layers.Flatten(name="flatten")(x)
    if params.dropout:
        x = keras.layers.Dropout(params.dropout, name="dropout")(x)
    x = keras.layers.Dense(params.dense, activation="relu", name="dense")(x)
    if params.dropout:
        x = keras.layers.Dropout(params.dropout, name="dropout_1")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def _size(params: CNNParams, input_shape, num_classes: int, convs: list[int]) -> Size:
    (height, width), channels = input_shape, 1
    weights = activations = 0
    for filters, count in zip(params.filters, convs):
        for _conv in range(count):
            weights += 9 * channels * filters + (4 * filters if params.batch_norm else filters)
            activations += 3 * height * width * filters  # convolution, normalisation, activation
            channels = filters
        height, width = height // 2, width // 2
    flat = height * width * channels
    weights += flat * params.dense + params.dense + params.dense * num_classes + num_classes
    return Size(weights, activations + flat + params.dense + num_classes)


def cnn_size(params: CNNParams, input_shape, num_classes: int) -> Size:
    return _size(params, input_shape, num_classes, [1] * len(params.filters))


def cnn_bn_size(params: CNNBNParams, input_shape, num_classes: int) -> Size:
    return _size(params, input_shape, num_classes, params.stage_convs())


@register_model("cnn", CNNParams, convolutional=True, size=cnn_size)
def cnn(params: CNNParams, input_shape, num_classes: int) -> keras.Model:
    """Small CNN: one 3×3 conv and a 2×2 max-pool per stage (32, 64 filters), dense 128, dropout."""
    return _build(params, input_shape, num_classes, convs=[1] * len(params.filters), name="cnn")


class CNNBNParams(CNNParams):
    filters: list[Filters] = Field(default=[32, 64, 128], min_length=1, max_length=4)
    # 3×3 convolutions per stage; default one in the first stage, two after. Full-resolution
    # convolutions are the dearest on a CPU (a 32→32 one at 28×28 costs as much as the two of a
    # 64-filter stage at 14×14), and a single one there loses little.
    convs: list[Annotated[int, Field(ge=1, le=8)]] | None = Field(default=None, min_length=1, max_length=4)
    dense: int = Field(default=256, ge=1, le=MAX_DENSE)
    batch_norm: bool = True

    @model_validator(mode="after")
    def _one_count_per_stage(self):
        if self.convs is not None and len(self.convs) != len(self.filters):
            raise ValueError(
                _(
                    "model.convs has {convs} entries but model.filters has {filters}: give one convolution count per "
                    "stage, e.g. filters = [32, 64, 128] with convs = [1, 2, 2]"
                ).format(convs=len(self.convs), filters=len(self.filters))
            )
        return self

    def stage_convs(self) -> list[int]:
        return self.convs if self.convs is not None else [1] + [2] * (len(self.filters) - 1)


@register_model("cnn-bn", CNNBNParams, convolutional=True, size=cnn_bn_size)
def cnn_bn(params: CNNBNParams, input_shape, num_classes: int) -> keras.Model:
    """Stronger CNN with batch norm: 32, 64, 128 filters with 1, 2, 2 3×3 convs, dense 256, dropout."""
    return _build(params, input_shape, num_classes, convs=params.stage_convs(), name="cnn_bn")
