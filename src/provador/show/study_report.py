"""A study's pictures (history, importance, slices) and report.html, drawn from its storage."""

from __future__ import annotations

import csv
import html
import json
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from provador.base import _files
from provador.base.i18n import _, number
from provador.records.studies import PICTURES, REPORT_FILE, TRIALS_FILE, StudySummary, state_name
from provador.show import plots, report, text


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
    """report.html: the best trial, its recipe, the pictures and every trial, in one file."""
    e = html.escape
    counts = ", ".join(f"{n} {_(state)}" for state, n in summary.trials.items() if n)
    parts = [
        "<h1>" + _("provador study {name}").format(name=f"<code>{e(summary.study)}</code>") + "</h1>",
        "<p class=lead>" + _("Space {space} on recipe {recipe}; trials: {counts}; storage: {storage}.").format(
            space=f"<b>{e(summary.space)}</b>", recipe=f"<b>{e(summary.recipe)}</b>", counts=e(counts),
            storage=e(_(summary.storage)),
        ) + "</p>",
    ]  # fmt: skip
    if summary.best:
        b = summary.best
        parts.append("<p class=headline>" + _(
            "Best: trial {trial}, validation accuracy {accuracy}. The test set was not loaded during the search: "
            "retrain the winner and test it once with {command}."
        ).format(
            trial=b["trial"], accuracy=f"<b>{number(b['val_accuracy'])}</b>",
            command=f"<code>provador train --recipe {e(str(summary.best_recipe))}</code>",
        ) + "</p>")  # fmt: skip
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(json.dumps(v))}</td></tr>" for k, v in b["overrides"].items())
        key, value = e(_("key")), e(_("value"))
        head = f"<tr><th>{key}</th><th>{value}</th></tr>"
        parts.append(report.section(_("Best parameters"), f"<table>{head}{rows}</table>"))
        parts.append(report.section("best.toml", f"<pre>{e(Path(summary.best_recipe).read_text())}</pre>"))
    for name, alt in PICTURES.items():
        parts.append(report.section(_(alt), report.embedded_png(folder / name, _(alt))))
    parts.append(report.section(_("Trials"), _trials_table(folder / TRIALS_FILE),
                                _("Sorted by validation accuracy; pruned trials show their last report.")))  # fmt: skip
    space_text = study.user_attrs.get("space_text", "")
    if space_text:
        parts.append(report.section(_("Search space"), f"<pre>{e(space_text)}</pre>"))
    page = report.html_page(_("provador · study {name}").format(name=summary.study), "\n".join(parts))
    return _files.write_text(folder / REPORT_FILE, page)


def _trials_table(path: Path) -> str:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    body.sort(key=lambda r: -(float(r[2]) if r[2] else -1.0))
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + f"</tr>{cells}</table>"
    return f'<div style="overflow-x:auto">{table}</div>'  # many parameters: the table scrolls, the page does not


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
