"""The web page, in the request's language: the HTML with its words from the catalog, and the
words the page's script needs, handed to it as JSON (app.js has no strings of its own)."""

from __future__ import annotations

import html
import json

from provador.base.i18n import LANGUAGES, N_, _, class_name, current

# What app.js shows: handed to it translated, keyed by the English text.
SCRIPT_TEXT = (
    N_("Loading the model…"), N_("Model {id} · {architecture}"), N_(" · test accuracy {accuracy}"),
    N_("Could not reach the provador server: {error}"), N_("The server did not answer: {error}"),
    N_("The server answered {status}."), N_("the model is not sure"),
    N_("Kept as {label}: {count} photos of it so far."), N_("Already kept as {label}."),
)  # fmt: skip

_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header>
  <nav id="languages" aria-label="{languages_label}">{switch}</nav>
  <h1>provador</h1>
  <p id="model-line">{loading}</p>
</header>
<main>
  <section id="inputs">
    <div id="drop" tabindex="0">
      <p>{drop}</p>
      <label class="button">{choose}<input id="file" type="file" accept="image/*" hidden></label>
      <label class="button">{camera}<input id="camera" type="file" accept="image/*" capture="environment" hidden></label>
      <button id="random" type="button">{random}</button>
    </div>
    <div id="draw-box">
      <p>{draw}</p>
      <canvas id="canvas" width="280" height="280" aria-label="{drawing_area}"></canvas>
      <div><button id="predict-drawing" type="button">{predict_drawing}</button>
           <button id="clear" type="button">{clear}</button></div>
    </div>
  </section>
  <p id="error" role="alert" hidden></p>
  <section id="result" hidden>
    <div class="images">
      <figure><img id="input-preview" alt="{your_image}"><figcaption>{your_image}</figcaption></figure>
      <figure><img id="model-input" alt="{model_saw_alt}" class="pixelated"><figcaption>{model_saw}</figcaption></figure>
    </div>
    <div class="answer">
      <p class="label-line"><span id="label"></span> <span id="probability"></span></p>
      <p id="confidence-note" hidden>{not_sure}</p>
      <ol id="bars"></ol>
      <div id="collect" hidden>
        <p>{this_is}</p>
        <div id="collect-buttons"></div>
        <p id="collect-status" role="status"></p>
      </div>
    </div>
  </section>
</main>
<footer>{footer} <a href="/docs">{api_docs}</a></footer>
<script>window.PROVADOR = {script_data};</script>
<script src="/static/app.js"></script>
</body>
</html>
"""


def render(class_names: list[str], collect: bool = False) -> str:
    """The page in the current language (see provador.base.i18n.language); with `collect`, each answer
    is followed by "this is a …" buttons that keep the photo as an example of a class."""
    e = html.escape
    switch = " · ".join(
        f'<a href="?lang={code}" data-lang="{code}"{" aria-current=true" if code == current() else ""}>'
        f"{e(name.split(' (')[0].capitalize())}</a>"
        for code, name in LANGUAGES.items()
    )
    script_data = {
        "lang": current(),
        "text": {message: _(message) for message in SCRIPT_TEXT},
        "classes": {name: class_name(name) for name in class_names},
        "collect": collect,
    }
    return _PAGE.format(
        lang=current(),
        title=e(_("provador · what is this garment?")),
        languages_label=e(_("Language")),
        switch=switch,
        loading=e(_("Loading the model…")),
        drop=_("{strong}Drop a photo of a garment here{end}, paste one (Ctrl+V), or").format(strong="<b>", end="</b>"),
        choose=e(_("choose a file")),
        camera=e(_("take a photo")),
        this_is=e(_("Teach it: this is a …")),
        random=e(_("random test image")),
        draw=e(_("…or draw one (dark on white, like a product photo):")),
        drawing_area=e(_("drawing area")),
        predict_drawing=e(_("predict the drawing")),
        clear=e(_("clear")),
        your_image=e(_("your image")),
        model_saw_alt=e(_("the 28×28 image the model saw")),
        model_saw=e(_("what the model saw (28×28)")),
        not_sure=_("Not sure: {reason}. Look at the other bars.").format(
            reason=f'<span id="confidence-reason">{e(_("the model is not sure"))}</span>'
        ),
        footer=e(_("Everything on this page is served by provador itself; it works offline.")),
        api_docs=e(_("API docs")),
        # </script> cannot occur in JSON made by json.dumps of these strings, but "<" is escaped anyway.
        script_data=json.dumps(script_data, ensure_ascii=False).replace("<", "\\u003c"),
    )
