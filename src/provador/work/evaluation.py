"""Evaluate a model on the test set: loss, accuracy, per-class metrics, confusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from provador.base import _files
from provador.base.i18n import _, class_name, number, significant
from provador.records import runs
from provador.work.answer import Answer
from provador.work.calibration import apply_temperature, ece_of

# Keras clips probabilities to this before taking the log; we do the same so
# our test loss matches `model.evaluate` with sparse categorical cross-entropy.
_EPSILON = 1e-7


def metrics_from_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    picked = np.clip(probabilities[np.arange(len(labels)), labels], _EPSILON, 1 - _EPSILON)
    return {
        "loss": float(-np.mean(np.log(picked))),
        "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == labels)),
        "images": int(len(labels)),
    }


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(labels.astype(np.int64) * num_classes + predicted, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def analyse(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], top_pairs: int = 5) -> dict:
    """Everything `evaluate` reports: loss, accuracy, per-class P/R/F1, confusion, confused pairs."""
    result = metrics_from_probabilities(probabilities, labels)
    n = len(class_names)
    matrix = confusion_matrix(labels, np.argmax(probabilities, axis=1), n)
    true_positives = np.diag(matrix).astype(float)
    predicted_totals, support = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_totals > 0, true_positives / predicted_totals, 0.0)
        recall = np.where(support > 0, true_positives / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    result["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    }
    result["macro_f1"] = float(f1.mean())
    result["confusion_matrix"] = matrix.tolist()
    # Pairs counted both ways (Shirt taken for T-shirt/top and the reverse).
    both_ways = matrix + matrix.T
    pairs = [(int(both_ways[i, j]), i, j) for i in range(n) for j in range(i + 1, n) if both_ways[i, j]]
    result["most_confused"] = [
        {"classes": [class_names[i], class_names[j]], "errors": count,
         f"{class_names[i]} as {class_names[j]}": int(matrix[i, j]),
         f"{class_names[j]} as {class_names[i]}": int(matrix[j, i])}
        for count, i, j in sorted(pairs, key=lambda t: (-t[0], t[1], t[2]))[:top_pairs]
    ]  # fmt: skip
    return result


def calibration_on(probabilities: np.ndarray, labels: np.ndarray, calibration: dict) -> dict:
    """The expected calibration error of these (test) answers, raw and at the run's temperature."""
    temperature = calibration["temperature"]
    return {
        "temperature": temperature,
        "fitted_temperature": calibration.get("fitted_temperature", temperature),
        "ece_before": round(ece_of(probabilities, labels), 5),
        "ece_after": round(ece_of(apply_temperature(probabilities, temperature), labels), 5),
    }


def format_report(result: dict) -> str:
    """The evaluation as readable text: headline, per-class table, confusion matrix, confused pairs."""
    lines = [
        _("Test loss: {loss}").format(loss=number(result["loss"])),
        _("Test accuracy: {accuracy} ({images} images)").format(
            accuracy=number(result["accuracy"]), images=number(result["images"], 0)
        ),
    ]
    if "calibration" in result:
        c = result["calibration"]
        fitted = c.get("fitted_temperature", c["temperature"])
        lines.append(
            _(
                "Calibration: expected calibration error {before} before, {after} after temperature {temperature} "
                "(fitted on the validation split)"
            ).format(
                before=number(c["ece_before"]), after=number(c["ece_after"]), temperature=significant(c["temperature"])
            )
        )
        if fitted != c["temperature"]:
            lines.append(
                _("  (the fitted temperature was {fitted}, but a temperature may only soften answers)").format(
                    fitted=significant(fitted)
                )
            )
    if "per_class" not in result:  # metrics.json written before per-class metrics existed
        return "\n".join(lines)
    names = list(result["per_class"])
    shown = {name: class_name(name) for name in names}
    width = max(len(name) for name in [*shown.values(), _("class"), _("macro F1")])
    header = (_("precision"), _("recall"), "f1", _("support"))
    p, r, f, n = (max(len(h), w) for h, w in zip(header, (9, 6, 5, 7)))  # columns as wide as their words
    title = _("class")
    lines += ["", f"{title:<{width}}  {header[0]:>{p}}  {header[1]:>{r}}  {header[2]:>{f}}  {header[3]:>{n}}"]
    for name, m in result["per_class"].items():
        lines.append(
            f"{shown[name]:<{width}}  {number(m['precision'], 3):>{p}}  {number(m['recall'], 3):>{r}}  "
            f"{number(m['f1'], 3):>{f}}  {m['support']:>{n}}"
        )
    macro = _("macro F1")
    lines += [f"{macro:<{width}}  {'':>{p}}  {'':>{r}}  {number(result['macro_f1'], 3):>{f}}", ""]
    short = [shown[name].split("/")[0][:7] for name in names]
    lines.append(_("Confusion matrix (rows: true class, columns: predicted)"))
    lines.append(" " * (width + 2) + "".join(f"{s:>8}" for s in short))
    for name, row in zip(names, result["confusion_matrix"]):
        lines.append(f"{shown[name]:<{width}}  " + "".join(f"{v:>8}" for v in row))
    lines += ["", _("Most confused pairs:")]
    for pair in result["most_confused"]:
        a, b = pair["classes"]
        lines.append("  " + _("{a} / {b}: {errors} errors ({a} taken for {b}: {ab}, {b} taken for {a}: {ba})").format(
            a=class_name(a), b=class_name(b), errors=pair["errors"], ab=pair[f"{a} as {b}"], ba=pair[f"{b} as {a}"]
        ))  # fmt: skip
    return "\n".join(lines)


def test_metrics(model, recipe, dataset, calibration: dict | None = None) -> tuple[np.ndarray, dict]:
    """The one place a model becomes test metrics, for training, `evaluate` and `report` alike:
    its probabilities on the test images (mirror-averaged for a model trained with mirroring, as
    the Predictor answers), everything `analyse` reports, and what the run's `calibration` does
    to them. Returns (probabilities, result)."""
    raw = Answer.for_recipe(recipe.model_params)  # temperature 1: what `calibration_on` measures
    probabilities = raw.probabilities(raw.compiled(model), dataset.x_test, recipe.execution.eval_batch_size)
    result = analyse(probabilities, dataset.y_test, list(dataset.class_names))
    if calibration:
        result["calibration"] = calibration_on(probabilities, dataset.y_test, calibration)
    return probabilities, result


def evaluate_run(run: runs.Run | str | Path, data_dir: str | Path | None = None, record: bool = False):
    """Evaluate a trained run on the test set; with `record`, the result replaces the test block
    of its metrics.json (`provador report` and `evaluate --record` do that).

    Returns (model, dataset, probabilities, result) so callers such as the report can
    draw from the same predictions instead of computing them again.
    """
    from provador.core.datasets import dataset_for

    run = runs.resolve_run(run)
    model = run.load_model()
    dataset = dataset_for(run.recipe, data_dir, progress=False)
    metrics = run.metrics
    probabilities, result = test_metrics(model, run.recipe, dataset, metrics.get("calibration"))
    if record and metrics:
        metrics["test"] = result
        _files.write_json(run.path / runs.METRICS_FILE, metrics)
    return model, dataset, probabilities, result


def evaluate(run: runs.Run | str | Path, data_dir: str | Path | None = None, record: bool = False) -> dict:
    """Full test evaluation of a trained run: loss, accuracy, per-class metrics, confusion.
    The run's files are left as they are unless `record`."""
    return evaluate_run(run, data_dir, record)[3]
