"""Fingerprint a media file: decode → peaks → landmark hashes, in one streaming pass."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorelens.config import StamperConfig
from scorelens.exceptions import MediaError
from scorelens.io._audio import iter_audio_blocks
from scorelens.stamp._hashes import peaks_to_hashes
from scorelens.stamp._peaks import PeakFinder, Peaks

__all__ = ["Fingerprint", "fingerprint_file", "fingerprint_signal"]

# Tracks shorter than this cannot hold a landmark pair worth matching.
MIN_TRACK_S = 1.0
# A track whose loudest block is below this RMS (~ -70 dBFS) is silent.
_SILENCE_RMS = 10 ** (-70 / 20)


@dataclass(frozen=True)
class Fingerprint:
    """Landmark hashes of one recording.

    Attributes
    ----------
    hashes : np.ndarray [shape=(n,), dtype=uint32]
    frames : np.ndarray [shape=(n,), dtype=int32]
        Anchor frame of each hash (``frame * config.frame_seconds`` seconds), ascending.
    n_peaks : int
    duration_s : float
        Decoded duration at the stamper's rate.
    content_digest : str
        BLAKE2b of the decoded, resampled 16-bit samples: the same audio in another
        container, tag set or file name has the same digest. Empty for a film (query side).
    peak_rms : float
        Largest RMS over the decoded blocks (to tell silence); 0.0 for a film.
    peaks : Peaks or None
        The film's peaks (query side only), kept to hash them again at other speeds.
    track_frames : np.ndarray [shape=(n,), dtype=int32] or None
        When the film plays the music at another speed: each anchor's frame on the track's
        time scale (what is compared with the index); ``frames`` stays film time. None means
        the same as ``frames``.
    """

    hashes: np.ndarray
    frames: np.ndarray
    n_peaks: int
    duration_s: float
    content_digest: str
    peak_rms: float
    peaks: Peaks | None = None
    track_frames: np.ndarray | None = None


def _fingerprint_blocks(blocks, config: StamperConfig, *, query: bool,
                        on_block: Callable[[float], None] | None = None) -> Fingerprint:
    if query:
        finder = PeakFinder(config, config.query_peaks_per_second, time_radius=config.query_peak_time_radius,
                            freq_radius=config.query_peak_freq_radius)
    else:
        finder = PeakFinder(config, config.index_peaks_per_second)
    # A track's identity and loudness; a film has neither checked, and computing them cost a twentieth of its decoding.
    digest = None if query else hashlib.blake2b(digest_size=8)
    n = 0
    peak_rms = 0.0
    for block in blocks:
        finder.feed(block)
        n += block.size
        if digest is not None:
            digest.update(np.clip(np.round(block * 32767), -32768, 32767).astype("<i2").tobytes())
            if block.size:
                peak_rms = max(peak_rms, float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))))
        if on_block is not None:
            on_block(block.size / config.sample_rate)
    peaks = finder.finish()
    hashes, frames = peaks_to_hashes(peaks, fan_out=config.query_fan_out if query else config.fan_out,
                                     max_dt=config.max_dt, max_df=config.max_df)
    return Fingerprint(hashes=hashes, frames=frames, n_peaks=len(peaks), duration_s=n / config.sample_rate,
                       content_digest="" if digest is None else digest.hexdigest(), peak_rms=peak_rms,
                       peaks=peaks if query else None)


def fingerprint_signal(samples: np.ndarray, config: StamperConfig, *, query: bool = False) -> Fingerprint:
    """Fingerprint mono samples already at ``config.sample_rate``.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
    config : StamperConfig
    query : bool
        Use the query-side (film) density and fan-out instead of the index side's.

    Returns
    -------
    Fingerprint
    """
    samples = np.asarray(samples, dtype=np.float32)
    return _fingerprint_blocks([samples[i:i + 30 * config.sample_rate]
                                for i in range(0, max(samples.size, 1), 30 * config.sample_rate)],
                               config, query=query)


def fingerprint_file(path: str | os.PathLike, config: StamperConfig, *, query: bool = False,
                     on_progress: Callable[[float], None] | None = None, speed: float = 1.0) -> Fingerprint:
    """Fingerprint a file's first audio stream (decoded, downmixed and resampled in a stream).

    Parameters
    ----------
    path : str or path-like
        A soundtrack track (``query=False``) or a film (``query=True``).
    config : StamperConfig
    query : bool
        Film side: denser peaks and a larger fan-out (see :class:`StamperConfig`).
    on_progress : callable, optional
        Called with the seconds of audio decoded after each block.
    speed : float
        Film side: the film plays its music ``speed`` times faster than the album, pitch
        included. The film is resampled to ``speed × sample_rate`` and analysed as if at
        ``sample_rate``, which undoes the speed-up exactly; ``frames`` are then film frames
        and ``track_frames`` the frames of the resampled signal (the track's time scale).

    Returns
    -------
    Fingerprint

    Raises
    ------
    MediaError
        Missing, empty, non-media or truncated file; no audio stream; for a track
        (``query=False``): shorter than 1 s or silent.
    """
    path = Path(path)
    if speed != 1.0:
        return _fingerprint_at_speed(path, config, speed, on_progress)
    blocks = iter_audio_blocks(path, sample_rate=config.sample_rate, block_s=30.0)
    fp = _fingerprint_blocks(blocks, config, query=query, on_block=on_progress)
    if not query:
        if fp.duration_s < MIN_TRACK_S:
            raise MediaError(f"{path}: track too short to fingerprint ({fp.duration_s:.3f}s < {MIN_TRACK_S}s)")
        if fp.peak_rms < _SILENCE_RMS or fp.hashes.size == 0:
            raise MediaError(f"{path}: track is silent (no spectral peaks to fingerprint)")
    return fp


def _fingerprint_at_speed(path: Path, config: StamperConfig, speed: float,
                          on_progress: Callable[[float], None] | None) -> Fingerprint:
    """A film's query fingerprint with its pitched speed-up undone by resampling (FFmpeg's resampler)."""
    rate = int(round(config.sample_rate * speed))
    actual = rate / config.sample_rate  # the factor really undone (within 0.005 % of ``speed``)
    blocks = iter_audio_blocks(path, sample_rate=rate, block_s=30.0)
    fp = _fingerprint_blocks(blocks, config, query=True,
                             on_block=None if on_progress is None else (lambda s: on_progress(s / actual)))
    film_frames = np.round(fp.frames / actual).astype(np.int32)  # monotone: stays sorted
    return Fingerprint(hashes=fp.hashes, frames=film_frames, n_peaks=fp.n_peaks, duration_s=fp.duration_s / actual,
                       content_digest=fp.content_digest, peak_rms=fp.peak_rms, peaks=None, track_frames=fp.frames)
