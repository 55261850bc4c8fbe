"""Cross-validated figures for `provador adapt`: adapt a run on k−1 folds of labelled photos,
score the fold it never saw, and pool the held-out answers (each photo is scored once, by a
model that did not learn it).

    python bench/photos_cv.py RUN [PHOTO_DIR] [--folds 5] [--seed 0] [--set KEY=VALUE ...] [--json]

PHOTO_DIR has the layout of the project's `shared/photos` (see bench/photos.py). Folds are
stratified by source and folder. Photos of `footwear-*` folders (shoes of no single
Fashion-MNIST class) are taught as Sneaker and scored as footwear (any shoe class is right);
`ambiguous-*` photos are neither taught nor scored. The baseline, in the same invocation, is RUN
itself on the same photos. Also printed: each adapted run's Fashion-MNIST test accuracy and the
seconds its adaptation took.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from photos import labelled_photos, summarize  # noqa: E402

import provador  # noqa: E402
from provador.core.recipes import parse_override  # noqa: E402
from provador.work.inference import Predictor  # noqa: E402

FOOTWEAR_TAUGHT_AS = "Sneaker"


def assign_folds(items, folds: int, seed: int) -> np.ndarray:
    """A fold for every photo, stratified by (source, folder): each fold gets its share of each."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(items), dtype=np.int64)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (source, _kind, path) in enumerate(items):
        groups.setdefault((source, path.parent.name), []).append(i)
    offset = 0
    for key in sorted(groups):
        members = rng.permutation(groups[key])
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # the next group starts where this one left off: folds stay even
    return fold


def teaching_folder(items, indices, root: Path, class_names) -> Path:
    """A photo folder (one subfolder per class, links to the photos) of the photos to teach."""
    for i in indices:
        source, kind, path = items[i]
        if kind == "ambiguous":
            continue
        label = FOOTWEAR_TAUGHT_AS if kind == "footwear" else kind
        target = root / label.replace("/", "-") / f"{source}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument(
        "photo_dir", nargs="?", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "photos")
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seeds the folds and every adapted run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="adapt's --set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    overrides = dict(parse_override(a) for a in args.set)

    base = Predictor(args.run)
    class_names = base.class_names_
    items = labelled_photos(Path(args.photo_dir), class_names)
    paths = [path for _, _, path in items]
    baseline = summarize(items, base.predict_files(paths), class_names)
    fold = assign_folds(items, args.folds, args.seed)
    held_out = [None] * len(items)
    per_fold = []
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(args.folds):
            teach = teaching_folder(items, np.flatnonzero(fold != k), Path(scratch) / f"fold-{k}", class_names)
            started = time.perf_counter()
            run = provador.adapt(args.run, [teach], overrides=overrides, seed=args.seed, quiet=True,
                                 runs_dir=Path(scratch) / "runs")  # fmt: skip
            seconds = time.perf_counter() - started
            test = list(np.flatnonzero(fold == k))
            for i, prediction in zip(test, Predictor(run).predict_files([paths[i] for i in test])):
                held_out[i] = prediction
            metrics = run.metrics
            per_fold.append({"fold": k, "photos_held_out": len(test), "seconds": round(seconds, 1),
                             "training_seconds": metrics["training_seconds"],
                             "test_accuracy": metrics["test"]["accuracy"]})  # fmt: skip
            print(f"fold {k}: adapted in {seconds:.0f} s (training {metrics['training_seconds']:.0f} s), "
                  f"Fashion-MNIST test accuracy {metrics['test']['accuracy']:.4f}", file=sys.stderr)  # fmt: skip
    adapted = summarize(items, held_out, class_names)
    result = {"run": base.run_.name, "folds": args.folds, "seed": args.seed, "overrides": overrides,
              "baseline": baseline, "adapted_held_out": adapted, "per_fold": per_fold}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return

    def fmt(value, width):
        return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"

    print(f"{args.folds}-fold cross-validation of `provador adapt {base.run_.name}` on {len(items)} photos "
          f"from {args.photo_dir} (seed {args.seed}; --set {overrides or 'none'})")  # fmt: skip
    print(f"{'source':<15}{'photos':>7}  {'accuracy':>17}  {'footwear':>17}  {'conf.wrong':>17}  {'ECE':>17}  "
          f"{'unsure':>17}")  # fmt: skip
    print(f"{'':<15}{'':>7}  " + "  ".join(f"{'before':>8} {'after':>8}" for _ in range(5)))
    for source in adapted:
        b, a = baseline[source], adapted[source]
        cells = [f"{fmt(b[key], 8)} {fmt(a[key], 8)}" for key in
                 ("accuracy", "footwear_group", "confidently_wrong", "ece", "unsure")]  # fmt: skip
        print(f"{source:<15}{a['photos']:>7}  " + "  ".join(cells))
    print("accuracy per class, all sources, after: "
          + ", ".join(f"{k} {v:.2f}" for k, v in adapted["all"]["per_class"].items()))  # fmt: skip
    tests = [f["test_accuracy"] for f in per_fold]
    times = [f["seconds"] for f in per_fold]
    print(f"Fashion-MNIST test accuracy of the adapted runs: median {statistics.median(tests):.4f} "
          f"({min(tests):.4f}-{max(tests):.4f}); seconds per adaptation: median {statistics.median(times):.0f} "
          f"({min(times):.0f}-{max(times):.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
