"""Score Stamper benchmark: films that play the soundtrack at another speed.

For each speed factor (track seconds per film second) and each kind of transfer -- a
plain speed-up (resampled: the pitch follows the speed) and a pitch-corrected
time-stretch (librosa's phase vocoder) -- builds (once, cached in
``benchmarks/out/stamp_speed``) a film with dialogue, effects and room tone throughout,
one soundtrack cue a minute at 0 / -5 / -10 / -15 dB under the rest, and music that is on
no soundtrack. Stereo AAC 128 kbps in MP4 (the 5.1 2-hour film of ``bench_stamp.py`` is
the speed reference). Each film is then stamped, in a child process pinned to one core,
by the stamper of this checkout (``--speed auto``) and by a baseline (another checkout's
``src``, e.g. the commit before speed handling: ``git archive <commit> src | tar -x -C DIR``),
against the same database, and the script prints per film: second-level precision and
recall, stamping speed (× real time, decoding included) and the speed factor found.

Usage::

    python benchmarks/bench_stamp_speed.py --baseline-src /tmp/base/src --film-minutes 6
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "stamp_speed"
FACTORS = (0.90, 0.92, 0.96, 0.98, 1.0, 1.02, 1.04, 25 / 24, 1.06, 1.10)
LEVELS = (0.0, -5.0, -10.0, -15.0)
TRACK_SR, FILM_SR = 44100, 48000


def _film_name(factor: float, pitched: bool) -> str:
    return f"film_{factor:.4f}_{'pitched' if pitched else 'corrected'}"


def _at_speed(excerpt: np.ndarray, factor: float, pitched: bool) -> np.ndarray:
    """An album excerpt as a film playing it ``factor`` times faster plays it."""
    import librosa
    from scipy import signal

    if factor == 1.0:
        return excerpt
    if pitched:
        ratio = Fraction(factor).limit_denominator(1000)
        return signal.resample_poly(excerpt, ratio.denominator, ratio.numerator).astype(np.float32)
    return librosa.effects.time_stretch(excerpt, rate=factor).astype(np.float32)


def _real_tracks(folder: Path, n_tracks: int, track_minutes: float) -> tuple[dict, list]:
    """Real recordings at least ``track_minutes`` long: ``n_tracks`` for the soundtrack, the rest
    as music on no soundtrack (each as mono float32 at TRACK_SR)."""
    from scorelens.io._audio import load_audio

    tracks, others = {}, []
    for path in sorted(folder.glob("*.ogg")):
        samples = load_audio(path, sample_rate=TRACK_SR)
        if samples.size < track_minutes * 60 * TRACK_SR or np.abs(samples).max() < 1e-3:
            continue
        samples = samples[: int(track_minutes * 60 * TRACK_SR)].astype(np.float32)
        if len(tracks) < n_tracks:
            tracks[f"real{len(tracks) + 1:02d}_{path.stem}"] = samples
        else:
            others.append(samples)
    if len(tracks) < n_tracks or not others:
        raise SystemExit(f"{folder}: fewer than {n_tracks + 1} recordings of {track_minutes:g} min or more")
    return tracks, others


def build(root: Path, *, film_minutes: float, n_tracks: int, track_minutes: float, seed: int,
          real: Path | None = None) -> None:
    """Soundtrack, one film per (factor, transfer) and their truth tables (skipped when there).

    With ``real``, the soundtrack is real recordings from that folder (OGG) and the music on no
    soundtrack is other recordings from it, rather than the synthetic demo styles.
    """
    from scorelens.demo import _synth as synth
    from scorelens.demo._films import GENRE_STYLES, CueSpec, FilmSpec, render_film_audio
    from scorelens.demo._media import write_audio, write_film

    if (root / "done").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    styles = list(GENRE_STYLES.values())
    tracks, others = {}, []
    if real is not None:
        tracks, others = _real_tracks(real, n_tracks, track_minutes)
    for k in range(n_tracks):
        if real is None:
            title = f"cue{k + 1:02d}_{styles[k % len(styles)]}"
            tracks[title] = synth.synth_track(styles[k % len(styles)], duration_s=track_minutes * 60, sr=TRACK_SR,
                                              seed=seed * 1000 + k)
        else:
            title = list(tracks)[k]
        write_audio(root / "soundtrack" / f"{title}.flac", tracks[title], TRACK_SR)
    speech = synth.speech_pool(FILM_SR, n=12, seed=seed)
    for factor in FACTORS:
        for pitched in ((True,) if factor == 1.0 else (True, False)):
            name = _film_name(factor, pitched)
            rng = np.random.default_rng(seed)  # the same cues in every film: only the speed differs
            titles = list(tracks)
            n_segments = int(round(film_minutes))
            chunks, truths = [], []
            for s in range(n_segments):
                excerpts, cues, foreign = {}, [], []
                if s % 5 == 2 and real is not None:  # a real recording on no soundtrack, at normal speed
                    other = others[s % len(others)]
                    excerpts["other"] = other[int(20 * TRACK_SR):int(52 * TRACK_SR)]
                    cues = [CueSpec("other", 10.0, 0.0, 30.0, 0.0)]
                elif s % 5 == 2:  # music on no soundtrack
                    foreign = [(10.0, 30.0, styles[s % len(styles)], 900_000_000 + seed * 77 + s)]
                else:
                    title = titles[int(rng.integers(len(titles)))]
                    dur = float(rng.uniform(20, 35))  # film seconds
                    start = float(rng.uniform(2, 60 - dur - 2))
                    album = float(rng.uniform(0, track_minutes * 60 - dur * 1.1 - 1))
                    a = int(round(album * TRACK_SR))
                    piece = tracks[title][a:a + int(round(dur * factor * TRACK_SR)) + TRACK_SR]
                    excerpts["x"] = _at_speed(piece, factor, pitched)
                    cues = [CueSpec("x", round(start, 2), 0.0, round(dur, 2), LEVELS[s % len(LEVELS)])]
                spec = FilmSpec(duration_s=60.0, cues=cues, foreign_music=foreign, seed=seed * 10000 + s)
                audio, truth = render_film_audio(spec, excerpts, track_sr=TRACK_SR, film_sr=FILM_SR, channels=2,
                                                 speech=speech)
                if cues and "other" not in excerpts:
                    truth = truth.assign(track=title, track_offset_s=album, level_db=cues[0].level_db)
                    truth[["start_s", "end_s"]] += s * 60.0
                    truths.append(truth)
                chunks.append(audio)
            write_film(root / f"{name}.mp4", np.concatenate(chunks), FILM_SR, audio_codec="aac",
                       audio_bitrate=128_000, fps=1.0, size=(160, 90))
            truth = pd.concat(truths, ignore_index=True)
            truth.insert(0, "film_id", name)
            truth.to_csv(root / f"{name}.truth.csv", index=False)
    (root / "done").write_text("ok\n")


STAMP_CODE = """
import json, time, sys
from pathlib import Path
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._pipeline import stamp_film
root, films, tag = Path({root!r}), {films!r}, {tag!r}
cfg = StamperConfig()
out = []
with open_store(str(root / "fp.sqlite"), cfg, create=False) as store:
    ids = store.tracks()["id"].tolist()  # the soundtrack: soundtrack stamping, not the library search
    for name in films:
        t = time.perf_counter()
        result = stamp_film(root / (name + ".mp4"), store, cfg, film_id=name, track_ids=ids)
        wall = time.perf_counter() - t
        result.cues.to_csv(root / (name + "." + tag + ".cues.csv"), index=False)
        out.append({{"film": name, "wall_s": wall, "film_s": result.duration_s,
                     "note": getattr(result, "speed_note", "")}})
print(json.dumps(out))
"""

INDEX_CODE = """
from pathlib import Path
from scorelens.config import StamperConfig
from scorelens.stamp._store import open_store
from scorelens.stamp._pipeline import index_tracks
root = Path({root!r})
(root / "fp.sqlite").unlink(missing_ok=True)
cfg = StamperConfig()
with open_store(str(root / "fp.sqlite"), cfg) as store:
    index_tracks(sorted((root / "soundtrack").iterdir()), store, cfg)
print("[]")
"""


def _child(code: str, src: Path) -> list:
    """Run ``code`` with ``src`` first on the path, pinned to core 0 (or ``$BENCH_CORE``); it prints one JSON line."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(src))
    cmd = [sys.executable, "-c", code]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", os.environ.get("BENCH_CORE", "0"), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", type=Path, required=True, help="`src` folder of the baseline stamper")
    parser.add_argument("--film-minutes", type=float, default=6.0)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--track-minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--real", type=Path, nargs="?", const=Path("/usr/share/games/wesnoth/1.16/data/core/music"),
                        help="real recordings (OGG) as the soundtrack and as music on no soundtrack (default: "
                             "Debian's wesnoth-1.16-music)")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1] / "src"
    root = OUT / (f"{'real_' if args.real else ''}film{args.film_minutes:g}min_{args.tracks}x"
                  f"{args.track_minutes:g}min_seed{args.seed}")
    t = time.perf_counter()
    build(root, film_minutes=args.film_minutes, n_tracks=args.tracks, track_minutes=args.track_minutes,
          seed=args.seed, real=args.real)
    print(f"benchmark media in {root} (built/reused in {time.perf_counter() - t:.0f} s); the machine may be shared: "
          "compare the two stampers' figures, measured in the same run")
    films = sorted(p.name.removesuffix(".mp4") for p in root.glob("film_*.mp4"))
    _child(INDEX_CODE.format(root=str(root)), here)
    runs = {}
    for tag, src in (("baseline", args.baseline_src.resolve()), ("new", here)):
        runs[tag] = {r["film"]: r for r in _child(STAMP_CODE.format(root=str(root), films=films, tag=tag), src)}

    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.stamp._evaluate import evaluate_cues

    rows = []
    for name in films:
        factor, kind = float(name.split("_")[1]), name.split("_")[2]
        truth = read_cue_table(root / f"{name}.truth.csv", annotation=True)
        row = {"factor": factor, "transfer": kind}
        for tag in ("baseline", "new"):
            cues = read_cue_table(root / f"{name}.{tag}.cues.csv", film_id=name)
            score = evaluate_cues(truth, cues).iloc[0]
            run = runs[tag][name]
            row[f"{tag}_precision"] = float(score["second_precision"])
            row[f"{tag}_recall"] = float(score["second_recall"])
            row[f"{tag}_x_realtime"] = run["film_s"] / run["wall_s"]
            if tag == "new":
                found = pd.read_csv(root / f"{name}.{tag}.cues.csv")
                row["speed_found"] = float(found["speed"].median()) if len(found) else float("nan")
                row["note"] = run["note"]
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["transfer", "factor"])
    pd.set_option("display.width", 200)
    print(table.drop(columns="note").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for kind, part in table.groupby("transfer"):
        print(f"{kind}: mean precision {part['baseline_precision'].mean():.3f} -> {part['new_precision'].mean():.3f}, "
              f"recall {part['baseline_recall'].mean():.3f} -> {part['new_recall'].mean():.3f}, "
              f"speed {part['baseline_x_realtime'].mean():.0f}x -> {part['new_x_realtime'].mean():.0f}x real time")
    if args.json:
        args.json.write_text(table.to_json(orient="records", indent=2) + "\n")


if __name__ == "__main__":
    main()
