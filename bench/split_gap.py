"""Why a run's validation accuracy can sit a point above its test accuracy: near copies or harder images?

For each image of the run's validation split and of the test set, the distance (L2, pixels in
[0, 1]) to its nearest training image; then the model's accuracy overall, on the images with a
close training image and on those far from every one. If near copies in the validation split
made it easy, its distances would be smaller and the gap would sit in the close images; if the
test set is simply harder, the gap sits in the far ones.

    .venv/bin/python bench/split_gap.py runs/latest
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

CLOSE, FAR = 2.0, 3.0  # a median image lies about 3.5 from its nearest training image


def nearest_training_distance(images: np.ndarray, training: np.ndarray, chunk: int = 1000) -> np.ndarray:
    flat = training.reshape(len(training), -1).astype(np.float32) / 255
    squared = (flat**2).sum(axis=1)
    distances = np.empty(len(images))
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].reshape(-1, flat.shape[1]).astype(np.float32) / 255
        pairwise = (block**2).sum(axis=1)[:, None] + squared[None] - 2 * block @ flat.T
        distances[start : start + chunk] = np.sqrt(np.maximum(pairwise.min(axis=1), 0))
    return distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (its recipe's split is rebuilt from its seed)")
    args = parser.parse_args()
    from provador.core.datasets import dataset_for
    from provador.records import runs
    from provador.work.answer import Answer

    run = runs.resolve_run(args.run)
    model = run.load_model()
    dataset = dataset_for(run.recipe, None, progress=False)
    answer = Answer.for_recipe(run.recipe.model_params)
    compiled = answer.compiled(model)
    print(f"{run.name}: {len(dataset.x_train)} training images")
    print("distance: to the nearest training image (L2, pixels in [0, 1])")
    print(f"{'split':<11} {'images':>6} {'accuracy':>8} {'median':>7} {'5%':>5}   {'< ' + str(CLOSE):>6} {'acc':>6}"
          f"   {'≥ ' + str(FAR):>6} {'acc':>6}")  # fmt: skip
    for name, x, y in (("validation", dataset.x_valid, dataset.y_valid), ("test", dataset.x_test, dataset.y_test)):
        right = answer.probabilities(compiled, x, 500).argmax(axis=1) == y
        distance = nearest_training_distance(x, dataset.x_train)
        close, far = distance < CLOSE, distance >= FAR
        print(f"{name:<11} {len(x):>6} {right.mean():>8.4f} {np.median(distance):>7.2f} "
              f"{np.quantile(distance, 0.05):>5.2f}   {close.mean():>6.1%} {right[close].mean():>6.4f}"
              f"   {far.mean():>6.1%} {right[far].mean():>6.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
