"""CRC32C (Castagnoli), as TensorFlow's ``crc32c.h``, and LevelDB's masked form of it.

Every table block and every tensor of a checkpoint carries one (reflected polynomial
0x82F63B78). Weights files are hundreds of MB, and a byte-at-a-time Python loop would take
minutes, so long buffers are cut into equal lanes processed side by side with NumPy, and
the lane CRCs are then combined using the linearity of the CRC register over GF(2).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

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
