"""The Fashion-MNIST speedrun on this machine: seconds of training until validation accuracy first
reaches 90, 92, 93 and 94%, per seed, with the median and the spread; the test set is scored once
per seed, after training. Each recipe is run as `provador train` runs it (provador's `fit`, with
its per-epoch checkpoint) and, in the same invocation, as stock Keras runs the same network
(a plain `model.fit` on the same data, optimizer, schedule and batch size; no provador callback,
Keras' default `steps_per_execution`), interleaved seed by seed. The machine's float32
matrix-multiply throughput (NumPy and JAX, 2048×2048, measured in a child process) and the device
JAX computes on (`cpu`, or the GPU JAX's GPU build found) are printed first, so a reader can
compare machines.

    .venv/bin/python bench/speedrun.py --recipes mlp-fast seed --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

THRESHOLDS = (0.90, 0.92, 0.93, 0.94)


def matmul_gflops(repeats: int = 5) -> dict[str, float]:
    """float32 2048×2048 matrix products per second, as GFLOP/s (median of repeats)."""
    import jax
    import jax.numpy as jnp

    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    flops = 2 * n**3
    results = {}
    on_jax, product = jnp.asarray(a), jax.jit(lambda x: x @ x)
    for name, run in (("numpy", lambda: a @ a), ("jax", lambda: product(on_jax).block_until_ready())):
        run()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        results[name] = flops / statistics.median(times) / 1e9
    return results


def jax_device() -> str:
    """What JAX trains on here: `cpu`, or `gpu (NVIDIA H200)` where JAX's GPU build finds one, so
    a GPU figure is never read as a CPU one (the recipes run unchanged on either)."""
    import jax

    device = jax.devices()[0]
    return device.platform if device.platform == "cpu" else f"{device.platform} ({device.device_kind})"


def _reached(history: list[tuple[float, float]]) -> list[float | None]:
    """Seconds at which validation accuracy first reached each threshold."""
    return [next((seconds for seconds, accuracy in history if accuracy >= t), None) for t in THRESHOLDS]


class _Clock:
    """A Keras callback: (seconds since training began, validation accuracy) after each epoch."""

    def __new__(cls):
        from provador.base._keras import keras

        class Clock(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.started, self.points = time.perf_counter(), []

            def on_epoch_end(self, epoch, logs=None):
                self.points.append((time.perf_counter() - self.started, float(logs["val_accuracy"])))

        return Clock()


def provador_run(recipe_name: str, seed: int, folder: str):
    from provador.core.datasets import dataset_for
    from provador.records import runs
    from provador.work.evaluation import test_metrics
    from provador.work.training import fit, resolve_recipe

    recipe = resolve_recipe(recipe_name, seed=seed)
    dataset = dataset_for(recipe, progress=False)
    run = runs.new_run(folder, recipe, dataset.class_names, dataset.source.to_dict())
    clock = _Clock()
    fitted = fit(recipe, dataset, run, callbacks=[clock], checkpoint=True)
    _, test = test_metrics(fitted.model, recipe, dataset)
    return clock.points, fitted.seconds, test["accuracy"]


def stock_run(recipe_name: str, seed: int):
    """The same network, data, optimizer and batch size through a plain `model.fit`."""
    from provador.base._keras import keras
    from provador.core.datasets import dataset_for
    from provador.core.models import build_model, prepare_backend_for
    from provador.work.training import make_loss, make_optimizer, resolve_recipe

    recipe = resolve_recipe(recipe_name, seed=seed)
    dataset = dataset_for(recipe, progress=False)
    prepare_backend_for(recipe.model.architecture)
    keras.utils.set_random_seed(seed)
    model = build_model(recipe.model.architecture, input_shape=dataset.x_train.shape[1:],
                        num_classes=len(dataset.class_names), **recipe.model_params)  # fmt: skip
    steps = -(-len(dataset.x_train) // recipe.training.batch_size)
    model.compile(optimizer=make_optimizer(recipe, steps), loss=make_loss(recipe, len(dataset.class_names)),
                  metrics=["accuracy"])  # fmt: skip
    clock = _Clock()
    started = time.perf_counter()
    model.fit(dataset.x_train, dataset.y_train, batch_size=recipe.training.batch_size, epochs=recipe.training.epochs,
              validation_data=(dataset.x_valid, dataset.y_valid), callbacks=[clock], verbose=0)  # fmt: skip
    seconds = time.perf_counter() - started
    accuracy = float(model.evaluate(dataset.x_test, dataset.y_test, verbose=0, batch_size=1024)[1])
    return clock.points, seconds, accuracy


def _cell(value: float | None) -> str:
    return f"{value:>7.1f}" if value is not None else f"{'-':>7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["mlp-fast", "seed"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--no-baseline", action="store_true", help="provador only")
    parser.add_argument("--throughput", action="store_true", help="print the matrix-multiply line only")
    args = parser.parse_args()
    if args.throughput:
        throughput = matmul_gflops()
        print(f"matrix multiply, float32 2048×2048: NumPy {throughput['numpy']:.0f} GFLOP/s, "
              f"JAX {throughput['jax']:.0f} GFLOP/s; {os.cpu_count()} cores; JAX computes on {jax_device()}")  # fmt: skip
        return
    # In a child process: JAX reads its XLA flags once, and provador sets one for convolutions
    # before JAX first computes in this one.
    measured = subprocess.run([sys.executable, __file__, "--throughput"], capture_output=True, text=True, check=True)
    print(measured.stdout.strip(), flush=True)
    folder = tempfile.mkdtemp(prefix="provador-speedrun-")
    header = "".join(f"{'≥' + format(t, '.0%'):>7}" for t in THRESHOLDS)
    print(f"{'recipe':<9} {'how':<9} {'seed':>4} {header} {'train s':>8} {'test':>7}")
    for recipe in args.recipes:
        results: dict[str, list] = {"provador": [], "stock": []}
        for seed in args.seeds:
            ways = [("provador", lambda recipe=recipe, seed=seed: provador_run(recipe, seed, folder))]
            if not args.no_baseline:
                ways.append(("stock", lambda recipe=recipe, seed=seed: stock_run(recipe, seed)))
            for how, go in ways:
                points, seconds, accuracy = go()
                reached = _reached(points)
                results[how].append((reached, seconds, accuracy))
                print(f"{recipe:<9} {how:<9} {seed:>4} {''.join(_cell(r) for r in reached)} {seconds:>8.1f} "
                      f"{accuracy:>7.4f}", flush=True)  # fmt: skip
        for how, rows in results.items():
            if not rows:
                continue
            seconds = [row[1] for row in rows]
            tests = [row[2] for row in rows]
            firsts = [[row[0][i] for row in rows if row[0][i] is not None] for i in range(len(THRESHOLDS))]
            medians = "".join(_cell(statistics.median(f)) if len(f) == len(rows) else f"{'-':>7}" for f in firsts)
            print(f"{recipe:<9} {how:<9} {'med':>4} {medians} {statistics.median(seconds):>8.1f} "
                  f"{statistics.median(tests):>7.4f}   (train {min(seconds):.1f}-{max(seconds):.1f} s, "
                  f"test {min(tests):.4f}-{max(tests):.4f})")  # fmt: skip
        if results["stock"]:
            ratio = statistics.median(r[1] for r in results["provador"]) / statistics.median(
                r[1] for r in results["stock"]
            )
            print(f"{recipe:<9} provador / stock training time: {ratio:.2f}×\n")


if __name__ == "__main__":
    main()
