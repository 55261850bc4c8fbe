"""How a run does on labelled photos (`provador evaluate RUN --photos DIR`, the report's photo
section, `bench/photos_cv.py`): accuracy, per class, confusion, how often it is wrong while sure,
calibration, and how often the answers it flags as unsure are right."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from provador.base.i18n import _, class_name, number, percent
from provador.core.photo_folders import PhotoSet, read_photo_folders
from provador.records import runs
from provador.work.calibration import expected_calibration_error
from provador.work.inference import LOW_CONFIDENCE, Predictor

CONFIDENT = 0.9  # "wrong with probability ≥ 0.9": the mistakes a user would believe


def score_photos(
    run: runs.Run | str | Path, photos: PhotoSet | list[str | Path], predictor=None, labels: dict | None = None
) -> dict:
    """Scores of `run` on labelled photos (a PhotoSet, or photo folders to read with `labels`)."""
    run = runs.resolve_run(run)
    predictor = predictor or Predictor(run)
    photo_set = photos if isinstance(photos, PhotoSet) else read_photo_folders(photos, predictor.class_names_,
                                                                               labels=labels)  # fmt: skip
    return analyse_photos(predictor.predict_probabilities(photo_set.pixels), photo_set)


def analyse_photos(probabilities: np.ndarray, photo_set: PhotoSet) -> dict:
    """The scores from a model's (calibrated) probabilities for each photo of `photo_set`."""
    names = list(photo_set.class_names)
    labels = photo_set.labels
    predicted = probabilities.argmax(axis=1)
    top = probabilities.max(axis=1)
    right = predicted == labels
    unsure = (top < LOW_CONFIDENCE) | ~photo_set.garment_found  # as `predict` flags an answer
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    def share(mask) -> float | None:
        return float(mask.mean()) if mask.size else None

    mistakes = sorted(np.flatnonzero(~right), key=lambda i: -top[i])
    return {
        "photos": int(len(labels)),
        "classes": names,
        "sha256": photo_set.content_sha256(),
        "accuracy": share(right),
        "per_class": {
            name: {
                "photos": int((labels == k).sum()),
                "right": int((right & (labels == k)).sum()),
                "accuracy": share(right[labels == k]),
            }
            for k, name in enumerate(names)
            if (labels == k).any()
        },  # fmt: skip
        "confusion_matrix": confusion.tolist(),
        "confident_wrong": share(~right & (top >= CONFIDENT)),
        "ece": expected_calibration_error(top, right),
        "unsure": share(unsure),
        "sure_accuracy": share(right[~unsure]),
        "unsure_accuracy": share(right[unsure]),
        "mistakes": [
            {
                "file": photo_set.sources[i],
                "true": names[labels[i]],
                "predicted": names[predicted[i]],
                "probability": float(top[i]),
            }
            for i in mistakes
        ],  # fmt: skip
    }


def format_photo_scores(result: dict) -> str:
    """The scores as text: headline, per class, confusion, the surest mistakes."""

    def pct(value) -> str:
        return "-" if value is None else percent(value)

    lines = [
        _("Photos: {count}; accuracy {accuracy}").format(count=result["photos"], accuracy=pct(result["accuracy"])),
        _("Wrong with probability ≥ {confident}: {share}; expected calibration error {ece}").format(
            confident=percent(CONFIDENT, 0), share=pct(result["confident_wrong"]), ece=number(result["ece"], 3)),
        _("Flagged unsure: {share} (right {unsure_right} of the time; the sure answers {sure_right})").format(
            share=pct(result["unsure"]), unsure_right=pct(result["unsure_accuracy"]),
            sure_right=pct(result["sure_accuracy"])),
        "",
    ]  # fmt: skip
    names = list(result["per_class"])
    width = max(len(class_name(n)) for n in [*names, _("class")])
    heading = (_("class"), _("photos"), _("right"), _("accuracy"))
    lines.append(f"{heading[0]:<{width}}  {heading[1]:>7}  {heading[2]:>6}  {heading[3]:>9}")
    for name, row in result["per_class"].items():
        lines.append(f"{class_name(name):<{width}}  {row['photos']:>7}  {row['right']:>6}  {pct(row['accuracy']):>9}")
    every = result["classes"]
    shown = [class_name(n).split("/")[0][:7] for n in every]
    lines += ["", _("Confusion matrix (rows: true class, columns: predicted)"),
              " " * (width + 2) + "".join(f"{s:>8}" for s in shown)]  # fmt: skip
    matrix = result["confusion_matrix"]
    for k, name in enumerate(every):
        if sum(matrix[k]):
            lines.append(f"{class_name(name):<{width}}  " + "".join(f"{v:>8}" for v in matrix[k]))
    if result["mistakes"]:
        lines += ["", _("The surest mistakes:")]
        for m in result["mistakes"][:10]:
            lines.append("  " + _("{file}: {true} taken for {predicted} ({probability})").format(
                file=m["file"], true=class_name(m["true"]), predicted=class_name(m["predicted"]),
                probability=percent(m["probability"])))  # fmt: skip
    return "\n".join(lines)
