"""Benchmark: the whole study, timed. ``scorelens run`` with the study's settings on a synthetic
corpus of the study's shape, seconds per stage and in total, in one process and with ``--workers``.

Corpus: ``--films`` (110) synthetic films with the study's genre counts (Table 1: Action 55,
Comedy 37, Drama 44, Horror 11, Romance 13, Science Fiction 36, scaled to ``--films``), each
``--film-seconds`` (120) long with ``--tracks`` (3) soundtrack tracks of ``--track-seconds`` (40)
and several cues of real length (``scorelens.demo._films.make_corpus``); made once in
``--corpus-dir`` and reused.

Settings: the study's (``StudyConfig()``: MIR and musicnn, leave-one-out, six poolings at 64
and 128 hidden units, 200 epochs, Simple MI and IMV with kNN, SVM and the per-genre random
forest, the baselines, 100 permutation runs), unless ``--quick`` (3 epochs, one hidden size,
3 permutation runs: a check of the script and of the per-film stages' time, not of Table 4's).

Each configuration runs on a fresh workspace as ``python -m scorelens run`` in its own process
(interpreter start and imports included, what a user waits), pinned to the first ``--cores``
cores; the stage seconds come from ``results/run.json``.

Usage::

    python benchmarks/bench_study.py --corpus-dir /tmp/bench-corpora                 # the study, 2 cores
    python benchmarks/bench_study.py --corpus-dir /tmp/bench-corpora --workers 2      # and with --workers 2
    python benchmarks/bench_study.py --corpus-dir /tmp/bench-corpora --films 12 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_table4 import STUDY_COUNTS, study_labels  # noqa: E402

QUICK = {"model.epochs": 3, "model.hidden_sizes": [64], "importance.runs": 3}


def genre_sets(n_films: int, seed: int) -> list[list[str]]:
    """Each film's genres, with the study's counts scaled to ``n_films`` (every film at least one)."""
    Y = study_labels(np.random.default_rng(seed), n_films)
    names = list(STUDY_COUNTS)
    return [[names[j] for j in np.flatnonzero(row)] for row in Y]


def make_corpus_once(args) -> Path:
    folder = Path(args.corpus_dir) / f"study-{args.films}x{args.film_seconds:g}s-seed{args.seed}"
    manifest = folder / "corpus.toml"
    if manifest.is_file():
        return manifest
    from scorelens.demo._films import make_corpus

    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    make_corpus(folder, n_films=args.films, film_duration_s=args.film_seconds, tracks_per_film=args.tracks,
                track_duration_s=args.track_seconds, seed=args.seed, containers=("mp4", "mkv"),
                taxonomy=tuple(STUDY_COUNTS), genre_sets=genre_sets(args.films, args.seed))
    print(f"corpus of {args.films} films made in {time.perf_counter() - t0:.0f} s: {manifest}", flush=True)
    return manifest


def run_once(manifest: Path, ws: Path, overrides: dict, cores: int, *extra: str) -> dict:
    sets = [f"--set={k}={json.dumps(v)}" for k, v in overrides.items()]
    cmd = [sys.executable, "-m", "scorelens", "-q", "run", str(manifest), "-w", str(ws), *sets, *extra]
    if shutil.which("taskset") and cores:
        cmd = ["taskset", "-c", f"0-{cores - 1}", *cmd]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"run failed ({out.returncode}): {out.stderr[-2000:]}")
    record = json.loads((ws / "results" / "run.json").read_text())
    return {"wall_s": wall, "stages": {s["stage"]: s["seconds"] for s in record["stages"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus-dir", default=str(Path(tempfile.gettempdir()) / "scorelens-bench-corpora"))
    ap.add_argument("--films", type=int, default=110)
    ap.add_argument("--film-seconds", type=float, default=120.0)
    ap.add_argument("--tracks", type=int, default=3)
    ap.add_argument("--track-seconds", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cores", type=int, default=2, help="pin the run to the first N cores (0: no pinning)")
    ap.add_argument("--workers", type=int, default=0, help="also run with --workers N")
    ap.add_argument("--quick", action="store_true", help="3 epochs, one hidden size, 3 permutation runs")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces")
    args = ap.parse_args()
    manifest = make_corpus_once(args)
    overrides = dict(QUICK) if args.quick else {}
    films_minutes = args.films * args.film_seconds / 60
    print(f"{args.films} films ({films_minutes:.0f} min of film), settings: "
          f"{'quick ' + json.dumps(QUICK) if args.quick else 'the study'}; cores: {args.cores or os.cpu_count()}")
    work = Path(tempfile.mkdtemp(prefix="bench-study-"))
    results = {"one process": run_once(manifest, work / "local", overrides, args.cores)}
    if args.workers:
        results[f"--workers {args.workers}"] = run_once(manifest, work / "dask", overrides, args.cores,
                                                         "--workers", str(args.workers))
    stages = list(next(iter(results.values()))["stages"])
    print(f"{'stage':<12}" + "".join(f"{name:>16}" for name in results))
    for stage in stages:
        print(f"{stage:<12}" + "".join(f"{r['stages'].get(stage, float('nan')):>15.1f}s" for r in results.values()))
    print(f"{'total (wall)':<12}" + "".join(f"{r['wall_s']:>15.1f}s" for r in results.values()))
    per_film = {name: r["wall_s"] / args.films for name, r in results.items()}
    print("per film: " + ", ".join(f"{name} {s:.1f} s" for name, s in per_film.items()))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
