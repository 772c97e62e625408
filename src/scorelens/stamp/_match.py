"""Matching a film's hashes against an index of tracks, window by window.

For every film hash found in the index, the difference between the track's anchor frame
and the film's anchor frame is the *offset* at which the track would be playing. Music
from a track produces many hashes with one consistent offset; chance collisions scatter.
Each film window votes over (track, offset) and keeps the best (Wang 2003; Dejavu's
``align_matches``), with votes within ±``offset_tolerance_frames`` pooled because film
and track frame grids are not aligned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scorelens.config import StamperConfig
from scorelens.stamp._fingerprint import Fingerprint
from scorelens.stamp._hashes import HASH_BITS

__all__ = ["HashIndex", "Matches", "lookup", "vote_windows", "pool_votes", "hash_runs", "match_film"]

# A hash that occurs more often than this in the index carries no identity (silence, hum).
_MAX_POSTINGS = 64
_OFFSET_BIAS = 1 << 27
_TRACK_SHIFT = 28
_WINDOW_SHIFT = 44


class HashIndex:
    """An in-memory inverted index of tracks' hashes: sorted arrays plus direct-address tables.

    Hashes have :data:`~scorelens.stamp._hashes.HASH_BITS` bits, so tables over every hash
    value find each hash's postings with two array reads; a binary search per film hash
    cost more than the rest of the matching. The tables hold each present value's first
    position (int32) and its posting count (uint8, saturated), written only where a value
    is present: a prefix sum over all 2**HASH_BITS values (the obvious layout) cost a
    fixed 30-200 ms per film on a shared machine, more than matching a 2-minute film.

    Parameters
    ----------
    track_ids : sequence of int
        Database ids of the tracks, in the order of ``fingerprints``.
    fingerprints : iterable of (hashes, frames)
        Per track: ``hashes`` [shape=(n,), uint32] and anchor ``frames`` [shape=(n,), int32].
    """

    def __init__(self, track_ids: Iterable[int], fingerprints: Iterable[tuple[np.ndarray, np.ndarray]]):
        self.track_ids = np.asarray(list(track_ids), dtype=np.int64)
        hs, ts, fs = [], [], []
        for k, (h, f) in enumerate(fingerprints):
            hs.append(np.asarray(h, dtype=np.uint32))
            fs.append(np.asarray(f, dtype=np.int32))
            ts.append(np.full(len(h), k, dtype=np.int32))
        if len(hs) != self.track_ids.size:
            raise ValueError(f"{len(hs)} fingerprints for {self.track_ids.size} track ids")
        h = np.concatenate(hs) if hs else np.zeros(0, np.uint32)
        order = _stable_order(h)
        self.hashes = h[order]
        self.tracks = (np.concatenate(ts) if ts else np.zeros(0, np.int32))[order]
        self.frames = (np.concatenate(fs) if fs else np.zeros(0, np.int32))[order]
        first = np.flatnonzero(np.r_[True, self.hashes[1:] != self.hashes[:-1]]) if h.size else np.zeros(0, np.int64)
        values = self.hashes[first]
        self._first = np.zeros(1 << HASH_BITS, dtype=np.int64 if h.size >= 1 << 31 else np.int32)
        self._first[values] = first
        self._count = np.zeros(1 << HASH_BITS, dtype=np.uint8)
        self._count[values] = np.minimum(np.diff(np.r_[first, h.size]), 255)

    def runs(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last position of each hash's postings in the sorted arrays.

        Parameters
        ----------
        hashes : np.ndarray [shape=(n,)]
            Hashes in [0, 2**HASH_BITS).

        Returns
        -------
        lo, hi : np.ndarray [shape=(n,), dtype=int64]
            Hash ``hashes[i]`` is at positions ``lo[i]:hi[i]`` of ``self.hashes``, ``self.tracks``
            and ``self.frames`` (empty when it is not indexed).
        """
        hashes = np.asarray(hashes, dtype=np.intp)
        lo = self._first[hashes].astype(np.int64)
        return lo, lo + self.counts(hashes)

    def counts(self, hashes: np.ndarray, *, exact: bool = True) -> np.ndarray:
        """Postings of each hash.

        Parameters
        ----------
        hashes : np.ndarray [shape=(n,)]
            Hashes in [0, 2**HASH_BITS).
        exact : bool
            False: counts above 254 read 255 (cheaper, for callers that ignore common hashes).

        Returns
        -------
        np.ndarray [shape=(n,), dtype=int64]
        """
        hashes = np.asarray(hashes, dtype=np.intp)
        n = self._count[hashes].astype(np.int64)
        full = np.flatnonzero(n == 255) if exact else ()
        if len(full):  # saturated: counted exactly (values that common are rare)
            n[full] = np.searchsorted(self.hashes, hashes[full], side="right") - self._first[hashes[full]]
        return n

    def __len__(self) -> int:
        return int(self.hashes.size)


def _stable_order(h: np.ndarray) -> np.ndarray:
    """``np.argsort(h, kind="stable")`` for hashes of up to 24 bits, as two radix passes (a third faster)."""
    if h.size and int(h.max()) >= 1 << 24:
        return np.argsort(h, kind="stable")
    low = np.argsort((h & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((h[low] >> 16).astype(np.uint8), kind="stable")]


def hash_runs(starts: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of hash values in a direct-address table (``starts[h]`` .. ``starts[h + 1]``).

    Parameters
    ----------
    starts : np.ndarray [shape=(2**HASH_BITS + 1,)]
        Cumulative posting counts per hash value (in memory or memory-mapped).
    hashes : np.ndarray [shape=(n,)]
        Values in [0, 2**HASH_BITS).

    Returns
    -------
    lo, hi : np.ndarray [shape=(n,), dtype=int64]
    """
    hashes = np.asarray(hashes, dtype=np.int64)
    return starts[hashes].astype(np.int64), starts[hashes + 1].astype(np.int64)


@dataclass(frozen=True)
class Matches:
    """Film hashes found in the index, one row per (film hash, index posting).

    Attributes
    ----------
    film_frames : np.ndarray [shape=(m,), int32]
        Film anchor frame.
    tracks : np.ndarray [shape=(m,), int32]
        Position of the track in the index's ``track_ids``.
    offsets : np.ndarray [shape=(m,), int64]
        Track anchor frame minus film anchor frame.
    dts : np.ndarray [shape=(m,), int32]
        Landmark length in frames (for the end time of a cue).
    """

    film_frames: np.ndarray
    tracks: np.ndarray
    offsets: np.ndarray
    dts: np.ndarray
    ids: np.ndarray | None = None
    """Unique id of each (film hash, posting) pair, to merge matches found in overlapping chunks."""

    def take(self, mask) -> "Matches":
        """The rows selected by a boolean mask or index array.

        Parameters
        ----------
        mask : np.ndarray [shape=(m,), dtype=bool] or np.ndarray [shape=(k,), dtype=int]

        Returns
        -------
        Matches
        """
        return Matches(self.film_frames[mask], self.tracks[mask], self.offsets[mask], self.dts[mask],
                       None if self.ids is None else self.ids[mask])

    @staticmethod
    def concat(parts: list["Matches"]) -> "Matches":
        """Rows of several Matches, each (film hash, posting) pair once.

        Parameters
        ----------
        parts : list of Matches
            Each with ``ids`` (as :func:`lookup` gives them).

        Returns
        -------
        Matches
            Rows ordered by ``ids``; an empty Matches when ``parts`` is empty.
        """
        if not parts:
            empty = np.zeros(0, np.int64)
            return Matches(empty.astype(np.int32), empty.astype(np.int32), empty, empty.astype(np.int32), empty)
        ids = np.concatenate([p.ids for p in parts])
        _, first = np.unique(ids, return_index=True)
        return Matches(np.concatenate([p.film_frames for p in parts])[first],
                       np.concatenate([p.tracks for p in parts])[first],
                       np.concatenate([p.offsets for p in parts])[first],
                       np.concatenate([p.dts for p in parts])[first], ids[first])


def lookup(query: Fingerprint, index: HashIndex, *, first: int = 0) -> Matches:
    """All index postings of every film hash (hashes more common than ``_MAX_POSTINGS`` skipped).

    Parameters
    ----------
    query : Fingerprint
        The film's hashes and anchor frames (and ``track_frames`` when hashed at another speed).
    index : HashIndex
    first : int
        Position of ``query``'s first hash in the whole film's fingerprint when ``query`` is a
        slice of it (it makes the rows' ``ids`` global).

    Returns
    -------
    Matches
        One row per (film hash, posting), with ``ids``; ``offsets`` are on the track's time
        scale (from ``track_frames`` when given).
    """
    counts = index.counts(query.hashes, exact=False)
    counts[counts > _MAX_POSTINGS] = 0
    # Most film hashes are in no track: only those that are cost a read of the first-position table.
    found = np.flatnonzero(counts)
    counts = counts[found]
    lo = index._first[query.hashes[found].astype(np.intp)].astype(np.int64)
    # At another speed the film hashes carry their anchor on the track's time scale too.
    track_frames = query.frames if query.track_frames is None else query.track_frames
    total = int(counts.sum())
    run = np.repeat(np.arange(found.size), counts)
    which = found[run]
    # Position of each posting: lo of its query hash plus its rank within that hash's run.
    starts = np.cumsum(counts) - counts
    pos = lo[run] + (np.arange(total) - starts[run])
    film_frames = query.frames[which]
    return Matches(film_frames=film_frames, tracks=index.tracks[pos],
                   offsets=index.frames[pos].astype(np.int64) - track_frames[which],
                   dts=(query.hashes[which] & 0x3F).astype(np.int32),
                   ids=(which.astype(np.int64) + first) * max(len(index), 1) + pos)


@dataclass(frozen=True)
class _HashSlice:
    hashes: np.ndarray
    frames: np.ndarray
    track_frames: np.ndarray | None = None


def match_film(query: Fingerprint, index: HashIndex, config: StamperConfig, *, n_windows: int,
               chunk_windows: int = 60) -> tuple[pd.DataFrame, Matches]:
    """Vote every window of a film, a chunk of windows at a time, and keep the aligned postings.

    Looking up a whole two-hour film at once holds millions of chance postings in memory;
    chunks of ``chunk_windows`` windows (with one window of context either side, so the
    votes and the kept postings are the same as in one pass) keep memory flat whatever the
    film's length.

    Parameters
    ----------
    query : Fingerprint
        The film's fingerprint, anchor frames ascending.
    index : HashIndex
    config : StamperConfig
    n_windows : int
        Windows in the film.
    chunk_windows : int
        Windows voted per chunk.

    Returns
    -------
    windows : pd.DataFrame
        :func:`vote_windows`'s table for the whole film.
    aligned : Matches
        The postings within ``offset_tolerance_frames + 1`` of the (track, offset) of a
        matched window: all that cue building and boundary refinement need.
    """
    fs = config.frame_seconds
    hop_frames, win_frames = config.hop_s / fs, config.window_s / fs
    tol = config.offset_tolerance_frames + 1
    tables, kept = [], []
    for w0 in range(0, n_windows, chunk_windows):
        w1 = min(n_windows, w0 + chunk_windows)
        a, b = np.searchsorted(query.frames, [(w0 - 1) * hop_frames, (w1 + 1) * hop_frames + win_frames])
        part = _HashSlice(query.hashes[a:b], query.frames[a:b],
                          None if query.track_frames is None else query.track_frames[a:b])
        matches = lookup(part, index, first=int(a))
        votes = vote_windows(matches, part, config, n_windows=n_windows,
                             film_hashes=matches.ids // max(len(index), 1)).iloc[w0:w1]
        tables.append(votes)
        won = votes[votes["matched"]]
        if len(won):
            winners = np.unique((won["track"].to_numpy(np.int64) << 32) + won["offset_frames"].to_numpy(np.int64))
            key = (matches.tracks.astype(np.int64) << 32) + matches.offsets
            # Every key within the tolerance of a winner, looked up in one sorted pass.
            zone = np.unique((winners[:, None] + np.arange(-tol, tol + 1)).ravel())
            pos = np.minimum(np.searchsorted(zone, key), zone.size - 1)
            kept.append(matches.take(zone[pos] == key))
    return pd.concat(tables, ignore_index=True), Matches.concat(kept)


def pool_votes(keys: np.ndarray, counts: np.ndarray, tolerance: int) -> np.ndarray:
    """Votes of each key plus those of the keys within ``tolerance`` of it.

    The keys pack an offset in their lowest bits, so key ± d is the same (window, track) at
    offset ± d: film and track frame grids are not aligned, and one alignment's votes fall
    on neighbouring offsets.

    Parameters
    ----------
    keys : np.ndarray [shape=(n,), dtype=int64]
        Sorted, unique.
    counts : np.ndarray [shape=(n,)]
        Votes of each key.
    tolerance : int
        Offsets pooled either side.

    Returns
    -------
    np.ndarray [shape=(n,)]
    """
    pooled = counts.copy()
    # Keys are unique and sorted, so key + d, when present, is one of the next d keys: comparing
    # neighbours finds it without a binary search per key.
    for d in range(1, tolerance + 1):
        for j in range(1, min(d, keys.size - 1) + 1):
            hit = np.flatnonzero(keys[j:] - keys[:-j] == d)
            pooled[hit] += counts[hit + j]
            pooled[hit + j] += counts[hit]
    return pooled


def vote_windows(matches: Matches, query: Fingerprint, config: StamperConfig, *,
                 n_windows: int, film_hashes: np.ndarray | None = None) -> pd.DataFrame:
    """Best (track, offset) of each film window.

    A window matches when its best (track, offset) has ``min_votes``, ``min_vote_ratio``
    times the votes of the best other track, and hashes spread over the window. With
    ``film_hashes``, another track aligned mostly by the *same film hashes* as the best is
    another release of the same music (the album and a compilation, an MP3 and a FLAC of one
    song on two films' soundtracks), not a rival: it does not count as the runner-up, and the
    windows of such a pair are given to the release with more votes over the windows voted
    here, so that a cue does not alternate between them (see :func:`_releases`).

    Parameters
    ----------
    matches : Matches
        The film's index postings (:func:`lookup`).
    query : Fingerprint
        The film's fingerprint (for the number of hashes per window).
    config : StamperConfig
    n_windows : int
        Windows in the film.
    film_hashes : np.ndarray [shape=(m,)], optional
        Which film hash each match row comes from (its position in the film's fingerprint).

    Returns
    -------
    pd.DataFrame
        One row per window: ``window, start_s, end_s, track (index position or -1),
        candidate (the best track, matched or not; -1 without votes), offset_frames, votes,
        runner_up (best votes of another track), n_hashes, spread (bins of the window holding
        aligned hashes), matched``.
    """
    fs = config.frame_seconds
    win_frames = config.window_s / fs
    hop_frames = config.hop_s / fs
    copies = int(np.ceil(config.window_s / config.hop_s))
    # Window w covers frames [w*hop, w*hop + window); with overlap a hash belongs to several.
    keys = []
    last = n_windows - 1
    for c in range(copies):
        w = np.floor(matches.film_frames / hop_frames).astype(np.int64) - c
        ok = (w >= 0) & (w <= last) & (matches.film_frames < w * hop_frames + win_frames)
        keys.append((w[ok] << _WINDOW_SHIFT) | (matches.tracks[ok].astype(np.int64) << _TRACK_SHIFT)
                    | (matches.offsets[ok] + _OFFSET_BIAS))
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    uniq, counts = np.unique(key, return_counts=True)
    pooled = pool_votes(uniq, counts, config.offset_tolerance_frames)
    windows = uniq >> _WINDOW_SHIFT
    tracks = (uniq >> _TRACK_SHIFT) & ((1 << (_WINDOW_SHIFT - _TRACK_SHIFT)) - 1)
    offsets = (uniq & ((1 << _TRACK_SHIFT) - 1)) - _OFFSET_BIAS
    # Film hashes per window (the denominator of confidence).
    hw = np.floor(query.frames / hop_frames).astype(np.int64)
    n_hashes = np.zeros(n_windows, dtype=np.int64)
    for c in range(copies):
        w = hw - c
        ok = (w >= 0) & (w <= last) & (query.frames < w * hop_frames + win_frames)
        n_hashes += np.bincount(w[ok], minlength=n_windows)[:n_windows]
    track = np.full(n_windows, -1, dtype=np.int64)
    best_offset = np.zeros(n_windows, dtype=np.int64)
    votes = np.zeros(n_windows, dtype=np.int64)
    runner_up = np.zeros(n_windows, dtype=np.int64)
    if uniq.size:
        # The keys are sorted by window: per window, its first row with the most votes, then the most
        # votes of another track (the runner-up), by reductions over each window's run of rows.
        starts = np.flatnonzero(np.r_[True, windows[1:] != windows[:-1]])
        run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, uniq.size]))
        top = np.flatnonzero(pooled == np.maximum.reduceat(pooled, starts)[run])
        best = top[np.r_[True, run[top][1:] != run[top][:-1]]]
        w = windows[best]
        track[w], best_offset[w], votes[w] = tracks[best], offsets[best], pooled[best]
        runner_up[w] = np.maximum.reduceat(np.where(tracks == tracks[best][run], 0, pooled), starts)
    out = pd.DataFrame({"window": np.arange(n_windows), "start_s": np.arange(n_windows) * config.hop_s,
                        "end_s": np.arange(n_windows) * config.hop_s + config.window_s, "track": track,
                        "track_best": track.copy(), "offset_frames": best_offset, "votes": votes,
                        "runner_up": runner_up, "n_hashes": n_hashes})
    if uniq.size and film_hashes is not None and config.min_vote_ratio:
        _releases(out, windows, tracks, offsets, pooled, matches, film_hashes, config, hop_frames, win_frames)
    spread = _support_spread(matches, out, config, hop_frames, win_frames)
    votes, runner_up = out["votes"].to_numpy(), out["runner_up"].to_numpy()
    matched = (votes >= config.min_votes) & (spread >= config.min_spread_bins)
    if config.min_vote_ratio:
        matched &= votes >= config.min_vote_ratio * runner_up
    out["spread"] = spread
    out["matched"] = matched
    out["track"] = np.where(matched, out["track"].to_numpy(), -1)
    return out.rename(columns={"track_best": "candidate"})


# Two tracks aligned by at least this share of the same film hashes (of the larger support) are the same music.
_SAME_MUSIC = 0.8


def _releases(out: pd.DataFrame, windows: np.ndarray, tracks: np.ndarray, offsets: np.ndarray,
              pooled: np.ndarray, matches: Matches, film_hashes: np.ndarray, config: StamperConfig,
              hop_frames: float, win_frames: float) -> None:
    """Windows whose runner-up is another release of the best track's music: runner-up discounted, pair unified.

    Only windows that fail the vote ratio are examined (a loop over them: at most the length
    of the film's music that has a second release in the index; none in most films).
    """
    tol = config.offset_tolerance_frames
    votes, runner_up = out["votes"].to_numpy(), out["runner_up"].to_numpy()
    # A runner-up with fewer than min_votes postings cannot be a release (its support is at most its
    # postings): such windows, half the failing ones of a film (chance votes), keep their runner-up.
    failing = np.flatnonzero((votes >= config.min_votes) & (votes < config.min_vote_ratio * runner_up)
                             & (runner_up >= config.min_votes))
    if failing.size == 0:
        return
    order = np.argsort(matches.film_frames, kind="stable")
    frames = matches.film_frames[order]

    def support(lo: int, hi: int, track: int, offset: int) -> np.ndarray:
        rows = order[lo:hi]
        rows = rows[(matches.tracks[rows] == track) & (np.abs(matches.offsets[rows] - offset) <= tol)]
        return np.unique(film_hashes[rows])

    pairs = []
    for w in failing:
        lo, hi = np.searchsorted(frames, [w * hop_frames, w * hop_frames + win_frames])
        a, b = np.searchsorted(windows, [w, w + 1])
        # Each track's best (votes, offset) in the window, strongest first.
        rows = a + np.lexsort((-pooled[a:b], tracks[a:b]))
        firsts = rows[np.r_[True, tracks[rows][1:] != tracks[rows][:-1]]]
        firsts = firsts[np.argsort(-pooled[firsts], kind="stable")]
        best_track, best_offset = int(out.at[w, "track_best"]), int(out.at[w, "offset_frames"])
        best = support(lo, hi, best_track, best_offset)
        runner, partner = 0, None
        for k in firsts:
            if tracks[k] == best_track:
                continue
            theirs = support(lo, hi, int(tracks[k]), int(offsets[k]))
            # Both ways: a release explains (nearly) all the best track's hashes and the best all of its;
            # a rival that merely shares a few hashes (a common sound) explains few of the best's.
            shared = np.intersect1d(best, theirs, assume_unique=True).size
            if theirs.size >= config.min_votes and shared >= _SAME_MUSIC * max(best.size, theirs.size):
                partner = partner or (int(tracks[k]), int(offsets[k]), int(pooled[k]))
                continue
            runner = int(pooled[k])
            break
        out.at[w, "runner_up"] = runner
        if partner is not None:
            pairs.append((w, best_track, int(out.at[w, "votes"]), *partner))
    # Each pair's windows go to the release with more votes over them.
    total: dict[int, int] = {}
    for _, t1, v1, t2, _, v2 in pairs:
        total[t1] = total.get(t1, 0) + v1
        total[t2] = total.get(t2, 0) + v2
    for w, t1, _, t2, o2, v2 in pairs:
        if (total[t2], -t2) > (total[t1], -t1):
            out.loc[w, ["track", "track_best", "offset_frames", "votes"]] = [t2, t2, o2, v2]


def _support_spread(matches: Matches, out: pd.DataFrame, config: StamperConfig, hop_frames: float,
                    win_frames: float) -> np.ndarray:
    """For each window's best (track, offset): in how many ``spread_bin_s`` bins its aligned hashes fall.

    Music matches all along a window; a single shared sound (the same drum sample in two
    pieces) aligns many hashes at one instant only.
    """
    spread = np.zeros(len(out), dtype=np.int64)
    best = out[out["votes"] > 0]
    if best.empty or matches.film_frames.size == 0:
        return spread
    bin_frames = config.spread_bin_s / config.frame_seconds
    # Hashes agreeing with the best candidate of the window they fall in.
    for c in range(int(np.ceil(config.window_s / config.hop_s))):
        w = np.floor(matches.film_frames / hop_frames).astype(np.int64) - c
        ok = (w >= 0) & (w < len(out))
        w_ok = np.where(ok, w, 0)
        ok &= matches.film_frames < w_ok * hop_frames + win_frames
        best_track = out["track_best"].to_numpy()[w_ok]
        best_offset = out["offset_frames"].to_numpy()[w_ok]
        ok &= (matches.tracks == best_track) & (np.abs(matches.offsets - best_offset) <= config.offset_tolerance_frames)
        local_bin = np.floor((matches.film_frames[ok] - w[ok] * hop_frames) / bin_frames).astype(np.int64)
        pairs = np.unique(w[ok] * 1024 + local_bin)
        spread += np.bincount(pairs // 1024, minlength=len(out))[: len(out)]
    return spread
