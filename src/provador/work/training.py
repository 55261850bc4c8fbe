"""Train a recipe and write a run directory (see `provador.records.runs` for its layout)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from provador.base import _files, _system
from provador.base._keras import backend_name, backend_versions, keras
from provador.base.choices import RUNS_DIR
from provador.base.errors import RecipeError, RunError, TrainingDiverged
from provador.base.i18n import _, class_name, number
from provador.core.datasets import Dataset, dataset_for
from provador.core.models import build_model, model_size, prepare_backend_for, training_bytes
from provador.core.photo_folders import adapted_dataset, read_photo_folders
from provador.core.recipes import Recipe, load_recipe
from provador.records import runs
from provador.work.answer import Answer
from provador.work.calibration import calibrate
from provador.work.callbacks import Checkpoint, EpochProgress, HistoryRecorder, restore_checkpoint
from provador.work.evaluation import test_metrics
from provador.work.fused_steps import fuse_train_steps
from provador.work.timing import TimeToAccuracy
from provador.work.tracking import RunTracker, Tracking, open_run


def resolve_recipe(
    recipe: Recipe | str | Path = "seed",
    overrides: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
) -> Recipe:
    """A recipe by name, path or object, with `--set`, `--epochs` and `--seed` applied."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if overrides:
        recipe = recipe.with_overrides(dict(overrides))
    # --epochs and --seed are checked as what they are, not blamed on --set.
    for option, key, value in (("--epochs", "training.epochs", epochs), ("--seed", "seed", seed)):
        if value is not None:
            recipe = recipe.with_overrides({key: value}, origin=option)
    return recipe


def make_optimizer(recipe: Recipe, steps_per_epoch: int):
    t = recipe.training
    lr: Any = t.learning_rate
    total = steps_per_epoch * t.epochs
    if t.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=total)
    elif t.schedule == "one-cycle":
        # Linear warm-up over the first 30% of steps to the peak rate, then cosine down.
        warmup = max(1, int(0.3 * total))
        lr = keras.optimizers.schedules.CosineDecay(
            t.learning_rate / 25, decay_steps=max(1, total - warmup),
            warmup_target=t.learning_rate, warmup_steps=warmup,
        )  # fmt: skip
    if t.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay or None)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(lr, weight_decay=t.weight_decay or None)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay or 0.004)
    return keras.optimizers.RMSprop(lr, weight_decay=t.weight_decay or None)


def make_loss(recipe: Recipe, num_classes: int):
    if recipe.training.label_smoothing:
        from provador.core.losses import SmoothedSparseCrossentropy

        return SmoothedSparseCrossentropy(recipe.training.label_smoothing, num_classes)
    return "sparse_categorical_crossentropy"


def build_for(recipe: Recipe, dataset: Dataset):
    """Seed every generator, then build and compile the recipe's model for this dataset (an
    adapted run's model starts from its parent's weights)."""
    prepare_backend_for(recipe.model.architecture)  # before seeding: that may start JAX
    keras.utils.set_random_seed(recipe.seed)
    model = build_model(
        recipe.model.architecture, input_shape=dataset.x_train.shape[1:],
        num_classes=len(dataset.class_names), **recipe.model_params,
    )  # fmt: skip
    if recipe.adapt is not None:
        model.set_weights(parent_run(recipe).load_model().get_weights())
    steps = math.ceil(len(dataset.x_train) / recipe.training.batch_size)
    model.compile(
        optimizer=make_optimizer(recipe, steps),
        loss=make_loss(recipe, len(dataset.class_names)),
        metrics=["accuracy"],
        steps_per_execution=recipe.execution.steps_per_execution,
    )
    fuse_train_steps(model, recipe.model.architecture, recipe.training.batch_size)
    return model


def parent_run(recipe: Recipe) -> runs.Run:
    """The run an adapted recipe starts from, checked to be the one it was made from."""
    parent = runs.resolve_run(recipe.adapt.parent)
    if recipe.adapt.parent_model_sha256 and parent.model_digest() != recipe.adapt.parent_model_sha256:
        raise RunError(
            _("{run}/model.keras is not the model this adapted run started from (its hash changed). Adapt the run "
              "again: `provador adapt {run} --photos …`.").format(run=parent.path)
        )  # fmt: skip
    return parent


def training_data(recipe: Recipe, data_dir: str | Path | None = None, progress: bool = False) -> Dataset:
    """The splits a recipe trains on: its dataset, and for an adapted run the photos mixed in
    (checked to be the photos it started with, so a resumed run learns what it began to learn)."""
    dataset = dataset_for(recipe, data_dir, progress=progress)
    adapt = recipe.adapt
    if adapt is None:
        return dataset
    photo_set = read_photo_folders(adapt.photos, dataset.class_names, progress=progress, labels=adapt.labels)
    if adapt.photos_sha256 and photo_set.content_sha256() != adapt.photos_sha256:
        raise RunError(
            _("The photos in {folders} are not the ones this run started with (photos were added, removed or "
              "relabelled since). Put them back, or adapt again as a new run.").format(folders=", ".join(adapt.photos))
        )  # fmt: skip
    return adapted_dataset(dataset, photo_set, adapt.photo_validation, adapt.photo_share, adapt.fashion_images,
                           recipe.seed)  # fmt: skip


def train(
    recipe: Recipe | str | Path = "seed",
    *,
    overrides: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    runs_dir: str | Path = RUNS_DIR,
    data_dir: str | Path | None = None,
    quiet: bool = False,
    resume: runs.Run | str | Path | None = None,
    keep_checkpoints: bool = False,
    then: Then | None = None,
    track: Tracking | str | list[str] | None = None,
) -> runs.Run:
    """Train a recipe end to end and return its run directory (with its model, learning curves
    and metrics; `then`, e.g. `provador.show.report.finish`, is handed the trained model afterwards:
    `provador.train` and the command draw the report that way).

    Every epoch ends with a checkpoint in the run directory, so `resume=RUN` continues a run that
    was interrupted, killed or failed, and ends with the same weights and history as a run that
    never stopped (same backend and machine). The checkpoint is removed when the run completes,
    unless `keep_checkpoints`.

    On Ctrl-C or an error the run is marked `interrupted` or `failed` in run.json, and no file
    that looks complete (model.keras, metrics.json) is left behind.

    `track` also sends the run to MLflow and/or TensorBoard ("mlflow", "tensorboard", or a
    `Tracking`; by default MLflow when $MLFLOW_TRACKING_URI is set): see `provador.work.tracking`.
    """
    tracking = Tracking.parse(track)  # a missing package is named before any data is loaded
    if resume is not None:
        if overrides or epochs is not None or seed is not None:
            raise RecipeError(_("A resumed run keeps its own recipe: drop --set, --epochs and --seed with --resume."))
        run = runs.resolve_run(resume)
        status_before = run.status
        run = _reopen(run)
        recipe = run.recipe
        try:
            dataset = training_data(recipe, data_dir, progress=not quiet)
            if list(dataset.class_names) != run.class_names:
                raise RunError(
                    _("Cannot resume {run}: it was trained on the classes {theirs}, the data found now has {ours}. "
                      "Pass the --data-dir it was trained on.").format(
                        run=run.path, theirs=", ".join(run.class_names), ours=", ".join(dataset.class_names))
                )  # fmt: skip
        except BaseException:
            run.restore(status_before)  # the data does not fit: the run is left as it was
            raise
    else:
        recipe = resolve_recipe(recipe, overrides, epochs, seed)
        dataset = training_data(recipe, data_dir, progress=not quiet)
        check_fits(recipe, dataset)
        run = runs.new_run(runs_dir, recipe, dataset.class_names, dataset.source.to_dict())
    return train_prepared(run, recipe, dataset, quiet, keep_checkpoints, then, tracking)


def train_prepared(
    run: runs.Run,
    recipe: Recipe,
    dataset: Dataset,
    quiet: bool,
    keep_checkpoints: bool,
    then: Then | None = None,
    tracking: Tracking | None = None,
) -> runs.Run:
    """Train `recipe` on `dataset` into the new or reopened `run` (what `train` and `adapt` share)."""
    say = (lambda *a: None) if quiet else print
    say(_("Training `{recipe}` ({model}) on {train} images, validating on {valid}; backend {backend}; run {run}").format(
        recipe=recipe.name, model=recipe.model.architecture, train=number(len(dataset.x_train), 0),
        valid=number(len(dataset.x_valid), 0), backend=backend_name(), run=run.path,
    ))  # fmt: skip
    tracker = open_run(tracking, run, recipe, say=say)
    try:
        _train_into(run, recipe, dataset, quiet, say, keep_checkpoints, then, tracker)
    except BaseException as exc:
        _end_unfinished(run, exc)
        tracker.end(exc)
        if isinstance(exc, KeyboardInterrupt) and (run.path / runs.CHECKPOINT_FILE).is_file():
            exc.hint = _("Continue it from its last whole epoch with `provador train --resume {path}`.").format(
                path=run.path
            )
        if isinstance(exc, OSError) and exc.errno in _CANNOT_WRITE:
            raise RunError(
                _("Cannot write to {folder}: {reason}. Nothing that looks finished was left there; free some space "
                  "(or make the folder writable), then continue with `provador train --resume {run}`.").format(
                    folder=Path(exc.filename).parent if exc.filename else run.path, reason=exc.strerror, run=run.path)
            ) from None  # fmt: skip
        raise
    return run


_CANNOT_WRITE = {28, 30, 13, 122}  # ENOSPC, EROFS, EACCES, EDQUOT


def _reopen(run: runs.Run) -> runs.Run:
    """Mark an unfinished run as running again, in this process."""
    status = run.status
    if status == runs.Status.COMPLETED:
        raise RunError(_("Run {run} is already complete: nothing to resume.").format(run=run.path))
    if status == runs.Status.RUNNING:
        raise RunError(
            _("Run {run} is still training in process {pid} on {host}; stop it first, or wait.").format(
                run=run.path, pid=run.run_info.pid, host=run.run_info.host)
        )  # fmt: skip
    if not (run.path / runs.CHECKPOINT_FILE).is_file():
        raise RunError(
            _("Run {run} has no checkpoint ({file}): it stopped before its first epoch ended, or was trained by an "
              "older provador. Train the recipe again: `provador train --recipe {recipe}`.").format(
                run=run.path, file=runs.CHECKPOINT_FILE, recipe=run.path / runs.RECIPE_FILE)
        )  # fmt: skip
    run.reopen()
    return run


def _end_unfinished(run: runs.Run, exc: BaseException) -> None:
    """After Ctrl-C or an error: no half-written or finished-looking files, and the status says why.

    A run that had completed before the interruption (only the report was being written) stays
    complete: `provador report` redraws what is missing."""
    with contextlib.suppress(OSError):  # the disk may be full: do what can be done
        _files.remove_partials(run.path)
        if run.run_info.status == runs.Status.COMPLETED:
            return
        for name in (runs.METRICS_FILE, runs.MODEL_FILE):
            (run.path / name).unlink(missing_ok=True)
        run.stop(exc)


@dataclass
class Fitted:
    """What `fit` leaves: the trained model, its per-epoch history and the seconds it took."""

    model: Any
    recorder: HistoryRecorder
    time_to: TimeToAccuracy
    seconds: float


MEMORY_SHARE = 0.75  # of the machine's memory that one training may plan to take (the rest: system, data, Keras)


def check_fits(recipe: Recipe, dataset: Dataset, processes: int = 1) -> None:
    """Refuse, before anything is built, a recipe this dataset or this machine cannot train
    (`processes` trainings at once: a search's workers)."""
    if recipe.training.batch_size > len(dataset.x_train):
        raise RecipeError(
            _(
                "Expected `training.batch_size` to be at most the number of training images ({count}). Received: {value}"
            ).format(count=len(dataset.x_train), value=recipe.training.batch_size)
        )
    size, one = training_memory(recipe, dataset)
    needed = one * processes
    memory = _system.memory_bytes()
    if memory and needed > MEMORY_SHARE * memory:
        raise RecipeError(
            _("This recipe's model ({parameters} weights, batch {batch}) would need about {needed} GB of memory to "
              "train{times}; this machine has {memory} GB. Make the model narrower (model.hidden, model.filters, "
              "model.dense) or the batches smaller (training.batch_size, execution.eval_batch_size).").format(
                parameters=f"{size.parameters:,}", batch=recipe.training.batch_size, needed=number(needed / 2**30, 1),
                memory=number(memory / 2**30, 1),
                times=_(" with {count} workers at once").format(count=processes) if processes > 1 else "")
        )  # fmt: skip


def training_memory(recipe: Recipe, dataset: Dataset):
    """The recipe's model size on this dataset and about how many bytes one training of it takes
    (computed from the recipe: nothing is built)."""
    size = model_size(recipe.model.architecture, dataset.x_train.shape[1:], len(dataset.class_names),
                      **recipe.model_params)  # fmt: skip
    return size, training_bytes(size, recipe.training.batch_size, recipe.execution.eval_batch_size)


def fit(
    recipe: Recipe, dataset: Dataset, run: runs.Run, callbacks=(), progress: bool = False, checkpoint: bool = False
) -> Fitted:
    """Build the recipe's model and fit it, validating every epoch; history.csv is kept in `run`.

    Used by `train` and by every trial of a search. `progress` prints a line per epoch.
    `checkpoint` saves the training's state after every epoch in the run directory and, when a
    checkpoint is already there, goes on from it. Raises TrainingDiverged on a NaN loss.
    """
    model = build_for(recipe, dataset)
    recorder = HistoryRecorder(run.path / runs.HISTORY_FILE)
    time_to = TimeToAccuracy()
    first_epoch, seconds_before, saved = 0, 0.0, None
    checkpoint_path = run.path / runs.CHECKPOINT_FILE
    if checkpoint and checkpoint_path.is_file():
        saved = restore_checkpoint(checkpoint_path, model, recipe.digest(), recipe.training.epochs)
        first_epoch, seconds_before, recorder.rows = saved.epoch, saved.seconds, saved.rows
        time_to = TimeToAccuracy(reached=saved.reached, elapsed=saved.seconds)
    # The recorder comes first: it sees a NaN before any later callback acts on the epoch.
    all_callbacks: list = [recorder, time_to, *callbacks]
    if checkpoint:
        all_callbacks.append(Checkpoint(checkpoint_path, recorder, time_to, recipe.digest(), saved))
    if progress:
        all_callbacks.append(EpochProgress(recipe.training.epochs))
    if recipe.training.early_stopping_patience:
        all_callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=recipe.training.early_stopping_patience, restore_best_weights=True,
        ))  # fmt: skip
    started = time.perf_counter()
    if first_epoch < recipe.training.epochs:
        model.fit(
            dataset.x_train, dataset.y_train, batch_size=recipe.training.batch_size, epochs=recipe.training.epochs,
            initial_epoch=first_epoch, validation_data=(dataset.x_valid, dataset.y_valid), callbacks=all_callbacks,
            verbose=0,
        )  # fmt: skip
    seconds = seconds_before + time.perf_counter() - started
    if recorder.diverged_at is not None:
        raise TrainingDiverged(_diverged_message(recipe, recorder.diverged_at))
    return Fitted(model, recorder, time_to, seconds)


def _diverged_message(recipe: Recipe, epoch: int) -> str:
    training = recipe.training
    message = _("Training diverged: the loss became NaN or infinite at epoch {epoch}.").format(epoch=epoch)
    message += " " + _("Try a lower learning rate (now {rate}), e.g. --set training.learning_rate={lower}.").format(
        rate=training.learning_rate, lower=f"{training.learning_rate / 10:g}")  # fmt: skip
    if training.weight_decay > 0:
        message += " " + _("Or a smaller weight decay (now {decay}), e.g. --set training.weight_decay={lower}.").format(
            decay=training.weight_decay, lower=f"{training.weight_decay / 10:g}")  # fmt: skip
    return message


def fit_metrics(recipe: Recipe, dataset: Dataset, fitted: Fitted) -> dict:
    """What every finished fit records in metrics.json, a trained run and a search trial alike."""
    rows = fitted.recorder.rows
    return {
        "recipe": recipe.name,
        "model": recipe.model.architecture,
        "parameters": int(fitted.model.count_params()),
        "seed": recipe.seed,
        "epochs": len(rows),
        "final_epoch": {k: v for k, v in rows[-1].items() if k != "epoch"},
        "best_val_accuracy": max((row["val_accuracy"] for row in rows), default=float("nan")),
        "training_seconds": round(fitted.seconds, 3),
        "seconds_per_epoch": round(fitted.seconds / len(rows), 4),
        "train_images": len(dataset.x_train),
        "valid_images": len(dataset.x_valid),
        "backend": backend_name(),
        "versions": backend_versions(),
        "data": dataset.source.to_dict(),
    }


# What a finished training hands the step after it (`provador train` draws the report with it):
# (run, model, dataset, test probabilities) -> the report's path, or None.
Then = Callable[[runs.Run, Any, Dataset, np.ndarray], "Path | None"]


def _train_into(
    run: runs.Run,
    recipe: Recipe,
    dataset: Dataset,
    quiet: bool,
    say,
    keep_checkpoints: bool,
    then: Then | None,
    tracker: RunTracker,
) -> None:
    callbacks = [tracker.callback()] if tracker.sinks else []
    fitted = fit(recipe, dataset, run, callbacks, progress=not quiet, checkpoint=True)
    model, fit_seconds = fitted.model, fitted.seconds
    with _files.atomic_path(run.path / runs.MODEL_FILE) as tmp:
        model.save(tmp)

    # The temperature that makes the answers honest, fitted on the validation split (never the test set).
    raw = Answer.for_recipe(recipe.model_params)
    valid = raw.probabilities(raw.compiled(model), dataset.x_valid, recipe.execution.eval_batch_size)
    calibration = calibrate(valid, dataset.y_valid)
    probabilities, test = test_metrics(model, recipe, dataset, calibration)
    epochs_run = len(fitted.recorder.rows)
    run.complete({
        **fit_metrics(recipe, dataset, fitted),
        "test": test,
        "calibration": calibration,
        "epochs_per_second": round(epochs_run / fit_seconds, 4),
        "seconds_to_val_accuracy": fitted.time_to.reached,
    })  # fmt: skip
    if not keep_checkpoints:
        (run.path / runs.CHECKPOINT_FILE).unlink(missing_ok=True)
    runs.mark_latest(run)
    # The run is complete from here on: a report that fails or is interrupted leaves it complete,
    # and `provador report RUN` draws what is missing.
    report_path = then(run, model, dataset, probabilities) if then else None
    tracker.finish(run.metrics)  # after the report: its pictures are among the files sent

    first = np.argmax(probabilities[:5], axis=-1)
    say("\n" + _("Test accuracy: {accuracy}   test loss: {loss}").format(
        accuracy=number(test["accuracy"]), loss=number(test["loss"])))  # fmt: skip
    say(_("Training time: {seconds} s ({per_epoch} s per epoch)").format(
        seconds=number(fit_seconds, 1), per_epoch=number(fit_seconds / epochs_run, 2)))  # fmt: skip
    say(_("First five test images: {names}").format(names=", ".join(class_name(dataset.class_names[i]) for i in first)))
    if report_path:
        say(_("Report: {path}").format(path=report_path))
    say(_("Run saved in {path}").format(path=run.path))


__all__ = [
    "train",
    "train_prepared",
    "training_data",
    "fit",
    "fit_metrics",
    "check_fits",
    "training_memory",
    "resolve_recipe",
    "build_for",
]
