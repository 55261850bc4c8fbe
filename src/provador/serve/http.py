"""HTTP pieces shared by the FastAPI routes and the lean predict path: 4xx errors, bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from provador.base.i18n import N_, _

TOO_MANY = N_("Too many images: {count} sent, at most {limit} per request.")


class ApiError(Exception):
    """A 4xx answer: `status` and a message saying what was expected."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status

    def body(self) -> bytes:
        return json_bytes(error_content(str(self), self.status))


def error_content(message: str, status: int) -> dict:
    """An error body: the message, the status, and the request's ID (to find its log line)."""
    from provador.serve.operations import request_id

    return {"error": message, "status": status, "request_id": request_id()}


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f}".removesuffix(".0")


def json_bytes(content) -> bytes:
    """JSON as Starlette's JSONResponse renders it (UTF-8, compact)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


async def read_limited(
    chunks: AsyncIterator[bytes], declared_length: str | None, limit: int, seconds: float = 30.0
) -> bytes:
    """The request body, refusing more than `limit` bytes before reading them all, and a body
    that takes longer than `seconds` to arrive (a slow client holds a connection and memory)."""
    try:
        async with asyncio.timeout(seconds):
            return await _read_limited(chunks, declared_length, limit)
    except TimeoutError:
        raise ApiError(
            408, _("The request body took over {seconds} s to arrive.").format(seconds=f"{seconds:g}")
        ) from None


async def _read_limited(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise ApiError(413, _("The upload is {size} MB; the limit is {limit} MB.").format(
            size=_megabytes(int(declared_length)), limit=_megabytes(limit)))  # fmt: skip
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise ApiError(413, _("The upload is over the {limit} MB limit.").format(limit=_megabytes(limit)))
        parts.append(chunk)
    if not size:
        raise ApiError(400, _("The request body is empty: expected image files in `file` fields, or JSON images."))
    return b"".join(parts)
