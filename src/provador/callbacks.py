"""Keras callbacks that record a run as it trains, and say how it goes."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

from provador import _files
from provador._keras import keras
from provador.i18n import _, metric_name, number


class HistoryRecorder(keras.callbacks.Callback):
    """Rewrite history.csv atomically after every epoch, and stop at once on a NaN loss.

    Keras' CSVLogger appends line by line, so an interrupted run can leave half a
    row; here the file always holds whole epochs.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = []
        self.diverged_at: int | None = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = {k: float(v) for k, v in (logs or {}).items()}
        self.rows.append({"epoch": epoch + 1, **logs})
        self._write()
        if not all(math.isfinite(v) for v in logs.values()):
            self.diverged_at = epoch + 1
            self.model.stop_training = True

    def history(self) -> dict[str, list[float]]:
        """Like Keras' `History.history`: one list per metric."""
        return {key: [row[key] for row in self.rows] for key in self.rows[0] if key != "epoch"}

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        _files.write_text(self.path, buffer.getvalue())


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch, in the reader's language (Keras' own progress line is English only):
    `Epoch 3/30 - 1.0 s - loss: 0.4373 - accuracy: 0.8480 - val_loss: 0.4085 - val_accuracy: 0.8600`."""

    ORDER = ("loss", "accuracy", "val_loss", "val_accuracy")

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        parts = [
            _("Epoch {epoch}/{epochs}").format(epoch=epoch + 1, epochs=self.epochs),
            f"{number(time.perf_counter() - self.started, 1)} s",
        ]
        parts += [f"{metric_name(key)}: {number(float(logs[key]))}" for key in self.ORDER if key in logs]
        print(" - ".join(parts), flush=True)
