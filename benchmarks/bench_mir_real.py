"""The MIR descriptors on real recorded music, against independent implementations.

Cuts ``--clips`` clips (``--seconds`` long, default 40 x 30 s) from a folder of real
recordings (default: Wesnoth's soundtrack as Debian ships it, ``apt-get install
wesnoth-1.16-music``; any folder of .ogg/.flac/.wav/.mp3 files works) and prints, per
descriptor:

* ``rank r``: Spearman correlation, across clips, of scorelens's clip mean with the clip
  mean of an independent implementation: librosa where it has the descriptor, otherwise
  a few lines written here from the published definition on librosa's own STFT (named in
  the ``reference`` column);
* ``gain -6/-20 dB``: how far the clip means move when the clip is played 6 and 20 dB
  quieter, as a percentage of the descriptor's standard deviation across clips (mean and
  maximum over clips). Everything but ``dynamics/rms`` should stay below 1 %.

Then tempo: octave-tolerant accuracy (within 8 % of the reference, or of half or double
it) of the clip tempo (median of the texture windows' tempo means, what a model sees)
against ``librosa.feature.tempo`` and the tempo of ``librosa.beat.beat_track``, how often
those two agree, the share of texture windows whose tempo SD exceeds 15 % of their mean,
and the range of frame tempi against the configured bounds.

Usage::

    python benchmarks/bench_mir_real.py [MUSIC_DIR] [--clips 40] [--seconds 30]

The references are slow (pYIN, CQT chroma) and do not depend on scorelens, so they are
cached in ``--cache`` (keyed by the clip list); delete it to recompute. The music is never
copied anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import scipy.ndimage
import scipy.signal
import scipy.stats
import soundfile as sf

from scorelens.config import MIRConfig
from scorelens.features._mir import PITCH_CLASSES, MIRKind, short_time_features

DEFAULT_DIR = Path("/usr/share/games/wesnoth/1.16/data/core/music")
SR = 22050
N_FFT, HOP = 2048, 512
EXTENSIONS = {".ogg", ".oga", ".flac", ".wav", ".mp3"}

# Krumhansl-Kessler probe-tone profiles (Krumhansl 1990, Table 2.1), typed in again here
# rather than imported, so the key reference does not share code with scorelens.
_KK_MAJ = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]
_KK_MIN = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]


def pick_clips(folder: Path, n_clips: int, seconds: float) -> list[tuple[str, float]]:
    """``(path, start_s)`` of ``n_clips`` clips: one per track at 25 % of its length, then
    second clips at 65 % of the longest tracks, so every track is used before any twice."""
    tracks = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    durations = {p: sf.info(p).duration for p in tracks}
    usable = [p for p in tracks if durations[p] >= seconds + 5]
    clips = [(str(p), round(0.25 * (durations[p] - seconds), 2)) for p in usable]
    for p in sorted(usable, key=lambda p: -durations[p]):
        if durations[p] >= 2.2 * seconds:
            clips.append((str(p), round(0.65 * (durations[p] - seconds), 2)))
    return clips[:n_clips]


def load_clip(path: str, start: float, seconds: float) -> np.ndarray:
    y, _ = librosa.load(path, sr=SR, mono=True, offset=start, duration=seconds)
    return y.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Independent references, one clip mean (or vector of means) each.


def _sethares_dissonance(freqs: np.ndarray, amps: np.ndarray) -> float:
    """Sethares' ``dissmeasure`` (Tuning, Timbre, Spectrum, Scale, 2nd ed. 2005, App. E):
    sum over pairs of ``min(a_i, a_j) (exp(-3.5 s df) - exp(-5.75 s df))``,
    ``s = 0.24 / (0.0207 f_min + 18.96)``."""
    if freqs.size < 2:
        return 0.0
    i, j = np.triu_indices(freqs.size, 1)
    fmin = np.minimum(freqs[i], freqs[j])
    s = 0.24 / (0.0207 * fmin + 18.96)
    df = np.abs(freqs[i] - freqs[j])
    return float(np.sum(np.minimum(amps[i], amps[j]) * (np.exp(-3.5 * s * df) - np.exp(-5.75 * s * df))))


def ref_dissonance(S: np.ndarray, freqs: np.ndarray, n_peaks: int = 20) -> float:
    """Clip mean of per-frame sensory dissonance over the ``n_peaks`` strongest spectral
    peaks (scipy's peak finder, within 40 dB of the frame maximum), amplitudes divided by
    the frame's largest peak: a level-free Plomp-Levelt/Sethares dissonance."""
    values = []
    for col in S.T[::2]:  # every other frame: plenty for a 30 s mean
        if col.max() <= 0:
            continue
        peaks, props = scipy.signal.find_peaks(col, height=col.max() * 10 ** (-40 / 20))
        if peaks.size < 2:
            values.append(0.0)
            continue
        top = peaks[np.argsort(props["peak_heights"])[::-1][:n_peaks]]
        values.append(_sethares_dissonance(freqs[top], col[top] / col[top].max()))
    return float(np.mean(values)) if values else 0.0


def ref_key(chroma: np.ndarray) -> tuple[float, float]:
    """Clip means of key strength (best of 24 Pearson correlations with the KK profiles) and
    mode (best major minus best minor), on 1 s averages of a CQT chromagram."""
    k = max(1, int(round(SR / HOP)))
    c = scipy.ndimage.uniform_filter1d(chroma, k, axis=1)
    maj = np.array([np.roll(_KK_MAJ, i) for i in range(12)])
    mnr = np.array([np.roll(_KK_MIN, i) for i in range(12)])
    strength, mode = [], []
    for col in c.T[::4]:
        if np.ptp(col) == 0:
            continue
        rmaj = [scipy.stats.pearsonr(col, p)[0] for p in maj]
        rmin = [scipy.stats.pearsonr(col, p)[0] for p in mnr]
        strength.append(max(max(rmaj), max(rmin)))
        mode.append(max(rmaj) - max(rmin))
    return float(np.mean(strength)), float(np.mean(mode))


def references(y: np.ndarray, cfg: MIRConfig) -> dict[str, float]:
    """Independent clip means, keyed by scorelens descriptor name (plus tempo references)."""
    out: dict[str, float] = {}
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    P = S**2
    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    out["dynamics/rms"] = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP).mean()
    out["timbre/centroid"] = librosa.feature.spectral_centroid(S=S, sr=SR).mean()
    out["timbre/spread"] = librosa.feature.spectral_bandwidth(S=S, sr=SR, p=2).mean()
    out["timbre/flatness"] = librosa.feature.spectral_flatness(S=S, power=2.0).mean()
    out["timbre/zcr"] = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP).mean()
    # Moments of the magnitude distribution with scipy.stats on the bin frequencies.
    w = S[:, ::4] + 1e-12
    out["timbre/skewness"] = np.mean([_weighted_moment(freqs, c, 3) for c in w.T])
    out["timbre/kurtosis"] = np.mean([_weighted_moment(freqs, c, 4) for c in w.T])
    out["timbre/crest"] = np.mean(P.max(axis=0) / np.maximum(P.mean(axis=0), 1e-30))
    out["tone/entropy"] = np.mean(scipy.stats.entropy(S[:, ::4] + 1e-12, axis=0) / np.log(S.shape[0]))
    out["tone/brightness"] = np.mean(S[freqs >= cfg.brightness_cutoff_hz].sum(0) / np.maximum(S.sum(0), 1e-30))
    out["timbre/roughness"] = ref_dissonance(S, freqs)
    mel = librosa.feature.melspectrogram(S=P, sr=SR, n_mels=cfg.n_mels)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=cfg.n_mfcc + 1)[1:]
    d1 = librosa.feature.delta(mfcc, width=cfg.delta_width, order=1)
    d2 = librosa.feature.delta(mfcc, width=cfg.delta_width, order=2)
    for i in range(cfg.n_mfcc):
        out[f"mfcc/mfcc_{i + 1:02d}"] = mfcc[i].mean()
        # Clip means of deltas are ~0 by construction; compare their spread instead.
        out[f"delta_mfcc/delta_mfcc_{i + 1:02d}"] = d1[i].std()
        out[f"delta2_mfcc/delta2_mfcc_{i + 1:02d}"] = d2[i].std()
    chroma = librosa.feature.chroma_stft(S=P, sr=SR, tuning=0.0)
    for i, pc in enumerate(PITCH_CLASSES):
        out[f"pitch/chroma_{pc}"] = chroma[i].mean()
    cq = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP)
    out["tone/key_strength"], out["tone/key_mode"] = ref_key(cq)
    # Inharmonicity (MIRtoolbox's definition) on pYIN's voiced frames only.
    f0, voiced, _ = librosa.pyin(y, fmin=cfg.pitch_min_hz, fmax=cfg.pitch_max_hz, sr=SR, frame_length=N_FFT,
                                 hop_length=HOP)
    n = min(f0.size, P.shape[1])
    vals = []
    for j in np.flatnonzero(voiced[:n] & np.isfinite(f0[:n])):
        r = 2 * np.abs(freqs / f0[j] - np.round(freqs / f0[j]))
        vals.append(np.sum(r * P[:, j]) / max(P[:, j].sum(), 1e-30))
    out["tone/inharmonicity"] = float(np.mean(vals)) if vals else 0.5
    out["voiced_fraction"] = float(np.mean(voiced[:n]))
    onset = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP)
    out["tempo_librosa"] = float(librosa.feature.tempo(onset_envelope=onset, sr=SR, hop_length=HOP)[0])
    out["tempo_beat_track"] = float(np.atleast_1d(librosa.beat.beat_track(onset_envelope=onset, sr=SR,
                                                                        hop_length=HOP)[0])[0])
    return {k: float(v) for k, v in out.items()}


def ref_pulse_clarity(y: np.ndarray, cfg: MIRConfig) -> float:
    """Clip mean of MIRtoolbox's ``MaxAutocor`` pulse clarity on librosa's onset envelope: per
    3 s frame (hop 1 s), the maximum over the 40-200 BPM lags of the mean-removed onset
    curve's autocorrelation (``librosa.autocorrelate``) normalised by lag 0. Cheap, so it is
    not cached."""
    onset = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP)
    fps = SR / HOP
    n = int(round(cfg.tempo_frame_s * fps))
    lo, hi = int(np.ceil(fps * 60 / cfg.tempo_max_bpm)), int(np.floor(fps * 60 / cfg.tempo_min_bpm))
    values = []
    for start in range(0, onset.size - n + 1, int(round(fps))):
        x = onset[start:start + n] - onset[start:start + n].mean()
        ac = librosa.autocorrelate(x)
        if ac[0] > 0:
            values.append(np.max(ac[lo:min(hi, n - 1) + 1]) / ac[0])
    return float(np.mean(values)) if values else 0.0


def _weighted_moment(freqs: np.ndarray, w: np.ndarray, order: int) -> float:
    p = w / w.sum()
    mu = np.sum(p * freqs)
    sd = np.sqrt(np.sum(p * (freqs - mu) ** 2))
    return float(np.sum(p * ((freqs - mu) / sd) ** order))


# --------------------------------------------------------------------------------------------


def octave_ok(est: float, ref: float, tol: float = 0.08) -> bool:
    return any(abs(est - m * ref) <= tol * m * ref for m in (0.5, 1.0, 2.0))


def scorelens_means(kind: MIRKind, y: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    ff = kind.compute(y, SR)
    means = {n[: -len("/mean")]: float(ff.values[:, i].mean()) for i, n in enumerate(ff.names) if n.endswith("/mean")}
    # Deltas: compare the texture-window SD (what varies across clips), as for the reference.
    for i, n in enumerate(ff.names):
        if n.startswith("delta") and n.endswith("/std"):
            means[n[: -len("/std")]] = float(ff.values[:, i].mean())
    col = {n: ff.values[:, i] for i, n in enumerate(ff.names)}
    return means, col


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("music_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/scorelens_bench_mir_real_refs.json"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.music_dir.is_dir() or not any(p.suffix.lower() in EXTENSIONS for p in args.music_dir.iterdir()):
        sys.exit(f"bench_mir_real: no music in {args.music_dir}: install Debian's wesnoth-1.16-music "
                 "(apt-get install wesnoth-1.16-music) or pass a folder of .ogg/.flac/.wav/.mp3 files")
    clips = pick_clips(args.music_dir, args.clips, args.seconds)
    kind = MIRKind()
    cfg = kind.config
    key = hashlib.sha256(json.dumps([clips, args.seconds, librosa.__version__]).encode()).hexdigest()[:16]
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    refs = cache.get(key)
    t0 = time.perf_counter()
    audio = [load_clip(p, s, args.seconds) for p, s in clips]
    if refs is None:
        refs = [references(y, cfg) for y in audio]
        cache[key] = refs
        args.cache.write_text(json.dumps(cache))
    for rf, y in zip(refs, audio):
        rf["rhythm/pulse_clarity"] = ref_pulse_clarity(y, cfg)
    t_ref = time.perf_counter() - t0
    gains = (0.0, -6.0, -20.0)
    ours = {g: [] for g in gains}
    cols = []
    frame_tempi = []
    t1 = time.perf_counter()
    for y in audio:
        for g in gains:
            m, c = scorelens_means(kind, (y * np.float32(10 ** (g / 20))).astype(np.float32))
            ours[g].append(m)
            if g == 0.0:
                cols.append(c)
    t_ours = time.perf_counter() - t1
    unpitched = []
    for y in audio:
        st = short_time_features(y, sr=SR, config=cfg)
        frame_tempi.append(st.rhythm_values[:, 1])
        # Frames without an f0: NaN inharmonicity (0 before version 2 of the kind).
        inh = st.values[:, st.names.index("tone/inharmonicity")]
        unpitched.append(np.mean(~np.isfinite(inh) | (inh == 0)))
    names = list(ours[0.0][0])
    base = {n: np.array([m[n] for m in ours[0.0]]) for n in names}
    print(f"{len(clips)} clips of {args.seconds:.0f} s from {len(set(p for p, _ in clips))} tracks in "
          f"{args.music_dir} (references {t_ref:.0f} s incl. loading; scorelens at 3 gains {t_ours:.0f} s)")
    print(f"{'descriptor':34s} {'rank r':>7s}  {'-6dB mean/max %':>16s}  {'-20dB mean/max %':>17s}  reference")
    figures = {}
    for n in names:
        spread = base[n].std()
        row = {}
        for g in gains[1:]:
            moved = np.abs(np.array([m[n] for m in ours[g]]) - base[n]) / (spread if spread > 0 else 1.0) * 100
            row[g] = (float(moved.mean()), float(moved.max()))
        r = np.nan
        if n in refs[0]:
            r = scipy.stats.spearmanr(base[n], [rf[n] for rf in refs]).statistic
        ref_name = {"timbre/roughness": "Sethares dissmeasure, own", "tone/inharmonicity": "pYIN voiced + def., own",
                    "tone/key_strength": "CQT chroma + KK, own", "tone/key_mode": "CQT chroma + KK, own",
                    "rhythm/pulse_clarity": "MaxAutocor on librosa onsets, own",
                    "rhythm/tempo": "(see below)"}.get(n, "librosa" if n.split("/")[0] in (
                        "mfcc", "delta_mfcc", "delta2_mfcc", "pitch", "dynamics") or n in (
                        "timbre/centroid", "timbre/spread", "timbre/flatness", "timbre/zcr")
            else "own, from definition")
        if n.startswith("delta"):
            ref_name += " (window SD)"
        figures[n] = {"rank_r": float(r), "gain_-6": row[-6.0], "gain_-20": row[-20.0]}
        print(f"{n:34s} {r:7.3f}  {row[-6.0][0]:7.2f}/{row[-6.0][1]:7.2f}  {row[-20.0][0]:8.2f}/{row[-20.0][1]:7.2f}"
              f"  {ref_name}")
    rms = base["dynamics/rms"]
    print(f"roughness vs rms rank r: {scipy.stats.spearmanr(base['timbre/roughness'], rms).statistic:.3f}")
    tempo = np.array([np.median(c["rhythm/tempo/mean"]) for c in cols])
    t_lib = np.array([rf["tempo_librosa"] for rf in refs])
    t_bt = np.array([rf["tempo_beat_track"] for rf in refs])
    acc_lib = np.mean([octave_ok(a, b) for a, b in zip(tempo, t_lib)])
    acc_bt = np.mean([octave_ok(a, b) for a, b in zip(tempo, t_bt)])
    agree = np.mean([octave_ok(a, b) for a, b in zip(t_bt, t_lib)])
    sd_ratio = np.concatenate([c["rhythm/tempo/std"] / np.maximum(c["rhythm/tempo/mean"], 1e-9) for c in cols])
    ft = np.concatenate(frame_tempi)
    ft = ft[ft > 0]
    print(f"tempo octave-tolerant accuracy (8 %, x1/2, x2): vs librosa.feature.tempo {acc_lib:.3f}, "
          f"vs beat_track {acc_bt:.3f}; the two references agree on {agree:.3f}")
    print(f"texture windows with tempo SD > 15 % of mean: {np.mean(sd_ratio > 0.15):.3f}; frame tempi "
          f"{ft.min():.1f}-{ft.max():.1f} BPM (bounds {cfg.tempo_min_bpm:g}-{cfg.tempo_max_bpm:g})")
    voiced = np.mean([rf["voiced_fraction"] for rf in refs])
    print(f"frames without an f0 (scorelens): mean {np.mean(unpitched):.3f}, max {np.max(unpitched):.3f} per clip; "
          f"pYIN voiced fraction (reference) {voiced:.3f}")
    figures["tempo"] = {"acc_librosa": float(acc_lib), "acc_beat_track": float(acc_bt), "ref_agree": float(agree),
                        "windows_sd_over_15pct": float(np.mean(sd_ratio > 0.15)),
                        "frame_tempo_range": [float(ft.min()), float(ft.max())]}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
