"""`provador export`: ONNX, SavedModel and LiteRT from runs trained on JAX and on TensorFlow, each
verified against the model; the loading snippets of docs/export.md; the ONNX engine; bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from provador.cli import main
from provador.core.datasets import load_dataset
from provador.records import runs
from provador.serve import create_app
from provador.work import export as exporting
from provador.work.export import ExportError, export, export_all
from provador.work.inference import Predictor

EXPORT_DOCS = Path(__file__).parents[2] / "docs" / "export.md"
pytestmark = [
    pytest.mark.slow,  # every export starts a TensorFlow process (about 20 s)
    # One worker builds the module's exports (a minute of TensorFlow), not each (`--dist loadgroup`).
    pytest.mark.xdist_group("export"),
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tf2onnx", "onnxruntime", "ai_edge_litert")),
        reason="pip install 'provador[export]'",
    ),
]


@pytest.fixture(scope="module")
def tf_run(tmp_path_factory, tiny_run):
    """The tiny recipe trained on the TensorFlow backend (a process of its own)."""
    _, data_dir = tiny_run
    runs_dir = tmp_path_factory.mktemp("tf-runs")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "provador", "train", "--set", "data.dataset=idx", "--set", "data.validation=50",
         "--set", "training.epochs=2", "--set", "model.architecture=cnn", "--set", "model.filters=[4]",
         "--set", "model.dense=8", "--set", "model.augmentation=flip", "--data-dir", str(data_dir),
         "--runs-dir", str(runs_dir), "--quiet"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = runs.Run(result.stdout.strip().splitlines()[-1])
    assert run.metrics["backend"] == "tensorflow"
    return run, data_dir


@pytest.fixture(scope="module")
def jax_exports(tiny_run, tmp_path_factory):
    """The tiny run (trained on JAX) exported to every format, each into the copy's RUN/export/."""
    run, data_dir = tiny_run
    copy = runs.Run(shutil.copytree(run.path, tmp_path_factory.mktemp("jax") / run.name))
    return copy, data_dir, {result.format: result.to_dict() for result in export_all(copy, data_dir=data_dir)}


@pytest.fixture(scope="module")
def tf_exports(tf_run, tmp_path_factory):
    """The TensorFlow-trained run exported to every format through the command line, into a folder."""
    run, data_dir = tf_run
    folder = tmp_path_factory.mktemp("tf-export")
    result = subprocess.run(
        [sys.executable, "-m", "provador", "export", str(run.path), "--format", "all", "--output", str(folder),
         "--data-dir", str(data_dir), "--json"], capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return run, folder, {entry["format"]: entry for entry in json.loads(result.stdout)}


@pytest.mark.parametrize("trained_on", ["jax", "tensorflow"])
@pytest.mark.parametrize("format", ["onnx", "saved-model", "litert"])
def test_every_format_exports_verified_from_either_backend(jax_exports, tf_exports, trained_on, format):
    if trained_on == "jax":  # through the Python call, into RUN/export/
        run, _, results = jax_exports
        output = run.path / "export" / exporting.FORMATS[format].file
    else:  # through the command line, into --output
        run, folder, results = tf_exports
        output = folder / exporting.FORMATS[format].file
    result = results[format]
    assert result["path"] == str(output) and output.exists()
    assert result["images"] == 100 and result["batch_sizes"] == [1, 64]  # the tiny test set: all of it
    assert result["max_abs_difference"] <= exporting.TOLERANCE and result["class_agreement"] == 1.0
    assert not [p for p in output.parent.iterdir() if p.name.startswith(".")]  # no scratch left
    signature = _signature(format, output)
    assert signature["classes"] == run.class_names and signature["run"] == run.name
    assert signature["provador_version"] and signature["model_sha256"] == run.model_digest()
    # Recognised as an earlier export, so exporting there again replaces it; nothing else is.
    assert exporting.is_provador_export(format, output)
    assert not any(exporting.is_provador_export(other, output) for other in exporting.FORMATS if other != format)


def _signature(format: str, output: Path) -> dict:
    if format == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(output)).metadata_props}
        return {**props, "classes": json.loads(props["classes"])}
    if format == "saved-model":
        return json.loads((output / "signature.json").read_text())
    return json.loads(output.with_name("model.signature.json").read_text())


def _readme_snippet(tag: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", EXPORT_DOCS.read_text(), re.S)
    (block,) = [b for b in blocks if f"# {tag}" in b]
    return block


@pytest.mark.parametrize("tag", ["load-onnx", "load-saved-model", "load-litert"])
def test_the_readmes_loading_snippets_work(jax_exports, tag):
    run, _, _ = jax_exports
    code = _readme_snippet(tag).replace("runs/latest/export/", f"{run.path / 'export'}/")
    namespace: dict = {}
    exec(compile(code, f"docs/export.md {tag}", "exec"), namespace)  # noqa: S102 (the docs' own code)
    probabilities = np.asarray(namespace["probabilities"])
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    expected = Predictor(run).predict_probabilities(np.asarray(namespace["images"]))
    np.testing.assert_allclose(probabilities, expected, atol=exporting.TOLERANCE)


def test_the_onnx_engine_answers_as_the_keras_one(jax_exports):
    run, data_dir, _ = jax_exports  # its RUN/export/model.onnx is where the engine looks
    images = load_dataset("idx", data_dir, validation=50).x_test
    keras_answers = Predictor(run).predict_probabilities(images)
    onnx_answers = Predictor(run, engine="onnx").predict_probabilities(images)
    np.testing.assert_array_equal(keras_answers.argmax(axis=1), onnx_answers.argmax(axis=1))
    np.testing.assert_allclose(keras_answers, onnx_answers, atol=exporting.TOLERANCE)
    body = {"images": images[:8].tolist()}
    with TestClient(create_app(run, data_dir=data_dir, engine="onnx")) as onnx_client, \
            TestClient(create_app(run, data_dir=data_dir)) as keras_client:  # fmt: skip
        onnx_reply, keras_reply = (
            onnx_client.post("/v1/predict", json=body),
            keras_client.post("/v1/predict", json=body),
        )
        assert onnx_reply.status_code == keras_reply.status_code == 200
        assert onnx_client.get("/v1/model").json()["engine"] == "onnx"
    for ours, theirs in zip(onnx_reply.json()["predictions"], keras_reply.json()["predictions"]):
        assert ours["label"] == theirs["label"]
        assert abs(ours["probability"] - theirs["probability"]) <= exporting.TOLERANCE


def test_export_refuses_bad_input_and_writes_nothing(tiny_run, tmp_path, monkeypatch, capsys):
    run, data_dir = tiny_run
    with pytest.raises(SystemExit) as exited:
        main(["export", str(run.path), "--format", "tflite"])  # not a choice
    assert exited.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    with pytest.raises(ExportError, match="does not exist or is not writable"):
        export(run, "onnx", tmp_path / "missing" / "m.onnx", data_dir=data_dir)
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "run.json").write_text(json.dumps({**run.info, "status": "failed", "error": "boom"}))
    (failed / "recipe.toml").write_text(run.recipe.to_toml())
    with pytest.raises(runs.RunError, match="is failed: only a completed run"):
        export(failed, "onnx")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real_find_spec(name, *a)
    )
    from provador.base._install import pip_install

    with pytest.raises(ExportError, match=re.escape("needs tf2onnx: " + pip_install("export"))):
        export(run, "onnx", tmp_path / "m.onnx", data_dir=data_dir)
    monkeypatch.undo()

    def exporter_with_a_wrong_file(run, made, check):  # as if the runtime answered differently
        for path in made.values():
            path.parent.mkdir(parents=True)
            path.write_bytes(b"a file that looks complete")
        return {format: {"max_abs_difference": 0.3, "class_agreement": 0.9, "batch_sizes": [1, 64]} for format in made}

    monkeypatch.setattr(exporting, "_run_exporter", exporter_with_a_wrong_file)
    with pytest.raises(ExportError, match="Nothing was written"):
        export(run, "onnx", tmp_path / "m.onnx", data_dir=data_dir)
    with pytest.raises(ExportError, match="Nothing was written"):
        exporting.export_all(run, tmp_path, data_dir=data_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failed"]


def test_export_help_lists_each_format_its_use_and_its_loader(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    for name, kind in exporting.FORMATS.items():
        assert name in out and kind.purpose in out and kind.loader in out


def test_under_make_test_this_modules_tests_share_one_worker(request):
    """`make test` distributes with --dist loadgroup, so one worker builds this module's exports (a
    minute of TensorFlow) instead of each. pytest 9.2 with pytest-xdist 3.8 drops the group without
    a word (pytest-xdist issue #1386): this fails then, rather than the suite quietly slowing."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("the suite is not distributed with --dist loadgroup (make test does that)")
    assert request.node.nodeid.endswith("@export"), request.node.nodeid
