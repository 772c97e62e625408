"""Low-level visual features of a film: screen brightness and contrast at 1 Hz (study eqs 1-2).

Brightness (eq. 1)
    The mean over the frame's pixels of their relative luma, ``Y' = 0.2126 R' + 0.7152 G'
    + 0.0722 B'`` (ITU-R BT.709 luma coefficients applied to the gamma-encoded R'G'B' the
    decoder produces, 8-bit values divided by 255), so brightness lies in [0, 1]: 0 for a
    black frame, 1 for a white one. Luma rather than linear luminance, because the study
    (after Chen et al.) averages pixel brightness as displayed, and luma is what video
    codes; one fixed formula whatever matrix the stream was encoded with, since the
    decoder's conversion to R'G'B' undoes the stream's own matrix.
Contrast (eq. 2, after Chen et al.)
    ``C = (B_max - B_min) (1 - |Area_Bmax - Area_Bmin|)``. The study's wording ("the
    maximum and minimum average brightness across pixels") is read as: the frame's pixels
    are split into a bright and a dark region at the brightness level that best separates
    them (Otsu's threshold on the frame's brightness histogram, ``contrast_levels`` bins);
    ``B_max`` and ``B_min`` are the mean brightness of the bright and the dark region and
    ``Area_Bmax``, ``Area_Bmin`` their shares of the frame. The first factor is the
    light-dark difference, the second Itten's "contrast of extent" (balanced areas contrast
    most). C lies in [0, 1]: 1 for a frame half black and half white, 0 for a uniform
    frame, small for a small highlight on black. Reading ``B_max``/``B_min`` as single
    extreme pixels would make C hinge on one pixel (noise, a subtitle) and the areas
    vanish, so the region reading is the one that keeps the formula meaningful.

Frames are sampled at the grid times ``(k + 0.5) / rate`` of film time (the common 1 Hz
grid of :mod:`scorelens.features._grid`), scaled down to ``width`` pixels wide (area
averaging: brightness is unchanged by it and contrast nearly so) before measuring. For
speed the decoder drops non-reference frames and skips its deblocking filter
(:class:`~scorelens.config.VisualConfig`); both change brightness by less than 0.002. Frames
no grid frame depends on (after the last one a grid time needs, up to the next keyframe) are
not decoded at all (:func:`~scorelens.io._video.sample_frames`), which changes no value and,
with the 1-2 s keyframe spacing of distributed films, saves about a fifth of the time.

The visual stage (:mod:`scorelens.stages._visual`) stores each film's frames and the per-cue
medians (:func:`cue_summaries`) in the workspace.
"""

from __future__ import annotations

import itertools
import logging
import os
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from scorelens.config import VisualConfig
from scorelens.exceptions import MediaError
from scorelens.io._video import probe_video, sample_frames

__all__ = ["VISUAL_VERSION", "luma", "brightness", "contrast", "visual_frames", "cue_summaries"]

log = logging.getLogger(__name__)

#: Bumped whenever the visual features' values change.
VISUAL_VERSION = "1"
_BT709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Relative luma of each pixel in [0, 1] (BT.709 coefficients on gamma-encoded R'G'B').

    Parameters
    ----------
    rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
        An RGB frame.

    Returns
    -------
    np.ndarray [shape=(height, width), dtype=float32]

    Raises
    ------
    ValueError
        If ``rgb`` is not (height, width, 3).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image shape {rgb.shape} must be (height, width, 3)")
    return rgb.astype(np.float32) @ (_BT709 / 255.0)


def brightness(rgb: np.ndarray) -> float:
    """Eq. 1: mean pixel brightness (luma) of a frame, in [0, 1].

    Parameters
    ----------
    rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
        An RGB frame.

    Returns
    -------
    float
        In [0, 1]; the mean of :func:`luma`.
    """
    return float(luma(rgb).mean())


def _otsu_split(values: np.ndarray, levels: int) -> tuple[float, float, float, float]:
    # Otsu (1979): the threshold maximising the between-class variance of the histogram.
    bins = np.minimum((values * levels).astype(np.int64), levels - 1)
    hist = np.bincount(bins, minlength=levels).astype(np.float64)
    sums = np.bincount(bins, weights=values, minlength=levels)
    n = hist.sum()
    w0 = np.cumsum(hist)[:-1]  # pixels at or below each candidate threshold
    s0 = np.cumsum(sums)[:-1]
    w1 = n - w0
    s1 = sums.sum() - s0
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():
        mean = float(values.mean())
        return mean, mean, 1.0, 0.0
    m0 = np.where(valid, s0 / np.where(w0 > 0, w0, 1), 0.0)
    m1 = np.where(valid, s1 / np.where(w1 > 0, w1, 1), 0.0)
    between = np.where(valid, w0 * w1 * (m1 - m0) ** 2, -1.0)
    k = int(np.argmax(between))
    return float(m1[k]), float(m0[k]), float(w1[k] / n), float(w0[k] / n)


def contrast(rgb: np.ndarray, *, levels: int = 256) -> float:
    """Eq. 2: ``(B_max - B_min)(1 - |Area_Bmax - Area_Bmin|)`` over a bright/dark split of the frame.

    See the module docstring for the reading of Chen et al.'s definition.

    Parameters
    ----------
    rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
        An RGB frame.
    levels : int
        Histogram bins for Otsu's threshold.

    Returns
    -------
    float
        In [0, 1]; 0 for a uniform frame.
    """
    y = luma(rgb).ravel()
    b_max, b_min, a_max, a_min = _otsu_split(y, levels)
    return float((b_max - b_min) * (1.0 - abs(a_max - a_min)))


def visual_frames(path: str | os.PathLike, *, config: VisualConfig | None = None,
                  start_s: float = 0.0, end_s: float | None = None,
                  on_frame: Callable[[float], None] | None = None) -> pd.DataFrame:
    """Brightness and contrast of a film at the grid times of ``[start_s, end_s]``.

    Parameters
    ----------
    path : str or path-like
        The film.
    config : VisualConfig, optional
    start_s, end_s : float
        Film span (``end_s=None``: to the end of the video stream).
    on_frame : callable, optional
        ``on_frame(t)`` after each sampled grid time (progress display).

    Returns
    -------
    pd.DataFrame
        ``time_s`` (film time of the grid frame), ``frame_time_s`` (the sampled frame's
        presentation time), ``brightness``, ``contrast`` (float32).

    Raises
    ------
    MediaError
        Not media, no video stream, no readable frame, or an unknown duration with no end.
    """
    config = config or VisualConfig()
    info = probe_video(path)
    end = info.duration_s if end_s is None else end_s
    rate = config.rate_hz
    k0 = max(0, int(np.ceil(start_s * rate - 0.5 - 1e-9)))
    if np.isfinite(end):
        k1 = int(np.floor(end * rate - 0.5 + 1e-9))  # last k with centre <= end
        times = iter((np.arange(k0, max(k1 + 1, k0)) + 0.5) / rate)
    else:  # unknown duration: sample until the stream ends
        times = ((k + 0.5) / rate for k in itertools.count(k0))
    rows = []
    for t, ft, rgb in sample_frames(path, times, width=config.width, skip_nonref=config.skip_nonref,
                                    skip_loop_filter=config.skip_loop_filter):
        y = luma(rgb).ravel()
        b_max, b_min, a_max, a_min = _otsu_split(y, config.contrast_levels)
        rows.append((t, ft, float(y.mean()), (b_max - b_min) * (1.0 - abs(a_max - a_min))))
        if on_frame:
            on_frame(t)
    df = pd.DataFrame(rows, columns=["time_s", "frame_time_s", "brightness", "contrast"])
    df[["brightness", "contrast"]] = df[["brightness", "contrast"]].astype(np.float32)
    bad = ~np.isfinite(df[["brightness", "contrast"]].to_numpy())
    if bad.any():  # cannot happen with uint8 pictures; guard the "never a NaN" promise anyway
        raise MediaError(f"{path}: non-finite visual feature at t={df['time_s'].iloc[np.argwhere(bad)[0][0]]:.3f}s")
    return df


def cue_summaries(frames: pd.DataFrame, cues: pd.DataFrame) -> pd.DataFrame:
    """Median brightness and contrast over each cue's span.

    A cue takes the grid frames with ``start_s <= time_s < end_s``; a cue shorter than one
    grid period, holding none, takes the grid frame nearest its midpoint; a cue with no
    frame within 1 s (beyond the end of the video) gets no row, with a warning.

    Parameters
    ----------
    frames : pd.DataFrame
        One film's visual frames (``time_s, brightness, contrast``).
    cues : pd.DataFrame
        The film's cue table (``film_id, cue_id, start_s, end_s``).

    Returns
    -------
    pd.DataFrame
        ``film_id, cue_id, start_s, end_s, n_frames, brightness, contrast``.
    """
    t = frames["time_s"].to_numpy()
    b = frames["brightness"].to_numpy(dtype=np.float64)
    c = frames["contrast"].to_numpy(dtype=np.float64)
    rows = []
    for cue in cues.itertuples(index=False):
        if t.size == 0:
            break
        inside = (t >= cue.start_s) & (t < cue.end_s)
        if not inside.any():
            mid = (cue.start_s + cue.end_s) / 2
            nearest = int(np.argmin(np.abs(t - mid)))
            if abs(t[nearest] - mid) > 1.0:  # no picture near the cue (beyond the video's end)
                warnings.warn(f"film {cue.film_id} cue {cue.cue_id} ({cue.start_s:.3f}s-{cue.end_s:.3f}s): no video "
                              "frame within 1 s; no visual summary", UserWarning, stacklevel=2)
                continue
            inside = np.zeros(t.size, dtype=bool)
            inside[nearest] = True
        rows.append((str(cue.film_id), int(cue.cue_id), float(cue.start_s), float(cue.end_s), int(inside.sum()),
                     float(np.median(b[inside])), float(np.median(c[inside]))))
    out = pd.DataFrame(rows, columns=["film_id", "cue_id", "start_s", "end_s", "n_frames", "brightness", "contrast"])
    out["cue_id"] = out["cue_id"].astype(np.int64)
    out[["brightness", "contrast"]] = out[["brightness", "contrast"]].astype(np.float32)
    return out


# --------------------------------------------------------------------------- runs
