"""Whole-index stamping against a library of N hours of indexed music (issue 12, part 2).

``stamp --whole-index`` matches a film against every track of the database, through the
library index (:mod:`scorelens.stamp._library`): a memory-mapped candidate index built once
per database, then the candidates matched in full. Targets against ~3,000 hours of music
(1,000 soundtracks): stamp >= 200x real time, second-level precision >= 0.98, the loaded
index within 4 GB, no full read of the database per film.

How the library is filled (fingerprinting 3,000 hours would take hours here):

1. A film (dialogue + effects + cues at 0 to -15 dB, plus music on no soundtrack) and its
   soundtrack are made once by ``benchmarks/bench_stamp.py``'s ``build`` (cached under
   ``benchmarks/out/stamp``); the soundtrack is really fingerprinted into each library, so the
   film's true tracks are among it.
2. The rest of the N hours are *re-keyed copies* of those real fingerprints, stored as new
   tracks with ``FingerprintStore.add_track``; each keeps a real track's hash count, hashes
   per second and time structure, and cannot align with the real track:

   * ``--rekey full``: every hash of copy k XOR-ed with a random non-zero 23-bit mask. This
     spreads real music's popular hash values over the whole table, so postings per value
     grow more evenly than in a real corpus (optimistic for the matching).
   * ``--rekey local`` (adversarial): the mask only touches the low bits of each field (f1's
     low 4, Δf's low 3, Δt's low 2), so every copy is a near-copy of one of the *film's own*
     tracks: its hash values crowd exactly the values the film looks up, and at the film's
     true offsets near-duplicate landmarks of a copy align too (as an alternate take might).
     511 masks, each shared by many copies.
   * ``--rekey crowd`` (the realistic crowd): the copies are of *real recorded music*
     (``--crowd DIR``, default Debian's ``wesnoth-1.16-music``, fingerprinted into the library
     as well), hash values unchanged and anchor times shuffled in 2-second blocks. The library
     then has real music's skew of popular values, grown 3,000 hours' worth, while no copy
     can align with the film over more than a block of music the film does not contain.

For each N, in child processes pinned to one core (the machine may be shared: indicative):

* DB: wall time to fill the SQLite library (cached in ``benchmarks/out/library``), MB per hour;
* library index: build wall time and peak RSS (VmHWM), size on disk;
* stamp: ``stamp_film(..., track_ids=None, library_dir=...)`` of the film twice in one
  process (the first maps the index, the second reuses the mapping: a corpus stamped by
  one worker), x real time with decoding, peak RSS (it counts the index pages the search
  touched), candidate tracks, second-level precision and recall against the truth.

``--postgres`` repeats one size on a private PostgreSQL server (``initdb``/``pg_ctl`` from
the PATH or /usr/lib/postgresql) with ``--procs`` stamping processes at once, each pinned to
its own core, sharing the server and one library index folder.

Usage::

    python benchmarks/bench_stamp_library.py --hours 10 100 3000 --rekey full
    python benchmarks/bench_stamp_library.py --hours 100 --postgres --procs 2
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_stamp import OUT, PEAK_RSS, _child, build  # noqa: E402  (sibling benchmark script)

TARGET_X, TARGET_PRECISION, TARGET_GB, CORPUS_HOURS = 200.0, 0.98, 4.0, 3000.0
LIBRARY_OUT = OUT.parent / "library"

INDEX_CODE = PEAK_RSS + """
import json, time
from pathlib import Path
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._library import open_library_index
cfg = StamperConfig()
t = time.perf_counter()
with open_store({db!r}, cfg, create=False) as store:
    lib = open_library_index(store, {folder!r}, cfg)
wall = time.perf_counter() - t
size = sum(p.stat().st_size for p in Path(lib.path).iterdir())
print(json.dumps({{"index_s": wall, "index_mb": size / 1e6, "postings": len(lib), "tracks": int(lib.track_ids.size),
                  "sampled": lib.meta["sampled_postings"], "index_rss_mb": peak_rss_mb()}}))
"""

STAMP_CODE = PEAK_RSS + """
import json, time
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._pipeline import stamp_film
cfg = StamperConfig()
runs = []
with open_store({db!r}, cfg, create=False) as store:
    for k in range(2):
        t, c = time.perf_counter(), time.process_time()
        result = stamp_film({film!r}, store, cfg, film_id="film", track_ids=None, library_dir={folder!r})
        runs.append(time.perf_counter() - t)
    cpu = time.process_time() - c  # the second film (index mapped)
result.cues.to_csv({cues!r}, index=False)
print(json.dumps({{"first_s": runs[0], "wall_s": runs[1], "cpu_s": cpu, "film_s": result.duration_s,
                  "cues": len(result.cues), "candidates": result.candidates, "maxrss_mb": peak_rss_mb()}}))
"""


def _mask(rng: np.random.Generator, rekey: str) -> np.uint32:
    """A non-zero re-keying mask (see the module's description)."""
    from scorelens.stamp._hashes import DF_BITS, DT_BITS, HASH_BITS

    while True:
        if rekey == "full":
            mask = int(rng.integers(1, 1 << HASH_BITS))
        else:  # low bits of each field only: f1's 4, df's 3, dt's 2
            mask = (int(rng.integers(0, 16)) << (DF_BITS + DT_BITS)) | (int(rng.integers(0, 8)) << DT_BITS) | int(
                rng.integers(0, 4))
        if mask:
            return np.uint32(mask)


_CROWD = "/usr/share/games/wesnoth/1.16/data/core/music"
_BLOCK_FRAMES = 86  # 2 s at 11025 Hz / 256


def _shuffled(frames: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """New anchor frames with 2-second blocks in a random order, and the order that sorts them."""
    block = frames // _BLOCK_FRAMES
    perm = rng.permutation(int(block.max()) + 1)
    moved = perm[block] * _BLOCK_FRAMES + frames % _BLOCK_FRAMES
    order = np.argsort(moved, kind="stable")
    return moved[order].astype(np.int32), order


def fill_library(db: str, soundtrack: Path, hours: float, seed: int, rekey: str) -> dict:
    """Index the real soundtrack into ``db``, then add re-keyed copies up to ``hours`` of music.

    Returns
    -------
    dict
        ``build_s`` (wall), ``music_h``, ``tracks``, ``real_tracks``, ``db_mb``.
    """
    from scorelens.config import StamperConfig
    from scorelens.stamp._pipeline import index_tracks
    from scorelens.stamp._store import open_store

    cfg = StamperConfig()
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    with open_store(db, cfg) as store:
        index_tracks(sorted(soundtrack.iterdir()), store, cfg)
        if rekey == "crowd":
            crowd = sorted(Path(_CROWD).glob("*.ogg"))
            if not crowd:
                raise SystemExit(f"{_CROWD}: no real music to crowd the library with "
                                 "(apt-get install wesnoth-1.16-music)")
            index_tracks(crowd, store, cfg, keep_going=True)  # silence.ogg is refused, as it should be
            real = store.tracks()
            source = real[real["path"].str.startswith(_CROWD)].reset_index(drop=True)
        else:
            real = store.tracks()
            source = real
        prints = store.fingerprints(source["id"])
        music_s = float(real["duration_s"].sum())
        k = 0
        while music_s < hours * 3600:
            j = k % len(source)
            hashes, frames = prints[j]
            if rekey == "crowd":
                frames, order = _shuffled(frames, rng)
                hashes = hashes[order]
            else:
                hashes = hashes ^ _mask(rng, rekey)
            duration = float(source["duration_s"].iloc[j])
            store.add_track(title=f"copy{k:06d}_{source['title'].iloc[j]}", path=f"/rekeyed/copy{k:06d}",
                            content_digest=f"rekeyed-{rekey}-{seed}-{k:08d}", file_digest=f"rekeyed-{seed}-{k:08d}",
                            duration_s=duration, hashes=hashes, frames=frames)
            music_s += duration
            k += 1
        size = store.size_bytes()
        n_tracks = len(real) + k
    return {"build_s": time.perf_counter() - t, "music_h": music_s / 3600, "tracks": n_tracks,
            "real_tracks": len(real), "db_mb": size / 1e6}


def sqlite_library(root: Path, hours: float, seed: int, rekey: str) -> tuple[str, dict]:
    """The SQLite library of ``hours`` (filled once, then reused from ``benchmarks/out/library``)."""
    LIBRARY_OUT.mkdir(parents=True, exist_ok=True)
    db = LIBRARY_OUT / f"{root.name}_{rekey}_{hours:g}h.sqlite"
    facts = db.with_suffix(".json")
    if not facts.exists():
        for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            stale.unlink(missing_ok=True)
        facts.write_text(json.dumps(fill_library(str(db), root / "soundtrack", hours, seed, rekey)))
    return str(db), json.loads(facts.read_text())


def stamp_row(db: str, folder: Path, film: Path, truth, tmp: Path, lib: dict) -> dict:
    """Build (or open) the library index, stamp the film, score it."""
    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.stamp._evaluate import evaluate_cues

    index = _child(INDEX_CODE.format(db=db, folder=str(folder)))
    cues_csv = tmp / "cues.csv"
    st = _child(STAMP_CODE.format(db=db, film=str(film), cues=str(cues_csv), folder=str(folder)))
    scores = evaluate_cues(truth, read_cue_table(cues_csv)).iloc[0]
    return {"hours": lib["music_h"], "tracks": lib["tracks"], "db_fill_s": lib["build_s"], "db_mb": lib["db_mb"],
            "db_mb_per_hour": lib["db_mb"] / lib["music_h"], **index,
            "stamp_x_first": st["film_s"] / st["first_s"], "stamp_x": st["film_s"] / st["wall_s"],
            "stamp_x_cpu": st["film_s"] / st["cpu_s"],
            "stamp_rss_mb": st["maxrss_mb"], "candidates": st["candidates"],
            "precision": float(scores["second_precision"]), "recall": float(scores["second_recall"]),
            "film_min": st["film_s"] / 60}


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise SystemExit(f"{name}: PostgreSQL server binaries not found (scripts/setup.sh installs them)")


def postgres_run(root: Path, film: Path, truth, hours: float, seed: int, rekey: str, procs: int) -> dict:
    """Fill a private PostgreSQL server with the library and stamp with ``procs`` processes at once."""
    import socket

    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.stamp._evaluate import evaluate_cues

    base = Path(tempfile.mkdtemp(prefix="scorelens-pg-bench-"))
    prefix = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = base / "data"
    subprocess.run(prefix + [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                             f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"], check=True,
                   stdout=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        lib = fill_library(url, root / "soundtrack", hours, seed, rekey)
        with tempfile.TemporaryDirectory(prefix="scorelens-lib-") as tmp:
            folder = Path(tmp) / "library"
            index = _child(INDEX_CODE.format(db=url, folder=str(folder)))
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
            t = time.perf_counter()
            children = []
            for k in range(procs):
                code = STAMP_CODE.format(db=url, film=str(film), cues=str(Path(tmp) / f"cues{k}.csv"),
                                         folder=str(folder))
                core = str(k % (os.cpu_count() or 1))
                children.append(subprocess.Popen(["taskset", "-c", core, sys.executable, "-c", code], env=env,
                                                 stdout=subprocess.PIPE, text=True))
            outs = [json.loads(c.communicate()[0].strip().splitlines()[-1]) for c in children]
            wall = time.perf_counter() - t
            scores = [evaluate_cues(truth, read_cue_table(Path(tmp) / f"cues{k}.csv")).iloc[0] for k in range(procs)]
    finally:
        subprocess.run(prefix + [_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)
    film_s = outs[0]["film_s"]
    return {"hours": lib["music_h"], "tracks": lib["tracks"], "db_fill_s": lib["build_s"],
            "db_mb_per_hour": lib["db_mb"] / lib["music_h"], **index, "procs": procs,
            "stamp_x_each": [film_s / o["wall_s"] for o in outs],
            "film_s_per_wall_s": 2 * procs * film_s / wall,
            "stamp_rss_mb": [o["maxrss_mb"] for o in outs], "candidates": outs[0]["candidates"],
            "precision": [float(x["second_precision"]) for x in scores],
            "recall": [float(x["second_recall"]) for x in scores]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[10.0, 100.0])
    parser.add_argument("--rekey", choices=("full", "local", "crowd"), default="full")
    parser.add_argument("--film-minutes", type=float, default=30.0)
    parser.add_argument("--tracks", type=int, default=10, help="real soundtrack tracks (the film's)")
    parser.add_argument("--track-minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", action="store_true", help="run the sizes on PostgreSQL, --procs at once")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    root = OUT / f"v2_film{args.film_minutes:g}min_{args.tracks}x{args.track_minutes:g}min_seed{args.seed}"
    t = time.perf_counter()
    build(root, film_minutes=args.film_minutes, n_tracks=args.tracks, track_minutes=args.track_minutes,
          seed=args.seed)
    print(f"film and soundtrack in {root} (built/reused in {time.perf_counter() - t:.0f} s)", flush=True)

    from scorelens.stamp._cuetable import read_cue_table

    truth = read_cue_table(root / "truth.csv", annotation=True)
    rows = []
    for hours in args.hours:
        if args.postgres:
            row = postgres_run(root, root / "film.mp4", truth, hours, args.seed, args.rekey, args.procs)
        else:
            db, lib = sqlite_library(root, hours, args.seed, args.rekey)
            with tempfile.TemporaryDirectory(prefix="scorelens-lib-") as tmp:
                row = stamp_row(db, Path(tmp) / "library", root / "film.mp4", truth, Path(tmp), lib)
        rows.append(row)
        print(f"{row['hours']:.0f} h done: " + json.dumps(row), flush=True)

    print(f"\nwhole-index stamping through the library index, re-keying {args.rekey!r} "
          "(one core each; the machine may be shared: indicative figures)")
    if args.postgres:
        for r in rows:
            each = ", ".join(f"{x:.0f}" for x in r["stamp_x_each"])
            print(f"{r['hours']:.0f} h on PostgreSQL, {r['procs']} stamping processes: index build "
                  f"{r['index_s']:.1f} s, {r['index_mb']:.0f} MB; each stamps at {each}x real time; "
                  f"{r['film_s_per_wall_s']:.0f} s of film per s of wall together; peak RSS "
                  f"{', '.join(f'{x:.0f}' for x in r['stamp_rss_mb'])} MB; {r['candidates']} candidates; precision "
                  f"{', '.join(f'{x:.3f}' for x in r['precision'])}, "
                  f"recall {', '.join(f'{x:.3f}' for x in r['recall'])}")
    else:
        print(f"{'hours':>6} {'tracks':>7} {'DB fill s':>9} {'DB MB/h':>7} {'index s':>8} {'index MB':>8} "
              f"{'build RSS':>9} {'x first':>8} {'x':>6} {'x CPU':>6} {'stamp RSS':>9} {'cands':>6} {'prec':>6} "
              f"{'recall':>6}")
        for r in rows:
            print(f"{r['hours']:6.0f} {r['tracks']:7d} {r['db_fill_s']:9.0f} {r['db_mb_per_hour']:7.2f} "
                  f"{r['index_s']:8.1f} {r['index_mb']:8.0f} {r['index_rss_mb']:9.0f} {r['stamp_x_first']:8.0f} "
                  f"{r['stamp_x']:6.0f} {r['stamp_x_cpu']:6.0f} {r['stamp_rss_mb']:9.0f} {r['candidates']:6d} "
                  f"{r['precision']:6.3f} {r['recall']:6.3f}")
        big = rows[-1]
        print(f"targets at {CORPUS_HOURS:.0f} h: stamp >= {TARGET_X:.0f}x (largest here {big['stamp_x']:.0f}x wall, "
              f"{big['stamp_x_cpu']:.0f}x CPU), "
              f"precision >= {TARGET_PRECISION} ({big['precision']:.3f}), loaded index <= {TARGET_GB:.0f} GB "
              f"(index files {big['index_mb'] / 1e3:.2f} GB, stamping peak RSS {big['stamp_rss_mb'] / 1e3:.2f} GB)")
    if args.json:
        args.json.write_text(json.dumps({"rekey": args.rekey, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
