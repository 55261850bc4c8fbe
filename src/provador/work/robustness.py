"""How far a run's accuracy holds on a corrupted copy of the test set (`evaluate --corruptions`).

The field's way to say it (Hendrycks & Dietterich's -C sets, MNIST-C): the same test images under
the usual corruptions at several severities. Here they are made on the fly from the test file
with a fixed seed, so nothing is downloaded and every run is scored on the same images; answers
are the run's own (calibrated, mirrored where its recipe mirrors), as `predict` and the server give.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from provador.base import _files
from provador.base.i18n import N_
from provador.records import runs

SEED = 2024  # the corruptions' random draws: the same for every run
SEVERITIES = (1, 2, 3)


def _noise(images: np.ndarray, level: int, rng) -> np.ndarray:
    sigma = (8, 16, 32)[level - 1]  # grey levels
    return np.clip(images + rng.normal(0, sigma, images.shape), 0, 255)


def _blur(images: np.ndarray, level: int, rng) -> np.ndarray:
    sigma = (0.6, 1.0, 1.5)[level - 1]  # pixels
    radius = 3
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = images.astype(np.float32)
    for axis in (1, 2):  # separable: rows, then columns, zero beyond the edge (the background)
        padded = np.pad(out, [(0, 0)] + [(radius, radius) if a == axis else (0, 0) for a in (1, 2)])
        out = sum(w * np.take(padded, range(i, i + images.shape[axis]), axis=axis) for i, w in enumerate(taps))
    return out


def _shift(images: np.ndarray, level: int, rng) -> np.ndarray:
    step = (2, 4, 6)[level - 1]  # pixels, in a random direction per image
    out = np.zeros_like(images)
    angles = rng.uniform(0, 2 * np.pi, len(images))
    for i, angle in enumerate(angles):
        dy, dx = int(round(step * np.sin(angle))), int(round(step * np.cos(angle)))
        out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
        if dy > 0:
            out[i, :dy] = 0
        elif dy < 0:
            out[i, dy:] = 0
        if dx > 0:
            out[i, :, :dx] = 0
        elif dx < 0:
            out[i, :, dx:] = 0
    return out


def _rotate(images: np.ndarray, level: int, rng) -> np.ndarray:
    from PIL import Image

    degrees = (10, 20, 30)[level - 1]
    signs = rng.choice([-1, 1], len(images))
    return np.stack([np.asarray(Image.fromarray(image).rotate(degrees * sign, resample=Image.BILINEAR))
                     for image, sign in zip(images.astype(np.uint8), signs)])  # fmt: skip


def _contrast(images: np.ndarray, level: int, rng) -> np.ndarray:
    keep = (0.6, 0.4, 0.2)[level - 1]  # of the distance to each image's mean
    mean = images.mean(axis=(1, 2), keepdims=True)
    return mean + (images - mean) * keep


def _invert(images: np.ndarray, level: int, rng) -> np.ndarray:
    return 255 - images.astype(np.float32)


def _flip(images: np.ndarray, level: int, rng) -> np.ndarray:
    return images[:, :, ::-1]


# name -> (what it does, how, severities): the picture and the table name them
CORRUPTIONS: dict[str, tuple[str, Callable, tuple[int, ...]]] = {
    "noise": (N_("Gaussian noise, σ 8, 16, 32 grey levels"), _noise, SEVERITIES),
    "blur": (N_("Gaussian blur, σ 0.6, 1, 1.5 pixels"), _blur, SEVERITIES),
    "shift": (N_("shifted 2, 4, 6 pixels"), _shift, SEVERITIES),
    "rotation": (N_("rotated 10°, 20°, 30°"), _rotate, SEVERITIES),
    "contrast": (N_("contrast 60%, 40%, 20%"), _contrast, SEVERITIES),
    "inversion": (N_("inverted (dark on light)"), _invert, (1,)),
    "flip": (N_("mirrored left to right"), _flip, (1,)),
}


def corrupted(images: np.ndarray, name: str, severity: int) -> np.ndarray:
    """The test images under one corruption, as uint8 (the same draws on every call)."""
    rng = np.random.default_rng([SEED, list(CORRUPTIONS).index(name), severity])
    out = CORRUPTIONS[name][1](np.asarray(images, dtype=np.float32), severity, rng)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def robustness(run: runs.Run | str | Path, data_dir=None, record: bool = True) -> tuple[dict, dict]:
    """Accuracy on the clean test set and under each corruption and severity; `mean` is the mean
    over every corrupted set, `relative` that mean over the clean accuracy. With `record`, the
    result is kept in metrics.json as `robustness` (the test figures are left as they are).
    Returns (result, {(corruption, severity): the first test image under it, and ("clean", 0): as
    it is}, for the picture)."""
    from provador.core.datasets import dataset_for
    from provador.work.inference import Predictor

    predictor = Predictor(run)
    run = predictor.run_
    data = dataset_for(run.recipe, data_dir, progress=False)
    x, y = data.x_test, data.y_test

    def accuracy(images) -> float:
        return round(float((predictor.predict_probabilities(images).argmax(axis=1) == y).mean()), 4)

    scores, examples = {}, {("clean", 0): x[0]}
    for name, (_text, _make, severities) in CORRUPTIONS.items():
        scores[name] = {}
        for severity in severities:
            images = corrupted(x, name, severity)
            scores[name][str(severity)] = accuracy(images)
            examples[(name, severity)] = images[0]
    clean = accuracy(x)
    every = [value for per in scores.values() for value in per.values()]
    result = {"clean": clean, "corruptions": scores, "mean": round(float(np.mean(every)), 4),
              "relative": round(float(np.mean(every)) / clean, 4) if clean else None, "seed": SEED,
              "images": len(x)}  # fmt: skip
    if record:
        metrics = run.metrics
        metrics["robustness"] = result
        _files.write_json(run.path / runs.METRICS_FILE, metrics)
    return result, examples


__all__ = ["robustness", "corrupted", "CORRUPTIONS"]
