"""Helpers shared by the pretrained-embedding feature kinds (VGGish, musicnn, user kinds)."""

from __future__ import annotations

import numpy as np
import torch

from scorelens.exceptions import FeatureError, ParameterError

__all__ = ["check_audio", "check_device"]


def check_audio(audio, sr: int, *, expected_sr: int, min_duration_s: float, kind: str) -> np.ndarray:
    """Validate the audio handed to a kind's ``compute`` and return it as float32.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples.
    sr : int
        Their rate (Hz).
    expected_sr : int
        The kind's ``sample_rate``.
    min_duration_s : float
        Shortest span the kind can describe.
    kind : str
        Kind name, for messages.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]

    Raises
    ------
    ParameterError
        Wrong rate, not mono, or non-finite samples (a NaN is never passed on silently).
    FeatureError
        Span shorter than ``min_duration_s``.
    """
    if sr != expected_sr:
        raise ParameterError(f"sr={sr} must be {expected_sr} Hz for the {kind} kind (resample first)")
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ParameterError(f"audio must be mono, shape (n,); got shape {audio.shape}")
    audio = audio.astype(np.float32, copy=False)
    bad = ~np.isfinite(audio)
    if bad.any():
        first = int(np.argmax(bad))
        raise ParameterError(f"audio holds {int(bad.sum())} non-finite samples (first at t={first / sr:.3f}s)")
    if audio.size < min_duration_s * sr:
        raise FeatureError(f"span too short for {kind}: {audio.size / sr:.3f}s < {min_duration_s:.3f}s")
    return audio


def check_device(device) -> torch.device:
    """The torch device a kind's network runs on, checked.

    Parameters
    ----------
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …

    Returns
    -------
    torch.device

    Raises
    ------
    ParameterError
        Not a device name torch knows.
    """
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"device={device!r} is not a torch device ('cpu', 'cuda', 'cuda:1', ...)") from exc
