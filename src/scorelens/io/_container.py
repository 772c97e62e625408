"""Opening media files with PyAV, with the checks and messages every reader shares."""

from __future__ import annotations

from pathlib import Path

import av

from scorelens.exceptions import MediaError

__all__ = ["check_media_file", "open_media", "declared_duration"]


def check_media_file(path: Path) -> None:
    """Raise :class:`MediaError` for a missing, folder or empty path."""
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a folder, not a media file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: file is empty (0 bytes)")


def open_media(path: Path):
    """Open a media file for reading; anything FFmpeg cannot read is a :class:`MediaError`."""
    check_media_file(path)
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:  # InvalidDataError, EOFError, …
        raise MediaError(f"{path}: not a media file FFmpeg can read ({exc.strerror or exc})") from exc


def declared_duration(container, stream) -> float:
    """Duration a stream (or else its container) declares, in seconds; NaN when neither says."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return float("nan")
