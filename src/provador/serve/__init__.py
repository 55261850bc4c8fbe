"""HTTP API and web page (`provador serve`)."""

from __future__ import annotations

from pathlib import Path

from provador.serve.app import Limits, create_app

__all__ = ["create_app", "Limits", "serve"]


def serve(
    run,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: str | Path | None = None,
    access_log: bool = False,
    limits: Limits | None = None,
    engine: str = "keras",
):
    """Run the server until Ctrl-C (at once) or SIGTERM (after the requests in flight)."""
    import uvicorn

    from provador.serve.lifecycle import DrainingServer, timed_protocol

    limits = limits or Limits()
    app = create_app(run, limits=limits, data_dir=data_dir, engine=engine)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=access_log,
        http=timed_protocol(limits.header_seconds), timeout_keep_alive=5,
        timeout_graceful_shutdown=int(limits.drain_seconds) + 1,
    )  # fmt: skip
    DrainingServer(config, app.state.traffic, limits.drain_seconds).run()
