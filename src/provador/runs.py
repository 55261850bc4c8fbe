"""A run directory: what one training run leaves behind, and how to read it back.

runs/<recipe>-<YYYYmmdd-HHMMSS>/
    run.json       status (running, completed, failed, interrupted), classes, data source
    recipe.toml    the resolved recipe
    history.csv    one row per finished epoch
    model.keras    the trained model (written once training has finished)
    curves.png     the notebook's learning-curve plot
    metrics.json   test metrics, timings, versions (written last: it marks a complete run)

A search trial (studies/<name>/trials/) is a light run: validation figures only in
metrics.json, and model.keras only when the trial beat the study's best so far.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from datetime import datetime
from pathlib import Path

from provador import _files
from provador.errors import ProvadorError, RunError
from provador.i18n import _
from provador.recipes import Recipe, load_recipe

RUN_FILE, RECIPE_FILE, HISTORY_FILE = "run.json", "recipe.toml", "history.csv"
MODEL_FILE, METRICS_FILE, CURVES_FILE = "model.keras", "metrics.json", "curves.png"
PICTURES = ("curves", "samples", "confusion", "errors", "first-layer")  # <name>.png in a finished run


class Run:
    """An existing run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if self.path.is_symlink():  # runs/latest
            self.path = self.path.resolve()
        if not self.path.is_dir():
            raise RunError(
                _(
                    "Run directory {path} does not exist. Expected the path of a folder written by `provador train` "
                    "(e.g. runs/seed-20260101-120000); `ls runs/` lists yours."
                ).format(path=self.path)
            )
        if not (self.path / RUN_FILE).is_file() or not (self.path / RECIPE_FILE).is_file():
            raise RunError(
                _(
                    "{path} is not a provador run: expected {run_file} and {recipe_file} in it. Pass a folder written "
                    "by `provador train`."
                ).format(path=self.path, run_file=RUN_FILE, recipe_file=RECIPE_FILE)
            )

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def info(self) -> dict:
        return json.loads((self.path / RUN_FILE).read_text())

    @property
    def status(self) -> str:
        return self.info.get("status", "unknown")

    @property
    def recipe(self) -> Recipe:
        return load_recipe(self.path / RECIPE_FILE)

    @property
    def class_names(self) -> list[str]:
        return self.info["classes"]

    @property
    def metrics(self) -> dict:
        path = self.path / METRICS_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def history(self) -> dict[str, list[float]]:
        path = self.path / HISTORY_FILE
        if not path.is_file():
            return {}
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {}) if key != "epoch"}

    @property
    def model_path(self) -> Path:
        path = self.path / MODEL_FILE
        if not path.is_file():
            status = self.status
            why = {
                "completed": _("it is a search trial that did not beat the best before it, so its model was not "
                               "kept; retrain it with `provador train --recipe {recipe}`").format(
                    recipe=self.path / RECIPE_FILE)
                if self.info.get("model_kept") is False
                else _("the file is missing"),
                "running": _("it is still training (or its process was killed)"),
                "interrupted": _("training was interrupted before it finished"),
                "failed": _("training failed: {error}").format(error=self.info.get("error", "see run.json")),
            }.get(status, _("the file is missing"))  # fmt: skip
            raise RunError(
                _("Run {path} has no {model_file}: {why}. Train it again with `provador train`.").format(
                    path=self.path, model_file=MODEL_FILE, why=why
                )
            )
        return path

    def load_model(self):
        """The trained model, for inference (not compiled: provador computes its own metrics)."""
        from provador._keras import keras
        from provador.models import custom_objects, prepare_backend_for

        with contextlib.suppress(ProvadorError):  # an unknown architecture: load_model says what is wrong
            prepare_backend_for(self.recipe.model.architecture)
        try:
            return keras.saving.load_model(
                self.model_path, custom_objects=custom_objects(), compile=False, safe_mode=True
            )
        except (ValueError, OSError) as exc:
            raise RunError(
                _("Cannot load {path}: {reason}. Train the run again.").format(path=self.model_path, reason=exc)
            ) from None

    def _repr_png_(self) -> bytes | None:
        """In Jupyter, a run at the end of a cell shows its learning curves."""
        path = self.path / CURVES_FILE
        return path.read_bytes() if path.is_file() else None

    def show(self, *pictures: str) -> None:
        """Show the run's pictures in a notebook: by default the learning curves, the first test
        images with their probabilities, and the confusion matrix (names: PICTURES)."""
        unknown = [name for name in pictures if name not in PICTURES]
        if unknown:
            raise RunError(
                _("Unknown picture {name!r}: expected one of {names}.").format(
                    name=unknown[0], names=", ".join(PICTURES)
                )
            )
        try:
            from IPython.display import Image, display
        except ImportError:
            raise RunError(
                _(
                    "Run.show() displays pictures in a Jupyter notebook; outside one, open the PNG files in {path}."
                ).format(path=self.path)
            ) from None
        for name in pictures or ("curves", "samples", "confusion"):
            path = self.path / f"{name}.png"
            if not path.is_file():
                raise RunError(
                    _("Run {run} has no {file}: `provador report {run}` draws the pictures.").format(
                        run=self.path, file=path.name
                    )
                )
            display(Image(data=path.read_bytes(), format="png"))

    def update_info(self, **fields) -> None:
        info = self.info
        info.update(fields)
        _files.write_json(self.path / RUN_FILE, info)


def new_run(runs_dir: str | Path, recipe: Recipe, class_names, source: dict) -> Run:
    """Create `runs_dir/<recipe>-<time>/` with its run.json and recipe.toml."""
    runs_dir = Path(runs_dir).expanduser()
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{recipe.name}-{stamp}"
    for n in range(1, 1000):
        path = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    _files.write_text(path / RECIPE_FILE, recipe.to_toml())
    _files.write_json(
        path / RUN_FILE,
        {
            "status": "running",
            "recipe": recipe.name,
            "model": recipe.model.architecture,
            "created": datetime.now().isoformat(timespec="seconds"),
            "started_unix": time.time(),
            "classes": list(class_names),
            "data": source,
        },
    )
    return Run(path)


def mark_latest(run: Run) -> None:
    """Point `<runs_dir>/latest` at this run, so `provador evaluate runs/latest` works."""
    link = run.path.parent / "latest"
    tmp = run.path.parent / f".latest.{run.path.name}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.path.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:  # no symlinks on this file system: a convenience, not a need
        tmp.unlink(missing_ok=True)


def resolve_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else Run(run)


def summarize(path: Path) -> dict:
    """One row of `provador runs`; a broken folder gets a status instead of an error."""
    row = {"run": path.name, "path": str(path), "recipe": "", "model": "", "epochs": None,
           "val_accuracy": None, "test_accuracy": None, "training_seconds": None, "created": "", "status": ""}  # fmt: skip
    try:
        run = Run(path)
        info, metrics = run.info, run.metrics
    except (RunError, ValueError, OSError) as exc:
        row["status"] = "not a run" if isinstance(exc, RunError) else "broken (unreadable run.json)"
        return row
    history = run.history()
    row.update(
        recipe=info.get("recipe", ""),
        model=info.get("model", ""),
        created=info.get("created", ""),
        status=info.get("status", "unknown"),
        epochs=metrics.get("epochs", len(history.get("loss", [])) or None),
        val_accuracy=metrics.get("best_val_accuracy") or max(history.get("val_accuracy", [0])) or None,
        test_accuracy=metrics.get("test", {}).get("accuracy"),
        training_seconds=metrics.get("training_seconds"),
    )
    if row["status"] == "completed" and not (path / MODEL_FILE).is_file():
        # A search keeps the model of a trial only when it beat the best so far.
        row["status"] = (
            "completed (model not kept)" if info.get("model_kept") is False else "broken (model.keras missing)"
        )
    return row


def list_runs(runs_dir: str | Path = "runs") -> list[dict]:
    """Every folder in `runs_dir`, oldest first (the `latest` link is skipped)."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        raise RunError(
            _("No runs directory at {folder}. Train something first (`provador train`) or pass --runs-dir.").format(
                folder=runs_dir
            )
        )
    rows = [
        summarize(p) for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    ]
    return sorted(rows, key=lambda r: (r["created"] or "9999", r["run"]))
