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
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from provador.errors import RecipeError, SpaceError
from provador.recipes import Recipe, describe_validation_error

SECTIONS = ("model", "training", "execution")
# The validation split and the seed decide what a trial's score means: they stay fixed.
FIXED_SECTIONS = {"data": "the validation split must be the same for every trial, or their scores cannot be compared"}
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
            raise ValueError(f"empty range: low ({self.low}) is above high ({self.high}); swap them")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, received low = {self.low}")
        if self.log and self.step is not None:
            raise ValueError("give either log = true or a step, not both")
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
            raise ValueError(f"choices repeat a value: {self.choices}")
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
            raise ValueError("`layers` and `width` need whole-number bounds (e.g. low = 1, high = 3)")
        if self.layers.low < 1 or self.width.low < 1:
            raise ValueError("`layers` and `width` start at 1 or more")
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

    def check_against(self, recipe: Recipe) -> None:
        """Every bound and every choice must make a valid recipe: refuse now, not at trial 17."""
        for key, param in self.params.items():
            for value in param.candidates():
                try:
                    recipe.with_overrides({key: value})
                except RecipeError as exc:
                    detail = str(exc).split("\n", 1)[-1]
                    raise SpaceError(
                        f"Search space {self.origin}: `{key}` = {value!r} is not accepted by recipe "
                        f"`{recipe.name}`:\n{detail}\nFix the range or choices of `{key}` in the space."
                    ) from None

    def to_dict(self) -> dict:
        """A plain, comparable form (stored with a study to notice a changed space)."""
        return {"name": self.name, "params": {k: p.model_dump() for k, p in sorted(self.params.items())}}

    def describe(self) -> list[str]:
        return [f"{key}: {_describe(param)}" for key, param in self.params.items()]


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
            f"Search space {origin}: expected `{key}` to be a table such as {{ low = 1, high = 10 }}, "
            f"{{ choices = [...] }} or {{ layers = {{...}}, width = {{...}} }}. Received: {table!r}"
        )
    kind = Choices if "choices" in table else Layers if "layers" in table else Range
    try:
        return kind.model_validate(table)
    except ValidationError as exc:
        raise SpaceError(
            f"Search space {origin}: invalid `{key}`:\n"
            + describe_validation_error(exc, prefix=key).replace("recipe key", "space key")
        ) from None


def parse_space(data: dict, origin: str, name: str) -> SearchSpace:
    params: dict[str, Parameter] = {}
    for key, value in data.items():
        if key in TOP_LEVEL_KEYS:
            continue
        if key in FIXED_SECTIONS:
            raise SpaceError(f"Search space {origin}: `{key}` cannot be searched: {FIXED_SECTIONS[key]}.")
        if key not in SECTIONS or not isinstance(value, dict):
            hint = difflib.get_close_matches(key, SECTIONS + TOP_LEVEL_KEYS, n=1)
            raise SpaceError(
                f"Search space {origin}: unknown key `{key}`."
                + (f" Did you mean `{hint[0]}`?" if hint else "")
                + f" Expected tables named after recipe sections ({', '.join(SECTIONS)}) "
                f"and optionally {', '.join(TOP_LEVEL_KEYS)}."
            )
        for param_key, table in value.items():
            dotted = f"{key}.{param_key}"
            params[dotted] = _parse_param(dotted, table, origin)
    if not params:
        raise SpaceError(f"Search space {origin} has no parameters: add e.g. [training] learning_rate = {{ ... }}.")
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
            f"Unknown search space {key!r}: expected one of the shipped spaces ({', '.join(list_spaces())}) "
            "or the path of a .toml file (`provador spaces` lists them)."
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{origin} is not valid TOML: {exc}.") from None
    space = parse_space(data, origin, Path(origin).stem)
    return SearchSpace(**{**space.__dict__, "text": text})


__all__ = ["SearchSpace", "load_space", "list_spaces", "parse_space", "Range", "Choices", "Layers"]
