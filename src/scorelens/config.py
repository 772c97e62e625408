"""Typed settings of every stage, with the study's defaults in one place.

The CLI builds these dataclasses from its options and passes them explicitly; nothing
reads files or the environment at import time. Each output written to a workspace is
accompanied by the resolved settings that produced it (see :mod:`scorelens.workspace`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from scorelens.exceptions import ParameterError

__all__ = ["StamperConfig", "settings_digest", "DEFAULT_GENRES"]

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
    peak_time_radius: int = 10
    """A peak is the maximum of its ±radius frames neighbourhood (±232 ms)."""
    peak_freq_radius: int = 12
    """… and of its ±radius bins neighbourhood (±129 Hz)."""
    index_peaks_per_second: float = 18.0
    """Peak density kept when indexing a track (the strongest local maxima in each second)."""
    query_peaks_per_second: float = 36.0
    """Peak density kept when stamping a film: denser than the index, so that peaks masked by dialogue still leave the music's peaks in the query (audfprint's asymmetric densities)."""
    fan_out: int = 6
    """Each anchor peak is paired with up to this many later peaks in its target zone (index side)."""
    query_fan_out: int = 14
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
    min_votes: int = 8
    """A window is matched when its best (track, offset) has at least this many aligned hashes."""
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
    """A bin belongs to the cue when it holds at least this many aligned hashes."""
    min_cue_s: float = 1.0
    """Cues shorter than this after refinement are dropped."""

    def __post_init__(self) -> None:
        positive = ("sample_rate", "n_fft", "hop_length", "peak_time_radius", "peak_freq_radius",
                    "fan_out", "query_fan_out", "max_dt", "max_df", "min_votes")
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
                     "refine_bin_s"):
            if getattr(self, name) <= 0:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be > 0")
        if self.hop_s > self.window_s:
            raise ParameterError(f"hop_s={self.hop_s} must not exceed window_s={self.window_s} (windows would leave gaps)")
        if self.max_gap_windows < 0 or self.offset_tolerance_frames < 0 or self.min_vote_ratio < 0:
            raise ParameterError("max_gap_windows, offset_tolerance_frames and min_vote_ratio must be >= 0")

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
