"""Playable clips of the cues: which to cut and how long (within a size budget), and cutting one.

A clip is what the film plays during a cue: the soundtrack track from the cue's album
position (``track_offset_s``), at the cue's speed (``speed``, track seconds per film
second). When the stamper found the music pitch-shifted with the speed (a tape or PAL
transfer, ``pitch_shift_semitones`` not 0) the excerpt is resampled, which moves the pitch as
the transfer did; otherwise it is time-stretched at constant pitch (librosa's phase
vocoder). Clips are mono, cut from the cue's start, at most ``max_s`` long.

The budget bounds the clips' total size. Sizes are planned from the bit rate
(:func:`planned_bytes`), with a margin for the encoder's variable rate and the
container, and checked on the files afterwards (:func:`enforce_budget`). When the clips
do not fit, the longest are cut first: every clip is capped at the longest length ``L``
for which they fit (a water level; the shorter cues keep their whole length); when even
:data:`MIN_CLIP_S` per cue does not fit, the longest cues get no clip.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.exceptions import ParameterError

__all__ = ["CLIP_FORMATS", "CLIP_RATE", "MIN_CLIP_S", "ClipJob", "ClipPlan", "planned_bytes", "clip_lengths",
           "plan_clips", "cut_clip", "encode_clip", "enforce_budget"]

#: Clip formats: file extension, PyAV encoder, container format.
CLIP_FORMATS = {"opus": ("ogg", "libopus", "ogg"), "aac": ("m4a", "aac", "ipod")}
#: Sample rate of the clips (Opus's own).
CLIP_RATE = 48_000
#: Shortest clip worth hearing: below it, clips are left out rather than cut shorter.
MIN_CLIP_S = 2.0
_FADE_S = 0.02  # a click-free start and end
#: Planning margin over the nominal bit rate (the encoders' variable rate), and each file's headers.
_RATE_MARGIN = 1.06
_FILE_BYTES = 2_048
_VERSION = 2  # changes the clips' keys when the cutting changes


def planned_bytes(seconds, kbps: int):
    """Size planned for a clip of ``seconds`` at ``kbps`` (nominal rate, margin and headers)."""
    return np.asarray(seconds, dtype=float) * kbps * 125.0 * _RATE_MARGIN + _FILE_BYTES


def clip_lengths(durations, budget_bytes: float, *, kbps: int, max_s: float) -> np.ndarray:
    """Length of each cue's clip within the budget: the longest cut first.

    Parameters
    ----------
    durations : array-like [shape=(n,)]
        The cues' lengths in seconds.
    budget_bytes : float
    kbps : int
    max_s : float
        Longest clip.

    Returns
    -------
    np.ndarray [shape=(n,)]
        Seconds per clip; 0 where a cue gets no clip. ``min(d, L)`` for the largest water
        level ``L`` that fits, when ``L >= MIN_CLIP_S``; otherwise :data:`MIN_CLIP_S` (or the
        whole cue when shorter) for the shortest cues that fit, and 0 for the others.
    """
    d = np.minimum(np.asarray(durations, dtype=float), max_s)
    d[~np.isfinite(d) | (d <= 0)] = 0.0
    n = int((d > 0).sum())
    out = np.zeros_like(d)
    if n == 0:
        return out
    seconds = (budget_bytes - n * _FILE_BYTES) / (kbps * 125.0 * _RATE_MARGIN)  # audio time the budget buys
    if seconds >= d.sum():
        return d
    # Water level: sum(min(d, L)) = seconds, solved over the sorted lengths.
    order = np.sort(d[d > 0])
    below = np.concatenate([[0.0], np.cumsum(order)])
    level = 0.0
    for k, dk in enumerate(order):
        # with the k shortest whole, the rest (n - k) share what is left at level L
        L = (seconds - below[k]) / (n - k)
        if L <= dk:
            level = L
            break
    if level >= MIN_CLIP_S:
        return np.where(d > 0, np.minimum(d, level), 0.0)
    # Not even MIN_CLIP_S each: the shortest cues first, each its own length up to MIN_CLIP_S.
    per = np.minimum(d, MIN_CLIP_S)
    cost = planned_bytes(per, kbps)
    left = float(budget_bytes)
    for i in np.argsort(np.where(d > 0, d, np.inf), kind="stable"):
        if d[i] <= 0 or cost[i] > left:
            break
        out[i] = per[i]
        left -= cost[i]
    return out


@dataclass(frozen=True)
class ClipJob:
    """One clip to cut.

    Attributes
    ----------
    film_id : str
    cue_id : int
    source : str
        The track file.
    track_start_s : float
        Album position of the cue's start.
    seconds : float
        Clip length in film time.
    speed : float
        Track seconds per film second.
    keep_pitch : bool
        Time-stretch at constant pitch (True) or resample (False, the pitch moves with the speed).
    """

    film_id: str
    cue_id: int
    source: str
    track_start_s: float
    seconds: float
    speed: float = 1.0
    keep_pitch: bool = True

    def key(self, fmt: str, kbps: int) -> str:
        """Digest of what makes the clip: the job, the source file's size and time, the format."""
        try:
            st = os.stat(self.source)
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamp = None
        text = json.dumps({"job": asdict(self), "source": stamp, "fmt": fmt, "kbps": kbps, "v": _VERSION},
                          sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass
class ClipPlan:
    """Clips to cut, and why the other cues have none (or a shorter one).

    Attributes
    ----------
    jobs : list of ClipJob
    notes : dict of (str, int) -> str
        By (film, cue id): no clip and why, or the clip is shorter than the cue.
    film_notes : dict of str -> list of str
        By film: what a reader should know about its clips (missing soundtrack files).
    """

    jobs: list
    notes: dict
    film_notes: dict


def plan_clips(cues: pd.DataFrame, *, budget_bytes: float, kbps: int, max_s: float) -> ClipPlan:
    """Which cues get a clip, and how long.

    Parameters
    ----------
    cues : pd.DataFrame
        ``film_id, cue_id, track, source, start_s, end_s, track_offset_s, speed,
        pitch_shift_semitones`` (:class:`~scorelens.report.explorer.ExplorerData.cues`).
    budget_bytes : float
        Bound on the clips' total size.
    kbps : int
    max_s : float
        Longest clip.

    Returns
    -------
    ClipPlan
        A cue whose track file is missing (moved since stamping) gets no clip and a note;
        so does its film.
    """
    notes, missing = {}, {}
    usable = []
    exists: dict[str, bool] = {}
    for r in cues.itertuples(index=False):
        key = (str(r.film_id), int(r.cue_id))
        if r.source and r.source not in exists:
            exists[r.source] = Path(r.source).is_file()
        if not r.source:
            notes[key] = "no clip: the cue table names no track file"
        elif not exists[r.source]:
            notes[key] = "no clip: the track file is missing (see the film's notes)"
            missing.setdefault(key[0], []).append(r.source)
        elif not (r.track_offset_s == r.track_offset_s) or r.end_s <= r.start_s:
            notes[key] = "no clip: the cue has no album position"
        else:
            usable.append(r)
    durations = np.array([r.end_s - r.start_s for r in usable], dtype=float)
    lengths = clip_lengths(durations, budget_bytes, kbps=kbps, max_s=max_s)
    jobs = []
    for r, whole, length in zip(usable, durations, lengths):
        key = (str(r.film_id), int(r.cue_id))
        if length <= 0:
            notes[key] = "no clip: over the clip budget (the longest cues are left out first)"
            continue
        speed = float(r.speed) if r.speed == r.speed and r.speed > 0 else 1.0
        keep = not (r.pitch_shift_semitones == r.pitch_shift_semitones and abs(r.pitch_shift_semitones) > 1e-6)
        jobs.append(ClipJob(key[0], key[1], str(r.source), round(float(r.track_offset_s), 3), round(float(length), 3),
                            round(speed, 6), keep))
        if length < whole - 1e-3:
            why = "longest clip" if length >= max_s - 1e-9 else "clip budget"
            notes[key] = f"first {length:.1f} s of {whole:.1f} s ({why})"
    film_notes = {film: ["soundtrack file(s) missing since stamping (moved?), no clip for their cues: "
                         + ", ".join(dict.fromkeys(paths))] for film, paths in missing.items()}
    return ClipPlan(jobs, notes, film_notes)


def cut_clip(job: ClipJob, *, sample_rate: int = CLIP_RATE) -> np.ndarray:
    """The clip's samples: the track at the cue's album position and speed, in film time.

    Returns
    -------
    np.ndarray [shape=(round(job.seconds * sample_rate),), dtype=float32]
        Mono; zeros where the track ends before the clip does.

    Raises
    ------
    MediaError
        The track cannot be decoded.
    """
    from scorelens.io._audio import load_audio

    n = int(round(job.seconds * sample_rate))
    span = job.seconds * job.speed
    pad = 0.25 if job.keep_pitch and job.speed != 1.0 else 0.0  # the phase vocoder's edges
    x = load_audio(job.source, sample_rate=sample_rate, start_s=job.track_start_s,
                   end_s=job.track_start_s + span + pad)
    if job.speed != 1.0 and x.size:
        if job.keep_pitch:
            import librosa

            x = librosa.effects.time_stretch(x, rate=job.speed)
        else:
            import soxr

            # The track's samples, read as if recorded at rate * speed, last speed times less at rate.
            x = soxr.resample(x, sample_rate * job.speed, sample_rate, quality="HQ")
    x = np.asarray(x[:n], dtype=np.float32)
    if x.size < n:
        x = np.concatenate([x, np.zeros(n - x.size, np.float32)])
    fade = min(int(_FADE_S * sample_rate), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        x[:fade] *= ramp
        x[n - fade:] *= ramp[::-1]
    return np.clip(x, -1.0, 1.0)


def encode_clip(samples: np.ndarray, path: str | os.PathLike, *, fmt: str = "opus", kbps: int = 48,
                sample_rate: int = CLIP_RATE) -> None:
    """Encode mono samples as Opus in Ogg or AAC in MPEG-4 (PyAV).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), dtype=float32]
    path : path or binary file object
        Written whatever its suffix (the container is named explicitly).
    fmt : str
        ``opus`` or ``aac`` (:data:`CLIP_FORMATS`).
    kbps : int
    sample_rate : int
    """
    import av

    if fmt not in CLIP_FORMATS:
        raise ParameterError(f"fmt={fmt!r} must be one of {', '.join(CLIP_FORMATS)}")
    _, codec, container = CLIP_FORMATS[fmt]
    # Opus at compression level 5 encodes twice as fast as at 10 and the clips sound the same
    # at this rate (measured: 0.10 s against 0.20 s per 15-s clip, 2 % larger). Constrained VBR
    # keeps the size near the nominal rate, which the budget is planned on (free VBR ran 7-19 %
    # over it on synthetic scores).
    options = {"compression_level": "5", "vbr": "constrained"} if codec == "libopus" else {}
    # bitexact: the Ogg stream's serial number (otherwise random) and the muxer's version tag are
    # fixed, so the same cue gives the same bytes in every run (a resumed run equals an uninterrupted one).
    target = path if hasattr(path, "write") else str(path)
    with av.open(target, "w", format=container, container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout="mono", options=options)
        stream.bit_rate = int(kbps) * 1000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def enforce_budget(sizes: dict, seconds: dict, budget_bytes: float) -> list:
    """The clips to drop so that the written ones fit the budget: the longest first.

    Parameters
    ----------
    sizes : dict of key -> int
        Bytes of each written clip.
    seconds : dict of key -> float
        Their lengths.
    budget_bytes : float

    Returns
    -------
    list of key
    """
    total = sum(sizes.values())
    drop = []
    for key in sorted(sizes, key=lambda k: (-seconds[k], str(k))):
        if total <= budget_bytes:
            break
        drop.append(key)
        total -= sizes[key]
    return drop

