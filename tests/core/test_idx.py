import gzip

import numpy as np
import pytest

from provador.base.errors import DataFormatError
from provador.core import idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["data-idx3-ubyte", "data-idx3-ubyte.gz"])
def test_round_trip_keeps_values_shape_and_dtype(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = idx.write(tmp_path / name, array)
    back = idx.read(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-without-suffix"
    path.write_bytes(gzip.compress(idx.encode(np.array([3, 1, 4], np.uint8))))
    np.testing.assert_array_equal(idx.read(path), [3, 1, 4])


def test_header_is_big_endian_magic_and_dims():
    content = idx.encode(np.zeros((5, 28, 28), np.uint8))
    assert content[:4] == bytes([0, 0, 0x08, 3])
    assert content[4:16] == (5).to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
    assert len(content) == 16 + 5 * 28 * 28


def _error(content: bytes) -> str:
    with pytest.raises(DataFormatError) as info:
        idx.parse(content, source="f.idx")
    return str(info.value)


def test_bad_magic_is_rejected():
    assert "two zero bytes" in _error(b"\x01\x00\x08\x01" + bytes(8))


def test_unknown_dtype_code_is_rejected():
    assert "unknown IDX dtype code 0x07" in _error(b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00")


def test_truncated_header_is_rejected():
    assert "truncated inside its header" in _error(b"\x00\x00\x08\x03" + bytes(5))


def test_truncated_data_names_expected_and_received_sizes():
    content = idx.encode(np.zeros((10, 28, 28), np.uint8))
    message = _error(content[:-100])
    assert "truncated" in message and "(10, 28, 28)" in message and str(len(content) - 100) in message


def test_trailing_bytes_are_rejected():
    assert "longer than its header says" in _error(idx.encode(np.zeros(4, np.uint8)) + b"x")


def test_damaged_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.gz"
    noise = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    path.write_bytes(gzip.compress(idx.encode(noise))[:2000])
    with pytest.raises(DataFormatError, match="damaged gzip"):
        idx.read(path)


def test_content_hash_ignores_the_gzip_wrapper(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    raw = idx.write(tmp_path / "a", array)
    packed = tmp_path / "b.gz"
    packed.write_bytes(gzip.compress(idx.encode(array), compresslevel=1, mtime=123))
    assert idx.content_sha256(raw) == idx.content_sha256(packed)
