"""The workspace: one output folder that every stage writes into, and that makes re-runs resume.

Layout (each stage owns one sub-folder)::

    WORKSPACE/
      .scorelens-workspace        marks the folder (refuses to write into arbitrary folders)
      fingerprints.sqlite         default fingerprint database (stamp)
      cues/<film>.parquet|.csv    cue tables (stamp)
      features/…                  features (features)
      results/…                   evaluation, models, analyses
      settings/<stage>.json       resolved settings of the last run of each stage

Every output is written to a temporary file in the same folder and moved into place
atomically, and then a small *record* (``<output>.done.json``) is written beside it
holding the unit's key: a digest of the input content and the settings. A unit is
done when its record exists and its key matches; a crash at any point leaves either
the old output, or a new output without a record (redone on the next run), never a
half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from scorelens import __version__
from scorelens.exceptions import WorkspaceError

__all__ = ["Workspace", "atomic_path", "write_json_atomic"]

_MARKER = ".scorelens-workspace"
# The process's umask (read once: os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds."""
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


class Workspace:
    """An output folder shared by all stages.

    Parameters
    ----------
    root : str or path-like
        Folder to use; created if missing. An existing non-empty folder that is not a
        workspace is refused, so a typo cannot scatter outputs into a home folder.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: workspace must be a folder, not a file")
        marker = self.root / _MARKER
        if self.root.is_dir() and any(self.root.iterdir()) and not marker.exists():
            raise WorkspaceError(
                f"{self.root}: folder is not empty and is not a scorelens workspace "
                f"(no {_MARKER} file); choose an empty or new folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not marker.exists():
                marker.write_text(json.dumps({"created_by": f"scorelens {__version__}",
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        except OSError as exc:
            raise WorkspaceError(f"{self.root}: cannot write to the workspace ({exc.strerror})") from exc

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def path(self, *parts: str) -> Path:
        """A path inside the workspace (parent folders created)."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def default_db(self) -> str:
        """The default fingerprint database: a SQLite file in the workspace."""
        return str(self.path("fingerprints.sqlite"))

    @staticmethod
    def _record_path(output: Path) -> Path:
        return output.with_name(output.name + ".done.json")

    def is_done(self, output: str | os.PathLike, key: str) -> bool:
        """Whether ``output`` exists and was produced for this ``key`` (inputs + settings digest)."""
        output = Path(output)
        record = self._record_path(output)
        if not (output.exists() and record.exists()):
            return False
        try:
            return json.loads(record.read_text()).get("key") == key
        except (OSError, json.JSONDecodeError):
            return False

    def record(self, output: str | os.PathLike) -> dict | None:
        """The record written beside ``output``, or None."""
        record = self._record_path(Path(output))
        try:
            return json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def commit(self, output: str | os.PathLike, key: str, write: Callable[[Path], None],
               meta: dict | None = None) -> Path:
        """Produce ``output`` atomically with ``write(tmp_path)`` and record it as done for ``key``.

        Parameters
        ----------
        output : path
            Final location (inside the workspace).
        key : str
            Digest of the inputs and settings; a later :meth:`is_done` with the same key skips the work.
        write : callable
            Writes the output to the temporary path it is given.
        meta : dict, optional
            Extra information kept in the record (settings, input files, counts).
        """
        output = Path(output)
        record = self._record_path(output)
        if record.exists():
            record.unlink()  # the old record must not vouch for the new output while it is written
        with atomic_path(output) as tmp:
            write(tmp)
        write_json_atomic(record, {"key": key, "scorelens": __version__,
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **(meta or {})})
        return output

    def save_settings(self, stage: str, *configs) -> Path:
        """Write the resolved settings of a stage to ``settings/<stage>.json``."""
        data = {"scorelens": __version__}
        for cfg in configs:
            data[type(cfg).__name__] = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg
        target = self.path("settings", f"{stage}.json")
        write_json_atomic(target, data)
        return target
