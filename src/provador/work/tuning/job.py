"""What one search is (a frozen, picklable job every worker gets) and its budget: trials, time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from provador.base.errors import StudyError
from provador.base.i18n import _
from provador.core.recipes import Recipe
from provador.core.spaces import SearchSpace
from provador.records.storage import Storage
from provador.work.tracking import Tracking

STUCK_EPOCHS = 3  # a trial whose validation accuracy is still at chance then is stopped
SMALL_VALIDATION = 2000  # below this, trials differ by less than the split's noise


@dataclass(frozen=True)
class Job:
    """Everything one worker process needs (picklable: workers are started with `spawn`)."""

    recipe: Recipe
    space: SearchSpace
    study: str
    folder: Path
    storage: Storage
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
    tracking: Tracking | None = None  # each trial a nested MLflow run of the study's, and/or TensorBoard files


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
