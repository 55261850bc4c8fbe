"""The one place that imports Keras, so the backend is chosen before it loads.

JAX is provador's default (the fastest measured on CPU, see bench/); an
explicit KERAS_BACKEND wins, including `tensorflow`, the notebook's own.
"""

import os
from importlib import metadata

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

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

__all__ = ["keras", "backend_name", "backend_versions", "prefer_multithreaded_convolutions"]


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


# jaxlib 0.10 hands convolutions on the CPU to YNNPACK, which runs them on one core; with it
# off they go to XLA's multi-threaded Eigen path: the `cnn` recipe's epoch is 1.17× faster on
# 2 cores, and 2.19× with provador's BatchNorm layer and block order (bench/cnn_speed.py).
# For the MLP the same flag is 15% slower and changes the last digits of its results, so it is
# set only for models with convolutions. XLA reads its flags once, when JAX first computes something: a process that
# already ran JAX (an MLP trained first in a notebook) keeps its settings. The flag is
# experimental, and XLA aborts on a flag it does not know, so it is only set for the jaxlib
# version it was measured on. PROVADOR_XLA_DEFAULTS=1 leaves XLA's flags alone.
_YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="


def prefer_multithreaded_convolutions() -> bool:
    """Send CPU convolutions to XLA's multi-threaded path if it is still possible; True if in effect."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _YNN_OFF in flags.split():
        return True
    if backend_name() != "jax" or os.environ.get("PROVADOR_XLA_DEFAULTS") == "1" or "ynn_fusion_type" in flags:
        return False
    try:
        if not metadata.version("jaxlib").startswith("0.10."):
            return False
        from jax._src import xla_bridge  # private; guarded: too late once JAX has started

        if xla_bridge.backends_are_initialized():
            return False
    except (metadata.PackageNotFoundError, ImportError, AttributeError):
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {_YNN_OFF}".strip()
    return True
