"""Recipes: everything that decides a run's numbers, in one validated TOML file.

Recipes ship inside the package (`seed.toml` is the notebook exactly) or come
from a path. `--set section.key=value` overrides any key; the resolved recipe
is saved in every run so the run can be repeated.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from provador.base.choices import DatasetName, SplitStrategy
from provador.base.errors import ModelError, RecipeError
from provador.base.i18n import _
from provador.base.validation import describe_validation_error


class _Section(BaseModel):
    # inf and nan pass `gt=0`; no setting means them, and training on them only diverges.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DataSection(_Section):
    dataset: DatasetName = "fashion-mnist"
    validation: int | float = Field(default=1000, gt=0)
    split: SplitStrategy = "first"
    max_train: int = Field(default=0, ge=0, description="0 keeps every training image")


class ModelSection(_Section):
    # Architecture parameters (hidden, activation, …) are checked against the registry.
    model_config = ConfigDict(extra="allow")
    architecture: str = "mlp"


class TrainingSection(_Section):
    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "sgd"
    learning_rate: float = Field(default=0.01, gt=0)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(default=0.0, ge=0)
    schedule: Literal["constant", "cosine", "one-cycle"] = "constant"
    batch_size: int = Field(default=32, gt=0)
    epochs: int = Field(default=30, gt=0)
    loss: Literal["sparse_categorical_crossentropy"] = "sparse_categorical_crossentropy"
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    early_stopping_patience: int = Field(default=0, ge=0, description="0 turns it off")


class ExecutionSection(_Section):
    """How fast, never what: these settings do not change the numbers."""

    steps_per_execution: int = Field(default=256, gt=0)
    eval_batch_size: int = Field(default=1024, gt=0)


class AdaptSection(_Section):
    """A run that starts from another run's weights and learns labelled photos (`provador adapt`):
    what it starts from and which photos, each pinned by its hash, and how the photos are mixed in."""

    parent: str = Field(min_length=1, description="the folder of the run it starts from")
    parent_model_sha256: str = ""
    photos: list[str] = Field(min_length=1, description="photo folders, one subfolder per class")
    photos_sha256: str = ""
    labels: dict[str, str] = Field(default={}, description="classes of folders named otherwise (--label)")
    photo_validation: float = Field(default=0.2, gt=0, lt=1, description="share of each class's photos held out")
    photo_share: float = Field(default=0.5, gt=0, lt=1, description="share of each epoch's images that are photos")
    fashion_images: int = Field(default=20000, ge=0, description="dataset images mixed in, so it keeps what it knew")


# A recipe's name starts its run folder's name: a plain word, never a path (`../x`, `/tmp/x`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Recipe(_Section):
    name: str = Field(default="custom", pattern=NAME_PATTERN, description="letters, digits, . _ -; at most 64")
    description: str = ""
    seed: int = Field(default=42, ge=0, le=2**32 - 1)  # NumPy and Keras seeds are 32-bit
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    execution: ExecutionSection = ExecutionSection()
    adapt: AdaptSection | None = None

    @model_validator(mode="after")
    def _check_model_params(self) -> Recipe:
        from provador.core.models import validate_params

        params = self.model.model_dump(exclude={"architecture"})
        try:
            validate_params(self.model.architecture, params)
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def model_params(self) -> dict[str, Any]:
        return self.model.model_dump(exclude={"architecture"})

    def digest(self) -> str:
        """SHA-256 of what decides the numbers: every setting but the name, the description and
        the execution settings (which change speed only). A checkpoint records it."""
        data = self.model_dump(mode="json", exclude={"name", "description", "execution"}, exclude_none=True)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def to_toml(self) -> str:
        header = f"# provador recipe `{self.name}` (resolved)\n"
        return header + tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    def with_overrides(self, overrides: dict[str, Any], origin: str = "--set") -> Recipe:
        """A new recipe with dotted keys (`training.epochs`) replaced, validated again; errors
        name `origin` (the option the values came from)."""
        data = self.model_dump(mode="json")
        new_architecture = overrides.get("model.architecture")
        if new_architecture is not None and new_architecture != self.model.architecture:
            # Another architecture: its own defaults, not the old one's parameters.
            data["model"] = {"architecture": new_architecture}
        for dotted, value in overrides.items():
            _assign(data, dotted, value)
        return validate(data, origin=origin)


def _assign(data: dict, dotted: str, value: Any) -> None:
    *sections, key = dotted.split(".")
    node = data
    for section in sections:
        if not isinstance(node.get(section), dict):
            raise RecipeError(
                _("Unknown recipe section `{section}` in `{key}`. Known sections: {known}.").format(
                    section=section, key=dotted, known=", ".join(k for k, v in data.items() if isinstance(v, dict))
                )
            )
        node = node[section]
    node[key] = value


def validate(data: dict, origin: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(
            _("Invalid recipe ({origin}):").format(origin=origin) + "\n" + describe_validation_error(exc, schema=Recipe)
        ) from None


def list_recipes() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def adapt_overlay() -> dict:
    """The settings `provador adapt` lays over the parent run's recipe (`recipes/overlays/adapt.toml`)."""
    text = resources.files(__name__).joinpath("overlays", "adapt.toml").read_text()
    return parse_toml(text, "adapt.toml")


def load_recipe(name_or_path: str | Path = "seed") -> Recipe:
    """Load a shipped recipe by name (`seed`) or a TOML file by path."""
    text, origin = _read_recipe_text(str(name_or_path))
    data = parse_toml(text, origin)
    if "name" not in data:
        data["name"] = Path(origin).stem
    return validate(data, origin=origin)


def parse_toml(text: str, origin: str) -> dict:
    """TOML as a dict, or a RecipeError that names the file (also for nesting so deep that the
    parser runs out of stack, which is no recipe)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(_("{origin} is not valid TOML: {reason}.").format(origin=origin, reason=exc)) from None
    except RecursionError:
        raise RecipeError(
            _("{origin} nests tables or arrays too deeply to be a recipe.").format(origin=origin)
        ) from None


def _read_recipe_text(name_or_path: str) -> tuple[str, str]:
    if name_or_path in list_recipes():
        return resources.files(__name__).joinpath(f"{name_or_path}.toml").read_text(), f"{name_or_path}.toml"
    path = Path(name_or_path).expanduser()
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(
                _("Cannot read recipe {path}: {reason}. Expected a UTF-8 TOML file.").format(path=path, reason=exc)
            ) from None
    if path.suffix == ".toml" or "/" in name_or_path:  # meant as a file
        raise RecipeError(
            _("Recipe file {path} does not exist. Check the path (relative to {cwd}), or name a shipped recipe: "
              "{names}.").format(path=path, cwd=Path.cwd(), names=", ".join(list_recipes()))
        )  # fmt: skip
    close = difflib.get_close_matches(name_or_path, list_recipes(), n=1)
    raise RecipeError(
        _("Unknown recipe {name!r}: expected one of the shipped recipes ({names}) or the path of a .toml file.").format(
            name=name_or_path, names=", ".join(list_recipes())
        )
        + (" " + _("Did you mean `{word}`?").format(word=close[0]) if close else "")
    )


def parse_override(assignment: str) -> tuple[str, Any]:
    """Parse `key=value` from --set; the value is TOML (`[512, 256]`, `0.1`, `true`) or a bare word."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(
            _("Expected --set KEY=VALUE, e.g. --set training.epochs=5. Received: {value!r}").format(value=assignment)
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as adam or one-cycle
    except RecursionError:
        raise RecipeError(_("--set {key}: the value nests arrays too deeply.").format(key=key.strip())) from None
    return key.strip(), value
