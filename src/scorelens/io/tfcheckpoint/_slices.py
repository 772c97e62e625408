"""The V1 tensor-slice table: one SSTable file, the format of Google's ``vggish_model.ckpt``.

Key ``""`` holds ``SavedTensorSlices.meta`` (names, shapes, dtypes); the other keys hold
``SavedTensorSlices.data``: a ``SavedSlice`` (name, slice extents, ``TensorProto`` with the
values), as ``saved_tensor_slice.proto`` defines them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scorelens.exceptions import FeatureError
from scorelens.io.tfcheckpoint._checkpoint import TensorInfo, TFCheckpoint, read_bytes
from scorelens.io.tfcheckpoint._protos import parse_shape, parse_slice, parse_tensor_proto
from scorelens.io.tfcheckpoint._sstable import table_entries
from scorelens.io.tfcheckpoint._wire import WireError, fields


def open_v1(path: Path, *, verify: bool) -> TFCheckpoint:
    buf = read_bytes(path)
    infos: dict[str, TensorInfo] = {}
    slices: dict[str, list[tuple[list[tuple[int, int | None]], memoryview]]] = {}
    try:
        for key, value in table_entries(buf, verify=verify):
            for number, _, msg in fields(value):
                if number == 1 and key == b"":
                    # SavedTensorSlices.meta -> SavedTensorSliceMeta: repeated SavedSliceMeta tensor = 1
                    # (SavedSliceMeta: name = 1, shape = 2, type = 3, repeated slice = 4).
                    for n2, _, tensor in fields(msg):
                        if n2 != 1:
                            continue
                        name, shape, dtype = "", (), 0
                        for n3, _, v in fields(tensor):
                            if n3 == 1:
                                name = bytes(v).decode("utf-8", errors="replace")
                            elif n3 == 2:
                                shape = parse_shape(v)
                            elif n3 == 3:
                                dtype = v
                        infos[name] = TensorInfo(dtype, shape)
                elif number == 2:
                    # SavedTensorSlices.data -> SavedSlice: name = 1, slice = 2, data = 3 (TensorProto).
                    name, extents, data = "", [], None
                    for n2, _, v in fields(msg):
                        if n2 == 1:
                            name = bytes(v).decode("utf-8", errors="replace")
                        elif n2 == 2:
                            extents = parse_slice(v)
                        elif n2 == 3:
                            data = v
                    if data is not None:
                        slices.setdefault(name, []).append((extents, data))
    except WireError as exc:
        raise FeatureError(f"{path}: not a valid TensorFlow checkpoint: {exc}") from None
    if not infos:
        raise FeatureError(f"{path}: a TensorFlow table without checkpoint metadata (not a V1 checkpoint)")

    def load(name: str, info: TensorInfo, dtype: np.dtype) -> np.ndarray:
        shape = info.shape
        parts = slices.get(name, [])
        count = int(np.prod(shape, dtype=np.int64))
        if len(parts) == 1 and all(length is None for _, length in parts[0][0]):  # one slice, the whole tensor
            return parse_tensor_proto(parts[0][1], dtype=dtype, count=count).reshape(shape).copy()
        out = np.zeros(shape, dtype=dtype)
        covered = 0
        for extents, data in parts:
            index = []
            for d, size in enumerate(shape):
                start, length = extents[d] if d < len(extents) else (0, None)
                length = size - start if length is None else length
                if start < 0 or start + length > size:
                    raise WireError(f"slice {extents} outside shape {shape}")
                index.append(slice(start, start + length))
            part_shape = tuple(s.stop - s.start for s in index)
            count = int(np.prod(part_shape, dtype=np.int64))
            out[tuple(index)] = parse_tensor_proto(data, dtype=dtype, count=count).reshape(part_shape)
            covered += count
        if covered != out.size:
            raise WireError(f"slices cover {covered} of its {out.size} values")
        return out

    return TFCheckpoint(path, "V1", infos, load)
