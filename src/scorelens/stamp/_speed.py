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
from scorelens.stamp._match import _OFFSET_BIAS, _TRACK_SHIFT, _WINDOW_SHIFT, HashIndex, Matches, lookup, pool_votes
from scorelens.stamp._peaks import Peaks

__all__ = ["SpeedHypothesis", "SpeedPass", "hash_at_speed", "drift_speed", "probe_speeds", "probe_window_peaks",
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


def _grid(step: float) -> np.ndarray:
    lo, hi = SPEED_RANGE
    grid = np.linspace(lo, hi, int(round((hi - lo) / step)) + 1)
    return grid[np.abs(grid - 1.0) > step / 4]  # 1.0 is the reference every hypothesis must beat


class _Probe:
    """A sample of the film's peaks, paired once, hashed cheaply under many hypotheses.

    The peak pairs are formed once on the film's scale with a target zone wide enough for
    every factor in :data:`SPEED_RANGE`; a hypothesis only maps their ends and keeps the
    pairs that fall in the track-side zone. This differs from hashing each hypothesis anew
    only in which pairs fill the fan-out, and cost a thirtieth as much.
    """

    def __init__(self, peaks: Peaks, config: StamperConfig):
        self.cfg = config
        self.peaks = peaks
        lo, hi = SPEED_RANGE
        self.anchors, self.targets = landmark_pairs(peaks.frames, peaks.bins, fan_out=config.speed_probe_fan_out,
                                                    max_dt=int(np.ceil(config.max_dt / lo)),
                                                    max_df=int(np.ceil(config.max_df * hi)))

    def hashes(self, hyp: SpeedHypothesis) -> Fingerprint:
        """The sample's pairs hashed under ``hyp``: those that fall in the track-side target zone.

        Parameters
        ----------
        hyp : SpeedHypothesis

        Returns
        -------
        Fingerprint
            ``frames`` in film frames, ``track_frames`` on the track's scale.
        """
        p, i, j = self.peaks, self.anchors, self.targets
        mapped = _map_peaks(p, hyp, sort=False)
        dt = mapped.frames[j] - mapped.frames[i]
        df = mapped.bins[j] - mapped.bins[i]
        ok = (dt >= 1) & (dt <= self.cfg.max_dt) & (np.abs(df) <= self.cfg.max_df)
        return Fingerprint(hashes=landmarks_to_hashes(mapped.bins[i[ok]], df[ok], dt[ok]), frames=p.frames[i[ok]],
                           n_peaks=len(p), duration_s=0.0, content_digest="", peak_rms=0.0,
                           track_frames=mapped.frames[i[ok]])

    def votes(self, hyp: SpeedHypothesis, index: HashIndex, window_s: float, n_windows: int) -> np.ndarray:
        """Best pooled votes of each window, 0 where the window does not match.

        Parameters
        ----------
        hyp : SpeedHypothesis
        index : HashIndex
        window_s : float
            Length of the probe's (non-overlapping) windows.
        n_windows : int

        Returns
        -------
        votes : np.ndarray [shape=(n_windows,), dtype=int64]
        """
        return self.best(hyp, index, window_s, n_windows)[0]

    def best(self, hyp: SpeedHypothesis, index: HashIndex, window_s: float,
             n_windows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(votes, track, offset) of each window's best match [shape=(n_windows,)]; votes 0 where none.

        The window criteria of :func:`~scorelens.stamp._match.vote_windows` except the spread
        (the probe then demands more than one window, or more votes).

        Parameters
        ----------
        hyp : SpeedHypothesis
        index : HashIndex
        window_s : float
            Length of the probe's (non-overlapping) windows.
        n_windows : int

        Returns
        -------
        votes : np.ndarray [shape=(n_windows,), dtype=int64]
        track : np.ndarray [shape=(n_windows,), dtype=int64]
            Position in the index's ``track_ids``; -1 where no match.
        offset : np.ndarray [shape=(n_windows,), dtype=int64]
            Track frame minus film frame; 0 where no match.
        """
        cfg = self.cfg
        m = lookup(self.hashes(hyp), index)
        win = np.floor(m.film_frames * cfg.frame_seconds / window_s).astype(np.int64)
        key = (win << _WINDOW_SHIFT) | (m.tracks.astype(np.int64) << _TRACK_SHIFT) | (m.offsets + _OFFSET_BIAS)
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

    ``speed_probe_windows`` windows spread evenly over the film are hashed under a grid of
    pitched speed-ups and of pitch-corrected stretches over :data:`SPEED_RANGE`. A window
    counts for a hypothesis when it matches there with twice ``min_votes`` and 1.5× the
    votes at 1.0 (music near 1.0 also matches at the neighbouring grid points, less well).
    A hypothesis is found when two or more such windows hold four times the votes a
    lone-window cue needs, or twice them when two of the windows are neighbours agreeing on
    track and offset, or one window holds twice them and twice the votes at 1.0. (Some 70
    hypotheses × 48 windows give chance matches of up to 14 votes in one window on the
    30-minute benchmark film, and look-alike music at another tempo 12-23 votes in two
    windows of a 6-minute one.) Its factor is then refined on those windows on a grid ten
    times finer (pitched), or later from the drift of the cues found at it (pitch-corrected;
    see :func:`refined_factor`). Mild pitch-corrected stretches, which the grid leaves to
    1.0, are read from the drift of the 1.0 pass's ``windows`` (:func:`drift_speed`).

    Parameters
    ----------
    peaks : Peaks
        The whole film's peaks.
    index : HashIndex
    config : StamperConfig
    n_windows : int
        Windows in the film.
    windows : pd.DataFrame, optional
        The film's window table at 1.0, for :func:`drift_speed`.

    Returns
    -------
    list of SpeedHypothesis
        At most one per pitch mode, none within ``speed_drift_min`` of 1.0; empty when the
        sampled windows match at no other speed.
    """
    if len(peaks) < 2:
        return []
    pick = np.unique(np.round(np.linspace(0, n_windows - 1, min(config.speed_probe_windows, n_windows))).astype(int))
    probe = _Probe(_window_peaks(peaks, pick, config), config)
    window_s = config.hop_s  # the probe's windows do not overlap
    reference = probe.votes(SpeedHypothesis(1.0, False), index, window_s, n_windows)
    found = []
    for pitched, step in ((True, config.speed_pitch_step), (False, config.speed_stretch_step)):
        grid = _grid(step)
        strength = np.zeros(grid.size)
        beaten = []
        for k, factor in enumerate(grid):
            votes, track, offset = probe.best(SpeedHypothesis(float(factor), pitched), index, window_s, n_windows)
            won = np.flatnonzero((votes > _BEAT * reference) & (votes >= 2 * config.min_votes))
            # Two neighbouring windows on one track at one offset: one piece of music, not chance.
            pair = ((np.diff(won) == 1) & (track[won][1:] == track[won][:-1])
                    & (np.abs(np.diff(offset[won])) * config.frame_seconds <= config.offset_jump_s))
            total = votes[won].sum()
            lone = (votes >= 2 * config.min_votes_single) & (votes > 2 * reference)
            if (won.size >= 2 and total >= 4 * config.min_votes_single) or lone.any() or (
                    pair.any() and total >= 2 * config.min_votes_single):
                strength[k] = total
            beaten.append(won)
        if not strength.any():
            continue
        k = int(np.argmax(strength))
        factor = float(grid[k])
        if pitched:
            # Bins move with a pitched factor, so votes fall off fast around the true one: a grid
            # ten times finer on the windows that matched pins it to about 0.02 %. (A stretch's
            # votes are too flat for this; its factor is refined from the cues' drift instead.)
            near = _Probe(_window_peaks(probe.peaks, beaten[k], replace(config, window_s=window_s)), config)
            fine = factor + np.linspace(-step, step, 21)
            fine_votes = np.array([near.votes(SpeedHypothesis(float(f), True), index, window_s, n_windows).sum()
                                   for f in fine])
            j = int(np.argmax(fine_votes))
            factor = float(fine[j])
            if 0 < j < fine.size - 1:  # vertex of the parabola through the best three
                a, b, c = fine_votes[j - 1:j + 2].astype(float)
                if a - 2 * b + c < 0:
                    factor += 0.5 * (a - c) / (a - 2 * b + c) * (fine[1] - fine[0])
        if abs(factor - 1.0) > step:
            found.append(SpeedHypothesis(round(factor, 5), pitched))
    drift = None if windows is None else drift_speed(windows, config)
    # The grid's own pitch-corrected find wins; a pitched one at the drift's factor explains it too.
    if drift is not None and not any(not h.pitched or abs(h.factor - drift) < config.speed_stretch_step / 2
                                     for h in found):
        found.append(SpeedHypothesis(round(drift, 5), False))
    return found


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
