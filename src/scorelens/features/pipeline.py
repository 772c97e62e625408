"""The feature pipeline: cue tables in, frame-level and cue-level feature tables out, cached.

For each cue of a film's cue table (``WORKSPACE/cues/<film>.parquet``, written by the Score
Stamper) the pipeline decodes the cue's audio, hands it to a feature kind
(:mod:`scorelens.features.base`), puts the kind's frames on the common 1 Hz grid
(:mod:`scorelens.features.grid`) and checks that every value is finite.

Audio (:attr:`FeatureConfig.audio`): by default the soundtrack track's own audio over the
cue's span, ``[track_offset_s, track_offset_s + end_s - start_s]`` of ``track_path`` (the
music without dialogue and effects); with ``audio="film"`` the film's mixed audio over
``[start_s, end_s]``.

Storage, in ``WORKSPACE/features/<kind>/``:

``films/<film_id>.parquet``
    One shard per film: its cues' grid frames plus each cue's *unit* key (a digest of the
    audio source's content hash, the span and the audio mode) and the frame's time within
    the cue. A shard is committed atomically with :meth:`Workspace.commit` under a key
    digesting the kind (name, version, settings), the pipeline settings and the film's
    cue spans, so a re-run skips finished films and an interrupted run resumes. When a
    film's cue table changes, cues whose unit is unchanged are copied from the old shard
    instead of recomputed: features are computed once per (track content, span, settings).
``frames.parquet``
    The frame-level table: ``film_id``, ``cue_id``, ``time_s`` (film time of the grid
    frame's centre), then the kind's feature columns (float32, ``group/feature/statistic``).
``cues.parquet``
    The cue-level table: ``film_id``, ``cue_id``, then the mean over the cue's frames of
    every feature column (the study's better-performing representation).

Both tables carry the kind's name, version and settings and the pipeline settings in
their Parquet metadata (key ``scorelens``, JSON; read with :func:`read_feature_metadata`)
and in the ``.done.json`` record beside them.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scorelens import __version__
from scorelens.config import FeatureConfig, settings_digest
from scorelens.exceptions import AnnotationError, FeatureError, ParameterError, ScorelensError
from scorelens.features.base import GRID_RATE_HZ, FeatureKind, FrameFeatures
from scorelens.features.grid import to_grid
from scorelens.features.groups import is_feature_column
from scorelens.io.audio import file_digest, load_audio
from scorelens.workspace import Workspace

__all__ = ["FeatureWarning", "FilmSource", "FilmReport", "RunReport", "FeatureStore", "read_cues",
           "cue_audio_span", "cue_frames", "compute_film", "cue_level", "extract_features",
           "read_feature_metadata", "load_features", "feature_columns", "CUE_TABLE_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns the pipeline needs from a cue table (the Score Stamper's contract).
CUE_TABLE_COLUMNS = ("film_id", "cue_id", "track_id", "track_path", "start_s", "end_s", "track_offset_s")
_KEYS = ["film_id", "cue_id", "time_s"]
_SHARD_EXTRA = ["unit", "rel_time_s"]
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


@dataclass(frozen=True)
class FilmSource:
    """Where one film's inputs are.

    Attributes
    ----------
    film_id : str
    cues : Path
        The film's cue table (Parquet or CSV).
    film : Path or None
        The film file; needed for ``audio="film"``.
    """

    film_id: str
    cues: Path
    film: Path | None = None


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


@dataclass
class RunReport:
    """What happened in one run of :func:`extract_features`."""

    kind: str
    films: list[FilmReport] = field(default_factory=list)
    frames_path: Path | None = None
    cues_path: Path | None = None

    @property
    def failures(self) -> list[FilmReport]:
        return [f for f in self.films if f.error is not None]


# --------------------------------------------------------------------------- cue tables

def read_cues(path: str | os.PathLike, *, film_id: str | None = None) -> pd.DataFrame:
    """Read and check a film's cue table.

    Parameters
    ----------
    path : str or path-like
        Parquet (or CSV) with at least :data:`CUE_TABLE_COLUMNS`.
    film_id : str, optional
        The film the table must belong to.

    Returns
    -------
    pd.DataFrame
        Sorted by ``cue_id``.

    Raises
    ------
    AnnotationError
        Missing file or columns, non-finite or negative times, ``end_s <= start_s``,
        duplicate cue ids, or rows of another film.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such cue table (run `scorelens stamp` first)")
    try:
        table = (pd.read_parquet(path) if path.suffix.lower() == ".parquet" else
                 pd.read_csv(path, dtype={"film_id": str, "track_id": str, "track_path": str}))
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for a malformed file
        raise AnnotationError(f"{path}: cannot read the cue table ({exc})") from exc
    missing = [c for c in CUE_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise AnnotationError(f"{path}: cue table lacks column(s) {', '.join(missing)} "
                              f"(has: {', '.join(map(str, table.columns))})")
    for col in ("start_s", "end_s", "track_offset_s"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values < 0).to_numpy()
        if bad.any():
            rows = ", ".join(str(i) for i in table.index[bad][:5])
            raise AnnotationError(f"{path}: column {col} has missing, non-numeric or negative values (rows {rows})")
        table[col] = values.astype(float)
    bad = (table["end_s"] <= table["start_s"]).to_numpy()
    if bad.any():
        rows = ", ".join(str(i) for i in table.index[bad][:5])
        raise AnnotationError(f"{path}: end_s must be after start_s (rows {rows})")
    ids = pd.to_numeric(table["cue_id"], errors="coerce")
    if ids.isna().any() or ids.duplicated().any():
        raise AnnotationError(f"{path}: cue_id must be unique whole numbers")
    table["cue_id"] = ids.astype(np.int64)
    table["film_id"] = table["film_id"].astype(str)
    table["track_id"] = table["track_id"].astype(str)
    table["track_path"] = table["track_path"].astype(str)
    if film_id is not None and len(table) and (table["film_id"] != film_id).any():
        others = sorted(set(table["film_id"]) - {film_id})
        raise AnnotationError(f"{path}: rows of film(s) {', '.join(others)} in the cue table of {film_id!r}")
    return table.sort_values("cue_id", kind="stable").reset_index(drop=True)


def cue_audio_span(cue, *, audio: str = "track",
                   film_path: str | os.PathLike | None = None) -> tuple[Path, float, float]:
    """The file and span a cue's features are computed on.

    Parameters
    ----------
    cue : mapping or pd.Series
        One cue-table row.
    audio : {"track", "film"}
    film_path : path, optional
        The film file, for ``audio="film"``.

    Returns
    -------
    path : Path
    start_s, end_s : float
        ``[track_offset_s, track_offset_s + end_s - start_s]`` of the track, or
        ``[start_s, end_s]`` of the film.
    """
    duration = float(cue["end_s"]) - float(cue["start_s"])
    if audio == "track":
        t0 = float(cue["track_offset_s"])
        return Path(str(cue["track_path"])), t0, t0 + duration
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
    y : np.ndarray [shape=(n,)]
        Mono audio at ``kind.sample_rate``.
    where : str
        Names the cue in messages (film, cue, file, span).
    grid_method : {"linear", "nearest"}

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

def _kind_record(kind: FeatureKind, config: FeatureConfig) -> dict:
    return {"kind": kind.name, "version": str(kind.version), "settings": kind.settings(),
            "sample_rate": int(kind.sample_rate), "native_frame_rate_hz": float(kind.frame_rate_hz),
            "grid_rate_hz": GRID_RATE_HZ, "pipeline": dataclasses.asdict(config), "scorelens": __version__}


def _kind_key(kind: FeatureKind, config: FeatureConfig) -> str:
    record = _kind_record(kind, config)
    record.pop("scorelens")
    # Settings may hold paths (a model folder): digest their text.
    return settings_digest(json.loads(json.dumps(record, default=str)))


def _write_table(df: pd.DataFrame, path: Path, meta: dict) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    merged = dict(table.schema.metadata or {})
    merged[_META_KEY] = json.dumps(meta, sort_keys=True, default=str).encode()
    pq.write_table(table.replace_schema_metadata(merged), path)


def read_feature_metadata(path: str | os.PathLike) -> dict:
    """The ``scorelens`` metadata of a feature table (kind, version, settings, pipeline settings)."""
    path = Path(path)
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid) as exc:
        raise FeatureError(f"{path}: not a readable Parquet feature table ({exc})") from exc
    if _META_KEY not in meta:
        raise FeatureError(f"{path}: no scorelens metadata (not written by the feature pipeline)")
    return json.loads(meta[_META_KEY])


class FeatureStore:
    """The folder of one feature kind in a workspace: per-film shards and the two tables.

    Parameters
    ----------
    workspace : Workspace
    kind_name : str
    """

    def __init__(self, workspace: Workspace, kind_name: str):
        self.workspace = workspace
        self.kind_name = kind_name
        self.root = workspace.root / "features" / kind_name

    def shard_path(self, film_id: str) -> Path:
        return self.workspace.path("features", self.kind_name, "films", f"{film_id}.parquet")

    @property
    def frames_path(self) -> Path:
        return self.workspace.path("features", self.kind_name, "frames.parquet")

    @property
    def cues_path(self) -> Path:
        return self.workspace.path("features", self.kind_name, "cues.parquet")

    def read_shard(self, film_id: str) -> pd.DataFrame | None:
        path = self.shard_path(film_id)
        if not path.exists():
            return None
        try:
            return pd.read_parquet(path)
        except Exception:  # noqa: BLE001 - an unreadable old shard is simply recomputed
            log.warning("%s: unreadable shard, recomputing", path)
            return None


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
    cues : pd.DataFrame
        The film's cue table (:func:`read_cues`).
    config : FeatureConfig, optional
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
        Columns ``film_id, cue_id, time_s``, the kind's columns (float32), ``unit, rel_time_s``.
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
        piece.insert(0, "time_s", float(cue["start_s"]) + rel)
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
    means = frames.groupby(["film_id", "cue_id"], sort=False)[cols].mean().astype(np.float32)
    # Keys and features joined in one go: inserting the keys into a wide table (hundreds of
    # columns) made pandas warn about fragmentation on every run.
    return pd.concat([means.index.to_frame(index=False), means.reset_index(drop=True)], axis=1)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns (``group/feature/statistic``) of a feature table, in order."""
    return [c for c in table.columns if is_feature_column(c)]


# --------------------------------------------------------------------------- runs

def extract_features(workspace: Workspace, kind: FeatureKind, films: Sequence[FilmSource], *,
                     config: FeatureConfig | None = None, keep_going: bool = False, force: bool = False,
                     on_film_start: Callable[[str, int], None] | None = None,
                     on_cue: Callable[[str, int, int], None] | None = None) -> RunReport:
    """Compute (or reuse) a kind's features for films and write the frame- and cue-level tables.

    Parameters
    ----------
    workspace : Workspace
    kind : FeatureKind
    films : sequence of FilmSource
        The films of this run, in output order; the tables hold exactly these films.
    config : FeatureConfig, optional
    keep_going : bool
        Record a failing film (any :class:`ScorelensError`) and continue; otherwise raise.
    force : bool
        Recompute shards even when their record says they are done.
    on_film_start, on_cue : callable, optional
        Progress hooks: ``on_film_start(film_id, n_cues)``, ``on_cue(film_id, done, total)``.

    Returns
    -------
    RunReport
        Per-film reports and the paths of the two tables (None when no film succeeded).
    """
    config = config or FeatureConfig()
    if not films:
        raise ParameterError("no films to compute features for")
    store = FeatureStore(workspace, kind.name)
    kind_key = _kind_key(kind, config)
    record = _kind_record(kind, config)
    report = RunReport(kind=kind.name)
    shard_keys = []
    for source in films:
        fr = FilmReport(film_id=source.film_id)
        report.films.append(fr)
        try:
            cues = read_cues(source.cues, film_id=source.film_id)
            if on_film_start:
                on_film_start(source.film_id, len(cues))
            spans = cues[["cue_id", "track_id", "start_s", "end_s", "track_offset_s"]].round(3)
            film_digest = file_digest(source.film) if config.audio == "film" and source.film else None
            key = settings_digest({"kind": kind_key, "film": source.film_id, "film_digest": film_digest,
                                   "cues": spans.astype(str).values.tolist()})
            shard = store.shard_path(source.film_id)
            if not force and workspace.is_done(shard, key):
                fr.cached = True
                fr.n_cues = len(cues)
                done_record = workspace.record(shard) or {}
                fr.n_frames = int(done_record.get("frames", 0))
                fr.skipped = [tuple(x) for x in done_record.get("skipped", [])]
                if on_cue:
                    on_cue(source.film_id, len(cues), len(cues))
            else:
                previous = None
                if not force:
                    old = workspace.record(shard)
                    if old and old.get("kind_key") == kind_key:
                        previous = store.read_shard(source.film_id)
                frames = compute_film(
                    kind, cues, config=config, film_path=source.film, previous=previous, report=fr,
                    on_cue=(lambda d, t, f=source.film_id: on_cue(f, d, t)) if on_cue else None)
                meta = {**record, "film_id": source.film_id}
                workspace.commit(shard, key, lambda p, df=frames, m=meta: _write_table(df, p, m),
                                 meta={"kind_key": kind_key, "film_id": source.film_id, "cues": fr.n_cues,
                                       "frames": fr.n_frames, "computed": fr.computed, "reused": fr.reused,
                                       "skipped": fr.skipped})
            shard_keys.append((source.film_id, key))
        except ScorelensError as exc:
            fr.error = str(exc)
            if not keep_going:
                raise
            log.error("%s: %s", source.film_id, exc)
    if shard_keys:
        _assemble(workspace, store, shard_keys, record, kind_key, report)
    return report


def _assemble(workspace: Workspace, store: FeatureStore, shard_keys: list[tuple[str, str]], record: dict,
              kind_key: str, report: RunReport) -> None:
    key = settings_digest({"kind": kind_key, "shards": shard_keys})
    meta = {**record, "films": [f for f, _ in shard_keys]}
    frames_path, cues_path = store.frames_path, store.cues_path
    report.frames_path, report.cues_path = frames_path, cues_path
    if workspace.is_done(frames_path, key) and workspace.is_done(cues_path, key):
        return
    frames = pd.concat([pd.read_parquet(store.shard_path(f)) for f, _ in shard_keys], ignore_index=True)
    frames = frames.drop(columns=_SHARD_EXTRA)
    cues = cue_level(frames)
    info = {"kind_key": kind_key, "films": len(shard_keys), "settings": record}
    workspace.commit(frames_path, key, lambda p: _write_table(frames, p, {**meta, "level": "frame"}),
                     meta={**info, "rows": len(frames)})
    workspace.commit(cues_path, key, lambda p: _write_table(cues, p, {**meta, "level": "cue"}),
                     meta={**info, "rows": len(cues)})


def load_features(workspace: Workspace | str | os.PathLike, kind: str, *, level: str = "cue") -> pd.DataFrame:
    """Read a kind's feature table from a workspace.

    Parameters
    ----------
    workspace : Workspace or path
    kind : str
        Feature kind name (``mir``, ``vggish``, …).
    level : {"cue", "frame"}

    Returns
    -------
    pd.DataFrame
        ``film_id, cue_id`` (``time_s`` for frames), then feature columns; the table's
        metadata (:func:`read_feature_metadata`) is in ``df.attrs["scorelens"]``.
    """
    if level not in ("cue", "frame"):
        raise ParameterError(f"level={level!r} must be 'cue' or 'frame'")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    store = FeatureStore(ws, kind)
    path = store.cues_path if level == "cue" else store.frames_path
    if not path.exists():
        raise FeatureError(f"{path}: no {level}-level {kind!r} features yet (run `scorelens features --kind {kind}`)")
    df = pd.read_parquet(path)
    df.attrs["scorelens"] = read_feature_metadata(path)
    return df
