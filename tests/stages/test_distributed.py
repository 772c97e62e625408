"""The same run on a real Dask LocalCluster of 2 worker processes, with a real PostgreSQL server."""

import os

import cloudpickle
import pandas as pd
import pytest

import scorelens
from scorelens.stages._executor import DaskExecutor
from scorelens.workspace import Workspace

pytestmark = pytest.mark.postgres


def _square_dying_once(marker: str, i: int) -> int:
    # The first task to get here kills its worker process mid-task; Dask runs it again elsewhere.
    if i == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return i * i


def _tables(root):
    ws = Workspace(root)
    layout = ws.layout
    out = {f"cues/{f}": pd.read_parquet(p) for f, p in layout.cue_tables().items()}
    for level in ("cue", "frame"):
        for kind in ("mir", "musicnn", "visual"):
            if layout.features(kind, level).is_file():
                out[f"{kind}/{level}"] = pd.read_parquet(layout.features(kind, level))
    out["table4"] = pd.read_csv(layout.table4("cue", "csv"))
    out["predictions"] = pd.read_parquet(layout.predictions())
    out["weights"] = pd.read_parquet(layout.instance_weights())
    out["importance"] = pd.read_parquet(layout.importance_dir("mir", "network:average", 8) / "pfi_runs.parquet")
    return out


def test_dask_run_equals_the_single_process_run(small_corpus, tmp_path, default_kinds_settings, fresh_postgres):
    fast_settings = default_kinds_settings  # the product's kinds: mir and musicnn
    local = scorelens.run(small_corpus, workspace=tmp_path / "local", overrides=fast_settings)
    dist = scorelens.run(small_corpus, workspace=tmp_path / "dask", workers=2,
                         overrides={**fast_settings, "run.db": fresh_postgres})
    assert local.exit_code == 0 and dist.exit_code == 0
    assert dist.executor == "DaskExecutor(workers=2)"
    a, b = _tables(tmp_path / "local"), _tables(tmp_path / "dask")
    assert a.keys() == b.keys() and len(a) >= 4 + 7
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_a_task_whose_worker_dies_is_retried(tmp_path):
    import sys

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "died"
    with DaskExecutor(workers=2) as ex:
        pids = set(ex.client.run(os.getpid).values())
        results = ex.run_all(_square_dying_once, [(str(marker), i) for i in range(5)])
    assert results == [0, 1, 4, 9, 16] and marker.exists()
    # No worker outlives the executor.
    import time

    deadline = time.time() + 15
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_a_run_on_an_external_cluster_started_as_processes(small_corpus, tmp_path, fast_settings, fresh_postgres):
    """`--scheduler tcp://…`: a real `dask scheduler` and `dask worker` started here; all gone afterwards."""
    import json
    import signal
    import subprocess
    import sys
    import time

    info = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not info.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        local = scorelens.run(small_corpus, workspace=tmp_path / "local", overrides=fast_settings)
        cluster = scorelens.run(small_corpus, workspace=tmp_path / "cluster", scheduler=address,
                                overrides={**fast_settings, "run.db": fresh_postgres})
        assert local.exit_code == 0 and cluster.exit_code == 0
        assert cluster.executor.startswith("DaskExecutor(workers=2")
        a, b = _tables(tmp_path / "local"), _tables(tmp_path / "cluster")
        for name in a:
            pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    finally:
        kids = {k for p in procs for k in _descendants(p.pid)}
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert kids, "the dask worker started no worker processes"
    deadline = time.monotonic() + 15
    while any(os.path.exists(f"/proc/{k}") for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{k}") for k in kids)


def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc: each process's parent)."""
    from pathlib import Path

    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2:].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_a_workers_run_ends_without_warnings(small_corpus, tmp_path):
    """A `--workers` run ends as quietly as one process: no leaked semaphores, no port warnings."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "scorelens", "-q", "run", str(small_corpus), "-w", str(tmp_path / "ws"),
                          "--workers", "2", "--stage", "index", "--stage", "stamp"], capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "leaked" not in out.stderr and "warning" not in out.stderr.lower(), out.stderr[-2000:]
