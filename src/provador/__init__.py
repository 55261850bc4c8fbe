"""provador: train, evaluate, explain and serve clothing-image classifiers (Fashion-MNIST, Keras 3).

    import provador
    data = provador.load_dataset()                 # uint8 splits, the notebook's first-1000 validation
    model = provador.build_model("mlp")            # Flatten-300-100-10, scales raw pixels itself
    run = provador.train("seed", epochs=5)         # writes runs/seed-<time>/
    provador.evaluate(run)                         # {'loss': …, 'accuracy': …}
    provador.Predictor(run).predict(data.x_test[:5])
    provador.explain(run.load_model(), data.x_test[:5]).maps   # why: a heat map per image
    provador.tune("mlp-fast", "mlp", trials=40)    # search on the validation split; studies/<name>/best.toml

Heavy modules (Keras and its backend) load on first use, so `provador data info`
and `import provador` stay fast.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from provador.base.errors import ProvadorError

try:
    __version__ = version("provador")  # one source of truth: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {
    "load_dataset": "provador.core.datasets",
    "Dataset": "provador.core.datasets",
    "FASHION_MNIST_CLASSES": "provador.core.datasets",
    "build_model": "provador.core.models",
    "list_models": "provador.core.models",
    "load_recipe": "provador.core.recipes",
    "list_recipes": "provador.core.recipes",
    "Recipe": "provador.core.recipes",
    "train": "provador.workflow",
    "adapt": "provador.workflow",
    "read_photo_folders": "provador.core.photo_folders",
    "score_photos": "provador.work.photo_scores",
    "evaluate": "provador.work.evaluation",
    "Predictor": "provador.work.inference",
    "explain": "provador.work.explain",
    "Run": "provador.records.runs",
    "list_runs": "provador.records.runs",
    "build_report": "provador.show.report",
    "compare_runs": "provador.show.compare",
    "tune": "provador.workflow",
    "list_studies": "provador.records.studies",
    "load_space": "provador.core.spaces",
    "list_spaces": "provador.core.spaces",
    "export_model": "provador.work.export",
    "set_language": "provador.base.i18n",
    "class_name": "provador.base.i18n",
}

if TYPE_CHECKING:  # what editors and type checkers see; at run time these load on first use
    from provador.base.i18n import class_name, set_language
    from provador.core.datasets import FASHION_MNIST_CLASSES, Dataset, load_dataset
    from provador.core.models import build_model, list_models
    from provador.core.photo_folders import read_photo_folders
    from provador.core.recipes import Recipe, list_recipes, load_recipe
    from provador.core.spaces import list_spaces, load_space
    from provador.records.runs import Run, list_runs
    from provador.records.studies import list_studies
    from provador.show.compare import compare_runs
    from provador.show.report import build_report
    from provador.work.evaluation import evaluate
    from provador.work.explain import explain
    from provador.work.export import export_model
    from provador.work.inference import Predictor
    from provador.work.photo_scores import score_photos
    from provador.workflow import adapt, train, tune

__all__ = [  # written out, so that linters and editors read it without running the module
    "ProvadorError", "__version__", "load_dataset", "Dataset", "FASHION_MNIST_CLASSES", "build_model", "list_models",
    "load_recipe", "list_recipes", "Recipe", "train", "adapt", "read_photo_folders", "score_photos", "evaluate", "Predictor", "explain", "Run", "list_runs", "build_report",
    "compare_runs", "tune", "list_studies", "load_space", "list_spaces", "export_model", "set_language", "class_name",
]  # fmt: skip


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'provador' has no attribute {name!r}")
