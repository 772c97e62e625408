"""The Score Stamper put together: index tracks into a database, stamp one film against it.

What to (re)do for a corpus, and where results go, is :mod:`scorelens.stages._stamp`'s.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scorelens.config import StamperConfig
from scorelens.exceptions import MediaError, StoreError
from scorelens.io._audio import file_digest, probe_audio
from scorelens.stamp._cues import build_cues
from scorelens.stamp._fingerprint import Fingerprint, fingerprint_file
from scorelens.stamp._library import LibraryIndex, open_library_index
from scorelens.stamp._match import HashIndex, match_film
from scorelens.stamp._speed import (
    PAL_FACTOR,
    SpeedHypothesis,
    SpeedPass,
    film_speed,
    hash_at_speed,
    merge_passes,
    probe_speeds,
    probe_window_peaks,
    refined_factor,
)
from scorelens.stamp._store import FingerprintStore

__all__ = ["IndexOutcome", "index_tracks", "StampResult", "stamp_film"]

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
    speed: float | None = None
    """The speed the film's cues agree on (see :func:`scorelens.stamp._speed.film_speed`)."""
    speed_note: str = ""
    """… said in one sentence ("this transfer runs 4.2 % fast: PAL speed-up …")."""
    candidates: int = 0
    """Tracks the film was matched against (its soundtrack, or those the library search found)."""


def _candidate_index(store: FingerprintStore, track_ids: Sequence[int]) -> tuple[HashIndex, pd.DataFrame]:
    tracks = store.tracks()
    wanted = [int(t) for t in track_ids]
    unknown = sorted(set(wanted) - set(tracks["id"].astype(int)))
    if unknown:
        raise StoreError(f"{store.url}: no track with id(s) {unknown}")
    tracks = tracks.set_index("id").loc[wanted].reset_index()
    index = HashIndex(tracks["id"], store.fingerprints(tracks["id"]))
    table = pd.DataFrame({"track_id": tracks["content_digest"].str[:16], "title": tracks["title"],
                          "path": tracks["path"]})
    return index, table


def stamp_film(film: str | os.PathLike, store: FingerprintStore, config: StamperConfig, *,
               film_id: str | None = None, track_ids: Sequence[int] | None = None,
               library_dir: str | os.PathLike | None = None, soundtrack_ids: Sequence[int] = (),
               on_progress: Callable[[float], None] | None = None) -> StampResult:
    """Find where indexed tracks play in a film, at the speed ``config.speed`` says.

    With ``speed="auto"`` the film is stamped at normal speed, probed for music at other
    speeds, and stamped again at each speed found (see :mod:`scorelens.stamp._speed`).

    Parameters
    ----------
    film : path
        Film file (any container FFmpeg reads).
    store : FingerprintStore
    config : StamperConfig
    film_id : str, optional
        Name of the film in the cue table (default: the file's stem).
    track_ids : sequence of int, optional
        Candidate tracks (the film's own soundtrack). None matches against every track of
        the database, which also finds music reused across films: candidates are searched
        in the library index (:mod:`scorelens.stamp._library`) and then matched in full.
    library_dir : path, optional
        Where the library index is kept when ``track_ids`` is None (default: the user's
        cache folder, see :func:`~scorelens.stamp._library.default_library_dir`); it is
        built there when missing or when the database's tracks changed.
    soundtrack_ids : sequence of int
        With ``track_ids`` None: tracks that are candidates whatever the search finds (the
        film's own soundtrack, on which its transfer speed is probed).
    on_progress : callable, optional
        Called with seconds of film audio decoded.

    Returns
    -------
    StampResult
        Its ``speed`` and ``speed_note`` sum up the speed the cues agree on; a film in which
        no track plays at any speed has an empty cue table and says so in the note.

    Raises
    ------
    MediaError
        The film is missing, not media, has no audio stream, or its audio decodes to nothing.
    StoreError
        The database holds no tracks, or a ``track_ids`` entry is not in it.
    """
    film = Path(film)
    info = probe_audio(film)  # fails early and clearly on a file with no audio
    library = None
    if track_ids is None:
        library = open_library_index(store, library_dir, config)
    else:
        if not len(track_ids):
            raise StoreError(f"{store.url}: no candidate tracks given for {film}")
        index, tracks = _candidate_index(store, track_ids)
    query = fingerprint_file(film, config, query=True, on_progress=on_progress)
    if query.duration_s <= 0:
        raise MediaError(f"{film}: audio stream decodes to nothing")
    n_windows = _window_count(query.duration_s, config)
    if library is not None:
        candidates = set(int(t) for t in soundtrack_ids) | set(_nominate(library, query, config, n_windows))
        index, tracks = _candidate_index(store, sorted(candidates))
    passes = _match_passes(film, query, index, tracks, config, n_windows)
    other_speeds = [p.hypothesis for p in passes if p.hypothesis != SpeedHypothesis(1.0, False)]
    if library is not None and other_speeds:
        # Music found at another speed: search the library at that speed over the whole film too.
        more = set()
        for hyp in other_speeds:
            more.update(library.nominate(_at_speed(query.peaks, hyp, config, fuzz=False), config).tolist())
        if more - candidates:
            candidates |= more
            index, tracks = _candidate_index(store, sorted(candidates))
            passes = _match_passes(film, query, index, tracks, config, n_windows, hypotheses=other_speeds)
    windows, matches, speeds, semitones = merge_passes(passes, len(tracks))
    cues = build_cues(windows, matches, query, config, film_id=film_id or film.stem,
                      tracks=pd.concat([tracks] * len(passes), ignore_index=True), duration_s=query.duration_s,
                      speeds=speeds, semitones=semitones)
    factor, sentence = film_speed(cues)
    log.info("%s: %d cues from %d matched windows of %d (%s, %.1fs); %d candidate tracks; speeds tried: %s; %s",
             film, len(cues), int(windows["matched"].sum()), n_windows, info.codec, query.duration_s, len(tracks),
             ", ".join(f"{p.hypothesis.factor:.4f}{' pitched' if p.hypothesis.pitched else ''}" for p in passes),
             sentence)
    return StampResult(cues=cues, windows=windows, duration_s=query.duration_s, speed=factor, speed_note=sentence,
                       candidates=len(tracks))


def _nominate(library: LibraryIndex, query: Fingerprint, config: StamperConfig, n_windows: int) -> list[int]:
    """Candidate tracks of a film in the library: at normal speed over the whole film, and at the
    speeds the film will be matched at (a given factor; with ``auto``, the PAL factors on the probe's windows)."""
    found = set(library.nominate(query, config).tolist())
    if config.speed == "auto":
        # A PAL transfer (either way, pitched or not) is by far the commonest other speed; music at
        # it may match nothing at 1.0, so its candidates are searched on the probe's windows.
        sample = probe_window_peaks(query.peaks, config, n_windows=n_windows)
        hypotheses = [SpeedHypothesis(f, p) for f in (PAL_FACTOR, 1 / PAL_FACTOR) for p in (True, False)]
    elif float(config.speed) != 1.0:
        sample = query.peaks
        hypotheses = [SpeedHypothesis(float(config.speed), p) for p in (True, False)]
    else:
        hypotheses = []
    for hyp in hypotheses:
        found.update(library.nominate(_at_speed(sample, hyp, config, fuzz=False), config).tolist())
    return sorted(found)


def _at_speed(peaks, hyp: SpeedHypothesis, config: StamperConfig, *, fuzz: bool = True) -> Fingerprint:
    """The film's hashes under a speed hypothesis (with Δt fuzz when pitch-corrected and ``fuzz``).

    The library search goes without the fuzz: it triples the look-ups, and the chance votes
    with them (on the demo corpus it made two thirds of all tracks candidates), while a
    pitch-corrected cue still gives the search its few votes without it.
    """
    return hash_at_speed(peaks, hyp, config, fan_out=config.query_fan_out,
                         dt_fuzz=config.speed_dt_fuzz if fuzz and not hyp.pitched else 0)


def _match_passes(film: Path, query: Fingerprint, index: HashIndex, tracks: pd.DataFrame, config: StamperConfig,
                  n_windows: int, *, hypotheses: list[SpeedHypothesis] | None = None) -> list[SpeedPass]:
    """Match the film at 1.0 and at each speed hypothesis (probed when None and ``speed`` is auto)."""
    passes = []
    if config.speed == "auto" or float(config.speed) == 1.0:
        windows, matches = match_film(query, index, config, n_windows=n_windows)
        passes.append(SpeedPass(SpeedHypothesis(1.0, False), windows, matches))
        if hypotheses is None and config.speed == "auto":
            hypotheses = probe_speeds(query.peaks, index, config, n_windows=n_windows, windows=windows)
    elif hypotheses is None:  # a given factor: pitched or pitch-corrected is still unknown
        hypotheses = [SpeedHypothesis(float(config.speed), True), SpeedHypothesis(float(config.speed), False)]
    for hyp in hypotheses or []:
        if hyp.pitched:
            speed_pass = _pitched_pass(film, query, index, tracks, hyp, config, n_windows)
            # The probe's factor comes from a few windows; the cues of the whole film measure it to
            # about 0.02 %, and a pass 0.05 % off had lost a sixth of a faint cue's votes. The pass
            # whose matched windows hold more votes is kept: a faint cue's windows sit at the
            # thresholds, and either factor can tip one of them (closer than 0.04 %, as often one
            # way as the other in the speed benchmark, so such a pass is not made again).
            measured = _measured_factor(speed_pass, query, tracks, config)
            if abs(measured / speed_pass.hypothesis.factor - 1) > _PITCHED_OFF:
                again = _pitched_pass(film, query, index, tracks, SpeedHypothesis(measured, True), config, n_windows)
                if _matched_votes(again) >= _matched_votes(speed_pass):
                    speed_pass = again
        else:
            speed_pass = SpeedPass(hyp, *match_film(_at_speed(query.peaks, hyp, config), index, config,
                                                    n_windows=n_windows))
            # The probe's grid leaves a stretch up to half a step off; the cues' drift measures it.
            measured = _measured_factor(speed_pass, query, tracks, config)
            if abs(measured - 1.0) < config.speed_stretch_step / 2:
                continue  # music at 1.0 after all, which the 1.0 pass stamps
            if abs(measured / hyp.factor - 1) > 0.001:
                hyp = SpeedHypothesis(measured, False)
                speed_pass = SpeedPass(hyp, *match_film(_at_speed(query.peaks, hyp, config), index, config,
                                                        n_windows=n_windows))
        passes.append(speed_pass)
    return passes


# A pitched pass is made again at the factor its cues measure when that is this far from its own.
_PITCHED_OFF = 0.0004


def _pitched_pass(film: Path, query: Fingerprint, index: HashIndex, tracks: pd.DataFrame, hyp: SpeedHypothesis,
                  config: StamperConfig, n_windows: int) -> SpeedPass:
    """The film matched at a pitched speed-up, undone exactly by resampling the film before peak picking."""
    at_speed = fingerprint_file(film, config, query=True, speed=hyp.factor)
    hyp = SpeedHypothesis(round(config.sample_rate * hyp.factor) / config.sample_rate, True)
    return SpeedPass(hyp, *match_film(at_speed, index, config, n_windows=n_windows))


def _matched_votes(speed_pass: SpeedPass) -> int:
    windows = speed_pass.windows
    return int(windows.loc[windows["matched"], "votes"].sum())


def _measured_factor(speed_pass: SpeedPass, query: Fingerprint, tracks: pd.DataFrame, config: StamperConfig) -> float:
    """The factor the cues of one pass measure (its own when it has none): see :func:`refined_factor`."""
    windows, matches, speeds, semitones = merge_passes([speed_pass], len(tracks))
    return refined_factor(build_cues(windows, matches, query, config, film_id="", tracks=tracks,
                                     duration_s=query.duration_s, speeds=speeds, semitones=semitones),
                          speed_pass.hypothesis)


def _window_count(duration_s: float, config: StamperConfig) -> int:
    """Windows covering the film: full windows, plus a last partial one when over a second of audio remains."""
    full = max(0, math.floor((duration_s - config.window_s) / config.hop_s + 1e-9) + 1)
    covered = (full - 1) * config.hop_s + config.window_s if full else 0.0
    return max(1, full + (1 if duration_s - covered > 1.0 else 0))
