"""What the stages left in a workspace, read back for reports: cue tables and film lengths.

Shared by ``scorelens figures`` (the cue timeline) and ``scorelens report`` (where the
music plays), so that both find the same cue tables and the same film lengths.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.exceptions import ScorelensError, WorkspaceError
from scorelens.workspace import Workspace, WorkspaceLayout

__all__ = ["cue_table_paths", "read_cue_tables", "film_durations"]

log = logging.getLogger(__name__)


def _layout(workspace) -> WorkspaceLayout:
    if isinstance(workspace, Workspace):
        return workspace.layout
    return workspace if isinstance(workspace, WorkspaceLayout) else WorkspaceLayout(workspace)


def cue_table_paths(workspace) -> dict[str, Path]:
    """Each film's cue table in the workspace, by film id (the Parquet file where both it and a CSV exist).

    Parameters
    ----------
    workspace : Workspace, WorkspaceLayout or path

    Returns
    -------
    dict of str -> Path
        Sorted by film id; empty when there is no cue table.
    """
    return _layout(workspace).cue_tables()


def read_cue_tables(workspace, films: list[str] | None = None) -> pd.DataFrame:
    """All cue tables of a workspace (or of ``films``, in that order) as one table.

    Raises
    ------
    WorkspaceError
        No cue table at all (naming the command that writes them).
    AnnotationError
        A cue table cannot be read (:func:`scorelens.stamp._cuetable.read_cue_table`).
    """
    from scorelens.stamp._cuetable import read_cue_table

    found = cue_table_paths(workspace)
    if films is not None:
        found = {f: found[f] for f in films if f in found}
    if not found:
        which = " for the manifest’s films" if films else ""
        raise WorkspaceError(f"{_layout(workspace).cues_dir}: no cue tables{which}; "
                             "run `scorelens stamp` first")
    return pd.concat([read_cue_table(p, film_id=f, annotation=True) for f, p in found.items()], ignore_index=True)


def film_durations(workspace, corpus=None) -> dict[str, float]:
    """Film lengths in seconds: from the manifest's film files where they open, else from the visual frames.

    The film files are probed, not decoded (the container's declared duration). The
    visual stage's ``features/visual/frames.parquet`` holds 1 Hz grid frames at
    mid-period (``k + 0.5`` s), so a film ends half a period after its last frame.

    Parameters
    ----------
    workspace : Workspace, WorkspaceLayout or path
    corpus : Corpus, optional
        The manifest, whose film files are probed first.

    Returns
    -------
    dict of str -> float
        Only the films whose length could be found.
    """
    out: dict[str, float] = {}
    if corpus is not None:
        from scorelens.io._video import probe_video

        for film in corpus.films:
            if film.film.is_file():
                try:
                    d = probe_video(film.film).duration_s
                except ScorelensError:
                    continue
                if d == d and d > 0:
                    out[film.id] = float(d)
    frames = _layout(workspace).features("visual", "frame")
    if frames.is_file():
        try:
            times = pd.read_parquet(frames, columns=["film_id", "time_s"])
        except Exception:  # noqa: BLE001 - an unreadable optional input only loses the lengths
            log.warning("%s: unreadable; film lengths from the cues only", frames)
        else:
            for film_id, t in times.groupby("film_id")["time_s"]:
                # The last sample stands for half a sampling step beyond it (0.5 s at 1 Hz).
                steps = np.diff(np.sort(t.to_numpy(dtype=float)))
                half = 0.5 * float(np.median(steps)) if len(steps) else 0.5
                out.setdefault(str(film_id), float(t.max()) + half)
    return out
