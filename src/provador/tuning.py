"""Hyperparameter search on Optuna: many short trainings, each scored on the validation split.

The test set is never loaded by a search (`include_test=False`: its files are not even
opened), so choosing among trials cannot peek at it; the winner is retrained from
`best.toml` and tested once. A study lives in an embedded journal file by default
(several local worker processes may share it) or in PostgreSQL, where workers on many
machines run the same command. Results: see `provador.studies`.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import re
import signal
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from provador import _files, _system, runs, studies
from provador._keras import keras
from provador.choices import PRUNERS, SAMPLERS
from provador.datasets import Dataset, dataset_for
from provador.errors import RecipeError, StudyError, TrainingDiverged
from provador.i18n import _, current, number, set_language
from provador.recipes import Recipe
from provador.spaces import SearchSpace, load_space
from provador.storage import DEFAULT_HEARTBEAT, masked, open_storage
from provador.training import Then, check_fits, fit, fit_metrics, resolve_recipe, train, training_memory

STUCK_EPOCHS = 3  # a trial whose validation accuracy is still at chance then is stopped
SMALL_VALIDATION = 2000  # below this, trials differ by less than the split's noise


@dataclass(frozen=True)
class _Job:
    """Everything one worker process needs (picklable: workers are started with `spawn`)."""

    recipe: Recipe
    space: SearchSpace
    study: str
    folder: Path
    storage: str | None
    target: int | None  # trials the study should have in all (complete, pruned or failed for a reason)
    deadline: float | None  # time.time() after which no trial starts and a running one stops
    trial_time: float | None  # seconds of training one trial may take (a recipe that must stay fast)
    data_dir: str | None
    sampler: str
    pruner: str
    heartbeat: int
    seed: int | None
    quiet: bool
    started: float
    language: str = "en"  # the caller's, for the workers' lines (a spawned process starts with the environment's)


# --- budgets ------------------------------------------------------------------------


def parse_duration(text: str | float | int, option: str = "--timeout") -> float:
    """Seconds from `90`, `90s`, `15m`, `2h` or `1h30m`."""
    if isinstance(text, (int, float)):
        return float(text)
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or not match:
        raise StudyError(
            _(
                "Expected {option} to be a duration such as 90s, 15m, 2h or 1h30m (a bare number is seconds). "
                "Received: {value!r}"
            ).format(option=option, value=text)
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _check_budget(trials: int | None, timeout: float | None) -> None:
    if trials is not None and trials < 1:
        raise StudyError(
            _("Expected --trials to be a positive number of trials. Received: {value}").format(value=trials)
        )
    if timeout is not None and timeout <= 0:
        raise StudyError(
            _("Expected --timeout to be a positive duration (e.g. 15m). Received: {value} seconds").format(
                value=f"{timeout:g}"
            )
        )


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


# --- storage and study ----------------------------------------------------------------


def _sampler(kind: str, seed: int | None):
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Constant liar: parallel workers do not all try the same promising point.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(kind: str):
    # Trials report at whole percent of their own schedule (see _ReportToTrial), so 100 is the end.
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=20, max_resource=100, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(job: _Job, resume: bool = False) -> optuna.Study:
    """Create the study, or load it and check that it searches the same space on the same recipe."""
    study = optuna.create_study(
        study_name=job.study, storage=open_storage(job.storage, job.folder, job.heartbeat),
        direction="maximize", load_if_exists=True,
        sampler=_sampler(job.sampler, job.seed), pruner=_pruner(job.pruner),
    )  # fmt: skip
    attrs = study.user_attrs
    wanted = {"space": job.space.to_dict(), "recipe": job.recipe.model_dump(mode="json")}
    changed = [key for key, value in wanted.items() if "space" in attrs and attrs.get(key) != value]
    if changed and not resume:
        what = {"space": _("space"), "recipe": _("recipe")}
        raise StudyError(
            _("Study `{study}` already exists with another {what} (space `{space}`, recipe `{recipe}`). Pick a new "
              "--study name, or pass --resume to go on with this study under the new settings.").format(
                study=job.study, what=_(" and ").join(what[c] for c in changed),
                space=attrs["space"].get("name"), recipe=attrs["recipe"].get("name"),
            )
        )  # fmt: skip
    if "space" in attrs and not changed:
        return study
    if changed:
        _check_compatible(study, job.space)
    for key, value in {**wanted, "space_text": job.space.text}.items():  # a new study, or --resume's new settings
        study.set_user_attr(key, value)
    return study


def _check_compatible(study: optuna.Study, space: SearchSpace) -> None:
    """Optuna cannot mix, under one name, a log and a linear range (or numbers and choices)."""
    sample = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    space.suggest(sample)
    for trial in study.get_trials(deepcopy=False):
        for name, old in trial.distributions.items():
            new = sample.distributions.get(name)
            try:
                if new is not None:
                    optuna.distributions.check_distribution_compatibility(old, new)
            except ValueError as exc:
                raise StudyError(
                    _(
                        "In study `{study}`, `{name}` is searched differently from its earlier trials ({reason}): one "
                        "study cannot mix them. Pick a new --study name."
                    ).format(study=study.study_name, name=name, reason=exc.args[0].rstrip(".").lower())
                ) from None


def counts_toward_budget(trial) -> bool:
    """Finished or running trials count; so do failures with a reason (diverged, invalid).
    A trial lost to Ctrl-C or a dead worker does not: resuming runs it again."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return trial.state == TrialState.FAIL and "failure" in trial.user_attrs


def _counted(study: optuna.Study) -> int:
    return sum(counts_toward_budget(t) for t in study.get_trials(deepcopy=False))


def fail_dead_local_trials(study: optuna.Study) -> None:
    """Mark failed the running trials whose worker process on this machine no longer exists.

    The journal file has no heartbeat (PostgreSQL's storage has one), but its workers all
    run on this machine, where a process can be asked whether it is still alive (PID and start
    time: a dead worker's PID handed to another process does not keep its trial running).
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get("worker", ""))
        worker_host, _sep, pid = owner.rpartition(":")
        started = trial.user_attrs.get("worker_started")
        if not _system.on_this_host(worker_host) or not pid.isdigit() or _system.alive(int(pid), started):
            continue
        with contextlib.suppress(Exception):  # another worker may have just done the same
            study._storage.set_trial_user_attr(trial._trial_id, "error", "its worker process ended mid-trial")
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)


# --- one trial ------------------------------------------------------------------------


class _ReportToTrial(keras.callbacks.Callback):
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

    def on_train_begin(self, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        done, now = epoch + 1, time.perf_counter()
        if done == 1:
            self.first_epoch_end = now
        value = float((logs or {}).get("val_accuracy", math.nan))
        if not math.isfinite(value):
            return  # the history recorder stops training and the trial fails as diverged
        self.trial.report(value, step=round(100 * done / self.epochs))
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


class _Objective:
    """Train one trial's recipe into a light run directory; its score is the validation accuracy."""

    def __init__(self, job: _Job, dataset: Dataset):
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
        reporter = _ReportToTrial(trial, recipe.training.epochs, self.job.deadline, self.job.trial_time)
        try:
            fitted = fit(recipe, self.dataset, run, callbacks=[reporter])
        except optuna.TrialPruned as exc:
            run.prune(str(exc))
            trial.set_user_attr("reason", str(exc))
            raise
        except TrainingDiverged as exc:
            trial.set_user_attr("failure", str(exc))
            run.stop(exc)
            raise
        except BaseException as exc:  # Ctrl-C or a bug: the trial fails, its run says why
            _files.remove_partials(run.path)
            run.stop(exc)
            raise
        return self._finish(trial, recipe, run, fitted)

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


# --- progress -------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def trial_line(study: optuna.Study, trial, job: _Job) -> str:
    """One line per finished trial: number, outcome, score, best so far, parameters, time used."""
    state = _(studies.STATES.get(trial.state, trial.state.name.lower()))
    score = trial.value if trial.value is not None else trial.last_step and trial.intermediate_values[trial.last_step]
    parts = [_("trial {number}").format(number=f"{trial.number:>3}"), f"{state:<8}"]
    parts.append(_("val {accuracy}").format(accuracy=number(score) if isinstance(score, float) else "  -   "))
    best = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if best:
        top = max(best, key=lambda t: t.value)
        parts.append(_("best {accuracy} (#{trial})").format(accuracy=number(top.value), trial=top.number))
    seconds = trial.user_attrs.get("seconds") or (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else 0
    )
    parts.append(f"{seconds:5.1f}s")
    used = format_seconds(time.time() - job.started)
    if job.deadline:
        used += " " + _("of {budget}").format(budget=format_seconds(job.deadline - job.started))
    elif job.target:
        used += ", " + _("{count}/{target} trials").format(count=_counted(study), target=job.target)
    parts.append(used)
    overrides = trial.user_attrs.get("overrides") or {}
    line = "  ".join(parts) + "  " + " ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in overrides.items())
    why = trial.user_attrs.get("failure") or trial.user_attrs.get("error")
    if trial.state == TrialState.FAIL and why:
        line += "\n      " + _("failed: {reason}").format(reason=str(why).splitlines()[0])
    return line


# --- running --------------------------------------------------------------------------


def _work(job: _Job, worker: int = 0, dataset: Dataset | None = None) -> None:
    """One worker: run trials until the study has `target` of them or the deadline passes.

    Opens the study again with this worker's sampler seed; `dataset` is the one the caller
    already loaded, when the worker runs in its process."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial is ours to print
    study = open_study(replace(job, seed=None if job.seed is None else job.seed + worker), resume=True)
    objective = _Objective(job, dataset if dataset is not None else _dataset(job))

    def after_trial(study: optuna.Study, trial) -> None:
        if not job.quiet:
            print(trial_line(study, trial, job), flush=True)
        with contextlib.suppress(OSError):
            studies.write_results(study, job.folder)
        if job.target is not None and _counted(study) >= job.target:
            study.stop()

    while True:
        _fail_lost_trials(study, job)
        timeout = None if job.deadline is None else job.deadline - time.time()
        if timeout is not None and timeout <= 0:
            return
        remaining = None if job.target is None else job.target - _counted(study)
        if remaining is not None and remaining <= 0:
            # The budget is met only if the trials still running elsewhere finish: wait for them,
            # and take over the ones whose worker died (their trials are failed, the count drops).
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return
            time.sleep(1)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                objective, n_trials=remaining, timeout=timeout,
                catch=(RecipeError, TrainingDiverged), callbacks=[after_trial],
            )  # fmt: skip
        if job.target is None:
            return  # the deadline alone bounds this search, and it has passed


def _fail_lost_trials(study: optuna.Study, job: _Job) -> None:
    """Fail the trials of workers that died: by heartbeat on PostgreSQL, by process id on this machine."""
    if job.storage is None:
        fail_dead_local_trials(study)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def _dataset(job: _Job) -> Dataset:
    # Training and validation splits only: the test files are not opened.
    return dataset_for(job.recipe, job.data_dir, progress=not job.quiet, include_test=False)


def _worker_process(job: _Job, worker: int) -> None:
    set_language(job.language)
    try:
        _work(job, worker)
    except KeyboardInterrupt:
        sys.exit(130)


def tune(
    recipe: Recipe | str | Path | None = None,
    space: SearchSpace | str | Path = "mlp",
    *,
    trials: int | None = None,
    timeout: float | str | None = None,
    trial_time: float | str | None = None,
    study: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    resume: bool = False,
    final: bool = False,
    overrides: dict[str, Any] | None = None,
    studies_dir: str | Path = "studies",
    runs_dir: str | Path = "runs",
    data_dir: str | Path | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    heartbeat: int = DEFAULT_HEARTBEAT,
    quiet: bool = False,
    then: Then | None = None,
) -> studies.StudySummary:
    """Search `space` around `recipe`, scoring trials on the validation split only.

    `trials` is how many trials the study should have in all (re-running resumes it and
    runs only the missing ones); `timeout` (seconds, or "15m", "2h") bounds this call;
    `trial_time` stops any trial whose training would take longer (for recipes that must be fast).
    Without either, 20 trials. `final=True` retrains the winner and tests it once (`then` is
    handed that run, as in `training.train`: `provador.tune` draws its report).
    Returns the study's summary: best trial, its recipe file, counts, pictures, report.
    """
    space = load_space(space)
    recipe = resolve_recipe(recipe or space.recipe or "seed", overrides)
    timeout = parse_duration(timeout) if timeout is not None else None
    trial_time = parse_duration(trial_time, "--trial-time") if trial_time is not None else None
    _check_budget(trials, timeout)
    if trial_time is not None and trial_time <= 0:
        raise StudyError(
            _("Expected --trial-time to be a positive duration (e.g. 15s). Received: {value} seconds").format(
                value=f"{trial_time:g}"
            )
        )
    if trials is None and timeout is None:
        trials = 20
    cores = os.cpu_count() or 1
    if not 1 <= workers <= cores:
        raise StudyError(
            _("Expected --workers to be from 1 to {cores} (this machine's cores: more workers would only share them, "
              "each with its own copy of the data and of Keras). Received: {value}").format(cores=cores, value=workers)
        )  # fmt: skip
    if sampler not in SAMPLERS or pruner not in PRUNERS:
        raise StudyError(
            _("Expected --sampler in {samplers} and --pruner in {pruners}. Received: {sampler!r}, {pruner!r}").format(
                samplers=", ".join(SAMPLERS), pruners=", ".join(PRUNERS), sampler=sampler, pruner=pruner
            )
        )
    space.check_against(recipe)
    name = studies.check_name(study or (recipe.name if recipe.name == space.name else f"{recipe.name}-{space.name}"))
    folder = Path(studies_dir).expanduser() / name
    started = time.time()
    job = _Job(
        recipe=recipe, space=space, study=name, folder=folder, storage=storage, target=trials,
        deadline=started + timeout if timeout else None, trial_time=trial_time, data_dir=str(data_dir) if data_dir else None,
        sampler=sampler, pruner=pruner, heartbeat=heartbeat, seed=None, quiet=quiet, started=started,
        language=current(),
    )  # fmt: skip
    dataset = _dataset(job)  # fail now on missing data, not in every worker
    _check_largest_fits(space, recipe, dataset, workers)
    say = (lambda *a: None) if quiet else print
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            opened = open_study(job, resume=resume)  # once, before any worker: Optuna's schema creation races
        _fail_lost_trials(opened, job)
        if not opened.trials and (start := space.params_of(recipe)) is not None:
            opened.enqueue_trial(start)  # trial 0 is the recipe itself: the search keeps only what beats it
        # A search in one process, with no other worker on the study, is repeatable: seed it. Not
        # on PostgreSQL, where another machine may start the same command at the same moment.
        alone = workers == 1 and storage is None and not opened.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        job = replace(job, seed=recipe.seed + len(opened.trials) if alone else None)
        studies.write_study_file(job.folder, name, masked(storage), recipe, space, sampler, pruner)
        say(_header(job, dataset, opened, workers))
        if job.target is not None and _counted(opened) >= job.target:
            say(_("Study `{study}` already has {count} trials (asked for {target}): nothing to run. Ask for more "
                  "with --trials N.").format(study=name, count=_counted(opened), target=job.target))  # fmt: skip
        elif workers == 1:
            _work(job, dataset=dataset)
        else:
            _run_workers(job, workers)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            studies.write_results(
                optuna.load_study(study_name=name, storage=open_storage(storage, folder, heartbeat)), folder
            )
        say("\n" + _("Stopped. The study is saved: run the same command again to resume `{study}`.").format(study=name))
        raise
    finally:
        optuna.logging.set_verbosity(previous)
    summary = studies.refresh(name, folder, storage=storage)
    if not quiet:
        print(studies.format_summary(summary))
    if final and summary.best_recipe is not None:
        say("\n" + _("Retraining the winner ({path}) and testing it once:").format(path=summary.best_recipe))
        run = train(summary.best_recipe, runs_dir=runs_dir, data_dir=data_dir, quiet=quiet, then=then)
        summary = studies.record_final(summary, run)
    return summary


def _check_largest_fits(space: SearchSpace, recipe: Recipe, dataset: Dataset, workers: int) -> None:
    """The space's largest trial, in every worker at once, must fit in this machine's memory:
    refused now rather than swapping (or killed) at trial 17."""
    needs = lambda candidate: training_memory(candidate, dataset)[1]  # noqa: E731
    largest = {}
    for key, param in space.params.items():  # each size at its dearest value (memory grows with each)
        value = max(param.candidates(), key=lambda value: needs(recipe.with_overrides({key: value})))
        if needs(recipe.with_overrides({key: value})) != needs(recipe):  # named in the message: it costs memory
            largest[key] = value
    if not largest:
        return
    try:
        corner = recipe.with_overrides(largest)
    except RecipeError:  # the largest values do not combine (e.g. lists of different lengths): checked per trial
        return
    try:
        check_fits(corner, dataset, processes=workers)
    except RecipeError as exc:
        raise StudyError(
            _("Search space {origin}: its largest trial ({values}) cannot be trained here. {reason} Narrow the "
              "space's ranges, or use fewer --workers.").format(
                origin=space.origin, values=", ".join(f"{k}={v}" for k, v in largest.items()), reason=exc)
        ) from None  # fmt: skip


def _header(job: _Job, dataset: Dataset, study: optuna.Study, workers: int) -> str:
    budget = []
    if job.target is not None:
        budget.append(_("{count} trials").format(count=job.target))
    if job.deadline is not None:
        budget.append(format_seconds(job.deadline - job.started))
    per_trial = (
        _(", at most {seconds} s of training per trial").format(seconds=f"{job.trial_time:g}") if job.trial_time else ""
    )
    lines = [
        _(
            "Study `{study}`: space `{space}` on recipe `{recipe}` ({model}), {budget}{per_trial}; sampler {sampler}, "
            "pruner {pruner}; {workers} worker(s); storage: {storage}"
        ).format(
            study=job.study,
            space=job.space.name,
            recipe=job.recipe.name,
            model=job.recipe.model.architecture,
            budget=_(" or ").join(budget),
            per_trial=per_trial,
            sampler=job.sampler,
            pruner=job.pruner,
            workers=workers,
            storage=_(masked(job.storage)),
        ),
        _("Scoring on {valid} validation images ({split}); training on {train}. The test set is not loaded.").format(
            valid=number(len(dataset.x_valid), 0), split=job.recipe.data.split, train=number(len(dataset.x_train), 0)
        ),
    ]
    on_record = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]  # not trial 0 queued
    if on_record:
        lines.append(
            _("Resuming: {count} trials on record, {counted} of them count toward the budget.").format(
                count=len(on_record), counted=_counted(study)
            )
        )
    if len(dataset.x_valid) < SMALL_VALIDATION:
        lines.append(
            _(
                "Note: {valid} validation images are few to rank trials (accuracy's standard error ≈ {error}); the "
                "mlp-fast and cnn recipes hold out 5,000, stratified."
            ).format(
                valid=number(len(dataset.x_valid), 0), error=number(math.sqrt(0.9 * 0.1 / len(dataset.x_valid)), 3)
            )
        )
    lines.append(_("Results: {path}").format(path=job.folder))  # fmt: skip
    return "\n".join(lines)


def _run_workers(job: _Job, workers: int) -> None:
    """N local worker processes on the same study (the journal file takes their writes in turn)."""
    context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
    processes = [context.Process(target=_worker_process, args=(job, i), name=f"worker-{i}") for i in range(workers)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches every worker; a signal sent to this process alone is passed on.
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        raise
    failed = [p.name for p in processes if p.exitcode not in (0, 130)]
    if failed:
        print(_("Warning: {workers} stopped with an error (see above); the study is saved.").format(
            workers=", ".join(failed)), file=sys.stderr)  # fmt: skip


__all__ = ["tune", "parse_duration", "counts_toward_budget", "fail_dead_local_trials", "SAMPLERS", "PRUNERS"]
