"""A study folder: what a hyperparameter search leaves behind, and how to read it back.

studies/<name>/
    study.json     storage (password hidden), recipe, space, sampler, pruner
    journal.log    the embedded storage (absent when the study lives in PostgreSQL)
    trials/        one light run directory per trial (`provador runs --runs-dir studies/<name>/trials`)
    trials.csv     one row per trial: state, validation accuracy, epochs, seconds, parameters
    best.toml      the best trial's complete recipe: `provador train --recipe studies/<name>/best.toml`
    summary.json   counts, best trial, paths (what `provador studies` lists)
    history.png, importance.png, slices.png, report.html
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from provador.base import _files
from provador.base.choices import STUDIES_DIR
from provador.base.errors import StorageError, StudyError
from provador.base.i18n import N_, _, number
from provador.core.recipes import Recipe, validate
from provador.records.storage import Storage

if TYPE_CHECKING:
    import optuna

STUDY_FILE, SUMMARY_FILE, TRIALS_FILE, BEST_FILE = "study.json", "summary.json", "trials.csv", "best.toml"
TRIALS_DIR, REPORT_FILE = "trials", "report.html"
PICTURES = {
    "history.png": N_("Search history: each trial's validation accuracy and the best so far"),
    "importance.png": N_("Which parameters mattered"),
    "slices.png": N_("Validation accuracy against each parameter"),
}
# Trial states as trials.csv and summary.json name them (marked: the summaries print them translated).
# Keyed by Optuna's TrialState names: listing studies reads JSON only, without importing Optuna.
STATE_NAMES = {"COMPLETE": N_("complete"), "PRUNED": N_("pruned"), "FAIL": N_("failed"), "RUNNING": N_("running"),
               "WAITING": N_("waiting")}  # fmt: skip


def state_name(state) -> str:
    """A TrialState as trials.csv and summary.json name it."""
    return STATE_NAMES.get(state.name, state.name.lower())


LOST_WORKER = "its worker stopped mid-trial (killed, or its machine lost)"


@dataclass
class StudySummary:
    """What a search found: counts, the best trial and where its recipe, pictures and report are."""

    study: str
    folder: str
    storage: str
    space: str
    recipe: str
    trials: dict[str, int]
    best: dict | None
    best_recipe: str | None
    report: str | None = None
    updated: str = ""
    final: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"  # a folder in the studies folder, never a path


def check_name(name: str) -> str:
    """A study's name: it names a folder inside the studies folder, so `../x` or `/tmp/x` is refused."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise StudyError(
            _("Expected a study name of letters, digits, '.', '_' or '-' (at most 100, not starting with '.' or "
              "'-'). Received: {value!r}").format(value=name)
        )  # fmt: skip
    return name


def write_study_file(folder: Path, name: str, storage: str, recipe: Recipe, space, sampler: str, pruner: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STUDY_FILE
    try:
        created = read_study_json(path).get("created")
    except StudyError:  # rewritten whole just below
        created = None
    _files.write_json(path, {
        "study": name, "storage": storage, "recipe": recipe.name, "space": space.name,
        "space_file": space.origin, "sampler": sampler, "pruner": pruner,
        "created": created or datetime.now().isoformat(timespec="seconds"),
    })  # fmt: skip


def _best_trial(study: optuna.Study):
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None


def best_recipe(study: optuna.Study, trial) -> Recipe:
    """The study's recipe with the best trial's values: a complete recipe, ready for `train`."""
    base = validate(study.user_attrs["recipe"], origin=f"study {study.study_name}")
    return base.with_overrides({
        **trial.user_attrs.get("overrides", {}),
        "name": f"{study.study_name}-best",
        "description": f"Best of study {study.study_name} (trial {trial.number}): "
        f"validation accuracy {trial.value:.4f}",
    })  # fmt: skip


def write_results(study: optuna.Study, folder: Path) -> StudySummary:
    """trials.csv, best.toml and summary.json from the storage (cheap: after every trial)."""
    trials = study.get_trials(deepcopy=False)
    _files.write_text(folder / TRIALS_FILE, _trials_csv(trials))
    best = _best_trial(study)
    best_path = None
    if best is not None:
        recipe = best_recipe(study, best)
        header = (
            f"# Found by `provador tune`: study {study.study_name}, trial {best.number} of {len(trials)}, "
            f"validation accuracy {best.value:.4f}.\n# The test set was not used to choose it. Retrain it and "
            f"test it once:\n#   provador train --recipe {folder / BEST_FILE}\n"
        )
        best_path = _files.write_text(folder / BEST_FILE, header + recipe.to_toml())
    info = read_study_json(folder / STUDY_FILE)
    try:
        previous = read_study_json(folder / SUMMARY_FILE)
    except StudyError:  # rewritten whole below, from the storage; only the final run's note is lost
        previous = {}
    summary = StudySummary(
        study=study.study_name,
        folder=str(folder),
        storage=info.get("storage", ""),
        space=study.user_attrs.get("space", {}).get("name", ""),
        recipe=study.user_attrs.get("recipe", {}).get("name", ""),
        trials={name: sum(t.state.name == state for t in trials) for state, name in STATE_NAMES.items()},
        best=None
        if best is None
        else {
            "trial": best.number,
            "val_accuracy": best.value,
            "overrides": best.user_attrs.get("overrides", {}),
            "run": str(folder / TRIALS_DIR / best.user_attrs["run"]) if "run" in best.user_attrs else None,
        },
        best_recipe=str(best_path) if best_path else None,
        report=previous.get("report"),
        updated=datetime.now().isoformat(timespec="seconds"),
        final=previous.get("final"),
    )
    _files.write_json(folder / SUMMARY_FILE, summary.to_dict())
    return summary


def _trials_csv(trials) -> str:
    keys: list[str] = []
    for trial in trials:
        keys += [k for k in trial.user_attrs.get("overrides", {}) if k not in keys]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", "state", "val_accuracy", "epochs", "seconds", *keys, "run", "note"])
    for t in trials:
        overrides = t.user_attrs.get("overrides", {})
        value = t.value if t.value is not None else (t.intermediate_values.get(t.last_step) if t.last_step else None)
        note = t.user_attrs.get("failure") or t.user_attrs.get("reason") or t.user_attrs.get("error") or ""
        if not note and t.state.name == "FAIL":  # failed by another worker: its own died without a word
            note = LOST_WORKER
        writer.writerow([
            t.number, state_name(t.state), "" if value is None else f"{value:.4f}",
            t.user_attrs.get("epochs", len(t.intermediate_values) or ""), t.user_attrs.get("seconds", ""),
            *(json.dumps(overrides[k]) if isinstance(overrides.get(k), list) else overrides.get(k, "") for k in keys),
            t.user_attrs.get("run", ""), str(note).splitlines()[0] if note else "",
        ])  # fmt: skip
    return buffer.getvalue()


def read_study_json(path: Path) -> dict:
    """study.json or summary.json as a dict ({} when absent); a StudyError names a damaged one."""
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > 2**20:
            raise ValueError(_("larger than a study file can be"))
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(_("not a JSON object"))
        return data
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StudyError(
            _("{path} is damaged ({reason}). It is rewritten by `provador tune` with the same --study (which resumes "
              "the search), or move the study folder away.").format(path=path, reason=exc)
        ) from None  # fmt: skip


def load(
    name: str, studies_dir: str | Path = STUDIES_DIR, storage: Storage | str | None = None
) -> tuple[optuna.Study, Path]:
    """Open a study by name: its folder, and its storage.

    The storage is the embedded journal in the folder, or the PostgreSQL URL the caller gives.
    study.json records where the study lives, but a file never chooses where provador connects:
    a server it named would receive the user's password (PGPASSWORD, ~/.pgpass). It only has
    to agree with the URL given."""
    folder = Path(studies_dir).expanduser() / check_name(name)
    info_path = folder / STUDY_FILE
    storage = Storage.parse(storage)
    if not info_path.is_file() and storage.is_journal:
        known = ", ".join(sorted(p.name for p in Path(studies_dir).glob("*") if (p / STUDY_FILE).is_file()))
        raise StudyError(
            _("No study `{name}` in {folder}/ (expected {path}).").format(name=name, folder=studies_dir, path=info_path)
            + " " + (_("Studies there: {names}.").format(names=known) if known else _("Run `provador tune` to make one."))
        )  # fmt: skip
    recorded = read_study_json(info_path).get("storage")
    in_postgres = isinstance(recorded, str) and recorded != Storage().masked
    if storage.is_journal and in_postgres:
        raise StorageError(
            _("Study `{name}` lives in PostgreSQL ({storage}, says {path}). provador connects only to a server you "
              "name, never to one a file names: pass --storage with the database's URL.").format(
                name=name, storage=recorded, path=info_path)
        )  # fmt: skip
    if not storage.is_journal and in_postgres and not storage.same_database(recorded):
        raise StorageError(
            _("Study `{name}` lives in {recorded} (says {path}), not in {given}. Pass the URL of the database the study "
              "lives in, or --studies-dir for another folder.").format(
                name=name, recorded=recorded, path=info_path, given=storage.masked)
        )  # fmt: skip
    try:
        import optuna

        study = optuna.load_study(study_name=name, storage=storage.open(folder))
    except KeyError:
        raise StudyError(
            _("Study `{name}` is not in {storage}.").format(name=name, storage=_(storage.masked))
        ) from None
    return study, folder


# What draws a study's pictures and report.html (`provador.show.study_report.write`): (study, folder, summary) -> path.
DrawStudy = Callable[["optuna.Study", Path, "StudySummary"], Path]


def refresh(
    name: str,
    folder: Path | None = None,
    studies_dir: str | Path = STUDIES_DIR,
    storage: Storage | str | None = None,
    draw: DrawStudy | None = None,
):
    """Rewrite every result file of a study from its storage and return its summary; `draw`
    (`provador.show.study_report.write`, which `tune` and `studies show` hand it) adds the report."""
    folder = folder or Path(studies_dir).expanduser() / name
    study, folder = load(name, folder.parent, storage)
    summary = write_results(study, folder)
    if draw is not None:
        summary.report = str(draw(study, folder, summary))
        _files.write_json(folder / SUMMARY_FILE, summary.to_dict())
    return summary


def record_final(summary: StudySummary, run) -> StudySummary:
    """Note the retrained winner and its one test evaluation in summary.json."""
    metrics = run.run_metrics
    summary.final = {"run": str(run.path), "test_accuracy": metrics.test.accuracy if metrics and metrics.test else None}
    _files.write_json(Path(summary.folder) / SUMMARY_FILE, summary.to_dict())
    return summary


def list_studies(studies_dir: str | Path = STUDIES_DIR) -> list[dict]:
    """A row per study folder, from its summary.json (no storage is opened)."""
    root = Path(studies_dir).expanduser()
    if not root.is_dir():
        return []
    rows = []
    for folder in sorted(p for p in root.iterdir() if (p / STUDY_FILE).is_file()):
        files, damaged = {}, None
        for name in (STUDY_FILE, SUMMARY_FILE):
            try:
                files[name] = read_study_json(folder / name)
            except StudyError:  # one damaged folder is listed as such, not the end of the listing
                damaged = damaged or name
        if damaged:
            rows.append({"study": folder.name, "space": None, "recipe": None, "trials": {}, "best_val_accuracy": None,
                         "best_trial": None, "storage": None, "updated": "", "final_test_accuracy": None,
                         "broken": damaged})  # fmt: skip
            continue
        info, summary = files[STUDY_FILE], files[SUMMARY_FILE]
        best = summary.get("best") if isinstance(summary.get("best"), dict) else {}
        rows.append({
            "study": folder.name, "space": info.get("space"), "recipe": info.get("recipe"),
            "trials": summary.get("trials") if isinstance(summary.get("trials"), dict) else {},
            "best_val_accuracy": best.get("val_accuracy"), "best_trial": best.get("trial"),
            "storage": info.get("storage"), "updated": summary.get("updated", ""),
            "final_test_accuracy": (summary.get("final") or {}).get("test_accuracy"),
        })  # fmt: skip
    return rows


def format_summary(summary: StudySummary) -> str:
    counts = ", ".join(f"{n} {_(state)}" for state, n in summary.trials.items() if n) or _("no trials")
    lines = ["\n" + _("Study `{study}`: {counts}.").format(study=summary.study, counts=counts)]
    if not summary.best:
        lines.append(_("No trial has completed yet: give the search more time (--timeout) or more trials, "
                       "then run the same command again to resume it."))  # fmt: skip
    else:
        b = summary.best
        lines.append(_("Best: trial {trial}, validation accuracy {accuracy}").format(
            trial=b["trial"], accuracy=number(b["val_accuracy"])))  # fmt: skip
        lines += [f"  {key} = {json.dumps(value)}" for key, value in b["overrides"].items()]
        lines.append(_("Best recipe: {path}  (retrain and test once: provador train --recipe {path}, or tune --final)")
                     .format(path=summary.best_recipe))  # fmt: skip
    if summary.report:
        lines.append(_("Report: {path}").format(path=summary.report))
    return "\n".join(lines)


__all__ = ["StudySummary", "list_studies", "refresh", "load", "format_summary", "write_results"]
