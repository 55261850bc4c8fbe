"""Running a search: the progress lines, one worker's loop, and N worker processes on one study."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
import warnings
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from provador.base.errors import RecipeError, TrainingDiverged
from provador.base.i18n import _, number, set_language
from provador.core.datasets import Dataset, dataset_for
from provador.records import studies
from provador.work.tuning.job import Job, format_seconds
from provador.work.tuning.study import _counted, fail_dead_local_trials, open_study
from provador.work.tuning.trial import Objective

# --- progress -------------------------------------------------------------------------


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def trial_line(study: optuna.Study, trial, job: Job) -> str:
    """One line per finished trial: number, outcome, score, best so far, parameters, time used."""
    state = _(studies.state_name(trial.state))
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


def _work(job: Job, worker: int = 0, dataset: Dataset | None = None) -> None:
    """One worker: run trials until the study has `target` of them or the deadline passes.

    Opens the study again with this worker's sampler seed; `dataset` is the one the caller
    already loaded, when the worker runs in its process."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial is ours to print
    study = open_study(replace(job, seed=None if job.seed is None else job.seed + worker), resume=True)
    objective = Objective(job, dataset if dataset is not None else _dataset(job))

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


def _fail_lost_trials(study: optuna.Study, job: Job) -> None:
    """Fail the trials of workers that died: by heartbeat on PostgreSQL, by process id on this machine."""
    if job.storage.is_journal:
        fail_dead_local_trials(study)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)


def _dataset(job: Job) -> Dataset:
    # Training and validation splits only: the test files are not opened.
    return dataset_for(job.recipe, job.data_dir, progress=not job.quiet, include_test=False)


def _worker_process(job: Job, worker: int) -> None:
    set_language(job.language)
    try:
        _work(job, worker)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_workers(job: Job, workers: int) -> None:
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
