"""Feature tables of a workspace as bags of instances: what the model stages read."""

from __future__ import annotations

import logging
from pathlib import Path

from scorelens.exceptions import FeatureError
from scorelens.workspace import Workspace

__all__ = ["music_kinds", "feature_table", "load_bags", "LARGE_CORPUS_INSTANCES",
           "warn_if_large"]

log = logging.getLogger(__name__)

#: Instances per feature kind above which evaluate warns: IMV trains on every instance and
#: the networks' cost grows with them (the study-shaped cue-level corpus has ~4,400).
LARGE_CORPUS_INSTANCES = 50_000


def music_kinds(workspace: Workspace, features=None) -> list[str]:
    """The feature kinds to model: ``features`` when given, else the study's kinds that the workspace holds.

    Parameters
    ----------
    workspace : Workspace
    features : sequence of str, optional
        Kind names or Parquet paths, returned as given (unchecked) when not empty.

    Returns
    -------
    list of str
        Without ``features``: the default study's music kinds
        (:func:`~scorelens.stages._features.feature_kinds`) with a table in the workspace.

    Raises
    ------
    FeatureError
        The workspace holds none of them.
    """
    if features:
        return list(features)
    from scorelens.config import StudyConfig
    from scorelens.stages._features import feature_kinds

    layout = workspace.layout
    found = [k for k in feature_kinds(StudyConfig()) if layout.features(k, "cue").is_file()
             or layout.features(k, "frame").is_file()]
    if not found:
        raise FeatureError(f"{layout.features_dir}: no music features in the workspace; run `scorelens features "
                           "--kind mir` (and --kind musicnn) first, or pass --features FILE.parquet")
    return found


def feature_table(workspace: Workspace, features: str, level: str) -> tuple[Path, str]:
    """Resolve a features argument: a Parquet file, or a kind name looked up in the workspace.

    A kind ``K`` means its cue-level table at cue level (falling back to the frame-level
    table, averaged per cue) and its frame-level table at frame level.

    Parameters
    ----------
    workspace : Workspace
    features : str
        A Parquet file (a ``.parquet`` name or an existing file) or a feature kind name.
    level : {"cue", "frame"}

    Returns
    -------
    path : Path
    kind : str
        The kind name (the file's parent folder name for a path).

    Raises
    ------
    FeatureError
        No such file, or no table of that kind in the workspace.
    """
    p = Path(features)
    if p.suffix.lower() == ".parquet" or p.is_file():
        if not p.is_file():
            raise FeatureError(f"{p}: no such feature table")
        return p, p.parent.name if p.parent.name not in ("", ".") else p.stem
    layout = workspace.layout
    candidates = ([layout.features(features, "frame")] if level == "frame" else
                  [layout.features(features, "cue"), layout.features(features, "frame")])
    for c in candidates:
        if c.is_file():
            return c, features
    raise FeatureError(f"{candidates[0]}: no {level}-level {features!r} features in the workspace "
                       f"(run `scorelens features --kind {features}` first, or pass a Parquet file)")


def load_bags(workspace: Workspace, corpus, features, level: str = "cue", max_instances: int = 0) -> list:
    """Each feature kind's bags of the corpus' films (:class:`~scorelens.analysis._data.CorpusBags`).

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus
        The films, their order and their labels.
    features : sequence of str
        Kind names or Parquet paths (see :func:`feature_table`).
    level : {"cue", "frame"}
    max_instances : int
        At most this many evenly spaced instances per film (0: all).

    Returns
    -------
    list of CorpusBags
        One per entry of ``features``, in order.

    Raises
    ------
    FeatureError
        A table is missing or malformed (see :func:`feature_table` and
        :func:`~scorelens.analysis._data.bags_from_table`).
    ParameterError
        Unknown ``level``, or a frame level asked of a cue-level table.
    """
    from scorelens.analysis._data import bags_from_table, load_feature_table

    sets = []
    for item in features:
        path, kind = feature_table(workspace, item, level)
        sets.append(bags_from_table(load_feature_table(path), corpus, level=level, max_instances=max_instances,
                                    kind=kind, source=str(path)))
    return sets


def warn_if_large(sets) -> None:
    """Warn before a sweep whose instances would take hours (frame-level bags of a large corpus).

    Logs a warning for each set with more than :data:`LARGE_CORPUS_INSTANCES` instances.

    Parameters
    ----------
    sets : iterable of CorpusBags
    """
    for fs in sets:
        n = sum(len(b) for b in fs.bags)
        if n > LARGE_CORPUS_INSTANCES:
            log.warning("%s: %d %s-level instances (%.0f per film): instance majority voting fits every "
                        "instance in each of the folds and the networks' time grows with the instances, so "
                        "this sweep may take hours (the study-shaped cue-level corpus, ~4,400 instances, takes "
                        "about 45 min on 2 cores); --max-instances N keeps N evenly spaced frames per film, "
                        "--model picks fewer models", fs.kind, n, fs.level, n / max(1, len(fs.bags)))
