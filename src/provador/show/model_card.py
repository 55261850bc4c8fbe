"""A run's model card (model-card.md): what the model is, what it scored, on which data (with
the files' hashes), what it is for and where it fails, in the reader's language, with the YAML
front matter the Hugging Face Hub reads (model-index metrics, datasets, tags)."""

from __future__ import annotations

from pathlib import Path

from provador import __version__
from provador.base import _files
from provador.base.i18n import _, class_name
from provador.records import runs
from provador.show import pages

CARD_FILE = "model-card.md"
# Names the Hub knows for the datasets provador trains on (others keep their own name).
_HUB_DATASETS = {"fashion-mnist": ("fashion_mnist", "Fashion-MNIST"), "mnist": ("mnist", "MNIST")}


def write_model_card(run: runs.Run) -> Path:
    """Write model-card.md in a complete run (from its metrics.json, run.json and recipe)."""
    return _files.write_text(run.path / CARD_FILE, model_card(run))


def model_card(run: runs.Run) -> str:
    metrics, info = run.metrics, run.info
    test = metrics.get("test", {})
    data = info.get("data", {})
    tag, name = _HUB_DATASETS.get(data.get("dataset", ""), (data.get("dataset", "custom"),) * 2)
    index_metrics = [{"type": "accuracy", "value": round(test["accuracy"], 4), "name": "Test accuracy"}]
    if test.get("macro_f1") is not None:
        index_metrics.append({"type": "f1", "value": round(test["macro_f1"], 4), "name": "Test macro F1"})
    confused = "; ".join(
        _("{a} / {b} ({errors} errors)").format(a=class_name(p["classes"][0]), b=class_name(p["classes"][1]),
                                                errors=int(p["errors"]))
        for p in test.get("most_confused", [])[:3]
    )  # fmt: skip
    return pages.render_text(
        "model-card.md",
        run_name=run.name,
        dataset_tag=tag,
        dataset_name=name,
        index_metrics=index_metrics,
        recipe_name=metrics.get("recipe", run.recipe.name),
        architecture=metrics.get("model", run.recipe.model.architecture),
        parameters=metrics.get("parameters", 0),
        epochs=metrics.get("epochs", 0),
        backend=metrics.get("backend", ""),
        versions=metrics.get("versions", {}),
        data_sha256=data.get("sha256", {}),
        temperature=(metrics.get("calibration") or {}).get("temperature", 1.0),
        test=test,
        photos=metrics.get("photos"),
        calibration=test.get("calibration"),
        confused=confused,
        run_path=str(run.path),
        folder=data.get("directory", ""),
        train_images=metrics.get("train_images", 0),
        valid_images=metrics.get("valid_images", 0),
        provador_version=__version__,
    )


__all__ = ["write_model_card", "model_card", "CARD_FILE"]
