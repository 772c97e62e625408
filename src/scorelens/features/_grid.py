"""The common frame grid every feature kind (and the visual features) is put on.

The study aligns MIR and VGGish features at 1 Hz without saying exactly how (VGGish's
0.96 s frames are "resampled to 1 Hz"; MIR texture windows hop 3.35 s). scorelens fixes
one grid: over a span of duration ``D`` there are ``n = floor(D * rate)`` grid frames,
frame ``k`` standing for ``[k / rate, (k + 1) / rate)`` and sitting at its centre
``(k + 0.5) / rate``. A kind's native frames (each with a centre time) are put on the
grid by linear interpolation between native frame centres (``nearest`` as an option),
holding the first and last native values beyond the outermost centres. A column that is
undefined in some native frames (:data:`~scorelens.features._groups.UNDEFINED_MARKS`: MIR's
tempo without a pulse) is not interpolated between an undefined and a defined frame: the
grid frame takes the nearer one's value, so no tempo between 0 and the music's appears at
the edge of a silence. A span shorter than one grid period has no grid frame (the pipeline
skips such cues with a warning).
"""

from __future__ import annotations

import numpy as np

from scorelens.exceptions import ParameterError
from scorelens.features._base import GRID_RATE_HZ, FrameFeatures
from scorelens.features._groups import undefined_frames

__all__ = ["grid_times", "to_grid"]


def grid_times(duration_s: float, *, rate_hz: float = GRID_RATE_HZ) -> np.ndarray:
    """Centres of the grid frames of a span of ``duration_s`` seconds.

    Parameters
    ----------
    duration_s : float
        Length of the span (s); negative counts as 0.
    rate_hz : float
        Grid rate (Hz).

    Returns
    -------
    np.ndarray [shape=(floor(duration_s * rate_hz),)]
        ``(k + 0.5) / rate_hz`` (s from the start of the span); a span less than 1e-3 frame
        short of a whole number of frames still counts that last frame.

    Raises
    ------
    ParameterError
        If ``rate_hz <= 0``.
    """
    if rate_hz <= 0:
        raise ParameterError(f"rate_hz={rate_hz} must be > 0")
    # A span decoded a sample short of a whole second still counts that second's frame.
    n = int(np.floor(max(duration_s, 0.0) * rate_hz + 1e-3))
    return (np.arange(n) + 0.5) / rate_hz


def to_grid(frames: FrameFeatures, duration_s: float, *, rate_hz: float = GRID_RATE_HZ,
            method: str = "linear") -> FrameFeatures:
    """Resample a kind's native frames onto the common grid of a span.

    Parameters
    ----------
    frames : FrameFeatures
        Native frames (``times`` increasing, from the start of the span).
    duration_s : float
        Length of the span (s).
    rate_hz : float
        Grid rate (Hz).
    method : {"linear", "nearest"}
        Interpolation between native frame centres.

    Returns
    -------
    FrameFeatures
        ``times`` = :func:`grid_times`, ``values`` float32 [shape=(n_grid, n_features)].

    Raises
    ------
    ParameterError
        For an unknown ``method``, ``rate_hz <= 0``, or zero native frames.
    """
    if method not in ("linear", "nearest"):
        raise ParameterError(f"method={method!r} must be 'linear' or 'nearest'")
    t = grid_times(duration_s, rate_hz=rate_hz)
    src_t = np.asarray(frames.times, dtype=np.float64)
    src = np.asarray(frames.values, dtype=np.float64)
    if src_t.size == 0:
        raise ParameterError("cannot put zero native frames on the grid")
    if src_t.size == 1 or t.size == 0:
        values = np.repeat(src[:1], t.size, axis=0)
    else:
        j = np.clip(np.searchsorted(src_t, t, side="right"), 1, src_t.size - 1)
        t0, t1 = src_t[j - 1], src_t[j]
        w = np.clip((t - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0, 1.0)
        if method == "nearest":
            w = (w > 0.5).astype(np.float64)
        values = src[j - 1] * (1 - w)[:, None] + src[j] * w[:, None]
        nearer = np.where(w > 0.5, j, j - 1)
        for col, undefined in undefined_frames(frames.names, src).items():
            mixed = undefined[j - 1] != undefined[j]
            values[mixed, col] = src[nearer[mixed], col]
    return FrameFeatures(times=t, values=values.astype(np.float32), names=list(frames.names))
