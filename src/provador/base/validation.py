"""Pydantic's validation errors as messages a person can act on: the key, what is allowed, what was
received, and the closest known key for a typo. Shared by recipes, model parameters and search
spaces (a module of its own, so that none of them imports another for it)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError

from provador.base.i18n import _


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return list(model.model_fields)


def describe_validation_error(exc: ValidationError, prefix: str = "", schema=None, kind: str = "recipe") -> str:
    """Turn Pydantic's errors into messages that name the key and the allowed values."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc)
        if err["type"] == "extra_forbidden":
            known = _known_keys(schema, loc) if schema else []
            hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
            lines.append(
                (_("Unknown space key `{key}`.") if kind == "space" else _("Unknown recipe key `{key}`.")).format(
                    key=key
                )
                + (
                    " " + _("Did you mean `{word}`?").format(word=".".join(map(str, loc[:-1] + (hint[0],))))
                    if hint
                    else ""
                )
                + (" " + _("Known keys here: {keys}.").format(keys=", ".join(known)) if known else "")
            )
        elif err["type"] == "string_pattern_mismatch" and loc == ("name",):
            lines.append(
                _("Invalid `name`: expected a plain name of letters, digits, `.`, `_` or `-` (at most 64; it names "
                  "the run's folder, so no `/` or `..`). Received: {value!r}").format(value=err.get("input"))
            )  # fmt: skip
        elif err["type"] == "value_error" and not loc:
            lines.append(err["msg"].removeprefix("Value error, "))
        else:
            message = err["msg"].removeprefix("Value error, ")
            message = message[0].lower() + message[1:]
            line = _("Invalid `{key}`: {message}. Received: {value!r}").format(
                key=key, message=message, value=err.get("input")
            )
            if err["type"] == "list_type" and not isinstance(err.get("input"), (dict, list)):
                line += ". " + _("A list is written in brackets: {key}=[{value}] (several: [{value}, {value}]).").format(
                    key=key, value=err.get("input"))  # fmt: skip
            lines.append(line)
    return "\n".join(lines)
