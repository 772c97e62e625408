"""Atomic file writes: an output appears whole, or not at all.

Used by the workspace (:mod:`scorelens.workspace`) and by the few algorithm-level writers
(model artifacts, evaluation tables) that must not depend on the workspace's layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_json_atomic", "check_writable_target"]

# The process's umask (read once: os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    The parent folders of ``target`` are created. The temporary file is removed whatever
    happens, so a crash leaves either the old ``target`` or the new one, never half of it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    # mkstemp makes the file private (0600); an output gets the mode any new file would.
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(target: str | os.PathLike, data) -> None:
    """Write ``data`` as indented JSON to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def check_writable_target(path: str | os.PathLike, *, what: str = "output") -> Path:
    """Make sure ``path`` can be written later: create its parent folders and probe them.

    Called before a long computation, so that a bad output path fails at once instead of
    after the work (and without losing it).

    Parameters
    ----------
    path : path
        The file that will be written.
    what : str
        Names the output in the message.

    Returns
    -------
    Path

    Raises
    ------
    WorkspaceError
        The path is a folder, or its folder cannot be created or written.
    """
    from scorelens.exceptions import WorkspaceError

    path = Path(path)
    if path.is_dir():
        raise WorkspaceError(f"{path}: {what} path is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"{path}: cannot create the folder of the {what} ({exc.strerror})") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise WorkspaceError(f"{path}: {what} is not writable (permission denied)")
    return path
