"""The TensorFlow messages a checkpoint's shapes, slices and values are stored in.

Field numbers are those of TensorFlow's ``tensor_shape.proto``, ``tensor_slice.proto`` and
``tensor.proto``.
"""

from __future__ import annotations

import struct

import numpy as np

from scorelens.io.tfcheckpoint._wire import WireError, fields, signed64, varint


def parse_shape(buf) -> tuple[int, ...]:
    # TensorShapeProto: repeated Dim dim = 2 (Dim: int64 size = 1); unknown_rank = 3.
    dims = []
    for number, _, value in fields(buf):
        if number == 2:
            size = 0
            for n2, _, v2 in fields(value):
                if n2 == 1:
                    size = signed64(v2)
            dims.append(size)
        elif number == 3 and value:
            raise WireError("tensor of unknown rank")
    return tuple(dims)


def parse_slice(buf) -> list[tuple[int, int | None]]:
    # TensorSliceProto: repeated Extent extent = 1 (Extent: int64 start = 1, length = 2);
    # an extent without a length covers the whole dimension.
    extents = []
    for number, _, value in fields(buf):
        if number == 1:
            start, length = 0, None
            for n2, _, v2 in fields(value):
                if n2 == 1:
                    start = signed64(v2)
                elif n2 == 2:
                    length = signed64(v2)
            extents.append((start, length))
    return extents


def _packed_varints(buf) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        v, pos = varint(buf, pos)
        values.append(v)
    return values


def parse_tensor_proto(buf, *, dtype: np.dtype, count: int) -> np.ndarray:
    """Values of a ``TensorProto`` as a flat array of ``count`` elements of ``dtype``."""
    # TensorProto: tensor_content = 4 (raw bytes); typed repeated fields otherwise.
    content = None
    floats: list = []
    doubles: list = []
    ints: list[int] = []
    for number, wire, value in fields(buf):
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
            values = np.array([signed64(v) if dtype.kind == "i" else v for v in ints]).astype(dtype)
    else:
        values = np.zeros(0, dtype=dtype)
    if values.size == count:
        return values
    if values.size == 1:  # TensorFlow's convention: one value fills the tensor
        return np.full(count, values[0], dtype=dtype)
    if count == 0 and values.size == 0:
        return values
    raise WireError(f"tensor holds {values.size} values, its shape needs {count}")
