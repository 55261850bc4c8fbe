"""One trial: a short training into a light run directory, reported epoch by epoch to the pruner."""

from __future__ import annotations

import math
import time

import optuna

from provador.base import _files, _system
from provador.base._keras import keras
from provador.base.errors import RecipeError, TrainingDiverged
from provador.core.datasets import Dataset
from provador.core.recipes import Recipe
from provador.records import runs, studies
from provador.work.tracking import open_run
from provador.work.training import check_fits, fit, fit_metrics
from provador.work.tuning.job import STUCK_EPOCHS, Job

# --- one trial ------------------------------------------------------------------------


class ReportToTrial(keras.callbacks.Callback):
    """Report validation accuracy after every epoch; stop a hopeless trial, one past the search's
    time budget, or one whose training takes longer than the per-trial limit.

    The step is the percent of the trial's own schedule that is done, so that a 10-epoch and a
    20-epoch trial are compared at the same point of their learning-rate schedules.
    """

    def __init__(self, trial: optuna.Trial, epochs: int, deadline: float | None, trial_time: float | None):
        super().__init__()
        self.trial, self.epochs, self.deadline, self.trial_time = trial, epochs, deadline, trial_time
        self.started = self.first_epoch_end = time.perf_counter()
        self.history: list[float] = []
        self.reported_steps: set[int] = set()

    def on_train_begin(self, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        done, now = epoch + 1, time.perf_counter()
        if done == 1:
            self.first_epoch_end = now
        value = float((logs or {}).get("val_accuracy", math.nan))
        if not math.isfinite(value):
            return  # the history recorder stops training and the trial fails as diverged
        step = round(100 * done / self.epochs)
        if step not in self.reported_steps:  # past 100 epochs two epochs share a step; Optuna keeps the first
            self.trial.report(value, step=step)
            self.reported_steps.add(step)
        if self.deadline is not None and time.time() > self.deadline:
            raise optuna.TrialPruned(f"stopped at the time budget, after epoch {done}")
        if self.trial_time is not None and self._over_time(done, now):
            raise optuna.TrialPruned(
                f"stopped after epoch {done}: {self.epochs} epochs would not train within {self.trial_time:g} s"
            )
        self.history.append(value)
        chance = 1 / self.model.output_shape[-1]
        if done == STUCK_EPOCHS < self.epochs and max(self.history) < chance + 0.05:
            # No pruner can say it this early (too few trials to compare), and it never recovers.
            raise optuna.TrialPruned(
                f"stopped after epoch {done}: validation accuracy stuck at chance ({max(self.history):.2f}): "
                "it is not learning (a learning rate too high?)"
            )
        if done < self.epochs and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {done} of {self.epochs}: behind earlier trials")

    def _over_time(self, done: int, now: float) -> bool:
        """Past the per-trial limit, or sure to pass it: after two epochs the pace is known (the
        first epoch also compiles, so the pace is taken from the epochs after it)."""
        if now - self.started > self.trial_time:
            return True
        if done < 2:
            return False
        pace = (now - self.first_epoch_end) / (done - 1)
        projected = (self.first_epoch_end - self.started) + pace * (self.epochs - 1)
        return projected > 1.25 * self.trial_time


class Objective:
    """Train one trial's recipe into a light run directory; its score is the validation accuracy."""

    def __init__(self, job: Job, dataset: Dataset):
        self.job, self.dataset = job, dataset
        self.trials_dir = job.folder / studies.TRIALS_DIR

    def __call__(self, trial: optuna.Trial) -> float:
        me = _system.identity()
        trial.set_user_attr("worker", f"{me['host']}:{me['pid']}")
        trial.set_user_attr("worker_started", me["pid_started"])  # with the PID, who this worker is
        overrides = self.job.space.suggest(trial)
        trial.set_user_attr("overrides", overrides)
        try:
            recipe = self.job.recipe.with_overrides({**overrides, "name": f"trial-{trial.number:04d}"})
            check_fits(recipe, self.dataset)
        except RecipeError as exc:
            trial.set_user_attr("failure", f"invalid recipe: {exc}")
            raise
        run = runs.new_run(self.trials_dir, recipe, self.dataset.class_names, self.dataset.source.to_dict())
        run.update_info(study=self.job.study, trial=trial.number)
        trial.set_user_attr("run", run.path.name)
        reporter = ReportToTrial(trial, recipe.training.epochs, self.job.deadline, self.job.trial_time)
        tracker = open_run(self.job.tracking, run, recipe, kind="trial", say=lambda *a: None)
        # The tracker first: the epoch a pruner stops at is sent too.
        callbacks = [tracker.callback(), reporter] if tracker.sinks else [reporter]
        try:
            fitted = fit(recipe, self.dataset, run, callbacks=callbacks)
        except optuna.TrialPruned as exc:
            run.prune(str(exc))
            trial.set_user_attr("reason", str(exc))
            tracker.finish({}, status="KILLED", tags={"provador.status": "pruned", "provador.reason": str(exc)})
            raise
        except TrainingDiverged as exc:
            trial.set_user_attr("failure", str(exc))
            run.stop(exc)
            tracker.end(exc)
            raise
        except BaseException as exc:  # Ctrl-C or a bug: the trial fails, its run says why
            _files.remove_partials(run.path)
            run.stop(exc)
            tracker.end(exc)
            raise
        value = self._finish(trial, recipe, run, fitted)
        tracker.finish(run.metrics)
        return value

    def _finish(self, trial: optuna.Trial, recipe: Recipe, run: runs.Run, fitted) -> float:
        rows = fitted.recorder.rows
        val = [row["val_accuracy"] for row in rows]
        # With early stopping the best weights are restored: the score is theirs, else the last epoch's.
        value = max(val) if recipe.training.early_stopping_patience else val[-1]
        # Only trials that beat the study so far keep their model (an MLP with Adam state can
        # weigh 30 MB); every trial keeps its recipe, history and metrics.
        keep_model = value > _best_value(trial.study)
        if keep_model:
            with _files.atomic_path(run.path / runs.MODEL_FILE) as tmp:
                fitted.model.save(tmp)
        metrics = {**fit_metrics(recipe, self.dataset, fitted), "val_accuracy": value,
                   "study": self.job.study, "trial": trial.number}  # fmt: skip
        run.complete(metrics, model_kept=keep_model)
        trial.set_user_attr("seconds", round(fitted.seconds, 2))
        trial.set_user_attr("epochs", len(rows))
        return value


def _best_value(study: optuna.Study) -> float:
    try:
        return study.best_value
    except ValueError:  # no complete trial yet
        return -math.inf
