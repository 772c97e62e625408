"""The visual stage: brightness and contrast of whole films at 1 Hz, and their medians over each cue.

Storage, in the workspace's ``features/visual/``: ``films/<film_id>.parquet`` shards (keyed
by the film file's digest and the settings), ``frames.parquet`` (``film_id, time_s,
brightness, contrast``) and ``cues.parquet`` (``film_id, cue_id, start_s, end_s, n_frames,
brightness, contrast``: the medians over the grid frames inside each cue, for Table 5).
Decoding a film's pictures is the per-film task (:func:`visual_film_task`); the driver
commits what it returns.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens import __version__
from scorelens.config import VisualConfig, settings_digest
from scorelens.exceptions import ScorelensError
from scorelens.features.pipeline import write_feature_table
from scorelens.features.visual import VISUAL_VERSION, cue_summaries, visual_frames
from scorelens.io.audio import file_digest
from scorelens.stages.executor import Executor, LocalExecutor, Progress, no_progress, select_films
from scorelens.stamp.cuetable import read_cue_table
from scorelens.workspace import Workspace

__all__ = ["VisualSource", "VisualReport", "run_visual", "visual_film_task", "visual_sources"]

log = logging.getLogger(__name__)

KIND = "visual"


@dataclass(frozen=True)
class VisualSource:
    """One film of a visual run: its file and (optionally) its cue table."""

    film_id: str
    film: Path
    cues: Path | None = None


@dataclass
class VisualReport:
    """What happened in one run of :func:`run_visual`."""

    films: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    frames_path: Path | None = None
    cues_path: Path | None = None

    @property
    def failed(self) -> dict[str, str]:
        """Film id -> reason of each film that failed (the same dict as ``failures``)."""
        return self.failures


def visual_sources(workspace: Workspace, corpus, films: Sequence[str] | None = None) -> list[VisualSource]:
    """The corpus' films (in its order, or only ``films``) with their cue tables in the workspace.

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus
    films : sequence of str, optional
        Film ids to keep (default: all).

    Returns
    -------
    list of VisualSource

    Raises
    ------
    ParameterError
        ``films`` names a film that is not in the corpus.
    """
    ids = select_films([f.id for f in corpus.films], films, str(corpus.path))
    return [VisualSource(film_id=i, film=corpus.film(i).film, cues=workspace.layout.existing_cue_table(i))
            for i in ids]


def visual_film_task(film: str, film_id: str, config: VisualConfig) -> pd.DataFrame:
    """Brightness and contrast of one film at the grid times: the pure per-film task.

    Parameters
    ----------
    film : str
        Film file.
    film_id : str
    config : VisualConfig

    Returns
    -------
    pd.DataFrame
        :func:`~scorelens.features.visual.visual_frames`'s table with a leading ``film_id`` column.

    Raises
    ------
    MediaError
        The film cannot be read or has no readable video frame.
    """
    frames = visual_frames(film, config=config)
    frames.insert(0, "film_id", film_id)
    return frames


def run_visual(workspace: Workspace, config: VisualConfig, films: Sequence[VisualSource], *,
               keep_going: bool = False, force: bool = False, executor: Executor | None = None,
               progress: Progress | None = None) -> VisualReport:
    """Brightness and contrast of whole films at 1 Hz, cached per film, plus per-cue medians.

    Parameters
    ----------
    workspace : Workspace
    config : VisualConfig
    films : sequence of VisualSource
    keep_going : bool
        Record a failing film and continue (otherwise raise after committing the others).
    force : bool
        Recompute cached films.
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    VisualReport
    """
    progress = progress or no_progress
    executor = executor or LocalExecutor()
    layout = workspace.layout
    workspace.save_settings("visual", config)
    record = {"kind": KIND, "version": VISUAL_VERSION, "settings": dataclasses.asdict(config),
              "scorelens": __version__}
    settings_key = settings_digest({k: v for k, v in record.items() if k != "scorelens"})
    report = VisualReport()
    frames_of: dict[str, pd.DataFrame] = {}
    keys: dict[str, str] = {}
    todo = []
    first_error = None
    for source in films:
        try:
            shard = layout.feature_shard(KIND, source.film_id)
            keys[source.film_id] = settings_digest({"settings": settings_key, "film": file_digest(source.film)})
            if not force and workspace.is_done(shard, keys[source.film_id]):
                frames_of[source.film_id] = pd.read_parquet(shard)
                report.cached.append(source.film_id)
            else:
                todo.append(source)
        except ScorelensError as exc:
            report.failures[source.film_id] = str(exc)
            first_error = first_error or exc
    advance = progress("visual features", len(films))
    advance(len(report.cached))
    items = [(str(s.film), s.film_id, config) for s in todo]
    for position, outcome in executor.map(visual_film_task, items, names=[f"visual-{s.film_id}" for s in todo]):
        source = todo[position]
        advance(1, source.film_id)
        if isinstance(outcome, BaseException):
            report.failures[source.film_id] = str(outcome)
            first_error = first_error or outcome
            log.error("%s: %s", source.film_id, outcome)
            if not keep_going:
                break  # fail fast: finished films stay committed, the rest waits for the re-run
            continue
        frames_of[source.film_id] = outcome
        workspace.commit(layout.feature_shard(KIND, source.film_id), keys[source.film_id],
                         lambda p, df=outcome, f=source.film_id: write_feature_table(df, p, {**record, "film_id": f}),
                         meta={**record, "film": str(source.film), "frames": len(outcome)})
    frames_all, cues_all, inputs = [], [], []
    for source in films:
        if source.film_id not in frames_of:
            continue
        try:
            frames = frames_of[source.film_id]
            part = [(source.film_id, keys[source.film_id])]
            if source.cues is not None and Path(source.cues).exists():
                cues = read_cue_table(source.cues, film_id=source.film_id)
                cues_all.append(cue_summaries(frames, cues))
                part.append((source.film_id, file_digest(source.cues)))
            else:
                log.warning("%s: no cue table; visual frames only", source.film_id)
        except ScorelensError as exc:
            report.failures[source.film_id] = str(exc)
            first_error = first_error or exc
            continue
        inputs += part
        frames_all.append(frames)
        report.films.append(source.film_id)
    if frames_all:
        key = settings_digest({"settings": settings_key, "films": inputs})
        frames_path, cues_path = layout.features(KIND, "frame"), layout.features(KIND, "cue")
        report.frames_path, report.cues_path = frames_path, cues_path
        if force or not (workspace.is_done(frames_path, key) and workspace.is_done(cues_path, key)):
            frames = pd.concat(frames_all, ignore_index=True)
            cues = (pd.concat(cues_all, ignore_index=True) if cues_all else
                    cue_summaries(frames.iloc[:0], pd.DataFrame(columns=["film_id", "cue_id", "start_s", "end_s"])))
            meta = {**record, "films": report.films}
            workspace.commit(frames_path, key, lambda p: write_feature_table(frames, p, {**meta, "level": "frame"}),
                             meta={**meta, "rows": len(frames)})
            workspace.commit(cues_path, key, lambda p: write_feature_table(cues, p, {**meta, "level": "cue"}),
                             meta={**meta, "rows": len(cues)})
    if first_error is not None and not keep_going:
        raise first_error
    return report
