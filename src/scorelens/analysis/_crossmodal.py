"""Musical-visual cross-modal analysis: the study's Table 5.

The study ("Musical-visual cross-modal analysis", Table 5) asks whether films whose
*music* a model finds characteristic of a genre also *look* like that genre. For each
genre it reports the difference between the median screen brightness (and contrast) of
the "film clips labeled with that genre" and "the median value of all other clips",
under three sources of genre labels, with a Mann-Whitney U test and a Bonferroni
correction (alpha = 0.01, m = 6). How this module reads the study:

Clips
    A clip is the stretch of a film where one musical cue plays (a row of the Score
    Stamper's cue table), described by the median brightness and contrast of the 1 Hz
    frames inside it (``WORKSPACE/features/visual/cues.parquet``, see
    :func:`scorelens.features._visual.cue_summaries`). Each clip is one observation, so a
    film with many cues weighs more than one with few; the study's text speaks of clips
    throughout, while its caption says "films labeled with a given genre", which is the
    same grouping (a clip carries its film's labels).
Label sources
    ``actual``: the film's true genres. ``predicted``: the genres the chosen model
    predicts for the film out of fold (each film's prediction comes from the model trained
    without it; 0/1 at the evaluation's threshold); the study used its single-attention
    network on VGGish features, this module's default. ``false_positive``: predicted
    genres that are not true ("true positive genre predictions are removed from the set of
    all genre predictions").
Groups compared
    For a genre G and a source, the clips of films carrying G under that source against
    *all other clips*, the complement within the same set of clips. For the false-positive
    source the other clips therefore include the clips of films that truly are G (the
    caption's "set of films excluding the given genre", read within the source); one could
    instead compare against films neither labeled nor predicted G, which the study does
    not describe. All three sources use the same clips: those of the films that have both
    predictions and visual summaries, so that they differ only in labels.
Numbers
    ``difference = median(labeled) - median(other)``, printed ×10 as the study does (its
    caption's "×10^1"); the raw values are kept. A two-sided Mann-Whitney U test
    (:func:`scipy.stats.mannwhitneyu`, exact for small samples without ties) compares the
    two groups of clip values; ``p_corrected = min(1, m p)`` with m the number of genres,
    within one source and one visual feature ("within a given prediction source"), and a
    difference is significant when ``p_corrected <= alpha``. The study's m = 6 is its
    number of genres; m stays the number of genres when a genre cannot be tested. A genre
    with no clips on one side (say, never predicted) has no difference and no test, and
    its ``note`` says why.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from scorelens._version import __version__
from scorelens.analysis._predictions import check_predictions, resolve_run, run_predictions
from scorelens.exceptions import ParameterError

__all__ = ["SOURCES", "SOURCE_NAMES", "VISUAL_FEATURES", "SCALE", "CrossModal", "label_sources", "compare_groups",
           "bonferroni", "cross_modal", "check_clips", "format_difference"]

#: Label sources, in Table 5's column order.
SOURCES = ("actual", "predicted", "false_positive")
SOURCE_NAMES = {"actual": "Actual", "predicted": "Predicted", "false_positive": "False Positive"}
#: Visual features compared, in Table 5's order.
VISUAL_FEATURES = ("brightness", "contrast")
#: Table 5 prints differences multiplied by this.
SCALE = 10.0

COLUMNS = ["feature", "source", "genre", "n_films", "n_clips", "n_clips_other", "median", "median_other",
           "difference", "difference_x10", "u", "p", "p_corrected", "m", "alpha", "significant", "note"]


def check_clips(clips: pd.DataFrame, *, source: str = "clips") -> pd.DataFrame:
    """Check a table of clip summaries (``film_id, brightness, contrast``; more columns kept).

    Parameters
    ----------
    clips : pd.DataFrame
        One row per clip.
    source : str
        Named in error messages (the file).

    Returns
    -------
    pd.DataFrame
        A copy with string ``film_id`` and float64 visual columns (missing values NaN).

    Raises
    ------
    ParameterError
        A column is missing or a visual value is not a number.
    """
    missing = [c for c in ("film_id", *VISUAL_FEATURES) if c not in clips.columns]
    if missing:
        raise ParameterError(f"{source}: missing column(s) {', '.join(missing)} "
                             f"(has: {', '.join(map(str, clips.columns))})")
    clips = clips.copy()
    clips["film_id"] = clips["film_id"].astype(str)
    for col in VISUAL_FEATURES:
        values = pd.to_numeric(clips[col], errors="coerce")
        if values.isna().any() and not clips[col].isna().equals(values.isna()):
            raise ParameterError(f"{source}: column {col} holds values that are not numbers")
        clips[col] = values.astype(np.float64)
    return clips


def label_sources(true: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """The three label matrices of Table 5.

    Parameters
    ----------
    true, pred : np.ndarray [shape=(n_films, n_genres)]
        0/1 true labels and predictions.

    Returns
    -------
    dict of np.ndarray [shape=(n_films, n_genres), dtype=bool]
        ``actual`` (true), ``predicted`` (pred), ``false_positive`` (pred and not true).

    Raises
    ------
    ParameterError
        The two matrices differ in shape.
    """
    true, pred = np.asarray(true).astype(bool), np.asarray(pred).astype(bool)
    if true.shape != pred.shape:
        raise ParameterError(f"label matrices differ in shape: true {true.shape}, predicted {pred.shape}")
    return {"actual": true, "predicted": pred, "false_positive": pred & ~true}


def bonferroni(p: float, m: int) -> float:
    """Bonferroni-corrected p-value ``min(1, m p)`` (NaN stays NaN).

    Parameters
    ----------
    p : float
        Uncorrected p-value.
    m : int
        Number of tests.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
        ``m < 1``.
    """
    if m < 1:
        raise ParameterError(f"m={m} must be at least 1")
    return p if math.isnan(p) else min(1.0, p * m)


def compare_groups(labeled: np.ndarray, other: np.ndarray) -> dict:
    """Medians, their difference and a two-sided Mann-Whitney U test between two groups of clip values.

    Parameters
    ----------
    labeled, other : np.ndarray [shape=(n,)]
        Values of the clips of films with the label, and of all other clips.

    Returns
    -------
    dict
        ``median``, ``median_other``, ``difference`` (``median - median_other``), ``u``
        (the U statistic of ``labeled``) and ``p``; NaN where a group is empty.
    """
    labeled, other = np.asarray(labeled, np.float64), np.asarray(other, np.float64)
    med = float(np.median(labeled)) if labeled.size else math.nan
    med_other = float(np.median(other)) if other.size else math.nan
    u = p = math.nan
    if labeled.size and other.size:
        res = stats.mannwhitneyu(labeled, other, alternative="two-sided")
        u, p = float(res.statistic), float(res.pvalue)
    return {"median": med, "median_other": med_other, "difference": med - med_other, "u": u, "p": p}


@dataclass
class CrossModal:
    """Table 5 for one model's predictions.

    Attributes
    ----------
    table : pd.DataFrame
        One row per (visual feature, source, genre), columns :data:`COLUMNS`.
    features, model : str
        The run whose predictions give the ``predicted`` and ``false_positive`` labels.
    alpha : float
    genres : tuple of str
    film_ids : tuple of str
        Films whose clips were compared.
    n_clips : int
        Clips of those films with a visual value (a clip whose brightness and contrast are
        both missing is not counted).
    films_without_clips : tuple of str
        Films with predictions but no visual cue summary (no cue, or no video frame near one).
    films_without_predictions : tuple of str
        Films with clips but no predictions (left out of the evaluation, e.g. no music features).
    """

    table: pd.DataFrame
    features: str
    model: str
    alpha: float
    genres: tuple
    film_ids: tuple
    n_clips: int
    films_without_clips: tuple = field(default_factory=tuple)
    films_without_predictions: tuple = field(default_factory=tuple)

    def value(self, feature: str, source: str, genre: str, column: str = "difference"):
        """One cell of :attr:`table`.

        Parameters
        ----------
        feature : str
            Visual feature (``brightness``, ``contrast``).
        source : str
            Label source (``actual``, ``predicted``, ``false_positive``).
        genre : str
        column : str
            A column of :data:`COLUMNS` (default: the median difference).

        Returns
        -------
        object
            The cell's value.

        Raises
        ------
        KeyError
            No row for that feature, source and genre.
        """
        rows = self.table[(self.table["feature"] == feature) & (self.table["source"] == source)
                          & (self.table["genre"] == genre)]
        if len(rows) != 1:
            raise KeyError(f"no row ({feature}, {source}, {genre})")
        return rows[column].iloc[0]

    def caption(self) -> str:
        """Table 5's caption for these numbers.

        Returns
        -------
        str
        """
        m = len(self.genres)
        return (f"Table 5 (scorelens {__version__}): difference in median brightness and contrast (×10) between the "
                f"music cue clips of films labeled with a genre and all other clips; {self.n_clips} clips from "
                f"{len(self.film_ids)} films. Labels: Actual (true), Predicted (out-of-fold predictions of "
                f"{self.model} on {self.features} features), False Positive (predicted, not true). Bold: significant "
                f"difference, two-sided Mann-Whitney U test with Bonferroni correction (α = {self.alpha:g}, m = {m}) "
                "within a label source.")

    def to_markdown(self) -> str:
        """Table 5 as Markdown: one block per visual feature, genres by label source, ×10, bold if significant.

        Returns
        -------
        str
        """
        lines = [self.caption(), ""]
        for feature in VISUAL_FEATURES:
            lines += [f"**{feature.capitalize()}**", "",
                      "| Genre | " + " | ".join(SOURCE_NAMES[s] for s in SOURCES) + " |",
                      "|---|" + "---:|" * len(SOURCES)]
            for genre in self.genres:
                cells = [_cell(row["difference_x10"], row["significant"])
                         for row in (self._row(feature, source, genre) for source in SOURCES)]
                lines.append(f"| {genre} | " + " | ".join(cells) + " |")
            lines.append("")
        notes = []
        for column, why in (("n_clips", "no clips from films with the label"),
                            ("n_clips_other", "every clip is from a film with the label")):
            empty = self.table[self.table[column] == 0].drop_duplicates(["source", "genre"])
            if len(empty):
                where = "; ".join(f"{SOURCE_NAMES[source]}: {', '.join(rows['genre'])}"
                                  for source, rows in empty.groupby("source", sort=False))
                notes.append(f"n/a, {why} ({where}).")
        if self.films_without_clips:
            notes.append(f"Films without visual cue summaries, left out: {', '.join(self.films_without_clips)}.")
        if self.films_without_predictions:
            notes.append(f"Films with clips but no predictions, left out: {', '.join(self.films_without_predictions)}.")
        return "\n".join(lines + notes).rstrip() + "\n"

    def _row(self, feature: str, source: str, genre: str) -> dict:
        rows = self.table[(self.table["feature"] == feature) & (self.table["source"] == source)
                          & (self.table["genre"] == genre)]
        return rows.iloc[0].to_dict()

    def to_frame(self) -> pd.DataFrame:
        """The tidy table (the CSV's content).

        Returns
        -------
        pd.DataFrame
            A copy of :attr:`table`.
        """
        return self.table.copy()

    def to_json(self) -> dict:
        """Settings, films and every row (NaN as null).

        Returns
        -------
        dict
            JSON-compatible.
        """
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]
        return {"scorelens": __version__, "features": self.features, "model": self.model, "alpha": self.alpha,
                "m": len(self.genres), "scale": SCALE, "genres": list(self.genres), "films": list(self.film_ids),
                "n_clips": self.n_clips, "films_without_clips": list(self.films_without_clips),
                "films_without_predictions": list(self.films_without_predictions), "rows": rows}

    def to_json_text(self) -> str:
        """:meth:`to_json` as indented JSON text.

        Returns
        -------
        str
        """
        return json.dumps(self.to_json(), indent=2, default=_jsonable) + "\n"


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def format_difference(x: float) -> str:
    """A Table 5 cell: two decimals as the study prints them (no "-0.00"), ``n/a`` for NaN.

    Parameters
    ----------
    x : float
        A median difference (already scaled as the table prints it).

    Returns
    -------
    str
    """
    if x != x:
        return "n/a"
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def _cell(x: float, significant: bool) -> str:
    text = format_difference(x)
    return f"**{text}**" if significant and text != "n/a" else text


def _check_true_labels(run, true_labels: Mapping[str, Iterable[str]]) -> None:
    known = set(true_labels)
    unknown = [f for f in run.film_ids if f not in known]
    if unknown:
        raise ParameterError(f"the predictions name film(s) not in the manifest: {', '.join(unknown[:10])}"
                             f"{' …' if len(unknown) > 10 else ''}; were they made from another manifest? "
                             "Re-run `scorelens evaluate`")
    differ = []
    for i, film in enumerate(run.film_ids):
        from_run = {g for g, on in zip(run.genres, run.true[i]) if on}
        if from_run != set(true_labels[film]):
            differ.append(f"{film} (predictions: {', '.join(sorted(from_run)) or 'none'}; manifest: "
                          f"{', '.join(sorted(true_labels[film])) or 'none'})")
    if differ:
        raise ParameterError(f"true labels in the predictions differ from the manifest for {len(differ)} film(s): "
                             f"{'; '.join(differ[:5])}; re-run `scorelens evaluate` with this manifest")


def cross_modal(clips: pd.DataFrame, predictions: pd.DataFrame, *, model: str = "network:attention",
                features: str | None = None, alpha: float = 0.01,
                true_labels: Mapping[str, Iterable[str]] | None = None) -> CrossModal:
    """Table 5: per genre and label source, labeled clips' median brightness and contrast against the rest.

    Parameters
    ----------
    clips : pd.DataFrame
        One row per music cue clip: ``film_id, brightness, contrast`` (``cues.parquet`` of
        the visual features).
    predictions : pd.DataFrame
        Long-format out-of-fold predictions (:mod:`scorelens.analysis._predictions`).
    model : str
        Model key whose predictions label the clips (default: the study's single-attention
        network); a network pooling's short name is accepted.
    features : str, optional
        Feature kind of the run; needed only when the model ran on several.
    alpha : float
        Family-wise significance level (study: 0.01).
    true_labels : mapping of str to iterable of str, optional
        Each film's genres from the manifest; when given, the predictions' true labels must
        agree with it (stale predictions from another manifest are refused).

    Returns
    -------
    CrossModal

    Raises
    ------
    ParameterError
        ``alpha`` outside (0, 1), an unknown model or feature kind (the message lists the
        runs available), no film in common between clips and predictions, or true labels
        that disagree with the manifest.

    Warns
    -----
    UserWarning
        Films with predictions but no clips, or clips but no predictions (left out).
    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha={alpha} must lie strictly between 0 and 1")
    predictions = check_predictions(predictions)
    clips = check_clips(clips)
    features, model = resolve_run(predictions, features, model)
    run = run_predictions(predictions, features, model)
    if true_labels is not None:
        _check_true_labels(run, true_labels)
    film_index = {f: i for i, f in enumerate(run.film_ids)}
    clip_films = set(clips["film_id"])
    without_clips = tuple(f for f in run.film_ids if f not in clip_films)
    without_predictions = tuple(sorted(clip_films - set(film_index)))
    used = tuple(f for f in run.film_ids if f in clip_films)
    if not used:
        raise ParameterError(f"no film has both clips and predictions: the clips' films ({_some(clip_films)}) and the "
                             f"predictions' films ({_some(run.film_ids)}) do not overlap")
    if without_clips:
        warnings.warn(f"{len(without_clips)} film(s) with predictions have no visual cue summary and are left out: "
                      f"{_some(without_clips)}", UserWarning, stacklevel=2)
    if without_predictions:
        warnings.warn(f"{len(without_predictions)} film(s) with clips have no predictions from {features}/{model} and "
                      f"are left out: {_some(without_predictions)}", UserWarning, stacklevel=2)
    clips = clips[clips["film_id"].isin(film_index)]
    rows_of_clips = clips["film_id"].map(film_index).to_numpy()
    sources = label_sources(run.true, run.pred)
    m = len(run.genres)
    rows = []
    for feature in VISUAL_FEATURES:
        values = clips[feature].to_numpy(np.float64)
        finite = np.isfinite(values)
        for source in SOURCES:
            labels = sources[source]
            for k, genre in enumerate(run.genres):
                on_film = labels[:, k]
                inside = on_film[rows_of_clips] & finite
                outside = ~on_film[rows_of_clips] & finite
                res = compare_groups(values[inside], values[outside])
                note = ""
                if not inside.any():
                    note = f"no clips from films labeled {genre}"
                elif not outside.any():
                    note = f"every clip is from a film labeled {genre}"
                p_corr = bonferroni(res["p"], m)
                rows.append({"feature": feature, "source": source, "genre": genre,
                             "n_films": int(len({film for film, on in zip(run.film_ids, on_film)
                                                 if on and film in clip_films})),
                             "n_clips": int(inside.sum()), "n_clips_other": int(outside.sum()),
                             "median": res["median"], "median_other": res["median_other"],
                             "difference": res["difference"], "difference_x10": res["difference"] * SCALE,
                             "u": res["u"], "p": res["p"], "p_corrected": p_corr, "m": m, "alpha": alpha,
                             "significant": bool(p_corr == p_corr and p_corr <= alpha), "note": note})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return CrossModal(table=table, features=features, model=model, alpha=alpha, genres=run.genres, film_ids=used,
                      n_clips=int(np.isfinite(clips[list(VISUAL_FEATURES)].to_numpy(np.float64)).any(axis=1).sum()),
                      films_without_clips=without_clips,
                      films_without_predictions=without_predictions)


def _some(ids, n: int = 8) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:n]) + (f" … ({len(ids)} in all)" if len(ids) > n else "") if ids else "none"
