"""Stages of the Score Stamper: index soundtracks, stamp films, score the stamper against annotations.

The algorithm lives in :mod:`scorelens.stamp`; this module decides what to (re)do, runs the
per-film work through an executor and commits the cue tables to the workspace.

A damaged track does not sink its film: the film is stamped against the tracks that could
be read, and the damaged one is named in a warning and in the stage's report (and so in
``results/run.json``). A film none of whose tracks can be read fails.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scorelens.config import StamperConfig, StudyConfig, settings_digest
from scorelens.corpus import Corpus, Film
from scorelens.exceptions import MediaError, ParameterError, ScorelensError
from scorelens.io._atomic import atomic_path, check_writable_target
from scorelens.io._audio import file_digest
from scorelens.stages._contract import FilmTask, StageReport, map_films, timed
from scorelens.stages._executor import Executor, Progress, no_progress
from scorelens.stamp._cuetable import read_cue_table, write_cue_table
from scorelens.stamp._evaluate import evaluate_cues, summarise
from scorelens.stamp._library import library_key, open_library_index
from scorelens.stamp._pipeline import index_tracks, stamp_film
from scorelens.stamp._store import open_store, redact_url
from scorelens.workspace import Workspace

__all__ = ["StampEvalReport", "run_index", "run_stamp", "stamp_single_film", "run_stamp_eval", "stamp_film_task",
           "database_url", "commit_cue_table", "annotated_truth"]

log = logging.getLogger(__name__)


def database_url(workspace: Workspace, db: str | None) -> str:
    """The fingerprint database: ``db`` when given, else the workspace's SQLite file.

    Parameters
    ----------
    workspace : Workspace
    db : str, optional
        SQLite path or ``postgresql://`` URL.

    Returns
    -------
    str
        A URL for :func:`~scorelens.stamp._store.open_store`.
    """
    return db or workspace.default_db


def run_index(workspace: Workspace, config: StudyConfig, corpus: Corpus, *, executor: Executor | None = None,
              progress: Progress | None = None) -> StageReport:
    """Fingerprint every soundtrack track of the corpus into the database (known tracks are skipped).

    A track that cannot be read is a warning, not a failure: its film is stamped against
    the tracks that could be read (the stamp stage fails a film none of whose tracks can).

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``stamp`` (the fingerprint settings) and ``run.db`` (default: the workspace's SQLite file).
    corpus : Corpus
    executor : Executor, optional
        Unused: the database has one writer, this process.
    progress : callable, optional

    Returns
    -------
    StageReport
        ``reused``: the tracks already in the database; ``warnings``: unreadable tracks.
    """
    t0 = time.perf_counter()
    progress = progress or no_progress
    url = database_url(workspace, config.run.db)
    report = StageReport("index")
    tracks = list(dict.fromkeys(t for f in corpus.films for t in f.tracks))
    advance = progress("indexing", len(tracks))
    with open_store(url, config.stamp, create=True) as store:
        outcomes = index_tracks(tracks, store, config.stamp, keep_going=True, on_track=lambda _: advance(1))
        total = len(store.tracks())
    for o in outcomes:
        if o.status == "failed":
            report.warn(o.message, track=str(o.path))
        elif o.status == "known":
            report.reused.append(str(o.path))
    added = sum(o.status == "added" for o in outcomes)
    report.status = "done" if added else "reused"
    report.outputs = [Path(url)] if "://" not in url else []
    report.detail = (f"{added} added, {len(report.reused)} known, {len(report.warnings)} unreadable; "
                     f"{total} in the database")
    return timed(report, t0)


def stamp_film_task(film_path: str, film_id: str, db_url: str, config: StamperConfig,
                    track_ids: list[int] | None, library_dir: str | None = None,
                    soundtrack_ids: Sequence[int] = ()) -> tuple[pd.DataFrame, float]:
    """Stamp one film against indexed tracks: the pure per-film task an executor runs.

    Opens its own (read-only) connection to the database, so it runs in any process that
    sees the database: this one, a local Dask worker, or a cluster node (PostgreSQL).

    Parameters
    ----------
    film_path : str
        Film file.
    film_id : str
        Name of the film in the cue table.
    db_url : str
        SQLite path or ``postgresql://`` URL of an existing database.
    config : StamperConfig
    track_ids : list of int or None
        Candidate tracks (the film's soundtrack); None: every track of the database,
        through the library index in ``library_dir``.
    library_dir : str, optional
        Folder of the library index (whole-index stamping; the driver builds it first, so
        tasks only map it).
    soundtrack_ids : sequence of int
        Whole-index stamping: the film's own tracks, always candidates.

    Returns
    -------
    cues : pd.DataFrame
        The film's cue table.
    duration_s : float
        Seconds of film audio decoded.

    Raises
    ------
    StoreError
        No database at ``db_url``, other settings, or an unknown track id.
    MediaError
        The film cannot be read or has no audio.
    """
    with open_store(db_url, config, create=False) as store:
        result = stamp_film(film_path, store, config, film_id=film_id, track_ids=track_ids,
                            library_dir=library_dir, soundtrack_ids=soundtrack_ids)
    return result.cues, result.duration_s


def _index_film(film: Film, store, config: StamperConfig, report: StageReport) -> list[int]:
    """Index a film's soundtrack; damaged tracks are left out with a warning."""
    outcomes = index_tracks(film.tracks, store, config, keep_going=True)
    for o in outcomes:
        if o.status == "failed":
            message = f"track left out: {o.message}"
            log.warning("%s: %s", film.id, message)
            report.warn(message, film=film.id)
    ids = [o.track_id for o in outcomes if o.track_id is not None]
    if not ids:
        raise MediaError(f"{film.id}: none of the soundtrack's {len(film.tracks)} track(s) could be read "
                         f"({'; '.join(o.message for o in outcomes)})")
    return ids


def run_stamp(workspace: Workspace, config: StudyConfig, corpus: Corpus, *, executor: Executor | None = None,
              progress: Progress | None = None) -> StageReport:
    """Stamp every film of the corpus against its soundtrack (or the whole index), reusing finished cue tables.

    Each film's soundtrack is indexed first (idempotent), so the stage also runs on its own.
    A film's cue table is reused when it exists for the same film file, the same soundtrack
    content and the same settings; it is committed atomically (``cues/<film>.parquet`` and a
    ``.csv`` copy). Films with hand annotations are scored against them on the way
    (``results/stamp_eval.json``).

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``stamp``, and ``run``'s ``db``, ``whole_index`` (match every film against every
        track of the database through the library index, built once here and memory-mapped
        by every task; see :mod:`scorelens.stamp._library`), ``keep_going``, ``retry_failed``
        and ``force``.
    corpus : Corpus
    executor : Executor, optional
        Where the per-film stamping runs (default: this process). The driver alone writes
        the database; tasks on other processes only read it.
    progress : callable, optional

    Returns
    -------
    StageReport
        ``result``: film id -> its cue table's path, for every film that has one.
    """
    t0 = time.perf_counter()
    progress = progress or no_progress
    stamp_config, run = config.stamp, config.run
    whole_index = run.whole_index
    url = database_url(workspace, run.db)
    report = StageReport("stamp")
    workspace.save_settings("stamp", stamp_config, run={"whole_index": whole_index, "database": redact_url(url)})
    track_ids: dict[str, list[int]] = {}
    advance = progress("indexing soundtracks", len(corpus.films))
    with open_store(url, stamp_config, create=True) as store:
        # Every soundtrack first, so that whole-index matching sees all of them.
        for film in corpus.films:
            try:
                track_ids[film.id] = _index_film(film, store, stamp_config, report)
            except ScorelensError as exc:
                if not run.keep_going:
                    raise
                report.fail(str(exc), film=film.id)
            advance(1)
        tracks = store.tracks().set_index("id")
        # Whole-index cue tables depend on every track of the database: the library's key says which.
        library = library_key(store.tracks(), stamp_config) if whole_index else None
    library_dir = str(workspace.layout.library_index(url)) if whole_index else None
    tasks = []
    for film in corpus.films:
        if film.id not in track_ids:
            continue
        ids = track_ids[film.id]
        try:
            key = settings_digest({"film": file_digest(film.film), "config": settings_digest(stamp_config),
                                   "tracks": sorted(tracks.loc[ids, "content_digest"]), "whole_index": whole_index,
                                   **({"library": library} if whole_index else {})})
        except ScorelensError as exc:
            if not run.keep_going:
                raise
            report.fail(str(exc), film=film.id)
            continue
        args = ((str(film.film), film.id, url, stamp_config, None, library_dir, ids) if whole_index
                else (str(film.film), film.id, url, stamp_config, ids))
        tasks.append(FilmTask(film.id, workspace.layout.cue_table(film.id), key, args))
    if whole_index and any(not workspace.is_done(t.output, t.key) for t in tasks):
        # Built (or found) here once, so that the tasks only map it.
        advance = progress("library index", 1)
        with open_store(url, stamp_config, create=False) as store:
            open_library_index(store, library_dir, stamp_config)
        advance(1)

    def commit(task: FilmTask, outcome) -> None:
        cues, duration_s = outcome
        commit_cue_table(workspace, task.film_id, cues, task.key,
                         meta={"film": task.args[0], "duration_s": round(duration_s, 3)})

    done = map_films(workspace, report, tasks, stamp_film_task, commit, executor=executor, progress=progress,
                     description="stamping films", keep_going=run.keep_going, retry_failed=run.retry_failed,
                     force=run.force)
    report.result = {t.film_id: t.output for t in done}
    report.outputs = list(report.result.values())
    stamped = len(done) - len(report.reused)
    report.status = ("failed" if report.failures and not done else "done" if stamped or report.attempted
                     else "reused")
    report.detail = f"{stamped} stamped, {len(report.reused)} reused, {len(report.failed)} failed"
    annotated = [f.id for f in corpus.films if f.cues is not None and f.id in report.result]
    if annotated:
        # Hand-annotated films: the stamper's scores against them, for the report.
        truth, predicted = annotated_truth(workspace, corpus, annotated)
        scored = run_stamp_eval(workspace, truth, predicted)
        scores = scored.summary["mean"]
        report.outputs.append(scored.path)
        report.detail += (f"; against {len(annotated)} annotated film(s): precision "
                          f"{scores['second_precision']:.3f}, recall {scores['second_recall']:.3f}")
    return timed(report, t0)


def commit_cue_table(workspace: Workspace, film_id: str, cues: pd.DataFrame, key: str, *,
                     meta: dict | None = None) -> Path:
    """Commit a film's cue table to the workspace (Parquet, recorded under ``key``, plus a CSV copy).

    Parameters
    ----------
    workspace : Workspace
    film_id : str
    cues : pd.DataFrame
        The film's cue table.
    key : str
        Digest of the inputs and settings the table was made from (what reuse checks).
    meta : dict, optional
        More facts recorded beside the table (its number of cues always is).

    Returns
    -------
    Path
        The Parquet cue table (``cues/<film>.parquet``).
    """
    out = workspace.layout.cue_table(film_id)
    csv_path = workspace.layout.cue_table(film_id, "csv")

    def write(tmp: Path) -> None:
        with atomic_path(csv_path) as csv_tmp:
            write_cue_table(cues, tmp, csv_tmp)

    return workspace.commit(out, key, write, meta={"cues": len(cues), **(meta or {})})


def stamp_single_film(workspace: Workspace, config: StamperConfig, film: str | os.PathLike, *,
                      soundtrack: Sequence[str | os.PathLike] = (), film_id: str | None = None,
                      db: str | None = None, whole_index: bool = False,
                      on_progress=None) -> tuple[pd.DataFrame, Path, list[str]]:
    """Stamp one film outside a manifest; its cue table always lands in the workspace.

    Parameters
    ----------
    workspace : Workspace
    config : StamperConfig
    film : path
    soundtrack : sequence of path
        The film's tracks (indexed first; damaged ones left out with a warning). Empty:
        match against the whole index.
    film_id : str, optional
        Default: the film file's stem.
    db : str, optional
    whole_index : bool
    on_progress : callable, optional
        Seconds of film audio decoded.

    Returns
    -------
    cues : pd.DataFrame
    path : Path
        ``cues/<film_id>.parquet`` in the workspace.
    warnings : list of str
        Tracks left out.
    """
    film = Path(film)
    film_id = film_id or film.stem
    url = database_url(workspace, db)
    warnings_: list[str] = []
    with open_store(url, config, create=bool(soundtrack)) as store:
        ids = None
        if soundtrack:
            outcomes = index_tracks(list(soundtrack), store, config, keep_going=True)
            warnings_ = [f"track left out: {o.message}" for o in outcomes if o.status == "failed"]
            for w in warnings_:
                log.warning("%s: %s", film_id, w)
            ids = [o.track_id for o in outcomes if o.track_id is not None]
            if not ids:
                raise MediaError(f"{film}: none of the {len(outcomes)} soundtrack track(s) could be read")
        whole = whole_index or ids is None
        result = stamp_film(film, store, config, film_id=film_id, track_ids=None if whole else ids,
                            library_dir=workspace.layout.library_index(url) if whole else None,
                            soundtrack_ids=ids or (), on_progress=on_progress)
        digests = sorted(store.tracks().set_index("id").loc[ids, "content_digest"]) if ids else "whole-index"
    key = settings_digest({"film": file_digest(film), "config": settings_digest(config), "tracks": digests,
                           "whole_index": whole_index or ids is None})
    path = commit_cue_table(workspace, film_id, result.cues, key,
                            meta={"film": str(film), "duration_s": round(result.duration_s, 3)})
    return result.cues, path, warnings_


@dataclass
class StampEvalReport:
    """The Score Stamper against hand annotations: per film and averaged."""

    per_film: pd.DataFrame
    summary: pd.DataFrame
    path: Path | None = None

    def to_json(self) -> dict:
        """The one schema of ``results/stamp_eval.json``: ``per_film`` rows, ``mean`` and ``sd`` scores."""
        return {"per_film": self.per_film.to_dict(orient="records"), "mean": self.summary["mean"].to_dict(),
                "sd": self.summary["sd"].to_dict()}


def run_stamp_eval(workspace: Workspace | None, truth: pd.DataFrame, predicted: pd.DataFrame, *,
                   json_out: str | os.PathLike | None = None) -> StampEvalReport:
    """Score predicted cues against annotations; write ``results/stamp_eval.json`` (and ``json_out``).

    Parameters
    ----------
    workspace : Workspace or None
        Where the workspace's copy is written (None: only ``json_out``).
    truth, predicted : pd.DataFrame
        Cue tables with ``film_id, track, start_s, end_s``.
    json_out : path, optional
        An extra copy of the scores (its folders are created).

    Returns
    -------
    StampEvalReport
    """
    if json_out is not None:
        check_writable_target(json_out, what="--json")
    per_film = evaluate_cues(truth, predicted)
    report = StampEvalReport(per_film, summarise(per_film))
    text = json.dumps(report.to_json(), indent=2, default=float) + "\n"
    if workspace is not None:
        key = settings_digest({"truth": pd.util.hash_pandas_object(truth.astype(str)).sum().item(),
                               "predicted": pd.util.hash_pandas_object(predicted.astype(str)).sum().item()})
        report.path = workspace.layout.stamp_eval()
        if not workspace.is_done(report.path, str(key)):
            workspace.commit(report.path, str(key), lambda p: p.write_text(text, encoding="utf-8"))
    if json_out is not None:
        with atomic_path(json_out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return report


def annotated_truth(workspace: Workspace, corpus: Corpus, films: Sequence[str] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hand annotations of a corpus' annotated films and the workspace's cue tables of the same films.

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus
    films : sequence of str, optional
        Film ids to keep (default: every annotated film).

    Returns
    -------
    truth : pd.DataFrame
        The hand annotations (:func:`~scorelens.stamp._cuetable.read_cue_table` with ``annotation=True``).
    predicted : pd.DataFrame
        The stamped cue tables of the same films.

    Raises
    ------
    ParameterError
        No film is annotated, or an annotated film has no cue table yet.
    AnnotationError
        An annotation or a cue table is malformed.
    """
    annotated = [f for f in corpus.films if f.cues is not None and (films is None or f.id in films)]
    if not annotated:
        raise ParameterError(f"{corpus.path}: no film has a 'cues' annotation to evaluate against")
    missing = [f.id for f in annotated if not workspace.layout.cue_table(f.id).exists()]
    if missing:
        raise ParameterError(f"{workspace.layout.cues_dir}: no cue table for film(s) {', '.join(missing)}; "
                             "run stamp first")
    truth = pd.concat([read_cue_table(f.cues, film_id=f.id, annotation=True) for f in annotated], ignore_index=True)
    pred = pd.concat([read_cue_table(workspace.layout.cue_table(f.id), film_id=f.id) for f in annotated],
                     ignore_index=True)
    return truth, pred


