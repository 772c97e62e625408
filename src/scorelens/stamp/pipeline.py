"""The Score Stamper's stages put together: index tracks, stamp films, stamp a corpus.

These functions do the work; the CLI only parses options and shows progress.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens.config import StamperConfig, settings_digest
from scorelens.corpus import Corpus, Film
from scorelens.exceptions import MediaError, ScorelensError, StoreError
from scorelens.io.audio import file_digest, probe_audio
from scorelens.stamp.cues import CUE_COLUMNS, build_cues
from scorelens.stamp.cuetable import write_cue_table
from scorelens.stamp.fingerprint import fingerprint_file
from scorelens.stamp.match import HashIndex, match_film
from scorelens.stamp.store import FingerprintStore
from scorelens.workspace import Workspace

__all__ = ["IndexOutcome", "index_tracks", "StampResult", "stamp_film", "stamp_corpus", "CorpusStampReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexOutcome:
    """What happened to one track: ``status`` is ``added``, ``known`` or ``failed``."""

    path: Path
    status: str
    track_id: int | None = None
    message: str = ""


def index_tracks(paths: Sequence[str | os.PathLike], store: FingerprintStore, config: StamperConfig, *,
                 keep_going: bool = False, on_track: Callable[[IndexOutcome], None] | None = None,
                 on_progress: Callable[[float], None] | None = None) -> list[IndexOutcome]:
    """Fingerprint tracks into the database; tracks already there are skipped.

    A track is known when a stored track has the same file digest (skipped without
    decoding) or the same decoded-content digest. Each new track is one transaction.

    Parameters
    ----------
    paths : sequence of path
        Audio files.
    store : FingerprintStore
    config : StamperConfig
    keep_going : bool
        Record a failing track and go on, instead of raising.
    on_track : callable, optional
        Called with each :class:`IndexOutcome`.
    on_progress : callable, optional
        Called with seconds of audio decoded.

    Returns
    -------
    list of IndexOutcome

    Raises
    ------
    MediaError
        For the first bad track when ``keep_going`` is false (earlier tracks stay indexed).
    """
    outcomes = []
    for raw in paths:
        path = Path(raw)
        try:
            digest = file_digest(path)
            known = store.find(file_digest=digest)
            if known is None:
                fp = fingerprint_file(path, config, on_progress=on_progress)
                known = store.find(content_digest=fp.content_digest)
                if known is None:
                    track_id = store.add_track(title=path.stem, path=str(path.resolve()),
                                               content_digest=fp.content_digest, file_digest=digest,
                                               duration_s=fp.duration_s, hashes=fp.hashes, frames=fp.frames)
                    outcome = IndexOutcome(path, "added", track_id, f"{fp.hashes.size} hashes, {fp.duration_s:.1f}s")
                else:
                    outcome = IndexOutcome(path, "known", int(known["id"]), f"same audio as {known['title']!r}")
            else:
                outcome = IndexOutcome(path, "known", int(known["id"]), "already indexed")
        except MediaError as exc:
            if not keep_going:
                raise
            outcome = IndexOutcome(path, "failed", None, str(exc))
        outcomes.append(outcome)
        if on_track is not None:
            on_track(outcome)
    return outcomes


@dataclass(frozen=True)
class StampResult:
    """A film's stamping: its cues and the per-window matches behind them."""

    cues: pd.DataFrame
    windows: pd.DataFrame
    duration_s: float


def _candidate_index(store: FingerprintStore, track_ids: Sequence[int] | None) -> tuple[HashIndex, pd.DataFrame]:
    tracks = store.tracks()
    if track_ids is not None:
        wanted = [int(t) for t in track_ids]
        unknown = sorted(set(wanted) - set(tracks["id"].astype(int)))
        if unknown:
            raise StoreError(f"{store.url}: no track with id(s) {unknown}")
        tracks = tracks.set_index("id").loc[wanted].reset_index()
    if tracks.empty:
        raise StoreError(f"{store.url}: the fingerprint database holds no tracks; index the soundtrack first")
    index = HashIndex(tracks["id"], store.fingerprints(tracks["id"]))
    table = pd.DataFrame({"track_id": tracks["content_digest"].str[:16], "title": tracks["title"],
                          "path": tracks["path"]})
    return index, table


def stamp_film(film: str | os.PathLike, store: FingerprintStore, config: StamperConfig, *, film_id: str | None = None,
               track_ids: Sequence[int] | None = None, on_progress: Callable[[float], None] | None = None) -> StampResult:
    """Find where indexed tracks play in a film.

    Parameters
    ----------
    film : path
        Film file (any container FFmpeg reads).
    store : FingerprintStore
    config : StamperConfig
    film_id : str, optional
        Name of the film in the cue table (default: the file's stem).
    track_ids : sequence of int, optional
        Candidate tracks (the film's own soundtrack); None matches against the whole index,
        which also finds music reused across films.
    on_progress : callable, optional
        Called with seconds of film audio decoded.

    Returns
    -------
    StampResult
    """
    film = Path(film)
    info = probe_audio(film)  # fails early and clearly on a file with no audio
    index, tracks = _candidate_index(store, track_ids)
    query = fingerprint_file(film, config, query=True, on_progress=on_progress)
    if query.duration_s <= 0:
        raise MediaError(f"{film}: audio stream decodes to nothing")
    n_windows = _window_count(query.duration_s, config)
    windows, matches = match_film(query, index, config, n_windows=n_windows)
    cues = build_cues(windows, matches, query, config, film_id=film_id or film.stem, tracks=tracks,
                      duration_s=query.duration_s)
    log.info("%s: %d cues from %d matched windows of %d (%s, %.1fs)", film, len(cues), int(windows["matched"].sum()),
             n_windows, info.codec, query.duration_s)
    return StampResult(cues=cues, windows=windows, duration_s=query.duration_s)


def _window_count(duration_s: float, config: StamperConfig) -> int:
    """Windows covering the film: full windows, plus a last partial one when over a second of audio remains."""
    full = max(0, math.floor((duration_s - config.window_s) / config.hop_s + 1e-9) + 1)
    covered = (full - 1) * config.hop_s + config.window_s if full else 0.0
    return max(1, full + (1 if duration_s - covered > 1.0 else 0))


@dataclass
class CorpusStampReport:
    """Outcome of stamping a corpus: which films were stamped, skipped (done before) or failed."""

    stamped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    cue_tables: dict[str, Path] = field(default_factory=dict)


def cue_table_path(workspace: Workspace, film_id: str) -> Path:
    """Where a film's cue table lives in the workspace (``cues/<film>.parquet``)."""
    return workspace.path("cues", f"{film_id}.parquet")


def stamp_corpus(corpus: Corpus, workspace: Workspace, store: FingerprintStore, config: StamperConfig, *,
                 whole_index: bool = False, keep_going: bool = False,
                 on_film: Callable[[str, str], None] | None = None,
                 on_progress: Callable[[float], None] | None = None) -> CorpusStampReport:
    """Index every film's soundtrack and stamp every film, resuming finished work.

    A film is skipped when its cue table exists for the same film file, the same
    soundtrack content and the same settings. Each cue table is written atomically.

    Parameters
    ----------
    corpus : Corpus
    workspace : Workspace
    store : FingerprintStore
    config : StamperConfig
    whole_index : bool
        Match every film against every indexed track instead of its own soundtrack.
    keep_going : bool
        Record a failing film and go on with the rest (the report lists failures).
    on_film : callable, optional
        Called with (film id, status) after each film.
    on_progress : callable, optional
        Called with seconds of audio decoded.

    Returns
    -------
    CorpusStampReport

    Raises
    ------
    ScorelensError
        The first failure, when ``keep_going`` is false (finished films stay finished).
    """
    report = CorpusStampReport()
    workspace.save_settings("stamp", config)
    # Index every soundtrack first, so that whole-index matching sees all of them.
    track_ids: dict[str, list[int]] = {}
    for film in corpus.films:
        try:
            outcomes = index_tracks(film.tracks, store, config, keep_going=keep_going, on_progress=on_progress)
            bad = [o for o in outcomes if o.status == "failed"]
            for o in bad:
                log.warning("%s", o.message)
            ids = [o.track_id for o in outcomes if o.track_id is not None]
            if not ids:
                raise MediaError(f"{film.id}: none of the soundtrack's {len(film.tracks)} track(s) could be indexed")
            track_ids[film.id] = ids
        except ScorelensError as exc:
            if not keep_going:
                raise
            report.failed[film.id] = str(exc)
    all_ids = sorted({i for ids in track_ids.values() for i in ids})
    tracks = store.tracks().set_index("id")
    for film in corpus.films:
        if film.id in report.failed:
            if on_film:
                on_film(film.id, "failed")
            continue
        ids = all_ids if whole_index else track_ids[film.id]
        status = _stamp_one(film, workspace, store, config, ids, tracks, whole_index, report, keep_going, on_progress)
        if on_film:
            on_film(film.id, status)
    return report


def _stamp_one(film: Film, workspace: Workspace, store: FingerprintStore, config: StamperConfig, ids: list[int],
               tracks: pd.DataFrame, whole_index: bool, report: CorpusStampReport, keep_going: bool,
               on_progress) -> str:
    out = cue_table_path(workspace, film.id)
    try:
        key = settings_digest({"film": file_digest(film.film), "config": settings_digest(config),
                               "tracks": sorted(tracks.loc[ids, "content_digest"]), "whole_index": whole_index})
        if workspace.is_done(out, key):
            report.skipped.append(film.id)
            report.cue_tables[film.id] = out
            return "skipped"
        result = stamp_film(film.film, store, config, film_id=film.id, track_ids=ids, on_progress=on_progress)
    except ScorelensError as exc:
        if not keep_going:
            raise
        report.failed[film.id] = str(exc)
        return "failed"
    csv_path = out.with_suffix(".csv")

    def write(tmp: Path) -> None:
        write_cue_table(result.cues, tmp)
        result.cues.to_csv(csv_path, index=False, float_format="%.3f")

    workspace.commit(out, key, write, meta={"film": str(film.film), "cues": len(result.cues),
                                            "duration_s": round(result.duration_s, 3)})
    report.stamped.append(film.id)
    report.cue_tables[film.id] = out
    return "stamped"
