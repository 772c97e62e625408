"""Films that play their music at another speed than the album: speed hypotheses on the film side.

A 24 fps film transferred to 25 fps video plays 25/24 = 4.17 % fast; its music is pitched up
by 0.71 semitone (a plain speed-up) or, when the transfer was pitch-corrected, compressed in
time at the original pitch. Both move every landmark's (f1, Δf, Δt), so the index's hashes
no longer match. Rather than a speed-invariant hash (Panako's triplets need a new index
format and a larger database), the film is hashed again under a few speed hypotheses, each
mapped back onto the album's scale, and matched against the unchanged index:

* a plain speed-up by ``s`` is undone exactly by resampling the film by ``s`` before peak
  picking (:func:`scorelens.stamp._fingerprint.fingerprint_file` with ``speed``);
* a pitch-corrected stretch by ``s`` scales only times: the film's peak frames × ``s``.

To keep normal-speed films as fast as before, the film is first stamped at 1.0, then a
*probe* hashes about four minutes of the windows that found nothing, under a grid of
hypotheses (pitched speed-ups on the film's existing peaks, moved by their sub-bin
positions; see :class:`~scorelens.stamp._peaks.Peaks`), and refines the factor of any
hypothesis that matches on a finer grid. Only the hypotheses found are then stamped over
the whole film. Each cue reports its ``speed`` (track seconds per film second) and
``pitch_shift_semitones``; :func:`film_speed` sums a cue table up in one sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scorelens.config import SPEED_RANGE, StamperConfig
from scorelens.stamp._fingerprint import Fingerprint
from scorelens.stamp._hashes import hashes_to_landmarks, landmark_pairs, landmarks_to_hashes, peaks_to_hashes
from scorelens.stamp._match import (
    _MAX_POSTINGS,
    _OFFSET_BIAS,
    _TRACK_SHIFT,
    _WINDOW_SHIFT,
    HashIndex,
    Matches,
    pool_votes,
)
from scorelens.stamp._peaks import Peaks

__all__ = ["SpeedHypothesis", "SpeedPass", "hash_at_speed", "drift_speed", "probe_speeds", "probe_windows",
           "probe_window_peaks",
           "PAL_FACTOR", "merge_passes", "refined_factor", "film_speed"]

# The PAL speed-up and its inverse, named in the film-level summary when a film runs at them.
_PAL = 25 / 24
# Cues of one film agree on a speed when they are within this of their median.
_AGREE = 0.003
# A probe window counts for a hypothesis when its votes there beat those at 1.0 by this factor:
# music at 1.0 still matches, less well, at the grid points next to 1.0. (Music stretched by 2 %
# still matches at 1.0 almost as well as at 0.98 in 5 s windows, as a phase vocoder blurs its
# peaks: 1.2 found it, but also found 0.96 in normal-speed films, so such mild pitch-corrected
# stretches are left to the 1.0 pass, which finds part of them.)
_BEAT = 1.5
# Bits of a peak's bin in the probe's packed (frame, bin) integers: bins stay below 512 (5 kHz is bin 465).
_BIN_BITS = 10
# No probe when fewer windows than this are left unexplained at 1.0 (at most 5 s of music).
_TOO_FEW = 2
# A window matched at 1.0 is explained when its aligned hashes spread over this share of it (see probe_windows).
_EXPLAINED = 0.7
# The probe's screen of pitched factors looks at the peaks below this frequency only.
_SCREEN_MAX_HZ = 1600.0
# … and looks up only the film hashes with at most this many postings: 98 % of a film's hashes, whose
# postings were two thirds of all (the rest, common landmarks of the low bins, are mostly chance).
_SCREEN_MAX_POSTINGS = 8
# (hypothesis, peak pair) entries the probe evaluates at once.
_BATCH = 1 << 16


@dataclass(frozen=True)
class SpeedHypothesis:
    """A speed at which the film may play the music.

    Attributes
    ----------
    factor : float
        Track seconds per film second (1.0417: the film plays the music 4.17 % fast).
    pitched : bool
        True for a plain speed-up (the pitch moves with the speed), False for a
        pitch-corrected time-stretch.
    """

    factor: float
    pitched: bool

    @property
    def semitones(self) -> float:
        """Pitch shift of the music in the film (0 when pitch-corrected).

        Returns
        -------
        float
            ``12 * log2(factor)`` semitones for a pitched hypothesis, else 0.0.
        """
        return 12 * math.log2(self.factor) if self.pitched else 0.0


def _map_peaks(peaks: Peaks, hyp: SpeedHypothesis, *, sort: bool = True) -> Peaks:
    """Film peaks moved onto the track's scale (frames × factor; bins ÷ factor when pitched)."""
    if hyp.pitched:
        # Sub-bin positions: 4 % of bin 300 is 12 bins, and the rounding of the scaled integer
        # bin alone lost half the hashes in a trial.
        frames = np.round((peaks.frames + peaks.frame_frac) * hyp.factor).astype(np.int32)
        bins = np.round((peaks.bins + peaks.bin_frac) / hyp.factor).astype(np.int32)
    else:
        # Integer frames: a phase vocoder smears onsets, and sub-frame times did not help there.
        frames = np.round(peaks.frames * hyp.factor).astype(np.int32)
        bins = peaks.bins
    if not sort:
        return Peaks(frames, bins, peaks.n_frames)
    order = np.lexsort((bins, frames))
    return Peaks(frames[order], bins[order], peaks.n_frames)


def hash_at_speed(peaks: Peaks, hyp: SpeedHypothesis, config: StamperConfig, *, fan_out: int,
                  dt_fuzz: int = 0) -> Fingerprint:
    """Hash a film's peaks as the track would be hashed if the film played it at ``hyp``.

    Parameters
    ----------
    peaks : Peaks
        The film's peaks (with sub-frame and sub-bin positions).
    hyp : SpeedHypothesis
    config : StamperConfig
    fan_out : int
    dt_fuzz : int
        Also emit each hash with Δt ± 1 … ± ``dt_fuzz`` (time-stretched audio jitters peak times).

    Returns
    -------
    Fingerprint
        ``frames`` in film frames (ascending), ``track_frames`` on the track's scale.
    """
    mapped = _map_peaks(peaks, hyp)
    hashes, track_frames = peaks_to_hashes(mapped, fan_out=fan_out, max_dt=config.max_dt, max_df=config.max_df)
    if dt_fuzz and hashes.size:
        f1, df, dt = hashes_to_landmarks(hashes)
        extra_h, extra_t = [hashes], [track_frames]
        for d in range(-dt_fuzz, dt_fuzz + 1):
            ok = (d != 0) & (dt + d >= 1) & (dt + d <= config.max_dt)
            extra_h.append(landmarks_to_hashes(f1[ok], df[ok], dt[ok] + d))
            extra_t.append(track_frames[ok])
        hashes, track_frames = np.concatenate(extra_h), np.concatenate(extra_t)
        order = np.argsort(track_frames, kind="stable")
        hashes, track_frames = hashes[order], track_frames[order]
    film_frames = np.round(track_frames / hyp.factor).astype(np.int32)
    return Fingerprint(hashes=hashes, frames=film_frames, n_peaks=len(mapped), duration_s=0.0, content_digest="",
                       peak_rms=0.0, track_frames=track_frames)


def _window_peaks(peaks: Peaks, windows: np.ndarray, config: StamperConfig) -> Peaks:
    """The peaks inside the given film windows (frames keep their film positions)."""
    fs = config.frame_seconds
    lo = np.searchsorted(peaks.frames, np.asarray(windows) * config.hop_s / fs)
    hi = np.searchsorted(peaks.frames, (np.asarray(windows) * config.hop_s + config.window_s) / fs)
    keep = np.zeros(len(peaks) + 1, dtype=np.int64)
    np.add.at(keep, lo, 1)
    np.add.at(keep, hi, -1)
    mask = np.cumsum(keep[:-1]) > 0
    return Peaks(peaks.frames[mask], peaks.bins[mask], peaks.n_frames, peaks.frame_frac[mask], peaks.bin_frac[mask])


def _full_grid(step: float) -> np.ndarray:
    lo, hi = SPEED_RANGE
    return np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)


class _Probe:
    """A sample of the film's peaks, paired once, hashed cheaply under many hypotheses.

    The peak pairs are formed once on the film's scale with a target zone wide enough for
    every factor in :data:`SPEED_RANGE`; a hypothesis only maps their ends and keeps the
    pairs that fall in the track-side zone. This differs from hashing each hypothesis anew
    only in which pairs fill the fan-out, and cost a thirtieth as much. Hypotheses are
    looked up and voted in batches (one array operation for many of them), and the votes
    of each (hypothesis, window) are counted exactly only where they may reach the floor
    the caller needs (:func:`_may_reach`).

    Parameters
    ----------
    peaks : Peaks
        The whole film's peaks.
    windows : np.ndarray
        The film windows to probe (ascending, non-overlapping windows of ``config.hop_s``).
    config : StamperConfig
    max_postings : int
        Film hashes with more postings in the index than this are not looked up.
    """

    def __init__(self, peaks: Peaks, windows: np.ndarray, config: StamperConfig, *,
                 max_postings: int = _MAX_POSTINGS):
        self.cfg = config
        self.max_postings = max_postings
        self.windows = np.asarray(windows, dtype=np.int64)
        self.window_s = config.hop_s  # the probe's windows do not overlap
        self.peaks = _window_peaks(peaks, self.windows, replace(config, window_s=self.window_s))
        lo, hi = SPEED_RANGE
        self.anchors, self.targets = landmark_pairs(self.peaks.frames, self.peaks.bins,
                                                    fan_out=config.speed_probe_fan_out,
                                                    max_dt=int(np.ceil(config.max_dt / lo)),
                                                    max_df=int(np.ceil(config.max_df * hi)))
        self._film_frames = self.peaks.frames[self.anchors]
        win = np.floor(self._film_frames * config.frame_seconds / self.window_s).astype(np.int64)
        self._rank = np.searchsorted(self.windows, win)  # each pair's probe window

    def evaluate(self, factors: np.ndarray, pitched: bool, index: HashIndex, *,
                 floor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(votes, track, offset) of each probe window's best match under each factor.

        The window criteria of :func:`~scorelens.stamp._match.vote_windows` except the spread
        (the probe then demands more than one window, or more votes).

        Parameters
        ----------
        factors : np.ndarray [shape=(n,)]
            Speed factors, all pitched or all pitch-corrected.
        pitched : bool
        index : HashIndex
        floor : int
            Report only windows whose best has at least this many votes (at least
            ``min_votes``); the others read 0.

        Returns
        -------
        votes : np.ndarray [shape=(n, n_probe_windows), dtype=int64]
            0 where the window does not match.
        track : np.ndarray [shape=(n, n_probe_windows), dtype=int64]
            Position in the index's ``track_ids``; -1 where no match.
        offset : np.ndarray [shape=(n, n_probe_windows), dtype=int64]
            Track frame minus film frame; 0 where no match.
        """
        factors = np.asarray(factors, dtype=np.float64)
        n_win = self.windows.size
        # Batches of about 64k (hypothesis, pair) entries: arrays that stay in the CPU's cache ran
        # faster than one batch of all hypotheses (memory-bound) and than one call per hypothesis.
        batch = max(1, _BATCH // max(self.anchors.size, 1))
        parts = [self._evaluate(factors[k:k + batch], pitched, index, floor)
                 for k in range(0, factors.size, batch)]
        if not parts:
            empty = np.zeros((0, n_win), dtype=np.int64)
            return empty, empty, empty
        return tuple(np.concatenate([part[c] for part in parts]) for c in range(3))

    def _evaluate(self, factors: np.ndarray, pitched: bool, index: HashIndex,
                  floor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cfg, p, n_win = self.cfg, self.peaks, self.windows.size
        scale = factors[:, None]
        # _map_peaks for every factor at once: frames (and bins, pitched) moved onto the track's scale.
        if pitched:
            frames = np.round((p.frames + p.frame_frac) * scale)
            bins = np.round((p.bins + p.bin_frac) / scale)
        else:
            frames = np.round(p.frames * scale)
            bins = np.broadcast_to(p.bins, frames.shape)
        # Frame and bin packed in one integer (bins < 512): one gather per pair end, one subtraction.
        dtype = np.int32 if frames.size == 0 or frames.max() < 1 << 20 else np.int64
        packed = (frames.astype(dtype) << _BIN_BITS) | bins.astype(dtype)
        a = packed[:, self.anchors]
        d = packed[:, self.targets] - a
        dt = (d + (1 << (_BIN_BITS - 1))) >> _BIN_BITS
        df = d - (dt << _BIN_BITS)
        ok = (dt >= 1) & (dt <= cfg.max_dt) & (np.abs(df) <= cfg.max_df)
        hyp, pair = np.nonzero(ok)
        a = a[ok]
        hashes = landmarks_to_hashes(a & ((1 << _BIN_BITS) - 1), df[ok], dt[ok])
        counts = index.counts(hashes, exact=False)
        counts[counts > self.max_postings] = 0
        found = np.flatnonzero(counts)
        counts = counts[found]
        lo = index.runs(hashes[found])[0]
        run = np.repeat(np.arange(found.size), counts)
        pos = lo[run] + (np.arange(run.size) - (np.cumsum(counts) - counts)[run])
        which = found[run]
        slot = hyp[which].astype(np.int64) * n_win + self._rank[pair[which]]
        key = ((slot << _WINDOW_SHIFT) | (index.tracks[pos].astype(np.int64) << _TRACK_SHIFT)
               | (index.frames[pos].astype(np.int64) - (a[which] >> _BIN_BITS) + _OFFSET_BIAS))
        floor = max(cfg.min_votes, floor)
        votes, track, offset = _window_best(key[_may_reach(key, floor, cfg.offset_tolerance_frames)], cfg,
                                            factors.size * n_win)
        weak = votes < floor  # counted on part of their postings: below the floor anyway
        votes[weak], track[weak], offset[weak] = 0, -1, 0
        shape = (factors.size, n_win)
        return votes.reshape(shape), track.reshape(shape), offset.reshape(shape)


# Fibonacci hashing: multiply by 2**64 / golden ratio, keep the top bits.
_FIB = np.uint64(0x9E3779B97F4A7C15)


def _may_reach(key: np.ndarray, floor: int, tolerance: int) -> np.ndarray:
    """Mask of the postings needed to count exactly every window whose best may pool ``floor`` votes.

    Counts postings per bucket of ``2**s > tolerance`` offsets in a hashed table, so that each
    key's pooled votes (its own offset ± ``tolerance``, within its bucket and the two next to it)
    are bounded from above without sorting; collisions only raise the bound. A window's best
    key, when it has ``floor`` votes, and any rival with half of them (the runner-up that the
    vote ratio compares) have bounds of at least ``floor / 2``; the keys in the buckets next to
    those are kept as well, so that their pooled votes are exact. Most postings of a film are
    chance, scattered one or two per (window, track, offset), and are dropped.
    """
    if key.size == 0 or floor <= 1:
        return np.ones(key.size, dtype=bool)
    bucket = (key >> int(tolerance).bit_length()).astype(np.uint64)
    bits = min(24, max(12, int(np.ceil(np.log2(4 * key.size)))))
    shift = np.uint64(64 - bits)
    spread = bucket * _FIB  # (b ± 1) * FIB = b * FIB ± FIB, modulo 2**64
    slots = [(spread - _FIB) >> shift, spread >> shift, (spread + _FIB) >> shift]
    table = np.bincount(slots[1].astype(np.intp), minlength=1 << bits)
    hot = 2 * (table[slots[0]] + table[slots[1]] + table[slots[2]]) >= floor
    if not hot.any():
        return hot
    marked = np.zeros(1 << bits, dtype=bool)
    marked[slots[1][hot]] = True
    return marked[slots[0]] | marked[slots[1]] | marked[slots[2]]


def _window_best(key: np.ndarray, cfg: StamperConfig, n_windows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each window's best (votes, track, offset) from packed (window, track, offset) keys of postings."""
    uniq, counts = np.unique(key, return_counts=True)
    out = np.zeros(n_windows, dtype=np.int64)
    track_of, offset_of = np.full(n_windows, -1, dtype=np.int64), np.zeros(n_windows, dtype=np.int64)
    if uniq.size == 0:
        return out, track_of, offset_of
    pooled = pool_votes(uniq, counts, cfg.offset_tolerance_frames)
    # Best offset of each (window, track), then the best and second-best track of each window.
    group = uniq >> _TRACK_SHIFT
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    per_track = np.maximum.reduceat(pooled, starts)
    # Where in each (window, track) run its best offset lies.
    run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, uniq.size]))
    at_best = np.flatnonzero(pooled == per_track[run])
    best_pos = at_best[np.r_[True, run[at_best][1:] != run[at_best][:-1]]]
    w = uniq[starts] >> _WINDOW_SHIFT
    order = np.lexsort((-per_track, w))
    w, per_track, best_pos = w[order], per_track[order], best_pos[order]
    first = np.r_[True, w[1:] != w[:-1]]
    best, best_w = per_track[first], w[first]
    runner = np.zeros_like(best)
    second = np.r_[False, ~first[1:]] & np.r_[False, first[:-1]]
    runner[np.searchsorted(best_w, w[second])] = per_track[second]
    ok = (best >= cfg.min_votes) & (best >= cfg.min_vote_ratio * runner) & (best_w < n_windows)
    out[best_w[ok]] = best[ok]
    key = uniq[best_pos[first]][ok]
    track_of[best_w[ok]] = (key >> _TRACK_SHIFT) & ((1 << (_WINDOW_SHIFT - _TRACK_SHIFT)) - 1)
    offset_of[best_w[ok]] = (key & ((1 << _TRACK_SHIFT) - 1)) - _OFFSET_BIAS
    return out, track_of, offset_of


def drift_speed(windows: pd.DataFrame, config: StamperConfig) -> float | None:
    """The factor at which music matched at 1.0 really plays, from the drift of its windows' offsets.

    Music stretched by 1-2 % at constant pitch still matches at 1.0 in part (a phase vocoder
    blurs its peaks, so the probe's grid point next to 1.0 hardly beats 1.0 itself), but its
    best offset (track frame minus film frame) slides by ``(factor - 1)`` frames per film
    frame: 4 frames per 5 s window at 0.98. Runs of three or more matched windows of one
    track (gaps of ``max_gap_windows``, offset steps within ``offset_jump_s``) whose offsets
    lie on a line, drifting ``speed_drift_min`` or more per frame and at least
    ``2 * offset_tolerance_frames + 1`` frames over the run, measure the factor as one plus
    the line's slope; music at normal speed keeps its offset to a frame.

    Parameters
    ----------
    windows : pd.DataFrame
        The 1.0 pass's window table (:func:`~scorelens.stamp._match.vote_windows`).
    config : StamperConfig

    Returns
    -------
    float or None
        The vote-weighted median factor of the drifting runs (None when there is none, or
        when runs drifting in opposite directions outweigh each other).
    """
    hits = windows[windows["matched"]].sort_values(["track", "window"])
    fs = config.frame_seconds
    factors, weights = [], []
    for _, rows in hits.groupby("track", sort=False):
        w, off = rows["window"].to_numpy(), rows["offset_frames"].to_numpy(float)
        votes = rows["votes"].to_numpy(float)
        breaks = np.flatnonzero((np.diff(w) > config.max_gap_windows + 1)
                                | (np.abs(np.diff(off)) * fs > config.offset_jump_s)) + 1
        for run in np.split(np.arange(w.size), breaks):
            if run.size < 3:
                continue
            centre = (w[run] * config.hop_s + config.window_s / 2) / fs
            slope, intercept = np.polyfit(centre, off[run], 1, w=np.sqrt(votes[run]))
            residual = off[run] - (slope * centre + intercept)
            drift = abs(slope) * np.ptp(centre)
            if (abs(slope) >= config.speed_drift_min and drift >= 2 * config.offset_tolerance_frames + 1
                    and np.abs(residual).max() <= config.offset_tolerance_frames + 1):
                factors.append(1.0 + slope)
                weights.append(votes[run].sum())
    if not factors:
        return None
    factors, weights = np.array(factors), np.array(weights)
    if weights[factors > 1].sum() > 0 and weights[factors < 1].sum() > 0:
        minority = min(weights[factors > 1].sum(), weights[factors < 1].sum())
        if minority > weights.sum() / 4:
            return None
    order = np.argsort(factors)
    cum = np.cumsum(weights[order])
    return float(factors[order][np.searchsorted(cum, cum[-1] / 2)])


def probe_speeds(peaks: Peaks, index: HashIndex, config: StamperConfig, *, n_windows: int,
                 windows: pd.DataFrame | None = None) -> list[SpeedHypothesis]:
    """Speeds other than 1.0 at which the film plays indexed music, found on a sample of it.

    A sample of the windows the 1.0 pass left unexplained (not matched; every window without
    ``windows``), ``speed_probe_share`` of the film's windows (see :func:`probe_windows`),
    is hashed under a grid of pitched speed-ups and of pitch-corrected stretches over
    :data:`SPEED_RANGE`, searched coarse to fine (see :func:`_probe_grid`), so that the
    probe costs a share of the 1.0 pass rather than a fixed time per film; there is no probe
    when fewer than two windows are unexplained. A window counts for a hypothesis when it
    matches there with twice ``min_votes`` and 1.5× the votes at 1.0 (music near 1.0 also
    matches at the neighbouring grid points, less well). A hypothesis is found when two or
    more such windows hold four times the votes a lone-window cue needs, or twice them when
    two of the windows are neighbours agreeing on track and offset, or one window holds
    twice them and twice the votes at 1.0. (Some 70 hypotheses × 48 windows give chance
    matches of up to 14 votes in one window on the 30-minute benchmark film, and look-alike
    music at another tempo 12-23 votes in two windows of a 6-minute one.) Its factor is then
    refined on those windows and their neighbours on a grid ten times finer (pitched), or
    later from the drift of the cues found at it (pitch-corrected; see
    :func:`refined_factor`). Mild pitch-corrected stretches, which the grid leaves to 1.0,
    are read from the drift of the 1.0 pass's ``windows`` (:func:`drift_speed`).

    Parameters
    ----------
    peaks : Peaks
        The whole film's peaks.
    index : HashIndex
    config : StamperConfig
    n_windows : int
        Windows in the film.
    windows : pd.DataFrame, optional
        The film's window table at 1.0: which windows it left unexplained, and their drift
        (:func:`drift_speed`).

    Returns
    -------
    list of SpeedHypothesis
        At most one per pitch mode, none within ``speed_drift_min`` of 1.0; empty when the
        sampled windows match at no other speed.
    """
    drift = None if windows is None else drift_speed(windows, config)
    pick = probe_windows(config, n_windows=n_windows, windows=windows)
    found = [] if len(peaks) < 2 or pick.size == 0 else _probe_grid(peaks, pick, index, config, n_windows)
    # The grid's own pitch-corrected find wins; a pitched one at the drift's factor explains it too.
    if drift is not None and not any(not h.pitched or abs(h.factor - drift) < config.speed_stretch_step / 2
                                     for h in found):
        found.append(SpeedHypothesis(round(drift, 5), False))
    return found


def _probe_grid(peaks: Peaks, pick: np.ndarray, index: HashIndex, config: StamperConfig,
                n_windows: int) -> list[SpeedHypothesis]:
    """The hypotheses of the probe's grid found in the windows ``pick`` (see :func:`probe_speeds`).

    Each grid is searched coarse to fine. A screen looks at every third point of each grid on
    the peaks below :data:`_SCREEN_MAX_HZ` and the hashes with at most
    :data:`_SCREEN_MAX_POSTINGS` postings, with half the thresholds of :func:`_grid_point` (a
    bin's error grows with its frequency: one pitched step off, the votes of the low peaks
    fall to about half, those of the top bins to none; a phase vocoder's votes stay flat over
    two stretch steps either way); only the grid points around a point the screen passes are
    then evaluated on every peak and hash, with the full thresholds. A film without music at
    other speeds costs about a sixth of the whole grid.
    """
    low = peaks.bins <= _SCREEN_MAX_HZ * config.n_fft / config.sample_rate
    screen = _Probe(Peaks(peaks.frames[low], peaks.bins[low], peaks.n_frames, peaks.frame_frac[low],
                          peaks.bin_frac[low]), pick, config, max_postings=_SCREEN_MAX_POSTINGS)
    screen_reference = screen.evaluate(np.array([1.0]), False, index, floor=config.min_votes)[0][0]
    probe, reference = None, None  # every peak: made when the screen passes a point
    found = []
    for pitched, step, every in ((True, config.speed_pitch_step, 3), (False, config.speed_stretch_step, 3)):
        full = _full_grid(step)
        usable = np.flatnonzero(np.abs(full - 1.0) > step / 4)  # 1.0 is the reference every hypothesis must beat
        coarse = usable[usable % every == 0]
        votes, track, offset = screen.evaluate(full[coarse], pitched, index, floor=config.min_votes)
        passed = [k for row, k in enumerate(coarse)
                  if _grid_point(votes[row], track[row], offset[row], screen_reference, screen.windows, config,
                                 relaxed=True)[1] > 0]
        points = np.intersect1d(usable, (np.array(passed, dtype=np.int64)[:, None]
                                         + np.arange(1 - every, every)).ravel())
        if points.size == 0:
            continue
        if probe is None:
            probe = _Probe(peaks, pick, config)
            reference = probe.evaluate(np.array([1.0]), False, index, floor=config.min_votes)[0][0]
        votes, track, offset = probe.evaluate(full[points], pitched, index, floor=2 * config.min_votes)
        results = [_grid_point(votes[row], track[row], offset[row], reference, probe.windows, config)
                   for row in range(points.size)]
        strength = np.array([total for _, total in results])
        if not (strength > 0).any():
            continue
        best = int(np.argmax(strength))
        factor = float(full[points[best]])
        if pitched:
            # Bins move with a pitched factor, so votes fall off fast around the true one: a grid
            # ten times finer pins it. It looks at the windows that matched and the two either side
            # of each (a cue lasts several windows), and takes the vertex of a parabola fitted to
            # the points with half the best votes or more: on a few windows the votes' curve is
            # ragged, and its highest point alone was up to 0.24 % off on real music (a pass at a
            # factor that far off loses a sixth of its cues' seconds); within 0.07 % this way.
            # (A stretch's votes are too flat for this; its factor is refined from the cues' drift.)
            won = results[best][0]
            near = _Probe(peaks, np.unique(np.clip((won[:, None] + np.arange(-2, 3)).ravel(), 0, n_windows - 1)),
                          config)
            fine = factor + np.linspace(-step, step, 21)
            factor = _vertex(fine, near.evaluate(fine, True, index, floor=config.min_votes)[0].sum(axis=1))
        if abs(factor - 1.0) > step:
            found.append(SpeedHypothesis(round(factor, 5), pitched))
    return found


def _vertex(factors: np.ndarray, votes: np.ndarray) -> float:
    """The factor at the top of a parabola fitted to the points with at least half the most votes.

    Falls back on the parabola through the best point and its neighbours when the fit opens
    upwards or fewer than three points qualify; always within ``factors``' range.
    """
    votes = votes.astype(float)
    keep = votes >= 0.5 * votes.max()
    if keep.sum() >= 3:
        centre = factors[keep].mean()
        c2, c1, _ = np.polyfit(factors[keep] - centre, votes[keep], 2)
        if c2 < 0:
            return float(np.clip(centre - c1 / (2 * c2), factors[0], factors[-1]))
    j = int(np.argmax(votes))
    factor = float(factors[j])
    if 0 < j < factors.size - 1:
        a, b, c = votes[j - 1:j + 2]
        if a - 2 * b + c < 0:
            factor += 0.5 * (a - c) / (a - 2 * b + c) * (factors[1] - factors[0])
    return factor


def _grid_point(votes: np.ndarray, track: np.ndarray, offset: np.ndarray, reference: np.ndarray,
                windows: np.ndarray, config: StamperConfig, *, relaxed: bool = False) -> tuple[np.ndarray, float]:
    """The windows a grid point wins and its strength (their votes; 0 when the point is not found).

    A window is won with twice ``min_votes`` and 1.5× the votes at 1.0; the point is found when
    two or more won windows hold four times the votes a lone-window cue needs, or twice them
    when two of the windows are neighbours agreeing on track and offset, or one window holds
    twice them and twice the votes at 1.0. ``relaxed`` halves every threshold.
    """
    scale = 0.5 if relaxed else 1.0
    at = np.flatnonzero((votes > _BEAT * reference) & (votes >= scale * 2 * config.min_votes))
    won = windows[at]
    # Two neighbouring windows on one track at one offset: one piece of music, not chance.
    pair = ((np.diff(won) == 1) & (track[at][1:] == track[at][:-1])
            & (np.abs(np.diff(offset[at])) * config.frame_seconds <= config.offset_jump_s))
    total = float(votes[at].sum())
    lone = (votes >= scale * 2 * config.min_votes_single) & (votes > 2 * reference)
    if ((won.size >= 2 and total >= scale * 4 * config.min_votes_single) or lone.any()
            or (pair.any() and total >= scale * 2 * config.min_votes_single)):
        return won, total
    return won, 0.0


def probe_windows(config: StamperConfig, *, n_windows: int, windows: pd.DataFrame | None = None) -> np.ndarray:
    """The windows the speed probe hashes: ``speed_probe_share`` of the film's, spread over the unexplained.

    Parameters
    ----------
    config : StamperConfig
    n_windows : int
        Windows in the film.
    windows : pd.DataFrame, optional
        The 1.0 pass's window table: its windows not ``matched``, or matched on aligned
        hashes that ``spread`` over less than 70 % of the window, are candidates (music a few
        per cent off 1.0 at constant pitch matches there in part). Without it every window is
        a candidate.

    Returns
    -------
    np.ndarray [dtype=int64]
        Ascending window numbers: ``ceil(speed_probe_share * n_windows)`` of the candidates, at
        least ``speed_probe_min_windows`` and at most ``speed_probe_windows`` (all when fewer):
        half where the 1.0 pass's best candidate had the most votes, half spread evenly over the
        others. Empty when fewer than two windows are candidates.
    """
    if windows is None:
        candidates, votes = np.arange(n_windows, dtype=np.int64), None
    else:
        # Music a few per cent off 1.0 at constant pitch still matches at 1.0, but only where its drifting
        # offset stays within the vote tolerance: 1.7 s of a window at 4 %. Music at 1.0 aligns all along.
        full = windows["spread"].to_numpy() >= math.ceil(_EXPLAINED * config.window_s / config.spread_bin_s)
        unexplained = ~(windows["matched"].to_numpy(bool) & full)
        candidates = windows["window"].to_numpy(np.int64)[unexplained]
        votes = windows["votes"].to_numpy(np.int64)[unexplained]
    if candidates.size < _TOO_FEW:
        return np.zeros(0, dtype=np.int64)
    budget = min(config.speed_probe_windows, candidates.size,
                 max(config.speed_probe_min_windows, math.ceil(config.speed_probe_share * n_windows - 1e-9)))
    # Half the windows where the 1.0 pass came closest to matching (music stretched at constant pitch
    # still aligns in part at 1.0: about 10 votes against 4 elsewhere in the speed benchmark's films),
    # the other half spread evenly over the rest (music pitched with the speed aligns nowhere at 1.0).
    closest = np.zeros(0, dtype=np.int64) if votes is None else np.argsort(-votes, kind="stable")[: budget // 2]
    rest = np.setdiff1d(np.arange(candidates.size), closest)
    spread = rest[np.unique(np.round(np.linspace(0, rest.size - 1, budget - closest.size)).astype(np.int64))]
    return np.sort(candidates[np.r_[closest, spread]])


def film_speed(cues: pd.DataFrame) -> tuple[float | None, str]:
    """The speed a film's cues agree on, and a sentence for the cue sheet and the report.

    Parameters
    ----------
    cues : pd.DataFrame
        A film's cue table. Tables written before speed handling (no ``speed`` or
        ``pitch_shift_semitones`` column) count as normal speed.

    Returns
    -------
    factor : float or None
        The duration-weighted median speed when every cue is within 0.3 % of it; None
        when there are no cues or they disagree.
    sentence : str
        E.g. ``"this transfer runs 4.2 % fast: PAL speed-up (pitched up 0.71 semitone)"``.
    """
    if cues is None or len(cues) == 0:
        return None, "no cue found: the film's speed is unknown"
    speed = cues["speed"].astype(float).to_numpy() if "speed" in cues else np.ones(len(cues))
    semis = (cues["pitch_shift_semitones"].astype(float).to_numpy() if "pitch_shift_semitones" in cues
             else np.zeros(len(cues)))
    weight = (cues["end_s"] - cues["start_s"]).to_numpy(float)
    order = np.argsort(speed)
    cum = np.cumsum(weight[order])
    median = float(speed[order][np.searchsorted(cum, cum[-1] / 2)])
    if np.any(np.abs(speed / median - 1) > _AGREE):
        lo, hi = speed.min(), speed.max()
        return None, f"cues disagree on the speed ({lo:.4f}-{hi:.4f}): re-edited or mixed transfers"
    if abs(median - 1) <= _AGREE:
        return median, "this transfer runs at the soundtrack's speed"
    pct = abs(median - 1) * 100
    pitched = bool(np.median(np.abs(semis)) > 0)
    how = (f"pitched {'up' if median > 1 else 'down'} {abs(12 * math.log2(median)):.2f} semitone"
           if pitched else "pitch-corrected")
    name = ""
    if abs(median / _PAL - 1) <= _AGREE:
        name = " PAL speed-up"
    elif abs(median * _PAL - 1) <= _AGREE:
        name = " PAL slow-down"
    direction = "fast" if median > 1 else "slow"
    return median, f"this transfer runs {pct:.1f} % {direction}:{name} ({how})".replace(": (", " (")


@dataclass(frozen=True)
class SpeedPass:
    """A film matched under one speed hypothesis: :func:`~scorelens.stamp._match.match_film`'s output."""

    hypothesis: SpeedHypothesis
    windows: pd.DataFrame
    matches: Matches


def merge_passes(passes: list[SpeedPass], n_tracks: int) -> tuple[pd.DataFrame, Matches, np.ndarray, np.ndarray]:
    """One window table and one set of postings from several speed passes, for :func:`build_cues`.

    Each window keeps the matched pass with the most votes (unmatched: the pass with the most
    votes for its candidate). Pass ``p`` lists track ``k`` as
    ``p * n_tracks + k``, so offsets measured on different speed scales are never mixed.

    Parameters
    ----------
    passes : list of SpeedPass
        The passes of one film (the same windows in each), ties going to the earlier pass.
    n_tracks : int
        Tracks in the index the passes were matched against.

    Returns
    -------
    windows : pd.DataFrame
        With a ``speed`` column (the winning pass's factor; 1.0 where nothing matched).
    matches : Matches
    speeds, semitones : np.ndarray [shape=(len(passes) * n_tracks,)]
        Factor and pitch shift of each pass-track entry.
    """
    if len(passes) == 1 and passes[0].hypothesis.factor == 1.0:
        windows = passes[0].windows.assign(speed=1.0)
        return windows, passes[0].matches, np.ones(n_tracks), np.zeros(n_tracks)
    # Matched rows first, then the most votes: an unmatched window keeps the pass whose candidate is
    # strongest, so that cue building sees look-alike music wander in offset next to a lone hit.
    votes = np.stack([p.windows["votes"].to_numpy(np.int64) + (p.windows["matched"].to_numpy() << 40)
                      for p in passes])
    winner = np.argmax(votes, axis=0)  # ties go to the first pass (1.0 in auto)
    rows = []
    for k, p in enumerate(passes):
        w = p.windows[winner == k].copy()
        for col in ("track", "candidate"):
            w[col] = np.where(w[col] >= 0, w[col] + k * n_tracks, w[col])
        rows.append(w.assign(speed=p.hypothesis.factor))
    windows = pd.concat(rows).sort_values("window").reset_index(drop=True)
    matches = Matches.concat([Matches(p.matches.film_frames, p.matches.tracks + k * n_tracks, p.matches.offsets,
                                      p.matches.dts, p.matches.ids * len(passes) + k)
                              for k, p in enumerate(passes)])
    speeds = np.repeat([p.hypothesis.factor for p in passes], n_tracks)
    semitones = np.repeat([p.hypothesis.semitones for p in passes], n_tracks)
    return windows, matches, speeds, semitones


def refined_factor(cues: pd.DataFrame, hyp: SpeedHypothesis) -> float:
    """The factor a pass's cues measure (duration-weighted median of their ``speed``), or ``hyp``'s own.

    Parameters
    ----------
    cues : pd.DataFrame
        Cues built from the pass (:func:`~scorelens.stamp._cues.build_cues`), with ``speed`` and
        ``pitch_shift_semitones``.
    hyp : SpeedHypothesis
        The pass's hypothesis; only cues whose pitch shift is within 0.05 semitone of its own count.

    Returns
    -------
    float
        ``hyp.factor`` when no cue counts.
    """
    mine = cues[np.isclose(cues["pitch_shift_semitones"], hyp.semitones, atol=0.05)] if len(cues) else cues
    if len(mine) == 0:
        return hyp.factor
    weight = (mine["end_s"] - mine["start_s"]).to_numpy(float)
    speed = mine["speed"].to_numpy(float)
    order = np.argsort(speed)
    cum = np.cumsum(weight[order])
    return float(speed[order][np.searchsorted(cum, cum[-1] / 2)])


#: The PAL speed-up (24 fps film on 25 fps video), the commonest transfer at another speed.
PAL_FACTOR = _PAL


def probe_window_peaks(peaks: Peaks, config: StamperConfig, *, n_windows: int) -> Peaks:
    """The film's peaks in ``speed_probe_windows`` windows spread evenly over it.

    The sample on which a whole-index stamping searches the library at the PAL factors,
    before the film is matched at 1.0 (the probe proper then samples the windows left
    unexplained, see :func:`probe_windows`).

    Parameters
    ----------
    peaks : Peaks
        The whole film's peaks.
    config : StamperConfig
    n_windows : int
        Windows in the film.

    Returns
    -------
    Peaks
        Those inside the sampled windows (film frames kept).
    """
    pick = np.unique(np.round(np.linspace(0, n_windows - 1, min(config.speed_probe_windows, n_windows))).astype(int))
    return _window_peaks(peaks, pick, config)
