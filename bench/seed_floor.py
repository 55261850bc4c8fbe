"""The notebook's recipe (`seed`: MLP 300-100, SGD 0.01, batch 32) against its floor on this
machine: a hand-written JAX loop that keeps the images, the labels and each epoch's shuffle on
the device and runs the whole epoch as one compiled `lax.scan`. Between the two, the same
training through Keras with less and less of what `provador train` adds, so the gap can be
split into its parts:

    floor        the hand-written JAX loop (no Keras)
    keras        plain model.fit of provador's model: Keras' own loop, one compiled call a batch
    provador     provador's fit (several steps per compiled call: work/fused_steps.py), without
                 its checkpoint or progress line
    train        provador's fit as `provador train` runs it: a checkpoint and a line every epoch

Each runs in a fresh process, interleaved round by round (`--repeats`), for `--epochs` epochs;
the first epoch (compilation) is left out of the timing.

    .venv/bin/python bench/seed_floor.py [--epochs 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

WAYS = ("floor", "keras", "provador", "train")


def _data():
    from provador.core.datasets import dataset_for
    from provador.work.training import resolve_recipe

    recipe = resolve_recipe("seed")
    return recipe, dataset_for(recipe, progress=False)


def floor_worker(epochs: int) -> dict:
    """The seed recipe by hand in JAX: Glorot-uniform weights, zero biases, softmax cross-entropy,
    plain SGD, a fresh permutation each epoch (the last, smaller batch included, as Keras does)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    recipe, data = _data()
    batch, rate = recipe.training.batch_size, recipe.training.learning_rate
    x, y = jnp.asarray(data.x_train.reshape(len(data.x_train), -1)), jnp.asarray(data.y_train.astype(np.int32))
    x_valid, y_valid = jnp.asarray(data.x_valid.reshape(len(data.x_valid), -1)), jnp.asarray(data.y_valid)
    count, widths = len(data.x_train), [x.shape[1], *recipe.model.hidden, len(data.class_names)]
    whole = count // batch

    def glorot(key, fan_in, fan_out):
        limit = np.sqrt(6 / (fan_in + fan_out))
        return jax.random.uniform(key, (fan_in, fan_out), minval=-limit, maxval=limit)

    keys = jax.random.split(jax.random.PRNGKey(0), len(widths))
    params = [(glorot(k, a, b), jnp.zeros(b)) for k, a, b in zip(keys, widths, widths[1:], strict=False)]

    def logits(params, images):
        h = images.astype(jnp.float32) / 255
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            h = jax.nn.relu(h) if i < len(params) - 1 else h
        return h

    def loss(params, images, labels):
        log_p = jax.nn.log_softmax(logits(params, images))
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    def step(params, rows):
        grads = jax.grad(loss)(params, x[rows], y[rows])
        return jax.tree.map(lambda p, g: p - rate * g, params, grads)

    @jax.jit
    def epoch(params, key):
        order = jax.random.permutation(key, count)
        params, _ = jax.lax.scan(
            lambda p, rows: (step(p, rows), None), params, order[: whole * batch].reshape(whole, batch)
        )
        return step(params, order[whole * batch :])

    @jax.jit
    def accuracy(params):
        return jnp.mean(jnp.argmax(logits(params, x_valid), axis=-1) == y_valid)

    key, seconds = jax.random.PRNGKey(1), []
    for _ in range(epochs):
        started = time.perf_counter()
        key, this = jax.random.split(key)
        params = epoch(params, this)
        valid = float(accuracy(params))
        seconds.append(time.perf_counter() - started)
    return {"epoch_seconds": seconds, "val_accuracy": valid}


def keras_worker(epochs: int, way: str) -> dict:
    from provador.records import runs
    from provador.work.timing import EpochTimer
    from provador.work.training import build_for, fit

    recipe, data = _data()
    recipe = recipe.with_overrides({"training.epochs": epochs})
    timer = EpochTimer()
    if way == "keras":
        model = build_for(recipe, data)
        model.train_function = None  # Keras' own loop, not provador's fused steps
        history = model.fit(data.x_train, data.y_train, batch_size=recipe.training.batch_size, epochs=epochs,
                            validation_data=(data.x_valid, data.y_valid), callbacks=[timer], verbose=0)  # fmt: skip
        valid = history.history["val_accuracy"][-1]
    else:
        run = runs.new_run(tempfile.mkdtemp(prefix="provador-floor-"), recipe, data.class_names, data.source.to_dict())
        full = way == "train"
        fitted = fit(recipe, data, run, callbacks=[timer], progress=full, checkpoint=full)
        valid = fitted.recorder.rows[-1]["val_accuracy"]
    return {"epoch_seconds": timer.seconds, "val_accuracy": float(valid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = floor_worker(args.epochs) if args.worker == "floor" else keras_worker(args.epochs, args.worker)
        print(json.dumps(result))
        return
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2: the first epoch (compilation) is not timed")
    per_epoch: dict[str, list[float]] = {way: [] for way in WAYS}
    accuracy: dict[str, list[float]] = {way: [] for way in WAYS}
    for repeat in range(args.repeats):  # interleaved, so a drift in the machine's load hits every way
        for way in WAYS:
            command = [sys.executable, __file__, "--worker", way, "--epochs", str(args.epochs)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            per_epoch[way].append(statistics.median(result["epoch_seconds"][1:]))
            accuracy[way].append(result["val_accuracy"])
            print(f"round {repeat + 1}: {way:<9} {per_epoch[way][-1]:.3f} s per epoch", file=sys.stderr, flush=True)
    floor = statistics.median(per_epoch["floor"])
    print(f"`seed` (MLP 300-100, SGD 0.01, batch 32, 59,000 images): seconds per epoch after the first, "
          f"{args.epochs} epochs × {args.repeats} rounds")  # fmt: skip
    print(f"{'way':<9} {'median':>7} {'min-max':>13} {'× floor':>8} {'val acc':>8}")
    for way in WAYS:
        values = per_epoch[way]
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"{way:<9} {statistics.median(values):>7.3f} {spread:>13} "
              f"{statistics.median(values) / floor:>7.2f}× {statistics.median(accuracy[way]):>8.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
