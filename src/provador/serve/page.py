"""The web page, in the request's language: the HTML with its words from the catalog, and the
words the page's script needs, handed to it as JSON (app.js has no strings of its own)."""

from __future__ import annotations

from provador.base.i18n import LANGUAGES, N_, _, class_name, current
from provador.show import pages

# What app.js shows: handed to it translated, keyed by the English text.
SCRIPT_TEXT = (
    N_("Loading the model…"), N_("Model {id} · {architecture}"), N_(" · test accuracy {accuracy}"),
    N_("Could not reach the provador server: {error}"), N_("The server did not answer: {error}"),
    N_("The server answered {status}."), N_("the model is not sure"),
    N_("Kept as {label}: {count} photos of it so far."), N_("Already kept as {label}."),
)  # fmt: skip


def render(class_names: list[str], collect: bool = False) -> str:
    """The page in the current language (see provador.base.i18n.language); with `collect`, each answer
    is followed by "this is a …" buttons that keep the photo as an example of a class."""
    script_data = {
        "lang": current(),
        "text": {message: _(message) for message in SCRIPT_TEXT},
        "classes": {name: class_name(name) for name in class_names},
        "collect": collect,
    }
    return pages.render(
        "page.html",
        languages=[(code, name.split(" (")[0].capitalize()) for code, name in LANGUAGES.items()],
        reason=pages.Markup('<span id="confidence-reason">{}</span>').format(_("the model is not sure")),
        markup=pages.Markup,  # the two tags that bold a translated sentence's words
        script_data=script_data,
    )
