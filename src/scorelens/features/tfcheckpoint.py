"""Read TensorFlow checkpoints with NumPy alone (no TensorFlow, no protobuf).

Two on-disk formats exist, and the weights scorelens uses come in both:

* **V2 tensor bundle** (``PREFIX.index`` + ``PREFIX.data-00000-of-00001``), written by
  every TensorFlow saver since 2017; musicnn's wheel ships ``MSD_musicnn/.index`` and
  ``MSD_musicnn/.data-00000-of-00001`` (the prefix is the folder itself).
* **V1 tensor-slice file** (one file), the format of Google's ``vggish_model.ckpt``:
  a single file, which a V2 saver cannot produce (it always writes ``.index`` + ``.data``).

Both are built on the same LevelDB-style *SSTable*: data blocks of prefix-compressed
``key -> value`` entries, an index block pointing at them, and a 48-byte footer ending in
a magic number. The values are small protobuf messages:

* V2: key ``""`` holds a ``BundleHeaderProto``; every other key is a tensor name whose
  ``BundleEntryProto`` gives dtype, shape, shard, byte offset, size and a CRC32C of the
  raw little-endian bytes stored in the ``.data`` shard.
* V1: key ``""`` holds ``SavedTensorSlices.meta`` (names, shapes, dtypes); the other keys
  hold ``SavedTensorSlices.data``: a ``SavedSlice`` (name, slice extents, ``TensorProto``
  with the values).

The protobuf wire format is decoded by hand with a small varint reader: only a dozen
fields of five messages are needed, and depending on ``protobuf`` (and on TensorFlow's
generated ``*_pb2`` modules, which live inside TensorFlow) for that would pull a large,
version-sensitive dependency into a tool that otherwise never speaks protobuf. The field
numbers below are those of TensorFlow's ``tensor_bundle.proto``,
``saved_tensor_slice.proto``, ``tensor.proto``, ``tensor_shape.proto`` and
``tensor_slice.proto``.

Every block and every tensor is checked against its CRC32C, so a truncated or corrupt
file raises :class:`~scorelens.exceptions.FeatureError` naming the file and the tensor,
rather than yielding wrong weights.
"""

from __future__ import annotations

import functools
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scorelens.exceptions import FeatureError

__all__ = ["TFCheckpoint", "open_checkpoint", "crc32c", "mask_crc", "unmask_crc", "TF_DTYPES"]

#: TensorFlow ``DataType`` enum -> NumPy dtype (little-endian), for the types weights use.
TF_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),   # DT_FLOAT
    2: np.dtype("<f8"),   # DT_DOUBLE
    3: np.dtype("<i4"),   # DT_INT32
    4: np.dtype("u1"),    # DT_UINT8
    5: np.dtype("<i2"),   # DT_INT16
    6: np.dtype("i1"),    # DT_INT8
    9: np.dtype("<i8"),   # DT_INT64
    10: np.dtype("?"),    # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}

_TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB / TensorFlow table footer magic
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5  # 1 byte compression type + 4 bytes masked CRC32C
_NO_COMPRESSION, _SNAPPY = 0, 1


# --------------------------------------------------------------------------- CRC32C
# Castagnoli CRC (reflected polynomial 0x82F63B78), as TensorFlow's crc32c.h. Weights
# files are hundreds of MB, and a byte-at-a-time Python loop would take minutes, so long
# buffers are cut into equal lanes processed side by side with NumPy, and the lane CRCs
# are then combined using the linearity of the CRC register over GF(2).

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


@functools.cache
def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_POLY), table >> 1).astype(np.uint32)
    return table


def _crc_update_small(register: int, data) -> int:
    table = _byte_table().tolist()
    for byte in bytes(data):
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


# A linear map on the 32-bit register is stored as the images of the 32 basis vectors.
def _apply_map(images: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Apply the GF(2)-linear map given by ``images`` [shape=(32,)] to ``values`` (uint32)."""
    out = np.zeros_like(values, dtype=np.uint32)
    for j in range(32):
        bit = (values >> np.uint32(j)) & np.uint32(1)
        out ^= bit * images[j]
    return out


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    return _apply_map(outer, inner)


@functools.cache
def _zero_byte_map() -> np.ndarray:
    """Images of the basis vectors after feeding one zero byte."""
    basis = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)
    table = _byte_table()
    return (table[basis & np.uint32(0xFF)] ^ (basis >> np.uint32(8))).astype(np.uint32)


@functools.lru_cache(maxsize=256)
def _zeros_map(n_bytes: int) -> np.ndarray:
    """Map of the register through ``n_bytes`` zero bytes (square-and-multiply; cached, read-only)."""
    result = (np.uint32(1) << np.arange(32, dtype=np.uint32)).astype(np.uint32)  # identity
    power = _zero_byte_map()
    while n_bytes:
        if n_bytes & 1:
            result = _compose(power, result)
        n_bytes >>= 1
        if n_bytes:
            power = _compose(power, power)
    result.flags.writeable = False
    return result


def _map_tables(images: np.ndarray) -> np.ndarray:
    """Four 256-entry tables applying a linear map one register byte at a time."""
    byte_values = np.arange(256, dtype=np.uint32)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for k in range(4):
        for j in range(8):
            tables[k] ^= ((byte_values >> np.uint32(j)) & np.uint32(1)) * images[8 * k + j]
    return tables


@functools.cache
def _word_tables() -> tuple[np.ndarray, np.ndarray]:
    """Tables taking the register through four bytes, indexed by its low and high 16 bits."""
    four_zero_bytes = _zeros_map(4)
    halves = np.arange(1 << 16, dtype=np.uint32)
    return _apply_map(four_zero_bytes, halves), _apply_map(four_zero_bytes, halves << np.uint32(16))


def crc32c(data, *, lane: int = 1 << 14) -> int:
    """CRC32C (Castagnoli) of a bytes-like object, as TensorFlow computes it.

    Parameters
    ----------
    data : bytes-like
        The bytes to check.
    lane : int
        Lane length in bytes (a multiple of 4) of the vectorised computation used for
        long buffers.

    Returns
    -------
    int
        The unmasked CRC (``crc32c(b"123456789") == 0xE3069283``).

    Raises
    ------
    ValueError
        If ``lane`` is not a positive multiple of 4 (a programming error, not bad input).
    """
    if lane % 4 or lane <= 0:
        raise ValueError(f"lane={lane} must be a positive multiple of 4")
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    head = min(buf.size, -buf.ctypes.data % 4)  # bytes before the first 4-byte aligned address
    register = _crc_update_small(0xFFFFFFFF, buf[:head])
    buf = buf[head:]
    n_lanes = buf.size // lane
    if n_lanes < 4:
        return _crc_update_small(register, buf) ^ 0xFFFFFFFF
    # The front n_lanes * lane bytes are cut into equal contiguous lanes whose raw
    # registers (initial value 0) are computed side by side, fed four bytes at a time: for
    # this reflected CRC, feeding bytes b0..b3 is xoring their little-endian word into the
    # register, then feeding four zero bytes. The lanes are transposed to rows with torch,
    # whose blocked transpose is ~10x faster than NumPy's on hundreds of MB.
    words = buf[:n_lanes * lane].view("<u4")
    with warnings.catch_warnings():  # read-only buffer: torch warns about writes, and only reads here
        warnings.simplefilter("ignore", UserWarning)
        rows = torch.from_numpy(words.view(np.int32).reshape(n_lanes, lane // 4)).t().contiguous().numpy()
    rows = rows.view(np.uint32)  # (lane / 4, n_lanes)
    low_table, high_table = _word_tables()
    reg = np.zeros(n_lanes, dtype=np.uint32)
    low = np.empty(n_lanes, dtype=np.uint32)
    high = np.empty(n_lanes, dtype=np.uint32)
    for row in rows:
        reg ^= row
        np.bitwise_and(reg, np.uint32(0xFFFF), out=low)
        reg >>= np.uint32(16)
        np.take(high_table, reg, out=high)  # np.take with out= is ~2x faster than fancy indexing
        np.take(low_table, low, out=reg)
        reg ^= high
    del rows
    # Combine neighbours pairwise: reg(A||B) = Z_len(B)(reg(A)) ^ reg(B).
    length = lane
    while reg.size > 1:
        if reg.size % 2:
            reg = np.concatenate([np.zeros(1, dtype=np.uint32), reg])  # a zero lane in front changes nothing
        tables = _map_tables(_zeros_map(length))
        first, second = reg[0::2], reg[1::2]
        shifted = (tables[0][first & 0xFF] ^ tables[1][(first >> 8) & 0xFF]
                   ^ tables[2][(first >> 16) & 0xFF] ^ tables[3][first >> 24])
        reg = shifted ^ second
        length *= 2
    # Carry the head's register through the lanes, then feed the tail bytewise.
    carried = int(_apply_map(_zeros_map(n_lanes * lane), np.array([register], dtype=np.uint32))[0])
    register = _crc_update_small(int(reg[0]) ^ carried, buf[n_lanes * lane:])
    return register ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """LevelDB/TensorFlow's masked CRC (stored in block trailers and bundle entries).

    Parameters
    ----------
    crc : int
        An unmasked 32-bit CRC (:func:`crc32c`).

    Returns
    -------
    int
        The CRC rotated right by 15 bits plus ``0xA282EAD8``, modulo 2**32.
    """
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Inverse of :func:`mask_crc`.

    Parameters
    ----------
    masked : int
        A masked 32-bit CRC as stored in a checkpoint.

    Returns
    -------
    int
        The unmasked CRC, comparable with :func:`crc32c`.
    """
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# --------------------------------------------------------------------------- protobuf wire format

class _WireError(ValueError):
    """Malformed protobuf or table bytes (turned into a FeatureError naming the file)."""


def _varint(buf, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _WireError("varint runs past the end of the buffer")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)``; value is an int or a memoryview slice."""
    buf = memoryview(buf)
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise _WireError("fixed64 field runs past the end")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _WireError(f"field {number} declares {length} bytes, only {end - pos} remain")
            value = buf[pos:pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise _WireError("fixed32 field runs past the end")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise _WireError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_shape(buf) -> tuple[int, ...]:
    # TensorShapeProto: repeated Dim dim = 2 (Dim: int64 size = 1); unknown_rank = 3.
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:
            size = 0
            for n2, _, v2 in _fields(value):
                if n2 == 1:
                    size = _signed64(v2)
            dims.append(size)
        elif number == 3 and value:
            raise _WireError("tensor of unknown rank")
    return tuple(dims)


def _parse_slice(buf) -> list[tuple[int, int | None]]:
    # TensorSliceProto: repeated Extent extent = 1 (Extent: int64 start = 1, length = 2);
    # an extent without a length covers the whole dimension.
    extents = []
    for number, _, value in _fields(buf):
        if number == 1:
            start, length = 0, None
            for n2, _, v2 in _fields(value):
                if n2 == 1:
                    start = _signed64(v2)
                elif n2 == 2:
                    length = _signed64(v2)
            extents.append((start, length))
    return extents


def _packed_varints(buf) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        values.append(v)
    return values


def _parse_tensor_proto(buf, *, dtype: np.dtype, count: int) -> np.ndarray:
    """Values of a ``TensorProto`` as a flat array of ``count`` elements of ``dtype``."""
    # TensorProto: tensor_content = 4 (raw bytes); typed repeated fields otherwise.
    content = None
    floats: list = []
    doubles: list = []
    ints: list[int] = []
    for number, wire, value in _fields(buf):
        if number == 4:
            content = bytes(value)
        elif number == 5:  # float_val (packed, or one fixed32 each)
            floats.append(np.frombuffer(value, "<f4") if wire == 2
                          else np.frombuffer(struct.pack("<I", value), "<f4"))
        elif number == 6:  # double_val
            doubles.append(np.frombuffer(value, "<f8") if wire == 2
                           else np.frombuffer(struct.pack("<Q", value), "<f8"))
        elif number in (7, 10, 11, 13, 16, 17):  # int_val, int64_val, bool_val, half_val, uint32, uint64
            ints.extend(_packed_varints(value) if wire == 2 else [value])
    if content is not None:
        values = np.frombuffer(content, dtype=dtype)
    elif floats:
        values = (floats[0] if len(floats) == 1 else np.concatenate(floats)).astype(dtype, copy=False)
    elif doubles:
        values = (doubles[0] if len(doubles) == 1 else np.concatenate(doubles)).astype(dtype, copy=False)
    elif ints:
        if dtype == np.dtype("<f2"):  # half_val holds the 16-bit patterns
            values = np.array(ints, dtype=np.uint16).view("<f2")
        else:
            values = np.array([_signed64(v) if dtype.kind == "i" else v for v in ints]).astype(dtype)
    else:
        values = np.zeros(0, dtype=dtype)
    if values.size == count:
        return values
    if values.size == 1:  # TensorFlow's convention: one value fills the tensor
        return np.full(count, values[0], dtype=dtype)
    if count == 0 and values.size == 0:
        return values
    raise _WireError(f"tensor holds {values.size} values, its shape needs {count}")


# --------------------------------------------------------------------------- snappy

def _snappy_decompress(data) -> bytes:
    """Decompress a raw Snappy block (table blocks may be Snappy-compressed)."""
    data = memoryview(data)
    size, pos = _varint(data, 0)
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
            raise _WireError(f"snappy copy offset {offset} outside the {len(out)} bytes decoded")
        for _ in range(length):  # copies may overlap their own output
            out.append(out[-offset])
    if len(out) != size:
        raise _WireError(f"snappy block decodes to {len(out)} bytes, header says {size}")
    return bytes(out)


# --------------------------------------------------------------------------- SSTable

def _read_block(buf: memoryview, offset: int, size: int, *, verify: bool) -> memoryview:
    end = offset + size + _BLOCK_TRAILER_LEN
    if offset < 0 or end > len(buf):
        raise _WireError(f"block at byte {offset} (+{size}) runs past the end of the file ({len(buf)} bytes)")
    contents = buf[offset:offset + size]
    kind = buf[offset + size]
    if verify:
        stored = unmask_crc(struct.unpack_from("<I", buf, offset + size + 1)[0])
        if crc32c(buf[offset:offset + size + 1]) != stored:
            raise _WireError(f"checksum mismatch in the block at byte {offset}")
    if kind == _NO_COMPRESSION:
        return contents
    if kind == _SNAPPY:
        return memoryview(_snappy_decompress(contents))
    raise _WireError(f"block at byte {offset} uses unknown compression type {kind}")


def _block_entries(block: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    if len(block) < 4:
        raise _WireError("block shorter than its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise _WireError("block restart array larger than the block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise _WireError("block entry runs past the end of the block")
        key = key[:shared] + bytes(block[pos:pos + unshared])
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _table_entries(buf: memoryview, *, verify: bool) -> Iterator[tuple[bytes, memoryview]]:
    """Every ``(key, value)`` of an SSTable held in ``buf``, in key order."""
    if len(buf) < _FOOTER_LEN:
        raise _WireError(f"file is {len(buf)} bytes, shorter than a table footer ({_FOOTER_LEN})")
    footer = buf[len(buf) - _FOOTER_LEN:]
    magic = struct.unpack_from("<Q", footer, _FOOTER_LEN - 8)[0]
    if magic != _TABLE_MAGIC:
        raise _WireError("no TensorFlow table footer (wrong magic number): not a checkpoint, or truncated")
    pos = 0
    _meta_offset, pos = _varint(footer, pos)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    index = _read_block(buf, index_offset, index_size, verify=verify)
    for _, handle in _block_entries(index):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        yield from _block_entries(_read_block(buf, offset, size, verify=verify))


# --------------------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class _TensorInfo:
    dtype_enum: int
    shape: tuple[int, ...]


class TFCheckpoint:
    """A TensorFlow checkpoint opened for reading (V1 single file or V2 bundle).

    Use :func:`open_checkpoint`. Tensors are read on demand with :meth:`read`, which
    checks their CRC32C.

    Attributes
    ----------
    path : Path
        The file or prefix the checkpoint was opened from.
    format : str
        ``"V1"`` (tensor-slice table) or ``"V2"`` (tensor bundle).
    """

    def __init__(self, path: Path, fmt: str, infos: dict[str, _TensorInfo], loader) -> None:
        self.path = path
        self.format = fmt
        self._infos = infos
        self._loader = loader

    def names(self) -> list[str]:
        """Names of every tensor, sorted.

        Returns
        -------
        list of str
        """
        return sorted(self._infos)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``name -> shape`` of every tensor.

        Returns
        -------
        dict of str -> tuple of int
            In name order.
        """
        return {name: info.shape for name, info in sorted(self._infos.items())}

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name``.

        Parameters
        ----------
        name : str

        Returns
        -------
        tuple of int

        Raises
        ------
        FeatureError
            For an unknown name (listing a few known ones).
        """
        return self._info(name).shape

    def dtype(self, name: str) -> np.dtype:
        """The NumPy dtype of tensor ``name``.

        Parameters
        ----------
        name : str

        Returns
        -------
        np.dtype
            From :data:`TF_DTYPES`.

        Raises
        ------
        FeatureError
            For an unknown name, or a TensorFlow dtype scorelens cannot read.
        """
        enum = self._info(name).dtype_enum
        if enum not in TF_DTYPES:
            raise FeatureError(f"{self.path}: tensor {name!r} has TensorFlow dtype {enum}, which scorelens cannot read")
        return TF_DTYPES[enum]

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as a new array of its shape and dtype.

        Parameters
        ----------
        name : str

        Returns
        -------
        np.ndarray [shape=self.shape(name), dtype=self.dtype(name)]

        Raises
        ------
        FeatureError
            Unknown name (listing a few known ones), unsupported dtype, or corrupt data.
        """
        info = self._info(name)
        dtype = self.dtype(name)
        try:
            return self._loader(name, info, dtype)
        except _WireError as exc:
            raise FeatureError(f"{self.path}: tensor {name!r} is corrupt: {exc}") from None

    def _info(self, name: str) -> _TensorInfo:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self.names()[:8])
            raise FeatureError(
                f"{self.path}: no tensor {name!r} in this {self.format} checkpoint "
                f"({len(self._infos)} tensors: {known}{', …' if len(self._infos) > 8 else ''})") from None


def _read_bytes(path: Path) -> memoryview:
    try:
        return memoryview(path.read_bytes())
    except OSError as exc:
        raise FeatureError(f"{path}: cannot read the checkpoint file ({exc.strerror or exc})") from exc


def _resolve(path: Path) -> tuple[str, str]:
    """Find the format and the file (V1) or prefix string (V2) a user path refers to."""
    if path.is_dir():
        # A folder saved with an empty prefix (musicnn's MSD_musicnn/.index), or holding one bundle.
        if (path / ".index").is_file():
            return "V2", os.path.join(str(path), "")
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return "V2", str(indexes[0])[: -len(".index")]
        raise FeatureError(
            f"{path}: folder holds {len(indexes)} TensorFlow '.index' files; give the checkpoint prefix "
            "(or the V1 checkpoint file) instead of the folder")
    if path.name.endswith(".index") and path.is_file():
        return "V2", str(path)[: -len(".index")]
    if Path(str(path) + ".index").is_file():
        return "V2", str(path)
    if path.is_file():
        return "V1", str(path)
    if path.parent.is_dir() and any(path.parent.glob(path.name + ".data-*")):
        raise FeatureError(f"{path}: the bundle's data file is there but {path}.index is missing")
    raise FeatureError(f"{path}: no such checkpoint (neither a file nor a prefix with a '.index' file)")


def open_checkpoint(path: str | os.PathLike, *, verify: bool = True) -> TFCheckpoint:
    """Open a TensorFlow checkpoint written by a V1 or V2 saver.

    Parameters
    ----------
    path : str or path-like
        A V1 checkpoint file (``vggish_model.ckpt``), a V2 prefix (``model.ckpt`` next to
        ``model.ckpt.index``), the ``.index`` file itself, or a folder holding one bundle
        (musicnn's ``MSD_musicnn/`` with ``.index`` and ``.data-00000-of-00001``).
    verify : bool
        Check the CRC32C of every table block and tensor (recommended; about a second
        for VGGish's 288 MB on one core).

    Returns
    -------
    TFCheckpoint

    Raises
    ------
    FeatureError
        Missing, truncated or corrupt file, or a file that is not a TensorFlow checkpoint.
    """
    fmt, where = _resolve(Path(path))
    if fmt == "V2":
        return _open_v2(where, verify=verify)
    return _open_v1(Path(where), verify=verify)


# ---- V2 bundle

def _open_v2(prefix: str, *, verify: bool) -> TFCheckpoint:
    index_path = Path(prefix + ".index")
    buf = _read_bytes(index_path)
    num_shards = 1
    entries: dict[str, tuple[int, tuple[int, ...], int, int, int, int | None]] = {}
    try:
        for key, value in _table_entries(buf, verify=verify):
            if key == b"":
                # BundleHeaderProto: num_shards = 1, endianness = 2 (0 little), version = 3.
                for number, _, v in _fields(value):
                    if number == 1:
                        num_shards = v
                    elif number == 2 and v != 0:
                        raise _WireError("big-endian bundle")
                continue
            # BundleEntryProto: dtype 1, shape 2, shard_id 3, offset 4, size 5, crc32c 6, slices 7.
            dtype, shape, shard, offset, size, crc, sliced = 0, (), 0, 0, 0, None, False
            for number, _, v in _fields(value):
                if number == 1:
                    dtype = v
                elif number == 2:
                    shape = _parse_shape(v)
                elif number == 3:
                    shard = v
                elif number == 4:
                    offset = v
                elif number == 5:
                    size = v
                elif number == 6:
                    crc = v
                elif number == 7:
                    sliced = True
            name = key.decode("utf-8", errors="replace")
            if sliced:
                raise _WireError(f"tensor {name!r} is partitioned into slices, which scorelens does not read")
            entries[name] = (dtype, shape, shard, offset, size, crc)
    except _WireError as exc:
        raise FeatureError(f"{index_path}: not a valid TensorFlow checkpoint index: {exc}") from None
    if not entries:
        raise FeatureError(f"{index_path}: checkpoint index lists no tensors")
    shard_paths = {s: Path(f"{prefix}.data-{s:05d}-of-{num_shards:05d}") for s in range(num_shards)}
    for s, p in shard_paths.items():
        if not p.is_file():
            raise FeatureError(f"{index_path}: its data shard {p} is missing")
    shard_bufs: dict[int, memoryview] = {}

    def load(name: str, info: _TensorInfo, dtype: np.dtype) -> np.ndarray:
        _, shape, shard, offset, size, crc = entries[name]
        if shard not in shard_paths:
            raise _WireError(f"shard {shard} out of range (bundle has {num_shards})")
        if shard not in shard_bufs:
            shard_bufs[shard] = _read_bytes(shard_paths[shard])
        data = shard_bufs[shard]
        count = int(np.prod(shape, dtype=np.int64))
        if size != count * dtype.itemsize:
            raise _WireError(f"{size} bytes stored for shape {shape} of {dtype}")
        if offset + size > len(data):
            raise _WireError(f"bytes {offset}-{offset + size} lie beyond the end of {shard_paths[shard]} "
                             f"({len(data)} bytes; truncated?)")
        raw = data[offset:offset + size]
        if verify and crc is not None and crc32c(raw) != unmask_crc(crc):
            raise _WireError(f"checksum mismatch in {shard_paths[shard]} at byte {offset}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    infos = {name: _TensorInfo(e[0], e[1]) for name, e in entries.items()}
    return TFCheckpoint(Path(prefix), "V2", infos, load)


# ---- V1 tensor-slice table

def _open_v1(path: Path, *, verify: bool) -> TFCheckpoint:
    buf = _read_bytes(path)
    infos: dict[str, _TensorInfo] = {}
    slices: dict[str, list[tuple[list[tuple[int, int | None]], memoryview]]] = {}
    try:
        for key, value in _table_entries(buf, verify=verify):
            for number, _, msg in _fields(value):
                if number == 1 and key == b"":
                    # SavedTensorSlices.meta -> SavedTensorSliceMeta: repeated SavedSliceMeta tensor = 1
                    # (SavedSliceMeta: name = 1, shape = 2, type = 3, repeated slice = 4).
                    for n2, _, tensor in _fields(msg):
                        if n2 != 1:
                            continue
                        name, shape, dtype = "", (), 0
                        for n3, _, v in _fields(tensor):
                            if n3 == 1:
                                name = bytes(v).decode("utf-8", errors="replace")
                            elif n3 == 2:
                                shape = _parse_shape(v)
                            elif n3 == 3:
                                dtype = v
                        infos[name] = _TensorInfo(dtype, shape)
                elif number == 2:
                    # SavedTensorSlices.data -> SavedSlice: name = 1, slice = 2, data = 3 (TensorProto).
                    name, extents, data = "", [], None
                    for n2, _, v in _fields(msg):
                        if n2 == 1:
                            name = bytes(v).decode("utf-8", errors="replace")
                        elif n2 == 2:
                            extents = _parse_slice(v)
                        elif n2 == 3:
                            data = v
                    if data is not None:
                        slices.setdefault(name, []).append((extents, data))
    except _WireError as exc:
        raise FeatureError(f"{path}: not a valid TensorFlow checkpoint: {exc}") from None
    if not infos:
        raise FeatureError(f"{path}: a TensorFlow table without checkpoint metadata (not a V1 checkpoint)")

    def load(name: str, info: _TensorInfo, dtype: np.dtype) -> np.ndarray:
        shape = info.shape
        parts = slices.get(name, [])
        count = int(np.prod(shape, dtype=np.int64))
        if len(parts) == 1 and all(length is None for _, length in parts[0][0]):  # one slice, the whole tensor
            return _parse_tensor_proto(parts[0][1], dtype=dtype, count=count).reshape(shape).copy()
        out = np.zeros(shape, dtype=dtype)
        covered = 0
        for extents, data in parts:
            index = []
            for d, size in enumerate(shape):
                start, length = extents[d] if d < len(extents) else (0, None)
                length = size - start if length is None else length
                if start < 0 or start + length > size:
                    raise _WireError(f"slice {extents} outside shape {shape}")
                index.append(slice(start, start + length))
            part_shape = tuple(s.stop - s.start for s in index)
            count = int(np.prod(part_shape, dtype=np.int64))
            out[tuple(index)] = _parse_tensor_proto(data, dtype=dtype, count=count).reshape(part_shape)
            covered += count
        if covered != out.size:
            raise _WireError(f"slices cover {covered} of its {out.size} values")
        return out

    return TFCheckpoint(path, "V1", infos, load)
