"""Seconds per epoch of the `cnn` recipe's model: stock settings against provador's.

Four configurations, each in a fresh process (XLA reads its flags once), repeats interleaved:
  stock      keras.layers.BatchNormalization, jaxlib's default CPU convolutions (YNNPACK)
  +conv      provador's XLA flag only (convolutions on XLA's multi-threaded Eigen path)
  +bn        provador's BatchNorm layer only (batch statistics as matrix products)
  provador   both, as `provador train --recipe cnn` runs
Each process trains on a slice of the training set for one untimed epoch (compilation),
then times `--epochs` epochs and scales the time to 55,000 images.

    python bench/cnn_speed.py [--images 11000] [--epochs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CONFIGS = {"stock": (False, False), "+conv": (True, False), "+bn": (False, True), "provador": (True, True)}


def child(conv_flag: bool, fast_bn: bool, images: int, epochs: int) -> None:
    if not conv_flag:
        os.environ["PROVADOR_XLA_DEFAULTS"] = "1"  # jaxlib's own CPU convolutions
    import time

    from provador._keras import keras
    from provador.datasets import load_dataset
    from provador.models import _cnn

    if not fast_bn:
        _cnn.BatchNorm = lambda momentum, name: keras.layers.BatchNormalization(momentum=momentum, name=name)
    from provador.training import build_for, resolve_recipe

    recipe = resolve_recipe("cnn")
    dataset = load_dataset("fashion-mnist", max_train=images, progress=False)
    model = build_for(recipe, dataset)
    fit = dict(batch_size=recipe.training.batch_size, verbose=0)
    model.fit(dataset.x_train, dataset.y_train, epochs=1, **fit)  # compile
    start = time.perf_counter()
    model.fit(dataset.x_train, dataset.y_train, epochs=epochs, **fit)
    seconds = (time.perf_counter() - start) / epochs * 55_000 / images
    print(json.dumps({"seconds_per_epoch": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=11_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0] == "1", args.child[1] == "1", args.images, args.epochs)

    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.repeats):
        for name, (conv_flag, fast_bn) in CONFIGS.items():
            command = [sys.executable, __file__, "--images", str(args.images), "--epochs", str(args.epochs),
                       "--child", str(int(conv_flag)), str(int(fast_bn))]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            times[name].append(json.loads(out.strip().splitlines()[-1])["seconds_per_epoch"])
    print(f"`cnn` recipe model, seconds per 55,000-image epoch ({args.repeats} repeats, median (min-max))")
    stock = statistics.median(times["stock"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<9} {median:6.1f}  ({min(values):.1f}-{max(values):.1f})  speed-up {stock / median:4.2f}×")


if __name__ == "__main__":
    main()
