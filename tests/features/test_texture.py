"""Texture windows: placement and hand-computed statistics."""

import numpy as np
import pytest

from scorelens.exceptions import ParameterError
from scorelens.features._texture import texture_stats, texture_windows


def test_study_windows_hop_3_35s_and_end_aligned_last_window():
    starts, ends = texture_windows(12.0, window_s=5.0, hop_s=5.0 * (1 - 0.33))
    np.testing.assert_allclose(starts, [0.0, 3.35, 6.7, 7.0])
    np.testing.assert_allclose(ends - starts, 5.0)


def test_short_span_is_one_window():
    starts, ends = texture_windows(3.0)
    np.testing.assert_allclose(starts, [0.0])
    np.testing.assert_allclose(ends, [3.0])


def test_exact_fit_has_no_duplicate_window():
    starts, _ = texture_windows(10.0, window_s=5.0, hop_s=2.5)
    np.testing.assert_allclose(starts, [0.0, 2.5, 5.0])


def test_stats_are_mean_and_population_std_of_frames_inside():
    times = np.arange(10.0)
    values = np.stack([times, times**2], axis=1)
    mean, std = texture_stats(times, values, np.array([0.0, 5.0]), np.array([5.0, 9.0]))
    np.testing.assert_allclose(mean[0], [2.0, np.mean([0, 1, 4, 9, 16])])
    np.testing.assert_allclose(std[0, 0], np.std([0, 1, 2, 3, 4]))
    # The last window includes its end point.
    np.testing.assert_allclose(mean[1, 0], np.mean([5, 6, 7, 8, 9]))


def test_window_without_frames_takes_the_nearest_frame():
    mean, std = texture_stats(np.array([0.0, 10.0]), np.array([[1.0], [2.0]]), np.array([2.0]), np.array([4.0]))
    np.testing.assert_allclose(mean, [[1.0]])
    np.testing.assert_allclose(std, [[0.0]])


def test_std_does_not_cancel_for_large_values():
    times = np.arange(100.0)
    values = 1e6 + np.tile([0.0, 1.0], 50)[:, None]
    _, std = texture_stats(times, values, np.array([0.0]), np.array([99.0]))
    np.testing.assert_allclose(std, [[0.5]], rtol=1e-6)


def test_bad_duration_is_refused():
    with pytest.raises(ParameterError, match="duration_s=0"):
        texture_windows(0)
