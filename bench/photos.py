"""Score a run on labelled photos of real clothes.

    python bench/photos.py RUN [PHOTO_DIR] [--without segment,wearer] [--json]

PHOTO_DIR has the layout of the project's `shared/photos` (default `../shared/photos`):
SOURCE/CLASS/photo, where CLASS is a class name with `/` written `-` (`T-shirt-top`),
`footwear-*` holds shoes of no single Fashion-MNIST class (any of Sandal, Sneaker or Ankle boot is
right) and `ambiguous-*` holds garments of no single class (answered, not scored).

Prints, per source: accuracy over the class folders, footwear as a group (every shoe photo; any
shoe class counts), the share of photos answered wrongly with probability >= 0.9, the expected
calibration error, the share flagged as unsure, and the median time to prepare a photo. The
photos go through the same `Predictor.predict_files` as `provador predict`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from provador.core import photos  # noqa: E402
from provador.work.calibration import expected_calibration_error  # noqa: E402
from provador.work.inference import IMAGE_SUFFIXES, Predictor  # noqa: E402
from provador.work.photo_scores import CONFIDENT  # noqa: E402

SHOES = ("Sandal", "Sneaker", "Ankle boot")


def labelled_photos(folder: Path, class_names: list[str]) -> list[tuple[str, str, Path]]:
    """(source, folder kind or class, path) for every photo: kind is a class name, `footwear` or `ambiguous`."""
    by_folder = {name.replace("/", "-"): name for name in class_names}
    found = []
    for source in sorted(p for p in folder.iterdir() if p.is_dir()):
        for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
            kind = by_folder.get(class_dir.name) or class_dir.name.split("-")[0]
            if kind not in class_names and kind not in ("footwear", "ambiguous"):
                sys.exit(
                    f"{class_dir}: not a class folder (expected one of {', '.join(by_folder)}, footwear-*, ambiguous-*)"
                )
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((source.name, kind, path))
    return found


def score(predictor: Predictor, items: list[tuple[str, str, Path]]) -> dict:
    started = time.perf_counter()
    predictions = predictor.predict_files([path for _, _, path in items])
    per_source = summarize(items, predictions, predictor.class_names_)
    per_source["all"]["seconds_for_all"] = round(time.perf_counter() - started, 2)
    return per_source


def summarize(items: list[tuple[str, str, Path]], predictions, class_names: list[str]) -> dict:
    """Per source and for all: the scores of `predictions` (one per item, as `predict` answers)."""
    per_source: dict[str, dict] = {}
    for source in sorted({s for s, _, _ in items}) + ["all"]:
        rows = [(kind, p) for (s, kind, _), p in zip(items, predictions) if source in ("all", s)]
        classed = [(kind, p) for kind, p in rows if kind in class_names]
        shoes = [p for kind, p in rows if kind == "footwear" or kind in SHOES]
        scored = classed + [("footwear", p) for kind, p in rows if kind == "footwear"]
        correct = np.array([p.label == kind or (kind == "footwear" and p.label in SHOES) for kind, p in scored])
        confidence = np.array([p.probability for _, p in scored])
        per_class = {}
        for name in class_names:
            members = [p for kind, p in classed if kind == name]
            if members:
                per_class[name] = round(float(np.mean([p.label == name for p in members])), 3)
        per_source[source] = {
            "photos": len(rows),
            "accuracy": round(float(np.mean([p.label == kind for kind, p in classed])), 4) if classed else None,
            "scored": len(classed),
            "footwear_group": round(float(np.mean([p.label in SHOES for p in shoes])), 4) if shoes else None,
            "footwear_photos": len(shoes),
            "confidently_wrong": round(float(np.mean(~correct & (confidence >= CONFIDENT))), 4) if scored else None,
            "ece": round(expected_calibration_error(confidence, correct), 4) if scored else None,
            "unsure": round(float(np.mean([p.low_confidence for _, p in scored])), 4) if scored else None,
            "per_class": per_class,
        }
    return per_source


def prepare_times(items, steps: photos.Steps, repeats: int = 1) -> float:
    """Median milliseconds to prepare one photo (decode included)."""
    times = []
    for _, _, path in items:
        data = path.read_bytes()
        for _ in range(repeats):
            started = time.perf_counter()
            photos.prepare(data, steps=steps)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def twelve_megapixel_ms(items, steps: photos.Steps, count: int = 10) -> tuple[float, float]:
    """Median milliseconds to prepare a 4000×3000 JPEG (photos from the folder, enlarged), and
    the same with the JPEG decoded at full size first (the baseline: no draft decoding);
    the two are interleaved, three repeats each."""
    import io

    from PIL import Image

    drafted, full = [], []
    for _, _, path in items[:: max(1, len(items) // count)][:count]:
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        for _ in range(3):
            started = time.perf_counter()
            photos.prepare(data, steps=steps)
            drafted.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            image = Image.open(io.BytesIO(data))
            image.load()
            photos.prepare(image, steps=steps)
            full.append((time.perf_counter() - started) * 1000)
    return statistics.median(drafted), statistics.median(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument(
        "photo_dir", nargs="?", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "photos")
    )
    parser.add_argument("--without", default="", help="pipeline steps to turn off, comma-separated: segment, wearer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steps = photos.Steps()
    off = [s for s in args.without.split(",") if s]
    for name in off:
        if not hasattr(steps, name):
            sys.exit(f"--without takes segment, wearer; received {name!r}")
        steps = replace(steps, **{name: False})
    predictor = Predictor(args.run, steps=steps)
    items = labelled_photos(Path(args.photo_dir), predictor.class_names_)
    result = {"run": predictor.run_.name, "steps": vars(steps), "by_source": score(predictor, items)}
    result["prepare_ms_median"] = round(prepare_times(items, steps), 2)
    drafted, full = twelve_megapixel_ms(items, steps)
    result["prepare_12mp_jpeg_ms_median"] = round(drafted, 2)
    result["prepare_12mp_jpeg_full_decode_ms_median"] = round(full, 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Run {result['run']} on {len(items)} photos from {args.photo_dir}; steps off: {', '.join(off) or 'none'}")
    print(f"{'source':<15}{'photos':>7}{'accuracy':>10}{'footwear':>10}{'conf.wrong':>11}{'ECE':>7}{'unsure':>8}")

    def fmt(value, width):
        return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"

    for source, r in result["by_source"].items():
        print(f"{source:<15}{r['photos']:>7}{fmt(r['accuracy'], 10)}{fmt(r['footwear_group'], 10)}"
              f"{fmt(r['confidently_wrong'], 11)}{fmt(r['ece'], 7)}{fmt(r['unsure'], 8)}")  # fmt: skip
    print("accuracy per class (all sources): "
          + ", ".join(f"{k} {v:.2f}" for k, v in result["by_source"]["all"]["per_class"].items()))  # fmt: skip
    print(f"preparing a photo: {result['prepare_ms_median']:.1f} ms (median, decode included); a 12-megapixel "
          f"JPEG: {drafted:.1f} ms, against {full:.1f} ms decoded at full size first ({full / drafted:.1f}×)")  # fmt: skip


if __name__ == "__main__":
    main()
