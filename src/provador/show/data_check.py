"""`provador data check`'s output: the figures as text or JSON, pictures of the near duplicates
across the files and of the labels a model doubts, and data-check.json."""

from __future__ import annotations

from pathlib import Path

from provador.base import _files
from provador.base.i18n import N_, _, class_name, number, percent
from provador.core.datasets import load_dataset
from provador.show import plots
from provador.work.data_check import check, training_and_test

SHOWN = 32  # pairs or doubts drawn
SET_NAMES = {"train": N_("train"), "test": N_("test")}


def write_check(dataset: str, data_dir, run, near: float, output: str | Path, doubt: float = 0.02) -> dict:
    """Check the dataset (a run's own when `run` is given), draw its pictures in `output`, and
    return the result (`provador.work.data_check.DataCheck.to_dict`, with the pictures' paths)."""
    probabilities = None
    if run is not None:
        from provador.records import runs
        from provador.work.inference import Predictor

        run = runs.resolve_run(run)
        dataset = run.recipe.data.dataset
    data = load_dataset(dataset, data_dir, validation=1, progress=False)
    names = list(data.class_names)
    x_train, y_train, x_test, y_test = training_and_test(data)
    if run is not None:
        predictor = Predictor(run)
        probabilities = {
            "train": predictor.predict_probabilities(x_train),
            "test": predictor.predict_probabilities(x_test),
        }
    found = check(data, near=near, probabilities=probabilities, doubt=doubt)
    result = found.to_dict()
    result["dataset"], result["classes"], result["doubt_threshold"] = dataset, names, doubt
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    pictures = {}
    across = found.near_pairs["across"][:SHOWN]
    if across:
        captions = [_("train {a} · test {b}: {difference}").format(a=a, b=b, difference=percent(d, 2))
                    for a, b, d in across]  # fmt: skip
        pictures["duplicates"] = str(plots.image_pairs(
            [(x_train[a], x_test[b]) for a, b, _d in across], captions,
            _("Test images with a near copy in the training file (mean pixel difference)"), output / "duplicates.png",
        ))  # fmt: skip
    if found.doubts:
        shown = found.doubts[:SHOWN]
        images = [(x_train if d["set"] == "train" else x_test)[d["index"]] for d in shown]
        captions = [_("{set} {index}\nlabel {label}\nsays {answer} {probability}").format(
            set=_set_name(d), index=d["index"], label=class_name(names[d["label"]]), answer=class_name(names[d["answer"]]),
            probability=percent(d["answer_probability"], 0)) for d in shown]  # fmt: skip
        pictures["doubts"] = str(plots.image_grid(
            images, captions, _("Labels the model disagrees with most: candidates for mislabels"), output / "doubts.png"
        ))  # fmt: skip
    result["pictures"] = pictures
    _files.write_json(output / "data-check.json", result)
    result["report"] = str(output / "data-check.json")
    return result


def _set_name(doubt: dict) -> str:
    name = SET_NAMES[doubt["set"]]  # a variable: older Babel would extract a subscript's key as a message
    return _(name)


def format_check(result: dict) -> str:
    exact, near = result["exact_duplicates"], result["near_duplicates"]
    lines = [
        _("{dataset}: {train} training and {test} test images").format(
            dataset=result["dataset"], train=number(result["images"]["train"], 0), test=number(result["images"]["test"], 0)),
        _("Exact duplicates: {train} within training, {test} within test, {across} across").format(**exact),
        _("Near duplicates (mean pixel difference ≤ {near}): {train} pairs within training, {test} within test, "
          "{across} across").format(near=percent(result["near_threshold"], 1), **near),
        _("Test images with a copy in training: {count}").format(count=result["test_images_also_in_training"]),
    ]  # fmt: skip
    if result.get("clean_test"):
        clean = result["clean_test"]
        lines.append(_("Test accuracy {accuracy}; without the {left_out} test images found in training: {clean}").format(
            accuracy=number(clean["accuracy"]), left_out=clean["left_out"],
            clean=number(clean["clean_accuracy"]) if clean["clean_accuracy"] is not None else "-"))  # fmt: skip
        lines.append(_("Labels the model disagrees with (the label's probability under {doubt}): {count}").format(
            doubt=percent(result["doubt_threshold"], 0), count=len(result["label_doubts"])))  # fmt: skip
    for name, path in result["pictures"].items():
        lines.append(f"{name}: {path}")
    lines.append(_("Details: {path}").format(path=result["report"]))
    return "\n".join(lines)


__all__ = ["write_check", "format_check"]
