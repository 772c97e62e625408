"""Benchmark: the interactive report of a study-sized corpus, opened in headless Chromium.

Builds a synthetic workspace of the study's shape (110 films with the study's genre counts,
~40 cues per film (Poisson), films of 90-150 minutes, 12 tracks per film), with Table 4,
out-of-fold predictions and attention weights of 18 runs (the baselines, then Simple MI,
IMV and six networks on two feature kinds), Fig 3 and Table 5 in the files ``evaluate``,
``importance`` and ``crossmodal`` write. The report stage writes ``index.html``; clips are
cut from real (synthesised) soundtrack files for ``--clip-films`` films within the default
budget, so their sizes and encoding time are measured.

Then, in Chromium (Playwright driving ``--chromium``), the page is opened ``--repeat`` times
and each time, from the start of the navigation:

* ``corpus``: the corpus table filled (the page's own ready mark);
* ``plotly``: Plotly's bundle loaded and run (it loads deferred, beside the table);
* ``film``: a film's timeline drawn after its link is followed (from the click);
* ``models``: every chart of the models view drawn (from following its link).

A baseline is measured in the same browser, interleaved: a blank page that loads only
the same ``plotly.min.js`` (Plotly's own load on this machine), so that the page's cost
can be read as a ratio on a shared machine. Screenshots of each view at 1400 px go to
``--out``.

Usage::

    python benchmarks/bench_report.py                     # 110 films, clips for 10 of them
    python benchmarks/bench_report.py --clip-films 110    # clips for every film (minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

N_TRACKS = 12
KINDS = ("vggish", "mir")
NETWORKS = ("max", "average", "linear_softmax", "attention", "multi_attention", "feature_attention")
GROUPS = ("MFCCs", "ΔMFCCs", "ΔΔMFCCs", "Dynamics", "Pitch", "Rhythm", "Timbre", "Tone")


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def build_workspace(root: Path, *, n_films: int, mean_cues: float, clip_films: int, seed: int):
    """Write the synthetic study under ``root``; return (manifest, Workspace, number of cues)."""
    from bench_table4 import STUDY_COUNTS, study_labels

    from scorelens.demo._media import write_audio
    from scorelens.demo._synth import STYLES, synth_track
    from scorelens.workspace import Workspace

    rng = np.random.default_rng(seed)
    genres = tuple(STUDY_COUNTS)
    Y = study_labels(rng, n_films)
    films = [f"film{i:03d}" for i in range(n_films)]
    lengths = rng.uniform(90 * 60, 150 * 60, n_films)
    # One shared set of real track files: every film's cues point at them, so clips can be cut anywhere.
    st = root / "soundtrack"
    st.mkdir(parents=True, exist_ok=True)
    styles = list(STYLES)
    track_files = []
    for k in range(N_TRACKS):
        path = st / f"track{k:02d}.flac"
        if not path.exists():
            write_audio(path, synth_track(styles[k % len(styles)], duration_s=240.0, sr=22050, seed=k), 22050)
        track_files.append(path)
    lines = ['[corpus]', f'genres = {json.dumps(list(genres))}']
    for i, f in enumerate(films):
        g = [genres[k] for k in np.flatnonzero(Y[i])]
        lines += ["[[film]]", f'id = "{f}"', f'title = "Synthetic film {i + 1}"', f"year = {2014 + i % 6}",
                  f'film = "films/{f}.mkv"', 'soundtrack = "soundtrack/"', f"genres = {json.dumps(g)}"]
    manifest = root / "corpus.toml"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws = Workspace(root / "ws")
    n_cues = 0
    sizes = np.maximum(1, rng.poisson(mean_cues, n_films))
    for i, (f, n) in enumerate(zip(films, sizes)):
        starts = np.sort(rng.uniform(0, lengths[i] - 320, n))
        durations = np.clip(rng.exponential(55.0, n), 5.0, 300.0)
        tracks = rng.integers(0, N_TRACKS, n)
        with_clips = i < clip_films
        pd.DataFrame({
            "film_id": f, "cue_id": np.arange(n), "track_id": [f"t{k}" for k in tracks],
            "track": [f"{f} · Track {k:02d}" for k in tracks],
            "track_path": [str(track_files[k] if with_clips else st / "elsewhere" / f"track{k:02d}.flac")
                           for k in tracks],
            "start_s": starts.round(3), "end_s": (starts + durations).round(3),
            "track_offset_s": rng.uniform(0, 200, n).round(3), "windows": np.ceil(durations / 5).astype(int),
            "votes": rng.integers(20, 400, n), "confidence": rng.uniform(0.2, 0.9, n).round(4), "speed": 1.0,
            "pitch_shift_semitones": 0.0}).to_parquet(ws.path("cues", f"{f}.parquet"))
        n_cues += int(n)
    # The visual stage's 1 Hz frames give the films' lengths.
    seconds = np.floor(lengths).astype(int)
    frames = pd.DataFrame({"film_id": np.repeat(films, seconds), "time_s": np.concatenate([np.arange(n) + 0.5
                                                                                         for n in seconds])})
    frames.to_parquet(ws.path("features", "visual", "frames.parquet"))
    # Out-of-fold predictions, attention weights and Table 4 of 18 runs, in evaluate's files.
    runs = [("none", "random"), ("none", "plurality")] + [
        (kind, key) for kind in KINDS for key in ("simple_mi:svm", "imv:svm", *(f"network:{p}" for p in NETWORKS))]
    preds, weights, table4 = [], [], []
    for kind, key in runs:
        skill = rng.uniform(0.5, 1.5)
        proba = np.clip(0.3 + skill * 0.35 * (Y - 0.3) + rng.normal(0, 0.2, Y.shape), 0, 1)
        pred = (proba >= 0.5).astype(np.int8)
        preds.append(pd.DataFrame({"film_id": np.repeat(films, len(genres)), "features": kind, "model": key,
                                   "genre": np.tile(genres, n_films), "probability": proba.reshape(-1),
                                   "predicted": pred.reshape(-1), "true": Y.reshape(-1).astype(np.int8)}))
        tp, fp, fn = (pred & Y).sum(0), (pred & (1 - Y)).sum(0), ((1 - pred) & Y).sum(0)
        p = float(np.mean(tp / np.maximum(tp + fp, 1)))
        r = float(np.mean(tp / np.maximum(tp + fn, 1)))
        from scorelens.mil._models import display_name

        table4.append({"features": "None" if kind == "none" else kind, "model": display_name(key), "key": key,
                       "hidden": 128 if key.startswith("network:") else None, "precision": p, "recall": r,
                       "f1": 2 * p * r / max(p + r, 1e-9), "p_precision": 0.001})
        if key.startswith("network:"):
            for f, n in zip(films, sizes):
                w = np.stack([np.full(n, 1 / n) if key == "network:average" else _softmax(rng.normal(0, 1, n))
                              for _ in genres], 1)
                df = pd.DataFrame(w, columns=list(genres))
                df.insert(0, "cue_id", np.arange(n))
                df.insert(0, "instance", np.arange(n))
                df.insert(0, "model", key)
                df.insert(0, "features", kind)
                df.insert(0, "film_id", f)
                weights.append(df)
    folder = ws.layout.evaluation_dir("cue")
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(preds, ignore_index=True).to_parquet(ws.layout.predictions("cue"), index=False)
    pd.concat(weights, ignore_index=True).to_parquet(ws.layout.instance_weights("cue"), index=False)
    ws.layout.table4("cue", "json").write_text(json.dumps({
        "settings": {"cv": "loo", "seed": seed}, "taxonomy": list(genres), "films": films, "table4": table4}))
    imp = [{"group": g, "genre": genre, "f1_orig": 0.6, "score": s, "ci_low": s - 0.05, "ci_high": s + 0.05,
            "significant": s - 0.05 > 0}
           for g in GROUPS for genre, s in zip((*genres, "Overall"), rng.uniform(-0.05, 0.3, len(genres) + 1))]
    folder = ws.layout.importance_dir("mir", "network:average", 64)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(imp).to_csv(ws.layout.importance_summary(folder, "csv"), index=False)
    t5 = [{"feature": f, "source": s, "genre": g, "difference_x10": rng.normal(0, 0.3), "n_clips": 200,
           "n_clips_other": 4000, "median": 0.3, "median_other": 0.29, "p": 0.02, "p_corrected": 0.12,
           "significant": False, "note": ""}
          for f in ("brightness", "contrast") for s in ("actual", "predicted", "false_positive") for g in genres]
    pd.DataFrame(t5).to_csv(ws.path("results", "crossmodal", "table5.csv"), index=False)
    return manifest, ws, n_cues


#: Real recorded music for the clip check (Debian's wesnoth-1.16-music).
REAL_MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music/legends_of_the_north.ogg")


def real_music_check(path: Path) -> None:
    """Clips of a recorded track against the track itself: at speed 1, at 1.04 with the pitch, and pitch kept."""
    import librosa

    from scorelens.io._audio import load_audio
    from scorelens.report.explorer import ClipJob, cut_clip, encode_clip

    sr, start = 48_000, 30.0
    album = load_audio(path, sample_rate=sr, start_s=start, end_s=start + 20.0)

    def clip(**kw):
        tmp = Path("/tmp") / "bench_report_clip.ogg"
        encode_clip(cut_clip(ClipJob("f", 0, str(path), start, 10.0, **kw)), tmp)
        return load_audio(tmp, sample_rate=sr)

    def corr(a, b):
        """Best normalised correlation of a's seconds 1-9 with b's within ±50 ms, and its lag in ms."""
        seg, ref = a[sr:9 * sr], b[sr - 2400:9 * sr + 2400]
        c = np.correlate(seg, ref, "valid")
        lag = int(np.argmax(c))
        match = ref[lag:lag + len(seg)]
        return (lag - 2400) / sr * 1000, float(c[lag] / np.sqrt((seg ** 2).sum() * (match ** 2).sum()))

    same = clip()
    print(f"real music ({path.name}, album from {start:g} s, 10-s clips, Opus 48 kb/s):")
    print("  speed 1: lag %.1f ms, correlation with the album %.3f" % corr(same, album))
    pitched = clip(speed=1.04, keep_pitch=False)
    back = librosa.resample(pitched, orig_sr=sr, target_sr=sr * 1.04)
    print("  speed 1.04, pitch moved (PAL): resampled back by 1.04, lag %.1f ms, correlation %.3f" % corr(back, album))
    kept = clip(speed=1.04, keep_pitch=True)
    tempo = lambda y: float(librosa.feature.tempo(onset_envelope=librosa.onset.onset_strength(y=y, sr=sr),  # noqa: E731
                                                  sr=sr)[0])
    centroid = lambda y: float(np.median(librosa.feature.spectral_centroid(y=y, sr=sr)))  # noqa: E731
    print(f"  speed 1.04, pitch kept: tempo {tempo(kept):.1f} BPM (album {tempo(album[:int(10.4 * sr)]):.1f} x 1.04 = "
          f"{1.04 * tempo(album[:int(10.4 * sr)]):.1f}); spectral centroid {centroid(kept):.0f} Hz (album "
          f"{centroid(album[:10 * sr]):.0f}, pitched {centroid(pitched):.0f})")


def _median(values):
    return statistics.median(values) if values else float("nan")


def _cpu(cdp) -> float:
    """CPU seconds used so far by all of the browser's processes (CDP SystemInfo)."""
    return sum(p["cpuTime"] for p in cdp.send("SystemInfo.getProcessInfo")["processInfo"])


def measure(page_path: Path, baseline_path: Path, chromium: str, repeat: int, film: str, shots: Path | None):
    """Wall times (ms) of each step, and the browser's CPU seconds from navigation to charts ready."""
    from playwright.sync_api import sync_playwright

    out = {k: [] for k in ("corpus", "plotly", "film", "models", "baseline", "cpu", "baseline_cpu")}
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        cdp = browser.new_browser_cdp_session()
        for k in range(repeat):
            # Baseline first in each round: Plotly's own load, in the same browser.
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            cpu = _cpu(cdp)
            page.goto(baseline_path.as_uri())
            page.wait_for_function("() => window.__plotlyLoaded !== undefined")
            out["baseline_cpu"].append(_cpu(cdp) - cpu)
            out["baseline"].append(page.evaluate("() => window.__plotlyLoaded"))
            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            cpu = _cpu(cdp)
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-plotly-ms]", state="attached")
            out["cpu"].append(_cpu(cdp) - cpu)
            out["corpus"].append(float(page.evaluate("() => document.body.dataset.readyMs")))
            out["plotly"].append(float(page.evaluate("() => document.body.dataset.plotlyMs")))
            if shots is not None and k == 0:
                page.screenshot(path=str(shots / "view_corpus.png"), full_page=False)
            t0 = page.evaluate("() => performance.now()")
            page.locator(f"#corpus-table a[href='#film/{film}']").click()
            page.wait_for_selector(f"body[data-film-drawn='{film}']", state="attached")
            out["film"].append(page.evaluate("() => performance.now()") - t0)
            if shots is not None and k == 0:
                bar = page.locator("#film-plot .subplot.xy .trace.bars .point path").nth(3)
                bar.scroll_into_view_if_needed()
                box = bar.bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.wait_for_selector("#film-plot .hoverlayer .hovertext")
                page.screenshot(path=str(shots / "view_film.png"), full_page=True)
                page.mouse.move(5, 5)
            t0 = page.evaluate("() => performance.now()")
            page.locator("nav a[data-view='models']").click()
            page.wait_for_selector("body[data-models-drawn]", state="attached")
            out["models"].append(page.evaluate("() => performance.now()") - t0)
            if shots is not None and k == 0:
                page.screenshot(path=str(shots / "view_models.png"), full_page=True)
            page.close()
        browser.close()
    return out, errors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--films", type=int, default=110)
    ap.add_argument("--cues", type=float, default=40.0, help="mean cues per film (Poisson)")
    ap.add_argument("--clip-films", type=int, default=10, help="films whose clips are cut (the others: no track file)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "report")
    args = ap.parse_args(argv)

    from scorelens.config import ReportConfig
    from scorelens.corpus import load_corpus
    from scorelens.stages._report import write_report

    args.out.mkdir(parents=True, exist_ok=True)
    root = args.out / "study"
    shutil.rmtree(root / "ws", ignore_errors=True)
    t = time.perf_counter()
    manifest, ws, n_cues = build_workspace(root, n_films=args.films, mean_cues=args.cues, clip_films=args.clip_films,
                                           seed=args.seed)
    print(f"workspace: {args.films} films, {n_cues} cues, built in {time.perf_counter() - t:.1f} s")
    config = ReportConfig()
    t = time.perf_counter()
    report = write_report(ws, config, load_corpus(manifest, check_files=False))
    assert report.clips == len(list(ws.layout.report_clips_dir.rglob('*.ogg')))
    stage_s = time.perf_counter() - t
    page = ws.layout.report_explorer()
    clips = sorted(ws.layout.report_clips_dir.rglob("*.ogg"))
    sizes = np.array([p.stat().st_size for p in clips])
    print(f"report stage: {stage_s:.1f} s (index.html {page.stat().st_size / 1e6:.2f} MB, "
          f"Plotly bundle {sum(p.stat().st_size for p in (ws.layout.report_dir / 'assets').iterdir()) / 1e6:.2f} MB)")
    if len(clips):
        from scorelens.io._audio import probe_audio

        seconds = np.array([probe_audio(p).duration_s for p in clips])
        print(f"clips: {len(clips)} for {args.clip_films} films ({config.clip_format}, {config.clip_kbps} kb/s mono, "
              f"at most {config.clip_max_s:g} s): {sizes.sum() / 1e6:.2f} MB, {sizes.mean() / 1e3:.1f} kB a clip, "
              f"{(sizes / seconds).mean() / 1e3:.2f} kB per second of clip; budget {config.clip_budget_mb:g} MB")
        from scorelens.report.explorer import planned_bytes

        planned = float(np.sum(planned_bytes(seconds, config.clip_kbps)))
        print(f"  written / planned size: {sizes.sum() / planned:.3f} (the plan's margin: 6 % and 2048 B a file)")
        from scorelens.report.explorer import clip_lengths

        cues = pd.concat([pd.read_parquet(p, columns=["start_s", "end_s"]) for p in ws.layout.cue_tables().values()])
        lengths = clip_lengths((cues["end_s"] - cues["start_s"]).to_numpy(), config.clip_budget_mb * 1e6,
                               kbps=config.clip_kbps, max_s=config.clip_max_s)
        whole = np.minimum(cues["end_s"] - cues["start_s"], config.clip_max_s).to_numpy()
        study = float(np.sum(planned_bytes(lengths[lengths > 0], config.clip_kbps)))
        print(f"  the study's {n_cues} cues at the {config.clip_budget_mb:g} MB budget: clips of at most "
              f"{lengths.max():.1f} s (the {int((lengths < whole - 1e-6).sum())} longest cut), {study / 1e6:.0f} MB "
              f"planned, ~{study * sizes.sum() / planned / 1e6:.0f} MB at the measured rate")
    baseline = args.out / "baseline.html"
    asset = next((ws.layout.report_dir / "assets").glob("plotly-*.min.js"))
    shutil.copy(asset, args.out / asset.name)
    baseline.write_text(f'<!DOCTYPE html><html><head><script src="{asset.name}" defer></script></head><body><script>'
                        'document.addEventListener("DOMContentLoaded", function () { window.__plotlyLoaded = '
                        'Math.round(performance.now()); });</script></body></html>\n', encoding="utf-8")
    film = max(report_films(ws)[:max(1, args.clip_films)], key=lambda f: f[1])[0]  # the longest with clips
    times, errors = measure(page, baseline, args.chromium, args.repeat, film, args.out)
    print(f"browser ({args.repeat} loads, median ms from the navigation's start; machine shared, see load below):")
    base = _median(times["baseline"])
    for name, what in (("corpus", "corpus table ready"), ("plotly", "Plotly loaded (charts can draw)"),
                       ("film", f"film view drawn ({film}, after its link)"),
                       ("models", "models view drawn (after its link)"), ("baseline", "baseline: Plotly alone")):
        extra = f"  ({_median(times[name]) / base:.2f} x Plotly alone)" if name in ("corpus", "plotly") else ""
        print(f"  {what:45s} {_median(times[name]):8.0f}  [{', '.join(f'{v:.0f}' for v in times[name])}]{extra}")
    first_chart = _median(times["plotly"])
    print(f"page open (table) {_median(times['corpus']) / 1000:.2f} s; charts ready {first_chart / 1000:.2f} s "
          f"(target < 2 s)")
    print(f"browser CPU from navigation to charts ready: {_median(times['cpu']):.2f} s "
          f"(Plotly alone {_median(times['baseline_cpu']):.2f} s; all processes and threads: an idle machine's "
          "wall time is at most about this)")
    shots = ("view_corpus.png", "view_film.png", "view_models.png")
    print(f"screenshots: {', '.join(str(args.out / n) for n in shots)}")
    if REAL_MUSIC.is_file():
        real_music_check(REAL_MUSIC)
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if errors:
        print("console errors:", errors)
        return 1
    return 0


def report_films(ws):
    return [(p.stem, len(pd.read_parquet(p, columns=["cue_id"]))) for p in sorted(ws.layout.cues_dir.glob("*.parquet"))]


if __name__ == "__main__":
    raise SystemExit(main())
