"""Compare runs: learning curves on one plot, key metrics side by side."""

from __future__ import annotations

from pathlib import Path

from provador.base.errors import RunError
from provador.base.i18n import _
from provador.records import runs
from provador.show import plots


def compare_runs(paths: list[str | Path], output: str | Path = "compare.png") -> dict:
    """Overlay the runs' curves in `output` and return their metrics, one column per run."""
    opened = [runs.resolve_run(p) for p in paths]
    if len(opened) < 2:
        raise RunError(_("Expected at least two runs to compare. Received: {count}").format(count=len(opened)))
    histories = {run.name: run.history() for run in opened}
    if not any(histories.values()):
        raise RunError(_("None of these runs has a history.csv yet: nothing to plot."))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    plots.compare_curves(histories, output)
    columns = []
    for run in opened:
        metrics, recipe = run.run_metrics or runs.Metrics(), run.recipe
        test = metrics.test or runs.TestMetrics()
        columns.append({
            "run": run.name,
            "status": run.status,
            "recipe": recipe.name,
            "model": recipe.model.architecture,
            "optimizer": f"{recipe.training.optimizer} {recipe.training.learning_rate:g}",
            "batch_size": recipe.training.batch_size,
            "epochs": metrics.epochs,
            "parameters": metrics.parameters,
            "best_val_accuracy": metrics.best_val_accuracy,
            "test_accuracy": test.accuracy,
            "test_loss": test.loss,
            "training_seconds": metrics.training_seconds,
            "corrupted_accuracy": (run.metrics.get("robustness") or {}).get("mean"),  # evaluate --corruptions
            "backend": metrics.backend,
        })  # fmt: skip
    return {"plot": str(output), "runs": columns}


def format_comparison(result: dict) -> str:
    columns = result["runs"]
    keys = [k for k in columns[0] if k != "run"]
    width = max(len(c["run"]) for c in columns) + 2

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "-" if value is None else str(value)

    lines = [f"{'':<18}" + "".join(f"{c['run']:>{width}}" for c in columns)]
    lines += [f"{key:<18}" + "".join(f"{cell(c[key]):>{width}}" for c in columns) for key in keys]
    lines.append("\n" + _("Curves: {path}").format(path=result["plot"]))
    return "\n".join(lines)
