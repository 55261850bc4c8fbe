"""Time to accuracy: wall-clock seconds until validation accuracy first reaches each threshold."""

from __future__ import annotations

import time

from provador.base._keras import keras

THRESHOLDS = (0.85, 0.88, 0.895, 0.91, 0.93, 0.945)


class TimeToAccuracy(keras.callbacks.Callback):
    """Records, from the start of `fit`, when `val_accuracy` first reaches each threshold."""

    def __init__(self, thresholds=THRESHOLDS, reached: dict | None = None, elapsed: float = 0.0):
        """`reached` and `elapsed` carry on from a checkpoint when a run resumes."""
        super().__init__()
        self.thresholds = tuple(thresholds)
        self.reached: dict[str, float | None] = dict(reached or {})
        self._elapsed_before = elapsed
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter() - self._elapsed_before
        self.reached = {f"{t:g}": self.reached.get(f"{t:g}") for t in self.thresholds}

    def on_epoch_end(self, epoch, logs=None):
        accuracy = (logs or {}).get("val_accuracy")
        if accuracy is None:
            return
        elapsed = round(time.perf_counter() - self._start, 2)
        for t in self.thresholds:
            if accuracy >= t and self.reached[f"{t:g}"] is None:
                self.reached[f"{t:g}"] = elapsed


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (the benchmarks leave out the first: compilation)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._start, 4))
