"""Fold workers end with the run that started them, even when it is killed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from joblib import delayed, parallel_config
from joblib._parallel_backends import LokyBackend, ThreadingBackend

from scorelens.mil._processes import worker_parallel

# A run of many quick folds in two worker processes: it prints a line at its first
# finished fold, when the workers are up and still have folds to do.
_RUN = """
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from scorelens.analysis._evaluation import cross_val_estimator, make_folds
from scorelens.config import ModelConfig
from scorelens.mil import SimpleMI

rng = np.random.default_rng(0)
n = 300
Y = (rng.random((n, 3)) < 0.4).astype(np.int64)
bags = [rng.normal(size=(5, 8)).astype(np.float32) for _ in range(n)]
cross_val_estimator(SimpleMI(RandomForestClassifier(20, random_state=0)), bags, Y, make_folds(n, ModelConfig()),
                    n_jobs=2, advance=lambda k: print("fold", flush=True))
print("finished", flush=True)
"""


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process from /proc, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (command)", which may hold spaces
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(pid: int) -> dict[int, int]:
    """Process id -> start time of every descendant of ``pid``, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _, start) in parents.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def _alive(procs: dict[int, int]) -> list[int]:
    """Those still running (a zombie has ended; a recycled id has another start time)."""
    out = []
    for pid, start in procs.items():
        stat = _stat(pid)
        if stat is not None and stat[1] != "Z" and stat[2] == start:
            out.append(pid)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_end_when_the_run_is_killed(sig):
    run = subprocess.Popen([sys.executable, "-c", _RUN], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    workers = {}
    try:
        assert run.stdout.readline().strip() == "fold"
        workers = _descendants(run.pid)
        # The two loky workers (and the resource trackers loky and multiprocessing start).
        assert len(workers) >= 2, workers
        run.send_signal(sig)
        run.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(workers)
        assert not left, f"still running {time.monotonic() - deadline + 10:.1f} s after the run ended: {left}"
    finally:
        run.kill()
        for pid in _alive(workers):  # leave no process behind, even when the test fails
            os.kill(pid, signal.SIGKILL)


def test_other_backends_are_left_as_chosen():
    # Threads, one job, and a backend the caller chose are not replaced.
    assert isinstance(worker_parallel(2, prefer="threads")._backend, ThreadingBackend)
    with parallel_config(backend="threading"):
        assert isinstance(worker_parallel(2)._backend, ThreadingBackend)
    loky = worker_parallel(2)._backend
    assert isinstance(loky, LokyBackend) and loky.backend_kwargs["initargs"] == (os.getpid(),)


def test_each_worker_watches_its_parent():
    # What the workers of this (pytest) process run, from inside them: their parent and threads.
    seen = set(worker_parallel(2)(
        delayed(lambda: (os.getppid(), "scorelens-parent-watch" in {t.name for t in threading.enumerate()}))()
        for _ in range(8)))
    assert seen == {(os.getpid(), True)}
