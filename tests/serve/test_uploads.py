"""The in-memory multipart parser behind POST /v1/predict."""

import pytest

from provador.serve.uploads import MalformedForm, file_parts

TYPE = "multipart/form-data; boundary=XyZ"


def form(*parts: tuple[str, str | None, bytes], end: bytes = b"--XyZ--\r\n") -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--XyZ\r\nContent-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + end


def test_files_in_the_named_field_come_back_with_their_names_and_exact_bytes():
    tricky = b"\x89PNG\r\n--XY not the boundary\r\n\x00\xff"
    parts = file_parts(form(("file", "a.png", tricky), ("note", None, b"hi"), ("file", "b.jpg", b"2")), TYPE, "file", 8)
    assert [(p.filename, p.data) for p in parts] == [("a.png", tricky), ("b.jpg", b"2")]


def test_a_field_without_a_filename_is_not_a_file():
    assert file_parts(form(("file", None, b"text")), TYPE, "file", 8) == []


@pytest.mark.parametrize(
    "body, content_type, message",
    [
        (form(("file", "a.png", b"123"))[:-12], TYPE, "before the closing boundary"),
        (b"not a form at all", TYPE, "boundary"),
        (b"", TYPE, "no parts"),
        (form(("file", "a.png", b"1")), "multipart/form-data", "no boundary"),
        (form(*[("file", f"{i}.png", b"1") for i in range(4)]), TYPE, "more than 3 parts"),
    ],
)
def test_broken_forms_say_what_is_wrong(body, content_type, message):
    with pytest.raises(MalformedForm, match=message):
        file_parts(body, content_type, "file", max_parts=3)
