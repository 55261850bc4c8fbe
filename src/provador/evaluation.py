"""Evaluate a model on the test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from provador import _files, runs
from provador.datasets import Dataset

# Keras clips probabilities to this before taking the log; we do the same so
# our test loss matches `model.evaluate` with sparse categorical cross-entropy.
_EPSILON = 1e-7


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)


def test_metrics(model, dataset: Dataset, batch_size: int = 1024) -> dict:
    """Plain cross-entropy and accuracy on the test set (the model scales raw pixels itself).

    Computed from the predicted probabilities rather than `model.evaluate`, so the
    number is the same whatever loss (e.g. label smoothing) the model trained with.
    """
    probabilities = predict_probabilities(model, dataset.x_test, batch_size)
    return metrics_from_probabilities(probabilities, dataset.y_test)


def metrics_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], _EPSILON, 1 - _EPSILON)
    return {
        "loss": float(-np.mean(np.log(picked))),
        "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == labels)),
        "images": int(len(labels)),
    }


def evaluate(run: runs.Run | str | Path, data_dir: str | Path | None = None) -> dict:
    """Test loss and accuracy of a trained run, recorded in its metrics.json."""
    from provador.training import dataset_for

    run = runs.resolve_run(run)
    model = run.load_model()
    recipe = run.recipe
    dataset = dataset_for(recipe, data_dir, progress=False)
    result = test_metrics(model, dataset, recipe.execution.eval_batch_size)
    metrics = run.metrics
    if metrics:
        metrics["test"] = result
        _files.write_json(run.path / runs.METRICS_FILE, metrics)
    return result
