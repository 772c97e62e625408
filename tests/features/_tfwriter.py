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

from scorelens.features.tfcheckpoint import crc32c, mask_crc

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


def _block(entries: list[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    out, restarts, last = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        last = key
    if not restarts:
        restarts = [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


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


def table(entries: list[tuple[bytes, bytes]], *, block_size: int = 4096, snappy: bool = False) -> bytes:
    """An SSTable (LevelDB format) of sorted ``(key, value)`` entries; data blocks optionally Snappy-compressed."""
    entries = sorted(entries)
    out = bytearray()
    index: list[tuple[bytes, bytes]] = []

    def flush(block_entries):
        contents, kind = _block(block_entries), b"\x00"
        if snappy:
            contents, kind = snappy_compress(contents), b"\x01"
        handle = varint(len(out)) + varint(len(contents))
        out.extend(contents + kind + struct.pack("<I", mask_crc(crc32c(contents + kind))))
        index.append((block_entries[-1][0], handle))

    pending, size = [], 0
    for key, value in entries:
        pending.append((key, value))
        size += len(key) + len(value)
        if size >= block_size:
            flush(pending)
            pending, size = [], 0
    if pending:
        flush(pending)
    handles = []
    for contents in (_block([]), _block(index)):  # metaindex (empty), index
        handles.append(varint(len(out)) + varint(len(contents)))
        out.extend(contents + b"\x00" + struct.pack("<I", mask_crc(crc32c(contents + b"\x00"))))
    footer = handles[0] + handles[1]
    out.extend(footer + b"\x00" * (40 - len(footer)) + struct.pack("<Q", _MAGIC))
    return bytes(out)


def _tensor_proto(value: np.ndarray) -> bytes:
    dtype = value.dtype
    proto = field_varint(1, _DTYPE_ENUM[dtype]) + field_bytes(2, shape_proto(value.shape))
    flat = value.reshape(-1)
    if dtype == np.float32:
        proto += field_bytes(5, flat.astype("<f4").tobytes())
    elif dtype == np.float64:
        proto += field_bytes(6, flat.astype("<f8").tobytes())
    elif dtype == np.float16:
        proto += field_bytes(13, b"".join(varint(int(v)) for v in flat.view(np.uint16)))
    elif dtype == np.int32:
        proto += field_bytes(7, b"".join(varint(int(v)) for v in flat))
    else:
        proto += field_bytes(10, b"".join(varint(int(v)) for v in flat))
    return proto


def write_v1(path: str | Path, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``tensors`` as a TensorFlow V1 (tensor-slice) checkpoint file."""
    metas = b""
    entries = []
    for i, (name, value) in enumerate(sorted(tensors.items())):
        value = np.asarray(value)
        full_slice = b"".join(field_bytes(1, b"") for _ in value.shape)  # one full extent per dim
        metas += field_bytes(1, field_bytes(1, name.encode()) + field_bytes(2, shape_proto(value.shape))
                             + field_varint(3, _DTYPE_ENUM[value.dtype]) + field_bytes(4, full_slice))
        saved_slice = (field_bytes(1, name.encode()) + field_bytes(2, full_slice)
                       + field_bytes(3, _tensor_proto(value)))
        entries.append((b"\x00\x01" + name.encode(), field_bytes(2, saved_slice)))
    versions = field_varint(1, 1)  # VersionDef.producer
    entries.append((b"", field_bytes(1, metas + field_bytes(2, versions))))
    path = Path(path)
    path.write_bytes(table(entries))
    return path


def write_v2(prefix: str | Path, tensors: dict[str, np.ndarray], *, snappy: bool = False) -> Path:
    """Write ``tensors`` as a TensorFlow V2 bundle ``prefix.index`` + ``prefix.data-00000-of-00001``."""
    data = bytearray()
    entries = [(b"", field_varint(1, 1) + field_bytes(3, field_varint(1, 1)))]  # num_shards, version
    for name, value in sorted(tensors.items()):
        raw = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()
        entry = (field_varint(1, _DTYPE_ENUM[value.dtype]) + field_bytes(2, shape_proto(value.shape))
                 + field_varint(4, len(data)) + field_varint(5, len(raw)) + field_fixed32(6, mask_crc(crc32c(raw))))
        entries.append((name.encode(), entry))
        data += raw
    prefix = str(prefix)
    Path(prefix + ".data-00000-of-00001").write_bytes(bytes(data))
    Path(prefix + ".index").write_bytes(table(entries, snappy=snappy))
    return Path(prefix)
