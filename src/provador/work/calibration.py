"""Honest probabilities: temperature scaling (Guo et al. 2017) and the expected calibration error.

A network trained with cross-entropy tends to be surer than it is right. One number, the
temperature T, fitted on the validation split, softens (T > 1) or sharpens (T < 1) every answer
as softmax(log p / T): the predicted class never changes, only how sure it says it is. provador
applies it only to soften (see `calibrate`).
"""

from __future__ import annotations

import numpy as np

from provador.base.choices import TEMPERATURE_RANGE

_TEMPERATURES = np.exp(np.linspace(np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1]), 281))  # steps of 1.2%
_FLOOR = 1e-12


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) for each row of probabilities."""
    logits = np.log(np.maximum(probabilities, _FLOOR)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (a fine grid from
    0.25 to 8: one number, so a search is exact enough and cannot diverge)."""
    logs = np.log(np.maximum(probabilities, _FLOOR))
    losses = []
    for temperature in _TEMPERATURES:
        logits = logs / temperature
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1))
        losses.append(float(np.mean(log_norm - logits[np.arange(len(labels)), labels])))
    return float(_TEMPERATURES[int(np.argmin(losses))])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by how many answers
    fall in each: 0 when "90% sure" is right 90% of the time."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if len(confidence) == 0:
        return float("nan")
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        members = which == b
        total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def ece_of(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The expected calibration error of the top answers in `probabilities` against `labels`."""
    return expected_calibration_error(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels)


def calibrate(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Fit the temperature on these (validation) answers; report the error before and after.

    The temperature applied (`temperature`) is the fitted one, but never below 1: calibration
    may soften answers, never sharpen them. A model trained with label smoothing is less sure on
    Fashion-MNIST than it is right, and the fit sharpens it (T ≈ 0.65 for the `photos` recipe);
    but on photos, which lie further from the training images than the validation split does,
    that same model is already surer than it is right: sharpened, its confidently wrong answers
    on the development photos rose from 0.5% to 7.5% (bench/README.md).
    """
    fitted = fit_temperature(probabilities, labels)
    temperature = max(1.0, fitted)
    return {
        "temperature": round(temperature, 4),
        "fitted_temperature": round(fitted, 4),
        "fitted_on": "validation",
        "validation_ece_before": round(ece_of(probabilities, labels), 5),
        "validation_ece_after": round(ece_of(apply_temperature(probabilities, temperature), labels), 5),
    }
