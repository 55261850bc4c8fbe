"""A run's pictures and its self-contained report.html (images embedded, no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from provador.base import _files
from provador.base.errors import RunError
from provador.base.i18n import N_, _, class_name, number, percent
from provador.core.datasets import Dataset
from provador.records import runs
from provador.show import pages, plots
from provador.show.model_card import CARD_FILE, write_model_card
from provador.work.evaluation import confusion_matrix, evaluate_run

# The alt text of each of the run's pictures (runs.PICTURES names them).
PICTURE_TITLES = {
    "curves": N_("Learning curves"),
    "confusion": N_("Confusion matrix"),
    "samples": N_("Test images and their predicted probabilities"),
    "errors": N_("The most confident mistakes"),
    "why": N_("Why it made its surest mistakes"),
    "corruptions": N_("Test accuracy under corruptions"),
    "first-layer": N_("What the first layer looks for"),
    "photo-mistakes": N_("Photos answered wrongly"),
}
PHOTO_MISTAKES_SHOWN = 16
WHY_SHOWN = 9  # mistakes explained in why.png


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
    """curves.png (the notebook's learning curves), confusion.png, samples.png, errors.png and (for
    an MLP) first-layer.png."""
    names = list(dataset.class_names)
    x, y = dataset.x_test, dataset.y_test
    written = []
    if run.history():
        title = f"{run.recipe.name}: {run.name}"
        written.append(plots.learning_curves(run.history(), run.path / runs.CURVES_FILE, title=title))
    matrix = confusion_matrix(y, np.argmax(probabilities, axis=1), len(names))
    written.append(plots.confusion(matrix, names, runs.picture_path(run, "confusion")))
    first = np.arange(min(15, len(x)))
    written.append(plots.samples(x[first], y[first], probabilities[first], names, runs.picture_path(run, "samples")))
    mistakes = most_confident_mistakes(probabilities, y)
    if len(mistakes):
        written.append(plots.samples(
            x[mistakes], y[mistakes], probabilities[mistakes], names, runs.picture_path(run, "errors"),
            title=N_("The most confident mistakes: prediction (probability) and true class"),
        ))  # fmt: skip
    if len(mistakes):
        written.append(_explained_mistakes(run, model, names, x[mistakes[:WHY_SHOWN]], y[mistakes[:WHY_SHOWN]],
                                           probabilities[mistakes[:WHY_SHOWN]]))  # fmt: skip
    kernel = first_dense_kernel(model, x.shape[1:])
    if kernel is not None:
        written.append(plots.first_layer(kernel, x.shape[1:], runs.picture_path(run, "first-layer")))
    return written


def _explained_mistakes(run: runs.Run, model, names, images, labels, probabilities) -> Path:
    """why.png: heat maps of the answer and of the true class for the surest mistakes."""
    from provador.work.explain import explain

    said = explain(model, images)
    truth = explain(model, images, classes=labels, method=said.method)
    captions = [
        _("{predicted} {probability}\n(true: {true})").format(
            predicted=class_name(names[int(p)]), probability=percent(row[int(p)], 0), true=class_name(names[int(t)]))
        for p, t, row in zip(said.classes, labels, probabilities)
    ]  # fmt: skip
    return plots.explained_mistakes(images, said.maps, truth.maps, captions, said.method,
                                    runs.picture_path(run, "why"))  # fmt: skip


def model_table(model) -> list[tuple[str, str, str, int]]:
    """(name, type, output shape, parameters) for each layer: the notebook's summary()."""
    return [
        (layer.name, type(layer).__name__, str(tuple(layer.output.shape)), int(layer.count_params()))
        for layer in model.layers
    ]


def write_report(run: runs.Run, model, dataset: Dataset) -> Path:
    """report.html, in the current language: recipe, data, model, curves, metrics, confusion, samples,
    errors, environment (templates/report.html)."""
    metrics = run.run_metrics or runs.Metrics()
    test = run.metrics.get("test", {})  # its tables as a dict (their shape is checked by runs.TestMetrics)
    photos = run.metrics.get("photos")
    summary = dataset.summary()
    found_via = summary["source"]["found_via"]  # data (how the files were found), translated below
    page = pages.render(
        "report.html",
        run_name=run.name,
        status=_(run.status),  # words that are data (a status, how the data was found) translated here
        metrics=metrics,
        test=test,
        per_class_rows=[
            (class_name(name), number(m["precision"], 3), number(m["recall"], 3), number(m["f1"], 3), int(m["support"]))
            for name, m in test.get("per_class", {}).items()
        ],
        photos=photos,
        robustness=run.metrics.get("robustness"),
        robustness_rows=[
            (name, *[number(per.get(str(level))) if str(level) in per else "-" for level in (1, 2, 3)])
            for name, per in (run.metrics.get("robustness") or {}).get("corruptions", {}).items()
        ],
        photo_rows=[
            (class_name(name), row["photos"], row["right"], pages.share(row["accuracy"]))
            for name, row in (photos or {}).get("per_class", {}).items()
        ],
        picture=lambda name: pages.embedded_png(runs.picture_path(run, name), _(PICTURE_TITLES[name])),
        has_first_layer=runs.picture_path(run, "first-layer").is_file(),
        model_rows=[(n, t, s, number(p, 0)) for n, t, s, p in model_table(model)],
        source=summary["source"],
        found_via=_(found_via),
        data_rows=[
            (split, str(tuple(summary[split]["images_shape"])), str(summary[split]["images_dtype"]))
            for split in ("train", "valid", "test")
        ],
        recipe_text=(run.path / runs.RECIPE_FILE).read_text(),
        model_card=(run.path / CARD_FILE).read_text() if (run.path / CARD_FILE).is_file() else "",
        environment=json.dumps({"backend": metrics.backend, **metrics.versions, "seed": metrics.seed}, indent=2),
    )
    return _files.write_text(run.path / runs.REPORT_FILE, page)


def write_photo_scores(run: runs.Run, folders: list, labels: dict | None = None) -> dict:
    """Score the run on labelled photo folders, keep the scores in metrics.json (`photos`) and draw
    the gallery of the photos it got wrong."""
    from provador.core import photos as photo_pipeline
    from provador.core.photo_folders import read_photo_folders
    from provador.work.photo_scores import score_photos

    photo_set = read_photo_folders([str(f) for f in folders], run.class_names, labels=labels)
    scores = score_photos(run, photo_set)
    scores["folders"] = [str(f) for f in folders]
    shown = scores["mistakes"][:PHOTO_MISTAKES_SHOWN]
    thumbnails = []
    for mistake in shown:
        image = photo_pipeline.to_rgb(photo_pipeline.open_image(mistake["file"], draft_side=256))
        image.thumbnail((256, 256))
        thumbnails.append(np.asarray(image))
    # What the model saw: the photo set holds it already (prepared once, or from the cache).
    seen = [photo_set.pixels[photo_set.sources.index(m["file"])] for m in shown]
    captions = [
        _("{predicted} {probability}\n(true: {true})").format(
            predicted=class_name(m["predicted"]), probability=percent(m["probability"], 0), true=class_name(m["true"]))
        for m in shown
    ]  # fmt: skip
    plots.photo_mistakes(thumbnails, seen, captions, runs.picture_path(run, "photo-mistakes"))
    metrics = run.metrics
    metrics["photos"] = scores
    _files.write_json(run.path / runs.METRICS_FILE, metrics)
    return scores


def build_report(
    run: runs.Run | str | Path,
    data_dir: str | Path | None = None,
    photos: list | None = None,
    labels: dict | None = None,
) -> Path:
    """Evaluate a finished run again and redraw its pictures and report.html; `photos` (labelled
    photo folders) adds a section with the scores on them and a gallery of its mistakes."""
    run = runs.resolve_run(run)
    if run.status != runs.Status.COMPLETED:
        raise RunError(
            _("Run {path} is {status}, so it has no results to report").format(path=run.path, status=_(run.status))
            + (f" ({run.run_info.error})" if run.run_info.error else "")
            + ". " + _("Train it again with `provador train`.")
        )  # fmt: skip
    model, dataset, probabilities, _result = evaluate_run(run, data_dir, record=True)
    if photos:
        write_photo_scores(run, photos, labels)
    return finish(run, model, dataset, probabilities)


def finish(run: runs.Run, model, dataset: Dataset, probabilities: np.ndarray) -> Path:
    """Draw a finished run's pictures and write its report.html from what training computed
    (`provador train` hands them over: `training.train(then=finish)`)."""
    write_pictures(run, model, dataset, probabilities)
    write_model_card(run)
    return write_report(run, model, dataset)
