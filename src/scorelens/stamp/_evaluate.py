"""Scoring predicted cues against hand-annotated ones (the study's Score Stamper evaluation).

Two views, per film and averaged over films (mean and SD, as the study reports):

* **second level**: the film is cut into one-second steps; a step is labelled with a
  track when a cue of that track covers its midpoint. Precision and recall are over
  (second, track) pairs, so a prediction of the wrong track counts against both.
* **cue level**: a true cue is *found* when at least ``coverage`` (50 %) of it is covered
  by predicted cues of the same track (cue recall); a predicted cue is *correct* when at
  least ``coverage`` of it is covered by true cues of the same track (cue precision).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["evaluate_cues", "summarise"]


def _track_key(name: str) -> str:
    stem = re.sub(r"\.(mp3|flac|wav|m4a|aac|ogg|oga|opus|aiff?|wma|mka)$", "", str(name).strip(), flags=re.I)
    return stem.casefold()


def _second_pairs(cues: pd.DataFrame, resolution_s: float) -> set[tuple[int, str]]:
    pairs: set[tuple[int, str]] = set()
    for start, end, track in zip(cues["start_s"], cues["end_s"], cues["key"]):
        # Steps whose midpoint (k + 0.5) * res lies in [start, end).
        first = int(np.ceil(start / resolution_s - 0.5))
        last = int(np.ceil(end / resolution_s - 0.5))
        pairs.update((k, track) for k in range(first, last))
    return pairs


def _covered(intervals: pd.DataFrame, others: pd.DataFrame) -> np.ndarray:
    """Fraction of each interval covered by the union of same-track intervals in ``others``."""
    out = np.zeros(len(intervals))
    for i, (start, end, key) in enumerate(zip(intervals["start_s"], intervals["end_s"], intervals["key"])):
        same = others[others["key"] == key]
        spans = sorted((max(s, start), min(e, end)) for s, e in zip(same["start_s"], same["end_s"])
                       if e > start and s < end)
        total, reach = 0.0, start
        for s, e in spans:
            s = max(s, reach)
            if e > s:
                total += e - s
                reach = e
        out[i] = total / (end - start) if end > start else 0.0
    return out


def evaluate_cues(truth: pd.DataFrame, predicted: pd.DataFrame, *, resolution_s: float = 1.0,
                  coverage: float = 0.5) -> pd.DataFrame:
    """Per-film precision and recall of predicted cues.

    Parameters
    ----------
    truth, predicted : pd.DataFrame
        Cue tables with ``film_id, track, start_s, end_s`` (see :func:`scorelens.stamp._cuetable.read_cue_table`).
        Tracks are compared by title, case-insensitively, with any audio extension removed.
    resolution_s : float
        Step of the second-level measure.
    coverage : float
        Fraction of a cue that must be covered for it to count at cue level.

    Returns
    -------
    pd.DataFrame
        One row per film of ``truth``: ``film_id, second_precision, second_recall, second_f1,
        cue_precision, cue_recall, true_cues, predicted_cues, true_seconds, predicted_seconds``.
        A film with no predicted cue has precision NaN (undefined), not 0.
    """
    truth = truth.assign(key=truth["track"].map(_track_key))
    predicted = predicted.assign(key=predicted["track"].map(_track_key))
    rows = []
    for film_id, t in truth.groupby("film_id", sort=True):
        p = predicted[predicted["film_id"] == film_id]
        T, P = _second_pairs(t, resolution_s), _second_pairs(p, resolution_s)
        tp = len(T & P)
        prec = tp / len(P) if P else float("nan")
        rec = tp / len(T) if T else float("nan")
        f1 = 2 * prec * rec / (prec + rec) if P and T and (prec + rec) > 0 else float("nan")
        cue_rec = float(np.mean(_covered(t, p) >= coverage)) if len(t) else float("nan")
        cue_prec = float(np.mean(_covered(p, t) >= coverage)) if len(p) else float("nan")
        rows.append({"film_id": film_id, "second_precision": prec, "second_recall": rec, "second_f1": f1,
                     "cue_precision": cue_prec, "cue_recall": cue_rec, "true_cues": len(t), "predicted_cues": len(p),
                     "true_seconds": len(T) * resolution_s, "predicted_seconds": len(P) * resolution_s})
    return pd.DataFrame(rows)


def summarise(per_film: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over films of each measure (the study reports precision 0.94, SD .012; recall 0.47, SD .086).

    Parameters
    ----------
    per_film : pd.DataFrame
        Output of :func:`evaluate_cues`.

    Returns
    -------
    pd.DataFrame
        Indexed by ``measure`` (``second_precision, second_recall, second_f1, cue_precision,
        cue_recall``), columns ``mean`` and ``sd`` (sample SD, ddof=1; NaN with one film).
        NaN measures of a film are left out of its mean and SD.
    """
    measures = ["second_precision", "second_recall", "second_f1", "cue_precision", "cue_recall"]
    table = pd.DataFrame({"mean": per_film[measures].mean(), "sd": per_film[measures].std(ddof=1)})
    return table.rename_axis("measure")
