"""Files from a multipart/form-data body that is already in memory.

The server reads (and size-checks) the whole body first, so the parts are kept as
bytes: python-multipart's streaming parser with three callbacks, instead of
Starlette's form(), which spools every file into an UploadFile. For one small
image this is 8× less work per request (bench/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_BOUNDARY = 70  # RFC 2046, section 5.1.1


class MalformedForm(ValueError):
    """The body is not the multipart/form-data its Content-Type says it is."""


@dataclass
class Part:
    field_name: str = ""
    filename: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def file_parts(body: bytes, content_type: str, field_name: str, max_parts: int) -> list[Part]:
    """The parts of `body` in form field `field_name` that are files (have a filename).

    Raises MalformedForm for a missing boundary, broken framing, or more than
    `max_parts` parts in all (every part costs memory, files or not).
    """
    _, params = parse_options_header(content_type.encode("latin-1", "replace"))
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedForm("the Content-Type has no boundary")
    if len(boundary) > MAX_BOUNDARY:
        raise MalformedForm(f"the boundary is {len(boundary)} characters long; RFC 2046 allows at most {MAX_BOUNDARY}")
    parts: list[Part] = []
    header = {"name": b"", "value": b""}
    headers: dict[bytes, bytes] = {}

    def on_part_begin():
        if len(parts) >= max_parts:
            raise MalformedForm(f"more than {max_parts} parts")
        parts.append(Part())
        headers.clear()

    def on_header_field(data, start, end):
        header["name"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        headers[header["name"].lower()] = header["value"]
        header["name"] = header["value"] = b""

    def on_headers_finished():
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        parts[-1].field_name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        parts[-1].filename = filename.decode("utf-8", "replace") if filename is not None else None

    def on_part_data(data, start, end):
        parts[-1].chunks.append(data[start:end])

    def on_part_end():
        parts[-1].complete = True

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise MalformedForm(str(exc) or "broken multipart framing") from None
    if not parts or not all(part.complete for part in parts):
        raise MalformedForm("the body ends before the closing boundary" if parts else "no parts found")
    return [part for part in parts if part.field_name == field_name and part.filename is not None]
