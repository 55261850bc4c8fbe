"""The notebook's recipe three ways, side by side in one invocation: stock tf.keras (the
notebook's code, TensorFlow backend, default `fit`), a plain PyTorch loop, and provador's `seed`
recipe. Each runs in a fresh process, `--repeats` times, for `--epochs` epochs; the first epoch
(compilation) is left out of the timing.

    python bench/speed_seed.py [--epochs 3] [--repeats 3]
The PyTorch baseline gets its own virtual environment, bench/.venv-torch (made on first use
with `pip install torch==2.13.0 numpy`; the CPU wheel of torch 2.13.0 is on this machine's disk).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
TORCH_VENV = HERE / ".venv-torch"


def provador_worker(epochs: int) -> None:
    """Runs in a subprocess: provador's seed recipe with per-epoch timing."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from provador.core.datasets import dataset_for
    from provador.work.answer import predict_probabilities
    from provador.work.evaluation import metrics_from_probabilities
    from provador.work.timing import EpochTimer
    from provador.work.training import build_for, resolve_recipe

    recipe = resolve_recipe("seed", epochs=epochs)
    data = dataset_for(recipe, progress=False)
    model = build_for(recipe, data)
    timer = EpochTimer()
    model.fit(data.x_train, data.y_train, batch_size=32, epochs=epochs, verbose=0,
              validation_data=(data.x_valid, data.y_valid), callbacks=[timer])  # fmt: skip
    test = metrics_from_probabilities(predict_probabilities(model, data.x_test), data.y_test)
    print(json.dumps({"system": "provador seed (Keras 3 / JAX)", "epoch_seconds": timer.seconds,
                      "test_accuracy": round(test["accuracy"], 4),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))  # fmt: skip


def ensure_torch_venv() -> Path:
    python = TORCH_VENV / "bin" / "python"
    if not python.exists():
        print("Making bench/.venv-torch (torch 2.13.0, CPU)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TORCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0", "numpy"], check=True)
    return python


def run_json(command: list[str], env: dict | None = None) -> dict:
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise SystemExit(f"{command[1]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["provador"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        provador_worker(args.epochs)
        return
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2: the first epoch (compilation) is not timed")

    from provador.core.datasets import locate

    data_dir = str(locate("fashion-mnist").directory)
    torch_python = ensure_torch_venv()
    systems = {
        "stock tf.keras": ([sys.executable, str(HERE / "notebook_tf.py"), "--epochs", str(args.epochs)], None),
        "PyTorch loop": ([str(torch_python), str(HERE / "torch_loop.py"), "--data-dir", data_dir,
                          "--epochs", str(args.epochs)], None),
        "provador seed": ([sys.executable, __file__, "--worker", "provador", "--epochs", str(args.epochs)], None),
    }  # fmt: skip
    results: dict[str, list[dict]] = {name: [] for name in systems}
    for repeat in range(args.repeats):  # interleaved, so drifts in machine load hit every system
        for name, (command, env) in systems.items():
            results[name].append(run_json(command, env))
            print(f"repeat {repeat + 1}: {name} done", file=sys.stderr)

    def per_epoch(result: dict) -> float:
        return statistics.median(result["epoch_seconds"][1:])

    medians = {name: statistics.median(per_epoch(r) for r in rs) for name, rs in results.items()}
    base = medians["stock tf.keras"]
    print(f"\nThe notebook's recipe (MLP 300-100, SGD 0.01, batch 32), {args.epochs} epochs × {args.repeats} repeats; "
          "seconds per epoch without the first\n")  # fmt: skip
    print(
        f"{'system':<16} {'s/epoch median':>14} {'(min-max)':>15} {'ratio vs tf.keras':>18} {'peak RSS MB':>12} {'test acc':>9}"
    )
    for name, rs in results.items():
        values = [per_epoch(r) for r in rs]
        accuracy = statistics.median(r["test_accuracy"] for r in rs)
        rss = max(r["peak_rss_mb"] for r in rs)
        print(f"{name:<16} {medians[name]:>14.3f} {f'({min(values):.3f}-{max(values):.3f})':>15} "
              f"{medians[name] / base:>18.2f} {rss:>12} {accuracy:>9.4f}")  # fmt: skip
    print(f"\ntarget: provador ≤ 0.25 × stock tf.keras and < PyTorch loop; measured "
          f"{medians['provador seed'] / base:.2f} and {medians['provador seed'] / medians['PyTorch loop']:.2f}× PyTorch")  # fmt: skip


if __name__ == "__main__":
    main()
