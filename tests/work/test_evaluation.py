"""Evaluation numbers, checked against scikit-learn as the reference computation."""

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from provador.work.evaluation import analyse, format_report

NAMES = [f"class{i}" for i in range(4)]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 500)
    logits = rng.normal(size=(500, 4))
    logits[np.arange(500), labels] += 1.5  # mostly right, with mistakes
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


def test_per_class_metrics_match_scikit_learn(predictions):
    probabilities, labels = predictions
    result = analyse(probabilities, labels, NAMES)
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(4), zero_division=0
    )
    for i, name in enumerate(NAMES):
        got = result["per_class"][name]
        assert got["precision"] == pytest.approx(precision[i])
        assert got["recall"] == pytest.approx(recall[i])
        assert got["f1"] == pytest.approx(f1[i])
        assert got["support"] == support[i]
    assert result["macro_f1"] == pytest.approx(f1.mean())
    np.testing.assert_array_equal(result["confusion_matrix"], sk_confusion(labels, predicted, labels=range(4)))


def test_confusion_sums_to_the_test_size_and_its_diagonal_is_the_accuracy(predictions):
    probabilities, labels = predictions
    result = analyse(probabilities, labels, NAMES)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == 500 == result["images"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result["accuracy"])


def test_most_confused_pairs_count_both_directions(predictions):
    probabilities, labels = predictions
    result = analyse(probabilities, labels, NAMES)
    matrix = np.array(result["confusion_matrix"])
    top = result["most_confused"][0]
    i, j = (NAMES.index(c) for c in top["classes"])
    assert top["errors"] == matrix[i, j] + matrix[j, i]
    off_diagonal = matrix + matrix.T
    np.fill_diagonal(off_diagonal, 0)
    assert top["errors"] == off_diagonal.max()
    counts = [p["errors"] for p in result["most_confused"]]
    assert counts == sorted(counts, reverse=True)


def test_a_class_never_predicted_gets_zero_precision_not_nan():
    labels = np.array([0, 1, 2, 2])
    probabilities = np.eye(3)[[0, 1, 1, 1]]
    result = analyse(probabilities, labels, ["a", "b", "c"])
    assert result["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    json.dumps(result)  # all plain Python numbers


def test_readable_report_lists_classes_matrix_and_pairs(predictions):
    text = format_report(analyse(*predictions, NAMES))
    assert "precision  recall" in text and "Confusion matrix" in text and "Most confused pairs:" in text
    assert all(name in text for name in NAMES)


def test_evaluate_leaves_the_run_alone_unless_asked_to_record(tiny_run, tmp_path):
    import shutil

    from provador.records.runs import Run
    from provador.work.evaluation import evaluate

    run, data_dir = tiny_run
    copy = Run(shutil.copytree(run.path, tmp_path / run.name))
    metrics = json.loads((copy.path / "metrics.json").read_text())
    metrics["test"]["accuracy"] = -1.0  # a stale figure that only --record may replace
    (copy.path / "metrics.json").write_text(json.dumps(metrics))
    before = (copy.path / "metrics.json").read_bytes()
    result = evaluate(copy, data_dir=data_dir)
    assert (copy.path / "metrics.json").read_bytes() == before
    assert result["accuracy"] == run.metrics["test"]["accuracy"]  # the one function gives training's figure
    evaluate(copy, data_dir=data_dir, record=True)
    assert copy.metrics["test"]["accuracy"] == result["accuracy"]
    assert copy.metrics["test"]["calibration"] == run.metrics["test"]["calibration"]
