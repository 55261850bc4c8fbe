"""`evaluate --corruptions`: the corruptions do what they say, the same way every time, and the
scores reach metrics.json, the report and `runs --compare`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from provador.cli import main
from provador.core.datasets import load_dataset
from provador.work.robustness import CORRUPTIONS, corrupted


@pytest.fixture(scope="module")
def images(tiny_run):
    return load_dataset("idx", tiny_run[1], validation=50).x_test[:60]


def _centre(batch: np.ndarray) -> np.ndarray:
    weights = batch.astype(float)
    total = weights.sum(axis=(1, 2))
    return np.stack(
        [(weights.sum(2) * np.arange(28)).sum(1) / total, (weights.sum(1) * np.arange(28)).sum(1) / total], 1
    )


def test_each_corruption_is_the_same_every_time_and_does_what_it_says(images):
    for name, (_text, _make, severities) in CORRUPTIONS.items():
        for severity in severities:
            once, again = corrupted(images, name, severity), corrupted(images, name, severity)
            assert once.dtype == np.uint8 and once.shape == images.shape
            np.testing.assert_array_equal(once, again)
    np.testing.assert_array_equal(corrupted(images, "inversion", 1), 255 - images)
    np.testing.assert_array_equal(corrupted(images, "flip", 1), images[:, :, ::-1])
    noise = [np.std(corrupted(images, "noise", s).astype(float) - images) for s in (1, 2, 3)]
    assert noise[0] < noise[1] < noise[2]
    contrast = [corrupted(images, "contrast", s).std() for s in (1, 2, 3)]
    assert images.std() > contrast[0] > contrast[1] > contrast[2]
    sharpness = [np.abs(np.diff(corrupted(images, "blur", s).astype(float), axis=1)).mean() for s in (1, 2, 3)]
    assert np.abs(np.diff(images.astype(float), axis=1)).mean() > sharpness[0] > sharpness[1] > sharpness[2]
    moved = np.linalg.norm(_centre(corrupted(images, "shift", 3)) - _centre(images), axis=1)
    assert np.median(moved) > 3  # 6 pixels, less what the edge cuts off


def test_evaluate_corruptions_records_draws_reports_and_compares(run_copy, tiny_run, capsys):
    run, data_dir = run_copy
    assert main(["evaluate", str(run.path), "--corruptions", "--data-dir", str(data_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["clean"] == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-4)
    assert set(result["corruptions"]) == set(CORRUPTIONS) and result["corruptions"]["noise"].keys() == {"1", "2", "3"}
    every = [v for per in result["corruptions"].values() for v in per.values()]
    assert result["mean"] == pytest.approx(np.mean(every), abs=1e-4)
    assert result["corruptions"]["inversion"]["1"] < result["clean"]  # light on dark is what it learned
    kept = json.loads((run.path / "metrics.json").read_text())["robustness"]
    assert kept == {k: v for k, v in result.items() if k != "picture"}
    assert (run.path / "corruptions.png").read_bytes().startswith(b"\x89PNG")
    assert main(["report", str(run.path), "--data-dir", str(data_dir)]) == 0
    capsys.readouterr()
    page = (run.path / "report.html").read_text()
    assert "<h2>Robustness</h2>" in page and "Mean under corruption" in page
    assert main(["runs", "--compare", str(run.path), str(tiny_run[0].path), "--output", str(run.path / "c.png"),
                 "--json"]) == 0  # fmt: skip
    columns = json.loads(capsys.readouterr().out)["runs"]
    assert columns[0]["corrupted_accuracy"] == result["mean"] and columns[1]["corrupted_accuracy"] is None
