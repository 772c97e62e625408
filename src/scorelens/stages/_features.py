"""The features stage: each film's cue table in, a kind's frame- and cue-level tables out, resumable.

Storage, in the workspace's ``features/<kind>/`` (:class:`~scorelens.workspace.WorkspaceLayout`):

``films/<film_id>.parquet``
    One shard per film: its cues' grid frames plus each cue's unit key and the frame's
    time within the cue (:func:`scorelens.features._pipeline.compute_film`). A shard is
    committed atomically under a key digesting the kind (name, version, settings), the
    pipeline settings and the film's cue spans, so a re-run skips finished films and an
    interrupted run resumes; when a film's cue table changes, unchanged cues are copied
    from the old shard.
``frames.parquet``, ``cues.parquet``
    The frame-level table (``film_id, cue_id, time_s``, feature columns) and the
    cue-level table (``film_id, cue_id``, the mean of each cue's frames), for exactly
    the films of the run, in its order.

The per-film work is a pure task (:func:`feature_film_task`) that an executor runs in this
process or on Dask workers; the driver commits what the tasks return.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scorelens.config import FeatureConfig, StudyConfig, settings_digest
from scorelens.corpus import Corpus
from scorelens.exceptions import FeatureError, ParameterError, ScorelensError
from scorelens.features._base import FeatureKind, get_kind
from scorelens.features._pipeline import (
    SHARD_EXTRA_COLUMNS,
    FilmReport,
    compute_film,
    cue_level,
    kind_key,
    kind_record,
    read_feature_metadata,
    write_feature_table,
)
from scorelens.io._audio import file_digest
from scorelens.stages._contract import FilmTask, StageReport, map_films, timed
from scorelens.stages._executor import Executor, Progress, select_films
from scorelens.stamp._cuetable import read_cue_table
from scorelens.workspace import Workspace

__all__ = ["FilmSource", "FeaturesReport", "run_features", "compute_features", "feature_film_task", "load_features",
           "film_sources", "feature_kinds", "kind_options", "unusable_kinds", "check_features"]

log = logging.getLogger(__name__)


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
class FeaturesReport:
    """What happened in one run of :func:`run_features`."""

    kind: str
    films: list[FilmReport] = field(default_factory=list)
    frames_path: Path | None = None
    cues_path: Path | None = None
    attempted: int = 0
    """Films that failed in this run (not replayed from an earlier run's record)."""

    @property
    def failures(self) -> list[FilmReport]:
        """The films' reports that hold an error."""
        return [f for f in self.films if f.error is not None]

    @property
    def failed(self) -> dict[str, str]:
        """Film id -> error of each film that failed."""
        return {f.film_id: f.error for f in self.films if f.error is not None}


def film_sources(workspace: Workspace, corpus=None, films: Sequence[str] | None = None) -> list[FilmSource]:
    """The films of a features run: a corpus' films (in its order), or every cue table in the workspace.

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus, optional
        Its films, with their film files; without it, the films of the workspace's cue tables.
    films : sequence of str, optional
        Film ids to keep (default: all).

    Returns
    -------
    list of FilmSource
        Each with the film's cue table in the workspace (Parquet, or CSV when only that exists);
        ``film`` is None without a corpus.

    Raises
    ------
    ParameterError
        No cue tables, or ``films`` names a film that is not there.
    """
    layout = workspace.layout
    if corpus is not None:
        ids = [f.id for f in corpus.films]
        where = str(corpus.path)
    else:
        ids = list(layout.cue_tables())
        where = str(layout.cues_dir)
        if not ids:
            raise ParameterError(f"{layout.cues_dir}: no cue tables; run `scorelens stamp` first or give --manifest")
    ids = select_films(ids, films, where)
    return [FilmSource(film_id=i, cues=layout.existing_cue_table(i),
                       film=corpus.film(i).film if corpus is not None else None) for i in ids]


@functools.lru_cache(maxsize=8)
def _kind_in_process(name: str, options_json: str) -> FeatureKind:
    # One instance per worker process and settings: loading a network's weights once, not per film.
    return get_kind(name, **json.loads(options_json))


def _resolve_kind(kind: str | FeatureKind, options: dict) -> FeatureKind:
    if isinstance(kind, FeatureKind):
        return kind
    return _kind_in_process(kind, json.dumps(options, sort_keys=True, default=str))


def feature_film_task(kind_name: str | FeatureKind, kind_options: dict, cues: pd.DataFrame, config: FeatureConfig,
                      film_path: str | None, previous_path: str | None, film_id: str
                      ) -> tuple[pd.DataFrame, FilmReport]:
    """One film's frames of one kind: the pure per-film task an executor runs.

    Parameters
    ----------
    kind_name, kind_options :
        The kind, rebuilt in the process that runs the task (``get_kind(name, **options)``).
    cues : pd.DataFrame
        The film's cue table.
    config : FeatureConfig
    film_path : str or None
        The film file (for ``audio="film"``).
    previous_path : str or None
        An earlier shard of the same kind and settings whose unchanged cues are reused.
    film_id : str

    Returns
    -------
    frames : pd.DataFrame
        The shard (see :func:`scorelens.features._pipeline.compute_film`).
    report : FilmReport
    """
    with single_threaded():
        return _feature_film(kind_name, kind_options, cues, config, film_path, previous_path, film_id)


@contextlib.contextmanager
def single_threaded():
    """Numerical libraries on one thread while a film's features are computed (a context manager).

    Multi-threaded BLAS and PyTorch kernels sum in an order that depends on the thread
    count, which moved float32 features by an ulp between this process and a Dask worker.
    One thread per task makes a film's features the same bits wherever it runs (and the
    executor runs one task per core).
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        with threadpool_limits(limits=1):
            if torch is not None:
                torch.set_num_threads(1)
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def _feature_film(kind_name, kind_options, cues, config, film_path, previous_path, film_id):
    kind = _resolve_kind(kind_name, kind_options)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)  # the kind may have imported it just now
    previous = None
    if previous_path is not None and Path(previous_path).exists():
        try:
            previous = pd.read_parquet(previous_path)
        except Exception:  # noqa: BLE001 - an unreadable old shard is simply recomputed
            log.warning("%s: unreadable shard, recomputing", previous_path)
    report = FilmReport(film_id=film_id)
    frames = compute_film(kind, cues, config=config, film_path=film_path, previous=previous, report=report)
    return frames, report


def compute_features(workspace: Workspace, config: FeatureConfig, films: Sequence[FilmSource], *,
                     kind: str | FeatureKind = "mir", kind_options: dict | None = None, keep_going: bool = False,
                     force: bool = False, retry_failed: bool = False, executor: Executor | None = None,
                     progress: Progress | None = None) -> FeaturesReport:
    """Compute (or reuse) one kind's features for films and write the frame- and cue-level tables.

    The work behind the ``features`` stage (:func:`run_features`), for one kind and any films
    with cue tables (a manifest's, or the workspace's own).

    Parameters
    ----------
    workspace : Workspace
    config : FeatureConfig
    films : sequence of FilmSource
        The films of this run, in output order; the tables hold exactly the films that succeed.
    kind : str or FeatureKind
        A registered feature kind (``mir``, ``musicnn``, ``vggish``, …), or an instance
        (which must be picklable to run on Dask workers).
    kind_options : dict, optional
        The kind's settings (``get_kind(kind, **kind_options)``).
    keep_going : bool
        Record a failing film (any :class:`ScorelensError`) and continue; otherwise raise
        after the finished films are committed.
    force : bool
        Recompute shards even when their record says they are done.
    retry_failed : bool
        Try again films that failed before on the same inputs and settings.
    executor : Executor, optional
        Where the per-film work runs (default: this process).
    progress : callable, optional

    Returns
    -------
    FeaturesReport
    """
    kind_options = dict(kind_options or {})
    if not films:
        raise ParameterError("no films to compute features for")
    feature_kind = _resolve_kind(kind, kind_options)
    # Workers rebuild a kind given by name; an instance travels itself.
    task_kind = kind if isinstance(kind, str) else feature_kind
    kind = feature_kind.name
    layout = workspace.layout
    key_of_kind = kind_key(feature_kind, config)
    record = kind_record(feature_kind, config)
    workspace.save_settings(f"features-{kind}", config, kind={"name": kind, "version": feature_kind.version,
                                                              "settings": feature_kind.settings()})
    report = FeaturesReport(kind=kind)
    stage = StageReport(f"features:{kind}")
    reports: dict[str, FilmReport] = {}
    tasks: list[FilmTask] = []
    first_error = None
    for source in films:
        reports[source.film_id] = FilmReport(film_id=source.film_id)
        try:
            cues = read_cue_table(source.cues, film_id=source.film_id)
            spans = cues[["cue_id", "track_id", "start_s", "end_s", "track_offset_s", "speed"]].round(4)
            film_digest = file_digest(source.film) if config.audio == "film" and source.film else None
            key = settings_digest({"kind": key_of_kind, "film": source.film_id, "film_digest": film_digest,
                                   "cues": spans.astype(str).values.tolist()})
        except ScorelensError as exc:
            reports[source.film_id].error = str(exc)
            first_error = first_error or exc
            log.error("%s: %s", source.film_id, exc)
            continue
        shard = layout.feature_shard(kind, source.film_id)
        old = None if force else workspace.record(shard)
        previous = str(shard) if old and old.get("kind_key") == key_of_kind else None
        film = str(source.film) if source.film is not None else None
        tasks.append(FilmTask(source.film_id, shard, key,
                              (task_kind, kind_options, cues, config, film, previous, source.film_id)))
    if first_error is not None and not keep_going:
        raise first_error

    def commit(task: FilmTask, outcome) -> None:
        frames, fr = outcome
        reports[task.film_id] = fr
        meta = {**record, "film_id": task.film_id}
        workspace.commit(task.output, task.key, lambda p: write_feature_table(frames, p, meta),
                         meta={"kind_key": key_of_kind, "film_id": task.film_id, "cues": fr.n_cues,
                               "frames": fr.n_frames, "computed": fr.computed, "reused": fr.reused,
                               "skipped": fr.skipped})

    try:
        done = map_films(workspace, stage, tasks, feature_film_task, commit, executor=executor, progress=progress,
                         description=f"{kind} features", keep_going=keep_going, retry_failed=retry_failed,
                         force=force)
    finally:
        for f in stage.failures:
            reports[f["film"]].error = f["reason"]
        report.attempted = stage.attempted
    for film_id in stage.reused:
        fr, task = reports[film_id], next(t for t in tasks if t.film_id == film_id)
        done_record = workspace.record(task.output) or {}
        fr.cached, fr.n_cues = True, len(task.args[2])
        fr.n_frames = int(done_record.get("frames", 0))
        fr.skipped = [tuple(x) for x in done_record.get("skipped", [])]
    report.films = [reports[s.film_id] for s in films]
    if done:
        _assemble(workspace, kind, [(t.film_id, t.key) for t in done], record, key_of_kind, report)
    return report


def run_features(workspace: Workspace, config: StudyConfig, corpus: Corpus, *, executor: Executor | None = None,
                 progress: Progress | None = None) -> StageReport:
    """The ``features`` stage: every configured music kind's frame- and cue-level tables for the corpus' films.

    The kinds are ``run.kinds`` (``mir`` and ``musicnn`` by default), with ``vggish`` added
    when its weights are configured. A kind that cannot be built here (VGGish weights missing)
    is a failure of that kind named before any work; the other kinds still run.

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``features``, ``mir``, ``embeddings``, and ``run``'s ``kinds``, ``keep_going``,
        ``retry_failed`` and ``force``.
    corpus : Corpus
        Its films' cue tables are read from the workspace.
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    StageReport
        ``result``: kind -> :class:`FeaturesReport` for each kind that ran.
    """
    t0 = time.perf_counter()
    report = StageReport("features")
    kinds = feature_kinds(config)
    unusable = unusable_kinds(config, kinds)
    if not config.run.keep_going:
        check_features(config)
    sources = film_sources(workspace, corpus)
    results: dict[str, FeaturesReport] = {}
    computed = 0
    for kind in kinds:
        if kind in unusable:
            report.fail(unusable[kind], kind=kind)
            continue
        try:
            rep = compute_features(workspace, config.features, sources, kind=kind,
                                   kind_options=kind_options(config, kind), keep_going=config.run.keep_going,
                                   force=config.run.force, retry_failed=config.run.retry_failed,
                                   executor=executor, progress=progress)
        except ScorelensError as exc:
            if not config.run.keep_going:
                raise
            report.fail(str(exc), kind=kind)
            continue
        results[kind] = rep
        for f in rep.films:
            if f.error is not None:
                report.failures.append({"film": f.film_id, "kind": kind, "stage": "features", "reason": f.error})
            elif f.cached:
                report.reused.append(f"{kind}:{f.film_id}")
            computed += int(f.error is None and not f.cached)
        report.outputs += [p for p in (rep.frames_path, rep.cues_path) if p is not None]
    report.result = results
    ok = [k for k, r in results.items() if r.cues_path is not None]
    attempted = computed or sum(r.attempted for r in results.values())
    report.status = "failed" if not ok else "done" if attempted else "reused"
    report.detail = "; ".join(
        f"{k}: {sum(f.error is None for f in r.films)} film(s), "
        f"{sum(f.computed for f in r.films if f.error is None and not f.cached)} cue(s) computed, "
        f"{len(r.failures)} failed" for k, r in results.items()) or "no kind ran"
    return timed(report, t0)


def feature_kinds(config: StudyConfig) -> list[str]:
    """The music feature kinds a study computes: ``run.kinds``, with ``vggish`` first when its weights are configured.

    Parameters
    ----------
    config : StudyConfig

    Returns
    -------
    list of str
    """
    kinds = list(config.run.kinds)
    if "vggish" not in kinds and (config.embeddings.vggish_dir or os.environ.get("SCORELENS_VGGISH_DIR")):
        kinds.insert(0, "vggish")
    return kinds


def kind_options(config: StudyConfig, kind: str) -> dict:
    """A kind's options from the settings: MIR's changed fields, the embeddings' own options.

    Parameters
    ----------
    config : StudyConfig
    kind : str

    Returns
    -------
    dict
        Keyword arguments of :func:`~scorelens.features._base.get_kind`.
    """
    if kind == "mir":
        from dataclasses import fields

        from scorelens.config import MIRConfig

        default = MIRConfig()
        return {f.name: getattr(config.mir, f.name) for f in fields(MIRConfig)
                if getattr(config.mir, f.name) != getattr(default, f.name)}
    options = config.embeddings.kind_options(kind)
    if kind in ("musicnn", "vggish") and config.model.device != "cpu":
        # The embedding networks run on the study's device (model.device); the device is not part of
        # the features' key, so a CPU and a GPU run share stored features.
        from scorelens.mil import resolve_device

        options["device"] = str(resolve_device(config.model.device))
    return options


def check_features(config: StudyConfig, corpus: Corpus | None = None) -> None:
    """The features stage's check before any work: every kind can be built here (its weights found).

    Parameters
    ----------
    config : StudyConfig
    corpus : Corpus, optional
        Unused.

    Raises
    ------
    ParameterError
        ``features:<kind>: <reason>`` for the first kind that cannot be built.
    """
    unusable = unusable_kinds(config, feature_kinds(config))
    if unusable:
        kind, reason = next(iter(unusable.items()))
        raise ParameterError(f"features:{kind}: {reason}")


def unusable_kinds(config: StudyConfig, kinds: Sequence[str]) -> dict[str, str]:
    """The kinds that cannot be built here, with the reason (what can be known before any work).

    Parameters
    ----------
    config : StudyConfig
    kinds : sequence of str

    Returns
    -------
    dict
        Kind -> reason (an unknown kind, missing weights).
    """
    from scorelens.features._base import available_kinds

    problems = {}
    for kind in kinds:
        if kind not in available_kinds():
            problems[kind] = f"unknown feature kind {kind!r}; known kinds: {', '.join(available_kinds())}"
            continue
        try:
            _resolve_kind(kind, kind_options(config, kind))
        except ScorelensError as exc:
            problems[kind] = str(exc)
    return problems


def _assemble(workspace: Workspace, kind: str, shard_keys: list[tuple[str, str]], record: dict,
              key_of_kind: str, report: FeaturesReport) -> None:
    layout = workspace.layout
    key = settings_digest({"kind": key_of_kind, "shards": shard_keys})
    meta = {**record, "films": [f for f, _ in shard_keys]}
    frames_path, cues_path = layout.features(kind, "frame"), layout.features(kind, "cue")
    report.frames_path, report.cues_path = frames_path, cues_path
    if workspace.is_done(frames_path, key) and workspace.is_done(cues_path, key):
        return
    frames = pd.concat([pd.read_parquet(layout.feature_shard(kind, f)) for f, _ in shard_keys], ignore_index=True)
    frames = frames.drop(columns=SHARD_EXTRA_COLUMNS)
    cues = cue_level(frames)
    info = {"kind_key": key_of_kind, "films": len(shard_keys), "settings": record}
    workspace.commit(frames_path, key, lambda p: write_feature_table(frames, p, {**meta, "level": "frame"}),
                     meta={**info, "rows": len(frames)})
    workspace.commit(cues_path, key, lambda p: write_feature_table(cues, p, {**meta, "level": "cue"}),
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
    path = ws.layout.features(kind, level)
    if not path.exists():
        raise FeatureError(f"{path}: no {level}-level {kind!r} features yet (run `scorelens features --kind {kind}`)")
    df = pd.read_parquet(path)
    df.attrs["scorelens"] = read_feature_metadata(path)
    return df
