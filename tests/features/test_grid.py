"""The common 1 Hz grid and the resampling of native frames onto it."""

import numpy as np
import pytest

from scorelens.exceptions import ParameterError
from scorelens.features.base import FrameFeatures
from scorelens.features.grid import grid_times, to_grid


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
