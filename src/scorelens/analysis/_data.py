"""From feature tables and a corpus manifest to bags: one 2-D array of instances per film.

Feature tables (written by the feature stage) have columns ``film_id``, ``cue_id``
(``time_s`` for frame-level tables) and float32 feature columns named
``group/feature/statistic``. Cue-level instances are the rows of ``cues.parquet``
(or the mean of each cue's frames when only frames are given); frame-level instances
are all the frames of all the film's cues ("Frame-level and cue-level features").

Films without any cue cannot be bags. They are left out of evaluation and training
with a warning naming them, and listed in :attr:`CorpusBags.missing` so that reports
can show them; a deployed model (:mod:`scorelens.mil._artifact`) answers such a film
with the training prior instead of inventing an instance.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.corpus import Corpus
from scorelens.exceptions import FeatureError, ParameterError

__all__ = ["CorpusBags", "feature_names", "bags_from_table", "load_feature_table", "even_subsample"]

log = logging.getLogger(__name__)

_KEYS = ("film_id", "cue_id", "time_s")


def feature_names(table: pd.DataFrame) -> list[str]:
    """The feature columns of a table (``group/feature/statistic``), in table order.

    Parameters
    ----------
    table : pd.DataFrame

    Returns
    -------
    list of str
        Columns whose name has exactly two ``/``; keys such as ``film_id`` are not features.
    """
    return [c for c in table.columns if isinstance(c, str) and c.count("/") == 2]


def even_subsample(n: int, k: int) -> np.ndarray:
    """Indices of ``k`` evenly spaced items out of ``n`` (all of them when ``k`` is 0 or >= n).

    Parameters
    ----------
    n : int
        Number of items.
    k : int
        How many to keep (0: all).

    Returns
    -------
    np.ndarray [shape=(min(k, n),), dtype=int64]
        Sorted indices, the first and last item included (fewer than ``k`` when
        rounding makes two coincide).
    """
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


@dataclass
class CorpusBags:
    """The films of a corpus as bags, ready for the estimators.

    Attributes
    ----------
    film_ids : list of str [length n_bags]
        Films with at least one instance, in manifest order.
    bags : list of np.ndarray [shape=(n_instances_i, n_features), dtype=float32]
    Y : np.ndarray [shape=(n_bags, n_labels), dtype=int64]
        Multi-hot genre labels of those films.
    taxonomy : tuple of str [length n_labels]
    feature_names : list of str [length n_features]
    level : {"cue", "frame"}
    instance_keys : list of pd.DataFrame
        Per bag, the ``cue_id`` (and ``time_s`` for frames) of each instance, so that a
        weight can be traced back to a cue and its time.
    missing : list of str
        Films of the manifest without any instance (left out, see module docstring).
    kind : str
        Name of the feature kind (for reports).
    """

    film_ids: list
    bags: list
    Y: np.ndarray
    taxonomy: tuple
    feature_names: list
    level: str
    instance_keys: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    kind: str = ""

    def subset(self, film_ids) -> "CorpusBags":
        """The same corpus restricted to ``film_ids`` (in this corpus's order).

        Parameters
        ----------
        film_ids : iterable of str
            Films to keep; others are added to :attr:`missing`.

        Returns
        -------
        CorpusBags
        """
        keep = set(film_ids)
        idx = [i for i, f in enumerate(self.film_ids) if f in keep]
        return CorpusBags([self.film_ids[i] for i in idx], [self.bags[i] for i in idx], self.Y[idx],
                          self.taxonomy, self.feature_names, self.level,
                          [self.instance_keys[i] for i in idx] if self.instance_keys else [],
                          self.missing + [f for f in self.film_ids if f not in keep], self.kind)


def bags_from_table(table: pd.DataFrame, corpus: Corpus, *, level: str = "cue", max_instances: int = 0,
                    kind: str = "", source: str = "feature table") -> CorpusBags:
    """Turn a feature table into one bag per film of ``corpus``.

    Parameters
    ----------
    table : pd.DataFrame
        Cue-level (``film_id, cue_id``, features) or frame-level (``film_id, cue_id,
        time_s``, features) table.
    corpus : Corpus
        Gives the films, their order and their labels (``corpus.label_matrix()``).
    level : {"cue", "frame"}
        ``"cue"`` with a frame-level table averages each cue's frames first.
    max_instances : int
        Keep at most this many evenly spaced instances per film (0: all); meant for
        frame-level bags, whose thousands of frames make network training slow.
    kind : str
        Feature kind name, kept for reports.
    source : str
        Where the table came from, for error messages.

    Returns
    -------
    CorpusBags

    Raises
    ------
    FeatureError
        Missing key columns, no feature columns, or non-finite values.
    ParameterError
        Unknown ``level``, or a frame level asked of a cue-level table.
    """
    if level not in ("cue", "frame"):
        raise ParameterError(f"level={level!r} must be 'cue' or 'frame'")
    for key in ("film_id", "cue_id"):
        if key not in table.columns:
            raise FeatureError(f"{source}: no {key!r} column (columns: {', '.join(map(str, table.columns[:8]))} …)")
    names = feature_names(table)
    if not names:
        raise FeatureError(f"{source}: no feature columns named 'group/feature/statistic'")
    has_frames = "time_s" in table.columns
    if level == "frame" and not has_frames:
        raise ParameterError(f"{source}: level='frame' needs a frame-level table (with 'time_s'); "
                             "this one is cue-level")
    values = table[names].to_numpy(dtype=np.float32)
    if not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise FeatureError(f"{source}: non-finite feature value in row {row} "
                           f"(film {table['film_id'].iloc[row]!r}, cue {table['cue_id'].iloc[row]})")
    if level == "cue" and has_frames:
        table = table.groupby(["film_id", "cue_id"], sort=False)[names].mean().reset_index()
    table = table.assign(film_id=table["film_id"].astype(str))
    order = ["cue_id", "time_s"] if level == "frame" else ["cue_id"]
    groups = {f: g.sort_values(order, kind="stable") for f, g in table.groupby("film_id", sort=False)}
    ids, Y_all = corpus.label_matrix()
    known = set(ids)
    unknown = sorted(set(groups) - known)
    if unknown:
        log.info("%s: %d film(s) not in the manifest ignored: %s", source, len(unknown), ", ".join(unknown[:10]))
    film_ids, bags, keys, rows, missing = [], [], [], [], []
    for i, film in enumerate(ids):
        g = groups.get(film)
        if g is None or len(g) == 0:
            missing.append(film)
            continue
        keep = even_subsample(len(g), max_instances) if level == "frame" else np.arange(len(g))
        g = g.iloc[keep]
        film_ids.append(film)
        bags.append(np.ascontiguousarray(g[names].to_numpy(dtype=np.float32)))
        keys.append(g[[c for c in _KEYS[1:] if c in g.columns]].reset_index(drop=True))
        rows.append(i)
    if missing:
        warnings.warn(f"{source}: {len(missing)} film(s) without any cue left out: {', '.join(missing)}",
                      stacklevel=2)
    if not bags:
        raise FeatureError(f"{source}: none of the manifest's {len(ids)} films has features")
    return CorpusBags(film_ids, bags, Y_all[rows].astype(np.int64), tuple(corpus.taxonomy), names, level,
                      keys, missing, kind)


def load_feature_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a feature table (Parquet), with a FeatureError naming the file on failure.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pd.DataFrame

    Raises
    ------
    FeatureError
        The file cannot be read as Parquet.
    """
    path = Path(path)
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise FeatureError(f"{path}: cannot read the feature table ({exc})") from exc
