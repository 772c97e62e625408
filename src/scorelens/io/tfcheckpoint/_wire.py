"""The protobuf wire format, decoded by hand with a small varint reader.

Only a dozen fields of five TensorFlow messages are needed, and depending on ``protobuf``
(and on TensorFlow's generated ``*_pb2`` modules, which live inside TensorFlow) for that
would pull a large, version-sensitive dependency into a tool that otherwise never speaks
protobuf.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator


class WireError(ValueError):
    """Malformed protobuf or table bytes (turned into a FeatureError naming the file)."""


def varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("varint runs past the end of the buffer")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(buf) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)``; value is an int or a memoryview slice."""
    buf = memoryview(buf)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise WireError("fixed64 field runs past the end")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = varint(buf, pos)
            if pos + length > end:
                raise WireError(f"field {number} declares {length} bytes, only {end - pos} remain")
            value = buf[pos:pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise WireError("fixed32 field runs past the end")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
