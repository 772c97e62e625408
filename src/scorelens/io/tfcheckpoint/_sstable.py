"""The LevelDB-style SSTable both checkpoint formats are built on.

Data blocks of prefix-compressed ``key -> value`` entries, an index block pointing at
them, and a 48-byte footer ending in a magic number; each block has a trailer of one
compression byte and a masked CRC32C.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from scorelens.io.tfcheckpoint._crc32c import crc32c, unmask_crc
from scorelens.io.tfcheckpoint._snappy import snappy_decompress
from scorelens.io.tfcheckpoint._wire import WireError, varint

_TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB / TensorFlow table footer magic
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5  # 1 byte compression type + 4 bytes masked CRC32C
_NO_COMPRESSION, _SNAPPY = 0, 1


def _read_block(buf: memoryview, offset: int, size: int, *, verify: bool) -> memoryview:
    end = offset + size + _BLOCK_TRAILER_LEN
    if offset < 0 or end > len(buf):
        raise WireError(f"block at byte {offset} (+{size}) runs past the end of the file ({len(buf)} bytes)")
    contents = buf[offset:offset + size]
    kind = buf[offset + size]
    if verify:
        stored = unmask_crc(struct.unpack_from("<I", buf, offset + size + 1)[0])
        if crc32c(buf[offset:offset + size + 1]) != stored:
            raise WireError(f"checksum mismatch in the block at byte {offset}")
    if kind == _NO_COMPRESSION:
        return contents
    if kind == _SNAPPY:
        return memoryview(snappy_decompress(contents))
    raise WireError(f"block at byte {offset} uses unknown compression type {kind}")


def _block_entries(block: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    if len(block) < 4:
        raise WireError("block shorter than its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise WireError("block restart array larger than the block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        value_len, pos = varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise WireError("block entry runs past the end of the block")
        key = key[:shared] + bytes(block[pos:pos + unshared])
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def table_entries(buf: memoryview, *, verify: bool) -> Iterator[tuple[bytes, memoryview]]:
    """Every ``(key, value)`` of an SSTable held in ``buf``, in key order."""
    if len(buf) < _FOOTER_LEN:
        raise WireError(f"file is {len(buf)} bytes, shorter than a table footer ({_FOOTER_LEN})")
    footer = buf[len(buf) - _FOOTER_LEN:]
    magic = struct.unpack_from("<Q", footer, _FOOTER_LEN - 8)[0]
    if magic != _TABLE_MAGIC:
        raise WireError("no TensorFlow table footer (wrong magic number): not a checkpoint, or truncated")
    pos = 0
    _meta_offset, pos = varint(footer, pos)
    _meta_size, pos = varint(footer, pos)
    index_offset, pos = varint(footer, pos)
    index_size, pos = varint(footer, pos)
    index = _read_block(buf, index_offset, index_size, verify=verify)
    for _, handle in _block_entries(index):
        offset, p = varint(handle, 0)
        size, _ = varint(handle, p)
        yield from _block_entries(_read_block(buf, offset, size, verify=verify))
