"""The cross-validated predictions `scorelens evaluate` leaves behind, read back for analyses and plots.

``WORKSPACE/results/evaluation/<level>/predictions.parquet`` holds, in long format, one
row per (run, film, genre): ``film_id, features, model, genre, probability, predicted,
true`` (:meth:`scorelens.analysis._evaluation.Evaluation.predictions`). A *run* is one
(feature kind, model key) pair, e.g. ``("vggish", "network:attention")``; the baselines
have feature kind ``"none"``. The probabilities and 0/1 predictions are out-of-fold: each
film's come from the model trained without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.analysis._metrics import genre_scores
from scorelens.exceptions import ParameterError, WorkspaceError

__all__ = ["PREDICTION_COLUMNS", "RunPredictions", "read_predictions", "check_predictions", "available_runs",
           "resolve_run", "run_predictions", "best_model"]

#: Columns of ``predictions.parquet``.
PREDICTION_COLUMNS = ("film_id", "features", "model", "genre", "probability", "predicted", "true")


@dataclass(frozen=True)
class RunPredictions:
    """One run's predictions as matrices, films by genres.

    Attributes
    ----------
    features, model : str
        The run (feature kind, canonical model key).
    film_ids : tuple of str [length n_films]
    genres : tuple of str [length n_genres]
        In the order the evaluation wrote them (the corpus taxonomy).
    proba : np.ndarray [shape=(n_films, n_genres), dtype=float64]
    pred, true : np.ndarray [shape=(n_films, n_genres), dtype=int64]
        0/1 out-of-fold predictions and true labels.
    """

    features: str
    model: str
    film_ids: tuple
    genres: tuple
    proba: np.ndarray
    pred: np.ndarray
    true: np.ndarray


def check_predictions(df: pd.DataFrame, *, source: str = "predictions") -> pd.DataFrame:
    """Check a predictions table's columns and values; return it with string ids.

    Parameters
    ----------
    df : pd.DataFrame
        Long format, :data:`PREDICTION_COLUMNS`.
    source : str
        Named in error messages (the file).

    Returns
    -------
    pd.DataFrame
        A copy with string ids, int64 ``predicted``/``true`` and float64 ``probability``.

    Raises
    ------
    ParameterError
        Missing columns, no rows, ``predicted``/``true`` values other than 0 and 1, or a
        ``probability`` that is not a number in [0, 1].
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise ParameterError(f"{source}: missing column(s) {', '.join(missing)} "
                             f"(has: {', '.join(map(str, df.columns))})")
    if df.empty:
        raise ParameterError(f"{source}: no predictions (empty table)")
    df = df.copy()
    for col in ("film_id", "features", "model", "genre"):
        df[col] = df[col].astype(str)
    for col in ("predicted", "true"):
        bad = ~df[col].isin([0, 1])
        if bad.any():
            raise ParameterError(f"{source}: column {col} must hold 0 or 1, found {df.loc[bad, col].iloc[0]!r}")
        df[col] = df[col].astype(np.int64)
    proba = pd.to_numeric(df["probability"], errors="coerce")
    bad = ~proba.between(0.0, 1.0)  # NaN (or text) is not between
    if bad.any():
        raise ParameterError(f"{source}: column probability must hold numbers in [0, 1], found "
                             f"{df.loc[bad, 'probability'].iloc[0]!r} (film {df.loc[bad, 'film_id'].iloc[0]})")
    df["probability"] = proba.astype(np.float64)
    return df


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check ``predictions.parquet``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pd.DataFrame
        As :func:`check_predictions` returns it.

    Raises
    ------
    WorkspaceError
        The file does not exist (naming the command that writes it) or cannot be read.
    ParameterError
        See :func:`check_predictions`.
    """
    path = Path(path)
    if not path.is_file():
        level = path.parent.name if path.parent.name in ("cue", "frame") else "cue"
        raise WorkspaceError(f"{path}: no cross-validated predictions; run `scorelens evaluate --level {level}` first")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a malformed file
        raise WorkspaceError(f"{path}: cannot read the predictions ({exc})") from exc
    return check_predictions(df, source=str(path))


def available_runs(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (features, model) runs in a predictions table, in the order they were written.

    Parameters
    ----------
    df : pd.DataFrame
        A checked predictions table.

    Returns
    -------
    list of (str, str)
        ``(features, model)`` pairs.
    """
    pairs = df[["features", "model"]].drop_duplicates()
    return [(str(f), str(m)) for f, m in pairs.itertuples(index=False)]


def _describe(runs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{f}/{m}" for f, m in runs) or "none"


def resolve_run(df: pd.DataFrame, features: str | None, model: str) -> tuple[str, str]:
    """The run a user names: a model key (``attention`` is short for ``network:attention``) and a feature kind.

    Parameters
    ----------
    df : pd.DataFrame
        Predictions (long format).
    features : str or None
        Feature kind; None picks the only kind (other than the baselines' ``"none"``)
        that has ``model``.
    model : str
        Model key as the evaluation writes it, or a network pooling's short name.

    Returns
    -------
    (features, model) : tuple of str

    Raises
    ------
    ParameterError
        The model or the feature kind is not in the table (listing the runs that are), or
        ``features`` is None and the model ran on several kinds.
    """
    runs = available_runs(df)
    wanted = str(model).strip().lower()
    models = {m for _, m in runs}
    key = wanted if wanted in models else (f"network:{wanted}" if f"network:{wanted}" in models else None)
    if key is None:
        raise ParameterError(f"model {model!r} is not in the predictions; available runs (features/model): "
                             f"{_describe(runs)}")
    kinds = [f for f, m in runs if m == key]
    if features is None:
        music = [k for k in kinds if k != "none"] or kinds
        if len(music) > 1:
            raise ParameterError(f"model {key!r} ran on several feature kinds ({', '.join(music)}); choose one with "
                                 "--features")
        return music[0], key
    if features not in kinds:
        raise ParameterError(f"no run of model {key!r} on features {features!r}; available runs (features/model): "
                             f"{_describe(runs)}")
    return features, key


def run_predictions(df: pd.DataFrame, features: str, model: str) -> RunPredictions:
    """One run's predictions as film-by-genre matrices.

    Parameters
    ----------
    df : pd.DataFrame
        A checked predictions table.
    features, model : str
        The run.

    Returns
    -------
    RunPredictions

    Raises
    ------
    ParameterError
        The run is absent, or a film lacks a genre or has one twice.
    """
    rows = df[(df["features"] == features) & (df["model"] == model)]
    if rows.empty:
        raise ParameterError(f"no run {features}/{model} in the predictions; available runs (features/model): "
                             f"{_describe(available_runs(df))}")
    genres = tuple(pd.unique(rows["genre"]))
    films = tuple(pd.unique(rows["film_id"]))
    counts = rows.groupby(["film_id", "genre"]).size()
    if (counts != 1).any() or len(counts) != len(films) * len(genres):
        bad = counts[counts != 1].index.tolist()[:3]
        raise ParameterError(f"run {features}/{model}: every film needs exactly one row per genre "
                             f"({len(rows)} rows for {len(films)} films x {len(genres)} genres; e.g. {bad})")

    def matrix(col: str, dtype) -> np.ndarray:
        return (rows.pivot(index="film_id", columns="genre", values=col)
                .loc[list(films), list(genres)].to_numpy(dtype=dtype))

    return RunPredictions(features, model, films, genres, matrix("probability", np.float64),
                          matrix("predicted", np.int64), matrix("true", np.int64))


def best_model(df: pd.DataFrame, features: str) -> str:
    """The model with the highest macro F1 on ``features`` (ties: the earlier-written run), as Table 4 ranks them.

    Parameters
    ----------
    df : pd.DataFrame
        A checked predictions table.
    features : str

    Returns
    -------
    str
        Model key.

    Raises
    ------
    ParameterError
        No run on ``features``.
    """
    keys = [m for f, m in available_runs(df) if f == features]
    if not keys:
        raise ParameterError(f"no runs on features {features!r}; available runs (features/model): "
                             f"{_describe(available_runs(df))}")

    def f1(key: str) -> float:
        run = run_predictions(df, features, key)
        return genre_scores(run.true, run.pred, run.genres)["macro"]["f1"]

    scores = [f1(k) for k in keys]
    return keys[int(np.argmax(scores))]
