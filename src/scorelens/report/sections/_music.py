"""The report's section on where the music plays (and the Score Stamper's scores)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scorelens.exceptions import WorkspaceError
from scorelens.report._cuesheet import cue_sheet
from scorelens.report._document import Heading, Section, Table, Text
from scorelens.report._sources import film_durations
from scorelens.report.sections._format import _cells, _num
from scorelens.report.sections._inputs import (
    STUDY_STAMPER,
    _Inputs,
    _todo,
)
from scorelens.stamp._speed import film_speed

# --- where the music plays ------------------------------------------------------------------

def _union_seconds(start: np.ndarray, end: np.ndarray) -> float:
    """Length of the union of intervals ``[start, end)``."""
    total, reach = 0.0, -math.inf
    for s, e in sorted(zip(start, end)):
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return float(total)


def music_per_film(cues: dict[str, pd.DataFrame], durations: dict[str, float],
                   films: list[str] | None = None) -> pd.DataFrame:
    """Per film: number of cues, seconds of music (union of the cues) and share of the film.

    Parameters
    ----------
    cues : dict of str -> pd.DataFrame
        Cue tables (``start_s, end_s``) by film id.
    durations : dict of str -> float
        Film lengths in seconds (films without one get NaN length and share).
    films : list of str, optional
        Films and their order (default: the keys of ``cues``); a film without a cue table
        is left out.

    Returns
    -------
    pd.DataFrame
        ``film_id, cues, music_s, length_s, share`` (share in [0, 1]).
    """
    rows = []
    for film in (films if films is not None else list(cues)):
        if film not in cues:
            continue
        table = cues[film]
        music = _union_seconds(table["start_s"].to_numpy(float), table["end_s"].to_numpy(float))
        length = float(durations.get(film, math.nan))
        rows.append({"film_id": film, "cues": len(table), "music_s": music, "length_s": length,
                     "share": music / length if length > 0 else math.nan})
    return pd.DataFrame(rows, columns=["film_id", "cues", "music_s", "length_s", "share"])


def _percent(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.0f}%"


def _minutes(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds / 60:.1f}"


def _stamp_eval_blocks(inp: _Inputs) -> list:
    path = inp.layout.stamp_eval()
    heading = Heading("Score Stamper against hand annotations")
    if not path.is_file():
        return [heading, Text("Stamp evaluation: " + _todo(inp.cmd("stamp-eval", manifest=True)
                                                           + f" --json {path}") + " (needs films with hand-annotated "
                              "`cues` in the manifest).")]
    data = inp.json(path)
    measures = ("second_precision", "second_recall", "second_f1", "cue_precision", "cue_recall")
    per_film = pd.DataFrame(data.get("per_film") or [])
    if not isinstance(data.get("mean"), dict) or (len(per_film) and "film_id" not in per_film.columns):
        raise WorkspaceError(f"{path}: cannot read (expected 'per_film' rows and 'mean' scores)")
    mean = data["mean"]
    sd = data.get("sd") if isinstance(data.get("sd"), dict) else (
        per_film[[m for m in measures if m in per_film.columns]].std(ddof=1).to_dict() if len(per_film) > 1 else {})
    rows = [_cells(r.get("film_id", ""), *(_num(r.get(m), 3) for m in measures))
            for r in per_film.to_dict(orient="records")]
    rows.append(_cells(f"mean{' (SD)' if sd else ''}",
                       *(_num(mean.get(m), 3) + (f" ({_num(sd.get(m), 3)})" if sd else "") for m in measures),
                       bold=True))
    study = STUDY_STAMPER
    rows.append(_cells("study (Dejavu, 3 films)", f"{study['precision'][0]:.2f} ({study['precision'][1]:.3f})",
                       f"{study['recall'][0]:.2f} ({study['recall'][1]:.3f})", "", "", ""))
    return [heading, Table(("Film", "Precision (s)", "Recall (s)", "F1 (s)", "Cue precision", "Cue recall"),
                           tuple(rows), (False,) + (True,) * 5,
                           caption="Second level: (second, track) pairs; cue level: cues at least half covered by "
                                   "the other side's cues of the same track. The study reports one precision and "
                                   "recall for Dejavu (mean and SD over its three annotated films).")]


def _music_section(inp: _Inputs) -> Section:
    title = "Where the music plays"
    cues = inp.cues()
    if not cues:
        return Section("music", title, todo=_todo(inp.cmd("stamp", manifest=True)))
    corpus = inp.corpus
    order = [f.id for f in corpus.films if f.id in cues] if corpus is not None else []
    order += [f for f in cues if f not in order]
    per_film = music_per_film(cues, film_durations(inp.ws, corpus), order)
    genres = {f.id: ", ".join(f.genres) for f in corpus.films} if corpus is not None else None
    rows = []
    for r in per_film.itertuples(index=False):
        lead = (r.film_id, genres.get(r.film_id, "")) if genres is not None else (r.film_id,)
        rows.append(_cells(*lead, r.cues, _minutes(r.music_s), _minutes(r.length_s), _percent(r.share)))
    known = per_film["length_s"].notna()
    total_len = per_film.loc[known, "length_s"].sum() if known.any() else math.nan
    lead = (f"all {len(per_film)} films", "") if genres is not None else (f"all {len(per_film)} films",)
    rows.append(_cells(*lead, int(per_film["cues"].sum()), _minutes(per_film["music_s"].sum()), _minutes(total_len),
                       _percent(per_film.loc[known, "music_s"].sum() / total_len if known.any() else math.nan),
                       bold=True))
    columns = ("Film",) + (("Genres",) if genres is not None else ()) + ("Cues", "Music (min)", "Film (min)",
                                                                         "Share of film")
    unknown = "" if known.all() else " The totals' length and share count the films of known length only."
    blocks = [Table(columns, tuple(rows), (False,) * (len(columns) - 4) + (True,) * 4,
                    caption="Cues found by the Score Stamper; music: the time covered by at least one cue. Film "
                            "length from the film file, else from the visual frames (n/a: neither available)."
                            + unknown)]
    speeds = []
    for f in order:
        if len(cues[f]) and "speed" in cues[f]:
            factor, sentence = film_speed(cues[f])
            if factor is None or abs(factor - 1) > 1e-3:
                speeds.append(_cells(f, "n/a" if factor is None else f"{factor:.4f}", sentence))
    if speeds:
        blocks.append(Table(("Film", "Speed", "Transfer"), tuple(speeds), (False, True, False),
                            caption="Films whose music plays at another speed than the album (track seconds per "
                                    "film second); the others play at the album's speed."))
    stamped = [cues[f] for f in order if len(cues[f])]
    if stamped:
        sheet = cue_sheet(pd.concat(stamped, ignore_index=True))
        blocks.append(Table(("Film", "Cue", "Title", "In", "Out", "Duration"),
                            tuple(_cells(r.film, r.cue, r.title, r["in"], r.out, r.duration)
                                  for _, r in sheet.iterrows()),
                            (False, False, False, True, True, True),
                            caption=f"Cue sheet: {len(sheet)} cues, in and out in film time", folded=True))
    blocks += _stamp_eval_blocks(inp)
    timeline = inp.image(inp.layout.figures_dir / "cue_timeline", caption="Cue timeline: each film's cues over its "
                         "length (colour: track within a film).")
    blocks += [Heading("Cue timeline"), timeline if timeline is not None else
               Text("Cue timeline: " + _todo(inp.cmd("figures", manifest=True) + " --figure timeline"))]
    return Section("music", title, tuple(blocks))
