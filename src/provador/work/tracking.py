"""Experiment tracking: a run's recipe, curves, test figures and files also sent to MLflow, or
written as TensorBoard event files, for people who already look at their runs there.

The run folder stays the source of truth. A tracker that fails (a server down, a disk full) is
reported once on stderr and dropped for the rest of the run: the training goes on and completes,
and `provador track RUN` sends the finished run again. Which MLflow run a provador run is logged
as is kept in the run folder (tracking.json), so a resumed run goes on logging into the same one.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from provador.base import _files
from provador.base._install import pip_install
from provador.base._keras import backend_name, keras
from provador.base.choices import TRACKERS
from provador.base.errors import ProvadorError
from provador.base.i18n import _
from provador.records import runs
from provador.records.storage import JOURNAL_FILE  # a study's own database, not one of its results

TRACKING_FILE = "tracking.json"  # in a run (or study) folder: the MLflow run it is logged as
TENSORBOARD_DIR = "tensorboard"  # in a run folder: train/ and validation/ event files, as Keras' callback lays them out
DEFAULT_EXPERIMENT = "provador"
_EXTRA = {"mlflow": ("mlflow", "mlflow"), "tensorboard": ("tensorboardX", "tensorboard")}  # module, extra
# Files of a run folder that are not sent as MLflow artifacts: the resume state and the tracking itself.
_NOT_ARTIFACTS = {runs.CHECKPOINT_FILE, TRACKING_FILE}
_PARAM_LIMIT = 6000  # characters MLflow keeps of a parameter's value


@dataclass(frozen=True)
class Tracking:
    """Where runs are tracked: `to` is some of TRACKERS (picklable: a search's workers get it)."""

    to: tuple[str, ...] = ()
    mlflow_uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else MLflow's own default
    experiment: str = DEFAULT_EXPERIMENT
    parent: str | None = None  # the MLflow run these runs nest under (a search's)

    @classmethod
    def parse(cls, track=None, uri: str | None = None, experiment: str | None = None) -> Tracking:
        """From `--track` (names, comma-separated or repeated; "none" for none). Without it,
        MLflow is tracked when $MLFLOW_TRACKING_URI is set, as MLflow's own tools do."""
        if isinstance(track, Tracking):
            return track
        if track is None:
            names = ["mlflow"] if (uri or os.environ.get("MLFLOW_TRACKING_URI")) else []
        else:
            items = [track] if isinstance(track, str) else list(track)
            names = [name.strip() for item in items for name in str(item).split(",") if name.strip()]
            names = [] if names == ["none"] else names
        unknown = [name for name in names if name not in TRACKERS]
        if unknown:
            raise ProvadorError(
                _("Expected --track to be one of {choices} (or none). Received: {value!r}").format(
                    choices=", ".join(TRACKERS), value=unknown[0])
            )  # fmt: skip
        for name in names:
            module, extra = _EXTRA[name]
            if importlib.util.find_spec(module) is None:
                raise ProvadorError(
                    _("--track {name} needs the {module} package, which is not installed: {command}").format(
                        name=name, module=module, command=pip_install(extra))
                )  # fmt: skip
        experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        return cls(tuple(dict.fromkeys(names)), uri, experiment)

    def __bool__(self) -> bool:
        return bool(self.to)

    def nested_in(self, parent: str | None) -> Tracking:
        return replace(self, parent=parent)

    def only(self, *tools: str) -> Tracking:
        return replace(self, to=tuple(tool for tool in self.to if tool in tools))


# --- the trackers --------------------------------------------------------------------------------


class _MlflowSink:
    """One provador run as one MLflow run: the recipe as parameters, each epoch's metrics as steps,
    the test figures at the end, the folder's files as artifacts."""

    tool = "MLflow"

    def __init__(self, tracking: Tracking, folder: Path, name: str, tags: dict[str, str]):
        # A server that is down should cost seconds, not MLflow's default of minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        # provador says where the run is when it starts (and not at all with --quiet, whose output is a path).
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        import mlflow
        from mlflow import MlflowClient

        self.uri = tracking.mlflow_uri or mlflow.get_tracking_uri()
        self.client = MlflowClient(tracking_uri=self.uri)
        record = _read_record(folder).get("mlflow", {})
        logged = self._still_there(record["run_id"]) if record.get("uri") == self.uri and record.get("run_id") else None
        if logged is not None:  # a resumed run goes on in the MLflow run it started
            self.client.update_run(logged.info.run_id, status="RUNNING")
        else:
            experiment = self._experiment(tracking.experiment)
            if tracking.parent:
                tags = {**tags, "mlflow.parentRunId": tracking.parent}
            logged = self.client.create_run(experiment, run_name=name, tags=tags)
        self.run_id, self.experiment_id = logged.info.run_id, logged.info.experiment_id
        _write_record(folder, "mlflow", {"uri": self.uri, "run_id": self.run_id, "experiment": tracking.experiment})

    def _still_there(self, run_id: str):
        """The MLflow run, unless it was deleted (then the run is logged afresh)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_run(run_id)
        except MlflowException:
            return None
        return found if found.info.lifecycle_stage == "active" else None

    def _experiment(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # another worker made it a moment ago
            return self.client.get_experiment_by_name(name).experiment_id

    def where(self) -> str:
        if self.uri.startswith(("http://", "https://")):  # the run's page in MLflow's UI
            return _("MLflow run {url}").format(
                url=f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
            )
        return _("MLflow run {run_id} in {uri}").format(run_id=self.run_id, uri=self.uri)

    def parameters(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(key, value[:_PARAM_LIMIT]) for key, value in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 parameters a request
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items() if math.isfinite(value)]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def summary(self, step: int, values: dict[str, float]) -> None:
        self.scalars(step, values)

    def finish(self, files: list[Path], status: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        if tags:
            self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, status=status)


class _TensorBoardSink:
    """Event files in the run folder (`tensorboard --logdir runs` finds them): train/ and
    validation/ with the same tags, as Keras' own TensorBoard callback writes, so the two curves
    share a chart. tensorboardX writes them without TensorFlow."""

    tool = "TensorBoard"

    def __init__(self, tracking: Tracking, folder: Path, name: str, tags: dict[str, str]):
        self.folder = folder / TENSORBOARD_DIR
        self.writers: dict[str, object] = {}
        self.recipe_text = ""

    def _writer(self, part: str, first_step: int):
        if part not in self.writers:
            from tensorboardX import SummaryWriter

            # purge_step: what was logged from this step on is dropped (a resumed run's epochs after its
            # last checkpoint, or everything when `provador track` sends a run again), then logged anew
            # tensorboardX names a file by the second and the host alone, so a writer opened within the
            # same second (a quick resume, `provador track` right after the run) would truncate the last
            # file; the nanosecond suffix keeps each file, and they still sort in the order written.
            self.writers[part] = SummaryWriter(
                str(self.folder / part), purge_step=first_step, filename_suffix=f".{time.time_ns()}.{os.getpid()}"
            )
        return self.writers[part]

    def where(self) -> str:
        return _("TensorBoard event files in {folder} (tensorboard --logdir {runs})").format(
            folder=self.folder, runs=self.folder.parent.parent
        )

    def parameters(self, params: dict[str, str]) -> None:
        # Written with the first epoch: the writer is opened then, knowing where a resumed run went on.
        self.recipe_text = "\n".join(f"    {key} = {value}" for key, value in params.items())  # Markdown code

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            part, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(part, step).add_scalar(f"epoch_{tag}", value, step)
        if self.recipe_text:
            self._writer("train", step).add_text("recipe", self.recipe_text, step)
            self.recipe_text = ""
        self._flush()

    def summary(self, step: int, values: dict[str, float]) -> None:
        """The final figures: test/accuracy, …, and summary/training_seconds, … at the last epoch."""
        for key, value in values.items():
            part, tag = ("test", key[5:]) if key.startswith("test_") else ("summary", key)
            self._writer(part, step).add_scalar(tag, value, step)
        self._flush()

    def _flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def finish(self, files: list[Path], status: str, tags: dict[str, str]) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


_SINKS = {"mlflow": _MlflowSink, "tensorboard": _TensorBoardSink}


# --- one run's tracking --------------------------------------------------------------------------


class RunTracker:
    """Everything a run sends to its trackers. Each call is guarded: a tracker that raises is
    reported once (stderr) and dropped, and the run goes on."""

    def __init__(self, tracking: Tracking | None, folder: Path, name: str, kind: str = "run", say=print):
        self.folder, self.sinks = Path(folder), []
        self.failed = 0  # failures reported (`provador track` exits 1 after one)
        if not tracking:
            return
        tags = {"provador.folder": str(self.folder.resolve()), "provador.kind": kind, "provador.backend": backend_name(),
                "mlflow.source.name": "provador", "mlflow.source.type": "LOCAL"}  # fmt: skip
        for tool in tracking.to:
            sink = self._guarded(_SINKS[tool].tool, lambda tool=tool: _SINKS[tool](tracking, self.folder, name, tags))
            if sink is not None:
                self.sinks.append(sink)
                say(_("Tracking: {where}").format(where=sink.where()))

    @property
    def mlflow_run_id(self) -> str | None:
        return next((sink.run_id for sink in self.sinks if isinstance(sink, _MlflowSink)), None)

    def parameters(self, params: dict) -> None:
        flat = {key: value if isinstance(value, str) else json.dumps(value) for key, value in _flatten(params).items()}
        self._each(lambda sink: sink.parameters(flat))

    def epoch(self, step: int, values: dict[str, float]) -> None:
        floats = {key: float(value) for key, value in values.items() if key != "epoch"}
        self._each(lambda sink: sink.scalars(step, floats))

    def finish(
        self, metrics: dict, status: str = "FINISHED", tags: dict[str, str] | None = None, figures: dict | None = None
    ) -> None:
        """The final figures (metrics.json's numbers, test_* for the test set; or `figures`), the
        folder's files, and the run's end status (FINISHED, FAILED or KILLED)."""
        final = _final_figures(metrics) if figures is None else {k: float(v) for k, v in figures.items()}
        files = sorted(p for p in self.folder.iterdir()
                       if p.is_file() and p.name not in _NOT_ARTIFACTS and not p.name.startswith(JOURNAL_FILE))  # fmt: skip
        step = int(metrics.get("epochs") or 0)
        self._each(lambda sink: sink.summary(step, final))
        self._each(lambda sink: sink.finish(files, status, tags or {}))
        self.sinks = []

    def end(self, exc: BaseException) -> None:
        """A run stopped by Ctrl-C (KILLED) or an error (FAILED)."""
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        self._each(lambda sink: sink.finish([], status, {"provador.error": str(exc)[:500]} if str(exc) else {}))
        self.sinks = []

    def callback(self):
        """A Keras callback that sends each epoch's metrics as it ends (before any callback that
        may stop the training, so the last epoch is sent too)."""
        return _EpochsToTracker(self)

    def _each(self, call) -> None:
        for sink in list(self.sinks):
            if self._guarded(sink.tool, lambda sink=sink: call(sink) or True) is None:
                self.sinks.remove(sink)

    def _guarded(self, tool: str, call):
        """call(), or None once its failure is reported."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - a tracker never fails the run
            self.failed += 1
            print(
                _("Tracking in {tool} failed: {reason}. The run goes on without it; its folder has everything, and "
                  "`provador track {run}` sends it again once the run is complete.").format(
                    tool=tool, reason=_short(exc), run=self.folder),
                file=sys.stderr, flush=True,
            )  # fmt: skip
            _record_failure(self.folder, tool, _short(exc))
            return None


class _EpochsToTracker(keras.callbacks.Callback):
    def __init__(self, tracker: RunTracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.tracker.epoch(epoch + 1, logs or {})


def open_run(tracking: Tracking | None, run: runs.Run, recipe, kind: str = "run", say=print) -> RunTracker:
    """A tracker for `run`, with the recipe already sent as parameters."""
    tracker = RunTracker(tracking, run.path, run.name, kind, say)
    if tracker.sinks:
        tracker.parameters(recipe.model_dump(mode="json", exclude_none=True))
    return tracker


def track_run(run: runs.Run | str | Path, tracking: Tracking, say=print) -> RunTracker:
    """Send a complete run, from its folder, to the trackers (after a tracker failed during
    training, or for runs trained before tracking was on): recipe, every epoch, test figures, files."""
    run = runs.resolve_run(run)
    if run.status != runs.Status.COMPLETED:
        raise ProvadorError(
            _("Run {run} is {status}, not complete: only a complete run can be sent whole. Resume it with "
              "`provador train --resume {run}`.").format(run=run.path, status=runs.status_text({"status": run.status}))
        )  # fmt: skip
    tracker = open_run(tracking, run, run.recipe, say=say)
    history = run.history()
    for index in range(len(next(iter(history.values()), []))):
        tracker.epoch(index + 1, {key: values[index] for key, values in history.items()})
    tracker.finish(run.metrics)
    return tracker


def _final_figures(metrics: dict) -> dict[str, float]:
    figures = {f"test_{key}": value for key, value in (metrics.get("test") or {}).items() if _is_number(value)}
    for key in ("best_val_accuracy", "val_accuracy", "training_seconds", "seconds_per_epoch", "parameters"):
        if _is_number(metrics.get(key)):
            figures[key] = metrics[key]
    temperature = (metrics.get("calibration") or {}).get("temperature")
    if _is_number(temperature):
        figures["temperature"] = temperature
    return {key: float(value) for key, value in figures.items()}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / TRACKING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(folder: Path, tool: str, fields: dict) -> None:
    record = _read_record(folder)
    record[tool] = {**record.get(tool, {}), **fields}
    _files.write_json(folder / TRACKING_FILE, record)


def _record_failure(folder: Path, tool: str, reason: str) -> None:
    try:
        _write_record(folder, tool.lower(), {"error": reason, "failed_unix": time.time()})
    except OSError:
        pass  # the disk may be what failed


__all__ = ["Tracking", "RunTracker", "open_run", "track_run", "TRACKERS", "TRACKING_FILE", "TENSORBOARD_DIR"]
