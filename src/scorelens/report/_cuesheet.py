"""Cue sheets: the cue table as a music supervisor reads it (titles, times and durations in mm:ss).

Four formats (:data:`CUE_SHEET_FORMATS`): CSV and JSON for every film at once, and two
per-film formats that put the cues beside the film's own audio in the tools people check
them with:

``audacity``
    An Audacity label track (*File > Import > Labels…*): one line per cue,
    ``start<TAB>end<TAB>label`` in film seconds (six decimals, as Audacity writes them).
``elan``
    A tab-delimited text file for ELAN's *File > Import > CSV / Tab-delimited Text File*:
    a header row (ELAN's "first row of data" is then 2), then ``tier, begin, end,
    annotation`` with times in seconds (``ss.msec``, one of the time formats ELAN reads).

In both the label names the cue, its track and where the cue starts in the track
(the album position, ``track_offset_s``), e.g. ``2M Main Theme [album 01:12.500]``, and
the speed when the film plays the track at another one. Tabs and line breaks in a track's
name (tags and file names are free text) become spaces so that a name cannot break a row.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pandas as pd

from scorelens.exceptions import ParameterError
from scorelens.io._atomic import atomic_path

__all__ = ["CUE_SHEET_FORMATS", "format_clock", "format_clock_ms", "cue_sheet", "cue_label", "format_cue_sheet",
           "write_cue_sheet"]

#: Formats of :func:`format_cue_sheet`; ``audacity`` and ``elan`` hold one film.
CUE_SHEET_FORMATS = ("csv", "json", "audacity", "elan")
#: The tier ELAN gives the cues.
ELAN_TIER = "music cues"
_BREAKS = re.compile(r"[\t\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")


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


def format_clock_ms(seconds: float) -> str:
    """``mm:ss.mmm`` (``h:mm:ss.mmm`` from one hour): an album position to the millisecond."""
    ms = int(round(max(0.0, float(seconds)) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m:02d}:{s:02d}.{ms:03d}"


def _one_line(text) -> str:
    return _BREAKS.sub(" ", str(text)).strip()


def cue_label(sheet_number: str, track: str, track_offset_s: float, speed: float = 1.0) -> str:
    """A cue's label in the per-film formats: ``2M Main Theme [album 01:12.500]`` (speed added when not 1).

    Parameters
    ----------
    sheet_number : str
        The cue's number on the film's cue sheet (``2M``).
    track : str
        The track's name (tabs and line breaks become spaces).
    track_offset_s : float
        Where the cue starts in the track (album time, seconds).
    speed : float
        Track seconds per film second.

    Returns
    -------
    str
    """
    speed = float(speed)
    at = f"album {format_clock_ms(track_offset_s)}"
    if math.isfinite(speed) and abs(speed - 1.0) > 5e-5:
        at += f", speed {speed:.4f}"
    return f"{sheet_number} {_one_line(track)} [{at}]"


def _per_film_rows(cues: pd.DataFrame, fmt: str) -> list[tuple[float, float, str]]:
    films = list(pd.unique(cues["film_id"].astype(str))) if len(cues) else []
    if len(films) > 1:
        raise ParameterError(f"a cue sheet in the {fmt} format holds one film; got {len(films)} "
                             f"({', '.join(films[:5])}{', …' if len(films) > 5 else ''})")
    ordered = cues.sort_values("start_s", kind="stable")
    speeds = ordered["speed"] if "speed" in ordered.columns else pd.Series(1.0, index=ordered.index)
    return [(float(c.start_s), float(c.end_s), cue_label(f"{n}M", c.track, c.track_offset_s, speed))
            for n, (c, speed) in enumerate(zip(ordered.itertuples(index=False), speeds), start=1)]


def format_cue_sheet(cues: pd.DataFrame, fmt: str) -> str:
    """A cue sheet's text in one of :data:`CUE_SHEET_FORMATS`.

    Parameters
    ----------
    cues : pd.DataFrame
        Columns ``film_id, cue_id, track, start_s, end_s, track_offset_s`` (``speed`` optional);
        ``audacity`` and ``elan`` take one film's cues.
    fmt : str
        ``csv``, ``json``, ``audacity`` or ``elan`` (see the module's description).

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        An unknown format, or several films for a per-film format.
    """
    if fmt not in CUE_SHEET_FORMATS:
        raise ParameterError(f"fmt={fmt!r} must be one of {', '.join(CUE_SHEET_FORMATS)}")
    if fmt == "audacity":
        return "".join(f"{start:.6f}\t{end:.6f}\t{label}\n" for start, end, label in _per_film_rows(cues, fmt))
    if fmt == "elan":
        rows = ["Tier\tBegin Time - ss.msec\tEnd Time - ss.msec\tAnnotation"]
        rows += [f"{ELAN_TIER}\t{start:.3f}\t{end:.3f}\t{label}" for start, end, label in _per_film_rows(cues, fmt)]
        return "\n".join(rows) + "\n"
    sheet = cue_sheet(cues)
    if fmt == "csv":
        return sheet.to_csv(index=False)
    from scorelens.stamp._speed import film_speed

    films = []
    for film_id, rows in sheet.groupby("film", sort=False):
        factor, note = film_speed(cues[cues["film_id"] == film_id])
        films.append({"film": film_id, "music_total": format_clock(rows["duration_s"].sum()),
                      "speed": factor, "transfer": note,
                      "cues": rows.drop(columns=["film"]).to_dict(orient="records")})
    return json.dumps({"films": films}, indent=2) + "\n"


def write_cue_sheet(cues: pd.DataFrame, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a cue sheet (:func:`format_cue_sheet`); the format defaults to the extension (``.csv``, ``.json``)."""
    path = Path(path)
    if fmt is None:
        fmt = path.suffix.lower().lstrip(".")
        fmt = fmt if fmt in ("csv", "json") else "csv"
    text = format_cue_sheet(cues, fmt)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
