"""Time to accuracy for shipped recipes: wall-clock seconds of training until validation
accuracy first reaches each threshold, total training time and final test accuracy, repeated
with different seeds to show the spread.

    python bench/time_to_accuracy.py                        # mlp-fast and cnn, 3 seeds each
    python bench/time_to_accuracy.py --recipes seed mlp-fast --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["mlp-fast", "cnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()

    from provador.work.timing import THRESHOLDS
    from provador.work.training import train

    keys = [f"{t:g}" for t in THRESHOLDS]
    folder = tempfile.mkdtemp(prefix="provador-tta-")
    print(f"{'recipe':<10} {'seed':>4} " + "".join(f"{'≥' + k:>8}" for k in keys) + f"{'total s':>9}{'test acc':>9}")
    for recipe in args.recipes:
        totals, tests = [], []
        for seed in args.seeds:
            metrics = train(recipe, seed=seed, runs_dir=folder, quiet=True).metrics
            reached = metrics["seconds_to_val_accuracy"]
            cells = "".join(f"{reached[k]:>8.1f}" if reached[k] is not None else f"{'-':>8}" for k in keys)
            print(f"{recipe:<10} {seed:>4} {cells}{metrics['training_seconds']:>9.1f}{metrics['test']['accuracy']:>9.4f}",
                  flush=True)  # fmt: skip
            totals.append(metrics["training_seconds"])
            tests.append(metrics["test"]["accuracy"])
        print(f"{recipe:<10} median training {statistics.median(totals):.1f} s (min {min(totals):.1f}, max "
              f"{max(totals):.1f}); test accuracy median {statistics.median(tests):.4f} "
              f"(min {min(tests):.4f}, max {max(tests):.4f})\n")  # fmt: skip


if __name__ == "__main__":
    main()
