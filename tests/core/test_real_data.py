"""Integration on the real Fashion-MNIST: a slice and a few epochs, seconds not minutes."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from provador.work.evaluation import evaluate
from provador.work.inference import Predictor
from provador.work.training import train

pytestmark = pytest.mark.slow

SLICE = {"data.max_train": 12000, "training.epochs": 2}


def test_seed_recipe_on_a_slice_learns_and_every_command_agrees(real_data, tmp_path, capsys):
    run = train("seed", overrides=SLICE, runs_dir=tmp_path)
    metrics = run.metrics
    assert metrics["train_images"] == 12000 and metrics["valid_images"] == 1000
    assert 0.72 < metrics["test"]["accuracy"] < 0.9
    assert metrics["data"]["hashes_match_published"] is True
    assert evaluate(run)["accuracy"] == metrics["test"]["accuracy"]
    out = capsys.readouterr().out
    assert "First five test images: Ankle boot, Pullover, Trouser, Trouser, Shirt" in out
    # The notebook's mistake cannot happen: the model scales raw test pixels itself,
    # so its loss is a cross-entropy near 0.5, not the notebook's 72.5.
    assert metrics["test"]["loss"] < 1.0
    predictions = Predictor(run).predict(__import__("provador").load_dataset().x_test[:5])
    assert [p.label for p in predictions][:3] == ["Ankle boot", "Pullover", "Trouser"]


def _tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


@pytest.mark.skipif(
    not _tensorflow_available()
    and not any(os.environ.get(v) for v in ("PROVADOR_REQUIRE_TENSORFLOW", "PROVADOR_REQUIRE_ALL", "CI")),
    reason="TensorFlow not installed (pip install -e '.[tensorflow]'); `make test` installs it",
)
def test_tensorflow_backend_trains_and_its_model_serves_on_jax(real_data, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, "-m", "provador", "train", "--epochs", "1", "--set", "data.max_train=12000",
         "--runs-dir", str(tmp_path), "--quiet"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = result.stdout.strip().splitlines()[-1]
    metrics = json.loads(open(f"{run_dir}/metrics.json").read())
    assert metrics["backend"] == "tensorflow" and "tensorflow" in metrics["versions"]
    assert 0.7 < metrics["test"]["accuracy"] < 0.9
    # The .keras file is backend-neutral: the JAX side evaluates it to the same accuracy.
    assert evaluate(run_dir)["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-4)
