import json
import math

import numpy as np
import pytest

from provador.base.errors import RecipeError, RunError, TrainingDiverged
from provador.records import runs
from provador.work.evaluation import evaluate
from provador.work.training import train
from tests.conftest import ctrl_c_after_epoch_two

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_run_writes_every_artifact(tiny_dir, tiny_recipe, tmp_path, capsys):
    from provador.workflow import train  # what `provador train` does: the training, then its report

    run = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs")
    assert run.path.parent == tmp_path / "runs" and run.path.name.startswith("seed-")
    names = {p.name for p in run.path.iterdir()}
    assert {"run.json", "recipe.toml", "history.csv", "model.keras", "curves.png", "metrics.json"} <= names
    assert not [n for n in names if ".partial" in n]

    history = (run.path / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert len(history) == 1 + 3
    assert (run.path / "curves.png").read_bytes().startswith(PNG_MAGIC)

    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 3 and metrics["seed"] == 42
    assert metrics["backend"] == "jax" and "keras" in metrics["versions"]
    assert metrics["training_seconds"] > 0 and metrics["epochs_per_second"] > 0
    assert (
        metrics["test"]["images"] == 100 and metrics["test"]["accuracy"] >= 0.7
    )  # the tiny task is easy (chance: 0.1)
    assert metrics["data"]["sha256"]["train_images"] == run.info["data"]["sha256"]["train_images"]
    assert run.status == "completed" and run.recipe == tiny_recipe
    assert runs.Run(tmp_path / "runs" / "latest").path == run.path

    out = capsys.readouterr().out
    assert "Epoch 3/3" in out and "val_accuracy" in out
    assert f"Test accuracy: {metrics['test']['accuracy']:.4f}" in out
    assert "First five test images:" in out and str(run.path) in out
    assert f"Report: {run.path / 'report.html'}" in out and (run.path / "confusion.png").is_file()


def test_evaluate_matches_the_training_runs_test_metrics(tiny_dir, tiny_recipe, tmp_path):
    run = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path, quiet=True)
    again = evaluate(run, data_dir=tiny_dir)
    assert again["accuracy"] == run.metrics["test"]["accuracy"]
    assert math.isclose(again["loss"], run.metrics["test"]["loss"], rel_tol=1e-5)


def test_test_loss_equals_keras_sparse_crossentropy(tiny_dir, tiny_recipe, tmp_path):
    from provador.base._keras import keras
    from provador.core.datasets import load_dataset

    run = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path, quiet=True)
    model = run.load_model()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = load_dataset("idx", tiny_dir, validation=50)
    keras_loss, keras_acc = model.evaluate(data.x_test, data.y_test, verbose=0)
    assert math.isclose(keras_loss, run.metrics["test"]["loss"], rel_tol=1e-4)
    assert math.isclose(keras_acc, run.metrics["test"]["accuracy"], abs_tol=1e-6)
    del keras


def test_same_recipe_and_seed_give_the_same_history(tiny_dir, tiny_recipe, tmp_path, tiny_run):
    """The shared tiny run is this recipe on these data, trained earlier in this process."""
    a, _ = tiny_run
    assert a.recipe == tiny_recipe
    b = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "b", quiet=True)
    c = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "c", quiet=True, seed=7)
    assert (a.path / "history.csv").read_text() == (b.path / "history.csv").read_text()
    assert (a.path / "history.csv").read_text() != (c.path / "history.csv").read_text()


def test_divergence_stops_at_once_and_marks_the_run_failed(tiny_dir, tiny_recipe, tmp_path):
    recipe = tiny_recipe.with_overrides({"training.learning_rate": 1e30, "training.epochs": 5})
    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        train(recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = runs.Run(run_dir)
    assert run.status == "failed" and "diverged" in run.info["error"]
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # stopped after epoch 1
    assert not (run_dir / "model.keras").exists() and not (run_dir / "metrics.json").exists()
    with pytest.raises(RunError, match="training failed"):
        run.load_model()


def test_ctrl_c_leaves_an_interrupted_run_without_complete_looking_files(tiny_dir, tiny_recipe, tmp_path, monkeypatch):
    ctrl_c_after_epoch_two(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert runs.Run(run_dir).status == "interrupted"
    # The checkpoint of epoch 1 (Ctrl-C came after epoch 2's row, before its checkpoint): resumable.
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.npz", "history.csv", "recipe.toml", "run.json"]
    assert len((run_dir / "history.csv").read_text().splitlines()) == 3


def test_batch_larger_than_the_training_set_is_refused(tiny_dir, tiny_recipe, tmp_path):
    with pytest.raises(RecipeError, match="batch_size"):
        train(tiny_recipe, overrides={"training.batch_size": 10_000}, data_dir=tiny_dir, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"training.optimizer": "adam", "training.learning_rate": 0.003, "training.schedule": "one-cycle"},
        {"training.momentum": 0.9, "training.nesterov": True, "training.schedule": "cosine"},
        {"training.optimizer": "adamw", "training.label_smoothing": 0.1, "training.learning_rate": 0.003},
    ],
)
def test_optimizers_schedules_and_label_smoothing_train(tiny_dir, tiny_recipe, tmp_path, overrides):
    run = train(tiny_recipe, overrides=overrides, data_dir=tiny_dir, runs_dir=tmp_path, quiet=True)
    assert run.metrics["test"]["accuracy"] > 0.5
    assert np.isfinite(run.metrics["test"]["loss"])
