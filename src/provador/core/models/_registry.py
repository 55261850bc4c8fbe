"""A registry of architectures by name, in the manner of timm's `register_model`.

Each architecture is a builder function plus a Pydantic model of its
parameters, so a recipe's `[model]` table is validated before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from provador.base.errors import ModelError
from provador.base.i18n import _

# The training-only augmentations (`_layers.augmentation_layers` builds them).
Augmentation = Literal["none", "flip", "flip-shift", "flip-shift-erase", "photo"]


class ModelParams(BaseModel):
    """Base for an architecture's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Size:
    """How big a model is before it is built: its weights, and the numbers one image's forward
    pass keeps for the backward pass (what a training batch multiplies)."""

    parameters: int
    activations_per_image: int


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable
    params: type[ModelParams]
    summary: str
    convolutional: bool = False  # decides an XLA setting before the model is built (see _keras.py)
    size: Callable | None = None  # (params, input_shape, num_classes) -> Size, computed without building


_REGISTRY: dict[str, Architecture] = {}


def register_model(
    name: str, params: type[ModelParams], convolutional: bool = False, size: Callable | None = None
) -> Callable:
    """Decorator: make `build(params, input_shape, num_classes)` available as `name`; `size` says
    how big a model of given parameters is without building it (checked against the memory)."""

    def decorate(build: Callable) -> Callable:
        doc = (build.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Architecture(name, build, params, doc[0] if doc else "", convolutional, size)
        return build

    return decorate


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_architecture(name: str) -> Architecture:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            _("Expected `model.architecture` to be one of {names}. Received: {value!r}").format(
                names=", ".join(list_models()), value=name
            )
        ) from None
