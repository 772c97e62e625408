"""Worker processes that do not outlive the run that started them.

The folds of the non-network models run in joblib's loky worker processes, which are
kept for reuse and wait for work until idle for minutes. When their parent run is
killed (SIGKILL, or SIGTERM, whose default action ends Python without any cleanup),
nobody tells them: they used to stay alive, holding about 1 GB, finishing folds whose
results nobody reads. Here each worker watches its parent instead, and ends itself
once the parent is gone (it is then re-parented, so ``os.getppid()`` changes).

A thread polling ``getppid`` rather than Linux's ``PR_SET_PDEATHSIG``: the kernel sends
that signal when the *thread* that forked the worker ends, and loky may fork from a
helper thread that ends while the executor (and its workers) live on; polling is also
portable. It costs one wake-up per :data:`POLL_S` seconds in each worker.
"""

from __future__ import annotations

import os
import threading
import time

from joblib import Parallel
from joblib._parallel_backends import LokyBackend
from joblib.parallel import get_active_backend

__all__ = ["POLL_S", "worker_parallel"]

#: Seconds between a worker's checks that its parent is alive: the longest a worker
#: outlives a killed run (plus the time until Python code runs again in the worker).
POLL_S = 0.25


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this process soon after ``parent_pid`` stops being its parent."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_S)
        # No cleanup: no one is left to read a result, and exiting normally would wait
        # for the fold running in the main thread.
        os._exit(1)

    threading.Thread(target=watch, name="scorelens-parent-watch", daemon=True).start()


def worker_parallel(n_jobs: int, *, prefer: str = "processes", **parallel_kwargs) -> Parallel:
    """A :class:`joblib.Parallel` whose worker processes end when this process ends.

    When the active joblib backend is the default process backend (loky), its workers
    get :func:`_exit_with_parent` as initializer; any other backend (threads, or one
    chosen by the caller with :func:`joblib.parallel_config`, e.g. Dask) is used as is.
    The workers and the results are otherwise those of ``Parallel(n_jobs, prefer=prefer)``:
    the loky executor is still reused from call to call (the initializer and its
    argument, this process's id, are the same each time).

    Parameters
    ----------
    n_jobs : int
        Workers; 1 runs the tasks in this process.
    prefer : {"processes", "threads"}
        joblib's kind of worker.
    **parallel_kwargs
        Passed to :class:`joblib.Parallel` (e.g. ``max_nbytes``, ``return_as``).

    Returns
    -------
    joblib.Parallel
    """
    backend, _ = get_active_backend(prefer=prefer)
    if n_jobs != 1 and type(backend) is LokyBackend and "initializer" not in backend.backend_kwargs:
        backend = LokyBackend(nesting_level=backend.nesting_level, inner_max_num_threads=backend.inner_max_num_threads,
                              initializer=_exit_with_parent, initargs=(os.getpid(),), **backend.backend_kwargs)
        return Parallel(n_jobs=n_jobs, backend=backend, **parallel_kwargs)
    return Parallel(n_jobs=n_jobs, prefer=prefer, **parallel_kwargs)
