"""Each request in its own language: `?lang=`, then the `provador_lang` cookie (the page's
switch), then the browser's Accept-Language; English otherwise. Errors, the page and the
localized fields of answers follow it; labels and every other field stay canonical."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from provador.i18n import from_accept_language, language, language_of

COOKIE = "provador_lang"


def request_language(query_string: bytes, headers: dict[bytes, bytes]) -> str:
    asked = parse_qs(query_string.decode("latin-1")).get("lang", [None])[0]
    if language_of(asked):
        return language_of(asked)
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header is the client's business, not an error here
        cookie = SimpleCookie()
    if COOKIE in cookie and language_of(cookie[COOKIE].value):
        return language_of(cookie[COOKIE].value)
    return from_accept_language(headers.get(b"accept-language", b"").decode("latin-1")) or "en"


class RequestLanguage:
    """Pure ASGI middleware (outermost, so the lean predict path is covered too)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        with language(request_language(scope.get("query_string", b""), dict(scope["headers"]))):
            await self.app(scope, receive, send)
