"""Each request in its own language: `?lang=`, then the `provador_lang` cookie (the page's
switch), then the browser's Accept-Language; English otherwise. Errors, the page and the
localized fields of answers follow it; labels and every other field stay canonical."""

from __future__ import annotations

from urllib.parse import parse_qs

from provador.base.i18n import from_accept_language, language, language_of

COOKIE = "provador_lang"
COOKIE_HEADER_LIMIT = 8192  # bytes of the Cookie header looked at; what follows is not ours to read


def cookie_value(header: bytes, name: str) -> str | None:
    """One cookie's value, found by a linear scan of at most COOKIE_HEADER_LIMIT bytes.

    Not http.cookies: Python 3.11's parser is quadratic on backslashes (CVE-2024-7592), and it
    ran on every request: one 64 KB Cookie header held the event loop for 12 s."""
    for pair in header[:COOKIE_HEADER_LIMIT].decode("latin-1").split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def request_language(query_string: bytes, headers: dict[bytes, bytes]) -> str:
    asked = parse_qs(query_string.decode("latin-1")).get("lang", [None])[0]
    if language_of(asked):
        return language_of(asked)
    chosen = language_of(cookie_value(headers.get(b"cookie", b""), COOKIE))
    if chosen:
        return chosen
    return from_accept_language(headers.get(b"accept-language", b"").decode("latin-1")) or "en"


class RequestLanguage:
    """Pure ASGI middleware (outermost, so the lean predict path is covered too).

    It also takes the Cookie header away from everything inside: the language is the only
    cookie provador reads, and FastAPI parses every request's cookies with http.cookies'
    quadratic unquoting (CVE-2024-7592) before any route runs."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        chosen = request_language(scope.get("query_string", b""), headers)
        if b"cookie" in headers:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"cookie"]}
        with language(chosen):
            await self.app(scope, receive, send)
