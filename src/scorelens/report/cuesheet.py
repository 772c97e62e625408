"""Cue sheets: the cue table as a music supervisor reads it (titles, times and durations in mm:ss)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from scorelens.io.atomic import atomic_path

__all__ = ["format_clock", "cue_sheet", "write_cue_sheet"]


def format_clock(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss`` from one hour), rounded to the nearest second."""
    total = int(round(max(0.0, float(seconds))))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def cue_sheet(cues: pd.DataFrame) -> pd.DataFrame:
    """A readable cue sheet from a cue table.

    Parameters
    ----------
    cues : pd.DataFrame
        Columns ``film_id, cue_id, track, start_s, end_s, track_offset_s``.

    Returns
    -------
    pd.DataFrame
        ``film, cue, title, in, out, duration, from_track_at, duration_s`` — one row per cue,
        numbered from 1 within each film; ``in``/``out`` are film times.
    """
    rows = []
    for film_id, film_cues in cues.sort_values(["film_id", "start_s"]).groupby("film_id", sort=False):
        for n, cue in enumerate(film_cues.itertuples(index=False), start=1):
            rows.append({"film": film_id, "cue": f"{n}M", "title": cue.track, "in": format_clock(cue.start_s),
                         "out": format_clock(cue.end_s), "duration": format_clock(cue.end_s - cue.start_s),
                         "from_track_at": format_clock(cue.track_offset_s),
                         "duration_s": round(cue.end_s - cue.start_s, 1)})
    return pd.DataFrame(rows, columns=["film", "cue", "title", "in", "out", "duration", "from_track_at", "duration_s"])


def write_cue_sheet(cues: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the cue sheet as CSV or JSON (by the extension); JSON also totals each film's music."""
    path = Path(path)
    sheet = cue_sheet(cues)
    if path.suffix.lower() == ".json":
        from scorelens.stamp.speed import film_speed

        films = []
        for film_id, rows in sheet.groupby("film", sort=False):
            factor, note = film_speed(cues[cues["film_id"] == film_id])
            films.append({"film": film_id, "music_total": format_clock(rows["duration_s"].sum()),
                          "speed": factor, "transfer": note,
                          "cues": rows.drop(columns=["film"]).to_dict(orient="records")})
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"films": films}, indent=2) + "\n", encoding="utf-8")
    else:
        with atomic_path(path) as tmp:
            sheet.to_csv(tmp, index=False)
    return path
