"""Experiment tracking against the real tools: an MLflow tracking server and TensorBoard, each
started here on loopback, fed by tiny trainings and searches, and read back through their own
APIs. And what a user gets when a tracker is missing, mistyped or down: a run that completes."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import pytest

from provador import workflow
from provador.base.errors import ProvadorError
from provador.cli import main
from provador.work import tracking as tracking_module
from provador.work.tracking import TENSORBOARD_DIR, TRACKING_FILE, Tracking
from tests.conftest import ctrl_c_after_epoch_two, missing

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def tracking_packages():
    """The extras these tests send runs through (`make test` installs them)."""
    import importlib.util

    for module, extra in (("mlflow", "mlflow"), ("tensorboardX", "tensorboard"), ("tensorboard", "tensorboard")):
        if importlib.util.find_spec(module) is None:
            missing(module, f"pip install -e '.[{extra}]' (`make test` installs it)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(command: list[str], url: str, log: Path, seconds: float = 120):
    """Start a tool's server, wait until `url` answers, and hand back its process."""
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{command[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    pytest.fail(f"{command[0]} did not answer {url} within {seconds} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite store, artifacts proxied through the server)."""
    if not (BIN / "mlflow").is_file():
        missing("MLflow's server", "pip install mlflow (`make test` installs the dev group)")
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        f"{url}/health", root / "server.log",
    )  # fmt: skip
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture
def client(mlflow_server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server)


def _history(run) -> list[dict]:
    with (run.path / "history.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _mlflow_id(run) -> str:
    return json.loads((run.path / TRACKING_FILE).read_text())["mlflow"]["run_id"]


# --- choosing trackers ----------------------------------------------------------------------------


def test_track_names_the_tools_and_defaults_to_mlflow_when_its_uri_is_set(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert Tracking.parse(None).to == ()
    assert Tracking.parse("mlflow,tensorboard").to == ("mlflow", "tensorboard")
    assert Tracking.parse(["tensorboard", "tensorboard"]).to == ("tensorboard",)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "class-of-2026")
    assert Tracking.parse(None) == Tracking(("mlflow",), None, "class-of-2026")
    assert Tracking.parse("none").to == ()  # the way out of the environment's default
    with pytest.raises(ProvadorError, match=r"Expected --track to be one of mlflow, tensorboard \(or none\). "
                                            r"Received: 'wandb'"):  # fmt: skip
        Tracking.parse("wandb")


def test_a_missing_tracking_package_names_the_extra_to_install(monkeypatch):
    real = tracking_module.importlib.util.find_spec
    monkeypatch.setattr(tracking_module.importlib.util, "find_spec",
                        lambda name: None if name == "tensorboardX" else real(name))  # fmt: skip
    with pytest.raises(ProvadorError, match=r"needs the tensorboardX package.*pip install.*\[tensorboard\]"):
        Tracking.parse("tensorboard")


def test_the_cli_refuses_a_mistyped_tracker_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--track", "mlfow", "--runs-dir", str(tmp_path)])
    assert info.value.code == 2 and "Did you mean `mlflow`?" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


# --- MLflow ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow-server")  # the server starts once (`--dist loadgroup`)
def test_a_training_is_an_mlflow_run_with_recipe_epochs_test_figures_and_files(
    mlflow_server, client, tiny_recipe, tiny_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # no --track: the environment turns it on
    run = workflow.train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)

    logged = client.get_run(_mlflow_id(run))
    assert logged.info.status == "FINISHED" and logged.info.run_name == run.name
    assert client.get_experiment(logged.info.experiment_id).name == "provador"
    assert logged.data.params["training.learning_rate"] == "0.05"
    assert logged.data.params["model.hidden"] == "[32, 16]"
    assert logged.data.tags["provador.folder"] == str(run.path.resolve())
    rows = _history(run)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        steps = [(m.step, m.value) for m in client.get_metric_history(logged.info.run_id, key)]
        assert steps == [(int(row["epoch"]), pytest.approx(row[key], rel=1e-6)) for row in rows]
    test = run.metrics["test"]
    assert logged.data.metrics["test_accuracy"] == pytest.approx(test["accuracy"])
    assert logged.data.metrics["test_loss"] == pytest.approx(test["loss"])
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"model.keras", "report.html", "recipe.toml", "metrics.json", "history.csv", "curves.png"} <= artifacts
    assert "checkpoint.npz" not in artifacts and TRACKING_FILE not in artifacts
    kept = Path(client.download_artifacts(logged.info.run_id, "metrics.json", str(tmp_path)))
    assert kept.read_bytes() == (run.path / "metrics.json").read_bytes()


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow-server")  # the server starts once (`--dist loadgroup`)
def test_a_resumed_run_goes_on_in_the_same_mlflow_run(mlflow_server, client, tiny_recipe, tiny_dir, tmp_path,
                                                      monkeypatch):  # fmt: skip
    from provador.work.training import train

    runs_dir = tmp_path / "runs"
    ctrl_c_after_epoch_two(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe, data_dir=tiny_dir, runs_dir=runs_dir, quiet=True, track=Tracking(("mlflow",), mlflow_server))
    run = next(p for p in runs_dir.iterdir() if p.name != "latest")
    first_id = json.loads((run / TRACKING_FILE).read_text())["mlflow"]["run_id"]
    assert client.get_run(first_id).info.status == "KILLED"
    monkeypatch.undo()
    monkeypatch.setenv("PROVADOR_OFFLINE", "1")
    resumed = train(resume=run, data_dir=tiny_dir, quiet=True, track=Tracking(("mlflow",), mlflow_server))
    assert _mlflow_id(resumed) == first_id
    logged = client.get_run(first_id)
    assert logged.info.status == "FINISHED"
    steps = sorted({m.step for m in client.get_metric_history(first_id, "val_accuracy")})
    assert steps == [1, 2, 3]
    assert logged.data.metrics["test_accuracy"] == pytest.approx(resumed.metrics["test"]["accuracy"])


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow-server")  # the server starts once (`--dist loadgroup`)
def test_a_search_is_an_mlflow_run_with_each_trial_nested_in_it(mlflow_server, client, tiny_recipe, tiny_dir,
                                                                tmp_path):  # fmt: skip
    from tests.work.test_tune import TINY_SPACE

    space = tmp_path / "space.toml"
    space.write_text(TINY_SPACE)
    summary = workflow.tune(
        tiny_recipe, space, trials=3, studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True,
        report_after=False, track=Tracking(("mlflow",), mlflow_server, "searches"),
    )  # fmt: skip
    study_id = json.loads((Path(summary.folder) / TRACKING_FILE).read_text())["mlflow"]["run_id"]
    study = client.get_run(study_id)
    assert study.info.status == "FINISHED"
    assert study.data.metrics["best_val_accuracy"] == pytest.approx(summary.best["val_accuracy"])
    assert study.data.metrics["trials_complete"] == summary.trials["complete"]
    assert study.data.tags["provador.best_trial"] == str(summary.best["trial"])
    children = client.search_runs([study.info.experiment_id], f"tags.mlflow.parentRunId = '{study_id}'")
    assert len(children) == 3
    by_name = {child.info.run_name: child for child in children}
    best = by_name[Path(summary.best["run"]).name]
    assert best.data.metrics["val_accuracy"] == pytest.approx(summary.best["val_accuracy"])
    for key, value in summary.best["overrides"].items():
        assert json.loads(best.data.params[key]) == value
    assert "best.toml" in {a.path for a in client.list_artifacts(study_id)}


@pytest.mark.slow
def test_a_tracking_server_that_is_down_never_fails_the_run_and_track_sends_it_later(
    mlflow_server, client, tiny_recipe, tiny_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    run = workflow.train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True,
                         report_after=False, track=Tracking(("mlflow",), down))  # fmt: skip
    assert run.status == "completed" and (run.path / "model.keras").is_file()
    err = capsys.readouterr().err
    assert "Tracking in MLflow failed" in err and f"provador track {run.path}" in err
    assert "error" in json.loads((run.path / TRACKING_FILE).read_text())["mlflow"]

    assert main(["track", str(run.path), "--track", "mlflow", "--tracking-uri", mlflow_server]) == 0
    logged = client.get_run(_mlflow_id(run))
    assert logged.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(logged.info.run_id, "val_accuracy")] == [1, 2, 3]
    assert logged.data.metrics["test_accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])


def test_track_needs_a_destination_and_a_complete_run(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run, _ = tiny_run
    assert main(["track", str(run.path)]) == 1
    assert "Say where to send the runs: --track mlflow" in capsys.readouterr().err
    unfinished = tmp_path / "seed-unfinished"
    shutil.copytree(run.path, unfinished)
    info = json.loads((unfinished / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    assert main(["track", str(unfinished), "--track", "tensorboard"]) == 1
    assert "is failed, not complete" in capsys.readouterr().err
    assert not (unfinished / TENSORBOARD_DIR).exists()


# --- TensorBoard ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_tensorboard_shows_a_runs_curves_from_its_event_files(tiny_recipe, tiny_dir, tmp_path):
    if not (BIN / "tensorboard").is_file():
        missing("TensorBoard", "pip install tensorboard (`make test` installs the dev group)")
    runs_dir = tmp_path / "runs"
    run = workflow.train(tiny_recipe, data_dir=tiny_dir, runs_dir=runs_dir, quiet=True, report_after=False,
                         track="tensorboard")  # fmt: skip
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env_log = tmp_path / "tensorboard.log"
    process = _serve([str(BIN / "tensorboard"), "--logdir", str(runs_dir), "--host", "127.0.0.1", "--port", str(port),
                      "--reload_interval", "1"], f"{url}/data/runs", env_log)  # fmt: skip
    try:
        rows = _history(run)
        for part, tag, key in (("train", "epoch_accuracy", "accuracy"), ("validation", "epoch_loss", "val_loss")):
            query = f"{url}/data/plugin/scalars/scalars?run={run.name}/{TENSORBOARD_DIR}/{part}&tag={tag}"
            points = _poll_json(query)
            assert [(step, value) for _, step, value in points] == [
                (int(row["epoch"]), pytest.approx(row[key], rel=1e-6)) for row in rows
            ]
        test = _poll_json(f"{url}/data/plugin/scalars/scalars?run={run.name}/{TENSORBOARD_DIR}/test&tag=accuracy")
        assert test[-1][2] == pytest.approx(run.metrics["test"]["accuracy"])
    finally:
        process.terminate()
        process.wait(timeout=30)


def _poll_json(url: str, seconds: float = 30):
    """TensorBoard loads event files in the background: ask until it has them."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_tensorboard_files_of_a_resumed_run_hold_each_epoch_once(tiny_recipe, tiny_dir, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboardX import event_file_writer

    from provador.work.callbacks import Checkpoint
    from provador.work.training import train

    # Both trainings within one second, as a quick resume is: tensorboardX names its files by the second
    # (and the host), so without provador's own suffix the second file would replace the first.
    monkeypatch.setattr(event_file_writer, "time", types.SimpleNamespace(time=lambda: 1_800_000_000.0))
    runs_dir = tmp_path / "runs"
    original = Checkpoint.on_epoch_end

    def killed_before_second_checkpoint(self, epoch, logs=None):
        if epoch == 1:  # epoch 2 is in history and in the event files, its checkpoint never written
            raise KeyboardInterrupt
        original(self, epoch, logs)

    with monkeypatch.context() as killed:
        killed.setattr(Checkpoint, "on_epoch_end", killed_before_second_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_recipe, data_dir=tiny_dir, runs_dir=runs_dir, quiet=True, track="tensorboard")
    monkeypatch.setenv("PROVADOR_OFFLINE", "1")
    run_folder = next(p for p in runs_dir.iterdir() if p.name != "latest")
    run = train(resume=run_folder, data_dir=tiny_dir, quiet=True, track="tensorboard")
    events = EventAccumulator(str(run.path / TENSORBOARD_DIR / "validation"))
    events.Reload()
    points = [(e.step, e.value) for e in events.Scalars("epoch_accuracy")]
    assert [step for step, _ in points] == [1, 2, 3]  # epoch 2, logged before Ctrl-C, purged and logged again
    assert [value for _, value in points] == pytest.approx([row["val_accuracy"] for row in _history(run)], rel=1e-6)


def test_sending_a_run_to_tensorboard_twice_keeps_each_epoch_once(run_copy):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = run_copy
    for _ in range(2):
        assert main(["track", str(run.path), "--track", "tensorboard"]) == 0
    events = EventAccumulator(str(run.path / TENSORBOARD_DIR / "train"))
    events.Reload()
    assert [e.step for e in events.Scalars("epoch_loss")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("epoch_loss")] == pytest.approx(
        [r["loss"] for r in _history(run)], rel=1e-6
    )
