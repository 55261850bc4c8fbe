"""Keras callbacks that record a run as it trains."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from provador import _files
from provador._keras import keras


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
