"""Cues from window hits: merge, bridge, split, and refine boundaries (Fig 1, and beyond).

Window hits of one track whose offset (track time minus film time) stays put belong to
one use of the track; up to ``max_gap_windows`` missed windows between them are bridged,
as Fig 1 bridges a window. A jump in offset, or a longer gap, starts a new cue, so two
separate uses of one track stay two cues.

The study's cues start and end on 5-second window boundaries. Here each cue's boundaries
are refined from the film times of the hashes that align with the cue's offset (see
:func:`_refine`), so a cue's start and end are found to about a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scorelens.config import StamperConfig
from scorelens.stamp._fingerprint import Fingerprint
from scorelens.stamp._match import Matches

__all__ = ["CUE_COLUMNS", "build_cues"]

CUE_COLUMNS = ["film_id", "cue_id", "track_id", "track", "track_path", "start_s", "end_s", "track_offset_s",
               "windows", "votes", "confidence", "speed", "pitch_shift_semitones"]


def _group_hits(hits: pd.DataFrame, config: StamperConfig) -> list[pd.DataFrame]:
    """Hits of one track in a row: gaps of up to ``max_gap_windows`` and offset jumps of up to ``offset_jump_s``."""
    groups: list[pd.DataFrame] = []
    for _, rows in hits.groupby("track", sort=False):
        rows = rows.sort_values("window")
        gap = np.diff(rows["window"].to_numpy()) - 1
        jump = np.abs(np.diff(rows["offset_frames"].to_numpy())) * config.frame_seconds
        cut = np.flatnonzero((gap > config.max_gap_windows) | (jump > config.offset_jump_s)) + 1
        groups.extend(rows.iloc[a:b] for a, b in zip(np.r_[0, cut], np.r_[cut, len(rows)]))
    return groups


def _lookalike(hit: pd.Series, windows: pd.DataFrame, config: StamperConfig) -> bool:
    """Whether a lone window hit has a neighbour favouring the same track at another offset.

    Music that merely resembles a track (same instruments, key and drum samples) matches it
    window by window at offsets that wander; the track itself keeps one offset.
    """
    w = int(hit["window"])
    for n in (w - 1, w + 1):
        if 0 <= n < len(windows):
            other = windows.iloc[n]
            jump_s = abs(other["offset_frames"] - hit["offset_frames"]) * config.frame_seconds
            if (int(other["candidate"]) == int(hit["track"]) and other["votes"] >= config.min_votes
                    and jump_s > config.offset_jump_s):
                return True
    return False


def _span_bins(frames: np.ndarray, lo_s: float, config: StamperConfig) -> tuple[float, float] | None:
    """First and last aligned anchor (film frames) of a cue at normal speed; None when no bin is good.

    The cue spans the first to the last ``refine_bin_s`` bin holding ``refine_min_hits``
    aligned hashes, widened through bins with any aligned hash across gaps of up to
    ``refine_max_gap_bins``: at normal speed a chance hash at exactly the cue's track and
    offset is rare, and fades and masked onsets leave aligned hashes sparse.
    """
    fs = config.frame_seconds
    bins = np.floor((frames * fs - lo_s) / config.refine_bin_s).astype(int)
    counts = np.bincount(bins)
    good = np.nonzero(counts >= config.refine_min_hits)[0]
    if not good.size:
        return None
    first, last = good[0], good[-1]
    present = np.nonzero(counts)[0]
    max_step = config.refine_max_gap_bins + 1
    for b in present[present < first][::-1]:
        if first - b > max_step:
            break
        first = b
    for b in present[present > last]:
        if b - last > max_step:
            break
        last = b
    in_run = (bins >= first) & (bins <= last)
    return frames[in_run].min(), frames[in_run].max()


def _span(anchors: np.ndarray, close: np.ndarray, *, min_hits: int, lone_gap: float,
          max_gap: float) -> tuple[float, float] | None:
    """First and last aligned anchor (film frames, sorted) of a cue at another speed; None when none is solid.

    Anchors less than ``lone_gap`` apart form a stretch. The cue runs from the first to the
    last stretch of more than ``min_hits`` anchors, widened through stretches of
    ``min_hits`` anchors within the voting tolerance (``close``) up to ``max_gap`` away, and
    through one such anchor up to ``2 * lone_gap`` away: fades and masked passages leave
    aligned hashes sparse, but a stretch of one or two anchors at the cue's track and offset
    is as often chance. Counted in hashes, and bridged over 2 s, such chance anchors (one
    film peak on a track peak brings several of its hashes along) had added up to 3 s of
    film to a cue in passes at other speeds, which look hashes up again (with Δt fuzz,
    around a sloped offset line).
    """
    cut = np.flatnonzero(np.diff(anchors) > lone_gap) + 1
    first_of, last_of = anchors[np.r_[0, cut]], anchors[np.r_[cut - 1, anchors.size - 1]]
    n = np.diff(np.r_[0, cut, anchors.size])
    n_close = np.diff(np.searchsorted(close, np.r_[first_of, np.inf]))
    solid = np.flatnonzero(n > min_hits)
    if solid.size == 0:
        return None
    lo, hi = solid[0], solid[-1]
    near = np.flatnonzero((n > min_hits) | (n_close >= min_hits))
    for k in near[near < lo][::-1]:
        if first_of[lo] - last_of[k] > max_gap:
            break
        lo = k
    for k in near[near > hi]:
        if first_of[k] - last_of[hi] > max_gap:
            break
        hi = k
    first, last = first_of[lo], last_of[hi]
    # A lone anchor within the voting tolerance just past an edge (up to two stretch gaps away)
    # is the fade's last note more often than chance.
    for a in close[close < first][::-1]:
        if first - a > 2 * lone_gap:
            break
        first = a
    for a in close[close > last]:
        if a - last > 2 * lone_gap:
            break
        last = a
    return first, last


def _frame_range(frames: np.ndarray, lo: float, hi: float) -> tuple[int, int]:
    """Positions of the first frame >= ``lo`` and the first >= ``hi`` in ascending integer ``frames``.

    The bounds are rounded up to integers of the array's own type: a float bound made NumPy
    convert the whole array for every search, which was most of the cost of cue building.
    """
    bounds = np.ceil([lo, hi]).astype(frames.dtype)
    a, b = np.searchsorted(frames, bounds)
    return int(a), int(b)


def _refine(group: pd.DataFrame, offset: int, track: int, matches: Matches, query: Fingerprint,
            config: StamperConfig, speed: float = 1.0) -> tuple[float, float, int, int, float, float]:
    """Refined (start_s, end_s, aligned hashes, film hashes, speed, track offset at start) of one cue.

    The cue spans the film anchors whose hashes align with the cue (searched within one
    window either side of its hits): at normal speed from the first to the last bin with a
    few (:func:`_span_bins`), at another speed from the first to the last solid stretch of
    them (:func:`_span`), since passes at other speeds look hashes up again and lone chance
    anchors at the cue's offset are more common there. (Matching the track's single
    peaks instead of peak pairs was tried to reach further into fades; chance agreement
    at the film's peak density made it extend cues past their ends, so it was dropped.)

    At another ``speed`` (track seconds per film second) offsets are track frames minus
    film frames × speed; a line fitted to the aligned offsets over film time corrects the
    hypothesis's speed (its slope) and gives the track position at the cue's start.
    """
    fs = config.frame_seconds
    lo_s = max(0.0, group["start_s"].min() - config.hop_s)
    hi_s = group["end_s"].max() + config.hop_s
    # One frame wider than the voting tolerance: the best-voted offset can sit at either edge
    # of the true (fractional) offset, and hashes on the far side must not be lost.
    tol = config.offset_tolerance_frames + 1
    line = np.zeros(2)
    if speed != 1.0 and len(group) >= 2:
        # A factor off by 0.3 % drifts the offset 4 frames over a 30 s cue: follow the windows'
        # own best offsets (a line through them) rather than the one offset voted most.
        centres = ((group["start_s"] + group["end_s"]) / 2 / fs).to_numpy(float)
        line = np.polyfit(centres - centres.mean(), group["offset_frames"].to_numpy(float) - offset, 1,
                          w=np.sqrt(group["votes"].to_numpy(float)))
        line = np.array([line[0], line[1] - line[0] * centres.mean()])
    # ``matches`` is sorted by film frame (build_cues): only the cue's stretch of film is read.
    a, b = _frame_range(matches.film_frames, lo_s / fs, hi_s / fs)
    matches = matches.take(slice(a, b))
    expected = offset + line[1] + line[0] * matches.film_frames
    sel = (matches.tracks == track) & (np.abs(matches.offsets - expected) <= tol)
    frames = matches.film_frames[sel]
    ends = frames + matches.dts[sel] / speed  # landmark lengths are track frames
    start, end = group["start_s"].min(), group["end_s"].max()
    if config.refine and frames.size:
        if speed == 1.0:
            found = _span_bins(frames, lo_s, config)
        else:
            # Anchors, not hashes: the hashes of one film peak that happens to sit on a track peak
            # at the cue's offset often align together, and are one chance coincidence, not several.
            anchors = np.unique(frames)
            close = np.unique(frames[np.abs(matches.offsets[sel] - expected[sel]) <= config.offset_tolerance_frames])
            found = _span(anchors, close, min_hits=config.refine_min_hits, lone_gap=config.refine_bin_s / fs,
                          max_gap=(config.refine_max_gap_bins + 2) * config.refine_bin_s / fs)
        if found is not None:
            first, last = found
            in_run = (frames >= first) & (frames <= last)
            start = float(first * fs)
            end = float(ends[in_run].max() * fs)
            end += config.n_fft / 2 / config.sample_rate  # a frame's centre to its end
    first_hash, end_hash = _frame_range(query.frames, start / fs, end / fs)
    n_film = int(end_hash - first_hash)
    inside = (frames >= start / fs - 1) & (frames < end / fs)
    n_aligned = int(np.count_nonzero(inside))
    track_at_start = start * speed + offset * fs
    if speed != 1.0 and n_aligned >= 10 and np.ptp(frames[inside]) * fs >= 2.0:
        slope, intercept = np.polyfit(frames[inside].astype(float), matches.offsets[sel][inside].astype(float), 1)
        speed += slope
        track_at_start = start * speed + intercept * fs
    return start, end, n_aligned, n_film, speed, track_at_start


def build_cues(windows: pd.DataFrame, matches: Matches, query: Fingerprint, config: StamperConfig, *,
               film_id: str, tracks: pd.DataFrame, duration_s: float, speeds: np.ndarray | None = None,
               semitones: np.ndarray | None = None) -> pd.DataFrame:
    """Merge window hits into timestamped cues.

    Parameters
    ----------
    windows : pd.DataFrame
        Output of :func:`scorelens.stamp._match.vote_windows`.
    matches : Matches
        The film's index postings (for boundary refinement).
    query : Fingerprint
        The film's fingerprint (its hash count gives confidence).
    config : StamperConfig
    film_id : str
    tracks : pd.DataFrame
        The candidate tracks in index order: columns ``track_id, title, path``.
    duration_s : float
        Film duration (cue ends are clipped to it).
    speeds, semitones : np.ndarray [shape=(len(tracks),)], optional
        The speed hypothesis under which each entry of ``tracks`` was matched (see
        :mod:`scorelens.stamp._speed`, which lists a track once per hypothesis); default 1.0
        and 0.

    Returns
    -------
    pd.DataFrame
        Columns :data:`CUE_COLUMNS`, one row per cue, sorted by start time.
        ``confidence`` is the fraction of the film's hashes within the cue that align
        with the track at the cue's offset. ``speed`` is track seconds per film second
        (``start_s``/``end_s`` are film time, ``track_offset_s`` album time) and
        ``pitch_shift_semitones`` the pitch shift of the music in the film.
    """
    hits = windows[windows["matched"]]
    rows = []
    # Sorted by film frame once, so that each cue reads only its own stretch of the postings.
    matches = matches.take(np.argsort(matches.film_frames, kind="stable"))
    if len(hits):
        for group in _group_hits(hits, config):
            track = int(group["track"].iloc[0])
            # A pitch-corrected pass looks each hash up 2 * speed_dt_fuzz + 1 times, and chance
            # votes grow as much: a lone window of look-alike music at 1.10 had 27 votes there.
            stretched = speeds is not None and speeds[track] != 1.0 and (semitones is None or semitones[track] == 0)
            single = config.min_votes_single * (1 + 2 * config.speed_dt_fuzz if stretched else 1)
            if len(group) == 1 and (int(group["votes"].iloc[0]) < single
                                    or _lookalike(group.iloc[0], windows, config)):
                continue
            # The offset most windows agree on, weighted by their votes.
            offset = int(group.loc[group["votes"].idxmax(), "offset_frames"])
            speed = 1.0 if speeds is None else float(speeds[track])
            start, end, n_aligned, n_film, speed, track_at = _refine(group, offset, track, matches, query, config,
                                                                     speed)
            clipped = max(0.0, start)
            track_at += (clipped - start) * speed
            start, end = clipped, min(duration_s, end)
            if end - start < config.min_cue_s:
                continue
            info = tracks.iloc[track]
            semis = 0.0 if semitones is None or semitones[track] == 0 else 12 * np.log2(speed)
            rows.append({"film_id": film_id, "track_id": info["track_id"], "track": info["title"],
                         "track_path": info["path"], "start_s": round(start, 3), "end_s": round(end, 3),
                         "track_offset_s": round(track_at, 3), "windows": len(group),
                         "votes": int(group["votes"].sum()), "confidence": round(n_aligned / max(n_film, 1), 4),
                         "speed": round(speed, 5), "pitch_shift_semitones": round(float(semis), 3)})
    cues = pd.DataFrame(rows, columns=[c for c in CUE_COLUMNS if c != "cue_id"])
    cues = _join_continuations(cues.sort_values("start_s", kind="stable").reset_index(drop=True), config)
    cues = _resolve_overlaps(cues)
    cues.insert(1, "cue_id", np.arange(len(cues), dtype=np.int64))
    return cues


def _join_continuations(cues: pd.DataFrame, config: StamperConfig) -> pd.DataFrame:
    """Join a cue to the previous one when it continues it: same track, touching, at the album position due.

    Passes at different speeds can split one use of a track: at the faded end of music
    stretched by 2 %, the 1.0 pass out-voted the 0.98 pass in the last window, which became a
    cue of its own. The joined cue keeps the speed of its longer part.
    """
    if len(cues) < 2:
        return cues
    rows = [cues.iloc[0].to_dict()]
    for _, cue in cues.iloc[1:].iterrows():
        prev = rows[-1]
        due = prev["track_offset_s"] + (cue["start_s"] - prev["start_s"]) * prev["speed"]
        if (cue["track_id"] == prev["track_id"] and cue["start_s"] - prev["end_s"] <= config.hop_s / 2
                and abs(cue["track_offset_s"] - due) <= config.offset_jump_s / 2):
            longer = prev if prev["end_s"] - prev["start_s"] >= cue["end_s"] - cue["start_s"] else cue
            span = (prev["end_s"] - prev["start_s"], cue["end_s"] - cue["start_s"])
            prev.update(end_s=max(prev["end_s"], cue["end_s"]), windows=prev["windows"] + cue["windows"],
                        votes=prev["votes"] + cue["votes"], speed=longer["speed"],
                        pitch_shift_semitones=longer["pitch_shift_semitones"],
                        confidence=round((prev["confidence"] * span[0] + cue["confidence"] * span[1])
                                         / max(span[0] + span[1], 1e-9), 4))
        else:
            rows.append(cue.to_dict())
    return pd.DataFrame(rows, columns=cues.columns).astype(cues.dtypes.to_dict())


def _resolve_overlaps(cues: pd.DataFrame) -> pd.DataFrame:
    """Where refined cues of different tracks overlap, split the overlap at its midpoint."""
    if len(cues) < 2:
        return cues
    starts, ends = cues["start_s"].to_numpy(copy=True), cues["end_s"].to_numpy(copy=True)
    offsets = cues["track_offset_s"].to_numpy(copy=True)
    speeds = cues["speed"].to_numpy(float)
    for i in range(1, len(cues)):
        if starts[i] < ends[i - 1]:
            mid = round((starts[i] + ends[i - 1]) / 2, 3)
            ends[i - 1] = max(starts[i - 1], mid)
            offsets[i] += (mid - starts[i]) * speeds[i] if mid > starts[i] else 0.0
            starts[i] = max(starts[i], mid)
    cues = cues.assign(start_s=starts, end_s=ends, track_offset_s=np.round(offsets, 3))
    return cues[cues["end_s"] > cues["start_s"]].reset_index(drop=True)
