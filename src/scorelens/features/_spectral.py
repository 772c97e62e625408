"""Spectral descriptors of the study's MIR set that librosa lacks, from their published definitions.

The study computed these with MATLAB's MIRtoolbox (and Audio Toolbox for flatness and
crest); each function here follows the definition its docstring cites. All of them work
on one shared spectrogram, so the MIR kind computes a single STFT per cue.

Shared vocabulary (librosa's): ``S`` is a magnitude spectrogram [shape=(n_bins, n_frames)],
``P`` a power spectrogram, ``freqs`` the bin centre frequencies [shape=(n_bins,)] in Hz.
Silent frames (all-zero columns) are given defined, finite values, documented per
function. The one NaN is deliberate: :func:`inharmonicity` of a frame without a
fundamental is undefined (NaN), and the texture statistics leave such frames out.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = ["spectral_moments", "spectral_flatness", "spectral_crest", "spectral_entropy",
           "spectral_brightness", "spectral_roughness", "acf_pitch", "inharmonicity"]

# Added to every bin so that a silent frame is a flat spectrum (finite descriptors) while
# changing nothing measurable in a frame with any signal in it (1e-20 is -400 dB).
_FLOOR = 1e-20


def spectral_moments(*, S: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroid, spread, skewness and kurtosis of the magnitude spectrum seen as a distribution.

    MIRtoolbox's ``mircentroid``, ``mirspread``, ``mirskewness`` and ``mirkurtosis``
    (Lartillot & Toiviainen, "A Matlab toolbox for musical feature extraction from audio",
    DAFx 2007): the first four moments of the frequency distribution whose weights are the
    normalised magnitudes. Kurtosis is not the excess one (a Gaussian gives 3).

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
        Magnitude spectrogram.
    freqs : np.ndarray [shape=(n_bins,)]
        Bin frequencies (Hz).

    Returns
    -------
    centroid, spread : np.ndarray [shape=(n_frames,)]
        In Hz. A silent frame is a flat spectrum: centroid at half the Nyquist frequency.
    skewness, kurtosis : np.ndarray [shape=(n_frames,)]
        Dimensionless (a flat spectrum: 0 and 1.8).
    """
    # Raw moments of normalised frequency (x in [0, 1]) in float64: central moments from raw
    # ones would lose all precision in Hz**4 with float32.
    nyq = float(freqs[-1]) if freqs[-1] > 0 else 1.0
    x = freqs.astype(np.float64) / nyq
    powers = np.stack([np.ones_like(x), x, x**2, x**3, x**4])  # (5, n_bins)
    m = powers @ S.astype(np.float64) + _FLOOR * powers.sum(axis=1, keepdims=True)  # (5, n_frames)
    m = m[1:] / m[0]
    mu = m[0]
    var = np.maximum(m[1] - mu**2, 0.0)
    sd = np.sqrt(var)
    c3 = m[2] - 3 * mu * m[1] + 2 * mu**3
    c4 = m[3] - 4 * mu * m[2] + 6 * mu**2 * m[1] - 3 * mu**4
    tiny = 1e-12
    skew = np.where(sd > 1e-6, c3 / np.maximum(sd**3, tiny), 0.0)
    kurt = np.where(sd > 1e-6, c4 / np.maximum(var**2, tiny), 0.0)
    return mu * nyq, sd * nyq, skew, kurt


def spectral_flatness(*, P: np.ndarray) -> np.ndarray:
    """Geometric over arithmetic mean of the power spectrum, in [0, 1].

    Audio Toolbox's ``spectralFlatness`` (the study's source for this feature), which uses
    the power spectrum by default; Johnston, "Transform coding of audio signals using
    perceptual noise criteria", IEEE JSAC 1988. White noise gives exp(-γ) ≈ 0.5615 (the
    power of each bin is exponentially distributed), a pure tone nearly 0, silence 1.

    Parameters
    ----------
    P : np.ndarray [shape=(n_bins, n_frames)]
        Power spectrogram.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
    """
    # The floor is relative to the frame's peak (-200 dB), so a gain scales every term alike
    # and leaves the ratio unchanged: with an absolute floor, near-empty bins (band-limited
    # recordings, fades) moved the geometric mean with the playback level. Below -170 dB
    # (digital silence) the absolute float32-safe floor takes over.
    floor = np.maximum(P.max(axis=0) * np.asarray(1e-20, dtype=P.dtype), np.asarray(1e-37, dtype=P.dtype))
    Pf = P + floor
    return np.exp(np.mean(np.log(Pf), axis=0, dtype=np.float64)) / np.mean(Pf, axis=0, dtype=np.float64)


def spectral_crest(*, P: np.ndarray) -> np.ndarray:
    """Peak over mean of the power spectrum (Audio Toolbox ``spectralCrest``, power by default).

    Parameters
    ----------
    P : np.ndarray [shape=(n_bins, n_frames)]

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        >= 1; a silent (flat) frame gives 1.
    """
    Pf = P + np.asarray(_FLOOR, dtype=P.dtype)
    return Pf.max(axis=0).astype(np.float64) / np.mean(Pf, axis=0, dtype=np.float64)


def spectral_entropy(*, S: np.ndarray) -> np.ndarray:
    """Relative Shannon entropy of the normalised magnitude spectrum, in [0, 1].

    MIRtoolbox's ``mirentropy``: ``-sum(p log p) / log(n_bins)`` with ``p = S / sum(S)``.
    A flat spectrum (and silence) gives 1; white noise slightly less (its magnitudes are
    Rayleigh-distributed, see the tests for the closed form); a pure tone nearly 0.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
    """
    W = S + np.asarray(_FLOOR, dtype=S.dtype)
    p = W / W.sum(axis=0, keepdims=True)
    return -(p * np.log(p)).sum(axis=0, dtype=np.float64) / np.log(S.shape[0])


def spectral_brightness(*, S: np.ndarray, freqs: np.ndarray, cutoff_hz: float = 1500.0) -> np.ndarray:
    """Share of the magnitude spectrum above ``cutoff_hz``, in [0, 1].

    MIRtoolbox's ``mirbrightness`` (default cut-off 1500 Hz; Juslin, "Cue utilization in
    communication of emotion in music performance", 2000). A silent (flat) frame gives the
    share of bins above the cut-off.

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
    freqs : np.ndarray [shape=(n_bins,)]
    cutoff_hz : float

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
    """
    W = S + np.asarray(_FLOOR, dtype=S.dtype)
    first = int(np.searchsorted(freqs, cutoff_hz, side="left"))  # freqs increase
    total = W.sum(axis=0, dtype=np.float64)
    return W[first:].sum(axis=0, dtype=np.float64) / total


# Sethares' fit of Plomp & Levelt's dissonance curve ("Local consonance and the relationship
# between timbre and scale", JASA 94(3), 1993), with the constants of his published
# ``dissmeasure`` program, which MIRtoolbox's ``mirroughness`` uses (the paper rounds them to
# b1=3.5, s1=0.021, s2=19).
_SETHARES_B1, _SETHARES_B2 = 3.51, 5.75
_SETHARES_DSTAR, _SETHARES_S1, _SETHARES_S2 = 0.24, 0.0207, 18.96


def spectral_roughness(*, S: np.ndarray, freqs: np.ndarray, max_peaks: int = 32,
                       floor_db: float = -30.0, normalize: bool = True) -> np.ndarray:
    """Sensory roughness: Sethares' dissonance summed over every pair of spectral peaks.

    MIRtoolbox's ``mirroughness`` (default method ``Sethares``): find the spectral peaks
    of each frame, and add ``a_i a_j (exp(-b1 s Δf) - exp(-b2 s Δf))`` over all pairs of
    peaks, where ``s = d* / (s1 min(f_i, f_j) + s2)`` (Sethares, JASA 1993; constants
    b1=3.51, b2=5.75, d*=0.24, s1=0.0207, s2=18.96, those of Sethares' ``dissmeasure`` and of
    MIRtoolbox), which puts the maximum of a pair's dissonance (0.18) at about a quarter of
    the critical bandwidth (Plomp & Levelt, "Tonal consonance and critical bandwidth", JASA
    38, 1965). The frequency and amplitude of a partial lying between bins are recovered
    from the ratio of the peak bin to its larger neighbour, which is exact for a sinusoid
    under the Hann window the MIR kind's STFT uses (``S`` from another window gets slightly
    biased amplitudes). Partials closer than about two bins (21.5 Hz with the MIR kind's
    2048-point frames at 22050 Hz) are one peak, so the roughness between them is not seen.

    That raw sum grows with the square of the level: on real music it is mostly loudness
    (rank correlation 0.90 with RMS across clips). With ``normalize`` (the default) it is
    divided by the energy of the peaks, ``sum a_i^2``, which makes it a level-free
    dissonance: two sines of equal amplitude give half their pair's dissonance, whatever
    the amplitude. ``normalize=False`` is MIRtoolbox's raw form (with ``S`` scaled so that
    a sine of amplitude A peaks at A, two sines of amplitude 1 give the pair's dissonance).

    Parameters
    ----------
    S : np.ndarray [shape=(n_bins, n_frames)]
        Magnitude spectrogram.
    freqs : np.ndarray [shape=(n_bins,)]
        Bin frequencies (Hz), equally spaced.
    max_peaks : int
        Only the strongest ``max_peaks`` peaks of each frame are paired (cost is quadratic).
    floor_db : float
        Peaks weaker than the frame's maximum by more than this are ignored: the side lobes
        of a Hann window sit at -31.5 dB and are not partials.
    normalize : bool
        Divide by the peaks' energy (level-free, the default) or not (MIRtoolbox's raw sum).

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        >= 0; 0 for a frame with fewer than two peaks (a sine, silence). Normalised values
        are below 0.09 (half the curve's maximum, 0.18, for a single pair).
    """
    n_bins, n_frames = S.shape
    if n_bins < 3 or n_frames == 0:
        return np.zeros(n_frames)
    mid = S[1:-1]
    floor = S.max(axis=0) * np.asarray(10.0 ** (floor_db / 20.0), dtype=S.dtype)
    is_peak = (mid > S[:-2]) & (mid >= S[2:]) & (mid >= floor) & (mid > 0)
    # Peaks are sparse: rank them within each frame from the list of peaks rather than
    # partitioning the whole spectrogram.
    frames, bins = np.nonzero(is_peak.T)  # sorted by frame
    amps = mid[bins, frames]
    order = np.lexsort((-amps, frames))
    frames, bins, amps = frames[order], bins[order], amps[order]
    first = np.searchsorted(frames, frames, side="left")
    rank = np.arange(frames.size) - first
    keep = rank < max_peaks
    k = max(2, min(max_peaks, int(rank.max()) + 1 if rank.size else 2))
    idx = np.zeros((k, n_frames), dtype=np.int64)  # bins - 1; unused slots point at bin 1 with a = 0
    a = np.zeros((k, n_frames))
    idx[rank[keep], frames[keep]] = bins[keep]
    a[rank[keep], frames[keep]] = amps[keep]
    b = idx + 1
    # A partial between two bins: its offset from the peak bin and its amplitude, from the ratio
    # of the larger neighbour to the peak, exact for one sinusoid under a Hann window (Grandke,
    # "Interpolation algorithms for discrete Fourier transforms of weighted signals", IEEE TIM
    # 32, 1983): delta = (2r - 1) / (r + 1), and the peak bin holds a * W(delta) with the Hann
    # main lobe W(d) = sinc(d) / (1 - d^2) (1 at d = 0, -1.42 dB at d = 0.5). A parabola through
    # the log-magnitudes overstates a partial half-way between bins by 3.7 %.
    s0, s_lo, s_hi = (np.take_along_axis(S, b + o, axis=0).astype(np.float64) for o in (0, -1, 1))
    upper = s_hi >= s_lo
    ratio = np.where(upper, s_hi, s_lo) / np.where(s0 > 0, s0, 1.0)
    delta = np.clip((2.0 * ratio - 1.0) / (ratio + 1.0), 0.0, 0.5) * np.where(upper, 1.0, -1.0)
    a = np.where(a > 0, s0 * (1.0 - delta**2) / np.sinc(delta), 0.0)
    df = float(freqs[1] - freqs[0])
    f = (b + delta) * df + float(freqs[0])  # (k, n_frames)
    iu, ju = np.triu_indices(k, 1)
    fi, fj = f[iu].astype(np.float32), f[ju].astype(np.float32)  # (n_pairs, n_frames)
    s = np.float32(_SETHARES_DSTAR) / (np.float32(_SETHARES_S1) * np.minimum(fi, fj) + np.float32(_SETHARES_S2))
    sd = s * np.abs(fi - fj)
    d = np.exp(np.float32(-_SETHARES_B1) * sd) - np.exp(np.float32(-_SETHARES_B2) * sd)
    a32 = a.astype(np.float32)
    raw = np.einsum("pn,pn->n", a32[iu] * a32[ju], d).astype(np.float64)
    if not normalize:
        return raw
    energy = np.einsum("kn,kn->n", a, a)
    return np.where(energy > 0, raw / np.where(energy > 0, energy, 1.0), 0.0)


def acf_pitch(*, P: np.ndarray, sr: int, n_fft: int, fmin: float = 75.0, fmax: float = 2400.0) -> np.ndarray:
    """Fundamental frequency of each frame from its autocorrelation, computed from the power spectrum.

    MIRtoolbox's ``mirpitch`` default (autocorrelation, 75-2400 Hz): the autocorrelation
    is the inverse FFT of the power spectrum (Wiener-Khinchin), so it reuses the shared
    STFT; the pitch is the lag of the highest local maximum within the lag range, refined
    by parabolic interpolation.

    Parameters
    ----------
    P : np.ndarray [shape=(1 + n_fft // 2, n_frames)]
        Power spectrogram.
    sr : int
    n_fft : int
    fmin, fmax : float
        Pitch range (Hz).

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        f0 in Hz, within ``[fmin, fmax]``; 0 for frames without any autocorrelation peak in
        range (silence, noise-like frames): no pitch.
    """
    acf = scipy.fft.irfft(P, n=n_fft, axis=0)  # (n_fft, n_frames), in P's precision
    # Lags whose frequency lies within the bounds (ceil / floor: neither end is exceeded).
    lag_min, lag_max = sr / fmax, sr / fmin
    lo = max(1, int(np.ceil(lag_min - 1e-9)))
    hi = min(n_fft // 2 - 1, int(np.floor(lag_max + 1e-9)))
    seg = acf[lo - 1:hi + 2]  # neighbours for the local-maximum test
    mid = seg[1:-1]
    is_max = (mid > seg[:-2]) & (mid >= seg[2:]) & (mid > 0)
    score = np.where(is_max, mid, -np.inf)
    j = np.argmax(score, axis=0)  # (n_frames,)
    found = np.isfinite(score[j, np.arange(score.shape[1])])
    y0 = seg[j, np.arange(seg.shape[1])]
    y1 = seg[j + 1, np.arange(seg.shape[1])]
    y2 = seg[j + 2, np.arange(seg.shape[1])]
    denom = y0 - 2 * y1 + y2
    delta = np.where(np.abs(denom) > 1e-30, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    lag = np.clip(lo + j + np.clip(delta, -0.5, 0.5), lag_min, lag_max)
    return np.where(found, sr / lag, 0.0)


def inharmonicity(*, P: np.ndarray, freqs: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Share of spectral energy away from the harmonics of ``f0``, in [0, 1].

    MIRtoolbox's ``mirinharmonicity``: each frequency is weighted by its distance to the
    nearest multiple of the fundamental, a sawtooth that is 0 on the harmonics and 1
    half-way between them, ``r(f) = 2 |f/f0 - round(f/f0)|``; inharmonicity is the
    energy-weighted mean of ``r``. A harmonic tone gives nearly 0, white noise 0.5.

    Parameters
    ----------
    P : np.ndarray [shape=(n_bins, n_frames)]
        Power spectrogram.
    freqs : np.ndarray [shape=(n_bins,)]
    f0 : np.ndarray [shape=(n_frames,)]
        Fundamental frequency per frame (Hz); ``f0 <= 0`` means no pitch.

    Returns
    -------
    np.ndarray [shape=(n_frames,)]
        NaN for frames without a pitch: harmonicity is undefined there, and 0 would claim
        a perfectly harmonic tone (see :mod:`scorelens.features._mir` for what a texture
        window without any pitched frame gets).
    """
    has = f0 > 0
    ratio = freqs.astype(np.float32)[:, None] / np.where(has, f0, 1.0).astype(np.float32)[None, :]
    r = np.abs(ratio - np.round(ratio))
    r *= 2.0
    Pf = P + np.asarray(_FLOOR, dtype=P.dtype)
    value = np.einsum("bn,bn->n", r, Pf).astype(np.float64) / Pf.sum(axis=0, dtype=np.float64)
    return np.where(has, value, np.nan)
