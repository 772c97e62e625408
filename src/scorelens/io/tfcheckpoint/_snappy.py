"""Raw Snappy decompression (table blocks may be Snappy-compressed)."""

from __future__ import annotations

from scorelens.io.tfcheckpoint._wire import WireError, varint


def snappy_decompress(data) -> bytes:
    """Decompress a raw Snappy block (table blocks may be Snappy-compressed)."""
    data = memoryview(data)
    size, pos = varint(data, 0)
    out = bytearray()
    while pos < len(data):
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                n = length - 59
                length = int.from_bytes(data[pos:pos + n], "little")
                pos += n
            length += 1
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if offset == 0 or offset > len(out):
            raise WireError(f"snappy copy offset {offset} outside the {len(out)} bytes decoded")
        for _ in range(length):  # copies may overlap their own output
            out.append(out[-offset])
    if len(out) != size:
        raise WireError(f"snappy block decodes to {len(out)} bytes, header says {size}")
    return bytes(out)
