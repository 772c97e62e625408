"""The study's MIR feature set (Table 2), computed from one shared STFT and texture-windowed.

The study used MATLAB's MIRtoolbox (and Audio Toolbox for flatness and crest) with
default parameters; scorelens computes the same descriptors with librosa's filter banks
and NumPy/SciPy, each from its published definition (see :mod:`~scorelens.features.spectral`,
:mod:`~scorelens.features.tonal`, :mod:`~scorelens.features.rhythm`).

Columns are named ``group/feature/statistic``; the group is one of the eight feature groups
of the study's permutation feature importance (Fig 3): ``mfcc``, ``delta_mfcc``,
``delta2_mfcc`` (split out of Table 2's Timbre type, as the study does for PFI), ``dynamics``,
``pitch``, ``rhythm``, ``timbre`` and ``tone``.

=============  ==============================================================  =====
group          features (each with ``mean`` and ``std`` over a texture window)  count
=============  ==============================================================  =====
mfcc           ``mfcc_01`` … ``mfcc_13``                                        13
delta_mfcc     ``delta_mfcc_01`` … ``delta_mfcc_13``                            13
delta2_mfcc    ``delta2_mfcc_01`` … ``delta2_mfcc_13``                          13
dynamics       ``rms``                                                          1
pitch          ``chroma_C`` … ``chroma_B``                                      12
rhythm         ``pulse_clarity``, ``tempo`` (BPM)                               2
timbre         ``roughness``, ``centroid`` (Hz), ``crest``, ``flatness``,       8
               ``kurtosis``, ``skewness``, ``spread`` (Hz), ``zcr`` (per s)
tone           ``key_mode``, ``key_strength``, ``brightness``, ``entropy``,     5
               ``inharmonicity``
=============  ==============================================================  =====

67 descriptors x 2 statistics = 134 columns. The study reports 140 features after
texture windowing, i.e. 70 descriptors: Table 2 does not list the three more it must have
counted (plausibly MIRtoolbox's ``mirkey`` output, the key itself, and a second pulse or
key output), and a key index is a category that a mean and standard deviation do not
describe, so scorelens keeps exactly Table 2's list.

Frames
------
Short-time features use one STFT (``n_fft=2048``, ``hop_length=512`` at 22050 Hz: 93 ms
windows, 43 frames per second); tempo and pulse clarity use 3 s frames of the onset curve
(hop 0.25 s); key strength and mode use the chromagram averaged over 1 s. Everything is
texture-windowed (5 s windows, 33 % overlap, hop 3.35 s); the kind's native frames are the
texture windows, centred at their mid-points, which the pipeline puts on the common 1 Hz
grid (:mod:`scorelens.features.grid`).
"""

from __future__ import annotations

import dataclasses
import functools

import librosa
import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter1d

from scorelens.config import MIRConfig
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.features.base import FeatureKind, FrameFeatures
from scorelens.features.rhythm import onset_strength, tempo_frames
from scorelens.features.spectral import (acf_pitch, inharmonicity, spectral_brightness, spectral_crest,
                                         spectral_entropy, spectral_flatness, spectral_moments,
                                         spectral_roughness)
from scorelens.features.texture import texture_stats, texture_windows
from scorelens.features.tonal import key_features

__all__ = ["MIRKind", "ShortTimeFeatures", "short_time_features", "mir_descriptor_names", "chroma_filter",
           "PITCH_CLASSES"]

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_STATS = ("mean", "std")


def _spectral_names(config: MIRConfig) -> list[str]:
    n = config.n_mfcc
    return ([f"mfcc/mfcc_{i:02d}" for i in range(1, n + 1)]
            + [f"delta_mfcc/delta_mfcc_{i:02d}" for i in range(1, n + 1)]
            + [f"delta2_mfcc/delta2_mfcc_{i:02d}" for i in range(1, n + 1)]
            + ["dynamics/rms"]
            + [f"pitch/chroma_{p}" for p in PITCH_CLASSES]
            + [f"timbre/{f}" for f in ("roughness", "centroid", "crest", "flatness", "kurtosis", "skewness",
                                       "spread", "zcr")]
            + [f"tone/{f}" for f in ("key_mode", "key_strength", "brightness", "entropy", "inharmonicity")])


_RHYTHM_NAMES = ["rhythm/pulse_clarity", "rhythm/tempo"]


def _group_order(name: str) -> int:
    return ("mfcc", "delta_mfcc", "delta2_mfcc", "dynamics", "pitch", "rhythm", "timbre", "tone").index(
        name.split("/")[0])


def mir_descriptor_names(config: MIRConfig | None = None) -> list[str]:
    """The ``group/feature`` names of the descriptors, in column order (before the statistics)."""
    config = config or MIRConfig()
    names = _spectral_names(config) + _RHYTHM_NAMES
    return sorted(names, key=_group_order)  # stable: keeps the order within each group


@dataclasses.dataclass(frozen=True)
class ShortTimeFeatures:
    """Short-time descriptors of one span, before texture windowing.

    Attributes
    ----------
    times : np.ndarray [shape=(n_frames,)]
        STFT frame centres (s).
    values : np.ndarray [shape=(n_frames, n_spectral)]
    names : list of str
    rhythm_times : np.ndarray [shape=(n_rhythm,)]
        Tempo frame centres (s).
    rhythm_values : np.ndarray [shape=(n_rhythm, 2)]
        Pulse clarity and tempo.
    rhythm_names : list of str
    """

    times: np.ndarray
    values: np.ndarray
    names: list[str]
    rhythm_times: np.ndarray
    rhythm_values: np.ndarray
    rhythm_names: list[str]


def chroma_filter(*, sr: int, n_fft: int, fmin: float = 100.0, fmax: float = 5000.0) -> np.ndarray:
    """Bin-to-pitch-class map of MIRtoolbox's ``mirchromagram``: each FFT bin in [fmin, fmax] adds
    its energy to the pitch class nearest its frequency (equal temperament, A4 = 440 Hz).

    librosa's chroma filters spread every bin over neighbouring classes with Gaussian
    bumps (13 % on each neighbour even for a bin on a pitch class), which blurs triads
    enough to turn a major key mode minor; the hard assignment does not.

    Returns
    -------
    np.ndarray [shape=(12, 1 + n_fft // 2), dtype=float32]
        Row 0 is C.
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    fb = np.zeros((12, freqs.size), dtype=np.float32)
    keep = (freqs >= fmin) & (freqs <= fmax)
    pc = np.mod(np.round(12 * np.log2(freqs[keep] / 440.0)).astype(int) + 9, 12)
    fb[pc, np.flatnonzero(keep)] = 1.0
    return fb


@functools.lru_cache(maxsize=8)
def _filter_banks(sr: int, n_fft: int, n_mels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    chroma = chroma_filter(sr=sr, n_fft=n_fft, fmax=min(5000.0, sr / 2))
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    return mel, chroma, window, freqs


def _frame_sums(x: np.ndarray, n_frames: int, n_fft: int, hop: int) -> np.ndarray:
    # Sum of x over each centred STFT frame [k*hop - n_fft/2, k*hop + n_fft/2). When n_fft/2 is
    # a multiple of hop (the default), from per-hop block sums; otherwise from a cumulative sum.
    pad = n_fft // 2
    if pad % hop == 0 and n_fft % 2 == 0:
        n_blocks = n_frames + 2 * (pad // hop)
        xp = np.zeros(n_blocks * hop, dtype=x.dtype)
        xp[pad:pad + x.size] = x[: max(0, min(x.size, xp.size - pad))]
        blocks = xp.reshape(n_blocks, hop).sum(axis=1, dtype=np.float64)
        c = np.concatenate([[0.0], np.cumsum(blocks)])
        per = n_fft // hop
        return c[per:per + n_frames] - c[:n_frames]
    xp = np.concatenate([np.zeros(pad), x.astype(np.float64), np.zeros(pad)])
    c = np.concatenate([[0.0], np.cumsum(xp)])
    starts = np.arange(n_frames) * hop
    ends = np.minimum(starts + n_fft, xp.size)
    return c[ends] - c[starts]


def short_time_features(y: np.ndarray, *, sr: int = 22050, config: MIRConfig | None = None) -> ShortTimeFeatures:
    """Short-time MIR descriptors of a mono signal, from one STFT.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio at ``sr`` (== ``config.sample_rate``), finite.
    sr : int
    config : MIRConfig, optional

    Returns
    -------
    ShortTimeFeatures
    """
    config = config or MIRConfig()
    if sr != config.sample_rate:
        raise ParameterError(f"sr={sr} must equal config.sample_rate={config.sample_rate}")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"audio shape {y.shape} must be (n,) mono")
    if y.size < config.hop_length:
        raise FeatureError(f"audio of {y.size} samples ({y.size / sr:.3f}s) is shorter than one STFT hop "
                           f"({config.hop_length} samples)")
    n_fft, hop = config.n_fft, config.hop_length
    mel_fb, chroma_fb, window, freqs = _filter_banks(sr, n_fft, config.n_mels)
    # Centred frames with zero padding, as librosa.stft(center=True, pad_mode="constant"),
    # without librosa's first-call set-up cost (seconds per process).
    pad = n_fft // 2
    frames = sliding_window_view(np.pad(y, pad), n_fft)[::hop]  # (n_frames, n_fft)
    X = scipy.fft.rfft(frames * window, axis=1)  # (n_frames, n_bins), complex64
    # Scale so that a sine of amplitude A peaks at A (Hann: sum(window) / 2).
    S = np.ascontiguousarray(np.abs(X).T) * np.float32(2.0 / window.sum())  # (n_bins, n_frames)
    P = S**2
    n_frames = S.shape[1]
    times = np.arange(n_frames) * hop / sr

    # Dynamics: RMS of the centred frame, in the time domain.
    rms = np.sqrt(np.maximum(_frame_sums(y * y, n_frames, n_fft, hop), 0.0) / n_fft)
    # Zero crossings (negative to positive, MIRtoolbox's default direction) per second.
    up = np.zeros(y.size, dtype=np.float32)
    up[1:] = (y[:-1] < 0) & (y[1:] >= 0)
    zcr = _frame_sums(up, n_frames, n_fft, hop) / (n_fft / sr)

    # MFCCs 1..n_mfcc on a 40-band log-mel spectrum with an absolute floor (-100 dB), so a
    # cue's values do not depend on its loudest frame.
    log_mel = 10.0 * np.log10(mel_fb @ P + 1e-10)  # (n_mels, n_frames)
    mfcc = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[1:config.n_mfcc + 1]
    mode = "interp" if n_frames >= config.delta_width else "nearest"
    d_mfcc = librosa.feature.delta(mfcc, width=config.delta_width, order=1, axis=-1, mode=mode)
    dd_mfcc = librosa.feature.delta(mfcc, width=config.delta_width, order=2, axis=-1, mode=mode)

    # Chroma (max-normalised per frame; silent frames stay 0), then key on a 1 s average.
    chroma = chroma_fb @ P
    peak = chroma.max(axis=0, keepdims=True)
    chroma = chroma / np.where(peak > 1e-20, peak, 1.0)
    chroma = np.where(peak > 1e-20, chroma, 0.0)
    key_len = max(1, int(round(config.key_frame_s * sr / hop)))
    key_strength, key_mode = key_features(chroma=uniform_filter1d(chroma, size=key_len, axis=1, mode="nearest"))

    centroid, spread, skewness, kurtosis = spectral_moments(S=S, freqs=freqs)
    f0 = acf_pitch(P=P, sr=sr, n_fft=n_fft, fmin=config.pitch_min_hz, fmax=config.pitch_max_hz)
    columns = {
        "mfcc": mfcc, "delta_mfcc": d_mfcc, "delta2_mfcc": dd_mfcc,
        "dynamics/rms": rms,
        "pitch": chroma,
        "timbre/roughness": spectral_roughness(S=S, freqs=freqs, max_peaks=config.roughness_max_peaks,
                                               floor_db=config.roughness_floor_db),
        "timbre/centroid": centroid,
        "timbre/crest": spectral_crest(P=P),
        "timbre/flatness": spectral_flatness(P=P),
        "timbre/kurtosis": kurtosis,
        "timbre/skewness": skewness,
        "timbre/spread": spread,
        "timbre/zcr": zcr,
        "tone/key_mode": key_mode,
        "tone/key_strength": key_strength,
        "tone/brightness": spectral_brightness(S=S, freqs=freqs, cutoff_hz=config.brightness_cutoff_hz),
        "tone/entropy": spectral_entropy(S=S),
        "tone/inharmonicity": inharmonicity(P=P, freqs=freqs, f0=f0),
    }
    values = np.concatenate([np.atleast_2d(v).reshape(-1, n_frames) for v in columns.values()], axis=0).T

    fps = sr / hop
    r_times, tempo, clarity = tempo_frames(onset=onset_strength(log_S=log_mel), fps=fps,
                                           frame_s=config.tempo_frame_s, hop_s=config.tempo_hop_s,
                                           min_bpm=config.tempo_min_bpm, max_bpm=config.tempo_max_bpm)
    return ShortTimeFeatures(times=times, values=values, names=_spectral_names(config),
                             rhythm_times=r_times, rhythm_values=np.stack([clarity, tempo], axis=1),
                             rhythm_names=list(_RHYTHM_NAMES))


class MIRKind(FeatureKind):
    """The study's MIR set as a feature kind: texture windows of the Table 2 descriptors.

    Parameters
    ----------
    config : MIRConfig, optional
        Settings; any field can also be given as a keyword (``MIRKind(n_fft=4096)``).
        Unknown keywords raise :class:`~scorelens.exceptions.ParameterError`.
    """

    name = "mir"
    version = "1"

    def __init__(self, config: MIRConfig | None = None, **overrides):
        config = config or MIRConfig()
        if overrides:
            known = {f.name for f in dataclasses.fields(MIRConfig)}
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise ParameterError(f"unknown MIR setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.sample_rate = config.sample_rate
        self.frame_rate_hz = 1.0 / config.texture_hop_s
        descriptors = mir_descriptor_names(config)
        self._columns = [f"{d}/{s}" for d in descriptors for s in _STATS]
        # Where each descriptor sits in the short-time arrays.
        self._spectral_names = _spectral_names(config)

    def __repr__(self) -> str:
        return f"MIRKind({self.config!r})"

    def column_names(self) -> list[str]:
        return list(self._columns)

    def settings(self) -> dict:
        return dataclasses.asdict(self.config)

    def compute(self, audio: np.ndarray, sr: int) -> FrameFeatures:
        """Texture windows of the MIR descriptors of ``audio``.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,)]
            Mono float audio at ``sr`` == ``self.sample_rate``, finite.
        sr : int

        Returns
        -------
        FrameFeatures
            One frame per texture window, ``times`` at the windows' centres, columns
            :meth:`column_names` (``group/feature/mean`` and ``…/std``).
        """
        st = short_time_features(audio, sr=sr, config=self.config)
        duration = audio.shape[0] / sr
        starts, ends = texture_windows(duration, window_s=self.config.texture_window_s,
                                       hop_s=self.config.texture_hop_s)
        m1, s1 = texture_stats(st.times, st.values, starts, ends)
        m2, s2 = texture_stats(st.rhythm_times, st.rhythm_values, starts, ends)
        by_name = {}
        for names, mean, std in ((st.names, m1, s1), (st.rhythm_names, m2, s2)):
            for i, n in enumerate(names):
                by_name[f"{n}/mean"] = mean[:, i]
                by_name[f"{n}/std"] = std[:, i]
        values = np.stack([by_name[c] for c in self._columns], axis=1).astype(np.float32)
        return FrameFeatures(times=(starts + ends) / 2.0, values=values, names=self.column_names())
