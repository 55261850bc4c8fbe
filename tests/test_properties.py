"""Property-based tests (Hypothesis): for any input, a result or a ProvadorError, never another exception.

The parsers that read what users and clients send: IDX files, recipes and --set values, search
spaces, multipart bodies, image files; and the places a user's strings are shown (report, page).
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from provador.base.errors import DataFormatError, InputError, ProvadorError, RecipeError
from provador.core import idx, photos
from provador.core.recipes import parse_override, validate
from provador.core.spaces import parse_space
from provador.serve.uploads import MalformedForm, file_parts

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

# JSON-like values, as TOML and JSON parsers hand them over.
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["name", "seed", "data", "model", "training", "execution", "description", "x"])
sections = st.sampled_from(["validation", "split", "architecture", "hidden", "learning_rate", "epochs", "optimizer", "batch_size"])  # fmt: skip


def idx_like() -> st.SearchStrategy[bytes]:
    """Bytes that start like an IDX header (so the parser gets past the magic number), then anything."""
    header = st.tuples(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.integers(0, 4))
    dims = st.lists(st.sampled_from([0, 1, 2, 3, 28, 2**31, 2**32 - 1]), max_size=4)
    return st.builds(
        lambda h, d, tail: bytes([0, 0, h[0], h[1]]) + b"".join(x.to_bytes(4, "big") for x in d) + tail,
        header, dims, st.binary(max_size=64),
    )  # fmt: skip


@FAST
@example(b"\x00\x00\x0b\x04" + bytes(8) + b"\x80\x00\x00\x00" * 2)  # zero rows of 2³¹ × 2³¹: NumPy refused the shape
@given(st.binary(max_size=200) | idx_like())
def test_idx_parse_gives_an_array_or_a_data_format_error(content):
    try:
        array = idx.parse(content)
    except DataFormatError:
        return
    assert array.nbytes <= len(content)


@FAST
@given(idx_like(), st.binary(max_size=2000))
def test_idx_gzip_reading_gives_an_array_or_a_data_format_error(tmp_path_factory, content, padding):
    path = tmp_path_factory.mktemp("idx") / "file.gz"
    path.write_bytes(gzip.compress(content + padding, compresslevel=1))
    try:
        idx.read(path)
    except DataFormatError:
        pass


@FAST
@given(st.text(max_size=60))
def test_set_values_parse_or_give_a_recipe_error(text):
    try:
        key, value = parse_override(text)
    except RecipeError:
        return
    try:
        validate({"name": "x", **_nested(key, value)})
    except RecipeError:
        pass


def _nested(key: str, value) -> dict:
    data: dict = {}
    parts = key.split(".")
    cursor = data
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return data


@FAST
@given(st.dictionaries(keys, values | st.dictionaries(sections, values, max_size=4), max_size=5))
def test_any_recipe_data_validates_or_gives_a_recipe_error(data):
    try:
        validate(data)
    except RecipeError:
        pass


@FAST
@given(st.dictionaries(st.sampled_from(["training", "model", "data", "x"]),
                       st.dictionaries(sections, values, max_size=3) | values, max_size=3))  # fmt: skip
def test_any_space_data_parses_or_gives_a_provador_error(data):
    try:
        parse_space(data, "space.toml", "space")
    except ProvadorError:
        pass


@FAST
@given(st.binary(max_size=400), st.text(st.characters(codec="latin-1"), max_size=90))
def test_any_multipart_body_parses_or_is_malformed(body, boundary):
    try:
        parts = file_parts(body, f"multipart/form-data; boundary={boundary}", "file", max_parts=8)
    except MalformedForm:
        return
    assert len(parts) <= 8


@FAST
@given(st.sampled_from([b"--B\r\n", b"Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n", b"\r\n",
                        b"xyz", b"--B--\r\n", b"--B", b"\r\n\r\n"]).flatmap(
    lambda first: st.lists(st.sampled_from([first, b"--B\r\n", b"\r\n", b"data", b"--B--\r\n",
                                            b"Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n"]),
                           max_size=12)))  # fmt: skip
def test_multipart_framing_pieces_in_any_order_parse_or_are_malformed(pieces):
    try:
        file_parts(b"".join(pieces), "multipart/form-data; boundary=B", "file", max_parts=8)
    except MalformedForm:
        pass


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_any_bytes_as_a_photo_give_an_image_or_an_input_error(data):
    try:
        prepared = photos.prepare(data, "upload")
    except InputError:
        return
    assert prepared.pixels.shape == (28, 28) and prepared.pixels.dtype == np.uint8


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from(["1", "L", "P", "RGB", "RGBA", "I;16", "CMYK"]),
       st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "WEBP", "JPEG"]), st.integers(0, 2**32 - 1))  # fmt: skip
def test_any_small_image_in_any_mode_and_format_becomes_a_28_by_28_image(width, height, mode, fmt, seed):
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    image = (
        image.convert(mode)
        if mode != "I;16"
        else Image.fromarray(rng.integers(0, 65535, (height, width), dtype=np.uint16))
    )
    buffer = io.BytesIO()
    try:
        image.save(buffer, fmt)
    except (OSError, ValueError, KeyError):
        return  # a format that cannot hold this mode: nothing to test
    prepared = photos.prepare(buffer.getvalue(), "upload")
    assert prepared.pixels.shape == (28, 28) and prepared.pixels.dtype == np.uint8


# --- a user's strings are shown, never run ---------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_class_names_from_classes_txt_are_escaped_in_the_report_and_the_page(tmp_path):
    from provador.core.recipes import load_recipe
    from provador.serve.page import render
    from provador.workflow import train  # with the report
    from tests.conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "data")
    (data / "classes.txt").write_text("\n".join([EVIL] + [f"class {i}" for i in range(1, 10)]))
    recipe = load_recipe("seed").with_overrides({"data.dataset": "idx", "data.validation": 50, "training.epochs": 1,
                                                 "model.hidden": [16]})  # fmt: skip
    run = train(recipe, data_dir=data, runs_dir=tmp_path / "runs", quiet=True)
    assert run.class_names[0] == EVIL
    for html in ((run.path / "report.html").read_text(), render(run.class_names)):
        assert "<script>alert" not in html and "<img src=x" not in html
    page = render(run.class_names)
    assert "\\u003cscript\\u003ealert" in page  # carried as JSON data for the script, never as markup


def test_the_web_page_script_never_writes_html():
    script = (Path(photos.__file__).parent.parent / "serve" / "static" / "app.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
