"""What a feature kind is, the registry of kinds, and the common time grid.

A *feature kind* turns mono audio into a sequence of frames (``times``, ``values``)
at its own native rate; the pipeline then puts every kind on one common grid (1 Hz,
as the study aligns MIR and VGGish features) so that kinds can be compared and
combined frame by frame.

Kinds are registered in one place (:data:`_BUILTIN_KINDS` plus :func:`register_kind`),
so a user can add an embedding (a CLAP or MERT model from a local folder, say) without
touching the pipeline::

    from scorelens.features._base import FeatureKind, register_kind
    class MyKind(FeatureKind):
        name = "mykind"; version = "1"; sample_rate = 16000; frame_rate_hz = 2.0
        def column_names(self): return [f"embedding/mykind_{i:03d}" for i in range(64)]
        def compute(self, audio, sr): ...
    register_kind("mykind", MyKind)
"""

from __future__ import annotations

import abc
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scorelens.exceptions import FeatureError, ParameterError

__all__ = ["FeatureKind", "FrameFeatures", "register_kind", "get_kind", "available_kinds",
           "GRID_RATE_HZ"]

#: Rate of the common frame grid shared by every feature kind and the visual features (Hz).
GRID_RATE_HZ = 1.0


@dataclass(frozen=True)
class FrameFeatures:
    """Frames of one feature kind over one span of audio.

    Attributes
    ----------
    times : np.ndarray [shape=(n_frames,)]
        Frame centre times in seconds from the start of the span.
    values : np.ndarray [shape=(n_frames, n_features), dtype=float32]
    names : list of str [length n_features]
        Column names ``group/feature/statistic`` (e.g. ``timbre/mfcc_03/mean``); the
        first path element is the feature group used by importance analyses.
    """

    times: np.ndarray
    values: np.ndarray
    names: list[str]

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (self.times.shape[0], len(self.names)):
            raise ParameterError(
                f"values shape {self.values.shape} must be (len(times)={self.times.shape[0]}, "
                f"len(names)={len(self.names)})")


class FeatureKind(abc.ABC):
    """A way of describing audio as frames; subclasses set the class attributes and ``compute``.

    Attributes
    ----------
    name : str
        Registry name (``--kind NAME``).
    version : str
        Bumped whenever outputs change; part of the cache key of stored features.
    sample_rate : int
        Rate the audio must be given at (Hz).
    frame_rate_hz : float
        Native frame rate before the common grid.
    """

    name: str = ""
    version: str = "1"
    sample_rate: int = 22050
    frame_rate_hz: float = GRID_RATE_HZ

    @abc.abstractmethod
    def column_names(self) -> list[str]:
        """Names of the feature columns, ``group/feature/statistic``.

        Returns
        -------
        list of str [length n_features]
            In the order of the columns of :meth:`compute`'s ``values``.
        """

    @abc.abstractmethod
    def compute(self, audio: np.ndarray, sr: int) -> FrameFeatures:
        """Frames for ``audio`` at the kind's native frame rate.

        Parameters
        ----------
        audio : np.ndarray [shape=(n,), dtype=float32]
            Mono samples.
        sr : int
            Their rate (Hz); must equal ``self.sample_rate``.

        Returns
        -------
        FrameFeatures
            ``values`` [shape=(n_frames, n_features)] with ``names`` == :meth:`column_names`.
        """

    def settings(self) -> dict:
        """Settings that change the output (recorded with stored features, part of their key).

        Returns
        -------
        dict
            JSON-serialisable settings; empty by default.
        """
        return {}

    @property
    def dim(self) -> int:
        """Number of feature columns.

        Returns
        -------
        int
            ``len(self.column_names())``.
        """
        return len(self.column_names())


# name -> "module:attribute" of a FeatureKind subclass or factory, imported on first use so
# that heavy dependencies (torch weights, …) load only when their kind is asked for.
_BUILTIN_KINDS: dict[str, str] = {
    "mir": "scorelens.features._mir:MIRKind",
    "vggish": "scorelens.features._vggish:VGGishKind",
    "musicnn": "scorelens.features._musicnn:MusicnnKind",
}
_USER_KINDS: dict[str, Callable[..., FeatureKind]] = {}


def register_kind(name: str, factory: Callable[..., FeatureKind]) -> None:
    """Register a feature kind under ``name``.

    Parameters
    ----------
    name : str
        Registry name: alphanumeric, with ``-`` or ``_`` allowed; replaces an earlier user
        registration of the same name.
    factory : callable
        ``factory(**options)`` returns a :class:`FeatureKind` (a subclass or a function).

    Raises
    ------
    ParameterError
        For an empty or non-alphanumeric name.
    """
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ParameterError(f"kind name {name!r} must be alphanumeric (with '-' or '_')")
    _USER_KINDS[name] = factory


def available_kinds() -> list[str]:
    """Names of every registered kind.

    Returns
    -------
    list of str
        Built-in and user-registered names, sorted.
    """
    return sorted(set(_BUILTIN_KINDS) | set(_USER_KINDS))


def get_kind(name: str, **options) -> FeatureKind:
    """Instantiate the kind registered as ``name`` with ``options``.

    Parameters
    ----------
    name : str
        A name of :func:`available_kinds`.
    **options
        Keyword arguments of the kind's factory.

    Returns
    -------
    FeatureKind

    Raises
    ------
    ParameterError
        For an unknown name (listing the known ones), or an option the factory does not take.
    FeatureError
        When the kind cannot be set up (e.g. missing model weights).
    """
    if name in _USER_KINDS:
        factory = _USER_KINDS[name]
    elif name not in _BUILTIN_KINDS:
        raise ParameterError(f"unknown feature kind {name!r}; known kinds: {', '.join(available_kinds())}")
    else:
        module_name, attr = _BUILTIN_KINDS[name].split(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise FeatureError(f"feature kind {name!r} is not available: {exc}") from exc
    accepted = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ParameterError(f"feature kind {name!r} has no option(s) {', '.join(unknown)}; "
                                 f"its options: {', '.join(accepted) or 'none'}")
    return factory(**options)
