"""Opening a study (sampler, pruner, a space that must match) and mending it: the trials of dead workers."""

from __future__ import annotations

import contextlib

import optuna
from optuna.trial import TrialState

from provador.base import _system
from provador.base.errors import StudyError
from provador.base.i18n import _
from provador.core.spaces import SearchSpace
from provador.work.tuning.job import Job

# --- storage and study ----------------------------------------------------------------


def _sampler(kind: str, seed: int | None):
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Constant liar: parallel workers do not all try the same promising point.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def _pruner(kind: str):
    # Trials report at whole percent of their own schedule (see ReportToTrial), so 100 is the end.
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=20, max_resource=100, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(job: Job, resume: bool = False) -> optuna.Study:
    """Create the study, or load it and check that it searches the same space on the same recipe."""
    study = optuna.create_study(
        study_name=job.study, storage=job.storage.open(job.folder, job.heartbeat),
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
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
