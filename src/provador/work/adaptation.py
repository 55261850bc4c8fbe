"""Teach a trained run your own photos: a new run that starts from its weights (transfer learning,
the lesson that follows the notebook in the book) and learns labelled photo folders mixed with
the dataset it knew.

The new run is a run like any other (`evaluate`, `predict`, `serve`, `export`, `report`,
`runs --compare`, `train --resume`); its recipe is the parent's model and data with the settings
of `recipes/overlays/adapt.toml`, and pins the parent's model and the photos by their hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provador.base.choices import RUNS_DIR
from provador.base.errors import RecipeError, RunError
from provador.base.i18n import _, class_name, number
from provador.core.datasets import dataset_for
from provador.core.photo_folders import PhotoSet, adapted_dataset, check_can_learn, read_photo_folders
from provador.core.recipes import adapt_overlay, validate
from provador.records import runs
from provador.work import training
from provador.work.tracking import Tracking


def adapt(
    run: runs.Run | str | Path | None = None,
    photos: list[str | Path] | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    runs_dir: str | Path = RUNS_DIR,
    data_dir: str | Path | None = None,
    quiet: bool = False,
    resume: runs.Run | str | Path | None = None,
    keep_checkpoints: bool = False,
    labels: dict[str, str] | None = None,
    then: training.Then | None = None,
    track=None,
) -> runs.Run:
    """Fine-tune a completed run on labelled photo folders (each: one subfolder per class) and
    return the new run; `labels` names the class of folders named otherwise; `resume=RUN`
    continues an adapted run that stopped; `then` and `track` as in `training.train`
    (`provador.adapt` draws the report)."""
    if resume is not None:
        if run is not None or photos or labels:
            raise RecipeError(_("A resumed run keeps its own parent and photos: drop RUN and --photos with --resume."))
        return training.train(
            resume=resume,
            overrides=overrides,
            epochs=epochs,
            seed=seed,
            data_dir=data_dir,
            quiet=quiet,
            keep_checkpoints=keep_checkpoints,
            then=then,
            track=track,
        )  # refuses what a resume cannot change
    if run is None or not photos:
        raise RecipeError(_("Name the run to adapt and at least one photo folder: provador adapt RUN --photos DIR."))
    tracking = Tracking.parse(track)
    parent = _completed(runs.resolve_run(run))
    recipe = adapted_recipe(parent, overrides, epochs, seed)
    dataset = dataset_for(recipe, data_dir, progress=not quiet)
    if list(dataset.class_names) != parent.class_names:
        raise RunError(
            _("Run {run} was trained on the classes {theirs}, the data found now has {ours}. Pass the --data-dir it "
              "was trained on.").format(run=parent.path, theirs=", ".join(parent.class_names),
                                        ours=", ".join(dataset.class_names))
        )  # fmt: skip
    photo_set = read_photo_folders(photos, dataset.class_names, progress=not quiet, labels=labels)
    check_can_learn(photo_set)
    if not quiet:
        print(describe(photo_set))
    recipe = recipe.with_overrides(
        {"adapt.parent_model_sha256": parent.model_digest(), "adapt.photos_sha256": photo_set.content_sha256(),
         "adapt.photos": [str(Path(p).resolve()) for p in photos], "adapt.labels": dict(labels or {})},
        origin="--photos")  # fmt: skip
    mixed = adapted_dataset(dataset, photo_set, recipe.adapt.photo_validation, recipe.adapt.photo_share,
                            recipe.adapt.fashion_images, recipe.seed)  # fmt: skip
    training.check_fits(recipe, mixed)
    info = {"parent": str(parent.path.resolve()), "photos": {**photo_set.summary(), **mixed.split["photos"]}}
    for noisy in ("skipped", "duplicates"):  # run.json keeps counts; the lists were printed
        info["photos"][noisy] = len(info["photos"][noisy])
    new = runs.new_run(runs_dir, recipe, mixed.class_names, mixed.source.to_dict(), extra=info)
    return training.train_prepared(new, recipe, mixed, quiet, keep_checkpoints, then=then, tracking=tracking)


def _completed(parent: runs.Run) -> runs.Run:
    if parent.status != runs.Status.COMPLETED:
        raise RunError(
            _("Run {run} is {status}: only a completed run can be adapted. Finish it first with "
              "`provador train --resume {run}`.").format(run=parent.path, status=_(parent.status))
        )  # fmt: skip
    parent.model_path  # noqa: B018 (says why when there is no model)
    return parent


def adapted_recipe(parent: runs.Run, overrides=None, epochs=None, seed=None):
    """The parent's recipe with the adapt overlay, `--set`, `--epochs` and `--seed` applied; the
    model cannot change (the weights are the parent's)."""
    overrides = dict(overrides or {})
    pinned = ("adapt.parent", "adapt.parent_model_sha256", "adapt.photos", "adapt.photos_sha256", "adapt.labels")
    model_keys = [key for key in overrides if key.split(".")[0] == "model" or key in pinned]
    if model_keys:
        raise RecipeError(
            _("An adapted run keeps its parent's model and the photos it is given: {keys} cannot be set. Train a new "
              "run for another model; name photos with --photos.")
            .format(keys=", ".join(model_keys))
        )  # fmt: skip
    data = parent.recipe.model_dump(mode="json", exclude_none=True)
    overlay = adapt_overlay()
    data["name"] = f"{parent.recipe.name}-adapted"[:64]
    data["description"] = _("{recipe} run {run} adapted to labelled photos").format(
        recipe=parent.recipe.name, run=parent.name
    )
    data["training"] = {**data["training"], **overlay["training"]}
    data["adapt"] = {**overlay["adapt"], "parent": str(parent.path.resolve()), "photos": ["(given with --photos)"]}
    recipe = validate(data, origin="adapt.toml")
    return training.resolve_recipe(recipe, overrides, epochs, seed)


def describe(photo_set: PhotoSet) -> str:
    """Photos per class, and what was left out (the lines `data info --photos` and `adapt` print)."""
    lines = [
        _("Photos: {count} in {classes} classes from {folders}").format(
            count=number(len(photo_set), 0), classes=sum(1 for n in photo_set.per_class().values() if n),
            folders=", ".join(photo_set.folders))
    ]  # fmt: skip
    width = max(len(class_name(name)) for name in photo_set.class_names)
    lines += [f"  {class_name(name):<{width}}  {count:>5}" for name, count in photo_set.per_class().items()]
    if photo_set.from_cache:
        lines.append(_("{count} prepared before (from the cache)").format(count=number(photo_set.from_cache, 0)))
    if photo_set.duplicates:
        lines.append(_("{count} copies of photos already found, counted once").format(
            count=number(len(photo_set.duplicates), 0)))  # fmt: skip
    for folder in photo_set.left_out:
        lines.append(_("Left out {folder}: its name is no class").format(folder=folder))
    for path, why in photo_set.skipped:
        lines.append(_("Skipped {path}: {reason}").format(path=path, reason=why))
    if photo_set.skipped:
        lines.append(_("{count} files skipped (listed above)").format(count=number(len(photo_set.skipped), 0)))
    return "\n".join(lines)
