"""POST /v1/predict with default parameters, answered before FastAPI's routing.

A pure ASGI middleware: for `POST /v1/predict` without a query string it reads the
body, calls the same `answer_predict` as the FastAPI route, and sends the JSON itself.
Every other request (and a predict request with `?top_k=` or `?include_input=`, whose
parameters FastAPI validates) goes on to FastAPI unchanged. The route stays the one
documented at /docs. Errors other than ApiError propagate to Starlette's
ServerErrorMiddleware outside, which answers 500, as for any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from provador.serve.http import ApiError, json_bytes, read_limited

PATH = "/v1/predict"


class PredictFastPath:
    def __init__(self, app, answer: Callable[[bytes, str], Awaitable[dict]], max_body: int, body_seconds: float):
        self.app = app
        self.answer = answer
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or scope["query_string"]:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])  # ASGI servers give lower-case names
        length = headers.get(b"content-length", b"").decode("latin-1") or None
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        try:
            body = await read_limited(_body_chunks(receive), length, self.max_body, self.body_seconds)
            status, content = 200, json_bytes(await self.answer(body, content_type))
        except ApiError as exc:
            status, content = exc.status, exc.body()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": content})


async def _body_chunks(receive):
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
