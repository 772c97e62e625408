"""The one shape every stage has: ``run_<stage>(workspace, config, corpus, *, executor, progress) -> StageReport``.

* :class:`StageReport` is what every stage returns (and what ``results/run.json`` records).
* :class:`Stage` declares a stage: its function, what it needs, one line of help and what it
  writes. :data:`scorelens.stages.STAGES` lists them once, in pipeline order.
* :func:`map_films` is the per-film loop of the film stages (stamp, features, visual): reuse
  finished films, replay recorded failures, submit one task per remaining film to the executor,
  commit each result on the driver as it arrives, keep going or fail fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorelens.exceptions import ScorelensError

__all__ = ["StageReport", "Stage", "FilmTask", "StageSkipped", "map_films"]

log = logging.getLogger(__name__)


class StageSkipped(ScorelensError):
    """A stage that cannot run on this corpus (one film: no leave-one-out) and is skipped, not failed."""


@dataclass
class StageReport:
    """What one stage did: the same fields for every stage.

    Attributes
    ----------
    stage : str
        The stage's name (``features:mir`` for one feature kind inside ``features``).
    status : {"done", "reused", "failed", "skipped"}
        ``done`` when it computed something, ``reused`` when everything was already in the
        workspace for the same inputs and settings, ``failed`` when nothing usable came out,
        ``skipped`` when it could not run (a stage it needs failed, or the corpus is too small).
    outputs : list of Path
        The files this stage is responsible for (written now or reused).
    reused : list of str
        The units (films, files) that were already done.
    failures : list of dict
        ``{"film"|"track"|"kind": name, "stage": stage, "reason": text}`` per unit that failed.
    warnings : list of dict
        The same shape, for what was left out without failing (a damaged soundtrack track).
    seconds : float
    detail : str
        One line for people (``3 stamped, 9 reused, 0 failed``).
    result : object
        The stage's result in memory, when it computed one (an ``Evaluation``, a Table 5 …);
        not recorded.
    """

    stage: str
    status: str = "done"
    outputs: list[Path] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""
    result: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def finished(cls, stage: str, *, reused: bool, outputs, result=None, detail: str = "",
                 seconds: float = 0.0) -> StageReport:
        """The report of a stage of whole outputs: ``reused`` (every output kept) or ``done``.

        Parameters
        ----------
        stage : str
        reused : bool
            Every output was already there for the same inputs and settings.
        outputs : iterable of Path
        result : object, optional
        detail : str
        seconds : float

        Returns
        -------
        StageReport
        """
        outputs = [Path(p) for p in outputs]
        return cls(stage, "reused" if reused else "done", outputs=outputs, result=result, detail=detail,
                   seconds=seconds, reused=[str(p) for p in outputs] if reused else [])

    def fail(self, reason: str, **subject) -> None:
        """Record a failed unit (``film=``, ``track=`` or ``kind=``; ``recorded=True`` when replayed from a record)."""
        self.failures.append({**subject, "stage": self.stage, "reason": str(reason)})

    @property
    def attempted(self) -> int:
        """Failures of units tried in this run (not replayed from an earlier run's record)."""
        return sum(not f.get("recorded") for f in self.failures)

    def warn(self, reason: str, **subject: str) -> None:
        """Record a unit left out without failing the stage."""
        self.warnings.append({**subject, "stage": self.stage, "reason": str(reason)})

    @property
    def failed(self) -> dict[str, str]:
        """Film id -> reason of each film that failed this stage."""
        return {f["film"]: f["reason"] for f in self.failures if "film" in f}

    def to_json(self) -> dict:
        """The record of ``results/run.json`` (paths as text, no in-memory result)."""
        return {"stage": self.stage, "status": self.status, "seconds": round(self.seconds, 3), "detail": self.detail,
                "outputs": [str(p) for p in self.outputs], "reused": list(self.reused),
                "failures": list(self.failures), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Stage:
    """One stage of the study, declared as data.

    Attributes
    ----------
    name : str
    run : callable
        ``run(workspace, config, corpus, *, executor=None, progress=None) -> StageReport``.
    needs : tuple of str
        Stages whose outputs it reads: it is skipped when one of them failed or was skipped.
    help : str
        One line (the CLI's ``--stage`` help and the docs read it).
    writes : str
        Where its outputs go in the workspace.
    check : callable, optional
        ``check(config, corpus)``: what can be known to fail before any stage works (missing
        weights); raises :class:`~scorelens.exceptions.ScorelensError`. ``run`` calls the checks
        of every planned stage first (unless ``run.keep_going``, where the stage records it).
    """

    name: str
    run: Callable[..., StageReport]
    needs: tuple[str, ...] = ()
    help: str = ""
    writes: str = ""
    check: Callable[..., None] | None = None


@dataclass
class FilmTask:
    """One film's unit of work in a film stage.

    Attributes
    ----------
    film_id : str
    output : Path
        The unit's output in the workspace (done when its record holds ``key``).
    key : str
        Digest of the unit's inputs and settings.
    args : tuple
        The task function's arguments (picklable: they may travel to a Dask worker).
    """

    film_id: str
    output: Path
    key: str
    args: tuple = ()


def map_films(workspace, report: StageReport, tasks: Sequence[FilmTask], fn: Callable[..., Any],
              commit: Callable[[FilmTask, Any], None], *, executor=None, progress=None, description: str = "films",
              keep_going: bool = False, retry_failed: bool = False, force: bool = False) -> list[FilmTask]:
    """Run a film stage's per-film tasks: the one loop that stamp, features and visual share.

    A film whose output is done for its key is reused. A film that failed before on the same
    inputs and settings (its failure is recorded beside the output under the same key) fails
    again from the record without being re-attempted, unless ``retry_failed``. Every other film
    is one task on the executor; each result is committed on the driver as it arrives, and each
    failure recorded. Without ``keep_going`` the first failure stops the loop (tasks not yet
    finished are cancelled) and is raised, after the finished films are committed.

    Parameters
    ----------
    workspace : Workspace
    report : StageReport
        Receives the reused films (``reused``) and the failures.
    tasks : sequence of FilmTask
    fn : callable
        The pure per-film task, ``fn(*task.args)``.
    commit : callable
        ``commit(task, result)`` writes a finished film through ``workspace.commit``.
    executor : Executor, optional
        Default: this process.
    progress : callable, optional
        ``progress(description, total) -> advance``.
    description : str
    keep_going : bool
    retry_failed : bool
    force : bool
        Recompute films that are done.

    Returns
    -------
    list of FilmTask
        The tasks whose film is done now (reused or computed), in the order of ``tasks``.

    Raises
    ------
    ScorelensError
        Without ``keep_going``: the first failure.
    """
    from scorelens.stages._executor import LocalExecutor, no_progress

    executor = executor or LocalExecutor()
    advance = (progress or no_progress)(description, len(tasks))
    done: set[str] = set()
    todo: list[FilmTask] = []
    first_error: ScorelensError | None = None
    for task in tasks:
        if not force and workspace.is_done(task.output, task.key):
            report.reused.append(task.film_id)
            done.add(task.film_id)
            advance(1)
            continue
        recorded = None if (force or retry_failed) else workspace.recorded_failure(task.output, task.key)
        if recorded is not None:
            report.fail(recorded, film=task.film_id, recorded=True)
            first_error = first_error or ScorelensError(f"{task.film_id}: {recorded}")
            advance(1)
            continue
        todo.append(task)
    if first_error is not None and not keep_going:
        raise first_error
    names = [f"{report.stage}-{t.film_id}" for t in todo]
    for position, outcome in executor.map(fn, [t.args for t in todo], names=names):
        task = todo[position]
        advance(1, task.film_id)
        if isinstance(outcome, BaseException):
            log.error("%s: %s", task.film_id, outcome)
            report.fail(str(outcome), film=task.film_id)
            workspace.record_failure(task.output, task.key, str(outcome))
            first_error = first_error or outcome
            if not keep_going:
                break  # fail fast: finished films stay committed, the rest waits for the re-run
            continue
        commit(task, outcome)
        done.add(task.film_id)
    if first_error is not None and not keep_going:
        raise first_error
    return [t for t in tasks if t.film_id in done]


def timed(report: StageReport, t0: float) -> StageReport:
    """``report`` with its ``seconds`` set from ``t0`` (``time.perf_counter()`` at the stage's start)."""
    report.seconds = time.perf_counter() - t0
    return report
