"""Keras callbacks that record a run as it trains, and say how it goes."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provador import _files
from provador._keras import keras
from provador.errors import RunError
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


@dataclass
class SavedState:
    """Where a checkpointed training stood at the end of its last whole epoch."""

    epoch: int
    rows: list[dict]
    reached: dict
    seconds: float
    numpy_random: tuple


class Checkpoint(keras.callbacks.Callback):
    """After every epoch, everything a resumed training needs to go on exactly as if it had never
    stopped, in one file written atomically: the model's variables (weights, normalisation
    statistics and the random-seed states of dropout and augmentation), the optimizer's (its step
    count drives the learning-rate schedule), NumPy's global random state (Keras shuffles each
    epoch with it), the history so far and the seconds trained.

    Keras' BackupAndRestore keeps weights and the epoch, but neither the seed states nor the
    shuffling order, so a resumed run would part from an uninterrupted one."""

    def __init__(self, path: str | Path, recorder: HistoryRecorder, time_to, resumed: SavedState | None = None):
        super().__init__()
        self.path = Path(path)
        self.recorder = recorder
        self.time_to = time_to
        self.seconds_before = resumed.seconds if resumed else 0.0
        self._numpy_random = resumed.numpy_random if resumed else None
        self._started = 0.0

    def on_train_begin(self, logs=None) -> None:
        self._started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        # Set here, not before fit: fit's set-up draws one permutation of its own (to look at a
        # first batch), while each epoch's shuffle is drawn after this point.
        if self._numpy_random is not None:
            np.random.set_state(self._numpy_random)
            self._numpy_random = None

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self.recorder.diverged_at is not None:
            return  # keep the last good epoch
        kind, keys, position, has_gauss, cached = np.random.get_state()
        state = {
            "epoch": epoch + 1,
            "rows": self.recorder.rows,
            "reached": self.time_to.reached,
            "seconds": self.seconds_before + time.perf_counter() - self._started,
            "numpy_random": [kind, int(position), int(has_gauss), float(cached)],
        }
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(self.model.variables)}
        arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)}
        with _files.atomic_path(self.path) as tmp, tmp.open("wb") as f:
            np.savez(f, state=np.array(json.dumps(state)), numpy_random_keys=keys, **arrays)


def restore_checkpoint(path: str | Path, model) -> SavedState:
    """Put a checkpoint's variables into `model` (built and compiled from the same recipe); the
    Checkpoint callback puts NumPy's random state back. A RunError names the file if it does not fit."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as saved:
            state = json.loads(str(saved["state"]))
            model.optimizer.build(model.trainable_variables)
            for prefix, variables in (("model", model.variables), ("optimizer", model.optimizer.variables)):
                stored = sorted(
                    (k for k in saved.files if k.startswith(prefix + "_")), key=lambda k: int(k.split("_")[1])
                )
                if len(stored) != len(variables):
                    raise ValueError(f"{len(stored)} {prefix} variables saved, the recipe's model has {len(variables)}")
                for variable, key in zip(variables, stored):
                    variable.assign(saved[key])
            kind, position, has_gauss, cached = state["numpy_random"]
            numpy_random = (kind, saved["numpy_random_keys"], position, has_gauss, cached)
            return SavedState(
                int(state["epoch"]), state["rows"], state["reached"], float(state["seconds"]), numpy_random
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunError(
            _("Cannot resume from {path}: {reason}. Train the recipe again from the start.").format(
                path=path, reason=exc)
        ) from None  # fmt: skip
