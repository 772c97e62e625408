"""Where a stage's per-film tasks run: in this process, or on a Dask distributed cluster.

A task is a pure function of picklable inputs (paths, settings, arrays) that opens its own
files and database connections and returns its result; the driver alone commits results
to the workspace and writes its records. So a run gives the same outputs whichever
executor ran its tasks, and a task a dead worker left unfinished can simply run again
(Dask retries it).

* :class:`LocalExecutor` runs tasks one after another in this process.
* :class:`DaskExecutor` sends them to a cluster: a :class:`distributed.LocalCluster` of
  ``workers`` processes started for the run (and closed with it), or an existing
  scheduler (``tcp://host:port``) whose workers share the workspace's file system.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from scorelens.exceptions import ParameterError, ScorelensError

__all__ = ["Executor", "LocalExecutor", "DaskExecutor", "TaskFailure", "make_executor", "Progress",
           "no_progress", "select_films"]

log = logging.getLogger(__name__)

#: ``progress(description, total) -> advance``; ``advance(n, item=None)`` moves that task on by
#: ``n`` (``item``: what was just finished, e.g. a film id, for the display).
Progress = Callable[[str, float | None], Callable[..., None]]


def no_progress(description: str, total: float | None = None) -> Callable[..., None]:
    """A progress hook that shows nothing.

    Parameters
    ----------
    description : str
    total : float, optional

    Returns
    -------
    callable
        ``advance(n=1, item=None)``, which does nothing.
    """
    return lambda n=1, item=None: None


class TaskFailure(ScorelensError):
    """A task that could not finish on the cluster (its worker died more often than Dask retries)."""


def select_films(ids: Sequence[str], wanted: Sequence[str] | None, where: str) -> list[str]:
    """``ids`` in their order, only those in ``wanted`` when given.

    Parameters
    ----------
    ids : sequence of str
        The films there are.
    wanted : sequence of str or None
        The films asked for (``--film``).
    where : str
        Names the source of ``ids`` in the message.

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        ``wanted`` names a film that is not there.
    """
    if not wanted:
        return list(ids)
    unknown = [w for w in wanted if w not in ids]
    if unknown:
        raise ParameterError(f"{where}: no film(s) {', '.join(unknown)} (known: {', '.join(ids) or 'none'})")
    return [i for i in ids if i in set(wanted)]


def _as_failure(exc: BaseException, name: str) -> BaseException:
    """Exceptions a stage records per film; anything else is a bug and propagates."""
    if isinstance(exc, ScorelensError):
        return exc
    if type(exc).__name__ in ("KilledWorker", "CommClosedError", "FutureCancelledError"):
        return TaskFailure(f"{name}: the task's worker died ({type(exc).__name__}: {exc})")
    raise exc


class Executor(abc.ABC):
    """Runs independent tasks and yields their outcomes as they finish."""

    #: Worker processes (1 for the local executor).
    workers: int = 1
    #: Whether tasks run in other processes (their database must then be readable there).
    distributed: bool = False
    #: Whether those processes are a local cluster this executor started (on this machine's cores).
    local_cluster: bool = False

    @abc.abstractmethod
    def map(self, fn: Callable[..., Any], items: Sequence[tuple], *, names: Sequence[str]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(*item)`` for each item; yield ``(position, result or ScorelensError)`` as each finishes.

        A :class:`ScorelensError` raised by a task is yielded, not raised, so a stage can
        record the film and go on; any other exception propagates.
        """

    def run_all(self, fn: Callable[..., Any], items: Sequence[tuple], *, name: str = "task") -> list:
        """``[fn(*item) for item in items]`` on the executor's workers; the first failure raises.

        Parameters
        ----------
        fn : callable
            A picklable task.
        items : sequence of tuple
            Arguments of each call.
        name : str
            Prefix of the tasks' names (``<name>-<i>``).

        Returns
        -------
        list
            The results, in the order of ``items``.

        Raises
        ------
        ScorelensError
            The first a task raised (a :class:`TaskFailure` when its worker died).
        """
        out: list = [None] * len(items)
        for position, result in self.map(fn, items, names=[f"{name}-{i}" for i in range(len(items))]):
            if isinstance(result, BaseException):
                raise result
            out[position] = result
        return out

    def joblib_backend(self):
        """A context in which joblib's parallel loops run on this executor's workers.

        Returns
        -------
        context manager
            A no-op context here; Dask's joblib backend for :class:`DaskExecutor`.
        """
        import contextlib

        return contextlib.nullcontext()

    def close(self) -> None:
        """Release the executor's resources (a local cluster's worker processes)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs tasks one after another in this process."""

    def map(self, fn, items, *, names):
        """Run the tasks in order in this process; yields ``(position, result or ScorelensError)``."""
        for position, item in enumerate(items):
            try:
                result = fn(*item)
            except ScorelensError as exc:
                result = exc
            yield position, result

    def __repr__(self) -> str:
        return "LocalExecutor()"


class DaskExecutor(Executor):
    """Runs tasks on a Dask distributed cluster.

    Parameters
    ----------
    workers : int, optional
        Start a local cluster of this many worker processes (one thread each) for the run.
    scheduler : str, optional
        Address of an existing scheduler (``tcp://host:port``); its workers must see the
        workspace, the media and the fingerprint database at the same paths (a shared file
        system; PostgreSQL for the database across machines).
    retries : int
        How often Dask runs a task again when its worker dies mid-task.
    """

    distributed = True

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None, retries: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # declared dependency; a broken install still gets one clear line
            raise ParameterError(f"--workers/--scheduler need Dask distributed ({exc})") from exc
        if (workers is None) == (scheduler is None):
            raise ParameterError("give either workers (a local cluster) or a scheduler address")
        _quiet_dask_logs()
        self.retries = retries
        self._cluster = None
        if scheduler is not None:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ParameterError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from exc
            self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        else:
            if not isinstance(workers, int) or workers < 1:
                raise ParameterError(f"workers={workers!r} must be a positive integer")
            # One thread per worker process: the numerical libraries inside a task use their
            # own threads, and several tasks per process would fight over the GIL. Workers die
            # when they lose the scheduler for death_timeout (the driver was killed), so no
            # worker outlives its run.
            # dashboard_address=None still binds the scheduler's HTTP server to :8787 and warns
            # "Port 8787 is already in use" when another cluster holds it; ":0" takes a free port.
            # silence_logs: the workers' own loggers print only CRITICAL. A task's error reaches
            # the driver with its future and is reported there in one line; what they logged
            # besides was shutdown noise (a heartbeat meeting the closed scheduler, with its
            # traceback, when a run is stopped).
            debugging = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         silence_logs=logging.WARNING if debugging else logging.CRITICAL,
                                         dashboard_address=":0", death_timeout="20s",
                                         env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                                              "OPENBLAS_NUM_THREADS": "1"})
            self.client = Client(self._cluster)
            self.workers = workers
            self.local_cluster = True


    def map(self, fn, items, *, names):
        """Submit every task to the cluster; yields ``(position, result or ScorelensError)`` as each finishes."""
        from distributed import as_completed

        futures = {}
        for position, (item, name) in enumerate(zip(items, names)):
            future = self.client.submit(fn, *item, key=f"{name}-{os.urandom(4).hex()}", pure=False,
                                        retries=self.retries)
            futures[future] = (position, name)
        try:
            for future in as_completed(list(futures)):
                position, name = futures.pop(future)
                try:
                    result = future.result()
                except BaseException as exc:  # noqa: BLE001 - sorted by _as_failure
                    result = _as_failure(exc, name)
                yield position, result
        finally:
            # A caller that stops early (fail fast) leaves no task running on the cluster.
            if futures:
                self.client.cancel(list(futures))

    def joblib_backend(self):
        """Returns joblib's ``parallel_config`` context for the Dask backend."""
        import joblib

        # Simple MI and IMV folds (joblib loops) go to the cluster too.
        return joblib.parallel_config(backend="dask")

    def close(self) -> None:
        """Close the client and any local cluster this executor started; returns None."""
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def __repr__(self) -> str:
        return f"DaskExecutor(workers={self.workers})"


def _quiet_dask_logs() -> None:
    """Dask's start/stop chatter only when debugging (-vv): its loggers set their own levels on import."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.ERROR)


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor a run asked for: local without ``workers``/``scheduler``, else Dask.

    Parameters
    ----------
    workers : int, optional
        Worker processes of a local Dask cluster.
    scheduler : str, optional
        Address of an existing Dask scheduler.

    Returns
    -------
    Executor
        A :class:`LocalExecutor` when neither is given, else a :class:`DaskExecutor`.

    Raises
    ------
    ParameterError
        Both given, ``workers`` not a positive integer, an unreachable scheduler, or Dask
        distributed not installed.
    """
    if workers is None and scheduler is None:
        return LocalExecutor()
    if workers is not None and scheduler is not None:
        raise ParameterError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    return DaskExecutor(workers=workers, scheduler=scheduler)
