"""A run's pictures and its self-contained report.html (images embedded, no network)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from provador.base import _files
from provador.base.errors import RunError
from provador.base.i18n import N_, _, class_name, current, number, percent, significant
from provador.core.datasets import Dataset
from provador.records import runs
from provador.show import plots
from provador.work.evaluation import confusion_matrix, evaluate_run

# The alt text of each of the run's pictures (runs.PICTURES names them).
PICTURE_TITLES = {
    "curves": N_("Learning curves"),
    "confusion": N_("Confusion matrix"),
    "samples": N_("Test images and their predicted probabilities"),
    "errors": N_("The most confident mistakes"),
    "first-layer": N_("What the first layer looks for"),
    "photo-mistakes": N_("Photos answered wrongly"),
}
PHOTO_MISTAKES_SHOWN = 16


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
    kernel = first_dense_kernel(model, x.shape[1:])
    if kernel is not None:
        written.append(plots.first_layer(kernel, x.shape[1:], runs.picture_path(run, "first-layer")))
    return written


def model_table(model) -> list[tuple[str, str, str, int]]:
    """(name, type, output shape, parameters) for each layer: the notebook's summary()."""
    return [
        (layer.name, type(layer).__name__, str(tuple(layer.output.shape)), int(layer.count_params()))
        for layer in model.layers
    ]


def write_report(run: runs.Run, model, dataset: Dataset) -> Path:
    """report.html, in the current language: recipe, data, model, curves, metrics, confusion, samples,
    errors, environment."""
    metrics = run.run_metrics or runs.Metrics()
    test = run.metrics.get("test", {})  # its tables as a dict (their shape is checked by runs.TestMetrics)
    e = html.escape
    parts = [
        "<h1>" + _("provador run {name}").format(name=f"<code>{e(run.name)}</code>") + "</h1>",
        "<p class=lead>" + _("Recipe {recipe}, model {model} ({parameters} parameters), {epochs} epochs, status {status}.").format(
            recipe=f"<b>{e(metrics.recipe or '?')}</b>", model=f"<b>{e(metrics.model or '?')}</b>",
            parameters=number(metrics.parameters or 0, 0), epochs=metrics.epochs or "?",
            status=f"<b>{e(_(run.status))}</b>",
        ) + "</p>",
    ]  # fmt: skip
    if test:
        parts.append("<p class=headline>" + _(
            "Test accuracy {accuracy} · test loss {loss} · {images} test images · best validation accuracy {best} · "
            "training {seconds} s ({per_epoch} s/epoch)"
        ).format(
            accuracy=f"<b>{number(test['accuracy'])}</b>", loss=number(test["loss"]), images=number(test["images"], 0),
            best=number(metrics.best_val_accuracy or 0), seconds=number(metrics.training_seconds or 0, 1),
            per_epoch=number(metrics.seconds_per_epoch or 0, 2),
        ) + "</p>")  # fmt: skip
        if "calibration" in test:
            c = test["calibration"]
            parts.append("<p>" + _(
                "Calibration: expected calibration error on the test set {before} as trained, {after} at temperature "
                "{temperature}, fitted on the validation split (softening only); {commands} answer with the "
                "calibrated probabilities."
            ).format(
                before=number(c["ece_before"]), after=number(c["ece_after"]), temperature=significant(c["temperature"]),
                commands="<code>provador predict</code> " + _("and the server"),
            ) + "</p>")  # fmt: skip
    parts.append(section(_("Learning curves"), _image(run, "curves"),
                         _("Loss and accuracy per epoch on the training and validation images.")))  # fmt: skip
    if "per_class" in test:
        parts.append(section(_("Metrics per class"), _per_class_table(test),
                             _("Precision: of the images predicted as this class, the share that were. "
                               "Recall: of the images of this class, the share found. F1: their harmonic mean.")))  # fmt: skip
        pairs = "".join(
            "<li>" + _("{a} / {b}: {errors} errors").format(
                a=e(class_name(p["classes"][0])), b=e(class_name(p["classes"][1])), errors=int(p["errors"])) + "</li>"
            for p in test["most_confused"]
        )  # fmt: skip
        parts.append(section(_("Most confused pairs"), f"<ul>{pairs}</ul>"))
    if run.metrics.get("photos"):
        parts.append(_photo_section(run, run.metrics["photos"]))
    parts.append(section(_("Confusion matrix"), _image(run, "confusion"),
                         _("Rows are the true class, columns the prediction; colours show each row's shares.")))  # fmt: skip
    parts.append(section(_("Test images"), _image(run, "samples"),
                         _("The first test images with the probability the model gives each class.")))  # fmt: skip
    parts.append(section(_("Most confident mistakes"), _image(run, "errors")))
    if (runs.picture_path(run, "first-layer")).is_file():
        parts.append(section(_("First-layer weights"), _image(run, "first-layer"),
                             _("Each first-layer unit's 784 weights drawn as a 28×28 image. Most look like noise: "
                               "a unit of a trained MLP mixes many faint templates. Look for the few with a shape "
                               "(a trouser's two legs, a shoe's sole, a bag's handle): red where a bright pixel "
                               "raises the unit, blue where it lowers it.")))  # fmt: skip
    rows = "".join(
        f"<tr><td>{e(n)}</td><td>{e(t)}</td><td>{e(s)}</td><td class=num>{number(p, 0)}</td></tr>"
        for n, t, s, p in model_table(model)
    )
    head = "".join(f"<th>{e(h)}</th>" for h in (_("layer"), _("type"), _("output shape"), _("parameters")))
    parts.append(section(_("Model"), f"<table><tr>{head}</tr>{rows}</table>"))
    summary = dataset.summary()
    data_rows = "".join(
        f"<tr><td>{s}</td><td>{tuple(summary[s]['images_shape'])}</td><td>{e(str(summary[s]['images_dtype']))}</td></tr>"
        for s in ("train", "valid", "test")
    )
    source = summary["source"]
    head = "".join(f"<th>{e(h)}</th>" for h in (_("split"), _("images"), _("dtype")))
    parts.append(section(_("Data"), "<p>" + _("{dataset} from {folder} ({how}); hashes match the published ones: {match}.").format(
        dataset=e(source["dataset"]), folder=f"<code>{e(source['directory'])}</code>", how=e(_(source["found_via"])),
        match=_("yes") if source["hashes_match_published"] else _("no"),
    ) + f"</p><table><tr>{head}</tr>{data_rows}</table>"))  # fmt: skip
    recipe_text = (run.path / runs.RECIPE_FILE).read_text()
    parts.append(section(_("Recipe"), f"<pre>{e(recipe_text)}</pre>"))
    environment = {"backend": metrics.backend, **metrics.versions, "seed": metrics.seed}
    parts.append(section(_("Environment"), f"<pre>{e(json.dumps(environment, indent=2))}</pre>"))
    page = html_page(f"provador · {run.name}", "\n".join(parts))
    return _files.write_text(run.path / runs.REPORT_FILE, page)


def _photo_section(run: runs.Run, scores: dict) -> str:
    """What `report RUN --photos DIR` measured: headline, per class, and the mistakes' gallery."""
    e = html.escape

    def pct(value) -> str:
        return "-" if value is None else percent(value)

    headline = "<p class=headline>" + _(
        "Photos {count} from {folders}: accuracy {accuracy} · wrong with probability ≥ 90% {confident} · expected "
        "calibration error {ece} · flagged unsure {unsure} (the sure answers right {sure})"
    ).format(
        count=scores["photos"], folders=", ".join(f"<code>{e(f)}</code>" for f in scores["folders"]),
        accuracy=f"<b>{pct(scores['accuracy'])}</b>", confident=pct(scores["confident_wrong"]),
        ece=number(scores["ece"], 3), unsure=pct(scores["unsure"]), sure=pct(scores["sure_accuracy"]),
    ) + "</p>"  # fmt: skip
    rows = "".join(
        f"<tr><td>{e(class_name(name))}</td><td class=num>{row['photos']}</td><td class=num>{row['right']}</td>"
        f"<td class=num>{pct(row['accuracy'])}</td></tr>"
        for name, row in scores["per_class"].items()
    )
    head = "".join(f"<th>{e(h)}</th>" for h in (_("class"), _("photos"), _("right"), _("accuracy")))
    return section(_("Your photos"), headline + f"<table><tr>{head}</tr>{rows}</table>" + _image(run, "photo-mistakes"),
                   _("Scored with `provador report RUN --photos DIR`; measured on photos the run did not learn from, "
                     "these say what to expect on others like them."))  # fmt: skip


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


def section(title: str, body: str, note: str = "") -> str:
    return f"<section><h2>{html.escape(title)}</h2>{f'<p class=note>{html.escape(note)}</p>' if note else ''}{body}</section>"


def _image(run: runs.Run, name: str) -> str:
    return embedded_png(runs.picture_path(run, name), _(PICTURE_TITLES[name]))


def embedded_png(path: Path, alt: str) -> str:
    """An <img> that carries its PNG inside the page (the report needs no other file)."""
    if not path.is_file():
        return "<p class=note>" + _("({name} was not drawn.)").format(name=html.escape(path.name)) + "</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def html_page(title: str, body: str) -> str:
    """The report's page around `body`: one style for runs and studies."""
    return _PAGE.format(
        title=html.escape(title),
        body=body,
        lang=current(),
        footer=_("Made by provador. This file is self-contained: it needs no network."),
    )


def _per_class_table(test: dict) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(class_name(name))}</td><td class=num>{number(m['precision'], 3)}</td>"
        f"<td class=num>{number(m['recall'], 3)}</td><td class=num>{number(m['f1'], 3)}</td>"
        f"<td class=num>{int(m['support'])}</td></tr>"
        for name, m in test["per_class"].items()
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (_("class"), _("precision"), _("recall"), "F1", _("images")))
    macro = html.escape(_("macro average"))
    return (f"<table><tr>{head}</tr>{rows}"
            f"<tr><td><b>{macro}</b></td><td></td><td></td>"
            f"<td class=num><b>{number(test['macro_f1'], 3)}</b></td><td></td></tr></table>")  # fmt: skip


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
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
<footer class=note><p>{footer}</p></footer>
</body></html>
"""


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
    return write_report(run, model, dataset)
