"""The notebook's multilayer perceptron: Flatten, Dense 300, Dense 100, Dense 10."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from provador.base.i18n import _
from provador.core.models._registry import Augmentation, ModelParams, Size, register_model

if TYPE_CHECKING:  # the builders import Keras when called: listing and validating need none of it
    from provador.base._keras import keras

Activation = Literal["relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu"]


MAX_WIDTH, MAX_LAYERS = 8192, 16  # far past what 28×28 images need; a typo such as 1e8 is refused


class MLPParams(ModelParams):
    hidden: list[int] = Field(default=[300, 100], min_length=1, max_length=MAX_LAYERS)
    activation: Activation = "relu"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    augmentation: Augmentation = "none"

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if any(width < 1 or width > MAX_WIDTH for width in hidden):
            raise ValueError(_("every width must be a whole number from 1 to {most}").format(most=MAX_WIDTH))
        return hidden


def mlp_size(params: MLPParams, input_shape: tuple[int, int], num_classes: int) -> Size:
    widths = [input_shape[0] * input_shape[1], *params.hidden, num_classes]
    weights = sum(a * b + b for a, b in zip(widths, widths[1:]))
    return Size(weights, sum(widths))


@register_model("mlp", MLPParams, size=mlp_size)
def mlp(params: MLPParams, input_shape: tuple[int, int], num_classes: int) -> keras.Model:
    """The notebook's Sequential MLP (300-100 ReLU, softmax), scaling raw pixels itself."""
    from provador.base._keras import keras
    from provador.core.models._layers import augmentation_layers

    layers = [
        keras.Input(shape=input_shape, name="pixels"),
        # Raw uint8 pixels in, [0, 1] inside: the notebook's "/255.0" can never be forgotten.
        keras.layers.Rescaling(1.0 / 255, name="rescaling"),
        *augmentation_layers(params.augmentation, tuple(input_shape)),
        keras.layers.Flatten(name="flatten"),
    ]
    # Layer names match the notebook's (dense, dense_1, …) whatever else Keras has built.
    for i, width in enumerate(params.hidden):
        layers.append(keras.layers.Dense(width, activation=params.activation, name="dense" if i == 0 else f"dense_{i}"))
        if params.dropout:
            layers.append(keras.layers.Dropout(params.dropout, name=f"dropout_{i}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name=f"dense_{len(params.hidden)}"))
    return keras.Sequential(layers, name="mlp")
