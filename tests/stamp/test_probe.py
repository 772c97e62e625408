"""The speed probe's sample of windows, its exact vote counting, and the index it looks hashes up in."""

from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scorelens.stamp._match import _OFFSET_BIAS, _TRACK_SHIFT, _WINDOW_SHIFT, HashIndex
from scorelens.stamp._speed import _may_reach, _window_best, probe_windows


def test_index_runs_and_counts_match_a_dictionary_of_postings():
    rng = np.random.default_rng(3)
    # Three tracks; hash 77 is in 300 postings (past the count table's 255), hash 5 in none.
    fingerprints = []
    for k in range(3):
        h = rng.integers(0, 2000, 400).astype(np.uint32)
        h[h == 5] = 6
        fingerprints.append((np.r_[h, np.full(100, 77, np.uint32)], np.arange(500, dtype=np.int32) + 1000 * k))
    index = HashIndex([11, 12, 13], fingerprints)
    postings = defaultdict(list)  # hash -> (track position, frame), in track order then frame order
    for k, (h, f) in enumerate(fingerprints):
        for value, frame in zip(h.tolist(), f.tolist()):
            postings[value].append((k, frame))
    query = np.array([77, 5, 6, 1999, 0, 77, (1 << 23) - 1])
    lo, hi = index.runs(query)
    for q, a, b in zip(query.tolist(), lo.tolist(), hi.tolist()):
        assert list(zip(index.tracks[a:b].tolist(), index.frames[a:b].tolist())) == postings.get(q, [])
    np.testing.assert_array_equal(index.counts(query), [len(postings.get(q, [])) for q in query.tolist()])
    assert index.counts(np.array([77]), exact=False)[0] == 255  # saturated, for callers that skip common hashes
    assert len(HashIndex([], [])) == 0 and HashIndex([], []).counts(np.array([3]))[0] == 0


def _windows(matched, spread, votes):
    n = len(matched)
    return pd.DataFrame({"window": np.arange(n), "matched": matched, "spread": spread, "votes": votes})


def test_probe_samples_a_share_of_the_unexplained_windows(config):
    n = 40
    matched = np.zeros(n, bool)
    matched[:20] = True
    spread = np.full(n, 10)
    spread[5:8] = 3  # matched on a third of the window: music a few per cent off 1.0 matches so
    votes = np.full(n, 4)
    votes[[6, 30]] = [40, 25]
    cfg = replace(config, speed_probe_share=0.25, speed_probe_min_windows=4)
    pick = probe_windows(cfg, n_windows=n, windows=_windows(matched, spread, votes))
    assert pick.size == 10  # a quarter of 40
    unexplained = set(range(5, 8)) | set(range(20, 40))
    assert set(pick.tolist()) <= unexplained
    assert {6, 30} <= set(pick.tolist())  # the closest to matching at 1.0 come first
    assert np.all(np.diff(pick) > 0)


@pytest.mark.parametrize("n_windows,expected", [(12, 4), (24, 4), (120, 18), (1440, 48)])
def test_the_probe_grows_with_the_film_between_its_floor_and_cap(config, n_windows, expected):
    # ceil(0.15 n), at least 4 windows (20 s), at most 48 (four minutes): the probe's cost follows the film's.
    pick = probe_windows(config, n_windows=n_windows,
                         windows=_windows(np.zeros(n_windows, bool), np.zeros(n_windows), np.zeros(n_windows)))
    assert pick.size == expected


def test_no_probe_when_fewer_than_two_windows_are_unexplained(config):
    matched = np.ones(30, bool)
    matched[17] = False
    assert probe_windows(config, n_windows=30, windows=_windows(matched, np.full(30, 10), np.zeros(30))).size == 0
    matched[3] = False
    assert probe_windows(config, n_windows=30, windows=_windows(matched, np.full(30, 10), np.zeros(30))).tolist() == [
        3, 17]


def _naive_best(rows, tolerance, min_votes, ratio):
    """Per window: pooled votes of each (track, offset) by hand, the best, and another track's best."""
    count = Counter(rows)
    per_window = defaultdict(dict)
    for (w, t, o) in count:
        pooled = sum(count.get((w, t, o + d), 0) for d in range(-tolerance, tolerance + 1))
        per_window[w][(t, o)] = pooled
    out = {}
    for w, cells in per_window.items():
        (t, o), best = max(cells.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
        runner = max([v for (t2, _), v in cells.items() if t2 != t], default=0)
        if best >= min_votes and best >= ratio * runner:
            out[w] = (best, t, o)
    return out


def test_probe_votes_counted_on_the_postings_that_may_reach_the_floor_are_exact(config):
    rng = np.random.default_rng(7)
    rows = []
    for w in range(30):  # chance postings everywhere, music in some windows (one track at one offset, ±1)
        rows += [(w, int(rng.integers(6)), int(rng.integers(-3000, 3000))) for _ in range(300)]
        if w % 3 == 0:
            t, o = int(rng.integers(6)), int(rng.integers(-3000, 3000))
            rows += [(w, t, o + int(rng.integers(-1, 2))) for _ in range(int(rng.integers(4, 40)))]
        if w % 7 == 0:  # a rival track with half the votes (the vote ratio decides)
            rows += [(w, 6, 500) for _ in range(int(rng.integers(2, 12)))]
    key = np.array([(w << _WINDOW_SHIFT) | (t << _TRACK_SHIFT) | (o + _OFFSET_BIAS) for w, t, o in rows], np.int64)
    tol = config.offset_tolerance_frames
    oracle = _naive_best(rows, tol, config.min_votes, config.min_vote_ratio)
    for floor in (config.min_votes, 2 * config.min_votes, 30):
        keep = _may_reach(key, floor, tol)
        assert keep.mean() < 0.5  # most chance postings are dropped before counting
        votes, track, offset = _window_best(key[keep], config, 30)
        for w in range(30):
            want = oracle.get(w)
            if want is not None and want[0] >= floor:
                assert (votes[w], track[w], offset[w]) == want, (floor, w)
            else:
                assert votes[w] < floor or votes[w] == 0, (floor, w)
