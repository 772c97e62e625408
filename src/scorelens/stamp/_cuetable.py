"""The cue table: the contract between the Score Stamper and everything after it.

One home for its columns, its reader and its writer. A *stamped* cue table (what
``stamp`` writes, what features, visual summaries, figures and the report read) has the
columns :data:`~scorelens.stamp._cues.CUE_COLUMNS`; the stages after the stamper need
:data:`REQUIRED_COLUMNS` of them. A *hand annotation* (``cues = …`` in a manifest, the
truth of ``stamp-eval``) needs only ``track, start_s, end_s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.exceptions import AnnotationError
from scorelens.stamp._cues import CUE_COLUMNS

__all__ = ["CUE_COLUMNS", "REQUIRED_COLUMNS", "ANNOTATION_COLUMNS", "write_cue_table", "read_cue_table"]

#: Columns the stages after the stamper need from a stamped cue table.
REQUIRED_COLUMNS = ("film_id", "cue_id", "track_id", "track_path", "start_s", "end_s", "track_offset_s")
#: Columns a hand annotation needs.
ANNOTATION_COLUMNS = ("track", "start_s", "end_s")


def write_cue_table(cues: pd.DataFrame, parquet_path: str | os.PathLike,
                    csv_path: str | os.PathLike | None = None) -> None:
    """Write a cue table as Parquet (and CSV, times to the millisecond, when ``csv_path`` is given).

    Parameters
    ----------
    cues : pd.DataFrame
        A cue table (:data:`CUE_COLUMNS`).
    parquet_path : str or path-like
        Parquet file to write (without the frame's index).
    csv_path : str or path-like, optional
        CSV copy for people: times to the millisecond, ``speed`` to 1e-5.
    """
    cues.to_parquet(parquet_path, index=False)
    if csv_path is not None:
        _csv_view(cues).to_csv(csv_path, index=False, float_format="%.3f")


def _csv_view(cues: pd.DataFrame) -> pd.DataFrame:
    """Times to the millisecond, but the speed factor to 1e-5 (1.0417 must not read 1.042)."""
    if "speed" not in cues.columns:
        return cues
    return cues.assign(speed=cues["speed"].map(lambda v: f"{float(v):.5f}"))


def _rows(table: pd.DataFrame, bad) -> str:
    # Rows as a spreadsheet shows them: the header is line 1.
    return ", ".join(str(i + 2) for i in table.index[np.asarray(bad)][:5])


def read_cue_table(path: str | os.PathLike, *, film_id: str | None = None, annotation: bool = False) -> pd.DataFrame:
    """Read a cue table (CSV or Parquet) and check it.

    Parameters
    ----------
    path : str or path-like
    film_id : str, optional
        The film the table belongs to. Rows without a ``film_id`` column get it (else
        the file's stem); a stamped table with rows of another film is refused.
    annotation : bool
        A hand annotation: only ``track, start_s, end_s`` are required, rows sorted by
        film and start. Otherwise a stamped table: :data:`REQUIRED_COLUMNS`, unique whole
        ``cue_id``, rows sorted by ``cue_id``.

    Returns
    -------
    pd.DataFrame
        Times as float seconds; ``film_id``, ``track`` (and ``track_id``, ``track_path``)
        as strings.

    Raises
    ------
    AnnotationError
        Missing or unreadable file, missing columns, non-numeric or negative times,
        ``end_s <= start_s``, duplicate cue ids, or rows of another film (the first
        offending rows are named).
    """
    path = Path(path)
    if not path.is_file():
        hint = "" if annotation else " (run `scorelens stamp` first)"
        raise AnnotationError(f"{path}: no such cue table{hint}")
    try:
        table = (pd.read_parquet(path) if path.suffix.lower() == ".parquet" else
                 pd.read_csv(path, dtype={"film_id": str, "track_id": str, "track_path": str, "track": str}))
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types for a malformed file
        raise AnnotationError(f"{path}: cannot read the cue table ({exc})") from exc
    required = ANNOTATION_COLUMNS if annotation else REQUIRED_COLUMNS
    missing = [c for c in required if c not in table.columns and not (c == "film_id" and annotation)]
    if missing:
        raise AnnotationError(f"{path}: cue table lacks column(s) {', '.join(missing)} "
                              f"(has: {', '.join(map(str, table.columns))})")
    times = [c for c in ("start_s", "end_s", "track_offset_s") if c in table.columns]
    for col in times:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values < 0).to_numpy()
        if bad.any():
            raise AnnotationError(f"{path}: column {col} has missing, non-numeric or negative values "
                                  f"(rows {_rows(table, bad)})")
        table[col] = values.astype(float)
    bad = (table["end_s"] <= table["start_s"]).to_numpy()
    if bad.any():
        raise AnnotationError(f"{path}: end_s must be after start_s (rows {_rows(table, bad)})")
    if "film_id" not in table.columns:
        table.insert(0, "film_id", film_id or path.stem.removesuffix(".cues"))
    table["film_id"] = table["film_id"].astype(str)
    for col in ("track", "track_id", "track_path"):
        if col in table.columns:
            table[col] = table[col].astype(str)
    # Tables written before speed changes were detected play at the album's speed.
    if not annotation:
        if "speed" not in table.columns:
            table["speed"] = 1.0
        if "pitch_shift_semitones" not in table.columns:
            table["pitch_shift_semitones"] = 0.0
    if annotation:
        return table.sort_values(["film_id", "start_s"], kind="stable").reset_index(drop=True)
    ids = pd.to_numeric(table["cue_id"], errors="coerce")
    if ids.isna().any() or ids.duplicated().any() or (ids != ids.round()).any():
        raise AnnotationError(f"{path}: cue_id must be unique whole numbers")
    table["cue_id"] = ids.astype(np.int64)
    if film_id is not None and len(table) and (table["film_id"] != film_id).any():
        others = sorted(set(table["film_id"]) - {film_id})
        raise AnnotationError(f"{path}: rows of film(s) {', '.join(others)} in the cue table of {film_id!r}")
    return table.sort_values("cue_id", kind="stable").reset_index(drop=True)
