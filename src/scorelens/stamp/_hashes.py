"""Landmark hashes: pairs of peaks packed into 23-bit integers, and back.

A landmark joins an anchor peak (t1, f1) to a later peak (t2, f2) in its target zone
(0 < t2 − t1 ≤ max_dt frames, |f2 − f1| ≤ max_df bins). Its hash packs
(f1, f2 − f1, t2 − t1), which does not depend on where in the recording the pair
occurs; the anchor time t1 is stored beside the hash. The bit fields are declared once
below and the masks derive from them (as in audfprint's hash_table).
"""

from __future__ import annotations

import numpy as np

from scorelens.stamp._peaks import Peaks

__all__ = ["HASH_BITS", "landmarks_to_hashes", "hashes_to_landmarks", "landmark_pairs", "peaks_to_hashes"]

# Bit fields, most significant first: anchor bin, signed bin difference, frame difference.
F1_BITS, DF_BITS, DT_BITS = 10, 7, 6
HASH_BITS = F1_BITS + DF_BITS + DT_BITS
_DT_MASK = (1 << DT_BITS) - 1
_DF_MASK = (1 << DF_BITS) - 1
_F1_MASK = (1 << F1_BITS) - 1
_DF_BIAS = 1 << (DF_BITS - 1)


def landmarks_to_hashes(f1: np.ndarray, df: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Pack landmarks into hashes.

    Parameters
    ----------
    f1 : np.ndarray [shape=(n,)]
        Anchor bins in [0, 1024).
    df : np.ndarray [shape=(n,)]
        Bin differences ``f2 - f1`` in [-64, 64).
    dt : np.ndarray [shape=(n,)]
        Frame differences ``t2 - t1`` in [1, 64).

    Returns
    -------
    hashes : np.ndarray [shape=(n,), dtype=uint32]
        Values out of range are not checked: each is wrapped into its bit field.
    """
    # 32-bit arithmetic: only the low bits of each field are kept, and casting to int32 keeps them.
    f1 = np.asarray(f1).astype(np.int32, copy=False)
    df = np.asarray(df).astype(np.int32, copy=False)
    dt = np.asarray(dt).astype(np.int32, copy=False)
    packed = ((f1 & _F1_MASK) << (DF_BITS + DT_BITS)) | (((df + _DF_BIAS) & _DF_MASK) << DT_BITS) | (dt & _DT_MASK)
    return packed.view(np.uint32)


def hashes_to_landmarks(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unpack hashes into ``(f1, df, dt)``; the inverse of :func:`landmarks_to_hashes`.

    Parameters
    ----------
    hashes : np.ndarray [shape=(n,), dtype=uint32]

    Returns
    -------
    f1, df, dt : np.ndarray [shape=(n,), dtype=int32]
        Anchor bin in [0, 1024), bin difference in [-64, 64), frame difference in [0, 64).
    """
    h = np.asarray(hashes, dtype=np.int64)
    dt = h & _DT_MASK
    df = ((h >> DT_BITS) & _DF_MASK) - _DF_BIAS
    f1 = (h >> (DF_BITS + DT_BITS)) & _F1_MASK
    return f1.astype(np.int32), df.astype(np.int32), dt.astype(np.int32)


def landmark_pairs(frames: np.ndarray, bins: np.ndarray, *, fan_out: int, max_dt: int,
                   max_df: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the (anchor, target) peak pairs of :func:`peaks_to_hashes`.

    Parameters
    ----------
    frames, bins : np.ndarray [shape=(n,)]
        Peaks sorted by frame.
    fan_out, max_dt, max_df : int
        As in :func:`peaks_to_hashes`.

    Returns
    -------
    anchors, targets : np.ndarray [shape=(n_pairs,), dtype=int64]
        Sorted by anchor frame (stably).
    """
    t, f = np.asarray(frames, dtype=np.int32), np.asarray(bins, dtype=np.int32)
    n = t.size
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    taken = np.zeros(n, dtype=np.int32)
    out_i, out_k = [], []
    # Walk j = i + k for growing k; peaks are time-sorted, so once every anchor's k-th
    # successor lies beyond the zone, no later k can qualify. Contiguous slices of int32
    # arrays (rather than index arrays) keep each pass a streaming one.
    for k in range(1, n):
        dt = t[k:] - t[:n - k]
        alive = dt <= max_dt
        if not alive.any():
            break
        ok = alive & (dt > 0) & (np.abs(f[k:] - f[:n - k]) <= max_df) & (taken[:n - k] < fan_out)
        idx = np.flatnonzero(ok)
        taken[idx] += 1
        out_i.append(idx)
        out_k.append(np.full(idx.size, k))
    anchors = np.concatenate(out_i).astype(np.int64)
    targets = anchors + np.concatenate(out_k)
    order = np.argsort(t[anchors], kind="stable")
    return anchors[order], targets[order]


def peaks_to_hashes(peaks: Peaks, *, fan_out: int, max_dt: int, max_df: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair each peak with up to ``fan_out`` later peaks of its target zone.

    Parameters
    ----------
    peaks : Peaks
        Sorted by frame, then bin.
    fan_out : int
    max_dt, max_df : int
        Target zone: ``0 < t2 - t1 <= max_dt`` and ``|f2 - f1| <= max_df``.

    Returns
    -------
    hashes : np.ndarray [shape=(n_hashes,), dtype=uint32]
    frames : np.ndarray [shape=(n_hashes,), dtype=int32]
        Anchor frame of each hash; both arrays sorted by anchor frame.
    """
    t, f = peaks.frames.astype(np.int32), peaks.bins.astype(np.int32)
    if t.size < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.int32)
    i, j = landmark_pairs(t, f, fan_out=fan_out, max_dt=max_dt, max_df=max_df)
    return landmarks_to_hashes(f[i], f[j] - f[i], t[j] - t[i]), t[i].astype(np.int32)
