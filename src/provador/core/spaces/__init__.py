"""Search spaces: for each recipe key, the values a hyperparameter search may try.

A space is a TOML file shaped like a recipe, each key holding a range or a list of choices:

    [training]
    learning_rate = { low = 1e-4, high = 3e-2, log = true }  # a float range on a log scale
    epochs = { low = 5, high = 25, step = 5 }                 # whole numbers when low and high are
    optimizer = { choices = ["adam", "sgd"] }
    [model]
    hidden = { layers = { low = 1, high = 3 }, width = { low = 64, high = 1024, log = true } }
    filters = { layers = { low = 2, high = 3 }, width = { low = 16, high = 48 }, growth = 2 }

`layers`/`width` searches a list (how many layers, and each one's width); with `growth`
only the first width is searched and each next layer is the previous one times `growth`.
A space is checked on load (its shape) and against the recipe it searches (every bound and
every choice must make a valid recipe), so a mistake is reported before any training.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from provador.base.errors import RecipeError, SpaceError
from provador.base.i18n import N_, _
from provador.base.validation import describe_validation_error
from provador.core.recipes import Recipe, parse_toml

SECTIONS = ("model", "training", "execution")
# The validation split and the seed decide what a trial's score means: they stay fixed.
FIXED_SECTIONS = {
    "data": N_("the validation split must be the same for every trial, or their scores cannot be compared")
}
TOP_LEVEL_KEYS = ("name", "description", "recipe")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    """Numbers from `low` to `high`, on a log scale or in steps; whole numbers when both ends are."""

    low: int | float
    high: int | float
    log: bool = False
    step: int | float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Range:
        if self.low > self.high:
            raise ValueError(
                _("empty range: low ({low}) is above high ({high}); swap them").format(low=self.low, high=self.high)
            )
        if self.log and self.low <= 0:
            raise ValueError(_("a log range needs low > 0, received low = {low}").format(low=self.low))
        if self.log and self.step is not None:
            raise ValueError(_("give either log = true or a step, not both"))
        return self

    @property
    def whole(self) -> bool:
        return all(type(v) is int for v in (self.low, self.high, self.step or 1))

    def suggest(self, trial, name: str) -> int | float:
        if self.whole:
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def candidates(self) -> list:
        return [self.low, self.high]


class Choices(_Strict):
    """One of a list of values (strings, numbers, true/false)."""

    choices: list[bool | int | float | str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Choices:
        if len({repr(c) for c in self.choices}) != len(self.choices):
            raise ValueError(_("choices repeat a value: {choices}").format(choices=self.choices))
        return self

    def suggest(self, trial, name: str):
        return trial.suggest_categorical(name, self.choices)

    def candidates(self) -> list:
        return list(self.choices)


class Layers(_Strict):
    """A list of widths: how many (`layers`) and how wide (`width`, or the first width and `growth`)."""

    layers: Range
    width: Range
    growth: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> Layers:
        if not (self.layers.whole and self.width.whole):
            raise ValueError(_("`layers` and `width` need whole-number bounds (e.g. low = 1, high = 3)"))
        if self.layers.low < 1 or self.width.low < 1:
            raise ValueError(_("`layers` and `width` start at 1 or more"))
        return self

    def widths(self, count: int, first: int) -> list[int]:
        return [max(1, round(first * self.growth**i)) for i in range(count)]

    def suggest(self, trial, name: str) -> list[int]:
        count = self.layers.suggest(trial, f"{name}.layers")
        if self.growth:
            return self.widths(count, self.width.suggest(trial, f"{name}.width"))
        return [self.width.suggest(trial, f"{name}.width{i + 1}") for i in range(count)]

    def candidates(self) -> list:
        grow = self.growth or 1.0
        return [
            [max(1, round(self.width.low * grow**i)) for i in range(self.layers.low)],
            [max(1, round(self.width.high * grow**i)) for i in range(self.layers.high)],
        ]


Parameter = Range | Choices | Layers


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: dotted recipe keys (`training.learning_rate`) to what may be tried."""

    name: str
    description: str
    recipe: str | None
    params: dict[str, Parameter]
    origin: str
    text: str

    def suggest(self, trial) -> dict[str, Any]:
        """One trial's values, asked of Optuna's sampler, as recipe overrides."""
        return {key: param.suggest(trial, key) for key, param in self.params.items()}

    def params_of(self, recipe: Recipe) -> dict[str, Any] | None:
        """The recipe's own values as this space's parameters (the first trial a search runs, so it
        starts from the recipe and only keeps what beats it); None when they fall outside the space."""
        from provador.core.models import validate_params

        data = recipe.model_dump(mode="json")
        # The architecture's defaults too: a recipe names only the model parameters it changes.
        data["model"] = validate_params(recipe.model.architecture, recipe.model_params).model_dump(mode="json")
        params: dict[str, Any] = {}
        for key, param in self.params.items():
            section, _sep, name = key.partition(".")
            value = data.get(section, {}).get(name)
            if isinstance(param, Layers):
                if not isinstance(value, list) or not value:
                    return None
                params[f"{key}.layers"] = len(value)
                if param.growth and value != param.widths(len(value), value[0]):
                    return None
                widths = (
                    {f"{key}.width": value[0]}
                    if param.growth
                    else {f"{key}.width{i + 1}": w for i, w in enumerate(value)}
                )
                params.update(widths)
            else:
                params[key] = value
        return params if all(_inside(self, name, value) for name, value in params.items()) else None

    def check_against(self, recipe: Recipe) -> None:
        """Every bound and every choice must make a valid recipe: refuse now, not at trial 17."""
        for key, param in self.params.items():
            for value in param.candidates():
                try:
                    recipe.with_overrides({key: value})
                except RecipeError as exc:
                    detail = str(exc).split("\n", 1)[-1]
                    raise SpaceError(
                        _("Search space {origin}: `{key}` = {value!r} is not accepted by recipe `{recipe}`:").format(
                            origin=self.origin, key=key, value=value, recipe=recipe.name)
                        + f"\n{detail}\n" + _("Fix the range or choices of `{key}` in the space.").format(key=key)
                    ) from None  # fmt: skip

    def to_dict(self) -> dict:
        """A plain, comparable form (stored with a study to notice a changed space)."""
        return {"name": self.name, "params": {k: p.model_dump() for k, p in sorted(self.params.items())}}

    def describe(self) -> list[str]:
        return [f"{key}: {_describe(param)}" for key, param in self.params.items()]


def _inside(space: SearchSpace, name: str, value: Any) -> bool:
    key, _sep, part = name.rpartition(".") if name not in space.params else (name, "", "")
    param = space.params.get(name) or space.params[key]
    if isinstance(param, Choices):
        return value in param.choices
    bounds = param if isinstance(param, Range) else param.layers if part == "layers" else param.width
    if value is None or isinstance(value, (bool, str, list)) or not bounds.low <= value <= bounds.high:
        return False
    return (
        bounds.step is None
        or abs((value - bounds.low) / bounds.step - round((value - bounds.low) / bounds.step)) < 1e-9
    )


def _describe(param: Parameter) -> str:
    if isinstance(param, Choices):
        return " | ".join(str(c) for c in param.choices)
    if isinstance(param, Layers):
        width = _describe(param.width) + (f", then × {param.growth:g} per layer" if param.growth else " each")
        return f"{_describe(param.layers)} layers, width {width}"
    scale = " (log)" if param.log else (f" (step {param.step:g})" if param.step else "")
    return f"{param.low:g} … {param.high:g}{scale}"


def _parse_param(key: str, table: Any, origin: str) -> Parameter:
    if not isinstance(table, dict):
        raise SpaceError(
            _("Search space {origin}: expected `{key}` to be a table such as {examples}. Received: {value!r}").format(
                origin=origin, key=key, value=table,
                examples="{ low = 1, high = 10 }, { choices = [...] } " + _("or") + " { layers = {...}, width = {...} }",
            )
        )  # fmt: skip
    kind = Choices if "choices" in table else Layers if "layers" in table else Range
    try:
        return kind.model_validate(table)
    except ValidationError as exc:
        raise SpaceError(
            _("Search space {origin}: invalid `{key}`:").format(origin=origin, key=key)
            + "\n" + describe_validation_error(exc, prefix=key, kind="space")
        ) from None  # fmt: skip


def parse_space(data: dict, origin: str, name: str) -> SearchSpace:
    params: dict[str, Parameter] = {}
    for key, value in data.items():
        if key in TOP_LEVEL_KEYS:
            continue
        if key in FIXED_SECTIONS:
            raise SpaceError(
                _("Search space {origin}: `{key}` cannot be searched: {why}.").format(
                    origin=origin, key=key, why=_(FIXED_SECTIONS[key])
                )
            )
        if key not in SECTIONS or not isinstance(value, dict):
            hint = difflib.get_close_matches(key, SECTIONS + TOP_LEVEL_KEYS, n=1)
            raise SpaceError(
                _("Search space {origin}: unknown key `{key}`.").format(origin=origin, key=key)
                + (" " + _("Did you mean `{word}`?").format(word=hint[0]) if hint else "")
                + " " + _("Expected tables named after recipe sections ({sections}) and optionally {keys}.").format(
                    sections=", ".join(SECTIONS), keys=", ".join(TOP_LEVEL_KEYS))
            )  # fmt: skip
        for param_key, table in value.items():
            dotted = f"{key}.{param_key}"
            params[dotted] = _parse_param(dotted, table, origin)
    if not params:
        raise SpaceError(
            _("Search space {origin} has no parameters: add e.g. {example}.").format(
                origin=origin, example="[training] learning_rate = { ... }"
            )
        )
    return SearchSpace(
        name=str(data.get("name") or name),
        description=str(data.get("description", "")),
        recipe=data.get("recipe"),
        params=params,
        origin=origin,
        text="",
    )


def list_spaces() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A shipped space by name (`mlp`, `cnn`) or a TOML file by path."""
    if isinstance(name_or_path, SearchSpace):
        return name_or_path
    key = str(name_or_path)
    if key in list_spaces():
        text, origin = resources.files(__name__).joinpath(f"{key}.toml").read_text(), f"{key}.toml"
    elif Path(key).expanduser().is_file():
        text, origin = Path(key).expanduser().read_text(), key
    else:
        raise SpaceError(
            _(
                "Unknown search space {name!r}: expected one of the shipped spaces ({names}) or the path of a .toml "
                "file (`provador spaces` lists them)."
            ).format(name=key, names=", ".join(list_spaces()))
        )
    try:
        data = parse_toml(text, origin)
    except RecipeError as exc:
        raise SpaceError(str(exc)) from None
    space = parse_space(data, origin, Path(origin).stem)
    return SearchSpace(**{**space.__dict__, "text": text})


__all__ = ["SearchSpace", "load_space", "list_spaces", "parse_space", "Range", "Choices", "Layers"]
