"""The whole study in one call: every stage in order, resumable, recorded in ``results/run.json``.

Stages, in order: ``index`` (fingerprint every soundtrack), ``stamp`` (every film),
``features`` (each configured music kind: ``mir`` and ``musicnn`` by default, ``vggish``
too when its weights are configured), ``visual``, ``evaluate`` (Table 4), ``importance``
(Fig 3), ``crossmodal`` (Table 5), ``figures`` and ``report``. Each stage reuses what the
workspace already holds for the same inputs and settings, so a second run with nothing
changed does no work, and a run killed at any moment completes when started again.

Failures: a film that fails a per-film stage (stamp, features, visual) is, with
``keep_going``, recorded and left out of the later stages while every other film is fully
processed; without it the run stops with the error (after writing ``run.json``). The run's
:attr:`RunReport.exit_code` is 0 when nothing failed and 3 when failures were recorded.
"""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scorelens import __version__
from scorelens.config import StudyConfig
from scorelens.corpus import Corpus, load_corpus
from scorelens.exceptions import ManifestError, ParameterError, ScorelensError
from scorelens.io.atomic import write_json_atomic
from scorelens.stages.executor import Executor, LocalExecutor, Progress, make_executor, no_progress
from scorelens.workspace import Workspace

__all__ = ["StageRecord", "RunReport", "run", "resolve_settings", "manifest_settings", "EXIT_FAILURES"]

log = logging.getLogger(__name__)

#: Exit status of a run that finished with recorded failures (``--keep-going``).
EXIT_FAILURES = 3


@dataclass
class StageRecord:
    """One stage of a run: ``status`` is ``done``, ``reused``, ``failed`` or ``skipped``."""

    stage: str
    status: str
    seconds: float = 0.0
    detail: str = ""
    failures: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


@dataclass
class RunReport:
    """What a run did, stage by stage (written to ``results/run.json``)."""

    workspace: str
    manifest: str
    stages: list[StageRecord] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    executor: str = "local"
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    fatal: str | None = None

    @property
    def failures(self) -> list[dict]:
        """Every stage's per-film failures, in stage order."""
        return [f for s in self.stages for f in s.failures]

    @property
    def exit_code(self) -> int:
        """3 (``EXIT_FAILURES``) when a film or a stage failed, else 0."""
        return EXIT_FAILURES if self.failures or any(s.status == "failed" for s in self.stages) else 0

    def to_json(self) -> dict:
        """The record written to ``results/run.json`` (exit code 1 after a fatal error)."""
        return {"scorelens": __version__, "workspace": self.workspace, "manifest": self.manifest,
                "executor": self.executor, "started": self.started, "finished": self.finished,
                "seconds": round(self.seconds, 3), "exit_code": 1 if self.fatal else self.exit_code,
                "fatal": self.fatal, "stages": [asdict(s) for s in self.stages], "failures": self.failures,
                "settings": self.settings}


def manifest_settings(manifest: str | os.PathLike) -> dict:
    """The ``[settings]`` table of a TOML manifest (empty for CSV manifests or none).

    Parameters
    ----------
    manifest : str or path-like

    Returns
    -------
    dict
        Empty when ``manifest`` is not an existing ``.toml`` file or has no ``[settings]``.

    Raises
    ------
    ManifestError
        Not valid TOML, or ``settings`` is not a table.
    """
    path = Path(manifest)
    if path.suffix.lower() != ".toml" or not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, [f"not valid TOML: {exc}"]) from exc
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise ManifestError(path, ["[settings] must be a table"])
    return settings


def resolve_settings(manifest: str | os.PathLike | None = None, config_file: str | os.PathLike | None = None,
                     overrides: dict | None = None, base: StudyConfig | None = None) -> StudyConfig:
    """Every setting of a run, in rising priority: defaults, manifest ``[settings]``, ``config_file``, ``overrides``.

    Parameters
    ----------
    manifest : path, optional
        A TOML manifest whose ``[settings]`` table applies.
    config_file : path, optional
        A TOML file with the same keys (top level, or under ``[settings]``).
    overrides : dict, optional
        ``{"section.name": value}`` (command-line options).
    base : StudyConfig, optional
        Start from these instead of the study's defaults.

    Returns
    -------
    StudyConfig
    """
    config = base or StudyConfig()
    if manifest is not None:
        config = config.merged(manifest_settings(manifest), source=f"{manifest} [settings]")
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ParameterError(f"{path}: no such settings file (--config)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ParameterError(f"{path}: not valid TOML ({exc})") from exc
        config = config.merged(data.get("settings", data), source=str(path))
    if overrides:
        config = config.merged(overrides, source="command line")
    return config


def _kinds(config: StudyConfig) -> list[str]:
    kinds = list(config.run.kinds)
    if "vggish" not in kinds and (config.embeddings.vggish_dir or os.environ.get("SCORELENS_VGGISH_DIR")):
        kinds.insert(0, "vggish")
    return kinds


class _Runner:
    def __init__(self, ws: Workspace, corpus: Corpus, config: StudyConfig, executor: Executor,
                 progress: Progress, report: RunReport, on_stage: Callable[[str, str], None] | None):
        self.ws, self.corpus, self.config = ws, corpus, config
        self.executor, self.progress, self.report = executor, progress, report
        self.on_stage = on_stage
        self.failed_films: dict[str, str] = {}
        self.failed_stages: set[str] = set()

    # --- bookkeeping
    def films(self) -> list[str]:
        return [f.id for f in self.corpus.films if f.id not in self.failed_films]

    def save(self) -> None:
        self.report.seconds = time.perf_counter() - self._t0
        write_json_atomic(self.ws.layout.run_record(), self.report.to_json())

    def stage(self, name: str, fn: Callable[[StageRecord], None], *, needs: tuple[str, ...] = ()) -> None:
        record = StageRecord(name, "done")
        self.report.stages.append(record)
        if self.on_stage:
            self.on_stage(name, "start")
        blocked = [n for n in needs if n in self.failed_stages]
        if blocked:
            record.status, record.detail = "skipped", f"{', '.join(blocked)} failed"
            self.failed_stages.add(name)
        else:
            t0 = time.perf_counter()
            try:
                fn(record)
            except ScorelensError as exc:
                record.status, record.detail = "failed", str(exc)
                record.seconds = time.perf_counter() - t0
                self.failed_stages.add(name)
                if not self.config.run.keep_going:
                    self.report.fatal = f"{name}: {exc}"
                    self.save()
                    raise
            record.seconds = time.perf_counter() - t0
        if self.on_stage:
            self.on_stage(name, record.status)
        self.save()

    def film_failures(self, record: StageRecord, failed: dict[str, str]) -> None:
        for film_id, reason in failed.items():
            record.failures.append({"film": film_id, "stage": record.stage, "reason": reason})
            self.failed_films.setdefault(film_id, f"{record.stage}: {reason}")
        if failed:
            record.status = "failed" if not self.films() else "done"
            if not self.config.run.keep_going:
                film_id, reason = next(iter(failed.items()))
                raise ScorelensError(f"{film_id}: {reason}")

    # --- stages
    def index(self, record: StageRecord) -> None:
        from scorelens.stages.stamp import run_index

        tracks = list(dict.fromkeys(t for f in self.corpus.films for t in f.tracks))
        rep = run_index(self.ws, self.config.stamp, tracks, db=self.config.run.db, keep_going=True,
                        progress=self.progress)
        record.warnings += [{"track": path, "reason": msg} for path, msg in rep.failures.items()]
        record.status = "done" if rep.count("added") else "reused"
        record.detail = (f"{rep.count('added')} added, {rep.count('known')} known, {rep.count('failed')} unreadable; "
                         f"{rep.total_tracks} in the database")

    def stamp(self, record: StageRecord) -> None:
        from scorelens.stages.stamp import run_stamp

        rep = run_stamp(self.ws, self.config.stamp, self.corpus, films=self.films(), db=self.config.run.db,
                        whole_index=self.config.run.whole_index, keep_going=True, executor=self.executor,
                        progress=self.progress)
        record.warnings += [{"film": f, "reason": w} for f, ws in rep.warnings.items() for w in ws]
        record.status = "done" if rep.stamped else "reused"
        record.detail = f"{len(rep.stamped)} stamped, {len(rep.reused)} reused, {len(rep.failed)} failed"
        self.film_failures(record, rep.failed)
        annotated = [f.id for f in self.corpus.films if f.cues is not None and f.id in rep.cue_tables]
        if annotated:
            # Hand-annotated films: the stamper's scores against them, for the report.
            from scorelens.stages.stamp import annotated_truth, run_stamp_eval

            truth, predicted = annotated_truth(self.ws, self.corpus, annotated)
            scores = run_stamp_eval(self.ws, truth, predicted).summary["mean"]
            record.detail += (f"; against {len(annotated)} annotated film(s): precision "
                              f"{scores['second_precision']:.3f}, recall {scores['second_recall']:.3f}")

    def features(self, kind: str) -> Callable[[StageRecord], None]:
        def stage(record: StageRecord) -> None:
            from scorelens.stages.features import film_sources, run_features

            sources = film_sources(self.ws, self.corpus, self.films())
            rep = run_features(self.ws, self.config.features, sources, kind=kind,
                               kind_options=_kind_options(self.config, kind), keep_going=True,
                               executor=self.executor, progress=self.progress)
            computed = sum(f.computed for f in rep.films if f.error is None)
            record.status = "done" if computed or any(not f.cached for f in rep.films if f.error is None) \
                else "reused"
            record.detail = (f"{len(rep.films) - len(rep.failures)} film(s), {computed} cue(s) computed, "
                             f"{len(rep.failures)} failed")
            self.film_failures(record, rep.failed)
        return stage

    def visual(self, record: StageRecord) -> None:
        from scorelens.stages.visual import run_visual, visual_sources

        rep = run_visual(self.ws, self.config.visual, visual_sources(self.ws, self.corpus, self.films()),
                         keep_going=True, executor=self.executor, progress=self.progress)
        record.status = "reused" if len(rep.cached) == len(rep.films) and not rep.failures else "done"
        record.detail = f"{len(rep.films)} film(s), {len(rep.cached)} reused, {len(rep.failures)} failed"
        self.film_failures(record, rep.failures)

    def evaluate(self, record: StageRecord) -> None:
        from scorelens.stages.evaluate import run_evaluate

        kinds = self.kinds_ok()
        if not kinds:
            raise ScorelensError(f"no music features to evaluate: every kind failed ({', '.join(self.kinds)})")
        rep = run_evaluate(self.ws, self.config.model, self._ok_corpus(), features=kinds,
                           executor=self.executor, progress=self.progress)
        record.status = "reused" if rep.reused else "done"
        record.detail = f"Table 4 of {len(self.films()) - len(rep.missing)} film(s): {rep.paths.get('markdown')}"

    def importance(self, record: StageRecord) -> None:
        from scorelens.stages.importance import run_importance

        rep = run_importance(self.ws, self.config.model, self.config.importance, self._ok_corpus(),
                             executor=self.executor, progress=self.progress)
        record.status = "reused" if rep.reused else "done"
        record.detail = str(rep.folder)

    def crossmodal(self, record: StageRecord) -> None:
        from dataclasses import replace

        from scorelens.stages.crossmodal import run_crossmodal

        config = self.config.crossmodal
        if config.features is None:
            kinds = self.kinds_ok() or self.kinds
            choice = next((k for k in ("vggish", "musicnn") if k in kinds), kinds[0])
            config = replace(config, features=choice)
        rep = run_crossmodal(self.ws, config, self._ok_corpus())
        record.status = "reused" if rep.reused else "done"
        record.detail = f"Table 5: {rep.paths[0]}"

    def figures(self, record: StageRecord) -> None:
        from scorelens.stages.figures import run_figures

        rep = run_figures(self.ws, self.config.figures, self._ok_corpus())
        record.status = "reused" if rep.reused else "done"
        record.detail = f"{len(rep.written)} file(s) in {self.ws.layout.figures_dir}"

    def final_report(self, record: StageRecord) -> None:
        from scorelens.stages.report import run_report

        self.save()  # the report lists this run's failures from run.json
        rep = run_report(self.ws, self.config.report, self.corpus)
        record.status = "reused" if rep.reused else "done"
        record.detail = ", ".join(str(p) for p in rep.written)

    @staticmethod
    def _unusable(reason: str) -> Callable[[StageRecord], None]:
        def stage(record: StageRecord) -> None:
            raise ParameterError(reason)
        return stage

    def kinds_ok(self) -> list[str]:
        """The feature kinds whose stage did not fail (a kind without its weights leaves the others)."""
        return [k for k in self.kinds if f"features:{k}" not in self.failed_stages]

    def _ok_corpus(self) -> Corpus:
        """The corpus without the films that failed an earlier stage."""
        from dataclasses import replace

        keep = set(self.films())
        return replace(self.corpus, films=tuple(f for f in self.corpus.films if f.id in keep))

    def preflight(self) -> dict[str, str]:
        """Problems that can be known before any work: each feature kind is built once (its weights found)."""
        from scorelens.features.base import available_kinds, get_kind

        problems = {}
        for kind in self.kinds:
            if kind not in available_kinds():
                problems[kind] = f"unknown feature kind {kind!r}; known kinds: {', '.join(available_kinds())}"
                continue
            try:
                get_kind(kind, **_kind_options(self.config, kind))
            except ScorelensError as exc:
                problems[kind] = str(exc)
        return problems

    def run(self) -> None:
        self._t0 = time.perf_counter()
        cfg = self.config.run
        self.kinds = _kinds(self.config)
        unusable = self.preflight() if "features" in cfg.stages else {}
        if unusable and not cfg.keep_going:
            kind, reason = next(iter(unusable.items()))
            raise ParameterError(f"features:{kind}: {reason}")
        plan: list[tuple[str, Callable, tuple]] = []
        want = set(cfg.stages)
        if "index" in want:
            plan.append(("index", self.index, ()))
        if "stamp" in want:
            plan.append(("stamp", self.stamp, ()))
        if "features" in want:
            for k in self.kinds:
                plan.append((f"features:{k}", self._unusable(unusable[k]) if k in unusable else self.features(k),
                             ("stamp",)))
        if "visual" in want:
            plan.append(("visual", self.visual, ("stamp",)))
        if "evaluate" in want:
            # Runs on the kinds whose features succeeded (missing VGGish weights leave MIR and musicnn).
            plan.append(("evaluate", self.evaluate, ("stamp",)))
        if "importance" in want:
            if self.config.importance.features in self.kinds:
                plan.append(("importance", self.importance, (f"features:{self.config.importance.features}",)))
            else:
                log.info("importance skipped: its feature kind %r is not among %s", self.config.importance.features,
                         self.kinds)
        if "crossmodal" in want:
            plan.append(("crossmodal", self.crossmodal, ("evaluate", "visual")))
        if "figures" in want:
            plan.append(("figures", self.figures, ("evaluate",)))
        if "report" in want:
            plan.append(("report", self.final_report, ()))
        self.plan = plan
        advance = self.progress("scorelens run", len(plan))
        for name, fn, needs in plan:
            self.stage(name, fn, needs=needs)
            advance(1)


def _kind_options(config: StudyConfig, kind: str) -> dict:
    """A kind's options from the settings: MIR's changed fields, the embeddings' own options."""
    if kind == "mir":
        from dataclasses import fields

        from scorelens.config import MIRConfig

        default = MIRConfig()
        return {f.name: getattr(config.mir, f.name) for f in fields(MIRConfig)
                if getattr(config.mir, f.name) != getattr(default, f.name)}
    return config.embeddings.kind_options(kind)


def run(manifest: str | os.PathLike, *, workspace: str | os.PathLike = "scorelens-work",
        config: StudyConfig | None = None, config_file: str | os.PathLike | None = None,
        overrides: dict | None = None, workers: int | None = None, scheduler: str | None = None,
        executor: Executor | None = None, progress: Progress | None = None,
        on_stage: Callable[[str, str], None] | None = None) -> RunReport:
    """Run the whole study on a manifest's films: every stage in order, resumable.

    Parameters
    ----------
    manifest : path
        The corpus manifest (TOML or CSV).
    workspace : path
        Output folder (created; locked for the run: a second run on it is refused).
    config : StudyConfig, optional
        Settings to start from (default: the study's), before the manifest's ``[settings]``,
        ``config_file`` and ``overrides`` are applied (:func:`resolve_settings`).
    config_file : path, optional
    overrides : dict, optional
        ``{"section.name": value}``.
    workers : int, optional
        Run the per-film work on a local Dask cluster of this many worker processes.
    scheduler : str, optional
        Run it on an existing Dask cluster (``tcp://host:port``).
    executor : Executor, optional
        An executor to use instead (not closed by the run).
    progress : callable, optional
        ``progress(description, total) -> advance``.
    on_stage : callable, optional
        ``on_stage(stage, status)`` when a stage starts (``"start"``) and ends.

    Returns
    -------
    RunReport
        Also written to ``results/run.json``; ``exit_code`` is 0, or 3 with recorded failures.

    Raises
    ------
    ScorelensError
        A bad manifest or settings, an unusable or busy workspace, or (without
        ``run.keep_going``) the first failure.

    Examples
    --------
    >>> import scorelens
    >>> report = scorelens.run("corpus.toml", workspace="work", overrides={"model.epochs": 50})  # doctest: +SKIP
    >>> [(s.stage, s.status) for s in report.stages]  # doctest: +SKIP
    """
    config = resolve_settings(manifest, config_file, overrides, base=config)
    corpus = load_corpus(manifest)
    ws = Workspace(workspace)
    progress = progress or no_progress
    with ws.lock("scorelens run"):
        own = executor is None
        executor = executor or make_executor(workers, scheduler)
        report = RunReport(workspace=str(ws.root), manifest=str(Path(manifest)), settings=config.to_dict(),
                           executor=repr(executor), started=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if executor.distributed and config.run.db is None:
            log.info("fingerprints in %s: written by this process only, read by the workers", ws.default_db)
        ws.save_settings("run", *(getattr(config, s) for s in config.to_dict()))
        runner = _Runner(ws, corpus, config, executor, progress, report, on_stage)
        try:
            runner.run()
        except ScorelensError as exc:
            report.fatal = report.fatal or str(exc)
            raise
        finally:
            report.finished = time.strftime("%Y-%m-%dT%H:%M:%S")
            if own:
                executor.close()
            if hasattr(runner, "_t0"):
                runner.save()
    return report


def read_run_record(workspace: str | os.PathLike) -> dict | None:
    """The last run's record (``results/run.json``), or None.

    Parameters
    ----------
    workspace : str, path-like or Workspace

    Returns
    -------
    dict or None
        The parsed record; None when it is missing or unreadable.
    """
    path = Workspace(workspace).layout.run_record() if not isinstance(workspace, Workspace) \
        else workspace.layout.run_record()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


__all__ += ["read_run_record", "LocalExecutor"]
