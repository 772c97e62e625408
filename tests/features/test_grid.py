"""The common 1 Hz grid and the resampling of native frames onto it."""

import numpy as np
import pytest

from scorelens.exceptions import ParameterError
from scorelens.features._base import FrameFeatures
from scorelens.features._grid import grid_times, to_grid


def test_grid_frames_sit_at_half_seconds():
    np.testing.assert_allclose(grid_times(3.7), [0.5, 1.5, 2.5])
    np.testing.assert_allclose(grid_times(3.0), [0.5, 1.5, 2.5])
    assert grid_times(0.99).size == 0


def _native(times, values):
    return FrameFeatures(times=np.asarray(times, float), values=np.asarray(values, float)[:, None], names=["a/b/c"])


def test_linear_interpolation_between_native_centres_and_hold_at_ends():
    grid = to_grid(_native([2.5, 5.85], [0.0, 1.0]), 8.0)
    expected = np.clip((np.arange(8) + 0.5 - 2.5) / 3.35, 0, 1)
    np.testing.assert_allclose(grid.values[:, 0], expected, rtol=1e-6)
    assert grid.values.dtype == np.float32


def test_nearest_picks_the_closer_native_frame():
    grid = to_grid(_native([0.48, 0.96, 1.44, 1.92, 2.4], [0, 1, 2, 3, 4]), 3.0, method="nearest")
    np.testing.assert_allclose(grid.values[:, 0], [0, 2, 4])


def test_single_native_frame_is_repeated():
    grid = to_grid(_native([1.0], [7.0]), 3.2)
    np.testing.assert_allclose(grid.values[:, 0], [7, 7, 7])


def test_unknown_method_is_refused():
    with pytest.raises(ParameterError, match="method='cubic'"):
        to_grid(_native([1.0], [7.0]), 3.0, method="cubic")


def test_a_tempo_without_pulse_is_not_blended_with_a_tempo():
    # Texture windows at 120 BPM, two without a pulse (0 BPM, the mark of no tempo), then 118
    # BPM: grid frames between a marked and an unmarked window take the nearer one, so no
    # tempo between 0 and 120 appears; pulse clarity is interpolated as usual.
    times = [2.5, 5.85, 9.2, 12.55]
    tempo = [120.0, 0.0, 0.0, 118.0]
    values = np.array([tempo, [2.0, 0.0, 0.0, 1.0], [0.9, 0.0, 0.0, 0.8]]).T
    native = FrameFeatures(times=np.array(times), values=values,
                           names=["rhythm/tempo/mean", "rhythm/tempo/std", "rhythm/pulse_clarity/mean"])
    grid = to_grid(native, 15.0)
    t = grid.times
    nearer_marked = ((t > 4.175) & (t < 10.875))  # half-way points between the windows' centres
    np.testing.assert_allclose(grid.values[nearer_marked, :2], 0.0)
    np.testing.assert_allclose(grid.values[(t > 2.5) & (t < 4.175), 0], 120.0)
    np.testing.assert_allclose(grid.values[(t > 10.875) & (t < 12.55), 0], 118.0)
    assert set(np.unique(grid.values[:, 0])) <= {0.0, 118.0, 120.0}
    clarity = np.interp(t, times, [0.9, 0.0, 0.0, 0.8])
    np.testing.assert_allclose(grid.values[:, 2], clarity, rtol=1e-6)
