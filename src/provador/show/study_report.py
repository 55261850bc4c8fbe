"""A study's pictures (history, importance, slices) and report.html, drawn from its storage."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from provador.base import _files
from provador.base.i18n import _
from provador.records.studies import PICTURES, REPORT_FILE, TRIALS_FILE, StudySummary, state_name
from provador.show import pages, plots, text


def write(study: optuna.Study, folder: Path, summary: StudySummary) -> Path:
    """Draw the study's pictures and write its report.html (`studies.refresh(draw=write)`)."""
    draw_pictures(study, folder)
    return write_report(study, folder, summary)


def draw_pictures(study: optuna.Study, folder: Path) -> list[Path]:
    """history.png, importance.png (from three complete trials on) and slices.png."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    points = []
    for t in trials:
        value = t.value if t.state == TrialState.COMPLETE else t.intermediate_values.get(t.last_step)
        if value is not None:
            points.append((t.number, value, state_name(t.state)))
    drawn = []
    if points:
        drawn.append(plots.search_history(points, folder / "history.png"))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(complete) >= 3:
        try:
            with warnings.catch_warnings():  # "few trials in some regimes": the picture says it with its bars
                warnings.simplefilter("ignore", UserWarning)
                values = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError):  # e.g. no parameter shared by every trial
            values = {}
        if values:
            drawn.append(plots.importances(values, folder / "importance.png"))
    if complete:
        params: dict[str, list] = {}
        log_scale = set()
        for t in complete:
            for name, value in t.params.items():
                params.setdefault(name, []).append((value, t.value, t.number))
                if getattr(t.distributions[name], "log", False):
                    log_scale.add(name)
        drawn.append(plots.search_slices(params, log_scale, folder / "slices.png"))
    return drawn


def write_report(study: optuna.Study, folder: Path, summary: StudySummary) -> Path:
    """report.html: the best trial, its recipe, the pictures and every trial, in one file
    (templates/study.html)."""
    with (folder / TRIALS_FILE).open(newline="") as f:
        rows = list(csv.reader(f))
    trials_head, trials_rows = rows[0], rows[1:]
    trials_rows.sort(key=lambda r: -(float(r[2]) if r[2] else -1.0))
    best = summary.best
    page = pages.render(
        "study.html",
        summary=summary,
        counts=", ".join(f"{n} {_(state)}" for state, n in summary.trials.items() if n),
        storage=_(summary.storage),  # data ("embedded journal file"), translated here
        best_rows=[(key, json.dumps(value)) for key, value in best["overrides"].items()] if best else [],
        best_toml=Path(summary.best_recipe).read_text() if best else "",
        pictures=[
            {"title": _(alt), "image": pages.embedded_png(folder / name, _(alt))} for name, alt in PICTURES.items()
        ],
        trials_head=trials_head,
        trials_rows=trials_rows,  # many parameters: the table scrolls, the page does not
        space_text=study.user_attrs.get("space_text", ""),
    )
    return _files.write_text(folder / REPORT_FILE, page)


def trials_text(folder: Path) -> str:
    """trials.csv as aligned text, in trial order (`provador studies show`)."""
    with (folder / TRIALS_FILE).open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return text.columns_of(header, [[_table_cell(name, cell) for name, cell in zip(header, row)] for row in body])


def _table_cell(column: str, cell: str) -> str:
    """A trials.csv cell made short for a terminal: numbers to 4 significant digits, notes cut;
    run names stay whole (they are what `provador runs` and `report` take)."""
    if column == "note":
        return cell if len(cell) <= 40 else cell[:39] + "…"
    if not cell or cell.lstrip("-").isdigit():
        return cell
    try:
        return f"{float(cell):.4g}"
    except ValueError:
        return cell
