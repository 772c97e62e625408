"""Key strength and key mode from a chromagram, with the Krumhansl-Kessler key profiles.

MIRtoolbox's ``mirkeystrength`` correlates the chromagram with the 24 major and minor key
profiles of Krumhansl & Kessler ("Tracing the dynamic changes in perceived tonal
organization in a spatial representation of musical keys", Psychological Review 89(4),
1982; Krumhansl, *Cognitive Foundations of Musical Pitch*, 1990); ``mirkey`` reports the
strength of the best key and ``mirmode`` (default ``Best``) the strength of the best major
key minus that of the best minor key.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KK_MAJOR", "KK_MINOR", "key_strengths", "key_features"]

#: Krumhansl-Kessler probe-tone ratings, tonic first (C major / C minor).
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _zscore(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    x = x - x.mean(axis=axis, keepdims=True)
    sd = np.sqrt((x**2).mean(axis=axis, keepdims=True))
    return x / np.where(sd > 0, sd, 1.0), sd


def key_strengths(*, chroma: np.ndarray) -> np.ndarray:
    """Pearson correlation of each chroma frame with the 24 rotated key profiles.

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, n_frames)]
        Pitch classes C, C#, …, B.

    Returns
    -------
    np.ndarray [shape=(24, n_frames)]
        Rows 0-11: C major … B major; rows 12-23: C minor … B minor. A frame with no
        variation across pitch classes (silence) correlates 0 with every key.
    """
    profiles = np.stack([np.roll(KK_MAJOR, k) for k in range(12)] + [np.roll(KK_MINOR, k) for k in range(12)])
    zp, _ = _zscore(profiles, axis=1)  # (24, 12)
    zc, sd = _zscore(chroma.astype(np.float64), axis=0)  # (12, n_frames)
    corr = zp @ zc / 12.0
    return np.where(sd[0] > 1e-12, corr, 0.0)


def key_features(*, chroma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Key strength (of the best key) and key mode (best major minus best minor strength).

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, n_frames)]

    Returns
    -------
    strength : np.ndarray [shape=(n_frames,)]
        In [-1, 1]; 0 for a silent frame.
    mode : np.ndarray [shape=(n_frames,)]
        > 0 leans major, < 0 minor; 0 for a silent frame.
    """
    ks = key_strengths(chroma=chroma)
    major, minor = ks[:12].max(axis=0), ks[12:].max(axis=0)
    return np.maximum(major, minor), major - minor
