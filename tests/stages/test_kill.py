"""`scorelens run` killed with SIGKILL mid-run, then started again: it completes with the outputs of an
uninterrupted run; a killed run leaves no process behind; a second run on a busy workspace is refused.

Real processes (``python -m scorelens run``), real signals. The oracle is an uninterrupted run of the
same command on the same corpus in another workspace: every table is compared as a DataFrame,
exactly; the report only differs by its 'Generated:' line.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def command(manifest, ws, settings) -> list[str]:
    sets = [f"--set={k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in settings.items()]
    return [sys.executable, "-m", "scorelens", "-q", "run", str(manifest), "-w", str(ws), *sets]


def start(manifest, ws, settings) -> subprocess.Popen:
    return subprocess.Popen(command(manifest, ws, settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc: each process's parent)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # 'pid (comm) state ppid ...'; comm may hold spaces or parentheses, so split after the last ')'.
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2:].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def kill_when(proc: subprocess.Popen, ready) -> set[int]:
    """SIGKILL ``proc`` as soon as ``ready()``; return the descendants it had then."""
    deadline = time.monotonic() + 240
    while not ready():
        assert proc.poll() is None, f"the run ended before the kill point: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kids = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return kids


def assert_no_survivors(kids: set[int]) -> None:
    deadline = time.monotonic() + 10
    while any(alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = {k: Path(f"/proc/{k}/cmdline").read_bytes()[:200] for k in kids if alive(k)}
    assert not survivors, f"processes of the killed run still alive after 10 s: {survivors}"


def outputs(ws: Path) -> dict[str, Path]:
    """The run's outputs (relative path -> path), without records, locks and settings snapshots."""
    skip = (".done.json", ".lock", "run.json")
    return {p.relative_to(ws).as_posix(): p for p in sorted(ws.rglob("*"))
            if p.is_file() and not p.name.endswith(skip) and not p.name.startswith(".")
            and "settings" not in p.relative_to(ws).parts and p.name != "fingerprints.sqlite"}


def report_lines(path: Path, ws: Path) -> list[str]:
    text = path.read_text().replace(str(ws), "WS")
    # Write times: ISO in the provenance table, "YYYY-MM-DD HH:MM:SS" in the interactive page's heading.
    return [re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d", "TIME", ln) for ln in text.splitlines()
            if "Generated:" not in ln]


def without_seconds(data):
    """A JSON document without its 'seconds' (how long each model took to fit: the one volatile field)."""
    if isinstance(data, dict):
        return {k: without_seconds(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [without_seconds(v) for v in data]
    return data


def assert_same_outputs(ws: Path, reference: Path) -> None:
    mine, theirs = outputs(ws), outputs(reference)
    assert sorted(mine) == sorted(theirs)
    for name, path in theirs.items():
        other = mine[name]
        if path.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(other), pd.read_parquet(path), check_exact=True, obj=name)
        elif path.suffix == ".csv":
            pd.testing.assert_frame_equal(pd.read_csv(other), pd.read_csv(path), check_exact=True, obj=name)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as a, np.load(other, allow_pickle=False) as b:
                assert sorted(a.files) == sorted(b.files), name
                for key in set(a.files) - {"seconds"}:  # the fit's duration, the one volatile field
                    np.testing.assert_array_equal(b[key], a[key], err_msg=f"{name}: {key}")
        elif path.suffix in (".md", ".html"):
            # Beside the 'Generated:' line, the report's provenance table gives each output's write time.
            assert report_lines(other, ws) == report_lines(path, reference), name
        elif path.suffix == ".json":
            assert without_seconds(json.loads(other.read_text())) == without_seconds(json.loads(path.read_text())), \
                name
        elif path.suffix == ".png":
            continue  # drawn from the CSVs beside them (compared above); PNG encoders add nothing we test
        else:
            assert other.read_bytes() == path.read_bytes(), name


def test_killed_run_resumes_to_the_same_outputs(small_corpus, tmp_path, default_kinds_settings):
    fast_settings = default_kinds_settings  # the product's kinds: mir and musicnn
    ref = tmp_path / "reference" / "ws"  # the same folder name as the resumed run's: the report names it
    first = start(small_corpus, ref, fast_settings)
    # While it runs (it holds the lock once the lock file names it), a second run is refused.
    lock = ref / ".scorelens.lock"
    while not (lock.exists() and f"pid {first.pid}" in lock.read_text()):
        assert first.poll() is None, first.communicate()[1][-2000:]
        time.sleep(0.05)
    second = subprocess.run(command(small_corpus, ref, fast_settings), capture_output=True, text=True, timeout=120,
                            check=False)
    assert second.returncode == 1 and "workspace is in use" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert json.loads((ref / "results" / "run.json").read_text())["exit_code"] == 0

    ws = tmp_path / "resumed" / "ws"
    # 1. Killed in the middle of the stamp stage (a film's cue table just committed) ...
    kids = kill_when(start(small_corpus, ws, fast_settings), lambda: (ws / "cues" / "film02.parquet").exists())
    assert_no_survivors(kids)
    # 2. ... then again, started over, in the middle of Table 4 (one model's folds saved, others not) ...
    runs = ws / "results" / "evaluation" / "cue" / "runs"
    kids = kill_when(start(small_corpus, ws, fast_settings), lambda: runs.is_dir() and any(runs.glob("*.npz")))
    assert_no_survivors(kids)
    # 3. ... and the same command once more completes, with the outputs of the uninterrupted run.
    final = subprocess.run(command(small_corpus, ws, fast_settings), capture_output=True, text=True, timeout=300,
                            check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    record = json.loads((ws / "results" / "run.json").read_text())
    assert record["exit_code"] == 0 and record["failures"] == []
    assert_same_outputs(ws, ref)


def test_killed_dask_run_leaves_no_worker_behind(small_corpus, tmp_path, fast_settings):
    ws = tmp_path / "ws"
    proc = subprocess.Popen([*command(small_corpus, ws, fast_settings), "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    # Killed once the cluster works: the first cue table a worker stamped is committed.
    kids = kill_when(proc, lambda: (ws / "cues").is_dir() and any((ws / "cues").glob("*.parquet")))
    assert len(kids) >= 2  # the workers (and their nannies) were children of the run
    assert_no_survivors(kids)


def test_sigterm_closes_the_cluster_and_records_the_interruption(small_corpus, tmp_path, fast_settings):
    """SIGTERM half-way through a `--workers 2` run: exit 143, the record says so, no worker and no leaked
    semaphore left; the same command then resumes to the end."""
    ws = tmp_path / "ws"
    proc = subprocess.Popen([*command(small_corpus, ws, fast_settings), "--workers", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not ((ws / "cues").is_dir() and any((ws / "cues").glob("*.parquet"))):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kids = children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "leaked" not in err and "Traceback" not in err, err[-2000:]
    assert_no_survivors(kids)
    assert json.loads((ws / "results" / "run.json").read_text())["fatal"].startswith("interrupted")
    again = subprocess.run(command(small_corpus, ws, fast_settings), capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stderr[-2000:]
