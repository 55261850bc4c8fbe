"""Why did it say that: heat maps of the pixels a trained model's answer rests on.

Two methods, both on the class's logit (the score before the softmax, so a confident answer still
has a gradient):
- `saliency`, the default for every model: each pixel's input × gradient (Shrikumar et al., 2016),
  kept where it raises the class's score: to first order, how much the score would fall if that
  pixel were black. Of the variants measured (bench/README.md, "Explanations"), it is the one
  whose top pixels, blacked out, lower the answer's probability most against random pixels;
  plain |gradient| (Simonyan et al., 2014) did no better than random there;
- `gradcam` (Selvaraju et al., 2017), for models with convolutions: the last feature maps (7×7
  for `cnn`) weighed by the mean gradient of the logit over each, kept where positive, enlarged.
  Coarse, and measured no more faithful than random pixels on `cnn`; kept because it is what
  people compare with.

Gradients come from the backend Keras runs on (JAX, TensorFlow or PyTorch), through the same
Keras model: no backend is forced, nothing is exported. Maps explain the model itself, not the
calibrated or mirror-averaged answer built on it (a monotone rescaling and an average of two
views of the same pixels).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from provador.base._keras import backend_name, keras
from provador.base.errors import InputError
from provador.base.i18n import _

METHODS = ("saliency", "gradcam")


@dataclass
class Explanation:
    """Heat maps for a batch: `maps` (N, H, W) in [0, 1] (1: the pixels the answer rests on most)."""

    maps: np.ndarray
    classes: np.ndarray  # the class each map explains (the predicted one unless another was asked)
    probabilities: np.ndarray  # the model's own (N, classes), before calibration
    method: str


DEFAULT_METHOD = "saliency"  # the more faithful of the two on every model measured (see the module's text)


def explain(model, images: np.ndarray, classes=None, method: str | None = None) -> Explanation:
    """Heat maps of `images` (raw 0-255, (N, H, W) or one (H, W)) for the predicted class of each,
    or for `classes` (one index, or one per image)."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 2:
        images = images[None]
    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise InputError(
            _("Expected the explanation method to be one of {methods}. Received: {method!r}").format(
                methods=", ".join(METHODS), method=method)
        )  # fmt: skip
    explainer = _explainer(model)
    if method == "gradcam" and explainer.body is None:
        raise InputError(_("Grad-CAM needs a model with convolutions; this {name} has none: use saliency.").format(
            name=model.name))  # fmt: skip
    probabilities = np.asarray(keras.ops.convert_to_numpy(model(images, training=False)))
    wanted = np.argmax(probabilities, axis=-1) if classes is None else np.broadcast_to(classes, (len(images),))
    wanted = np.asarray(wanted, dtype=int)
    if (wanted < 0).any() or (wanted >= probabilities.shape[-1]).any():
        raise InputError(
            _("Expected a class index from 0 to {last}. Received: {value}").format(
                last=probabilities.shape[-1] - 1, value=int(wanted[(wanted < 0) | (wanted >= probabilities.shape[-1])][0]))
        )  # fmt: skip
    one_hot = np.eye(probabilities.shape[-1], dtype="float32")[wanted]
    maps = explainer.saliency(images, one_hot) if method == "saliency" else explainer.gradcam(images, one_hot)
    return Explanation(_normalized(maps), wanted, probabilities, method)


def _normalized(maps: np.ndarray) -> np.ndarray:
    top = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(top > 0, maps / np.where(top > 0, top, 1), 0).astype("float32")


def _last_feature_maps(model):
    """The last layer whose output is a stack of feature maps (batch, height, width, channels)
    that everything after it reads (the models here flatten it next), or None."""
    found = None
    for layer in model.layers:
        if len(layer.output.shape) == 4:
            found = layer
        elif found is not None:
            break
    return found


class _Explainer:
    """The model cut at its classifier (logits) and at its last feature maps (Grad-CAM)."""

    def __init__(self, model):
        self.model = model
        self.classifier = model.layers[-1]
        if not isinstance(self.classifier, keras.layers.Dense):
            raise InputError(_("Cannot explain {name}: its last layer is not a Dense classifier.").format(
                name=model.name))  # fmt: skip
        self.features = keras.Model(model.inputs[0], self.classifier.input)
        maps = _last_feature_maps(model)
        self.body = keras.Model(model.inputs[0], maps.output) if maps is not None else None
        self.rest = keras.Model(maps.output, self.classifier.input) if maps is not None else None

    def _logits(self, features):
        return keras.ops.matmul(features, self.classifier.kernel) + self.classifier.bias

    def saliency(self, images: np.ndarray, one_hot: np.ndarray) -> np.ndarray:
        def score(x):
            return keras.ops.sum(self._logits(self.features(x, training=False)) * one_hot)

        return np.maximum(_gradient(score, images) * images, 0)  # input × gradient, where it raises the score

    def gradcam(self, images: np.ndarray, one_hot: np.ndarray) -> np.ndarray:
        activations = np.asarray(keras.ops.convert_to_numpy(self.body(images, training=False)))

        def score(a):
            return keras.ops.sum(self._logits(self.rest(a, training=False)) * one_hot)

        gradients = _gradient(score, activations)
        weights = gradients.mean(axis=(1, 2), keepdims=True)  # one per feature map
        cam = np.maximum((weights * activations).sum(axis=-1), 0)
        return _enlarged(cam, images.shape[1:3])


def _enlarged(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Coarse maps (7×7 for a 28×28 image) to the image's size, bilinearly."""
    resized = keras.ops.image.resize(maps[..., None].astype("float32"), shape, interpolation="bilinear")
    return np.asarray(keras.ops.convert_to_numpy(resized))[..., 0]


@functools.lru_cache(maxsize=4)  # the cut models, built once per model (the server explains many images)
def _explainer(model) -> _Explainer:
    return _Explainer(model)


def _gradient(score, x: np.ndarray) -> np.ndarray:
    """d score(x) / d x on the backend Keras runs on (score: a tensor function to a scalar)."""
    backend = backend_name()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(score)(x))
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = score(tensor)
        return tape.gradient(value, tensor).numpy()
    if backend == "torch":
        tensor = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)  # on Keras' device
        score(tensor).backward()
        return tensor.grad.detach().cpu().numpy()
    raise InputError(_("Explanations need the jax, tensorflow or torch backend; Keras runs on {backend}.").format(
        backend=backend))  # fmt: skip


# --- what a person looks at -----------------------------------------------------------------------

SCALE = 8  # a 28×28 input drawn 224×224, each pixel a square


def overlay(pixels: np.ndarray, heat: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """The image the model saw, enlarged (pixels as squares, not smoothed), with the heat map over
    it in colour where the answer rests on it: RGB uint8 (H·scale, W·scale, 3)."""
    import matplotlib

    grey = np.repeat(np.asarray(pixels, dtype="float32")[..., None] / 255, 3, axis=-1)
    colour = matplotlib.colormaps["inferno"](heat)[..., :3]
    alpha = 0.75 * np.sqrt(np.clip(heat, 0, 1))[..., None]  # faint evidence stays visible, strong is opaque
    mixed = grey * (1 - alpha) + colour * alpha
    return np.kron(np.round(mixed * 255), np.ones((scale, scale, 1))).astype(np.uint8)


def overlay_png(pixels: np.ndarray, heat: np.ndarray) -> bytes:
    """`overlay` as PNG bytes (what the API and the web page show)."""
    return _png(overlay(pixels, heat))


def explanation_png(pixels: np.ndarray, heat: np.ndarray) -> bytes:
    """Two panels, what the model saw and why (the heat map over it), as PNG bytes."""
    seen = np.kron(np.asarray(pixels, dtype=np.uint8), np.ones((SCALE, SCALE), np.uint8))
    seen = np.repeat(seen[..., None], 3, axis=-1)
    gap = np.full((seen.shape[0], SCALE, 3), 255, np.uint8)
    return _png(np.concatenate([seen, gap, overlay(pixels, heat)], axis=1))


def _png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


__all__ = ["explain", "Explanation", "METHODS", "DEFAULT_METHOD", "overlay", "overlay_png", "explanation_png"]
