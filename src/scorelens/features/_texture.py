"""Texture windows: mean and standard deviation of short-time features over long windows.

The study "texture-windows" every MIR feature by its mean and standard deviation over
five-second windows with 33 % overlap (section "MIR features", after Tzanetakis & Cook,
"Musical genre classification of audio signals", IEEE TSAP 2002). Windows start at the
beginning of the span every ``hop = window * (1 - overlap)`` seconds; the last window is
aligned to the end of the span so the end is covered, and a span shorter than one window
is one window over the whole span.
"""

from __future__ import annotations

import numpy as np

from scorelens.exceptions import ParameterError

__all__ = ["texture_windows", "texture_stats"]


def texture_windows(duration_s: float, *, window_s: float = 5.0, hop_s: float = 3.35) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of the texture windows covering ``[0, duration_s]``.

    Parameters
    ----------
    duration_s : float
        Length of the span (s), > 0.
    window_s, hop_s : float
        Window length and hop (s).

    Returns
    -------
    starts, ends : np.ndarray [shape=(n_windows,)]
        Window bounds (s); the last window ends at ``duration_s``, and a span no longer than
        ``window_s`` has the one window ``[0, duration_s]``.

    Raises
    ------
    ParameterError
        If ``duration_s``, ``window_s`` or ``hop_s`` is not > 0.
    """
    if not duration_s > 0:
        raise ParameterError(f"duration_s={duration_s} must be > 0")
    if window_s <= 0 or hop_s <= 0:
        raise ParameterError(f"window_s={window_s} and hop_s={hop_s} must be > 0")
    if duration_s <= window_s:
        return np.array([0.0]), np.array([float(duration_s)])
    n = int(np.ceil((duration_s - window_s) / hop_s - 1e-9)) + 1
    starts = np.minimum(np.arange(n) * hop_s, duration_s - window_s)
    starts = np.unique(np.round(starts, 9))
    return starts, starts + window_s


def texture_stats(times: np.ndarray, values: np.ndarray, starts: np.ndarray,
                  ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation of the frames whose centres fall in each window.

    A frame belongs to windows with ``start <= t < end`` (the last window also takes
    ``t == end``). A window holding no frame (a frame rate slower than the window) takes
    the frame nearest its centre, with standard deviation 0.

    NaN values (a descriptor undefined in that frame, e.g. inharmonicity without a pitch)
    are left out: each statistic is over the window's finite values of that feature, and
    is NaN when the window has none (the caller decides what such a window gets).

    Parameters
    ----------
    times : np.ndarray [shape=(n_frames,)]
        Frame centres (s), increasing.
    values : np.ndarray [shape=(n_frames, n_features)]
        Frame values (NaN where undefined).
    starts, ends : np.ndarray [shape=(n_windows,)]
        Window bounds (s), as from :func:`texture_windows`.

    Returns
    -------
    mean, std : np.ndarray [shape=(n_windows, n_features), dtype=float64]

    Raises
    ------
    ParameterError
        If ``values`` is not 2-D with one row per frame, or there are no frames.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != times.shape[0] or times.size == 0:
        raise ParameterError(f"values shape {values.shape} must be (n_frames={times.size} > 0, n_features)")
    i0 = np.searchsorted(times, starts, side="left")
    i1 = np.searchsorted(times, ends, side="left")
    i1[-1] = np.searchsorted(times, ends[-1], side="right")
    empty = i1 <= i0
    if empty.any():
        centre = (starts[empty] + ends[empty]) / 2
        nearest = np.clip(np.searchsorted(times, centre), 1, times.size - 1)
        left_closer = np.abs(times[nearest - 1] - centre) <= np.abs(times[np.minimum(nearest, times.size - 1)] - centre)
        nearest = np.where(left_closer | (times.size == 1), nearest - 1, nearest)
        i0[empty], i1[empty] = nearest, nearest + 1
    zeros = np.zeros((1, values.shape[1]))
    valid = np.isfinite(values)
    if valid.all():
        count = (i1 - i0)[:, None].astype(np.float64)
        shift = values.mean(axis=0, keepdims=True)
        centred = values - shift
    else:
        cn = np.concatenate([zeros, np.cumsum(valid, axis=0, dtype=np.float64)])
        count = cn[i1] - cn[i0]  # (n_windows, n_features)
        n_valid = valid.sum(axis=0, keepdims=True)
        shift = np.where(valid, values, 0.0).sum(axis=0, keepdims=True) / np.maximum(n_valid, 1)
        centred = np.where(valid, values - shift, 0.0)
    # Shift by the overall mean before squaring so the variance does not cancel in float64.
    c2 = np.concatenate([zeros, np.cumsum(centred**2, axis=0)])
    cs = np.concatenate([zeros, np.cumsum(centred, axis=0)])
    with np.errstate(invalid="ignore", divide="ignore"):
        m_shift = (cs[i1] - cs[i0]) / count
        var = (c2[i1] - c2[i0]) / count - m_shift**2
    mean = m_shift + shift
    return mean, np.sqrt(np.maximum(var, 0.0))
