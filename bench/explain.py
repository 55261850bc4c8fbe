"""How faithful and how fast provador's explanations are, on trained runs of Fashion-MNIST.

For each run and each method (provador's `saliency`, input × gradient kept where positive;
`gradcam`, for models with convolutions; and plain |gradient|, the textbook saliency, as the
baseline measured in the same invocation):
- deletion: the mean fall of the answer's probability when the map's top 10% pixels (78) are
  blacked out, against as many random pixels (higher is more faithful; random is the floor);
- random weights (Adebayo et al., 2018): the mean rank correlation, over each garment's pixels,
  between the trained model's maps and the same network's untrained ones (lower: the map
  depends on what was learned);
- milliseconds per image explained, median of repeats after a first (compiling) call.

    .venv/bin/python bench/explain.py runs/seed-… runs/cnn-… --images 300 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from provador.base._keras import keras  # noqa: E402
from provador.core.datasets import dataset_for  # noqa: E402
from provador.core.models import build_model  # noqa: E402
from provador.records.runs import Run  # noqa: E402
from provador.work import explain as explaining  # noqa: E402


def plain_gradient(model, images, classes):
    """The textbook saliency map: |d logit / d pixel| (the baseline)."""
    explainer = explaining._explainer(model)
    one_hot = np.eye(model.output_shape[-1], dtype="float32")[classes]

    def score(x):
        return keras.ops.sum(explainer._logits(explainer.features(x, training=False)) * one_hot)

    return explaining._normalized(np.abs(explaining._gradient(score, images.astype("float32"))))


def maps_of(model, images, classes, method):
    if method == "|gradient|":
        return plain_gradient(model, images, classes)
    return explaining.explain(model, images, classes=classes, method=method).maps


def deletion(model, images, maps, classes, count=78):
    rows = np.arange(len(images))
    before = np.asarray(model.predict(images.astype("float32"), verbose=0))[rows, classes]
    rng = np.random.default_rng(0)
    out = []
    for chosen in ("map", "random"):
        masked = images.astype("float32").copy()
        for i in rows:
            pixels = np.argsort(-maps[i].ravel())[:count] if chosen == "map" else rng.choice(784, count, replace=False)
            masked[i].flat[pixels] = 0
        out.append(float(np.mean(before - np.asarray(model.predict(masked, verbose=0))[rows, classes])))
    return out


def rank_correlation(a, b, images):
    """Mean Spearman correlation of two sets of maps over each image's garment (its non-black
    pixels): on black pixels input × gradient is 0 whatever the weights, which says nothing."""
    values = []
    for x, y, image in zip(a, b, images):
        on = image.ravel() > 0
        rx, ry = np.argsort(np.argsort(x.ravel()[on])), np.argsort(np.argsort(y.ravel()[on]))
        values.append(np.corrcoef(rx, ry)[0, 1] if on.sum() > 2 and rx.std() and ry.std() else 0.0)
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'run':<8} {'method':<11} {'deletion: map':>14} {'random':>7} {'ratio':>6} {'vs untrained':>13} {'ms/image':>9}"
    )
    for path in args.runs:
        run = Run(path)
        model = run.load_model()
        images = dataset_for(run.recipe, None).x_test[: args.images]
        classes = np.argmax(model.predict(images.astype("float32"), verbose=0), axis=-1)
        untrained = build_model(run.recipe.model.architecture, input_shape=images.shape[1:], num_classes=10,
                                **run.recipe.model_params)  # fmt: skip
        methods = ["saliency", "|gradient|"] + (["gradcam"] if explaining._last_feature_maps(model) else [])
        for method in methods:
            maps_of(model, images[:8], classes[:8], method)  # compile
            seconds = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                maps = maps_of(model, images, classes, method)
                seconds.append(time.perf_counter() - started)
            by_map, by_chance = deletion(model, images, maps, classes)
            against = rank_correlation(maps, maps_of(untrained, images, classes, method), images)
            ms = 1000 * statistics.median(seconds) / len(images)
            print(f"{run.recipe.name:<8} {method:<11} {by_map:>14.3f} {by_chance:>7.3f} {by_map / by_chance:>6.1f} "
                  f"{against:>13.2f} {ms:>9.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
