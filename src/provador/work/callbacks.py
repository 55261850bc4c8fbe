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

from provador.base import _files
from provador.base._keras import keras
from provador.base.errors import RunError
from provador.base.i18n import _, metric_name, number


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

    def __init__(
        self,
        path: str | Path,
        recorder: HistoryRecorder,
        time_to,
        recipe_digest: str,
        resumed: SavedState | None = None,
    ):
        super().__init__()
        self.path = Path(path)
        self.recipe_digest = recipe_digest  # a checkpoint continues only the recipe it was made with
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
            "recipe_sha256": self.recipe_digest,
        }
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(self.model.variables)}
        arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)}
        with _files.atomic_path(self.path) as tmp, tmp.open("wb") as f:
            np.savez(f, state=np.array(json.dumps(state)), numpy_random_keys=keys, **arrays)


# What a checkpoint may hold besides the variables: the state's JSON and NumPy's 624 key words.
_STATE_LIMIT = 16 * 2**20
_ENTRY_SLACK = 4096  # an .npy header


def restore_checkpoint(path: str | Path, model, recipe_digest: str, epochs: int) -> SavedState:
    """Put a checkpoint's variables into `model` (built and compiled from the same recipe); the
    Checkpoint callback puts NumPy's random state back.

    Every part is checked before it is used, so a damaged or foreign file gets a RunError naming
    it, never a traceback or gigabytes of memory: the archive's entries by their declared sizes
    (what reading can inflate) against the model's own variables, each array's shape and type,
    the state's fields against the recipe's epochs, and the recipe it was made with."""
    import zipfile
    import zlib

    path = Path(path)
    model.optimizer.build(model.trainable_variables)
    groups = {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}
    expected = {f"{prefix}_{i}.npy": v for prefix, variables in groups.items() for i, v in enumerate(variables)}
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
        _check_checkpoint_entries(sizes, expected)
        with np.load(path, allow_pickle=False) as saved:
            state = json.loads(str(saved["state"]))
            numpy_random = _checked_state(state, saved["numpy_random_keys"], recipe_digest, epochs)
            arrays = {}
            for name, variable in expected.items():
                array = saved[name.removesuffix(".npy")]
                if array.shape != tuple(variable.shape) or array.dtype != np.dtype(variable.dtype):
                    raise ValueError(
                        _("{name} is {dtype}{shape}, the recipe's model has {expected_dtype}{expected_shape}").format(
                            name=name, dtype=array.dtype, shape=list(array.shape), expected_dtype=variable.dtype,
                            expected_shape=list(variable.shape))
                    )  # fmt: skip
                arrays[name] = array
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, RecursionError) as exc:
        raise RunError(
            _("Cannot resume from {path}: {reason}. The checkpoint is damaged or was not written by this run's "
              "training; train the recipe again from the start.").format(path=path, reason=str(exc) or type(exc).__name__)
        ) from None  # fmt: skip
    for name, variable in expected.items():  # only once every part is known to fit
        variable.assign(arrays[name])
    return SavedState(int(state["epoch"]), state["rows"], state["reached"], float(state["seconds"]), numpy_random)


def _check_checkpoint_entries(sizes: dict[str, int], expected: dict) -> None:
    known = {"state.npy": _STATE_LIMIT, "numpy_random_keys.npy": 624 * 4 + _ENTRY_SLACK}
    known |= {name: int(np.prod(v.shape, dtype=np.int64)) * np.dtype(v.dtype).itemsize + _ENTRY_SLACK
              for name, v in expected.items()}  # fmt: skip
    missing = sorted(set(known) - set(sizes))
    if missing:
        raise ValueError(_("{names} missing").format(names=", ".join(missing[:3])))
    foreign = sorted(set(sizes) - set(known))
    if foreign:
        raise ValueError(
            _("it holds {names}, which the recipe's model has no place for").format(names=", ".join(foreign[:3]))
        )
    too_big = [name for name, size in sizes.items() if size > known[name]]
    if too_big:
        raise ValueError(_("{names} would unpack to more than the model holds").format(names=", ".join(too_big[:3])))


def _checked_state(state, keys: np.ndarray, recipe_digest: str, epochs: int) -> tuple:
    """NumPy's random state from the checkpoint's state record, once its fields make sense."""
    if not isinstance(state, dict):
        raise ValueError(_("its state is not a record"))
    recorded = state.get("recipe_sha256")
    if recorded is not None and recorded != recipe_digest:
        raise ValueError(
            _("recipe.toml was changed after the checkpoint was written (a resumed run must go on with the recipe it "
              "started with; put the file back, or train the changed recipe as a new run)")
        )  # fmt: skip
    epoch, rows, seconds = state.get("epoch"), state.get("rows"), state.get("seconds")
    if not isinstance(epoch, int) or not 1 <= epoch <= epochs:
        raise ValueError(_("epoch {epoch} is not one of the recipe's 1-{epochs}").format(epoch=epoch, epochs=epochs))
    if (not isinstance(rows, list) or len(rows) != epoch
            or any(not isinstance(r, dict) or r.get("epoch") != i + 1 for i, r in enumerate(rows))
            or any(not isinstance(v, (int, float)) for r in rows for v in r.values())):  # fmt: skip
        raise ValueError(_("its history does not hold epochs 1-{epoch}").format(epoch=epoch))
    if not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9 or not isinstance(state.get("reached"), dict):
        raise ValueError(_("its time record is damaged"))
    kind, position, has_gauss, cached = state["numpy_random"]
    if kind != "MT19937" or keys.shape != (624,) or keys.dtype != np.uint32 or not 0 <= position <= 624:
        raise ValueError(_("its random state is damaged"))
    return (kind, keys, int(position), int(has_gauss), float(cached))
