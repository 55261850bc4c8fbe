"""Languages: English and Brazilian Portuguese, through standard gettext catalogs.

Every string a person reads is marked with `_()` (or `ngettext`), extracted and compiled with
Babel (`make translations`), and looked up in `provador/locale/<lang>/LC_MESSAGES/provador.mo`.
The language is chosen in gettext's order: `--lang`, then `PROVADOR_LANG`, then `LANGUAGE`,
`LC_ALL`, `LC_MESSAGES` and `LANG`; anything not Portuguese is English. It is held in a
context variable, so a web request can answer in its own language without touching others.

Machine-readable output (`--json`, API fields, file contents) stays language-neutral: the
English class names are the canonical labels; `class_name()` gives the localized one.
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
import os
import struct
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from provador.base.errors import ProvadorError

DOMAIN = "provador"
LANGUAGES = {"en": "English", "pt": "português (Brasil)"}
LOCALE_DIR = Path(__file__).parent.parent / "locale"  # src/provador/locale, beside the code folders
# Babel's locale for numbers: the decimal comma for Portuguese.
NUMBER_LOCALES = {"en": "en_US", "pt": "pt_BR"}
ENVIRONMENT = ("PROVADOR_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_current: ContextVar[str | None] = ContextVar("provador_language", default=None)


def language_of(value: str | None) -> str | None:
    """`pt`, `pt_BR.UTF-8`, `pt-PT`, `fr:pt_BR` → "pt"; `en_GB` → "en"; anything else → None.

    A colon-separated list (LANGUAGE's form) is a list of preferences: the first known one wins.
    """
    for part in (value or "").split(":"):
        code = part.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
        if code in LANGUAGES:
            return code
    return None


def from_environment() -> str:
    """The language the environment asks for, in gettext's order; English when none fits."""
    for name in ENVIRONMENT:
        value = os.environ.get(name)
        if value:
            return language_of(value) or "en"
    return "en"


def from_accept_language(header: str | None) -> str | None:
    """The best of our languages in an HTTP Accept-Language header (`pt-BR,pt;q=0.9,en;q=0.8`)."""
    ranked = []
    for position, item in enumerate((header or "").split(",")):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        code = language_of(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def check_language(value: str) -> str:
    """A `--lang` value, checked: an unknown one is an error that lists the available ones."""
    code = language_of(value)
    if code is None:
        available = ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())
        raise ProvadorError(
            _("Expected --lang to be one of: {available}. Received: {value!r}").format(available=available, value=value)
        )
    return code


def current() -> str:
    return _current.get() or from_environment()


def set_language(code: str | None) -> None:
    """Choose the language for this context (None: back to the environment's)."""
    _current.set(check_language(code) if code else None)


@contextlib.contextmanager
def language(code: str | None) -> Iterator[str]:
    """`with language("pt"):` — for one request, one report, one test."""
    token = _current.set(check_language(code) if code else None)
    try:
        yield current()
    finally:
        _current.reset(token)


@cache
def _translations(code: str) -> _gettext.NullTranslations:
    try:
        return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[code], fallback=True)
    except (OSError, ValueError, LookupError, IndexError, struct.error) as exc:  # a damaged catalog (.mo)
        import sys

        print(
            f"Warning: the {code} translations of provador cannot be read ({type(exc).__name__}: {exc}); "
            "messages are shown in English. Reinstall provador (pip install --force-reinstall provador) or rebuild "
            "the catalogs with `make translations`.",
            file=sys.stderr,
        )
        return _gettext.NullTranslations()


def _(message: str) -> str:
    """The message in the current language (the English text when it has no translation)."""
    return _translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (module-level constants)."""
    return message


def number(value: float, digits: int = 4) -> str:
    """`0.8797` and `59,000` in English, `0,8797` and `59.000` in Portuguese."""
    from babel.numbers import format_decimal

    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return format_decimal(value, format=pattern, locale=NUMBER_LOCALES[current()])


def significant(value: float) -> str:
    """Up to three significant digits, as `f"{value:.3g}"` writes them: `0.648`, `1`; `0,648` in Portuguese."""
    from babel.numbers import format_decimal

    return format_decimal(value, format="@##", locale=NUMBER_LOCALES[current()])


def percent(value: float, digits: int = 1) -> str:
    """`87.9%` in English, `87,9%` in Portuguese."""
    from babel.numbers import format_percent

    pattern = "0." + "0" * digits + "%" if digits else "0%"
    return format_percent(value, format=pattern, locale=NUMBER_LOCALES[current()])


# Fashion-MNIST's classes in Portuguese, as TensorFlow's pt-BR "Classificação básica" tutorial
# names them (in the singular). The English names stay the labels in files and APIs.
CLASS_NAMES = {
    "T-shirt/top": N_("T-shirt/top"),
    "Trouser": N_("Trouser"),
    "Pullover": N_("Pullover"),
    "Dress": N_("Dress"),
    "Coat": N_("Coat"),
    "Sandal": N_("Sandal"),
    "Shirt": N_("Shirt"),
    "Sneaker": N_("Sneaker"),
    "Bag": N_("Bag"),
    "Ankle boot": N_("Ankle boot"),
}


# Keras' names for what it measures each epoch, and what a reader is shown.
METRIC_NAMES = {
    "loss": N_("loss"),
    "accuracy": N_("accuracy"),
    "val_loss": N_("val_loss"),
    "val_accuracy": N_("val_accuracy"),
}


def metric_name(key: str) -> str:
    return _(METRIC_NAMES[key]) if key in METRIC_NAMES else key


def class_name(label: str) -> str:
    """A canonical (English) class label in the current language; other datasets' labels unchanged."""
    return _(CLASS_NAMES[label]) if label in CLASS_NAMES else label


__all__ = ["_", "ngettext", "N_", "LANGUAGES", "current", "set_language", "language", "check_language",
           "from_environment", "number", "significant", "percent", "class_name", "metric_name"]  # fmt: skip
