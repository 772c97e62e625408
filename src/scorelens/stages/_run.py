"""The whole study in one call: every stage in order, resumable, recorded in ``results/run.json``.

The stages and their order are :data:`scorelens.stages.STAGES`. Each stage reuses what the
workspace already holds for the same inputs and settings, so a second run with nothing
changed does no work, and a run killed at any moment completes when started again. A stage
that cannot run on the corpus (one film: no leave-one-out) is skipped with its reason, and
so are the stages that need it; the run still ends 0.

Failures: a film that fails a per-film stage (stamp, features, visual) is, with
``keep_going``, recorded and left out of the later stages while every other film is fully
processed; without it the run stops with the error (after writing ``run.json``). The run's
:attr:`RunReport.exit_code` is 0 when nothing failed and 3 when failures were recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scorelens._version import __version__
from scorelens.config import StudyConfig
from scorelens.corpus import Corpus, load_corpus
from scorelens.exceptions import ManifestError, ParameterError, ScorelensError
from scorelens.io._atomic import write_json_atomic
from scorelens.stages._contract import StageReport, StageSkipped
from scorelens.stages._executor import Executor, LocalExecutor, Progress, make_executor, no_progress
from scorelens.stages._graph import check_stages, plan_stages, stage_function
from scorelens.workspace import Workspace

__all__ = ["StageRecord", "RunReport", "run", "resolve_settings", "manifest_settings", "EXIT_FAILURES"]

log = logging.getLogger(__name__)

#: Exit status of a run that finished with recorded failures (``--keep-going``).
EXIT_FAILURES = 3


#: A stage's record in ``results/run.json`` (the same type every stage returns).
StageRecord = StageReport


@dataclass
class RunReport:
    """What a run did, stage by stage (written to ``results/run.json``)."""

    workspace: str
    manifest: str
    stages: list[StageReport] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    executor: str = "local"
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    fatal: str | None = None

    @property
    def failures(self) -> list[dict]:
        """Every stage's per-film (or per-kind) failures, in stage order."""
        return [f for s in self.stages for f in s.failures]

    @property
    def exit_code(self) -> int:
        """3 (``EXIT_FAILURES``) when a film or a stage failed, else 0 (skipped stages are not failures)."""
        return EXIT_FAILURES if self.failures or any(s.status == "failed" for s in self.stages) else 0

    def stage(self, name: str) -> StageReport:
        """The report of one stage of this run.

        Raises
        ------
        KeyError
            The stage did not run.
        """
        for s in self.stages:
            if s.stage == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict:
        """The record written to ``results/run.json`` (exit code 1 after a fatal error)."""
        return {"scorelens": __version__, "workspace": self.workspace, "manifest": self.manifest,
                "executor": self.executor, "started": self.started, "finished": self.finished,
                "seconds": round(self.seconds, 3), "exit_code": 1 if self.fatal else self.exit_code,
                "fatal": self.fatal, "stages": [s.to_json() for s in self.stages], "failures": self.failures,
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


def _run_stages(ws: Workspace, corpus: Corpus, config: StudyConfig, executor: Executor, progress: Progress,
                report: RunReport, save: Callable[[], None], on_stage: Callable[[str, str], None] | None) -> None:
    """Run the planned stages of :data:`~scorelens.stages.STAGES` in order, recording each in ``report``.

    A stage whose needed stage failed or was skipped is skipped. A film that failed a stage is
    left out of the later stages. Without ``run.keep_going`` the first failure is fatal.
    """
    plan = plan_stages(config.run.stages)
    if not config.run.keep_going:
        try:
            check_stages(plan, config, corpus)
        except ScorelensError as exc:
            report.fatal = str(exc)
            raise
    failed_films: dict[str, str] = {}
    not_done: set[str] = set()
    advance = progress("scorelens run", len(plan))
    for stage in plan:
        if on_stage:
            on_stage(stage.name, "start")
        blocked = [n for n in stage.needs if n in not_done]
        keep = [f for f in corpus.films if f.id not in failed_films]
        t0 = time.perf_counter()
        if blocked:
            record = StageReport(stage.name, "skipped", detail=f"needs {', '.join(blocked)}, which did not finish")
        else:
            if stage.name == "report":
                save()  # the report lists this run's failures from run.json
            try:
                record = stage_function(stage)(ws, config, dataclasses.replace(corpus, films=tuple(keep)),
                                               executor=executor, progress=progress)
            except StageSkipped as exc:
                record = StageReport(stage.name, "skipped", detail=str(exc))
            except ScorelensError as exc:
                record = StageReport(stage.name, "failed", detail=str(exc), seconds=time.perf_counter() - t0)
                if not config.run.keep_going:
                    report.stages.append(record)
                    report.fatal = str(exc) if str(exc).startswith(f"{stage.name}:") else f"{stage.name}: {exc}"
                    save()
                    raise
        record.seconds = record.seconds or time.perf_counter() - t0
        report.stages.append(record)
        for film_id, reason in record.failed.items():
            failed_films.setdefault(film_id, f"{stage.name}: {reason}")
        if record.status in ("failed", "skipped"):
            not_done.add(stage.name)
        if on_stage:
            on_stage(stage.name, record.status)
        save()
        advance(1)


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
    plan_stages(config.run.stages)  # an unknown stage is a usage error before any work
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
        t0 = time.perf_counter()

        def save() -> None:
            report.seconds = time.perf_counter() - t0
            write_json_atomic(ws.layout.run_record(), report.to_json())

        try:
            _run_stages(ws, corpus, config, executor, progress, report, save, on_stage)
        except ScorelensError as exc:
            report.fatal = report.fatal or str(exc)
            raise
        except (KeyboardInterrupt, SystemExit):
            report.fatal = report.fatal or "interrupted (Ctrl-C or SIGTERM); run the same command again to resume"
            raise
        finally:
            report.finished = time.strftime("%Y-%m-%dT%H:%M:%S")
            try:
                if own:
                    executor.close()
            finally:
                save()
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
