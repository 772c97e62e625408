"""A small TensorFlow checkpoint *writer* for the tests (TensorFlow is not installed here).

It writes the two formats scorelens reads, byte for byte as TensorFlow lays them out:

* V1 (``write_v1``): one SSTable file whose key ``""`` holds ``SavedTensorSlices.meta``
  and whose other keys hold one ``SavedSlice`` per tensor with the values as a packed
  ``TensorProto.float_val`` (as TensorFlow's ``TensorSliceWriter`` does) — the format of
  Google's ``vggish_model.ckpt``;
* V2 (``write_v2``): ``PREFIX.index`` (SSTable of ``BundleEntryProto``) plus
  ``PREFIX.data-00000-of-00001`` (raw little-endian bytes, masked CRC32C per tensor).

The reader is also checked against files TensorFlow itself wrote
(``tests/fixtures/tf_small_*`` and musicnn's checkpoints), so a misunderstanding shared
by this writer and the reader cannot go unnoticed. Loaded by path from the tests.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from scorelens.io.tfcheckpoint import crc32c, mask_crc

_DTYPE_ENUM = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("int64"): 9,
               np.dtype("float16"): 19}
_MAGIC = 0xDB4775248B80FB57


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint((number << 3) | 2) + varint(len(payload)) + payload


def field_fixed32(number: int, value: int) -> bytes:
    return varint((number << 3) | 5) + struct.pack("<I", value)


def shape_proto(shape) -> bytes:
    return b"".join(field_bytes(2, field_varint(1, d) if d else b"") for d in shape)


def _nbytes(parts) -> int:
    return sum(memoryview(p).nbytes for p in parts)


def _block(entries, restart_interval: int = 16) -> list:
    """A table block as a list of byte parts; values may be bytes or lists of parts (big tensors)."""
    parts, size, restarts, last = [], 0, [], b""
    for i, (key, value) in enumerate(entries):
        value = value if isinstance(value, list) else [value]
        if i % restart_interval == 0:
            restarts.append(size)
            shared = 0
        else:
            shared = 0
            while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                shared += 1
        value_len = _nbytes(value)
        header = varint(shared) + varint(len(key) - shared) + varint(value_len) + key[shared:]
        parts += [header, *value]
        size += len(header) + value_len
        last = key
    if not restarts:
        restarts = [0]
    parts.append(b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts)))
    return parts


def snappy_compress(data: bytes) -> bytes:
    """Raw Snappy: greedy 4-byte matches as 2-byte-offset copies, the rest as literals."""
    out, literal, pos, seen = bytearray(varint(len(data))), bytearray(), 0, {}

    def flush_literal():
        for i in range(0, len(literal), 60):
            part = literal[i:i + 60]
            out.append((len(part) - 1) << 2)
            out.extend(part)
        literal.clear()

    while pos < len(data):
        key = data[pos:pos + 4]
        match = seen.get(key) if len(key) == 4 else None
        seen[key] = pos
        if match is not None and pos - match < 65536:
            length = 4
            while pos + length < len(data) and length < 64 and data[match + length] == data[pos + length]:
                length += 1
            flush_literal()
            out.append(((length - 1) << 2) | 2)
            out.extend(struct.pack("<H", pos - match))
            pos += length
        else:
            literal.append(data[pos])
            pos += 1
    flush_literal()
    return bytes(out)


def table(entries, fh, *, block_size: int = 4096, snappy: bool = False) -> None:
    """Write an SSTable (LevelDB format) of ``(key, value)`` entries to ``fh``; data blocks optionally Snappy.

    Values are bytes, or lists of byte parts (so a 200 MB tensor is never concatenated).
    """
    entries = sorted(entries, key=lambda e: e[0])
    offset = 0
    index: list[tuple[bytes, bytes]] = []

    def emit(parts, compress: bool) -> bytes:
        nonlocal offset
        kind = b"\x00"
        if compress:
            parts, kind = [snappy_compress(b"".join(parts))], b"\x01"
        payload = b"".join([*parts, kind])  # one copy: the CRC covers contents and type byte
        handle = varint(offset) + varint(len(payload) - 1)
        fh.write(payload)
        fh.write(struct.pack("<I", mask_crc(crc32c(payload))))
        offset += len(payload) + 4
        return handle

    pending, size = [], 0
    for key, value in entries:
        pending.append((key, value))
        size += len(key) + (_nbytes(value) if isinstance(value, list) else len(value))
        if size >= block_size:
            index.append((pending[-1][0], emit(_block(pending), snappy)))
            pending, size = [], 0
    if pending:
        index.append((pending[-1][0], emit(_block(pending), snappy)))
    footer = emit(_block([]), False) + emit(_block(index), False)  # metaindex (empty), index
    fh.write(footer + b"\x00" * (40 - len(footer)) + struct.pack("<Q", _MAGIC))


def _field(number: int, parts: list) -> list:
    return [varint((number << 3) | 2) + varint(_nbytes(parts)), *parts]


def _tensor_proto(value: np.ndarray) -> list:
    dtype = value.dtype
    head = field_varint(1, _DTYPE_ENUM[dtype]) + field_bytes(2, shape_proto(value.shape))
    flat = np.ascontiguousarray(value.reshape(-1), dtype=dtype.newbyteorder("<"))
    if dtype in (np.float32, np.float64):  # packed float_val = 5 / double_val = 6: raw little-endian bytes
        return [head, *_field(5 if dtype == np.float32 else 6, [memoryview(flat).cast("B")])]
    if dtype == np.float16:
        return [head, field_bytes(13, b"".join(varint(int(v)) for v in flat.view(np.uint16)))]
    number = 7 if dtype == np.int32 else 10
    return [head, field_bytes(number, b"".join(varint(int(v)) for v in flat))]


def write_v1(path: str | Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` as a TensorFlow V1 (tensor-slice) checkpoint file."""
    metas = b""
    entries = []
    for name, value in sorted(tensors.items()):
        value = np.asarray(value)
        full_slice = b"".join(field_bytes(1, b"") for _ in value.shape)  # one full extent per dim
        metas += field_bytes(1, field_bytes(1, name.encode()) + field_bytes(2, shape_proto(value.shape))
                             + field_varint(3, _DTYPE_ENUM[value.dtype]) + field_bytes(4, full_slice))
        saved_slice = [field_bytes(1, name.encode()) + field_bytes(2, full_slice), *_field(3, _tensor_proto(value))]
        entries.append((b"\x00\x01" + name.encode(), _field(2, saved_slice)))
    versions = field_varint(1, 1)  # VersionDef.producer
    entries.append((b"", field_bytes(1, metas + field_bytes(2, versions))))
    path = Path(path)
    with open(path, "wb") as fh:
        table(entries, fh)
    return path


def write_v2(prefix: str | Path, tensors: dict[str, np.ndarray], *, snappy: bool = False) -> Path:
    """Write ``tensors`` as a TensorFlow V2 bundle ``prefix.index`` + ``prefix.data-00000-of-00001``."""
    prefix = str(prefix)
    entries = [(b"", field_varint(1, 1) + field_bytes(3, field_varint(1, 1)))]  # num_shards, version
    offset = 0
    with open(prefix + ".data-00000-of-00001", "wb") as data:
        for name, value in sorted(tensors.items()):
            raw = memoryview(np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))).cast("B")
            entry = (field_varint(1, _DTYPE_ENUM[value.dtype]) + field_bytes(2, shape_proto(value.shape))
                     + field_varint(4, offset) + field_varint(5, raw.nbytes)
                     + field_fixed32(6, mask_crc(crc32c(raw))))
            entries.append((name.encode(), entry))
            data.write(raw)
            offset += raw.nbytes
    with open(prefix + ".index", "wb") as fh:
        table(entries, fh, snappy=snappy)
    return Path(prefix)
