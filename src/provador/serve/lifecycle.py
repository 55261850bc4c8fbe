"""The server's life: connections that must not hang, and a stop that drops no request.

- A client that sends its request headers a byte a second is cut off after HEADER_SECONDS (uvicorn
  times out idle keep-alive connections, but not a request that never finishes arriving); bodies
  are bounded in `read_limited`.
- SIGTERM (what systemd, Docker and Kubernetes send) drains: requests in flight are answered, new
  ones get 503 with `Retry-After`, and the server exits once none is left or after DRAIN_SECONDS.
  Ctrl-C stops at once, as uvicorn does.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from provador.base.i18n import _
from provador.serve.http import error_content, json_bytes
from provador.serve.operations import log

RETRY_AFTER_SECONDS = 5


@dataclass
class Traffic:
    """Requests in flight, and whether the server has stopped taking new ones."""

    in_flight: int = 0
    draining: bool = False


class Draining:
    """ASGI middleware (outermost): counts requests in flight; while draining, answers 503."""

    def __init__(self, app, traffic: Traffic):
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.traffic.draining:
            body = json_bytes(error_content(_("The server is shutting down: retry in a few seconds."), 503))
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()), (b"connection", b"close")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        self.traffic.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.traffic.in_flight -= 1


def timed_protocol(header_seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol, closing a connection whose request headers take longer than
    `header_seconds` to arrive (a "slowloris" client holds a connection open that way)."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer = None

        def data_received(self, data: bytes) -> None:
            between_requests = self.cycle is None or self.cycle.response_complete
            if self._header_timer is None and between_requests:
                self._header_timer = self.loop.call_later(header_seconds, self._headers_too_slow)
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                self.transport.close()

    return HeaderTimeoutProtocol


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM draining the requests in flight before it stops."""

    def __init__(self, config: uvicorn.Config, traffic: Traffic, drain_seconds: float):
        super().__init__(config)
        self.traffic = traffic
        self.drain_seconds = drain_seconds
        self._drain_deadline: float | None = None

    def handle_exit(self, sig, frame) -> None:
        if sig == signal.SIGTERM and self._drain_deadline is None:
            log("draining", in_flight=self.traffic.in_flight, seconds=self.drain_seconds)
            self.traffic.draining = True
            self._drain_deadline = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and (
            self.traffic.in_flight == 0 or time.monotonic() > self._drain_deadline
        ):
            self.should_exit = True
        return await super().on_tick(counter)
