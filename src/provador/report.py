"""A run's pictures and its self-contained report.html (images embedded, no network)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from provador import _files, plots, runs
from provador.datasets import Dataset
from provador.errors import RunError
from provador.evaluation import confusion_matrix, evaluate_run

PICTURES = {
    "curves.png": "Learning curves",
    "confusion.png": "Confusion matrix",
    "samples.png": "Test images and their predicted probabilities",
    "errors.png": "The most confident mistakes",
    "first-layer.png": "What the first layer looks for",
}
REPORT_FILE = "report.html"


def most_confident_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int = 15) -> np.ndarray:
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:count]]


def first_dense_kernel(model, image_shape: tuple[int, int]) -> np.ndarray | None:
    """The first Dense layer's kernel when it reads the flattened image (the MLP), else None."""
    if any(type(layer).__name__ == "Conv2D" for layer in model.layers):
        return None  # its first Dense layer reads feature maps, not pixels
    for layer in model.layers:
        if type(layer).__name__ == "Dense":
            kernel = np.asarray(layer.kernel.numpy())
            return kernel if kernel.shape[0] == int(np.prod(image_shape)) else None
    return None


def write_pictures(run: runs.Run, model, dataset: Dataset, probabilities: np.ndarray) -> list[Path]:
    """confusion.png, samples.png, errors.png and (for an MLP) first-layer.png; curves.png if missing."""
    names = list(dataset.class_names)
    x, y = dataset.x_test, dataset.y_test
    written = []
    if not (run.path / runs.CURVES_FILE).is_file() and run.history():
        written.append(plots.learning_curves(run.history(), run.path / runs.CURVES_FILE, title=run.name))
    matrix = confusion_matrix(y, np.argmax(probabilities, axis=1), len(names))
    written.append(plots.confusion(matrix, names, run.path / "confusion.png"))
    first = np.arange(min(15, len(x)))
    written.append(plots.samples(x[first], y[first], probabilities[first], names, run.path / "samples.png"))
    mistakes = most_confident_mistakes(probabilities, y)
    if len(mistakes):
        written.append(plots.samples(
            x[mistakes], y[mistakes], probabilities[mistakes], names, run.path / "errors.png",
            title="The most confident mistakes: prediction (probability) and true class",
        ))  # fmt: skip
    kernel = first_dense_kernel(model, x.shape[1:])
    if kernel is not None:
        written.append(plots.first_layer(kernel, x.shape[1:], run.path / "first-layer.png"))
    return written


def model_table(model) -> list[tuple[str, str, str, int]]:
    """(name, type, output shape, parameters) for each layer: the notebook's summary()."""
    return [
        (layer.name, type(layer).__name__, str(tuple(layer.output.shape)), int(layer.count_params()))
        for layer in model.layers
    ]


def write_report(run: runs.Run, model, dataset: Dataset) -> Path:
    """report.html: recipe, data, model, curves, metrics, confusion, samples, errors, environment."""
    metrics, info = run.metrics, run.info
    test = metrics.get("test", {})
    e = html.escape
    parts = [
        f"<h1>provador run <code>{e(run.name)}</code></h1>",
        f"<p class=lead>Recipe <b>{e(metrics.get('recipe', '?'))}</b>, model <b>{e(metrics.get('model', '?'))}</b>"
        f" ({metrics.get('parameters', 0):,} parameters), {metrics.get('epochs', '?')} epochs, "
        f"status <b>{e(info.get('status', '?'))}</b>.</p>",
    ]
    if test:
        parts.append(
            f"<p class=headline>Test accuracy <b>{test['accuracy']:.4f}</b> · test loss {test['loss']:.4f} · "
            f"{test['images']:,} test images · best validation accuracy {metrics.get('best_val_accuracy', 0):.4f} · "
            f"training {metrics.get('training_seconds', 0):.1f} s ({metrics.get('seconds_per_epoch', 0):.2f} s/epoch)</p>"
        )
        if "calibration" in test:
            c = test["calibration"]
            parts.append(
                f"<p>Calibration: expected calibration error on the test set {c['ece_before']:.4f} as trained, "
                f"{c['ece_after']:.4f} at temperature {c['temperature']:.3g}, fitted on the validation split "
                "(softening only); "
                "<code>provador predict</code> and the server answer with the calibrated probabilities.</p>"
            )
    parts.append(section("Learning curves", _image(run, "curves.png"),
                          "Loss and accuracy per epoch on the training and validation images."))  # fmt: skip
    if "per_class" in test:
        parts.append(section("Metrics per class", _per_class_table(test),
                              "Precision: of the images predicted as this class, the share that were. "
                              "Recall: of the images of this class, the share found. F1: their harmonic mean."))  # fmt: skip
        pairs = "".join(
            f"<li>{e(p['classes'][0])} / {e(p['classes'][1])}: {p['errors']} errors</li>" for p in test["most_confused"]
        )
        parts.append(section("Most confused pairs", f"<ul>{pairs}</ul>"))
    parts.append(section("Confusion matrix", _image(run, "confusion.png"),
                          "Rows are the true class, columns the prediction; colours show each row's shares."))  # fmt: skip
    parts.append(section("Test images", _image(run, "samples.png"),
                          "The first test images with the probability the model gives each class."))  # fmt: skip
    parts.append(section("Most confident mistakes", _image(run, "errors.png")))
    if (run.path / "first-layer.png").is_file():
        parts.append(section("First-layer weights", _image(run, "first-layer.png"),
                              "Each first-layer unit's 784 weights drawn as a 28×28 image."))  # fmt: skip
    rows = "".join(
        f"<tr><td>{e(n)}</td><td>{e(t)}</td><td>{e(s)}</td><td class=num>{p:,}</td></tr>"
        for n, t, s, p in model_table(model)
    )
    parts.append(section("Model", f"<table><tr><th>layer</th><th>type</th><th>output shape</th><th>parameters</th></tr>"
                                   f"{rows}</table>"))  # fmt: skip
    summary = dataset.summary()
    data_rows = "".join(
        f"<tr><td>{s}</td><td>{tuple(summary[s]['images_shape'])}</td><td>{summary[s]['images_dtype']}</td></tr>"
        for s in ("train", "valid", "test")
    )
    source = summary["source"]
    parts.append(section("Data", f"<p>{e(source['dataset'])} from <code>{e(source['directory'])}</code> "
                                  f"({e(source['found_via'])}); hashes match the published ones: "
                                  f"{source['hashes_match_published']}.</p><table><tr><th>split</th><th>images</th>"
                                  f"<th>dtype</th></tr>{data_rows}</table>"))  # fmt: skip
    recipe_text = (run.path / runs.RECIPE_FILE).read_text()
    parts.append(section("Recipe", f"<pre>{e(recipe_text)}</pre>"))
    environment = {"backend": metrics.get("backend"), **metrics.get("versions", {}), "seed": metrics.get("seed")}
    parts.append(section("Environment", f"<pre>{e(json.dumps(environment, indent=2))}</pre>"))
    page = html_page(f"provador · {run.name}", "\n".join(parts))
    return _files.write_text(run.path / REPORT_FILE, page)


def section(title: str, body: str, note: str = "") -> str:
    return f"<section><h2>{html.escape(title)}</h2>{f'<p class=note>{html.escape(note)}</p>' if note else ''}{body}</section>"


def _image(run: runs.Run, name: str) -> str:
    return embedded_png(run.path / name, PICTURES.get(name, name))


def embedded_png(path: Path, alt: str) -> str:
    """An <img> that carries its PNG inside the page (the report needs no other file)."""
    if not path.is_file():
        return f"<p class=note>({html.escape(path.name)} was not drawn.)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_page(title: str, body: str) -> str:
    """The report's page around `body`: one style for runs and studies."""
    return _PAGE.format(title=html.escape(title), body=body)


def _per_class_table(test: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=num>{m['precision']:.3f}</td><td class=num>{m['recall']:.3f}</td>"
        f"<td class=num>{m['f1']:.3f}</td><td class=num>{m['support']}</td></tr>"
        for name, m in test["per_class"].items()
    )
    return (f"<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>{rows}"
            f"<tr><td><b>macro average</b></td><td></td><td></td><td class=num><b>{test['macro_f1']:.3f}</b></td>"
            "<td></td></tr></table>")  # fmt: skip


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; }}
.headline {{ font-size: 1.15em; background: #eef5ff; padding: .6em .8em; border-radius: 6px; }}
.note {{ color: #555; }} img {{ max-width: 100%; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .25em .7em; border-bottom: 1px solid #eee; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
pre {{ background: #f6f6f6; padding: .8em; overflow-x: auto; }}
</style></head>
<body>
{body}
<footer class=note><p>Made by provador. This file is self-contained: it needs no network.</p></footer>
</body></html>
"""


def build_report(run: runs.Run | str | Path, data_dir: str | Path | None = None) -> Path:
    """Evaluate a finished run again and redraw its pictures and report.html."""
    run = runs.resolve_run(run)
    if run.status != "completed":
        raise RunError(
            f"Run {run.path} is {run.status}, so it has no results to report"
            + (f" ({run.info['error']})" if run.info.get("error") else "")
            + ". Train it again with `provador train`."
        )
    model, dataset, probabilities, _ = evaluate_run(run, data_dir)
    write_pictures(run, model, dataset, probabilities)
    return write_report(run, model, dataset)
