"""Which checkpoint a user's path names, and in which format it is."""

from __future__ import annotations

import os
from pathlib import Path

from scorelens.exceptions import FeatureError
from scorelens.io.tfcheckpoint._bundle import open_v2
from scorelens.io.tfcheckpoint._checkpoint import TFCheckpoint
from scorelens.io.tfcheckpoint._slices import open_v1


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
        return open_v2(where, verify=verify)
    return open_v1(Path(where), verify=verify)
