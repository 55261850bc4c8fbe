"""provador: train, evaluate, explain and serve clothing-image classifiers (Fashion-MNIST, Keras 3).

    import provador
    data = provador.load_dataset()                 # uint8 splits, the notebook's first-1000 validation
    model = provador.build_model("mlp")            # Flatten-300-100-10, scales raw pixels itself
    run = provador.train("seed", epochs=5)         # writes runs/seed-<time>/
    provador.evaluate(run)                         # {'loss': …, 'accuracy': …}
    provador.Predictor(run).predict(data.x_test[:5])

Heavy modules (Keras and its backend) load on first use, so `provador data info`
and `import provador` stay fast.
"""

from __future__ import annotations

import importlib

from provador.errors import ProvadorError

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": "provador.datasets",
    "Dataset": "provador.datasets",
    "FASHION_MNIST_CLASSES": "provador.datasets",
    "build_model": "provador.models",
    "list_models": "provador.models",
    "load_recipe": "provador.recipes",
    "list_recipes": "provador.recipes",
    "Recipe": "provador.recipes",
    "train": "provador.training",
    "evaluate": "provador.evaluation",
    "Predictor": "provador.inference",
    "Run": "provador.runs",
}

__all__ = ["ProvadorError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'provador' has no attribute {name!r}")
