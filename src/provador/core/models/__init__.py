"""Model zoo: `build_model(name, **params)` and `list_models()`.

Every model takes raw uint8 images of shape (height, width) and scales them
itself, so training, evaluation, prediction and serving cannot disagree.
"""

from __future__ import annotations

from pydantic import ValidationError

from provador.base.errors import ModelError
from provador.base.validation import describe_validation_error
from provador.core.models import _cnn, _mlp  # noqa: F401  (they register "mlp", "cnn", "cnn-bn")
from provador.core.models._registry import ModelParams, Size, get_architecture, list_models, register_model

__all__ = [
    "build_model",
    "list_models",
    "register_model",
    "ModelParams",
    "validate_params",
    "model_size",
    "training_bytes",
    "custom_objects",
    "describe_models",
    "prepare_backend_for",
    "mirrors_at_inference",
    "get_architecture",
]


def custom_objects() -> dict:
    """Custom objects that `keras.saving.load_model` must know (also registered by package)."""
    from provador.core.losses import SmoothedSparseCrossentropy
    from provador.core.models._layers import BatchNorm, MaxPool2x2, PhotoLook, RandomShift

    return {
        "provador>BatchNorm": BatchNorm,
        "provador>MaxPool2x2": MaxPool2x2,
        "provador>PhotoLook": PhotoLook,
        "provador>RandomShift": RandomShift,
        "provador>SmoothedSparseCrossentropy": SmoothedSparseCrossentropy,
    }


def mirrors_at_inference(params: dict) -> bool:
    """Whether a model with these parameters answers with the average of each image and its mirror.

    Every augmentation mirrors training images, so such a model has learnt both orientations
    (a photographed shoe may point either way; Fashion-MNIST's all point left): averaging the two
    answers makes its answer the same for both, and is what evaluation reports too.
    """
    return params.get("augmentation", "none") != "none"


def describe_models() -> list[tuple[str, str]]:
    """(name, one-line description) for every registered architecture."""
    return [(name, get_architecture(name).summary) for name in list_models()]


def validate_params(name: str, params: dict) -> ModelParams:
    """Check an architecture's parameters, naming the key at fault."""
    arch = get_architecture(name)
    try:
        return arch.params.model_validate(params)
    except ValidationError as exc:
        raise ModelError(describe_validation_error(exc, prefix="model", schema=arch.params)) from None


def model_size(name: str, input_shape=(28, 28), num_classes: int = 10, **params) -> Size:
    """Weights and per-image activations of a model, computed from its parameters (nothing is built)."""
    checked = validate_params(name, params)
    return get_architecture(name).size(checked, tuple(input_shape), num_classes)


def training_bytes(size: Size, batch_size: int, eval_batch_size: int) -> int:
    """About how much memory training such a model takes beyond the data: float32 weights,
    gradients and two optimizer slots, a training batch's activations kept for the backward
    pass (twice: their gradients), and an evaluation batch's."""
    return 4 * (4 * size.parameters + size.activations_per_image * (2 * batch_size + eval_batch_size))


def build_model(name: str = "mlp", input_shape=(28, 28), num_classes: int = 10, **params):
    """Build an uncompiled Keras model from the registry."""
    checked = validate_params(name, params)
    prepare_backend_for(name)
    return get_architecture(name).build(checked, tuple(input_shape), num_classes)


def prepare_backend_for(name: str) -> None:
    """Backend settings that must precede JAX's first computation (see `_keras`)."""
    if get_architecture(name).convolutional:
        from provador.base._keras import prefer_multithreaded_convolutions

        prefer_multithreaded_convolutions()
