"""Seconds per epoch of the `cnn` recipe's model: stock settings against provador's.

Configurations (the first five unless `--configs` names others), each in a fresh process (XLA
reads its flags once), repeats interleaved:
  stock        conv → BN → ReLU → pool with keras.layers.BatchNormalization, jaxlib's default
               CPU convolutions (YNNPACK)
  +conv        provador's XLA flag only (convolutions on XLA's multi-threaded Eigen path)
  +bn          provador's BatchNorm layer only (batch statistics as matrix products)
  +pool-first  provador's block order only: conv → pool → BN → ReLU
  provador     all three, as `provador train --recipe cnn` runs
  +bf16        provador's three, under Keras' mixed_bfloat16 policy (bfloat16 compute, float32 weights)
  ynn+bf16     the same with jaxlib's default CPU convolutions (YNNPACK), which have bfloat16 kernels
Each process trains on a slice of the training set for one untimed epoch (compilation),
then times `--epochs` epochs and scales the time to 55,000 images.

    python bench/cnn_speed.py [--images 11000] [--epochs 2] [--repeats 3] [--configs provador +bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

# name: (XLA convolution flag, provador's BatchNorm, pool before BN and ReLU, bfloat16 compute)
CONFIGS = {
    "stock": (False, False, False, False),
    "+conv": (True, False, False, False),
    "+bn": (False, True, False, False),
    "+pool-first": (False, False, True, False),
    "provador": (True, True, True, False),
    "+bf16": (True, True, True, True),
    "ynn+bf16": (False, True, True, True),
}
DEFAULT_CONFIGS = ["stock", "+conv", "+bn", "+pool-first", "provador"]


def stock_block(x, filters: int, batch_norm: bool, index: int, convs: int):
    """The textbook block order, pooling after the activation."""
    from provador.base._keras import keras
    from provador.core.models import _cnn

    for j in range(convs):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{index}_{j}")(x)
        if batch_norm:
            x = _cnn.BatchNorm(momentum=0.9, name=f"bn{index}_{j}")(x)
        x = keras.layers.Activation("relu", name=f"relu{index}_{j}")(x)
    return _cnn.MaxPool2x2(name=f"pool{index}")(x)


def child(conv_flag: bool, fast_bn: bool, pool_first: bool, bf16: bool, images: int, epochs: int) -> None:
    if not conv_flag:
        os.environ["PROVADOR_XLA_DEFAULTS"] = "1"  # jaxlib's own CPU convolutions
    import time

    from provador.base._keras import keras
    from provador.core.datasets import load_dataset
    from provador.core.models import _cnn

    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if not fast_bn:
        _cnn.BatchNorm = lambda momentum, name: keras.layers.BatchNormalization(momentum=momentum, name=name)
    if not pool_first:
        _cnn._conv_block = stock_block
    from provador.work.training import build_for, resolve_recipe

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
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=DEFAULT_CONFIGS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*(flag == "1" for flag in args.child), args.images, args.epochs)

    times: dict[str, list[float]] = {name: [] for name in args.configs}
    for _ in range(args.repeats):
        for name in args.configs:
            flags = CONFIGS[name]
            command = [sys.executable, __file__, "--images", str(args.images), "--epochs", str(args.epochs),
                       "--child", *(str(int(flag)) for flag in flags)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            times[name].append(json.loads(out.strip().splitlines()[-1])["seconds_per_epoch"])
    baseline = args.configs[0]  # the speed-ups are against the first configuration asked for
    print(f"`cnn` recipe model, seconds per 55,000-image epoch ({args.repeats} repeats, median (min-max));"
          f" speed-up against {baseline}")  # fmt: skip
    first = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<12} {median:6.1f}  ({min(values):.1f}-{max(values):.1f})  speed-up {first / median:4.2f}×")


if __name__ == "__main__":
    main()
