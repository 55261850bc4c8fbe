"""A run directory: what one training run leaves behind, and how to read it back.

runs/<recipe>-<YYYYmmdd-HHMMSS>/
    run.json       status (a `Status`), classes, data source, the process that trains it
    recipe.toml    the resolved recipe
    history.csv    one row per finished epoch
    checkpoint.npz the state after the last whole epoch, for `train --resume` (removed once complete)
    model.keras    the trained model (written once training has finished)
    metrics.json   test metrics, timings, versions (written last: it marks a complete run)
    *.png, report.html  the report (`provador.show.report`), which `provador train` draws next

A search trial (studies/<name>/trials/) is a light run: validation figures only in
metrics.json, and model.keras only when the trial beat the study's best so far.

This module owns a run's life: `new_run` starts one, and `Run.reopen`, `complete`, `stop` and
`prune` are the only writers of its status; training and tuning hand them values.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provador.base import _files, _system
from provador.base.choices import RUNS_DIR, TEMPERATURE_RANGE
from provador.base.errors import ProvadorError, RunError, RunFileDamaged
from provador.base.i18n import N_, _
from provador.core.recipes import Recipe, load_recipe

RUN_FILE, RECIPE_FILE, HISTORY_FILE = "run.json", "recipe.toml", "history.csv"
MODEL_FILE, METRICS_FILE, CURVES_FILE = "model.keras", "metrics.json", "curves.png"
CHECKPOINT_FILE = "checkpoint.npz"  # the training's state after its last whole epoch; gone once complete
PICTURES = ("curves", "samples", "confusion", "errors", "why", "first-layer")  # <name>.png in a finished run
REPORT_FILE = "report.html"
EXPORT_DIR, ONNX_FILE = "export", "model.onnx"  # `provador export` writes here; `--engine onnx` reads it


class Status(StrEnum):
    """A run's state in run.json (a StrEnum: it is written and compared as its text)."""

    RUNNING = N_("running")
    COMPLETED = N_("completed")
    FAILED = N_("failed")
    INTERRUPTED = N_("interrupted")  # Ctrl-C, or its process is gone (see `Run.status`)
    PRUNED = N_("pruned")  # a search trial stopped early by its pruner
    UNKNOWN = N_("unknown")


# What `provador runs` says of a folder that is not a whole run (its --json `status` too).
NOT_A_RUN, BROKEN = N_("not a run"), N_("broken")
MODEL_NOT_KEPT = N_("completed (model not kept)")
BROKEN_FILE = N_("broken ({file} damaged)")
BROKEN_NO_MODEL = N_("broken (model.keras missing)")


def picture_path(run: Run, name: str) -> Path:
    """Where a run keeps one of its PICTURES."""
    return run.path / f"{name}.png"


class _RunFile(BaseModel):
    """What a run file must hold where it holds it; fields a newer provador added may be missing
    from an older run, and fields this one does not know are kept."""

    model_config = ConfigDict(extra="allow")


class RunInfo(_RunFile):
    """run.json"""

    status: str = Status.UNKNOWN  # text, not the enum: a newer provador may write a status this one lacks
    recipe: str = ""
    model: str = ""
    created: str = ""
    classes: list[str] = []
    data: dict[str, Any] = {}
    error: str | None = None
    model_kept: bool | None = None
    resumed: int | None = None  # how many times `train --resume` continued it
    pid: int | None = None  # the training process, to tell a dead `running` run from a live one
    host: str | None = None
    pid_started: str | None = None  # its start time: a PID handed to a new process is not this run
    parent: str | None = None  # an adapted run: the run whose weights it started from
    photos: dict[str, Any] | None = None  # an adapted run: the photos it learned (folders, hash, per class)


class ClassMetrics(_RunFile):
    precision: float
    recall: float
    f1: float
    support: int


class ConfusedPair(_RunFile):
    classes: list[str]
    errors: int


class TestMetrics(_RunFile):
    accuracy: float | None = None
    loss: float | None = None
    images: int | None = None
    macro_f1: float | None = None
    per_class: dict[str, ClassMetrics] | None = None
    most_confused: list[ConfusedPair] | None = None


class Calibration(_RunFile):
    # Every reader (Predictor, export, serve, evaluate) takes the temperature from here: at 0 or NaN
    # the answers are NaN, below 0 inverted. provador only ever fits one in TEMPERATURE_RANGE.
    temperature: float = Field(1.0, ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1], allow_inf_nan=False)


class Metrics(_RunFile):
    """metrics.json"""

    recipe: str | None = None
    model: str | None = None
    parameters: int | None = None
    seed: int | None = None
    epochs: int | None = None
    test: TestMetrics | None = None
    calibration: Calibration | None = None
    best_val_accuracy: float | None = None
    training_seconds: float | None = None
    seconds_per_epoch: float | None = None
    backend: str | None = None
    versions: dict[str, str] = {}


def _read_run_file(path: Path, schema: type[_RunFile]) -> _RunFile:
    """A run file's content, checked against its schema, or a RunError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return schema.model_validate(data)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or _("the top level")
            reason = f"{where}: {first['msg']}"
        else:
            reason = str(exc) or type(exc).__name__
        raise RunFileDamaged(
            _("{path} is damaged ({reason}). Expected the JSON that `provador train` writes; train the run again "
              "(`provador train --resume` continues an unfinished one) or move the folder away.").format(
                path=path, reason=reason), path.name
        ) from None  # fmt: skip


# What a model.keras archive may hold once unpacked: Keras' config and metadata are a few KB; the
# weights of the largest zoo model a few MB. Reading stops at an entry's declared size, so checking
# the declared sizes bounds what loading can unpack (a "zip bomb" is refused before any of it).
_MODEL_ENTRY_LIMITS = {"config.json": 16 * 2**20, "metadata.json": 2**20, "model.weights.h5": 2 * 2**30}
_MODEL_ENTRY_TOTAL = 2 * 2**30 + 17 * 2**20


def _check_model_archive(path: Path) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            entries = {entry.filename: entry.file_size for entry in archive.infolist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise RunError(
            _("Cannot load {path}: it is not a Keras model file ({reason}). Train the run again.").format(
                path=path, reason=exc)
        ) from None  # fmt: skip
    missing = [name for name in ("config.json", "model.weights.h5") if name not in entries]
    too_big = [name for name, size in entries.items() if size > _MODEL_ENTRY_LIMITS.get(name, 2**20)]
    if missing or too_big or sum(entries.values()) > _MODEL_ENTRY_TOTAL:
        reason = (
            _("{names} missing").format(names=", ".join(missing))
            if missing
            else _("{names} would unpack to more than a model file holds").format(names=", ".join(too_big) or path.name)
        )
        raise RunError(
            _("Cannot load {path}: {reason}. Expected a model saved by `provador train`; train the run again.").format(
                path=path, reason=reason)
        )  # fmt: skip


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
        """run.json as a dict (what it holds, checked); `run_info` is the typed view."""
        return self.run_info.model_dump(exclude_unset=True)

    @property
    def run_info(self) -> RunInfo:
        return _read_run_file(self.path / RUN_FILE, RunInfo)

    @property
    def status(self) -> Status | str:
        """run.json's status, except that a `running` run whose process on this machine is gone
        (killed, the laptop's power cut) is `interrupted`. A status this provador does not know
        (written by a newer one) is returned as its text."""
        info = self.run_info
        if (info.status == Status.RUNNING and info.pid and _system.on_this_host(info.host)
                and not _system.alive(info.pid, info.pid_started)):  # fmt: skip
            return Status.INTERRUPTED
        return Status(info.status) if info.status in Status._value2member_map_ else info.status

    @property
    def recipe(self) -> Recipe:
        """The run's resolved recipe. Every key is written out there, so a file without its
        [model] architecture (empty, cut short) is damaged, not a default recipe."""
        path = self.path / RECIPE_FILE
        recipe = load_recipe(path)
        if "architecture" not in path.read_text(encoding="utf-8"):
            raise RunFileDamaged(
                _("{path} is damaged (its [model] table is missing). Expected the resolved recipe that "
                  "`provador train` writes; train the run again.").format(path=path), path.name
            )  # fmt: skip
        return recipe

    @property
    def class_names(self) -> list[str]:
        return self.run_info.classes

    @property
    def metrics(self) -> dict:
        metrics = self.run_metrics
        return metrics.model_dump(exclude_unset=True) if metrics else {}

    @property
    def run_metrics(self) -> Metrics | None:
        """metrics.json, typed; None before training has finished. A field an older provador did
        not write is None."""
        path = self.path / METRICS_FILE
        return _read_run_file(path, Metrics) if path.is_file() else None

    def history(self) -> dict[str, list[float]]:
        path = self.path / HISTORY_FILE
        if not path.is_file():
            return {}
        try:
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {}) if key != "epoch"}
        except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
            raise RunFileDamaged(
                _("{path} is damaged ({reason}): expected one row of numbers per epoch. Train the run again.").format(
                    path=path, reason=exc), path.name
            ) from None  # fmt: skip

    @property
    def model_path(self) -> Path:
        path = self.path / MODEL_FILE
        if not path.is_file():
            status = self.status
            why = {
                Status.COMPLETED: _("it is a search trial that did not beat the best before it, so its model was not "
                               "kept; retrain it with `provador train --recipe {recipe}`").format(
                    recipe=self.path / RECIPE_FILE)
                if self.run_info.model_kept is False
                else _("the file is missing"),
                Status.RUNNING: _("it is still training (or its process was killed)"),
                Status.INTERRUPTED: _("training was interrupted before it finished"),
                Status.FAILED: _("training failed: {error}").format(error=self.run_info.error or "see run.json"),
            }.get(status, _("the file is missing"))  # fmt: skip
            if status != Status.COMPLETED and (self.path / CHECKPOINT_FILE).is_file():
                fix = _("Continue it from its last whole epoch with `provador train --resume {path}`.")
            else:
                fix = _("Train it again with `provador train`.")
            raise RunError(
                _("Run {path} has no {model_file}: {why}.").format(path=self.path, model_file=MODEL_FILE, why=why)
                + " " + fix.format(path=self.path)
            )  # fmt: skip
        return path

    def model_digest(self) -> str:
        """SHA-256 of model.keras: what identifies this model (the server's model id; every export
        records it, and `--engine onnx` serves only an export whose record matches)."""
        import hashlib

        with self.model_path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def load_model(self):
        """The trained model, for inference (not compiled: provador computes its own metrics).

        Loaded in Keras' safe mode (no code in the file runs), after its archive is checked, and
        checked against run.json's classes: a file from elsewhere gets an error, not a traceback."""
        from provador.base._keras import keras
        from provador.core.models import custom_objects, prepare_backend_for

        path = self.model_path
        _check_model_archive(path)
        with contextlib.suppress(ProvadorError):  # an unknown architecture: load_model says what is wrong
            prepare_backend_for(self.recipe.model.architecture)
        try:
            model = keras.saving.load_model(path, custom_objects=custom_objects(), compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, TypeError, KeyError… for files it cannot use
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "safe_mode" in str(exc) or "Lambda" in str(exc):
                reason = _("it holds code (a Lambda layer), which provador never runs")
            raise RunError(
                _("Cannot load {path}: {reason}. Expected a model saved by `provador train`; train the run "
                  "again.").format(path=path, reason=reason)
            ) from None  # fmt: skip
        classes = len(self.class_names)
        outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
        if outputs != classes:
            raise RunError(
                _("{path} answers with {outputs} values, but run.json lists {classes} classes: the model is not "
                  "this run's. Train the run again.").format(path=path, outputs=outputs, classes=classes)
            )  # fmt: skip
        return model

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
            path = picture_path(self, name)
            if not path.is_file():
                raise RunError(
                    _("Run {run} has no {file}: `provador report {run}` draws the pictures.").format(
                        run=self.path, file=path.name
                    )
                )
            display(Image(data=path.read_bytes(), format="png"))

    def update_info(self, **fields) -> None:
        """Add or change fields of run.json (not its status: see the life-cycle methods below)."""
        info = self.info
        info.update(fields)
        _files.write_json(self.path / RUN_FILE, info)

    # --- the life cycle: the only writers of run.json's status ------------------------------

    def reopen(self) -> None:
        """Mark an unfinished run as running again, in this process (`train --resume`)."""
        self.update_info(status=Status.RUNNING, **_system.identity(), error=None,
                         resumed=(self.run_info.resumed or 0) + 1)  # fmt: skip

    def restore(self, status: Status | str) -> None:
        """Put back the status a run had before `reopen`, when resuming it was refused."""
        self.update_info(status=status)

    def complete(self, metrics: dict, **fields) -> None:
        """Write metrics.json, then mark the run complete (with `fields`, e.g. `model_kept`)."""
        _files.write_json(self.path / METRICS_FILE, {"status": Status.COMPLETED, **metrics})
        self.update_info(status=Status.COMPLETED, ended_unix=time.time(), **fields)

    def stop(self, exc: BaseException) -> None:
        """Mark the run interrupted (Ctrl-C) or failed (anything else, with its message)."""
        if isinstance(exc, KeyboardInterrupt):
            self.update_info(status=Status.INTERRUPTED, ended_unix=time.time())
        else:
            self.update_info(status=Status.FAILED, error=str(exc) or type(exc).__name__, ended_unix=time.time())

    def prune(self, reason: str) -> None:
        """Mark a search trial stopped early by its pruner."""
        self.update_info(status=Status.PRUNED, reason=reason, ended_unix=time.time())


def new_run(runs_dir: str | Path, recipe: Recipe, class_names, source: dict, extra: dict | None = None) -> Run:
    """Create `runs_dir/<recipe>-<time>/` with its run.json (plus `extra` keys) and recipe.toml."""
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
            "status": Status.RUNNING,
            "recipe": recipe.name,
            "model": recipe.model.architecture,
            "created": datetime.now().isoformat(timespec="seconds"),
            "started_unix": time.time(),
            **_system.identity(),
            "classes": list(class_names),
            "data": source,
            **(extra or {}),
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
    except RunError:
        row["status"] = NOT_A_RUN
        return row
    try:
        info, metrics, history, status = run.run_info, run.run_metrics or Metrics(), run.history(), run.status
    except RunFileDamaged as exc:
        return {**row, "status": BROKEN_FILE.format(file=exc.file), "damaged": exc.file, "problem": str(exc)}
    except ProvadorError as exc:
        return {**row, "status": BROKEN, "problem": str(exc)}
    try:
        run.recipe  # noqa: B018 (read, so that a damaged recipe.toml shows here rather than later)
    except ProvadorError as exc:
        return {**row, "status": BROKEN_FILE.format(file=RECIPE_FILE), "damaged": RECIPE_FILE, "problem": str(exc)}
    row.update(
        recipe=info.recipe,
        model=info.model,
        created=info.created,
        status=status,
        epochs=metrics.epochs or len(history.get("loss", [])) or None,
        val_accuracy=metrics.best_val_accuracy or max(history.get("val_accuracy", [0])) or None,
        test_accuracy=metrics.test.accuracy if metrics.test else None,
        training_seconds=metrics.training_seconds,
    )
    if status == Status.COMPLETED and not (path / MODEL_FILE).is_file():
        # A search keeps the model of a trial only when it beat the best so far.
        row["status"] = MODEL_NOT_KEPT if info.model_kept is False else BROKEN_NO_MODEL
    return row


def status_text(row: dict) -> str:
    """A `summarize` row's status in the reader's language (the row's own `status` stays English)."""
    if row.get("damaged"):
        return _(BROKEN_FILE).format(file=row["damaged"])
    status = row["status"]
    return _(status) if status in {*Status, NOT_A_RUN, BROKEN, MODEL_NOT_KEPT, BROKEN_NO_MODEL} else status


def list_runs(runs_dir: str | Path = RUNS_DIR) -> list[dict]:
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
