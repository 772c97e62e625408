"""Reading a workspace for the report: each file read once, through one reader, and remembered as an input."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens.corpus import Corpus
from scorelens.exceptions import WorkspaceError
from scorelens.report._document import Image
from scorelens.report._sources import cue_table_paths
from scorelens.stamp._cuetable import read_cue_table
from scorelens.workspace import Workspace

#: The study's Score Stamper (Dejavu) on three annotated films: (mean, SD) of precision and recall.
STUDY_STAMPER = {"precision": (0.94, 0.012), "recall": (0.47, 0.086)}
_LEVELS = ("cue", "frame")
_IMAGE_SUFFIXES = (".png", ".svg")  # embeddable in HTML, in order of preference

# --- reading --------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path}: cannot read (expected a JSON object, found {type(data).__name__})")
    return data


def _read_table(path: Path, columns: tuple = ()) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False,
                                                                               na_values=[""])
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for a malformed file
        raise WorkspaceError(f"{path}: cannot read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                             ) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise WorkspaceError(f"{path}: cannot read (missing column(s) {', '.join(missing)})")
    return df


@dataclass
class _Inputs:
    """The workspace being reported on, with what was read from it (for the provenance)."""

    ws: Workspace
    corpus: Corpus | None = None
    read: list = field(default_factory=list)
    _cues: dict | None = None

    @property
    def root(self) -> Path:
        return self.ws.root

    @property
    def layout(self):
        return self.ws.layout

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()

    def link(self, path: Path) -> str:
        """``path`` relative to the report's folder, as the Markdown links it."""
        return Path(os.path.relpath(path, self.layout.report_dir)).as_posix()

    def use(self, path: Path) -> Path:
        if path not in self.read:
            self.read.append(path)
        return path

    def json(self, path: Path) -> dict:
        return _read_json(self.use(path))

    def table(self, path: Path, columns: tuple = ()) -> pd.DataFrame:
        return _read_table(self.use(path), columns)

    def cues(self) -> dict[str, pd.DataFrame]:
        """Each film's cue table, by film id (read once): the corpus' films only, when there is a corpus.

        A film removed from the manifest keeps its cue table in the workspace (a later run may
        need it again) but is no longer part of the study.
        """
        if self._cues is None:
            keep = {f.id for f in self.corpus.films} if self.corpus is not None else None
            self._cues = {f: read_cue_table(self.use(p), film_id=f, annotation=True)
                          for f, p in cue_table_paths(self.ws).items() if keep is None or f in keep}
        return self._cues

    def image(self, stem: Path, caption: str) -> Image | None:
        """The figure ``stem`` (a path without suffix) as PNG or SVG, if either exists."""
        for suffix in _IMAGE_SUFFIXES:
            path = stem.with_name(stem.name + suffix)
            if path.is_file():
                return Image(self.use(path), self.link(path), caption)
        return None

    def cmd(self, command: str, *, manifest: bool = False) -> str:
        """A command line for this workspace (and manifest), for *to do* lines."""
        m = f" -m {self.corpus.path if self.corpus is not None else 'MANIFEST'}" if manifest else ""
        return f"scorelens {command} -w {self.root}{m}"


def _todo(command: str) -> str:
    return f"not run yet — run `{command}`"
