"""An opened checkpoint: tensor names, shapes and dtypes, and tensors read on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorelens.exceptions import FeatureError
from scorelens.io.tfcheckpoint._wire import WireError

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


@dataclass(frozen=True)
class TensorInfo:
    """What a checkpoint's index says of one tensor: its TensorFlow dtype number and shape."""

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

    def __init__(self, path: Path, fmt: str, infos: dict[str, TensorInfo],
                 loader: Callable[[str, TensorInfo, np.dtype], np.ndarray]) -> None:
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
        except WireError as exc:
            raise FeatureError(f"{self.path}: tensor {name!r} is corrupt: {exc}") from None

    def _info(self, name: str) -> TensorInfo:
        try:
            return self._infos[name]
        except KeyError:
            known = ", ".join(self.names()[:8])
            raise FeatureError(
                f"{self.path}: no tensor {name!r} in this {self.format} checkpoint "
                f"({len(self._infos)} tensors: {known}{', …' if len(self._infos) > 8 else ''})") from None


def read_bytes(path: Path) -> memoryview:
    """The whole file, or a FeatureError naming it."""
    try:
        return memoryview(path.read_bytes())
    except OSError as exc:
        raise FeatureError(f"{path}: cannot read the checkpoint file ({exc.strerror or exc})") from exc
