"""Score Stamper benchmark: speed, database size, memory and accuracy by music level.

Builds (once, cached in ``benchmarks/out/stamp``) a realistic synthetic film of the asked
length -- 48 kHz 5.1 AAC 128 kbps in MP4 with an H.264 video stream -- with dialogue
(espeak-ng), effects and room tone throughout and soundtrack cues at known times and at
levels of 0, -5, -10 and -15 dB relative to everything else, plus music that is not on the
soundtrack. The soundtrack (MP3/FLAC/WAV at 44.1 kHz) is then indexed and the film
stamped, each in a child process pinned to one core, and the script prints:

* index speed (× real time, one core) and database size per hour of music;
* stamping speed including decoding (× real time, one core) and peak memory;
* second-level precision/recall overall and recall by music level, cue-level scores.

With ``--baseline-src DIR`` (another checkout's ``src``, e.g. ``git archive <commit> src | tar
-x -C DIR``) the same figures are measured for that stamper too, indexing into its own
database and stamping in alternating order, ``--repeat`` rounds each; speeds are medians of
the rounds, and the ratio of the two stampers' medians is printed (the machine may be shared:
compare stampers within one run).

Targets (issue "Foundation and Score Stamper"): index >= 200x, stamp >= 300x real time
(a 2-hour film in under 25 s), <= 5 MB per hour of music, precision >= 0.95 and recall
>= 0.85 for music no more than 10 dB under the rest.

Usage::

    python benchmarks/bench_stamp.py --film-minutes 120 --tracks 20
    python benchmarks/bench_stamp.py --film-minutes 10 --baseline-src /tmp/base/src --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "stamp"
LEVELS = (0.0, -5.0, -10.0, -15.0)


def build(root: Path, *, film_minutes: float, n_tracks: int, track_minutes: float, seed: int) -> None:
    """Write the soundtrack, the film and the truth table (skipped when already there)."""
    from scorelens.demo import _synth as synth
    from scorelens.demo._films import GENRE_STYLES, CueSpec, FilmSpec, render_film_audio
    from scorelens.demo._media import write_audio, write_film

    if (root / "truth.csv").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    styles = list(GENRE_STYLES.values())
    track_sr, film_sr = 44100, 48000
    tracks = {}
    for k in range(n_tracks):
        title = f"cue{k + 1:02d}_{styles[k % len(styles)]}"
        tracks[title] = synth.synth_track(styles[k % len(styles)], duration_s=track_minutes * 60, sr=track_sr,
                                          seed=seed * 1000 + k)
        fmt = ("mp3", "flac", "wav")[k % 3]
        write_audio(root / "soundtrack" / f"{title}.{fmt}", tracks[title], track_sr, bitrate=192_000)
    speech = synth.speech_pool(film_sr, n=24, seed=seed)
    segment_s = 60.0
    n_segments = int(round(film_minutes * 60 / segment_s))
    truth_rows = []
    titles = list(tracks)

    def chunks():
        level_i = 0
        for s in range(n_segments):
            # About half of the film has music: one cue per segment, 20-40 s long.
            cues, foreign = [], []
            if s % 7 == 3:  # music that is not on the soundtrack
                # Its own seed space: with seed * 77 + s, segments 3, 10 and 17 played the very
                # pieces of tracks 4, 11 and 18 (same style, same seed) as "foreign" music.
                foreign = [(10.0, 30.0, styles[s % len(styles)], 900_000_000 + seed * 77 + s)]
            else:
                title = titles[int(rng.integers(len(titles)))]
                dur = float(rng.uniform(20, 40))
                start = float(rng.uniform(2, segment_s - dur - 2))
                offset = float(rng.uniform(0, track_minutes * 60 - dur))
                cues = [CueSpec(title, round(start, 2), round(offset, 2), round(dur, 2), LEVELS[level_i % len(LEVELS)])]
                level_i += 1
            spec = FilmSpec(duration_s=segment_s, cues=cues, foreign_music=foreign, seed=seed * 10000 + s)
            audio, truth = render_film_audio(spec, tracks, track_sr=track_sr, film_sr=film_sr, channels=6,
                                             speech=speech)
            truth[["start_s", "end_s"]] += s * segment_s
            truth_rows.append(truth)
            yield audio

    write_film(root / "film.mp4", chunks(), film_sr, audio_codec="aac", audio_bitrate=128_000, fps=1.0,
               size=(160, 90))
    truth = pd.concat(truth_rows, ignore_index=True)
    truth.insert(0, "film_id", "film")
    truth.to_csv(root / "truth.csv", index=False)


def _child(code: str, src: Path) -> dict:
    """Run ``code`` with ``src`` first on the path in a fresh interpreter pinned to one core; it prints one JSON line.

    Core 0, or ``$BENCH_CORE`` when the other core of a shared machine is the quieter one.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(src))
    cmd = [sys.executable, "-c", code]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", os.environ.get("BENCH_CORE", "0"), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# Peak memory of the child itself. ru_maxrss is not enough: Linux carries the parent's
# high-water mark across fork + exec, so a child started by a parent that has just built
# the media in memory would report the parent's peak. VmHWM belongs to the new process.
PEAK_RSS = """
def peak_rss_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

INDEX_CODE = PEAK_RSS + """
import json, resource, time, sys
from pathlib import Path
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._pipeline import index_tracks
root = Path({root!r})
db = root / {db!r}
db.unlink(missing_ok=True)
cfg = StamperConfig()
paths = sorted((root / "soundtrack").iterdir())
t, c = time.perf_counter(), time.process_time()
with open_store(str(db), cfg) as store:
    index_tracks(paths, store, cfg)
    seconds = float(store.tracks()["duration_s"].sum())
    size = store.size_bytes()
wall, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "music_s": seconds, "db_bytes": size,
                  "maxrss_mb": peak_rss_mb()}}))
"""

STAMP_CODE = PEAK_RSS + """
import json, resource, time
from pathlib import Path
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._pipeline import stamp_film
root = Path({root!r})
cfg = StamperConfig(speed={speed!r})
with open_store(str(root / {db!r}), cfg, create=False) as store:
    t, c = time.perf_counter(), time.process_time()
    # The soundtrack (every track of this database) given explicitly: soundtrack stamping, not the
    # library search of whole-index stamping (bench_stamp_library.py measures that).
    result = stamp_film(root / "film.mp4", store, cfg, film_id="film", track_ids=store.tracks()["id"].tolist())
    wall, cpu = time.perf_counter() - t, time.process_time() - c
result.cues.to_csv(root / {cues!r}, index=False)
print(json.dumps({{"wall_s": wall, "cpu_s": cpu, "film_s": result.duration_s, "cues": len(result.cues),
                  "maxrss_mb": peak_rss_mb()}}))
"""


def _figures(root: Path, cues_file: str, idx: list[dict], st: list[dict]) -> dict:
    """Speed (medians over rounds) and accuracy figures of one stamper."""
    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.stamp._evaluate import evaluate_cues

    def median(runs, key):
        return float(np.median([r[key] for r in runs]))

    truth = read_cue_table(root / "truth.csv", annotation=True)
    cues = read_cue_table(root / cues_file)
    overall = evaluate_cues(truth, cues).iloc[0]
    by_level = {}
    for level in LEVELS:
        t_level = truth[truth["level_db"] == level]
        if len(t_level):  # a short film holds only the first levels
            # Recall per level: predicted cues restricted to the true cues' tracks and spans of this level.
            by_level[level] = float(evaluate_cues(t_level, cues)["second_recall"].iloc[0])
    within10 = truth[truth["level_db"] >= -10.0]
    r10 = float(evaluate_cues(within10, cues)["second_recall"].iloc[0])
    music_s, film_s = idx[0]["music_s"], st[0]["film_s"]
    return {
        "film_minutes": film_s / 60, "music_minutes_indexed": music_s / 60, "rounds": len(st),
        "index_x_realtime_1core": music_s / median(idx, "wall_s"),
        "index_x_realtime_cpu_time": music_s / median(idx, "cpu_s"),
        "db_mb_per_hour_of_music": idx[0]["db_bytes"] / 1e6 / (music_s / 3600),
        "stamp_x_realtime_1core": film_s / median(st, "wall_s"), "stamp_wall_s": median(st, "wall_s"),
        "stamp_x_realtime_cpu_time": film_s / median(st, "cpu_s"),
        "stamp_x_realtime_1core_rounds": [film_s / r["wall_s"] for r in st],
        "stamp_peak_rss_mb": max(r["maxrss_mb"] for r in st),
        "second_precision": float(overall["second_precision"]), "second_recall": float(overall["second_recall"]),
        "second_recall_music_ge_minus10db": r10,
        "second_recall_by_level_db": by_level,
        "cue_precision": float(overall["cue_precision"]), "cue_recall": float(overall["cue_recall"]),
        "true_cues": int(overall["true_cues"]), "found_cues": int(overall["predicted_cues"]),
    }


def _report(tag: str, f: dict, speed: str) -> None:
    print(f"[{tag}] index:  {f['music_minutes_indexed']:.0f} min of music at {f['index_x_realtime_1core']:.0f}x "
          f"real time (one core; {f['index_x_realtime_cpu_time']:.0f}x by CPU time); database "
          f"{f['db_mb_per_hour_of_music']:.2f} MB per hour of music")
    print(f"[{tag}] stamp (--speed {speed}):  {f['film_minutes']:.0f} min film in {f['stamp_wall_s']:.2f} s = "
          f"{f['stamp_x_realtime_1core']:.0f}x real time incl. decoding (one core, median of {f['rounds']}; "
          f"{f['stamp_x_realtime_cpu_time']:.0f}x by CPU time); peak RSS {f['stamp_peak_rss_mb']:.0f} MB")
    print(f"[{tag}] seconds: precision {f['second_precision']:.3f}, recall {f['second_recall']:.3f} "
          f"(music >= -10 dB: {f['second_recall_music_ge_minus10db']:.3f})")
    print(f"[{tag}] recall by music level: "
          + ", ".join(f"{k:+.0f} dB {v:.3f}" for k, v in f["second_recall_by_level_db"].items()))
    print(f"[{tag}] cues:   precision {f['cue_precision']:.3f}, recall {f['cue_recall']:.3f} "
          f"({f['found_cues']} found, {f['true_cues']} true)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--film-minutes", type=float, default=120.0)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--track-minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--media", type=Path, help="reuse the media in this folder (made by an earlier run)")
    parser.add_argument("--speed", default="auto",
                        help="the stamper's --speed: auto (probe for music at other speeds) or a factor (1.0: none)")
    parser.add_argument("--baseline-src", type=Path,
                        help="`src` folder of a baseline stamper, measured in the same run")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of indexing and stamping (medians reported)")
    args = parser.parse_args()
    root = OUT / f"v2_film{args.film_minutes:g}min_{args.tracks}x{args.track_minutes:g}min_seed{args.seed}"
    if args.media is not None:
        root = args.media
    t = time.perf_counter()
    build(root, film_minutes=args.film_minutes, n_tracks=args.tracks, track_minutes=args.track_minutes,
          seed=args.seed)
    print(f"benchmark media in {root} (built/reused in {time.perf_counter() - t:.0f} s)")

    speed = args.speed if args.speed == "auto" else float(args.speed)
    here = Path(__file__).resolve().parents[1] / "src"
    stampers = [("new", here)] + ([("baseline", args.baseline_src.resolve())] if args.baseline_src else [])
    runs: dict = {tag: ([], []) for tag, _ in stampers}
    for r in range(max(1, args.repeat)):
        for tag, src in (stampers if r % 2 == 0 else stampers[::-1]):  # alternate who goes first
            suffix = "" if tag == "new" else f".{tag}"
            runs[tag][0].append(_child(INDEX_CODE.format(root=str(root), db=f"fp{suffix}.sqlite"), src))
            runs[tag][1].append(_child(STAMP_CODE.format(root=str(root), speed=speed, db=f"fp{suffix}.sqlite",
                                                         cues=f"cues{suffix}.csv"), src))
    figures = {tag: _figures(root, "cues.csv" if tag == "new" else f"cues.{tag}.csv", *runs[tag])
               for tag, _ in stampers}
    for tag, _ in stampers:
        _report(tag, figures[tag], args.speed)
    if args.baseline_src:
        new, base = figures["new"], figures["baseline"]
        print(f"new / baseline (medians of {new['rounds']} rounds, one core, the machine may be shared): "
              f"index {new['index_x_realtime_1core'] / base['index_x_realtime_1core']:.2f}x "
              f"(CPU {new['index_x_realtime_cpu_time'] / base['index_x_realtime_cpu_time']:.2f}x), "
              f"stamp {new['stamp_x_realtime_1core'] / base['stamp_x_realtime_1core']:.2f}x "
              f"(CPU {new['stamp_x_realtime_cpu_time'] / base['stamp_x_realtime_cpu_time']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(figures if args.baseline_src else figures["new"], indent=2) + "\n")


if __name__ == "__main__":
    main()
