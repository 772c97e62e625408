"""The V2 tensor bundle: ``PREFIX.index`` (an SSTable of ``BundleEntryProto``) and data shards.

Key ``""`` holds a ``BundleHeaderProto``; every other key is a tensor name whose
``BundleEntryProto`` gives dtype, shape, shard, byte offset, size and a CRC32C of the raw
little-endian bytes stored in the ``.data`` shard (``tensor_bundle.proto``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scorelens.exceptions import FeatureError
from scorelens.io.tfcheckpoint._checkpoint import TensorInfo, TFCheckpoint, read_bytes
from scorelens.io.tfcheckpoint._crc32c import crc32c, unmask_crc
from scorelens.io.tfcheckpoint._protos import parse_shape
from scorelens.io.tfcheckpoint._sstable import table_entries
from scorelens.io.tfcheckpoint._wire import WireError, fields


def open_v2(prefix: str, *, verify: bool) -> TFCheckpoint:
    index_path = Path(prefix + ".index")
    buf = read_bytes(index_path)
    num_shards = 1
    entries: dict[str, tuple[int, tuple[int, ...], int, int, int, int | None]] = {}
    try:
        for key, value in table_entries(buf, verify=verify):
            if key == b"":
                # BundleHeaderProto: num_shards = 1, endianness = 2 (0 little), version = 3.
                for number, _, v in fields(value):
                    if number == 1:
                        num_shards = v
                    elif number == 2 and v != 0:
                        raise WireError("big-endian bundle")
                continue
            # BundleEntryProto: dtype 1, shape 2, shard_id 3, offset 4, size 5, crc32c 6, slices 7.
            dtype, shape, shard, offset, size, crc, sliced = 0, (), 0, 0, 0, None, False
            for number, _, v in fields(value):
                if number == 1:
                    dtype = v
                elif number == 2:
                    shape = parse_shape(v)
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
                raise WireError(f"tensor {name!r} is partitioned into slices, which scorelens does not read")
            entries[name] = (dtype, shape, shard, offset, size, crc)
    except WireError as exc:
        raise FeatureError(f"{index_path}: not a valid TensorFlow checkpoint index: {exc}") from None
    if not entries:
        raise FeatureError(f"{index_path}: checkpoint index lists no tensors")
    shard_paths = {s: Path(f"{prefix}.data-{s:05d}-of-{num_shards:05d}") for s in range(num_shards)}
    for s, p in shard_paths.items():
        if not p.is_file():
            raise FeatureError(f"{index_path}: its data shard {p} is missing")
    shard_bufs: dict[int, memoryview] = {}

    def load(name: str, info: TensorInfo, dtype: np.dtype) -> np.ndarray:
        _, shape, shard, offset, size, crc = entries[name]
        if shard not in shard_paths:
            raise WireError(f"shard {shard} out of range (bundle has {num_shards})")
        if shard not in shard_bufs:
            shard_bufs[shard] = read_bytes(shard_paths[shard])
        data = shard_bufs[shard]
        count = int(np.prod(shape, dtype=np.int64))
        if size != count * dtype.itemsize:
            raise WireError(f"{size} bytes stored for shape {shape} of {dtype}")
        if offset + size > len(data):
            raise WireError(f"bytes {offset}-{offset + size} lie beyond the end of {shard_paths[shard]} "
                             f"({len(data)} bytes; truncated?)")
        raw = data[offset:offset + size]
        if verify and crc is not None and crc32c(raw) != unmask_crc(crc):
            raise WireError(f"checksum mismatch in {shard_paths[shard]} at byte {offset}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    infos = {name: TensorInfo(e[0], e[1]) for name, e in entries.items()}
    return TFCheckpoint(Path(prefix), "V2", infos, load)
