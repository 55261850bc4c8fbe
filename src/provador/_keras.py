"""The one place that imports Keras, so the backend is chosen before it loads.

JAX is provador's default (the fastest measured on CPU, see bench/); an
explicit KERAS_BACKEND wins, including `tensorflow`, the notebook's own.
"""

import os
from importlib import metadata

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

# jaxlib 0.10 hands convolutions on the CPU to YNNPACK, which runs them on one core;
# with it off they go to XLA's multi-threaded Eigen path: the `cnn` recipe's epoch is 1.16×
# faster on 2 cores (1.25× with provador's BatchNorm layer; bench/cnn_speed.py). The flag is experimental, and XLA aborts on a flag
# it does not know, so it is only set for the jaxlib versions it was measured on.
# PROVADOR_XLA_DEFAULTS=1 leaves XLA's flags alone (for comparisons, or a jaxlib that objects).
_YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="


def _jaxlib_has_ynn_flag() -> bool:
    try:
        return metadata.version("jaxlib").startswith("0.10.")
    except metadata.PackageNotFoundError:
        return False


if (
    os.environ["KERAS_BACKEND"] == "jax"
    and os.environ.get("PROVADOR_XLA_DEFAULTS") != "1"
    and "ynn_fusion_type" not in os.environ.get("XLA_FLAGS", "")
):
    if _jaxlib_has_ynn_flag():
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_YNN_OFF}".strip()

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    # Keras imports TensorFlow whenever it is installed, even on other backends,
    # just to seed it or to recognise its types when saving (3 s, 1 GB, log noise).
    # provador never feeds TensorFlow objects to a JAX or torch model, so tell
    # Keras' lazy module that TensorFlow is absent. Private API: guard it.
    try:
        from keras.src.utils import module_utils

        module_utils.tensorflow._available = False
    except (ImportError, AttributeError):
        pass

__all__ = ["keras", "backend_name", "backend_versions"]


def backend_name() -> str:
    return keras.backend.backend()


def backend_versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers."""
    import platform

    import numpy

    versions = {"python": platform.python_version(), "keras": keras.__version__, "numpy": numpy.__version__}
    backend = backend_name()
    if backend == "jax":
        import jax
        import jaxlib

        versions["jax"], versions["jaxlib"] = jax.__version__, jaxlib.__version__
    elif backend == "tensorflow":
        import tensorflow

        versions["tensorflow"] = tensorflow.__version__
    elif backend == "torch":
        import torch

        versions["torch"] = torch.__version__
    return versions
