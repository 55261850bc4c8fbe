"""HTTP API and web page (`provador serve`)."""

from __future__ import annotations

from pathlib import Path

from provador.serve.app import Limits, create_app

__all__ = ["create_app", "Limits", "serve"]


def serve(run, host: str = "127.0.0.1", port: int = 8000, data_dir: str | Path | None = None, access_log: bool = False):
    """Run the server until Ctrl-C."""
    import uvicorn

    app = create_app(run, data_dir=data_dir)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log)
