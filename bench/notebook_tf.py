"""The notebook's code, run with stock tf.keras (TensorFlow backend, default `fit` settings).

This is the baseline provador is compared with: the same data, model and
hyperparameters, written as the notebook writes them. The only changes: data is
read from the local IDX files (no download), and the test set is scaled like the
training set (the notebook forgets, which gives its loss of 72.5).

    KERAS_BACKEND=tensorflow python bench/notebook_tf.py --epochs 30
Prints one JSON line: seconds per epoch, fit seconds, test loss and accuracy.
"""

import argparse
import json
import os
import resource
import time

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402

from provador.core import idx  # noqa: E402  (only to read the local files)
from provador.core.datasets import locate  # noqa: E402
from provador.work.timing import EpochTimer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-train", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    files = locate("fashion-mnist").files
    x_train_full, y_train_full = idx.read(files["train_images"]), idx.read(files["train_labels"])
    x_test, y_test = idx.read(files["test_images"]), idx.read(files["test_labels"])

    # The notebook, cell by cell.
    x_valid, x_train = x_train_full[:1000] / 255.0, x_train_full[1000:] / 255.0
    y_valid, y_train = y_train_full[:1000], y_train_full[1000:]
    if args.max_train:
        x_train, y_train = x_train[: args.max_train], y_train[: args.max_train]
    model = keras.models.Sequential()
    model.add(keras.layers.Input(shape=[28, 28]))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(300, activation="relu"))
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    timer = EpochTimer()
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=args.epochs, validation_data=(x_valid, y_valid), verbose=0, callbacks=[timer]
    )
    fit_seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(x_test / 255.0, y_test, verbose=0)
    print(json.dumps({
        "system": "stock tf.keras (notebook code)",
        "tensorflow": tf.__version__,
        "epochs": args.epochs,
        "fit_seconds": round(fit_seconds, 2),
        "seconds_per_epoch": round(fit_seconds / args.epochs, 3),
        "epoch_seconds": timer.seconds,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "final_val_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "test_loss": round(float(test_loss), 4),
        "test_accuracy": round(float(test_acc), 4),
        "first_five": np.argmax(model.predict(x_test[:5] / 255.0, verbose=0), axis=-1).tolist(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
