import numpy as np
import pytest

from scorelens.stamp._hashes import hashes_to_landmarks, landmarks_to_hashes, peaks_to_hashes
from scorelens.stamp._peaks import Peaks


def test_landmarks_round_trip():
    rng = np.random.default_rng(0)
    f1 = rng.integers(0, 1024, 500)
    df = rng.integers(-63, 64, 500)
    dt = rng.integers(1, 64, 500)
    h = landmarks_to_hashes(f1, df, dt)
    assert h.dtype == np.uint32 and h.max() < 2 ** 23
    back = hashes_to_landmarks(h)
    np.testing.assert_array_equal(back[0], f1)
    np.testing.assert_array_equal(back[1], df)
    np.testing.assert_array_equal(back[2], dt)


def test_pairs_stay_in_target_zone_and_respect_fan_out():
    # Peaks every 3 frames, alternating bins 100 / 110, plus one far-away bin that must never pair.
    frames = np.repeat(np.arange(0, 300, 3), 2)
    bins = np.tile([100, 500], frames.size // 2)
    hashes, anchors = peaks_to_hashes(Peaks(frames, bins, 300), fan_out=3, max_dt=10, max_df=20)
    f1, df, dt = hashes_to_landmarks(hashes)
    assert np.all((dt >= 1) & (dt <= 10))
    assert np.all(np.abs(df) <= 20)
    assert set(np.unique(f1)) == {100, 500}
    # Each anchor pairs with the next 3 peaks of its own bin (dt = 3, 6, 9) -- no more.
    counts = np.unique(anchors[f1 == 100], return_counts=True)[1]
    assert counts.max() == 3
    assert sorted(set(dt[f1 == 100])) == [3, 6, 9]
    assert np.all(np.diff(anchors) >= 0)


def test_hashes_do_not_depend_on_absolute_time():
    frames = np.array([0, 4, 9, 15])
    bins = np.array([50, 60, 55, 70])
    h1, _ = peaks_to_hashes(Peaks(frames, bins, 20), fan_out=5, max_dt=63, max_df=63)
    h2, a2 = peaks_to_hashes(Peaks(frames + 1000, bins, 1020), fan_out=5, max_dt=63, max_df=63)
    np.testing.assert_array_equal(np.sort(h1), np.sort(h2))
    assert a2.min() == 1000


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_peaks_give_no_hashes(n):
    h, f = peaks_to_hashes(Peaks(np.arange(n), np.arange(n), n), fan_out=3, max_dt=10, max_df=10)
    assert h.size == 0 and f.size == 0
