"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code and the
number of dimensions), one big-endian uint32 per dimension, then the data in
C order. Files may be gzip-compressed; we detect that from the content, not
the file name.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np

from provador.base.errors import DataFormatError
from provador.base.i18n import N_, _

# IDX dtype codes -> big-endian NumPy dtypes.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES_BY_DTYPE = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
# No IDX dataset comes near this (Fashion-MNIST's largest file holds 47 MB): a header that declares
# more, or a gzip stream that inflates past it, is refused before the memory is taken.
MAX_BYTES = 2 * 2**30
_CHUNK = 1 << 20


def read_bytes(path: str | Path) -> bytes:
    """The decompressed content of an IDX file (raw or gzip).

    A gzip file is inflated a chunk at a time and never past what its IDX header declares: a
    "gzip bomb" costs at most the size of the dataset it pretends to be."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DataFormatError(
                _("{path} is {size} GB; no IDX dataset is that large (the limit is {limit} GB).").format(
                    path=path, size=f"{path.stat().st_size / 1e9:.1f}", limit=f"{MAX_BYTES / 1e9:.1f}")
            )  # fmt: skip
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(_("Cannot read {path}: {reason}.").format(path=path, reason=exc.strerror)) from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _inflate(raw, str(path))
    except (EOFError, OSError, zlib.error) as exc:
        raise DataFormatError(
            _(
                "{path} is a damaged gzip file ({reason}). Expected a complete .gz download; delete the file "
                "and fetch it again."
            ).format(path=path, reason=exc)
        ) from None


def _inflate(raw: bytes, source: str) -> bytes:
    """gzip content (one member or several), stopping one byte past the size the IDX header declares."""
    out = bytearray()
    limit = None
    inflater = zlib.decompressobj(wbits=31)
    pending = raw
    while pending:
        out += inflater.decompress(pending, _CHUNK)
        pending = inflater.unconsumed_tail
        if limit is None:
            limit = declared_size(bytes(out[:1024]))
        if len(out) > (limit if limit is not None else MAX_BYTES):
            raise DataFormatError(
                _("{source} inflates to more than its IDX header declares ({size} bytes): it is not a dataset "
                  "file (a \"gzip bomb\"?). Delete it and fetch the dataset again.").format(
                    source=source, size=limit if limit is not None else MAX_BYTES)
            )  # fmt: skip
        if inflater.eof:
            pending = inflater.unused_data  # another gzip member follows (gzip allows several)
            if pending and not pending.startswith(_GZIP_MAGIC):
                break  # trailing garbage: gzip ignores it too
            inflater = zlib.decompressobj(wbits=31) if pending else inflater
        elif not pending:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
    return bytes(out)


def declared_size(head: bytes) -> int | None:
    """The total size an IDX header promises (header included), from the file's first bytes;
    None when they are not a whole IDX header (parse() then says what is wrong)."""
    if len(head) < 4 or head[0] or head[1] or head[2] not in IDX_DTYPES or head[3] == 0:
        return None
    header_len = 4 + 4 * head[3]
    if len(head) < header_len:
        return None
    shape = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(head[3])]
    return header_len + math.prod(shape) * IDX_DTYPES[head[2]].itemsize


def content_sha256(path: str | Path) -> str:
    """SHA-256 of the decompressed content: the same whichever gzip wrapper a mirror uses."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def parse(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode IDX content into an array, validating the header against the length."""
    if len(content) < 4:
        raise DataFormatError(
            _("{source} is not an IDX file: expected at least a 4-byte header, received {count} bytes.").format(
                source=source, count=len(content)
            )
        )
    zero0, zero1, code, ndim = content[:4]
    if zero0 != 0 or zero1 != 0:
        raise DataFormatError(
            _(
                "{source} is not an IDX file: expected the magic number to start with two zero bytes, "
                "received {received}."
            ).format(source=source, received=content[:4].hex())
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFormatError(
            _("{source} has an unknown IDX dtype code {code}; expected one of {known}.").format(
                source=source, code=f"0x{code:02X}", known=known
            )
        )
    if ndim == 0:
        raise DataFormatError(_("{source} declares 0 dimensions; expected at least 1.").format(source=source))
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise DataFormatError(
            _(
                "{source} is truncated inside its header: expected {expected} bytes for {ndim} dimensions, "
                "received {received}."
            ).format(source=source, expected=header_len, ndim=ndim, received=len(content))
        )
    shape = tuple(int(d) for d in np.frombuffer(content, ">u4", ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_len + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if math.prod(d for d in shape if d) * dtype.itemsize > MAX_BYTES:
        # Even with a zero dimension (no data at all), NumPy cannot describe such a shape.
        raise DataFormatError(
            _("{source} declares shape {shape}, far larger than any IDX dataset: it is damaged or not an IDX file.")
            .format(source=source, shape=shape)
        )  # fmt: skip
    if len(content) != expected:
        what = N_("truncated") if len(content) < expected else N_("longer than its header says")
        raise DataFormatError(
            _(
                "{source} is {what}: its header declares shape {shape}, which needs {expected} bytes, but the file "
                "holds {received}. Delete it and fetch the dataset again."
            ).format(source=source, what=_(what), shape=shape, expected=expected, received=len(content))
        )
    data = np.frombuffer(content, dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or .gz) into a native-endian array."""
    return parse(read_bytes(path), source=str(path))


def encode(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (used by tests and to export datasets)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES_BY_DTYPE:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = _CODES_BY_DTYPE[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(IDX_DTYPES[code], copy=False).tobytes()


def write(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file; gzip it when the name ends in .gz."""
    path = Path(path)
    content = encode(array)
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(content, mtime=0) if compress else content)
    return path
