"""Speed of the MIR feature set on one core, against one library call per feature.

Prints how many times faster than real time the MIR kind runs (features only, and with
decoding a FLAC track), and the same for a naive extraction that computes each feature
with its own library call (each call recomputing its own STFT, as a script calling
librosa feature by feature would), texture-windowed identically. The ratio naive / ours
is what sharing one STFT and one set of filter banks buys.

Usage::

    python benchmarks/bench_mir.py [--seconds 120] [--repeat 3]

Pinned to one core (``sched_setaffinity``; BLAS/OpenMP threads set to 1 before NumPy
loads). Times are process CPU time, which other load on the machine does not inflate;
wall time is printed too.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from scorelens.config import MIRConfig  # noqa: E402
from scorelens.demo._media import write_audio  # noqa: E402
from scorelens.features import _spectral as spectral  # noqa: E402
from scorelens.features import _tonal as tonal  # noqa: E402
from scorelens.features._mir import MIRKind, chroma_filter  # noqa: E402
from scorelens.features._rhythm import tempo_frames  # noqa: E402
from scorelens.features._texture import texture_stats, texture_windows  # noqa: E402
from scorelens.io._audio import load_audio  # noqa: E402


def music_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Chords of harmonic tones changing every 2 s, a drum-like click track and some noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for start in np.arange(0, seconds, 2.0):
        i0, i1 = int(start * sr), min(n, int((start + 2.0) * sr))
        root = 48 + rng.integers(0, 12)
        for m in (root, root + 4 + rng.integers(0, 2) * -1, root + 7):
            f = 440 * 2 ** ((m - 69) / 12)
            for h in range(1, 6):
                y[i0:i1] += 0.08 / h * np.sin(2 * np.pi * f * h * t[i0:i1])
    for beat in np.arange(0, seconds, 0.5):
        i = int(beat * sr)
        y[i:i + 400] += 0.5 * rng.standard_normal(min(400, n - i)) * np.hanning(400)[: min(400, n - i)]
    y += 0.01 * rng.standard_normal(n)
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def naive(y: np.ndarray, sr: int, cfg: MIRConfig) -> np.ndarray:
    """The same descriptors, one library call each, every call computing its own spectrogram."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)

    def mag():
        return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))

    rows = [
        librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop),
        librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop, tuning=0.0),
    ]
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=cfg.n_mfcc + 1, n_fft=n_fft, hop_length=hop,
                                n_mels=cfg.n_mels)[1:]
    rows += [mfcc,
             librosa.feature.delta(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=cfg.n_mfcc + 1, n_fft=n_fft,
                                                        hop_length=hop, n_mels=cfg.n_mels)[1:], width=5),
             librosa.feature.delta(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=cfg.n_mfcc + 1, n_fft=n_fft,
                                                        hop_length=hop, n_mels=cfg.n_mels)[1:], width=5, order=2),
             librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=n_fft, hop_length=hop),
             librosa.feature.spectral_bandwidth(y=y, sr=sr, n_fft=n_fft, hop_length=hop),
             librosa.feature.spectral_flatness(y=y, n_fft=n_fft, hop_length=hop),
             librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)]
    # Descriptors librosa lacks: each from its own spectrogram.
    rows.append(spectral.spectral_crest(P=mag() ** 2)[None])
    rows.append(spectral.spectral_moments(S=mag(), freqs=freqs)[2][None])
    rows.append(spectral.spectral_moments(S=mag(), freqs=freqs)[3][None])
    rows.append(spectral.spectral_entropy(S=mag())[None])
    rows.append(spectral.spectral_brightness(S=mag(), freqs=freqs)[None])
    rows.append(spectral.spectral_roughness(S=mag(), freqs=freqs)[None])
    f0 = librosa.yin(y, fmin=cfg.pitch_min_hz, fmax=cfg.pitch_max_hz, sr=sr, frame_length=n_fft, hop_length=hop)
    rows.append(spectral.inharmonicity(P=mag() ** 2, freqs=freqs, f0=f0)[None])
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, n_fft=n_fft, hop_length=hop, tuning=0.0)
    rows += [tonal.key_features(chroma=chroma)[0][None], tonal.key_features(chroma=chroma)[1][None]]
    n = min(r.shape[1] for r in rows)
    values = np.concatenate([r[:, :n] for r in rows]).T
    onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop)
    r_times, tempo, clarity = tempo_frames(onset=onset, fps=sr / hop)
    librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop, aggregate=None)
    starts, ends = texture_windows(y.size / sr, window_s=cfg.texture_window_s, hop_s=cfg.texture_hop_s)
    m1, s1 = texture_stats(np.arange(n) * hop / sr, values, starts, ends)
    m2, s2 = texture_stats(r_times, np.stack([clarity, tempo], 1), starts, ends)
    return np.concatenate([m1, s1, m2, s2], axis=1)


def timed(fn, repeat: int) -> tuple[float, float]:
    best_cpu = best_wall = np.inf
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        best_cpu = min(best_cpu, time.process_time() - c)
        best_wall = min(best_wall, time.perf_counter() - w)
    return best_cpu, best_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="audio length (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    kind = MIRKind()
    cfg, sr = kind.config, kind.sample_rate
    y = music_like(args.seconds, sr)
    kind.compute(y[: 3 * sr], sr)  # warm caches (filter banks, FFT plans)
    naive(y[: 3 * sr], sr, cfg)
    chroma_filter(sr=sr, n_fft=cfg.n_fft)

    with tempfile.TemporaryDirectory() as tmp:
        track = write_audio(Path(tmp) / "track.flac", y, sr)
        cpu, wall = timed(lambda: kind.compute(y, sr), args.repeat)
        cpu_dec, wall_dec = timed(lambda: kind.compute(load_audio(track, sample_rate=sr), sr), args.repeat)
    cpu_naive, wall_naive = timed(lambda: naive(y, sr, cfg), max(1, args.repeat - 1))
    d = args.seconds
    print(f"MIR set, {kind.dim} columns, {d:.0f} s of audio at {sr} Hz, one core")
    print(f"  scorelens (shared STFT)         {d / cpu:8.1f}x real time  (cpu {cpu:.3f}s, wall {wall:.3f}s)")
    print(f"  scorelens incl. FLAC decoding   {d / cpu_dec:8.1f}x real time  (cpu {cpu_dec:.3f}s, "
          f"wall {wall_dec:.3f}s)")
    print(f"  one library call per feature    {d / cpu_naive:8.1f}x real time  (cpu {cpu_naive:.3f}s, "
          f"wall {wall_naive:.3f}s)")
    print(f"  speed-up over per-feature calls {cpu_naive / cpu:8.1f}x")


if __name__ == "__main__":
    main()
