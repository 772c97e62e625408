"""Figures of the study's supporting information, and a map of where the music plays.

* :func:`pr_curves` -- precision-recall curves per genre of one or more runs (S2 Appendix:
  "Precision-recall curves for top-performing MIR and VGGish models").
* :func:`film_scatter` -- each film's precision against its recall (S3 Appendix: "Scatter
  plot displaying precision and recall for each film ... for both VGGish and MIR average
  pooling models").
* :func:`cue_timeline` -- one row per film, its music cues as bars over the film's length.

Every function takes DataFrames and returns a :class:`matplotlib.figure.Figure` built
without pyplot (no global state, no display; rendering goes through Agg), so that it can be
tested and saved anywhere with :func:`save_figure`.

The study's S3 caption says "micro-averaged across all cues"; its models predict a film's
genres, not a cue's, so each film's point here is micro-averaged over the film's genres:
precision = true positive genres / predicted genres, recall = true positive genres / true
genres (:func:`scorelens.analysis._metrics.film_scores`: 0 when nothing is predicted).
Per-film scores take few distinct values, so films sharing a point are drawn as one marker
whose area grows with their number, and the number is written beside it (no jitter).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve

from scorelens.analysis._metrics import film_scores
from scorelens.analysis._predictions import check_predictions, run_predictions
from scorelens.exceptions import ParameterError

__all__ = ["FIGURE_FORMATS", "run_label", "average_precisions", "pr_curves", "per_film_scores", "film_scatter",
           "cue_timeline", "save_figure"]

#: Formats :func:`save_figure` writes, by file suffix.
FIGURE_FORMATS = ("png", "svg", "pdf")


def run_label(features: str, model: str) -> str:
    """A run's name in titles: Table 4's model name and the feature kind (``Single Attn · vggish``)."""
    try:
        from scorelens.mil._models import display_name

        name = display_name(model)
    except Exception:  # noqa: BLE001 - an unknown or future key still gets a title
        name = model
    return name if features == "none" else f"{name} · {features}"


def _runs(runs) -> list[tuple[str, str]]:
    runs = list(dict.fromkeys(tuple(r) for r in runs))
    if not runs:
        raise ParameterError("no runs to plot: give at least one (features, model) pair")
    return runs


def average_precisions(predictions: pd.DataFrame, runs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Average precision of each genre's ranking of the films by predicted probability.

    Parameters
    ----------
    predictions : pd.DataFrame
        Long-format out-of-fold predictions.
    runs : sequence of (features, model)

    Returns
    -------
    pd.DataFrame
        ``features, model, genre, n_films, n_positive, average_precision`` (NaN for a
        genre without a positive film).
    """
    predictions = check_predictions(predictions)
    rows = []
    for features, model in _runs(runs):
        run = run_predictions(predictions, features, model)
        for k, genre in enumerate(run.genres):
            y = run.true[:, k]
            ap = float(average_precision_score(y, run.proba[:, k])) if y.any() else float("nan")
            rows.append({"features": features, "model": model, "genre": genre, "n_films": len(y),
                         "n_positive": int(y.sum()), "average_precision": ap})
    return pd.DataFrame(rows, columns=["features", "model", "genre", "n_films", "n_positive", "average_precision"])


def pr_curves(predictions: pd.DataFrame, runs: Sequence[tuple[str, str]], *, panel_size: float = 4.2) -> Figure:
    """Precision-recall curves per genre, one panel per run (S2 Appendix).

    Each genre's curve is drawn as steps (the interpolation average precision assumes)
    from :func:`sklearn.metrics.precision_recall_curve` over the films' out-of-fold
    probabilities; the legend gives each genre's average precision. A genre without a
    positive film has no curve and is named in the legend as such.

    Parameters
    ----------
    predictions : pd.DataFrame
        Long-format out-of-fold predictions.
    runs : sequence of (features, model)
    panel_size : float
        Width and height of each panel, in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per run; each curve's line has ``gid`` set to its genre.
    """
    predictions = check_predictions(predictions)
    runs = _runs(runs)
    fig = Figure(figsize=(panel_size * len(runs), panel_size + 0.4), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for ax, (features, model) in zip(axes, runs):
        run = run_predictions(predictions, features, model)
        for k, genre in enumerate(run.genres):
            y, score = run.true[:, k], run.proba[:, k]
            if not y.any():
                ax.plot([], [], " ", label=f"{genre} (no positive film)")
                continue
            precision, recall, _ = precision_recall_curve(y, score)
            ap = average_precision_score(y, score)
            (line,) = ax.step(recall, precision, where="post", label=f"{genre} (AP {ap:.2f})", color=f"C{k % 10}")
            line.set_gid(genre)
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="Recall", ylabel="Precision",
               title=f"{run_label(features, model)} ({len(run.film_ids)} films)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize="small", frameon=False)
    fig.suptitle("Precision-recall per genre (out-of-fold)")
    return fig


def per_film_scores(predictions: pd.DataFrame, runs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Each film's precision and recall over its genres (micro-averaged), per run.

    Returns
    -------
    pd.DataFrame
        ``features, model, film_id, precision, recall, f1, n_true, n_predicted``.
    """
    predictions = check_predictions(predictions)
    frames = []
    for features, model in _runs(runs):
        run = run_predictions(predictions, features, model)
        s = film_scores(run.true, run.pred)
        frames.append(pd.DataFrame({"features": features, "model": model, "film_id": list(run.film_ids),
                                    "precision": s["precision"], "recall": s["recall"], "f1": s["f1"],
                                    "n_true": run.true.sum(axis=1), "n_predicted": run.pred.sum(axis=1)}))
    return pd.concat(frames, ignore_index=True)


def film_scatter(predictions: pd.DataFrame, runs: Sequence[tuple[str, str]], *, panel_size: float = 4.2,
                 marker_area: float = 36.0) -> Figure:
    """Per-film precision against recall, one panel per run (S3 Appendix).

    Films with the same (recall, precision) share one marker: its area is ``marker_area``
    times their number (scaled down so that no marker exceeds 40 films' area), and the
    number is written beside markers holding more than one.

    Parameters
    ----------
    predictions : pd.DataFrame
        Long-format out-of-fold predictions.
    runs : sequence of (features, model)
    panel_size : float
        Width and height of each panel, in inches.
    marker_area : float
        Marker area (points²) of a single film.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per run, each with one scatter collection whose offsets are the distinct
        (recall, precision) points and whose ``gid`` is ``"films"``.
    """
    scores = per_film_scores(predictions, runs)
    runs = _runs(runs)
    fig = Figure(figsize=(panel_size * len(runs), panel_size + 1.0), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    for i, (ax, (features, model)) in enumerate(zip(axes, runs)):
        mine = scores[(scores["features"] == features) & (scores["model"] == model)]
        points = mine.groupby(["recall", "precision"]).size().reset_index(name="films")
        # Area grows with the number of films, scaled down when one point holds more than 40.
        area = marker_area * points["films"] * min(1.0, 40.0 / max(1, points["films"].max()))
        coll = ax.scatter(points["recall"], points["precision"], s=area, alpha=0.6,
                          color=f"C{i % 10}", edgecolors="black", linewidths=0.5)
        coll.set_gid("films")
        for p in points.itertuples(index=False):
            if p.films > 1:
                ax.annotate(str(p.films), (p.recall, p.precision), xytext=(4, 4), textcoords="offset points",
                            fontsize="small")
        ax.set(xlim=(-0.05, 1.08), ylim=(-0.05, 1.08), xlabel="Recall (per film)", ylabel="Precision (per film)",
               title=f"{run_label(features, model)}\nmean P {mine['precision'].mean():.2f}, "
                     f"mean R {mine['recall'].mean():.2f} ({len(mine)} films)")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    fig.suptitle("Precision and recall of each film over its genres (out-of-fold)")
    return fig


def cue_timeline(cues: pd.DataFrame, durations: Mapping[str, float] | None = None, *,
                 films: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                 row_height: float = 0.32, width: float = 10.0) -> Figure:
    """Where music plays in each film: one row per film, one bar per cue, x in minutes.

    Parameters
    ----------
    cues : pd.DataFrame
        Cue tables: ``film_id, start_s, end_s`` and optionally ``track`` (bars are
        coloured by track within a film).
    durations : mapping of str to float, optional
        Each film's length in seconds, drawn as a grey line under its cues; a film without
        one is drawn up to its last cue's end (dashed).
    films : sequence of str, optional
        Rows, top to bottom (default: the films of ``cues`` in order of appearance); a
        film without cues gets an empty row.
    labels : mapping of str to str, optional
        Row labels (e.g. titles) by film id.
    row_height, width : float
        Inches per film row, and figure width.

    Returns
    -------
    matplotlib.figure.Figure
        One axes whose patches are exactly the cue bars (``gid``: ``"<film_id>#<n>"``).

    Raises
    ------
    ParameterError
        Missing columns, or a cue ending before it starts.
    """
    missing = [c for c in ("film_id", "start_s", "end_s") if c not in cues.columns]
    if missing:
        raise ParameterError(f"cue table lacks column(s) {', '.join(missing)} "
                             f"(has: {', '.join(map(str, cues.columns))})")
    cues = cues.copy()
    cues["film_id"] = cues["film_id"].astype(str)
    bad = cues["end_s"] < cues["start_s"]
    if bad.any():
        row = cues[bad].iloc[0]
        raise ParameterError(f"film {row['film_id']}: cue ends (t={row['end_s']:.3f}s) before it starts "
                             f"(t={row['start_s']:.3f}s)")
    durations = dict(durations or {})
    labels = dict(labels or {})
    order = list(films) if films is not None else list(pd.unique(cues["film_id"]))
    fig = Figure(figsize=(width, 1.2 + row_height * max(1, len(order))), layout="constrained")
    ax = fig.add_subplot()
    longest = 0.0
    for row, film in enumerate(order):
        mine = cues[cues["film_id"] == film].sort_values("start_s", kind="stable")
        y = len(order) - 1 - row  # first film on top
        length = durations.get(film)
        known = length is not None and np.isfinite(length) and length > 0
        end = float(length) if known else float(mine["end_s"].max()) if len(mine) else 0.0
        longest = max(longest, end, float(mine["end_s"].max()) if len(mine) else 0.0)
        ax.hlines(y, 0, end / 60, colors="0.75", linewidth=2, linestyles="solid" if known else "dashed", zorder=1)
        tracks = list(pd.unique(mine["track"].astype(str))) if "track" in mine.columns else []
        if len(mine):
            colours = ([f"C{tracks.index(t) % 10}" for t in mine["track"].astype(str)] if tracks
                       else ["C0"] * len(mine))
            start, stop = mine["start_s"].to_numpy(float), mine["end_s"].to_numpy(float)
            bars = ax.barh(np.full(len(mine), y), (stop - start) / 60, left=start / 60, height=0.6, color=colours,
                           edgecolor="black", linewidth=0.3, zorder=2)
            for n, patch in enumerate(bars.patches):
                patch.set_gid(f"{film}#{n}")
    ax.set_yticks(range(len(order)), [labels.get(f, f) for f in reversed(order)])
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlim(0, max(longest / 60, 1e-3) * 1.01)
    ax.set_xlabel("Film time (minutes)")
    ax.grid(axis="x", alpha=0.3)
    n_cues = sum(1 for f in cues["film_id"] if f in set(order))
    ax.set_title(f"Where the music plays: {n_cues} cues in {len(order)} films (colour: track within a film; grey: "
                 "film length)")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> Path:
    """Write a figure atomically, in the format its suffix names (``.png``, ``.svg`` or ``.pdf``).

    Raises
    ------
    ParameterError
        Another suffix.
    """
    from scorelens.io._atomic import atomic_path

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ParameterError(f"{path}: figure format {fmt!r} is not one of {', '.join(FIGURE_FORMATS)}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path
