"""HTML from Jinja2 templates (show/templates/) with autoescaping: every value a template prints
is escaped, unless it is `Markup` made by the few helpers here, so no page is one forgotten call
away from letting a run's name, a class or a folder write markup into it.

Templates translate with `_("… {name} …", name=value)`: the catalog's text (the same msgids as
in Python, extracted from the templates by `make translations`) is escaped, then `str.format`
fills it with the values, each escaped unless it is Markup (`code(x)`, `bold(x)`).
"""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from provador.base.i18n import _, class_name, current, number, percent, significant

TEMPLATES = Path(__file__).parent / "templates"


def translated(message: str, **values) -> Markup:
    """The message in the reader's language, escaped, with `values` put in (escaped unless Markup)."""
    text = escape(_(message))
    return text.format(**values) if values else text


def code(text) -> Markup:
    return Markup("<code>{}</code>").format(text)


def bold(text) -> Markup:
    return Markup("<b>{}</b>").format(text)


def joined(items, separator: str = ", ") -> Markup:
    """Items as `<code>` joined by `separator` (folder lists)."""
    return Markup(separator).join(code(item) for item in items)


def share(value) -> str:
    return "-" if value is None else percent(value)


def embedded_png(path: Path, alt: str) -> Markup:
    """An <img> that carries its PNG inside the page (a report needs no other file), or a note
    saying the picture was not drawn."""
    if not path.is_file():
        return Markup("<p class=note>{}</p>").format(translated("({name} was not drawn.)", name=path.name))
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Markup('<img alt="{}" src="data:image/png;base64,{}">').format(alt, data)


def _environment(escaped: bool, **helpers) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=escaped, undefined=StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True,
    )  # fmt: skip
    env.globals.update(number=number, percent=percent, significant=significant, class_name=class_name, **helpers)
    return env


@cache
def environment() -> Environment:
    """For HTML: every value escaped unless Markup."""
    return _environment(True, _=translated, lang=current, code=code, bold=bold, joined=joined, share=share)


def render(template: str, **context) -> str:
    """The named template (in show/templates/) filled with `context`, in the current language."""
    return environment().get_template(template).render(**context)


def _plain(message: str, **values) -> str:
    return _(message).format(**values) if values else _(message)


@cache
def text_environment() -> Environment:
    """For Markdown (the model card): the same helpers, nothing escaped (it is not HTML)."""
    return _environment(False, _=_plain)


def render_text(template: str, **context) -> str:
    """A Markdown template (show/templates/*.md) filled with `context`, in the current language."""
    return text_environment().get_template(template).render(**context)


__all__ = ["render", "render_text", "translated", "code", "bold", "embedded_png", "Markup"]
