"""Features of a film's cues: cue table in, frames on the common 1 Hz grid out.

For each cue of a film's cue table (:mod:`scorelens.stamp._cuetable`) :func:`compute_film`
decodes the cue's audio, hands it to a feature kind (:mod:`scorelens.features._base`), puts
the kind's frames on the common 1 Hz grid (:mod:`scorelens.features._grid`) and checks that
every value is finite. :func:`cue_level` averages each cue's frames (the study's better
representation). Which films to (re)compute and where the tables go is the features
stage's (:mod:`scorelens.stages._features`).

Audio (:attr:`FeatureConfig.audio`): by default the soundtrack track's own audio over the
cue's span, ``[track_offset_s, track_offset_s + (end_s - start_s) * speed]`` of
``track_path`` (the music without dialogue and effects; ``speed`` is the rate the film
plays the track at, 1 for most films); with ``audio="film"`` the film's mixed audio over
``[start_s, end_s]``.

A film's frames carry each cue's *unit* key (a digest of the audio source's content hash,
the span and the audio mode) and the frame's time within the cue, so that when a film's
cue table changes, cues whose unit is unchanged are copied from the earlier frames instead
of recomputed: features are computed once per (track content, span, settings).

Feature tables carry the kind's name, version and settings and the pipeline settings in
their Parquet metadata (key ``scorelens``, JSON; :func:`write_feature_table`,
:func:`read_feature_metadata`).

Bad input: a cue shorter than one grid frame (``min_cue_s``) is skipped with a warning;
a silent cue gets finite features (those of silence) and a warning; clipped audio a
warning; audio with NaN or infinite samples, or a kind returning a non-finite value, is a
:class:`~scorelens.exceptions.FeatureError` naming the film, cue, file and time: nothing
non-finite is ever written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scorelens._version import __version__
from scorelens.config import FeatureConfig, settings_digest
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features._base import GRID_RATE_HZ, FeatureKind, FrameFeatures
from scorelens.features._grid import to_grid
from scorelens.features._groups import is_feature_column, undefined_frames
from scorelens.io._audio import file_digest, load_audio
from scorelens.stamp._cuetable import read_cue_table

__all__ = ["FeatureWarning", "FilmReport", "SHARD_EXTRA_COLUMNS", "read_cues", "cue_audio_span", "cue_frames",
           "compute_film", "cue_level", "feature_columns", "kind_record", "kind_key", "write_feature_table",
           "read_feature_metadata"]

log = logging.getLogger(__name__)

_KEYS = ["film_id", "cue_id", "time_s"]
#: Columns of a film's frames beyond the feature table's: the cue's unit key and the time within the cue.
SHARD_EXTRA_COLUMNS = ["unit", "rel_time_s"]
_META_KEY = b"scorelens"
# Samples at or beyond this magnitude count as clipped; a cue warns when more than
# _CLIP_FRACTION of its samples are.
_CLIP_LEVEL, _CLIP_FRACTION = 0.999, 0.001
# A cue whose peak is below this (-80 dBFS) is silent.
_SILENCE_PEAK = 1e-4
# Decoded audio shorter than the cue's span by more than this warns (the track ends early).
_SHORT_TOLERANCE_S = 0.25


class FeatureWarning(UserWarning):
    """A recoverable oddity in a cue's audio (silent, clipped, shorter than its span, skipped)."""


@dataclass
class FilmReport:
    """What happened to one film."""

    film_id: str
    n_cues: int = 0
    n_frames: int = 0
    computed: int = 0
    reused: int = 0
    cached: bool = False
    skipped: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None


# --------------------------------------------------------------------------- cue tables

def read_cues(path: str | os.PathLike, *, film_id: str | None = None) -> pd.DataFrame:
    """A film's stamped cue table, checked (:func:`scorelens.stamp._cuetable.read_cue_table`).

    Parameters
    ----------
    path : str or path-like
        The cue table file.
    film_id : str, optional
        The film the table must belong to.

    Returns
    -------
    pd.DataFrame
        One row per cue.

    Raises
    ------
    AnnotationError
        For a missing, unreadable or malformed table, or rows of another film.
    """
    return read_cue_table(path, film_id=film_id)


def cue_audio_span(cue, *, audio: str = "track",
                   film_path: str | os.PathLike | None = None) -> tuple[Path, float, float]:
    """The file and span a cue's features are computed on.

    Parameters
    ----------
    cue : mapping or pd.Series
        One cue-table row.
    audio : {"track", "film"}
        Compute on the matched track or on the film's soundtrack.
    film_path : path, optional
        The film file, for ``audio="film"``.

    Returns
    -------
    path : Path
    start_s, end_s : float
        ``[track_offset_s, track_offset_s + (end_s - start_s) * speed]`` of the track, or
        ``[start_s, end_s]`` of the film.

    Raises
    ------
    ParameterError
        For an unknown ``audio``, or ``audio="film"`` without ``film_path``.
    """
    duration = float(cue["end_s"]) - float(cue["start_s"])
    if audio == "track":
        t0 = float(cue["track_offset_s"])
        # The film plays the track at `speed` (track seconds per film second; 1 for most films).
        speed = float(cue.get("speed", 1.0) or 1.0)
        return Path(str(cue["track_path"])), t0, t0 + duration * speed
    if audio == "film":
        if film_path is None:
            raise ParameterError("audio='film' needs the film file (give a manifest)")
        return Path(film_path), float(cue["start_s"]), float(cue["end_s"])
    raise ParameterError(f"audio={audio!r} must be 'track' or 'film'")


def _check_audio(y: np.ndarray, where: str) -> None:
    finite = np.isfinite(y)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise FeatureError(f"{where}: audio holds {int((~finite).sum())} NaN or infinite sample(s) "
                           f"(first at sample {first})")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak < _SILENCE_PEAK:
        warnings.warn(f"{where}: silent audio (peak {peak:.2e}); its features are those of silence "
                      "(flat spectrum, no pulse, no key)", FeatureWarning, stacklevel=3)
    elif np.mean(np.abs(y) >= _CLIP_LEVEL) > _CLIP_FRACTION:
        warnings.warn(f"{where}: clipped audio ({100 * np.mean(np.abs(y) >= _CLIP_LEVEL):.1f}% of samples at full "
                      "scale); features describe the clipped signal", FeatureWarning, stacklevel=3)


def cue_frames(kind: FeatureKind, y: np.ndarray, *, where: str = "audio",
               grid_method: str = "linear") -> FrameFeatures:
    """A kind's frames for one cue's audio, on the common grid, checked finite.

    Parameters
    ----------
    kind : FeatureKind
        The kind to compute.
    y : np.ndarray [shape=(n,)]
        Mono audio at ``kind.sample_rate``.
    where : str
        Names the cue in messages (film, cue, file, span).
    grid_method : {"linear", "nearest"}
        Interpolation onto the grid (:func:`scorelens.features._grid.to_grid`).

    Returns
    -------
    FrameFeatures
        ``floor(duration)`` frames at 1 Hz (times from the start of the audio).

    Raises
    ------
    FeatureError
        Non-finite audio, a kind returning other columns than it declares, or a non-finite value.
    """
    y = np.asarray(y, dtype=np.float32)
    _check_audio(y, where)
    native = kind.compute(y, kind.sample_rate)
    names = kind.column_names()
    if list(native.names) != names:
        raise FeatureError(f"{where}: kind {kind.name!r} returned columns {native.names[:3]}… instead of its "
                           f"declared {names[:3]}…")
    duration = y.size / kind.sample_rate
    grid = to_grid(native, duration, rate_hz=GRID_RATE_HZ, method=grid_method)
    bad = ~np.isfinite(grid.values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise FeatureError(f"{where}: kind {kind.name!r} produced a non-finite {names[col]} at "
                           f"t={grid.times[row]:.3f}s into the cue ({int(bad.sum())} value(s))")
    return grid


# --------------------------------------------------------------------------- storage

def kind_record(kind: FeatureKind, config: FeatureConfig) -> dict:
    """What produced a feature table: the kind, its settings and the pipeline's settings.

    Parameters
    ----------
    kind : FeatureKind
    config : FeatureConfig

    Returns
    -------
    dict
        ``kind, version, settings, sample_rate, native_frame_rate_hz, grid_rate_hz, pipeline,
        scorelens`` (the package version).
    """
    return {"kind": kind.name, "version": str(kind.version), "settings": kind.settings(),
            "sample_rate": int(kind.sample_rate), "native_frame_rate_hz": float(kind.frame_rate_hz),
            "grid_rate_hz": GRID_RATE_HZ, "pipeline": dataclasses.asdict(config), "scorelens": __version__}


def kind_key(kind: FeatureKind, config: FeatureConfig) -> str:
    """Cache key of features computed by ``kind`` with ``config``.

    Parameters
    ----------
    kind : FeatureKind
    config : FeatureConfig

    Returns
    -------
    str
        :func:`scorelens.config.settings_digest` of :func:`kind_record` without the package
        version (a new scorelens release alone does not invalidate stored features).
    """
    record = kind_record(kind, config)
    record.pop("scorelens")
    # Settings may hold paths (a model folder): digest their text.
    return settings_digest(json.loads(json.dumps(record, default=str)))


def write_feature_table(df: pd.DataFrame, path: str | os.PathLike, meta: dict) -> None:
    """Write a feature table as Parquet with ``meta`` as its ``scorelens`` metadata (JSON).

    Parameters
    ----------
    df : pd.DataFrame
        The table (its index is not written).
    path : str or path-like
        The Parquet file to write.
    meta : dict
        JSON-serialisable metadata (values that are not are written as their ``str``).
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged[_META_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
    pq.write_table(table.replace_schema_metadata(merged), path)


def read_feature_metadata(path: str | os.PathLike) -> dict:
    """The ``scorelens`` metadata of a feature table (kind, version, settings, pipeline settings).

    Parameters
    ----------
    path : str or path-like
        A Parquet file written by :func:`write_feature_table`.

    Returns
    -------
    dict

    Raises
    ------
    FeatureError
        For a file that is not readable Parquet or holds no scorelens metadata.
    """
    path = Path(path)
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise FeatureError(f"{path}: not a readable Parquet feature table ({exc})") from exc
    if _META_KEY not in meta:
        raise FeatureError(f"{path}: no scorelens metadata (not written by the feature pipeline)")
    return json.loads(meta[_META_KEY])


def _unit_key(source_id: str, t0: float, t1: float, audio: str) -> str:
    return settings_digest({"source": source_id, "t0": round(t0, 3), "t1": round(t1, 3), "audio": audio})


def compute_film(kind: FeatureKind, cues: pd.DataFrame, *, config: FeatureConfig | None = None,
                 film_path: str | os.PathLike | None = None, previous: pd.DataFrame | None = None,
                 report: FilmReport | None = None,
                 on_cue: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Grid frames of every cue of one film (a shard: with ``unit`` and ``rel_time_s`` columns).

    Parameters
    ----------
    kind : FeatureKind
        The kind to compute.
    cues : pd.DataFrame
        The film's cue table (:func:`read_cues`).
    config : FeatureConfig, optional
        Pipeline settings (audio source, shortest cue, grid method); the defaults if not given.
    film_path : path, optional
        The film file (for ``config.audio == "film"``).
    previous : pd.DataFrame, optional
        An earlier shard computed with the same kind and settings; cues whose unit key is
        in it are copied rather than recomputed.
    report : FilmReport, optional
        Filled with counts and skipped cues.
    on_cue : callable, optional
        ``on_cue(done, total)`` after each cue (progress display).

    Returns
    -------
    pd.DataFrame
        Columns ``film_id, cue_id, time_s``, the kind's columns (float32), ``unit, rel_time_s``;
        one row per grid frame. Cues shorter than ``config.min_cue_s`` (or whose file ends
        before that much audio) are skipped with a ``FeatureWarning``.

    Raises
    ------
    ParameterError
        For ``config.audio == "film"`` without ``film_path``.
    MediaError
        When a cue's audio cannot be decoded.
    FeatureError
        From :func:`cue_frames` (non-finite audio or features, wrong columns).
    """
    config = config or FeatureConfig()
    report = report if report is not None else FilmReport(film_id=str(cues["film_id"].iloc[0]) if len(cues) else "")
    names = kind.column_names()
    film_source = None
    if config.audio == "film":
        if film_path is None:
            raise ParameterError("audio='film' needs the film file (give a manifest)")
        film_source = file_digest(film_path)
    reuse = {}
    if previous is not None and len(previous):
        reuse = {u: g for u, g in previous.groupby("unit", sort=False)}
    pieces = []
    total = len(cues)
    for done, cue in enumerate(cues.itertuples(index=False), start=1):
        cue = cue._asdict()
        film_id, cue_id = str(cue["film_id"]), int(cue["cue_id"])
        path, t0, t1 = cue_audio_span(cue, audio=config.audio, film_path=film_path)
        where = f"film {film_id} cue {cue_id} ({path} t={t0:.3f}s-{t1:.3f}s)"
        if t1 - t0 < config.min_cue_s:
            reason = f"shorter than one frame ({t1 - t0:.3f}s < {config.min_cue_s}s)"
            warnings.warn(f"{where}: skipped, {reason}", FeatureWarning, stacklevel=2)
            report.skipped.append((cue_id, reason))
            if on_cue:
                on_cue(done, total)
            continue
        unit = _unit_key(film_source or str(cue["track_id"]), t0, t1, config.audio)
        if unit in reuse:
            old = reuse[unit]
            rel = old["rel_time_s"].to_numpy()
            values = old[names].to_numpy(dtype=np.float32)
            report.reused += 1
        else:
            y = load_audio(path, sample_rate=kind.sample_rate, start_s=t0, end_s=t1)
            got = y.size / kind.sample_rate
            if got < config.min_cue_s:
                reason = f"only {got:.3f}s of audio decoded (the file ends before the span)"
                warnings.warn(f"{where}: skipped, {reason}", FeatureWarning, stacklevel=2)
                report.skipped.append((cue_id, reason))
                if on_cue:
                    on_cue(done, total)
                continue
            if got < (t1 - t0) - _SHORT_TOLERANCE_S:
                warnings.warn(f"{where}: the file ends at t={t0 + got:.3f}s, {t1 - t0 - got:.3f}s before the "
                              "span's end; features cover the decoded part", FeatureWarning, stacklevel=2)
            grid = cue_frames(kind, y, where=where, grid_method=config.grid_method)
            rel, values = grid.times, grid.values
            report.computed += 1
        piece = pd.DataFrame(values, columns=names)
        # Grid times are track seconds from the span's start; a film playing the track at
        # another speed reaches them at rel / speed film seconds.
        speed = float(cue.get("speed", 1.0) or 1.0) if config.audio == "track" else 1.0
        piece.insert(0, "time_s", float(cue["start_s"]) + rel / speed)
        piece.insert(0, "cue_id", np.int64(cue_id))
        piece.insert(0, "film_id", film_id)
        piece["unit"] = unit
        piece["rel_time_s"] = rel
        pieces.append(piece)
        if on_cue:
            on_cue(done, total)
    report.n_cues = total
    if pieces:
        out = pd.concat(pieces, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                            [("film_id", str), ("cue_id", np.int64), ("time_s", float)]
                            + [(n, np.float32) for n in names] + [("unit", str), ("rel_time_s", float)]})
    out[names] = out[names].astype(np.float32)
    report.n_frames = len(out)
    return out


def cue_level(frames: pd.DataFrame) -> pd.DataFrame:
    """Cue-level features: the mean over each cue's frames of every feature column.

    A column undefined in some frames (:data:`~scorelens.features._groups.UNDEFINED_MARKS`:
    MIR's tempo where a texture window has no pulse, marked 0 BPM) is averaged over the
    cue's frames where it is defined: a cue with silent stretches has the tempo of its
    music, not a mean pulled towards 0. A cue defined nowhere keeps the mark (0 BPM: no pulse).

    Parameters
    ----------
    frames : pd.DataFrame
        A frame-level table (``film_id, cue_id, time_s``, feature columns).

    Returns
    -------
    pd.DataFrame
        ``film_id, cue_id``, then the feature columns (float32), in the frames' cue order.
    """
    cols = feature_columns(frames)
    if not len(frames):
        return pd.DataFrame({"film_id": pd.Series(dtype=str), "cue_id": pd.Series(dtype=np.int64),
                             **{c: pd.Series(dtype=np.float32) for c in cols}})
    keys = ["film_id", "cue_id"]
    means = frames.groupby(keys, sort=False)[cols].mean()
    undefined = undefined_frames(cols, frames[cols].to_numpy())
    if undefined:
        marked = [cols[i] for i in undefined]
        defined = frames[keys + marked].copy()
        for i, col in zip(undefined, marked):
            defined.loc[undefined[i], col] = np.nan  # left out by the mean
        over_defined = defined.groupby(keys, sort=False)[marked].mean()
        means[marked] = over_defined.fillna(means[marked])
    means = means.astype(np.float32)
    # Keys and features joined in one go: inserting the keys into a wide table (hundreds of
    # columns) made pandas warn about fragmentation on every run.
    return pd.concat([means.index.to_frame(index=False), means.reset_index(drop=True)], axis=1)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns (``group/feature/statistic``) of a feature table, in order.

    Parameters
    ----------
    table : pd.DataFrame

    Returns
    -------
    list of str
    """
    return [c for c in table.columns if is_feature_column(c)]
