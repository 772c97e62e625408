"""Typed settings of every stage, with the study's defaults in one place.

The CLI builds these dataclasses from its options and passes them explicitly; nothing
reads files or the environment at import time. Each output written to a workspace is
accompanied by the resolved settings that produced it (see :mod:`scorelens.workspace`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

from scorelens.exceptions import ParameterError

__all__ = ["StamperConfig", "SPEED_RANGE", "MIRConfig", "FeatureConfig", "VisualConfig", "EmbeddingConfig",
           "ModelConfig", "ImportanceConfig", "CrossModalConfig", "FigureConfig", "ReportConfig", "RunConfig",
           "StudyConfig", "SETTINGS_SECTIONS", "parse_assignments", "settings_digest", "DEFAULT_GENRES"]

#: The study's six IMDb genres ("Film genre" section); a corpus may declare its own taxonomy.
DEFAULT_GENRES: tuple[str, ...] = ("Action", "Comedy", "Drama", "Horror", "Romance", "Science Fiction")


def settings_digest(obj) -> str:
    """Return a short stable digest of a settings dataclass (or any JSON-able value).

    Parameters
    ----------
    obj : dataclass instance or JSON-serialisable value

    Returns
    -------
    str
        16 hex digits of the BLAKE2b hash of the canonical JSON form.
    """
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


#: Speed factors the stamper supports (track seconds per film second): 25/24 PAL speed-up,
#: its inverse, and tape or vinyl transfers, with a margin.
SPEED_RANGE: tuple[float, float] = (0.90, 1.10)


@dataclass(frozen=True)
class StamperConfig:
    """Settings of the Score Stamper (fingerprinting, window matching and cue building).

    The analysis settings (``sample_rate`` … ``max_dt``) define the hashes and are
    recorded in the fingerprint database; a database built with other analysis settings
    is refused. Matching and cue settings can change freely between runs.

    Every input is resampled to ``sample_rate`` and every frame index is turned into
    seconds with this same object (``frame_seconds``), so times are right whatever the
    file's native rate (Dejavu's 44.1 kHz constant gave wrong times at 48 kHz).
    """

    # --- analysis (stored in the database) ---
    sample_rate: int = 11025
    """Rate every input is resampled to (Hz); 11025 Hz keeps the 0-5.5 kHz band where melodic peaks live."""
    n_fft: int = 1024
    """STFT window (samples): 93 ms at 11025 Hz, the same duration as Dejavu's 4096 at 44.1 kHz."""
    hop_length: int = 256
    """STFT hop (samples): 23.2 ms, the time resolution of peaks and hence of cue boundaries."""
    min_freq_hz: float = 100.0
    """Peaks below this frequency are ignored (rumble, effects, hum)."""
    max_freq_hz: float = 5000.0
    """Peaks above this frequency are ignored (above it codecs cut and resamplers roll off)."""
    peak_time_radius: int = 6
    """A track peak is the maximum of its ±radius frames neighbourhood (±139 ms)."""
    peak_freq_radius: int = 8
    """… and of its ±radius bins neighbourhood (±86 Hz)."""
    index_peaks_per_second: float = 22.0
    """Peak density kept when indexing a track (the strongest local maxima in each second)."""
    query_peaks_per_second: float = 60.0
    """Peak density kept when stamping a film: denser than the index, so that peaks masked by dialogue
    still leave the music's peaks in the query (audfprint's asymmetric densities). On the 2-hour
    benchmark film, 60/s with fan-out 20 had recall 0.971 at -10 dB; 45/s with fan-out 15 was 18%
    faster, but cue boundaries in faded or masked onsets then slipped past a second in the tests,
    so the denser setting stays the default (it stamps at 386x real time since the matching was
    made faster)."""
    query_peak_time_radius: int = 5
    """Film peaks use a smaller neighbourhood than track peaks, so that music peaks beside louder
    dialogue survive as local maxima (tuned in benchmarks/bench_stamp.py: recall at -10 dB)."""
    query_peak_freq_radius: int = 6
    fan_out: int = 6
    """Each anchor peak is paired with up to this many later peaks in its target zone (index side)."""
    query_fan_out: int = 20
    """Fan-out on the query side, larger to cover the denser query peaks."""
    max_dt: int = 63
    """Target zone length in frames (1.46 s); fits the hash's 6-bit Δt field."""
    max_df: int = 63
    """Target zone half-height in bins; fits the hash's 7-bit signed Δf field."""

    # --- matching ---
    window_s: float = 5.0
    """Film windows are this long (the study's 5 s, Fig 1)."""
    hop_s: float = 5.0
    """… and start this far apart (non-overlapping in the study)."""
    offset_tolerance_frames: int = 1
    """Votes within ±this many frames of one film-to-track offset count together (grid jitter)."""
    min_votes: int = 5
    """A window is matched when its best (track, offset) has at least this many aligned hashes."""
    min_votes_single: int = 15
    """A cue resting on one window alone needs this many votes: an isolated weak hit is more often
    a shared sound (a drum sample, a common figure) than a real cue."""
    min_spread_bins: int = 3
    """… and its aligned hashes must fall in at least this many ``spread_bin_s`` bins of the window."""
    spread_bin_s: float = 0.5
    min_vote_ratio: float = 2.0
    """… and at least this many times the votes of the best other track (0 disables)."""

    # --- cue building ---
    max_gap_windows: int = 1
    """Missed windows bridged between two hits of one track at one offset (Fig 1's bridged window)."""
    offset_jump_s: float = 1.0
    """Two hits of one track whose track offsets differ by more than this are separate cues."""
    refine: bool = True
    """Refine cue boundaries from the film times of the aligned hashes (beyond the study's 5 s steps)."""
    refine_bin_s: float = 0.5
    """Time bins used to find the first and last stretch of aligned hashes."""
    refine_min_hits: int = 2
    """A bin belongs to the cue when it holds at least this many aligned hashes. At another speed, film
    anchors less than ``refine_bin_s`` apart form a stretch, and the cue runs from the first to the last
    stretch of more than this many anchors (anchors, not hashes: one film peak on a track peak by
    chance brings several of its hashes along, and passes at other speeds meet such chance more often)."""
    refine_max_gap_bins: int = 3
    """Boundaries extend through bins with any aligned hash across gaps of up to this many empty bins
    (fades leave aligned hashes sparse, and chance ones at exactly the cue's track and offset are rare);
    at another speed only to stretches of ``refine_min_hits`` anchors within the voting tolerance, across
    as much time ((this + 2) × ``refine_bin_s``)."""
    min_cue_s: float = 1.0
    """Cues shorter than this after refinement are dropped."""

    # --- films at another speed (see scorelens.stamp._speed) ---
    speed: str | float = "auto"
    """Speed at which the film plays the soundtrack (track seconds per film second): ``"auto"``
    stamps at 1.0 and probes the rest of the film for music at any factor in 0.90-1.10, pitched
    with the speed or pitch-corrected; a number stamps at that factor only (1.0: no probing, the
    stamper as it was before speed handling)."""
    speed_probe_windows: int = 48
    """At most this many windows (about four minutes of film) are probed for music at other speeds."""
    speed_probe_share: float = 0.15
    """The probe looks at this share of the film's windows, taken from those the 1.0 pass left
    unexplained (not matched, or matched on less than 70 % of the window): screening a window
    under the probe's grid of speeds costs about half as much as decoding and stamping one at
    1.0, so the probe costs under a tenth of the 1.0 pass whatever the film's length."""
    speed_probe_min_windows: int = 4
    """… but at least this many (20 s of film; all of them when fewer are unexplained), so that a
    short film (a trailer, an advertisement, a sting) is probed too; no probe at all when fewer than
    two windows are unexplained (at most 5 s of music, too little to matter)."""
    speed_probe_fan_out: int = 10
    """Fan-out of the probe's film hashes: enough to detect a speed, half the cost of the full one."""
    speed_pitch_step: float = 0.004
    """Step of the probe's grid of pitched speed-ups: a peak's bin moves with the speed, and 0.2 %
    off at the top bin (464) loses most hashes, so this grid is finer than the time-stretch one."""
    speed_stretch_step: float = 0.01
    """Step of the probe's grid of pitch-corrected time-stretches: 0.5 % off drifts a 5 s window by
    one frame and a 63-frame landmark by a third of a frame, within the vote tolerance."""
    speed_drift_min: float = 0.005
    """Music matched at 1.0 whose windows' offsets drift by this much per frame or more (over three
    windows or more) is stamped again at the factor the drift measures: stretches of 1-2 % at
    constant pitch that the probe's grid leaves to 1.0 (see scorelens.stamp._speed.drift_speed)."""
    speed_dt_fuzz: int = 1
    """Time-stretched films also look up each hash with Δt ± this many frames: a phase vocoder
    jitters peak times, and this nearly doubled the aligned hashes in a trial at 25/24."""

    # --- whole-index stamping against a library of tracks (see scorelens.stamp._library) ---
    library_sample: int = 8
    """The library index holds one hash value in this many (the same values for every track and
    film): the candidate search needs a few aligned hashes per cue, not all of them, and this
    divides the index's size and the search's cost alike."""
    library_cap: int = 48
    """Postings kept per hash value in the library index: a popular hash keeps a fixed random
    sample of this many (it still votes, less), instead of all of them or none. Its every posting
    is used again when the candidate tracks are matched in full."""
    library_chunk_s: float = 30.0
    """The candidate search counts aligned hashes over film chunks this long."""
    library_min_votes: int = 4
    """A track is a candidate when a chunk holds this many of its hashes at one offset (±1 frame)."""

    def __post_init__(self) -> None:
        positive = ("sample_rate", "n_fft", "hop_length", "peak_time_radius", "peak_freq_radius",
                    "query_peak_time_radius", "query_peak_freq_radius",
                    "fan_out", "query_fan_out", "max_dt", "max_df", "min_votes", "min_votes_single",
                    "library_sample", "library_cap", "library_min_votes")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if self.hop_length > self.n_fft:
            raise ParameterError(f"hop_length={self.hop_length} must not exceed n_fft={self.n_fft}")
        if not 0 <= self.min_freq_hz < self.max_freq_hz <= self.sample_rate / 2:
            raise ParameterError(
                f"min_freq_hz={self.min_freq_hz} and max_freq_hz={self.max_freq_hz} must satisfy "
                f"0 <= min < max <= sample_rate/2={self.sample_rate / 2}")
        if self.max_freq_bin >= 1 << 10:
            raise ParameterError(
                f"max_freq_hz={self.max_freq_hz} with n_fft={self.n_fft} reaches bin {self.max_freq_bin}, "
                "beyond the hash's 10-bit frequency field (< 1024)")
        if self.max_dt >= 1 << 6:
            raise ParameterError(f"max_dt={self.max_dt} must be < 64 (6-bit Δt field of the hash)")
        if self.max_df >= 1 << 6:
            raise ParameterError(f"max_df={self.max_df} must be < 64 (7-bit signed Δf field of the hash)")
        for name in ("index_peaks_per_second", "query_peaks_per_second", "window_s", "hop_s",
                     "refine_bin_s", "library_chunk_s"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.hop_s > self.window_s:
            raise ParameterError(f"hop_s={self.hop_s} must not exceed window_s={self.window_s} "
                                 "(windows would leave gaps)")
        if self.max_gap_windows < 0 or self.offset_tolerance_frames < 0 or self.min_vote_ratio < 0:
            raise ParameterError("max_gap_windows, offset_tolerance_frames and min_vote_ratio must be >= 0")
        if self.speed != "auto":
            lo, hi = SPEED_RANGE
            if isinstance(self.speed, str) or not lo <= float(self.speed) <= hi:
                raise ParameterError(f"speed={self.speed!r} must be 'auto' or a factor in {lo:.2f}-{hi:.2f}")
        if (self.speed_probe_windows < 1 or self.speed_probe_fan_out < 1 or self.speed_dt_fuzz < 0
                or self.speed_probe_min_windows < 1):
            raise ParameterError("speed_probe_windows, speed_probe_min_windows and speed_probe_fan_out must be >= 1, "
                                 "speed_dt_fuzz >= 0")
        if not 0 < self.speed_probe_share <= 1:
            raise ParameterError(f"speed_probe_share={self.speed_probe_share} must be in (0, 1]")
        if not (0 < self.speed_pitch_step < 0.05 and 0 < self.speed_stretch_step < 0.05):
            raise ParameterError(f"speed_pitch_step={self.speed_pitch_step} and speed_stretch_step="
                                 f"{self.speed_stretch_step} must be in (0, 0.05)")
        if not 0 < self.speed_drift_min < 0.05:
            raise ParameterError(f"speed_drift_min={self.speed_drift_min} must be in (0, 0.05)")

    # Derived quantities, computed from this one object wherever times are converted.
    @property
    def frame_seconds(self) -> float:
        """Seconds per STFT frame (``hop_length / sample_rate``)."""
        return self.hop_length / self.sample_rate

    @property
    def min_freq_bin(self) -> int:
        return int(round(self.min_freq_hz * self.n_fft / self.sample_rate))

    @property
    def max_freq_bin(self) -> int:
        return int(round(self.max_freq_hz * self.n_fft / self.sample_rate))

    def analysis_settings(self) -> dict:
        """The settings that define the hashes; stored in and checked against the database."""
        names = ("sample_rate", "n_fft", "hop_length", "min_freq_hz", "max_freq_hz", "peak_time_radius",
                 "peak_freq_radius", "index_peaks_per_second", "fan_out", "max_dt", "max_df")
        return {n: getattr(self, n) for n in names}


# Settings of later stages are added below, one frozen dataclass per stage.


@dataclass(frozen=True)
class MIRConfig:
    """Settings of the MIR feature kind (the study's Table 2 set; see :mod:`scorelens.features._mir`).

    Short-time features share one STFT (``n_fft``/``hop_length`` at ``sample_rate``);
    rhythm and key features use longer frames built from it; everything is then
    texture-windowed (mean and standard deviation over ``texture_window_s`` windows with
    ``texture_overlap``), as in the study's "MIR features" section.
    """

    sample_rate: int = 22050
    """Rate the audio is decoded at (Hz)."""
    n_fft: int = 2048
    """STFT window (samples): 93 ms at 22050 Hz."""
    hop_length: int = 512
    """STFT hop (samples): 23 ms, 43 frames per second."""
    n_mels: int = 40
    """Mel bands under the MFCCs (MIRtoolbox's ``mirmfcc`` uses 40)."""
    n_mfcc: int = 13
    """MFCC coefficients kept, 1..n_mfcc (coefficient 0, the energy, is left out as in MIRtoolbox's default
    ``Rank`` 1:13)."""
    delta_width: int = 5
    """Frames of the regression behind Δ and ΔΔ MFCCs (MIRtoolbox's default radius 2)."""
    brightness_cutoff_hz: float = 1500.0
    """Spectral brightness is the share of the magnitude spectrum above this frequency (MIRtoolbox's default)."""
    pitch_min_hz: float = 75.0
    """Lowest fundamental searched for inharmonicity (MIRtoolbox ``mirpitch`` default)."""
    pitch_max_hz: float = 2400.0
    """Highest fundamental searched for inharmonicity (MIRtoolbox ``mirpitch`` default)."""
    mfcc_floor_db: float = -80.0
    """Log-mel cells under the MFCCs are floored this far below their frame's loudest band (librosa's
    ``top_db``), so the MFCCs describe the spectral shape whatever the playback level."""
    roughness_max_peaks: int = 32
    """Strongest spectral peaks per frame entering Sethares' pairwise roughness."""
    roughness_floor_db: float = -30.0
    """Peaks weaker than the frame's strongest by more than this are ignored (below it: window side lobes)."""
    roughness_method: str = "normalized"
    """``normalized``: Sethares' dissonance over the frame's peaks divided by their energy, a
    level-free sensory dissonance (the default); ``mirtoolbox``: MIRtoolbox's raw sum
    ``sum a_i a_j d(f_i, f_j)``, which grows with the square of the level (mostly loudness on real music)."""
    tempo_frame_s: float = 3.0
    """Frame of the onset-curve autocorrelation behind tempo and pulse clarity (MIRtoolbox ``mirtempo`` frame)."""
    tempo_hop_s: float = 0.25
    """Hop of the tempo frames."""
    tempo_min_bpm: float = 40.0
    """Slowest tempo considered (MIRtoolbox default)."""
    tempo_max_bpm: float = 200.0
    """Fastest tempo considered (MIRtoolbox default)."""
    tempo_prior_bpm: float = 120.0
    """Centre of the log-normal prior over tempo that settles octave ambiguity (librosa's ``start_bpm``)."""
    tempo_prior_octaves: float = 1.0
    """Standard deviation of that prior, in octaves (librosa's ``std_bpm``)."""
    tempo_anchor_octaves: float = 0.1
    """Each frame's tempo is drawn towards the span's tempo (estimated as librosa's ``tempo`` does)
    with a log-normal weight of this standard deviation (octaves), so frames do not flip between T and 2T."""
    tempo_continuity_octaves: float = 0.2
    """Standard deviation (octaves) of the change of tempo from one tempo frame to the next (Viterbi path)."""
    key_frame_s: float = 1.0
    """Chroma is averaged over this long a moving window before key strength and mode."""
    texture_window_s: float = 5.0
    """Texture window length (the study's five seconds)."""
    texture_overlap: float = 0.33
    """Fraction of overlap between consecutive texture windows (the study's 33 %); hop = window * (1 - overlap)."""

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "n_mfcc", "delta_width",
                     "roughness_max_peaks"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if self.hop_length > self.n_fft:
            raise ParameterError(f"hop_length={self.hop_length} must not exceed n_fft={self.n_fft}")
        if self.n_mfcc >= self.n_mels:
            raise ParameterError(f"n_mfcc={self.n_mfcc} must be < n_mels={self.n_mels}")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            raise ParameterError(f"delta_width={self.delta_width} must be an odd integer >= 3")
        nyquist = self.sample_rate / 2
        if not 0 < self.brightness_cutoff_hz < nyquist:
            raise ParameterError(f"brightness_cutoff_hz={self.brightness_cutoff_hz} must be in (0, {nyquist})")
        if not 0 < self.pitch_min_hz < self.pitch_max_hz < nyquist:
            raise ParameterError(f"pitch_min_hz={self.pitch_min_hz} and pitch_max_hz={self.pitch_max_hz} must "
                                 f"satisfy 0 < min < max < sample_rate/2={nyquist}")
        if not 0 < self.tempo_min_bpm < self.tempo_max_bpm:
            raise ParameterError(f"tempo_min_bpm={self.tempo_min_bpm} and tempo_max_bpm={self.tempo_max_bpm} "
                                 "must satisfy 0 < min < max")
        if self.tempo_frame_s < 60.0 / self.tempo_min_bpm:
            raise ParameterError(f"tempo_frame_s={self.tempo_frame_s} must be at least one period of "
                                 f"tempo_min_bpm={self.tempo_min_bpm} ({60.0 / self.tempo_min_bpm:.3f}s)")
        for name in ("tempo_hop_s", "key_frame_s", "texture_window_s"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.roughness_method not in ("normalized", "mirtoolbox"):
            raise ParameterError(f"roughness_method={self.roughness_method!r} must be 'normalized' or 'mirtoolbox'")
        if self.mfcc_floor_db >= 0:
            raise ParameterError(f"mfcc_floor_db={self.mfcc_floor_db} must be < 0")
        if not self.tempo_min_bpm <= self.tempo_prior_bpm <= self.tempo_max_bpm:
            raise ParameterError(f"tempo_prior_bpm={self.tempo_prior_bpm} must lie in [tempo_min_bpm, "
                                 f"tempo_max_bpm] = [{self.tempo_min_bpm}, {self.tempo_max_bpm}]")
        for name in ("tempo_prior_octaves", "tempo_anchor_octaves", "tempo_continuity_octaves"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.roughness_floor_db >= 0:
            raise ParameterError(f"roughness_floor_db={self.roughness_floor_db} must be < 0")
        if not 0 <= self.texture_overlap < 1:
            raise ParameterError(f"texture_overlap={self.texture_overlap} must be in [0, 1)")

    @property
    def texture_hop_s(self) -> float:
        """Seconds between consecutive texture windows (3.35 s with the study's settings)."""
        return self.texture_window_s * (1.0 - self.texture_overlap)

    @classmethod
    def preset(cls, name: str, **overrides) -> MIRConfig:
        """Settings of a named frame preset, with single fields overridden by keyword.

        Parameters
        ----------
        name : str
            ``scorelens``: the defaults (one 2048/512 STFT at 22050 Hz, 93 ms / 23 ms).
            ``mirtoolbox``: MIRtoolbox's default frames, as the study used them: the shared
            STFT on ``mirframe``'s 50 ms window with half overlap (1102/551 samples at 22050 Hz,
            the default of every spectrum-based descriptor), tempo and pulse clarity on
            ``mirtempo``'s 3 s frames with a 10 % hop (0.3 s), key on ``mirkeystrength``'s
            1 s frames. The per-descriptor table is in :mod:`scorelens.features._mir`.
        **overrides
            Fields to change on top of the preset.

        Returns
        -------
        MIRConfig
        """
        presets = {
            "scorelens": {},
            "mirtoolbox": {"n_fft": 1102, "hop_length": 551, "tempo_frame_s": 3.0, "tempo_hop_s": 0.3,
                           "key_frame_s": 1.0},
        }
        if name not in presets:
            raise ParameterError(f"unknown MIR preset {name!r}; known: {', '.join(presets)}")
        fields = dict(presets[name])
        if name == "mirtoolbox" and "sample_rate" in overrides:
            # The frames are durations: keep 50 ms / 25 ms at another rate.
            sr = overrides["sample_rate"]
            fields.update(n_fft=int(round(0.05 * sr)), hop_length=int(round(0.025 * sr)))
        fields.update(overrides)
        return cls(**fields)


@dataclass(frozen=True)
class FeatureConfig:
    """Settings of the feature pipeline shared by every kind (see :mod:`scorelens.features._pipeline`)."""

    audio: str = "track"
    """``track``: the soundtrack track's own audio over the cue's span (clean music, the default);
    ``film``: the film's mixed audio over the cue's film span."""
    grid_method: str = "linear"
    """How a kind's native frames are put on the common 1 Hz grid: ``linear`` interpolation between
    native frame centres, or ``nearest`` native frame."""
    min_cue_s: float = 1.0
    """Cues shorter than this (one grid frame) get no features; they are skipped with a warning."""

    def __post_init__(self) -> None:
        if self.audio not in ("track", "film"):
            raise ParameterError(f"audio={self.audio!r} must be 'track' or 'film'")
        if self.grid_method not in ("linear", "nearest"):
            raise ParameterError(f"grid_method={self.grid_method!r} must be 'linear' or 'nearest'")
        if self.min_cue_s <= 0:
            raise ParameterError(f"min_cue_s={self.min_cue_s} must be > 0")


@dataclass(frozen=True)
class VisualConfig:
    """Settings of the visual features (see :mod:`scorelens.features._visual`)."""

    rate_hz: float = 1.0
    """Frames sampled per second (the study's 1 Hz, the common feature grid)."""
    width: int = 160
    """Frames are scaled to this width (height keeps the aspect ratio) before measuring."""
    skip_nonref: bool = True
    """Let the decoder drop non-reference frames (B-frames nothing depends on): faster decoding, a
    sampled frame at most a few frames away from the grid time."""
    skip_loop_filter: bool = True
    """Let the decoder skip its deblocking filter (about 20 % of H.264 decoding): block edges it
    would smooth vanish anyway when the frame is averaged down to ``width`` pixels (brightness
    changes by < 0.002 on the benchmark film)."""
    contrast_levels: int = 256
    """Histogram bins of the brightness histogram behind the contrast's bright/dark split."""

    def __post_init__(self) -> None:
        if not 0 < self.rate_hz <= 30:
            raise ParameterError(f"rate_hz={self.rate_hz} must be in (0, 30]")
        if not isinstance(self.width, int) or self.width < 8:
            raise ParameterError(f"width={self.width!r} must be an integer >= 8")
        if not isinstance(self.contrast_levels, int) or self.contrast_levels < 2:
            raise ParameterError(f"contrast_levels={self.contrast_levels!r} must be an integer >= 2")


@dataclass(frozen=True)
class EmbeddingConfig:
    """Settings of the pretrained-embedding kinds (see :mod:`scorelens.features._vggish` and
    :mod:`scorelens.features._musicnn`); :meth:`kind_options` turns them into a kind's options."""

    vggish_dir: str | None = None
    """Folder with the VGGish weights (``vggish_model.ckpt`` + ``vggish_pca_params.npz``, or torchvggish's
    ``.pth`` files); None: the ``SCORELENS_VGGISH_DIR`` environment variable, read when the kind is built."""
    vggish_final_relu: bool = False
    """ReLU after VGGish's 128-d layer: False as the current official code, True as torchvggish."""
    vggish_postprocess: bool = True
    """PCA + 8-bit quantisation of the released AudioSet embeddings (values 0-255), or the raw 128-d layer."""
    vggish_batch_size: int = 128
    """VGGish examples (0.96 s each) per forward pass (the dense layers run fastest on large batches)."""
    musicnn_model: str = "MSD_musicnn"
    """musicnn checkpoint: ``MSD_musicnn`` (Million Song Dataset tags) or ``MTT_musicnn`` (MagnaTagATune)."""
    musicnn_tags: bool = True
    """Also output musicnn's 50 tag probabilities (``tags/musicnn_<tag>/mean``) next to its 200-d embedding."""
    musicnn_batch_size: int = 16
    """musicnn 3-second patches per pass through the per-patch stages (~1 MB each; 16 measured 4-7 % faster than 4)."""

    def __post_init__(self) -> None:
        for name in ("vggish_batch_size", "musicnn_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if self.musicnn_model not in ("MSD_musicnn", "MTT_musicnn"):
            raise ParameterError(f"musicnn_model={self.musicnn_model!r} must be 'MSD_musicnn' or 'MTT_musicnn'")

    def kind_options(self, kind: str) -> dict:
        """Options for ``get_kind(kind, **options)``; empty for kinds these settings do not concern."""
        if kind == "vggish":
            return {"weights_dir": self.vggish_dir, "final_relu": self.vggish_final_relu,
                    "postprocess": self.vggish_postprocess, "batch_size": self.vggish_batch_size}
        if kind == "musicnn":
            return {"model": self.musicnn_model, "tags": self.musicnn_tags, "batch_size": self.musicnn_batch_size}
        return {}


@dataclass(frozen=True)
class ModelConfig:
    """Settings of the genre models, their evaluation and training ("Methods" section).

    Used by ``scorelens evaluate`` (cross-validated Table 4) and ``scorelens train``.
    """

    seed: int = 0
    """Seed of every random choice (initial weights, batch order, folds, baselines); same seed, same numbers."""
    cv: str = "loo"
    """Cross-validation: ``"loo"`` (leave one film out, the study's) or ``"kfold:K"``."""
    level: str = "cue"
    """Instances: ``"cue"`` (mean of a cue's frames, the study's better representation) or ``"frame"``."""
    max_instances: int = 0
    """Frame level only: keep at most this many evenly spaced frames per film (0 keeps all)."""
    hidden: int = 128
    """Units per embedding layer of a network trained on its own: ``train`` (the study's best
    VGGish model used 128) and ``importance`` (the study's PFI model used 64). ``evaluate`` tries
    every size of :attr:`hidden_sizes` instead."""
    hidden_sizes: tuple[int, ...] = (64, 128)
    """Units per embedding layer tried by ``evaluate``: each network of Table 4 is cross-validated
    with every size, and each row shows the better by macro F1 and which size it was (a tie goes
    to the size listed first).

    Why both by default: the study "trained networks with 64 and 128 hidden units" and reports
    the better of the two for each row, so a Table 4 computed with one size would not be the
    study's table (its best VGGish model used 128, its importance model 64). The second size
    adds about 40 % to the networks' time, not 100 %: a 64-unit network does about a third of
    a 128-unit one's arithmetic at the study's feature widths (``d h + 2 h^2`` multiply-adds per
    instance for 128-140 inputs), and measured 0.35-0.45 of its CPU time (study-shaped MIR
    corpus, leave-one-out, 3 epochs, float32, average and feature-level attention pooling, on a
    shared machine). Picking the better of two on the same out-of-fold predictions favours the
    networks slightly, as it did in the study; give one size (``--hidden 128``) for an estimate
    without that choice."""
    epochs: int = 200
    learning_rate: float = 5e-5
    batch_size: int = 16
    threshold: float = 0.5
    """A genre is predicted when its probability reaches this."""
    precision: str = "auto"
    """Arithmetic of the networks' instance layers: ``"float32"``, ``"bfloat16"`` (mixed precision:
    float32 weights, optimiser and loss, bfloat16 products; several times faster on CPUs with
    AMX) or ``"auto"``: bfloat16 only where the CPU lists a native bfloat16 instruction (AMX,
    AVX-512 BF16, Arm BF16) and a short GEMM timing at the networks' shapes, cached per machine,
    finds it at least 1.2 times faster; float32 elsewhere (oneDNN emulates bfloat16 on other CPUs,
    several times slower than float32). The study does not say; evaluations record the precision
    they ran with and why (``run_info`` in ``table4.json``)."""
    device: str = "auto"
    """Where the networks train and predict (cross-validation, ``train``, the permutation importance's
    fold models): ``"cpu"``, ``"cuda"`` (the current GPU), ``"cuda:N"``, or ``"auto"``: CUDA when
    PyTorch sees a GPU, else the CPU. The other models (forests, SVMs, kNN) always run on the CPU.
    Evaluations record the device they ran on (``run_info`` in ``table4.json``)."""
    poolings: tuple[str, ...] = ("max", "average", "linear_softmax", "attention", "multi_attention",
                                 "feature_attention")
    """Network poolings of Table 3 to evaluate."""
    base_classifiers: tuple[str, ...] = ("knn", "svm", "rf")
    """Base classifiers tried for Simple MI and instance majority voting (the best is reported)."""
    imv_multi_output: bool = False
    """Instance majority voting with a random forest: one binary forest per genre, the study's
    binary relevance (default), or, with ``True``, one multi-output forest for all genres (4.2 s
    of CPU per fold against 4.8 s for the binary forests grown by ``scorelens.mil._forest``, 29 s
    by scikit-learn). The faster form was the default until
    its Table 4 row proved lower than binary relevance's by more than the forests' seed noise on
    the study-shaped corpus (macro F1 lower in all 6 corpus-seed x feature-kind comparisons, by
    0.009 on average against a forest-seed SD of 0.001-0.003; ``benchmarks/bench_imv_rf.py``,
    figures in :mod:`scorelens.mil._voting`)."""

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        sizes = self.hidden_sizes
        if (not isinstance(sizes, (tuple, list)) or not sizes or len(set(sizes)) != len(sizes)
                or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in sizes)):
            raise ParameterError(f"hidden_sizes={sizes!r} must be distinct positive integers (at least one)")
        object.__setattr__(self, "hidden_sizes", tuple(sizes))   # a list from a caller or JSON: hashable
        if not isinstance(self.max_instances, int) or self.max_instances < 0:
            raise ParameterError(f"max_instances={self.max_instances!r} must be a non-negative integer")
        if not self.learning_rate > 0:
            raise ParameterError(f"learning_rate={self.learning_rate!r} must be > 0")
        if not 0 < self.threshold < 1:
            raise ParameterError(f"threshold={self.threshold!r} must be in (0, 1)")
        if self.precision not in ("auto", "float32", "bfloat16"):
            raise ParameterError(f"precision={self.precision!r} must be 'auto', 'float32' or 'bfloat16'")
        if not (isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
                                                  or re.fullmatch(r"cuda:\d+", self.device))):
            raise ParameterError(f"device={self.device!r} must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.level not in ("cue", "frame"):
            raise ParameterError(f"level={self.level!r} must be 'cue' or 'frame'")
        self.n_splits  # validates cv

    @property
    def n_splits(self) -> int | None:
        """Folds of k-fold cross-validation, or None for leave-one-out."""
        if self.cv == "loo":
            return None
        prefix, _, k = self.cv.partition(":")
        if prefix != "kfold" or not k.isdigit() or int(k) < 2:
            raise ParameterError(f"cv={self.cv!r} must be 'loo' or 'kfold:K' with K >= 2")
        return int(k)


@dataclass(frozen=True)
class ImportanceConfig:
    """Settings of permutation feature importance (the study's Fig 3; see :mod:`scorelens.analysis._importance`).

    The model is trained with :class:`ModelConfig`'s settings except ``hidden``, which the
    study set to 64 for its PFI model (MIR features, average pooling, F1 .61).
    """

    features: str = "mir"
    """Feature kind whose named columns are grouped (the study: MIR)."""
    model: str = "average"
    """Model key (the study: a network with average pooling)."""
    hidden: int = 64
    """Units per embedding layer of the PFI model (the study's 64)."""
    runs: int = 100
    """Permutation runs per group (the study's 100)."""

    def __post_init__(self) -> None:
        for name in ("hidden", "runs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")


@dataclass(frozen=True)
class CrossModalConfig:
    """Settings of the cross-modal table (the study's Table 5; see :mod:`scorelens.analysis._crossmodal`)."""

    features: str | None = None
    """Feature kind of the model whose predictions label the clips (None: the only kind it ran on;
    ``scorelens run`` picks vggish when evaluated, else musicnn, else the first kind)."""
    model: str = "attention"
    """Model whose out-of-fold predictions label the clips (the study: single attention on VGGish)."""
    level: str = "cue"
    """Which evaluation's predictions to read."""
    alpha: float = 0.01
    """Family-wise significance level of the Bonferroni-corrected Mann-Whitney U tests (the study's 0.01)."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ParameterError(f"alpha={self.alpha!r} must be between 0 and 1")
        if self.level not in ("cue", "frame"):
            raise ParameterError(f"level={self.level!r} must be 'cue' or 'frame'")


@dataclass(frozen=True)
class FigureConfig:
    """Settings of the figures (PR curves as the study's S2, per-film scatter as S3, cue timeline)."""

    level: str = "cue"
    features: tuple[str, ...] = ()
    """Feature kinds to plot (empty: every music kind evaluated)."""
    models: tuple[str, ...] = ()
    """Models to plot on each kind (empty: each kind's best by macro F1 for S2, average pooling for S3)."""
    figures: tuple[str, ...] = ("pr", "scatter", "timeline")
    formats: tuple[str, ...] = ("png",)
    dpi: int = 150

    def __post_init__(self) -> None:
        unknown = sorted(set(self.figures) - {"pr", "scatter", "timeline"})
        if unknown or not self.figures:
            raise ParameterError(f"figures={list(self.figures)!r} must be a non-empty subset of pr, scatter, timeline")
        bad = sorted(set(self.formats) - {"png", "svg", "pdf"})
        if bad or not self.formats:
            raise ParameterError(f"formats={list(self.formats)!r} must be a non-empty subset of png, svg, pdf")
        if not isinstance(self.dpi, int) or self.dpi < 30:
            raise ParameterError(f"dpi={self.dpi!r} must be an integer >= 30")
        if self.level not in ("cue", "frame"):
            raise ParameterError(f"level={self.level!r} must be 'cue' or 'frame'")


@dataclass(frozen=True)
class ReportConfig:
    """Settings of the one-page report (see :mod:`scorelens.report._summary`)."""

    formats: tuple[str, ...] = ("md", "html")
    top: int = 5
    """Cues listed per genre among those that drove the best network's predictions."""
    interactive: bool = True
    """Also write the interactive report (``results/report/index.html``, :mod:`scorelens.report.explorer`) and
    the per-film cue sheets (Audacity labels, ELAN tab-delimited)."""
    clips: bool = True
    """Cut a playable excerpt of each cue from its soundtrack track, for the interactive report."""
    clip_format: str = "opus"
    """``opus`` (Opus in Ogg, ``.ogg``) or ``aac`` (AAC in MPEG-4, ``.m4a``, for browsers without Opus)."""
    clip_kbps: int = 48
    """Bit rate of the clips (mono)."""
    clip_max_s: float = 20.0
    """Longest clip in seconds (film time, from the cue's start); a shorter cue is played whole."""
    clip_budget_mb: float = 500.0
    """Bound on the clips' total size in MB (10^6 bytes): over it, the longest clips are cut first."""

    def __post_init__(self) -> None:
        bad = sorted(set(self.formats) - {"md", "html"})
        if bad or not self.formats:
            raise ParameterError(f"formats={list(self.formats)!r} must be a non-empty subset of md, html")
        if not isinstance(self.top, int) or self.top < 1:
            raise ParameterError(f"top={self.top!r} must be a positive integer")
        if self.clip_format not in ("opus", "aac"):
            raise ParameterError(f"clip_format={self.clip_format!r} must be 'opus' or 'aac'")
        if not isinstance(self.clip_kbps, int) or not 8 <= self.clip_kbps <= 320:
            raise ParameterError(f"clip_kbps={self.clip_kbps!r} must be an integer from 8 to 320")
        if not self.clip_max_s > 0:
            raise ParameterError(f"clip_max_s={self.clip_max_s!r} must be positive")
        if not self.clip_budget_mb >= 0:
            raise ParameterError(f"clip_budget_mb={self.clip_budget_mb!r} must be 0 or more")


@dataclass(frozen=True)
class RunConfig:
    """What ``scorelens run`` does besides each stage's own settings."""

    kinds: tuple[str, ...] = ("mir", "musicnn")
    """Music feature kinds computed and evaluated; ``vggish`` is added when its weights are configured
    (``embeddings.vggish_dir`` or ``SCORELENS_VGGISH_DIR``)."""
    stages: tuple[str, ...] = ()
    """Stages to run (empty: every stage of :data:`scorelens.stages.STAGES`, in its order; a
    subset skips the others)."""
    whole_index: bool = False
    """Match every film against every indexed track (finds music reused across films)."""
    db: str | None = None
    """Fingerprint database: None for WORKSPACE/fingerprints.sqlite, a SQLite path, or a postgresql:// URL."""
    keep_going: bool = False
    """Record a film that fails a stage and go on with the others (exit status 3 at the end)."""
    retry_failed: bool = False
    """Try again the films that failed before on the same files and settings (otherwise their
    recorded failure stands, and a re-run with nothing changed does no work)."""
    force: bool = False
    """Recompute what the workspace already holds for the same inputs and settings."""

    def __post_init__(self) -> None:
        from scorelens.stages._graph import STAGES  # the one list of stages (light: no stage is imported)

        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ParameterError(f"stages: unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
        if not self.kinds:
            raise ParameterError("kinds must name at least one feature kind")


#: Sections of a ``[settings]`` table (manifest or ``--config`` file) and the dataclass each fills.
SETTINGS_SECTIONS: dict[str, type] = {
    "run": RunConfig, "stamp": StamperConfig, "features": FeatureConfig, "mir": MIRConfig,
    "embeddings": EmbeddingConfig, "visual": VisualConfig, "model": ModelConfig, "importance": ImportanceConfig,
    "crossmodal": CrossModalConfig, "figures": FigureConfig, "report": ReportConfig,
}


@dataclass(frozen=True)
class StudyConfig:
    """Every setting of a whole study, one section per stage: what ``scorelens run`` runs with.

    Built in rising priority from the study's defaults (the dataclasses above), a
    ``[settings]`` table in the manifest, a ``--config`` TOML file with the same keys, and
    command-line options (:meth:`merged`). Keys are ``section.name`` (``mir.texture_window_s``,
    ``model.epochs``, ``run.kinds``); an unknown section or key is a :class:`ParameterError`
    naming it, so a misspelt setting cannot silently vanish.
    """

    run: RunConfig = field(default_factory=RunConfig)
    stamp: StamperConfig = field(default_factory=StamperConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    mir: MIRConfig = field(default_factory=MIRConfig)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    importance: ImportanceConfig = field(default_factory=ImportanceConfig)
    crossmodal: CrossModalConfig = field(default_factory=CrossModalConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def merged(self, overrides: dict, *, source: str = "settings") -> StudyConfig:
        """A copy with ``overrides`` applied: ``{section: {name: value}}`` or ``{"section.name": value}``.

        Parameters
        ----------
        overrides : dict
            Nested (as a TOML ``[settings]`` table reads) or dotted keys.
        source : str
            Names where the overrides come from in error messages (a file, ``--set``).

        Returns
        -------
        StudyConfig

        Raises
        ------
        ParameterError
            An unknown section or key, or a value the section's dataclass refuses.
        """
        nested: dict[str, dict] = {}
        for key, value in overrides.items():
            section, dot, name = str(key).partition(".")
            if dot:
                nested.setdefault(section, {})[name] = value
            elif isinstance(value, dict):
                nested.setdefault(section, {}).update(value)
            else:
                raise ParameterError(f"{source}: setting {key!r} must be SECTION.NAME (sections: "
                                     f"{', '.join(SETTINGS_SECTIONS)})")
        changes = {}
        for section, values in nested.items():
            cls = SETTINGS_SECTIONS.get(section)
            if cls is None:
                raise ParameterError(f"{source}: unknown settings section {section!r} (known: "
                                     f"{', '.join(SETTINGS_SECTIONS)})")
            current = getattr(self, section)
            if section == "mir" and "preset" in values:
                # A named frame preset (``mir.preset = "mirtoolbox"``) replaces the section; the other
                # keys of the same table then apply on top of it.
                values = dict(values)
                try:
                    current = MIRConfig.preset(str(values.pop("preset")))
                except ParameterError as exc:
                    raise ParameterError(f"{source}: [mir] {exc}") from None
            known = {f.name: f for f in dataclasses.fields(cls)}
            kwargs = {}
            for name, value in values.items():
                if name not in known:
                    raise ParameterError(f"{source}: unknown setting {section}.{name} (known: {', '.join(known)})")
                kwargs[name] = _coerce(value, getattr(current, name), f"{source}: {section}.{name}")
            try:
                changes[section] = dataclasses.replace(current, **kwargs)
            except ParameterError as exc:
                raise ParameterError(f"{source}: [{section}] {exc}") from None
            except TypeError as exc:
                raise ParameterError(f"{source}: [{section}] {exc}") from None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Every setting as a nested JSON-able dict (what the workspace and the report record)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in SETTINGS_SECTIONS}


def _coerce(value, current, where: str):
    """A TOML/JSON value in the type of the setting it replaces (lists become tuples)."""
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where}={value!r} must be a list")
        return tuple(value)
    if isinstance(current, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ParameterError(f"{where}={value!r} must be true or false")
        return value
    if isinstance(current, int) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ParameterError(f"{where}={value!r} must be an integer") from None
        return value
    if isinstance(current, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            raise ParameterError(f"{where}={value!r} must be a number") from None
    return value


def parse_assignments(items, *, source: str = "--set") -> dict:
    """``["model.epochs=50", "run.kinds=mir,musicnn"]`` as ``{"model.epochs": 50, …}``.

    Values are read as JSON when they parse (numbers, lists, true/false), else kept as text.
    """
    out = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"{source} {item!r} must look like SECTION.NAME=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out
