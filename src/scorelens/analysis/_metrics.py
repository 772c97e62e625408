"""Scores of multi-label genre predictions, as the study reports them.

Precision, recall and F1 per genre, then their macro average over genres ("Genre
prediction model training procedure": the labels are unbalanced, 55 Action films
against 11 Horror, so every genre counts equally). A genre never predicted has
precision 0 (scikit-learn's ``zero_division=0``).

The study states that every model's precision is "significantly better than the
random guess baseline (p < .01), as given by a paired t-test" without naming the
pairs; here they are the films: each film's precision (and F1) over its genres under
the model and under the random baseline, compared with a paired t-test across films.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import precision_recall_fscore_support

from scorelens.exceptions import ParameterError

__all__ = ["genre_scores", "film_scores", "paired_test"]


def _check(Y_true, Y_pred) -> tuple[np.ndarray, np.ndarray]:
    Y_true, Y_pred = np.asarray(Y_true), np.asarray(Y_pred)
    if Y_true.shape != Y_pred.shape or Y_true.ndim != 2:
        raise ParameterError(f"label matrices must be 2-D and of equal shape, got {Y_true.shape} and {Y_pred.shape}")
    return Y_true.astype(np.int64), Y_pred.astype(np.int64)


def genre_scores(Y_true, Y_pred, taxonomy) -> dict:
    """Per-genre and macro-averaged precision, recall and F1.

    Parameters
    ----------
    Y_true, Y_pred : np.ndarray [shape=(n_films, n_genres)]
        0/1 labels and predictions.
    taxonomy : sequence of str [length n_genres]

    Returns
    -------
    dict
        ``{"macro": {"precision", "recall", "f1"}, "genres": {genre: {"precision",
        "recall", "f1", "support", "predicted"}}}``.

    Raises
    ------
    ParameterError
        Matrices of other shapes or dimensions, or a taxonomy of another length.
    """
    Y_true, Y_pred = _check(Y_true, Y_pred)
    if Y_true.shape[1] != len(taxonomy):
        raise ParameterError(f"{Y_true.shape[1]} label columns but {len(taxonomy)} genres in the taxonomy")
    p, r, f, support = precision_recall_fscore_support(Y_true, Y_pred, average=None, zero_division=0)
    genres = {g: {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]),
                  "support": int(support[k]), "predicted": int(Y_pred[:, k].sum())}
              for k, g in enumerate(taxonomy)}
    return {"macro": {"precision": float(p.mean()), "recall": float(r.mean()), "f1": float(f.mean())},
            "genres": genres}


def film_scores(Y_true, Y_pred) -> dict[str, np.ndarray]:
    """Each film's precision, recall and F1 over its genres.

    Parameters
    ----------
    Y_true, Y_pred : np.ndarray [shape=(n_films, n_genres)]
        0/1 labels and predictions.

    Returns
    -------
    dict of np.ndarray [shape=(n_films,)]
        ``precision`` (0 when nothing is predicted), ``recall`` (0 for a film without
        labels), ``f1``.
    """
    Y_true, Y_pred = _check(Y_true, Y_pred)
    tp = (Y_true & Y_pred).sum(axis=1).astype(float)
    n_pred, n_true = Y_pred.sum(axis=1), Y_true.sum(axis=1)
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_true, out=np.zeros_like(tp), where=n_true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1}


def paired_test(Y_true, Y_model, Y_baseline, *, metric: str = "precision") -> dict:
    """Paired t-test across films of a model against a baseline.

    Parameters
    ----------
    Y_true, Y_model, Y_baseline : np.ndarray [shape=(n_films, n_genres)]
    metric : {"precision", "recall", "f1"}
        Per-film score compared (the study reports precision).

    Returns
    -------
    dict
        ``metric``, ``mean_model``, ``mean_baseline``, ``t`` and two-sided ``p``
        (``p`` is 1.0 when the two are identical on every film, and NaN for fewer than
        two films).

    Raises
    ------
    ParameterError
        An unknown metric, or matrices of other shapes.
    """
    if metric not in ("precision", "recall", "f1"):
        raise ParameterError(f"metric={metric!r} must be 'precision', 'recall' or 'f1'")
    a = film_scores(Y_true, Y_model)[metric]
    b = film_scores(Y_true, Y_baseline)[metric]
    out = {"metric": metric, "mean_model": float(a.mean()), "mean_baseline": float(b.mean())}
    if len(a) < 2:
        return {**out, "t": float("nan"), "p": float("nan")}
    diff = a - b
    if np.allclose(diff, diff[0]):
        # Constant differences: t is infinite (or undefined when all are 0); scipy warns.
        return {**out, "t": float("inf") * np.sign(diff[0]) if diff[0] else 0.0, "p": 0.0 if diff[0] else 1.0}
    res = stats.ttest_rel(a, b)
    return {**out, "t": float(res.statistic), "p": float(res.pvalue)}
