"""The study's MIR feature set (Table 2), computed from one shared STFT and texture-windowed.

The study used MATLAB's MIRtoolbox (and Audio Toolbox for flatness and crest) with
default parameters; scorelens computes the same descriptors with librosa's filter banks
and NumPy/SciPy, each from its published definition (see :mod:`~scorelens.features._spectral`,
:mod:`~scorelens.features._tonal`, :mod:`~scorelens.features._rhythm`).

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
grid (:mod:`scorelens.features._grid`).

The study used MIRtoolbox's default frames, which differ per descriptor. The table puts
each descriptor's scorelens frame next to MIRtoolbox's default (read from the MIRtoolbox
1.7/1.8 sources: ``specif.defaultframelength``/``defaultframehop`` or the ``'Frame'``
key default; hops given as a fraction of the window there) and the frame of the
``mirtoolbox`` preset (``MIRConfig.preset("mirtoolbox")``, or ``MIRKind(preset="mirtoolbox")``,
or ``--set mir.preset=mirtoolbox`` on the command line). The preset keeps one shared STFT,
on ``mirframe``'s generic 50 ms / 50 % frame, the default of every spectrum-based
descriptor; where MIRtoolbox's own default differs (pitch, chroma, pulse clarity, and
Audio Toolbox's flatness and crest) the table says so.

=======================  ======================  ==================================  =====================
descriptor               scorelens default        MIRtoolbox default (study)          ``mirtoolbox`` preset
=======================  ======================  ==================================  =====================
rms                      93 ms / 23 ms            ``mirrms`` 50 ms / 25 ms (50 %)      50 ms / 25 ms
zcr                      93 ms / 23 ms            ``mirzerocross`` 50 ms / 25 ms       50 ms / 25 ms
mfcc, Δ, ΔΔ              93 ms / 23 ms            ``mirmfcc`` (``mirspectrum``)         50 ms / 25 ms
                                                  50 ms / 25 ms; Δ radius 2
centroid, spread,        93 ms / 23 ms            ``mirspectrum`` 50 ms / 25 ms        50 ms / 25 ms
skewness, kurtosis,
entropy
brightness               93 ms / 23 ms            ``mirbrightness`` 50 ms / 25 ms      50 ms / 25 ms
roughness                93 ms / 23 ms            ``mirroughness`` 50 ms / 25 ms       50 ms / 25 ms
flatness, crest          93 ms / 23 ms            Audio Toolbox ``spectralFlatness``/  50 ms / 25 ms
                                                  ``spectralCrest``: 30 ms / 10 ms
chroma                   93 ms / 23 ms            ``mirchromagram`` 200 ms / 10 ms     50 ms / 25 ms
                                                  (5 %)
key strength, key mode   1 s mean of chroma,      ``mirkeystrength`` help: 1 s / 50 %  1 s mean of chroma
                         every 23 ms              (source default 0.1 s / 12.5 %)
inharmonicity            93 ms / 23 ms            ``mirinharmonicity`` 100 ms /        50 ms / 25 ms
                                                  12.5 ms; its f0 ``mirpitch``
                                                  46.4 ms / 10 ms
tempo                    3 s / 0.25 s             ``mirtempo`` 3 s / 0.3 s (10 %)      3 s / 0.3 s
pulse clarity            3 s / 0.25 s             ``mirpulseclarity`` 5 s / 0.5 s      3 s / 0.3 s
                                                  (10 %)
=======================  ======================  ==================================  =====================

Level and undefined values
--------------------------
Every descriptor but ``dynamics/rms`` is invariant to the playback level (a gain moves its
clip means by well under 1 % of their spread across real clips; ``benchmarks/bench_mir_real.py``
measures it): the MFCCs' log-mel is floored relative to each frame's loudest band
(``mfcc_floor_db``; the energy coefficient 0, the only one a gain moves, is left out and
``dynamics/rms`` carries the level), onsets relative to the span's loudest cell, and
roughness is divided by the energy of the spectral peaks (``roughness_method="normalized"``;
``"mirtoolbox"`` restores MIRtoolbox's raw sum, which is defined on absolute level and grows
with its square). ``dynamics/rms`` is the only descriptor defined on absolute level.

Inharmonicity is undefined in a frame without a fundamental (MIRtoolbox's
``mirinharmonicity`` returns NaN there too): such frames are left out of the texture
statistics, and a texture window in which no frame has a pitch gets
:data:`UNPITCHED_INHARMONICITY` (0.5, the value of a spectrum unrelated to any fundamental)
with a standard deviation of 0, so the kind's output stays finite.

Tempo is likewise undefined where there is no pulse: a tempo frame whose onset curve is
flat (silence, a sustained sound) has none, and is left out of its texture window's tempo
mean and spread (a window half silent keeps the tempo of its other half, not half of it).
A window without any pulsed frame gets :data:`NO_PULSE_TEMPO` (0 BPM) with a spread of 0:
finite for models that read frames, and a mark that no real tempo carries. The grid does
not blend such a window with a pulsed neighbour, and a cue's tempo mean and spread are
over its pulsed frames only (0 if it has none; :func:`scorelens.features._pipeline.cue_level`).
Pulse clarity needs no such care: 0 is its value in silence.
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
from scorelens.features._base import FeatureKind, FrameFeatures
from scorelens.features._rhythm import onset_strength, tempo_frames
from scorelens.features._spectral import (
    acf_pitch,
    inharmonicity,
    spectral_brightness,
    spectral_crest,
    spectral_entropy,
    spectral_flatness,
    spectral_moments,
    spectral_roughness,
)
from scorelens.features._texture import texture_stats, texture_windows
from scorelens.features._tonal import key_features

__all__ = ["MIRKind", "ShortTimeFeatures", "short_time_features", "mir_descriptor_names", "chroma_filter",
           "PITCH_CLASSES", "UNPITCHED_INHARMONICITY", "NO_PULSE_TEMPO"]

#: Tempo (BPM) of a texture window in which no tempo frame has a pulse (silence, a sustained
#: sound): 0, which no tempo takes (tempi lie within ``[tempo_min_bpm, tempo_max_bpm]``), so it
#: marks the window; cue means leave such windows out (:data:`scorelens.features._groups.UNDEFINED_MARKS`).
NO_PULSE_TEMPO = 0.0

#: Inharmonicity given to a texture window in which no frame has a pitch: 0.5, the
#: energy-weighted mean of MIRtoolbox's sawtooth ``2|f/f0 - round(f/f0)|`` when the energy is
#: unrelated to the fundamental (white noise gives it for any f0), i.e. "no harmonic structure".
UNPITCHED_INHARMONICITY = 0.5

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
    """The ``group/feature`` names of the descriptors, in column order (before the statistics).

    Parameters
    ----------
    config : MIRConfig, optional
        Settings (``n_mfcc`` sets the number of MFCC names); the defaults if not given.

    Returns
    -------
    list of str [length 3 * n_mfcc + 28]
        Grouped in the order of :data:`scorelens.features._groups.PFI_GROUPS`.
    """
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
        NaN where a descriptor is undefined: ``tone/inharmonicity`` in frames without a pitch.
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

    Parameters
    ----------
    sr : int
        Sample rate (Hz).
    n_fft : int
        FFT length.
    fmin, fmax : float
        Frequency range (Hz) of the bins that count; bins outside it map to no class.

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
        Sample rate (Hz).
    config : MIRConfig, optional
        Settings; the defaults if not given.

    Returns
    -------
    ShortTimeFeatures
        STFT-rate descriptors [shape=(n_frames, n_spectral)] and tempo-rate rhythm
        descriptors [shape=(n_rhythm, 2)].

    Raises
    ------
    ParameterError
        If ``sr != config.sample_rate`` or ``y`` is not 1-D.
    FeatureError
        If ``y`` is shorter than one STFT hop.
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

    # MFCCs 1..n_mfcc on a 40-band log-mel spectrum floored relative to each frame's loudest
    # band. An absolute floor (-100 dB) made the MFCCs depend on the playback level: up to
    # 17 % of the cells of band-limited music sit on it, and moving the level moves them
    # on or off. A relative floor makes a gain a constant added to every band, which only
    # the left-out coefficient 0 (the energy, which dynamics/rms carries) sees. Per frame
    # rather than per cue, so a frame's MFCCs do not depend on the loudest frame of its cue.
    # The absolute 1e-30 only keeps digital silence finite (all bands equal: MFCCs 0).
    mel = mel_fb @ P  # (n_mels, n_frames)
    rel_floor = np.float32(10.0 ** (config.mfcc_floor_db / 10.0))
    log_mel = 10.0 * np.log10(np.maximum(mel, np.maximum(mel.max(axis=0, keepdims=True) * rel_floor,
                                                         np.float32(1e-30))))
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
                                               floor_db=config.roughness_floor_db,
                                               normalize=config.roughness_method == "normalized"),
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
    # Onsets from the log-mel floored relative to the span's loudest cell (librosa's top_db
    # of 80 dB): a gain then leaves the flux unchanged, while rises in level (which a
    # per-frame floor would hide) still count as onsets.
    onset_floor = max(float(mel.max()) * 1e-8, 1e-30)
    onset = onset_strength(log_S=10.0 * np.log10(np.maximum(mel, np.float32(onset_floor))))
    r_times, tempo, clarity = tempo_frames(onset=onset, fps=fps,
                                           frame_s=config.tempo_frame_s, hop_s=config.tempo_hop_s,
                                           min_bpm=config.tempo_min_bpm, max_bpm=config.tempo_max_bpm,
                                           prior_bpm=config.tempo_prior_bpm,
                                           prior_octaves=config.tempo_prior_octaves,
                                           continuity_octaves=config.tempo_continuity_octaves,
                                           anchor_octaves=config.tempo_anchor_octaves)
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
    preset : str, optional
        Start from :meth:`MIRConfig.preset` instead (``preset="mirtoolbox"``: MIRtoolbox's
        default frames); keywords still override single fields.
    """

    name = "mir"
    # 2: level-free MFCCs and onsets, normalised roughness, octave-consistent tempo within its
    # bounds, inharmonicity without unpitched frames (features of version 1 are recomputed).
    # 3: roughness at Sethares' published constants, with unbiased amplitudes of partials between bins;
    # tempo frames without a pulse left out of their texture window's tempo.
    version = "3"

    def __init__(self, config: MIRConfig | None = None, *, preset: str | None = None, **overrides):
        if preset is not None:
            if config is not None:
                raise ParameterError("give either config or preset, not both")
            config = MIRConfig.preset(preset)
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
        """Names of the feature columns, ``group/feature/statistic``.

        Returns
        -------
        list of str [length 2 * len(mir_descriptor_names(config))]
            Each descriptor's ``…/mean`` then ``…/std``.
        """
        return list(self._columns)

    def settings(self) -> dict:
        """Settings that change the output (recorded with stored features, part of their key).

        Returns
        -------
        dict
            The fields of :attr:`config` (:class:`~scorelens.config.MIRConfig`).
        """
        return dataclasses.asdict(self.config)

    def compute(self, audio: np.ndarray, sr: int) -> FrameFeatures:
        """Texture windows of the MIR descriptors of ``audio``.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,)]
            Mono float audio at ``sr`` == ``self.sample_rate``, finite.
        sr : int
            Sample rate (Hz).

        Returns
        -------
        FrameFeatures
            One frame per texture window, ``times`` at the windows' centres, columns
            :meth:`column_names` (``group/feature/mean`` and ``…/std``);
            ``values`` [shape=(n_windows, n_features), dtype=float32].

        Raises
        ------
        ParameterError
            If ``sr != self.sample_rate`` or ``audio`` is not 1-D.
        FeatureError
            If ``audio`` is shorter than one STFT hop.
        """
        st = short_time_features(audio, sr=sr, config=self.config)
        duration = audio.shape[0] / sr
        starts, ends = texture_windows(duration, window_s=self.config.texture_window_s,
                                       hop_s=self.config.texture_hop_s)
        m1, s1 = texture_stats(st.times, st.values, starts, ends)
        # Inharmonicity is NaN (undefined) in frames without a pitch; a window without any
        # pitched frame gets the value of a spectrum unrelated to any fundamental (see the
        # module docstring), with no spread.
        col = st.names.index("tone/inharmonicity")
        empty = ~np.isfinite(m1[:, col])
        m1[empty, col] = UNPITCHED_INHARMONICITY
        s1[empty, col] = 0.0
        # Tempo is undefined in a tempo frame without a pulse (silence, a sustained sound): such
        # frames are left out of the window's tempo, and a window with no pulsed frame gets
        # NO_PULSE_TEMPO, with no spread (see the module docstring).
        rhythm = st.rhythm_values.copy()
        tempo = st.rhythm_names.index("rhythm/tempo")
        rhythm[rhythm[:, tempo] <= 0, tempo] = np.nan
        m2, s2 = texture_stats(st.rhythm_times, rhythm, starts, ends)
        empty = ~np.isfinite(m2[:, tempo])
        m2[empty, tempo] = NO_PULSE_TEMPO
        s2[empty, tempo] = 0.0
        by_name = {}
        for names, mean, std in ((st.names, m1, s1), (st.rhythm_names, m2, s2)):
            for i, n in enumerate(names):
                by_name[f"{n}/mean"] = mean[:, i]
                by_name[f"{n}/std"] = std[:, i]
        values = np.stack([by_name[c] for c in self._columns], axis=1).astype(np.float32)
        return FrameFeatures(times=(starts + ends) / 2.0, values=values, names=self.column_names())
