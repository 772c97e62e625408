"""Tempo and pulse clarity from the autocorrelation of an onset-strength curve.

MIRtoolbox's ``mirtempo`` (default: onset detection curve, autocorrelation over frames,
40-200 BPM, with the Toiviainen-Snyder resonance curve that favours periods near 0.5 s)
and ``mirpulseclarity`` (default ``MaxAutocor``: the maximum of the normalised
autocorrelation; Lartillot, Eerola, Toiviainen & Fornari, "Multi-feature modeling of pulse
clarity: design, validation, and optimization", ISMIR 2008).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["onset_strength", "tempo_frames"]


def onset_strength(*, log_S: np.ndarray) -> np.ndarray:
    """Spectral flux: mean over bands of the positive frame-to-frame rise of a log spectrogram.

    Parameters
    ----------
    log_S : np.ndarray [shape=(n_bands, n_frames)]
        Log-magnitude (dB) spectrogram, e.g. mel bands.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        Onset strength, 0 at the first frame.
    """
    flux = np.maximum(np.diff(log_S, axis=1), 0.0).mean(axis=0)
    return np.concatenate([[0.0], flux])


def _resonance(lag_s: np.ndarray) -> np.ndarray:
    # Toiviainen & Snyder (2003), as in MIRtoolbox's mirautocor 'Resonance': a parabola in
    # log2(period) peaking at 0.5 s (120 BPM), zero beyond 0.125 s and 2 s.
    return np.maximum(1.0 - 0.25 * np.log2(np.maximum(lag_s, 1e-12) / 0.5) ** 2, 0.0)


def tempo_frames(*, onset: np.ndarray, fps: float, frame_s: float = 3.0, hop_s: float = 0.25,
                 min_bpm: float = 40.0, max_bpm: float = 200.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tempo and pulse clarity of consecutive frames of an onset curve.

    Each frame's onset curve has its mean removed and its autocorrelation is normalised
    by lag 0. Pulse clarity is the maximum over the lags of the tempo range of the
    unbiased autocorrelation (each lag divided by its number of products, so a strictly
    periodic onset train scores 1), clipped to [0, 1]; the tempo is the lag maximising
    the biased autocorrelation times the resonance curve, refined by parabolic
    interpolation.

    Parameters
    ----------
    onset : np.ndarray [shape=(n,)]
        Onset strength at ``fps`` frames per second.
    fps : float
    frame_s, hop_s : float
        Frame length and hop (s); a curve shorter than one frame makes one frame.
    min_bpm, max_bpm : float
        Tempo range.

    Returns
    -------
    times : np.ndarray [shape=(n_frames,)]
        Frame centres (s) from the start of the curve.
    tempo : np.ndarray [shape=(n_frames,)]
        BPM; 0 for a frame without onsets (silence or a constant sound): no pulse.
    clarity : np.ndarray [shape=(n_frames,)]
        In [0, 1]; 0 without onsets.
    """
    onset = np.asarray(onset, dtype=np.float64)
    # Low-pass the onset curve (a 5-frame Hann kernel, ~0.1 s), as MIRtoolbox's onset envelope
    # is smoothed: an onset falling between two frames then still peaks the autocorrelation at
    # its true period instead of splitting between two neighbouring lags.
    kernel = np.hanning(7)[1:-1]
    onset = np.convolve(onset, kernel / kernel.sum(), mode="same")
    length = max(2, min(int(round(frame_s * fps)), onset.size))
    hop = max(1, int(round(hop_s * fps)))
    if onset.size < length:
        onset = np.pad(onset, (0, length - onset.size))
    frames = sliding_window_view(onset, length)[::hop]  # (n_frames, length)
    times = (np.arange(frames.shape[0]) * hop + (length - 1) / 2.0) / fps
    x = frames - frames.mean(axis=1, keepdims=True)
    n_fft = 1 << int(np.ceil(np.log2(2 * length)))
    spec = np.fft.rfft(x, n=n_fft, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, n=n_fft, axis=1)[:, :length]
    energy = acf[:, 0] / length
    silent = energy <= 1e-12
    biased = acf / np.where(silent, 1.0, acf[:, 0])[:, None]
    # Unbiased (each lag divided by its number of products): a periodic train scores 1.
    acf = biased * length / (length - np.arange(length))
    lo = max(1, int(np.floor(fps * 60.0 / max_bpm)))
    hi = min(length - 2, int(np.ceil(fps * 60.0 / min_bpm)))
    if hi < lo:  # frame too short for the tempo range: use what there is
        hi = min(length - 2, lo)
        lo = min(lo, hi)
    lags = np.arange(lo, hi + 1)
    seg = acf[:, lo:hi + 1]
    clarity = np.clip(seg.max(axis=1), 0.0, 1.0)
    # The period is picked on the biased autocorrelation, whose natural taper (with the
    # resonance curve) favours the shortest of equally periodic lags (120 over 60 BPM).
    j = np.argmax(biased[:, lo:hi + 1] * _resonance(lags / fps)[None, :], axis=1)
    rows = np.arange(acf.shape[0])
    k = lags[j]
    y0 = biased[rows, k - 1]
    y1 = biased[rows, k]
    y2 = biased[rows, np.minimum(k + 1, length - 1)]
    denom = y0 - 2 * y1 + y2
    delta = np.where(np.abs(denom) > 1e-12, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    lag = k + np.clip(delta, -0.5, 0.5)
    tempo = 60.0 * fps / lag
    return times, np.where(silent, 0.0, tempo), np.where(silent, 0.0, clarity)
