"""Predict class names and probabilities with a trained run."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provador import photos, runs
from provador.errors import InputError

# Below this top probability an answer is reported as a guess, with its top-3.
LOW_CONFIDENCE = 0.5
_CHUNK = 1024  # largest batch handed to the model at once


@dataclass(frozen=True)
class Prediction:
    """One image's answer: the top class, its probability, the top-k and every probability."""

    source: str
    label: str
    class_index: int
    probability: float
    top: list[tuple[str, float]]
    probabilities: dict[str, float]
    true_label: str | None = None
    low_confidence: bool = False

    def to_dict(self) -> dict:
        # Field by field, not dataclasses.asdict (which deep-copies): the server calls this per image.
        return {
            "source": self.source,
            "label": self.label,
            "class_index": self.class_index,
            "probability": self.probability,
            "top": [{"label": name, "probability": p} for name, p in self.top],
            "probabilities": dict(self.probabilities),
            "true_label": self.true_label,
            "low_confidence": self.low_confidence,
        }


class Predictor:
    """A trained model plus its class names, loaded once and reused for every call.

    >>> predictor = Predictor("runs/seed-20260101-120000")
    >>> predictor.predict(images)            # uint8 array (N, 28, 28) or (28, 28)
    """

    def __init__(self, run: runs.Run | str | Path, top_k: int = 3):
        self.run_ = runs.resolve_run(run)
        self.model_ = self.run_.load_model()
        self.class_names_ = list(self.run_.class_names)
        self.input_shape_ = tuple(self.model_.input_shape[1:])
        self.top_k = top_k

    def predict_probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities, shape (N, classes), for raw uint8 images of the model's input size."""
        images = np.asarray(images)
        if images.shape == self.input_shape_:
            images = images[None]
        if images.shape[1:] != self.input_shape_:
            raise InputError(
                f"Expected images of shape (N, {', '.join(map(str, self.input_shape_))}) "
                f"with raw pixel values 0-255. Received shape {images.shape}."
            )
        images = images.astype(np.float32)
        chunks = [self._predict_padded(images[i : i + _CHUNK]) for i in range(0, len(images), _CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.class_names_)))

    def _predict_padded(self, images: np.ndarray) -> np.ndarray:
        # predict_on_batch is one compiled call with no progress bar or data pipeline, but
        # JAX compiles once per batch shape: pad to a power of two so only ~11 shapes exist.
        n = len(images)
        bucket = 1 << max(0, n - 1).bit_length()
        if bucket > n:
            images = np.concatenate([images, np.zeros((bucket - n, *images.shape[1:]), images.dtype)])
        return np.asarray(self._forward(images), dtype=np.float64)[:n]

    @functools.cached_property
    def _forward(self):
        """The model's forward pass as one call. On JAX, a jitted stateless call: about 5×
        less overhead per call than `predict_on_batch`, which matters for single images."""
        from provador._keras import backend_name

        if backend_name() != "jax":
            return self.model_.predict_on_batch
        import jax

        model = self.model_
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        forward = jax.jit(lambda x: model.stateless_call(trainable, non_trainable, x, training=False)[0])
        return forward

    def warm_up(self, max_batch: int = 64) -> None:
        """Compile every batch shape up to `max_batch` now, not on the first requests."""
        size = 1
        while size <= max_batch:
            self.predict_probabilities(np.zeros((size, *self.input_shape_), np.uint8))
            size *= 2

    def predict(self, images: np.ndarray, sources: list[str] | None = None, labels=None) -> list[Prediction]:
        probabilities = self.predict_probabilities(images)
        sources = sources or [f"image {i}" for i in range(len(probabilities))]
        return [
            self.prediction_from(p, src, None if labels is None else self.class_names_[int(labels[i])])
            for i, (p, src) in enumerate(zip(probabilities, sources))
        ]

    def predict_files(self, paths: list[str | Path], show_input: str | Path | None = None) -> list[Prediction]:
        """Predict image files of any size and format, through the photo pipeline.

        `show_input` names a folder where the 28×28 image the model saw is saved
        for each file (as `<name>.input.png`).
        """
        prepared = [self.prepare(p) for p in paths]
        if show_input is not None:
            folder = Path(show_input)
            folder.mkdir(parents=True, exist_ok=True)
            for path, pixels in zip(paths, prepared):
                (folder / f"{Path(path).stem}.input.png").write_bytes(photos.to_png(pixels))
        return self.predict(np.stack(prepared), sources=[str(p) for p in paths])

    def prepare(self, source: str | Path | bytes, name: str | None = None) -> np.ndarray:
        """The model's input for an image file or bytes (see `provador.photos`)."""
        if self.input_shape_ != (photos.SIZE, photos.SIZE):
            raise InputError(
                f"Photos are turned into {photos.SIZE}×{photos.SIZE} images, but this model expects "
                f"{self.input_shape_}. Pass arrays of that shape instead."
            )
        return photos.prepare(source, name).pixels

    def prediction_from(self, probabilities: np.ndarray, source: str, true_label: str | None = None) -> Prediction:
        """Name the classes of one row of probabilities: the top one, the top-k, all of them."""
        values = probabilities.tolist()  # plain floats: sorting ten of them beats NumPy's call overhead
        order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
        best = order[0]
        return Prediction(
            source=source,
            label=self.class_names_[best],
            class_index=best,
            probability=values[best],
            top=[(self.class_names_[i], values[i]) for i in order[: self.top_k]],
            probabilities=dict(zip(self.class_names_, values)),
            true_label=true_label,
            low_confidence=values[best] < LOW_CONFIDENCE,
        )


def parse_indices(spec: str, size: int) -> list[int]:
    """Parse `0:5`, `7`, `1,4,9` or `9990:` into indices, checking they are below `size`."""
    indices: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if ":" in part:
                start, _, stop = part.partition(":")
                first = int(start) if start else 0
                last = int(stop) if stop else size
                if first >= last:
                    raise ValueError
                indices.extend(range(first, last))
            else:
                indices.append(int(part))
        except ValueError:
            raise InputError(f"Expected test indices like 0:5, 7 or 1,4,9. Received: {spec!r}") from None
    bad = [i for i in indices if not 0 <= i < size]
    if bad:
        raise InputError(
            f"Test index {bad[0]} is out of range: the test set has {size} images, so indices run from 0 to {size - 1}."
        )
    return indices
