"""How to add one of provador's optional extras to the installation that is running.

From a clone (an editable install, as `make setup` makes) `pip install 'provador[export]'` fails:
provador is not on the package index. The hint names the command that works here.
"""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from urllib.parse import unquote, urlparse


def source_checkout() -> str | None:
    """The folder provador was installed from in editable mode (PEP 610's direct_url.json), or None."""
    try:
        record = metadata.distribution("provador").read_text("direct_url.json")
        origin = json.loads(record or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not origin.get("dir_info", {}).get("editable"):
        return None
    url = urlparse(origin.get("url", ""))
    return unquote(url.path) if url.scheme == "file" else None


def _shortest(path: str) -> str:
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def pip_install(extra: str) -> str:
    """`pip install` of provador with `extra`, as it works for this installation."""
    python = _shortest(sys.executable)
    checkout = source_checkout()
    if checkout:
        return f"{python} -m pip install -e '{_shortest(checkout)}[{extra}]'"
    return f"{python} -m pip install 'provador[{extra}]'"
