"""Feature column names and the study's eight permutation-importance groups.

Every feature column is named ``group/feature/statistic`` (``mfcc/mfcc_03/mean``,
``tone/key_strength/std``, ``embedding/vggish_017/mean``); the first element maps onto the
feature groups of the study's permutation feature importance (PFI section, Fig 3), where
MFCCs, ΔMFCCs and ΔΔMFCCs are split out of Table 2's Timbre type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from scorelens.exceptions import ParameterError

__all__ = ["PFI_GROUPS", "UNDEFINED_MARKS", "pfi_group", "group_columns", "is_feature_column", "undefined_frames"]

#: Feature columns that are undefined in some frames, each with the column and value that mark
#: those frames: the MIR kind's tempo (mean and spread) where a texture window has no pulse,
#: marked by a tempo of 0 BPM (:data:`scorelens.features._mir.NO_PULSE_TEMPO`). The marked value
#: stays in frame tables (finite, for models that read frames), but the common grid does not
#: blend a marked frame with an unmarked neighbour and cue means leave marked frames out.
UNDEFINED_MARKS: dict[str, tuple[str, float]] = {
    "rhythm/tempo/mean": ("rhythm/tempo/mean", 0.0),
    "rhythm/tempo/std": ("rhythm/tempo/mean", 0.0),
}


def undefined_frames(names: Sequence[str], values: np.ndarray) -> dict[int, np.ndarray]:
    """Where each column of :data:`UNDEFINED_MARKS` is undefined, by column position.

    Parameters
    ----------
    names : sequence of str [length n_features]
        Column names of ``values``.
    values : np.ndarray [shape=(n_frames, n_features)]

    Returns
    -------
    dict of int -> np.ndarray [shape=(n_frames,), dtype=bool]
        Column position -> True in frames where it is undefined; only columns of
        :data:`UNDEFINED_MARKS` whose marking column is present.
    """
    position = {n: i for i, n in enumerate(names)}
    out = {}
    for column, (mark, value) in UNDEFINED_MARKS.items():
        if column in position and mark in position:
            out[position[column]] = np.asarray(values)[:, position[mark]] == value
    return out

#: Column-name prefix -> the study's group label, in Fig 3's order.
PFI_GROUPS: dict[str, str] = {
    "mfcc": "MFCCs",
    "delta_mfcc": "ΔMFCCs",
    "delta2_mfcc": "ΔΔMFCCs",
    "dynamics": "Dynamics",
    "pitch": "Pitch",
    "rhythm": "Rhythm",
    "timbre": "Timbre",
    "tone": "Tone",
}
_OTHER_GROUPS = {"embedding": "Embedding"}


def is_feature_column(name: str) -> bool:
    """Whether a table column is a feature (``group/feature/statistic``), not a key like ``film_id``.

    Parameters
    ----------
    name : str
        A column name (any value is accepted).

    Returns
    -------
    bool
        True for a string with exactly two ``/``.
    """
    return isinstance(name, str) and name.count("/") == 2


def pfi_group(column: str) -> str:
    """The study's PFI group of a feature column.

    Parameters
    ----------
    column : str
        ``group/feature/statistic``.

    Returns
    -------
    str
        ``"MFCCs"``, ``"ΔMFCCs"``, ``"ΔΔMFCCs"``, ``"Dynamics"``, ``"Pitch"``, ``"Rhythm"``,
        ``"Timbre"``, ``"Tone"``, or ``"Embedding"`` for learned embeddings (not interpretable
        groups; the study runs PFI on MIR features only).

    Raises
    ------
    ParameterError
        For a name that is not ``group/feature/statistic`` or has an unknown group.
    """
    if not is_feature_column(column):
        raise ParameterError(f"column {column!r} is not a feature name 'group/feature/statistic'")
    prefix = column.split("/", 1)[0]
    label = PFI_GROUPS.get(prefix) or _OTHER_GROUPS.get(prefix)
    if label is None:
        raise ParameterError(f"column {column!r} has unknown group {prefix!r}; known: "
                             f"{', '.join(list(PFI_GROUPS) + list(_OTHER_GROUPS))}")
    return label


def group_columns(columns: Iterable[str], *, strict: bool = True) -> dict[str, list[str]]:
    """Feature columns grouped by PFI group (non-feature columns are ignored), groups in Fig 3's order.

    Parameters
    ----------
    columns : iterable of str
        Column names of a table, feature or not.
    strict : bool
        Raise on a column whose group is not one of the study's (or ``embedding``); with
        ``False`` such a column is grouped under its own prefix (``tags/…`` under
        ``"tags"``), after the known groups, so that any named feature table can be scored.

    Returns
    -------
    dict of str -> list of str
        Group label (:func:`pfi_group`; with ``strict=False``, the prefix of a column of an
        unknown group) -> its feature columns in input order; only groups that have columns.

    Raises
    ------
    ParameterError
        With ``strict=True``, for a feature column of an unknown group.
    """
    out: dict[str, list[str]] = {}
    order = list(PFI_GROUPS.values()) + list(_OTHER_GROUPS.values())
    for c in columns:
        if is_feature_column(c):
            prefix = c.split("/", 1)[0]
            known = prefix in PFI_GROUPS or prefix in _OTHER_GROUPS
            out.setdefault(pfi_group(c) if known or strict else prefix, []).append(c)
    return {g: out[g] for g in order + [g for g in out if g not in order] if g in out}
