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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens._version import __version__
from scorelens.config import StudyConfig, VisualConfig, settings_digest
from scorelens.exceptions import ScorelensError
from scorelens.features._pipeline import write_feature_table
from scorelens.features._visual import VISUAL_VERSION, cue_summaries, visual_frames
from scorelens.io._audio import file_digest
from scorelens.stages._contract import FilmTask, StageReport, map_films, timed
from scorelens.stages._executor import Executor, Progress, select_films
from scorelens.stamp._cuetable import read_cue_table
from scorelens.workspace import Workspace

__all__ = ["VisualSource", "VisualReport", "run_visual", "compute_visual", "visual_film_task", "visual_sources"]

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
    recorded: list[str] = field(default_factory=list)
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
        :func:`~scorelens.features._visual.visual_frames`'s table with a leading ``film_id`` column.

    Raises
    ------
    MediaError
        The film cannot be read or has no readable video frame.
    """
    frames = visual_frames(film, config=config)
    frames.insert(0, "film_id", film_id)
    return frames


def compute_visual(workspace: Workspace, config: VisualConfig, films: Sequence[VisualSource], *,
                   keep_going: bool = False, force: bool = False, retry_failed: bool = False,
                   executor: Executor | None = None, progress: Progress | None = None) -> VisualReport:
    """Brightness and contrast of whole films at 1 Hz, cached per film, plus per-cue medians.

    The work behind the ``visual`` stage (:func:`run_visual`).

    Parameters
    ----------
    workspace : Workspace
    config : VisualConfig
    films : sequence of VisualSource
    keep_going : bool
        Record a failing film and continue (otherwise raise after committing the others).
    force : bool
        Recompute cached films.
    retry_failed : bool
        Try again films that failed before on the same file and settings.
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    VisualReport
    """
    layout = workspace.layout
    workspace.save_settings("visual", config)
    record = {"kind": KIND, "version": VISUAL_VERSION, "settings": dataclasses.asdict(config),
              "scorelens": __version__}
    settings_key = settings_digest({k: v for k, v in record.items() if k != "scorelens"})
    report = VisualReport()
    stage = StageReport("visual")
    tasks = []
    for source in films:
        try:
            key = settings_digest({"settings": settings_key, "film": file_digest(source.film)})
        except ScorelensError as exc:
            if not keep_going:
                raise
            report.failures[source.film_id] = str(exc)
            continue
        tasks.append(FilmTask(source.film_id, layout.feature_shard(KIND, source.film_id), key,
                              (str(source.film), source.film_id, config)))
    frames_of: dict[str, pd.DataFrame] = {}

    def commit(task: FilmTask, frames: pd.DataFrame) -> None:
        frames_of[task.film_id] = frames
        workspace.commit(task.output, task.key, lambda p: write_feature_table(frames, p, {**record,
                                                                                          "film_id": task.film_id}),
                         meta={**record, "film": task.args[0], "frames": len(frames)})

    try:
        done = map_films(workspace, stage, tasks, visual_film_task, commit, executor=executor, progress=progress,
                         description="visual features", keep_going=keep_going, retry_failed=retry_failed,
                         force=force)
    finally:
        report.failures.update(stage.failed)
        report.recorded = [f["film"] for f in stage.failures if f.get("recorded")]
    report.cached = list(stage.reused)
    keys = {t.film_id: t.key for t in tasks}
    sources = {s.film_id: s for s in films}
    frames_all, cues_all, inputs = [], [], []
    for task in done:
        source = sources[task.film_id]
        try:
            frames = frames_of[task.film_id] if task.film_id in frames_of else pd.read_parquet(task.output)
            part = [(source.film_id, keys[source.film_id])]
            if source.cues is not None and Path(source.cues).exists():
                cues = read_cue_table(source.cues, film_id=source.film_id)
                cues_all.append(cue_summaries(frames, cues))
                part.append((source.film_id, file_digest(source.cues)))
            else:
                log.warning("%s: no cue table; visual frames only", source.film_id)
        except ScorelensError as exc:
            if not keep_going:
                raise
            report.failures[source.film_id] = str(exc)
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
    return report


def run_visual(workspace: Workspace, config: StudyConfig, corpus, *, executor: Executor | None = None,
               progress: Progress | None = None) -> StageReport:
    """The ``visual`` stage: brightness and contrast of the corpus' films at 1 Hz, and their medians over each cue.

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``visual``, and ``run``'s ``keep_going``, ``retry_failed`` and ``force``.
    corpus : Corpus
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    StageReport
        ``result``: the :class:`VisualReport`.
    """
    t0 = time.perf_counter()
    report = StageReport("visual")
    rep = compute_visual(workspace, config.visual, visual_sources(workspace, corpus), keep_going=config.run.keep_going,
                         force=config.run.force, retry_failed=config.run.retry_failed, executor=executor,
                         progress=progress)
    for film_id, reason in rep.failures.items():
        report.fail(reason, film=film_id, **({"recorded": True} if film_id in rep.recorded else {}))
    report.reused = list(rep.cached)
    report.outputs = [p for p in (rep.frames_path, rep.cues_path) if p is not None]
    report.result = rep
    report.status = ("failed" if not rep.films else "reused" if len(rep.cached) == len(rep.films)
                     and not report.attempted else "done")
    report.detail = f"{len(rep.films)} film(s), {len(rep.cached)} reused, {len(rep.failures)} failed"
    return timed(report, t0)
