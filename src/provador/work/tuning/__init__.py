"""Hyperparameter search on Optuna: many short trainings, each scored on the validation split.

The test set is never loaded by a search (`include_test=False`: its files are not even
opened), so choosing among trials cannot peek at it; the winner is retrained from
`best.toml` and tested once. A study lives in an embedded journal file by default
(several local worker processes may share it) or in PostgreSQL, where workers on many
machines run the same command. Results: see `provador.records.studies`.

The package: `job` (what a search is, its budget), `study` (opening and mending a study),
`trial` (one training scored on validation), `workers` (progress and processes); `tune` here.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from provador.base.choices import HEARTBEAT, PRUNER, PRUNERS, RUNS_DIR, SAMPLER, SAMPLERS, STUDIES_DIR
from provador.base.errors import RecipeError, StudyError
from provador.base.i18n import _, current, number
from provador.core.datasets import Dataset
from provador.core.recipes import Recipe
from provador.core.spaces import SearchSpace, load_space
from provador.records import studies
from provador.records.storage import Storage
from provador.work.tracking import RunTracker, Tracking
from provador.work.training import Then, check_fits, resolve_recipe, train, training_memory
from provador.work.tuning.job import SMALL_VALIDATION, Job, _check_budget, format_seconds, parse_duration
from provador.work.tuning.study import _counted, counts_toward_budget, fail_dead_local_trials, open_study
from provador.work.tuning.workers import _dataset, _fail_lost_trials, _run_workers, _work


def tune(
    recipe: Recipe | str | Path | None = None,
    space: SearchSpace | str | Path = "mlp",
    *,
    trials: int | None = None,
    timeout: float | str | None = None,
    trial_time: float | str | None = None,
    study: str | None = None,
    storage: Storage | str | None = None,
    workers: int = 1,
    resume: bool = False,
    final: bool = False,
    overrides: dict[str, Any] | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    runs_dir: str | Path = RUNS_DIR,
    data_dir: str | Path | None = None,
    sampler: str = SAMPLER,
    pruner: str = PRUNER,
    heartbeat: int = HEARTBEAT,
    quiet: bool = False,
    then: Then | None = None,
    draw_study: studies.DrawStudy | None = None,
    track: Tracking | str | list[str] | None = None,
) -> studies.StudySummary:
    """Search `space` around `recipe`, scoring trials on the validation split only.

    `trials` is how many trials the study should have in all (re-running resumes it and
    runs only the missing ones); `timeout` (seconds, or "15m", "2h") bounds this call;
    `trial_time` stops any trial whose training would take longer (for recipes that must be fast).
    Without either, 20 trials. `final=True` retrains the winner and tests it once (`then` is
    handed that run, as in `training.train`; `draw_study` draws the study's report: `provador.tune`
    hands both). `track` as in `training.train`: the study is one MLflow run and each trial (and
    the final retraining) a run nested in it; TensorBoard files are written in each trial's folder.
    Returns the study's summary: best trial, its recipe file, counts, pictures, report.
    """
    storage = Storage.parse(storage)  # a mistyped URL is refused before anything is loaded
    tracking = Tracking.parse(track)
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
    job = Job(
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
    study_tracker = RunTracker(None, folder, name)  # none until the study is open
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            opened = open_study(job, resume=resume)  # once, before any worker: Optuna's schema creation races
        _fail_lost_trials(opened, job)
        if not opened.trials and (start := space.params_of(recipe)) is not None:
            opened.enqueue_trial(start)  # trial 0 is the recipe itself: the search keeps only what beats it
        # A search in one process, with no other worker on the study, is repeatable: seed it. Not
        # on PostgreSQL, where another machine may start the same command at the same moment.
        alone = (
            workers == 1 and storage.is_journal and not opened.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        )
        job = replace(job, seed=recipe.seed + len(opened.trials) if alone else None)
        studies.write_study_file(job.folder, name, storage.masked, recipe, space, sampler, pruner)
        say(_header(job, dataset, opened, workers))
        study_tracker = RunTracker(tracking.only("mlflow"), folder, name, kind="study", say=say)
        job = replace(job, tracking=tracking.nested_in(study_tracker.mlflow_run_id))
        if job.target is not None and _counted(opened) >= job.target:
            say(_("Study `{study}` already has {count} trials (asked for {target}): nothing to run. Ask for more "
                  "with --trials N.").format(study=name, count=_counted(opened), target=job.target))  # fmt: skip
        elif workers == 1:
            _work(job, dataset=dataset)
        else:
            _run_workers(job, workers)
    except BaseException as exc:
        study_tracker.end(exc)
        if not isinstance(exc, KeyboardInterrupt):
            raise
        with contextlib.suppress(Exception):
            studies.write_results(optuna.load_study(study_name=name, storage=storage.open(folder, heartbeat)), folder)
        say("\n" + _("Stopped. The study is saved: run the same command again to resume `{study}`.").format(study=name))
        raise
    finally:
        optuna.logging.set_verbosity(previous)
    summary = studies.refresh(name, folder, storage=storage, draw=draw_study)
    if not quiet:
        print(studies.format_summary(summary))
    if final and summary.best_recipe is not None:
        say("\n" + _("Retraining the winner ({path}) and testing it once:").format(path=summary.best_recipe))
        try:
            run = train(summary.best_recipe, runs_dir=runs_dir, data_dir=data_dir, quiet=quiet, then=then,
                        track=job.tracking)  # fmt: skip
        except BaseException as exc:
            study_tracker.end(exc)
            raise
        summary = studies.record_final(summary, run)
    _finish_tracking(study_tracker, summary, job)
    return summary


def _finish_tracking(tracker: RunTracker, summary: studies.StudySummary, job: Job) -> None:
    """The study's own MLflow run: what it searched as tags (a resumed study may change them), the
    best score and the counts as figures, its report and recipes as files."""
    if not tracker.sinks:
        return
    figures = {f"trials_{state}": count for state, count in summary.trials.items()}
    tags = {"provador.space": job.space.name, "provador.recipe": job.recipe.name, "provador.sampler": job.sampler,
            "provador.pruner": job.pruner, "provador.storage": job.storage.masked}  # fmt: skip
    if summary.best:
        figures["best_val_accuracy"] = summary.best["val_accuracy"]
        tags["provador.best_trial"] = str(summary.best["trial"])
        tags |= {f"best.{key}": str(value) for key, value in summary.best["overrides"].items()}
    if summary.final:
        figures |= {f"final_{key}": value for key, value in summary.final.items() if isinstance(value, (int, float))}
    tracker.finish({}, tags=tags, figures=figures)


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


def _header(job: Job, dataset: Dataset, study: optuna.Study, workers: int) -> str:
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
            storage=_(job.storage.masked),
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


__all__ = ["tune", "parse_duration", "counts_toward_budget", "fail_dead_local_trials", "SAMPLERS", "PRUNERS"]
