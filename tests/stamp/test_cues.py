"""Cue edges at another speed: which aligned film anchors a cue reaches (hand-made anchors, hand-counted)."""

import numpy as np

from scorelens.stamp._cues import _span

BIN = 20  # frames between anchors that still form one stretch (about half a second)


def _edges(anchors, close=None):
    anchors = np.array(sorted(anchors), dtype=np.int64)
    close = anchors if close is None else np.array(sorted(close), dtype=np.int64)
    return _span(anchors, close, min_hits=2, lone_gap=BIN, max_gap=4 * BIN)


def test_a_cue_spans_its_solid_stretches_and_bridges_a_quiet_gap_between_them():
    music = [1000 + 10 * k for k in range(30)]  # one stretch, frames 1000-1290
    later = [1400, 1405, 1410]  # three anchors after 110 frames of nothing (masked passage)
    assert _edges(music + later) == (1000, 1410)


def test_lone_chance_anchors_outside_the_music_are_not_reached():
    music = [1000 + 10 * k for k in range(30)]
    # One film peak that hit a track peak by chance: several hashes, one anchor, 60 frames out.
    assert _edges([940] + music) == (1000, 1290)
    # Two anchors 75 frames past the end, only one within the voting tolerance.
    anchors = music + [1365, 1372]
    assert _edges(anchors, close=music + [1365]) == (1000, 1290)
    # … both within it: a faded last phrase, reached.
    assert _edges(anchors) == (1000, 1372)


def test_one_close_anchor_just_past_an_edge_counts_and_nothing_solid_means_no_span():
    music = [1000 + 10 * k for k in range(30)]
    assert _edges(music + [1325]) == (1000, 1325)  # 35 frames out: within two stretch gaps
    assert _edges(music + [1345]) == (1000, 1290)  # 55 frames out: too far for a lone anchor
    assert _edges([100, 500, 900]) is None
