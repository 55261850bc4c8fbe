"""HTTP API and web page (`provador serve`)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path

from provador.base.choices import HOST, LIMIT_CONCURRENCY, PORT
from provador.base.errors import ProvadorError
from provador.base.i18n import _
from provador.serve.app import Limits, create_app

__all__ = ["create_app", "Limits", "serve"]


def serve(
    run,
    host: str = HOST,
    port: int = PORT,
    data_dir: str | Path | None = None,
    access_log: bool = False,
    limits: Limits | None = None,
    engine: str = "keras",
    on_listening: Callable[[], None] | None = None,
    collect: str | Path | None = None,
    cors: list[str] | None = None,
    log_format: str = "json",
    limit_concurrency: int | None = LIMIT_CONCURRENCY,
):
    """Run the server until Ctrl-C (at once) or SIGTERM (after the requests in flight).

    Logs go to standard error as JSON lines (`log_format="text"` for a person): start-up,
    refusals, draining, and with `access_log` every request. Past `limit_concurrency`
    connections and requests at once, new ones get 503 rather than memory and a queue.

    The model is loaded and the port bound before `on_listening` is called (the CLI's banner),
    so a model that cannot be served or a port in use is an error, never a banner and then one."""
    import uvicorn

    from provador.serve.lifecycle import DrainingServer, timed_protocol
    from provador.serve.operations import configure_logs

    limits = limits or Limits()
    configure_logs(log_format)
    app = create_app(run, limits=limits, data_dir=data_dir, engine=engine, collect=collect, cors=cors,
                     log_requests=access_log)  # fmt: skip
    listening = bind(host, port)
    if on_listening:
        on_listening()
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, limit_concurrency=limit_concurrency,
        http=timed_protocol(limits.header_seconds), timeout_keep_alive=5,
        timeout_graceful_shutdown=int(limits.drain_seconds) + 1,
    )  # fmt: skip
    DrainingServer(config, app.state.traffic, limits.drain_seconds).run(sockets=[listening])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a ProvadorError that says why not and what to do."""
    sock = None
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        if sock is not None:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = _(
                "port {port} is already in use (another `provador serve`?). Stop that program, or choose "
                "another port: --port {other}"
            ).format(port=port, other=port + 1 if port < 65535 else 8000)
        elif exc.errno == errno.EACCES:
            reason = _("ports below 1024 need administrator rights; use --port 8000 (or another above 1023)")
        else:
            reason = _("{reason}; check --host (an address of this machine, e.g. 127.0.0.1 or 0.0.0.0)").format(
                reason=exc.strerror or exc
            )
        raise ProvadorError(
            _("Cannot listen on {host}:{port}: {reason}").format(host=host, port=port, reason=reason)
        ) from None
    return sock
