"""Reading and writing cue tables (CSV and Parquet) and hand annotations."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from scorelens.exceptions import AnnotationError

__all__ = ["write_cue_table", "read_cue_table"]

_REQUIRED = ("track", "start_s", "end_s")


def write_cue_table(cues: pd.DataFrame, parquet_path: str | os.PathLike, csv_path: str | os.PathLike | None = None) -> None:
    """Write a cue table as Parquet (and CSV when ``csv_path`` is given)."""
    cues.to_parquet(parquet_path, index=False)
    if csv_path is not None:
        cues.to_csv(csv_path, index=False, float_format="%.3f")


def read_cue_table(path: str | os.PathLike, *, film_id: str | None = None) -> pd.DataFrame:
    """Read a cue table or hand annotation (CSV or Parquet) and check it.

    Parameters
    ----------
    path : str or path-like
        Needs columns ``track, start_s, end_s``; ``film_id`` is optional (then ``film_id``
        below, or the file's stem, names the film).
    film_id : str, optional

    Returns
    -------
    pd.DataFrame
        With a ``film_id`` column, sorted by film and start time.

    Raises
    ------
    AnnotationError
        Missing file or columns, non-numeric or negative times, or ``end_s <= start_s``
        (the first offending rows are named).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such cue table")
    try:
        table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a malformed file
        raise AnnotationError(f"{path}: cannot read the cue table ({exc})") from exc
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)} "
                              f"(has: {', '.join(map(str, table.columns))})")
    for col in ("start_s", "end_s"):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() | (values < 0)
        if bad.any():
            rows = ", ".join(str(i + 2) for i in table.index[bad][:5])
            raise AnnotationError(f"{path}: column {col} has missing, non-numeric or negative values (rows {rows})")
        table[col] = values.astype(float)
    bad = table["end_s"] <= table["start_s"]
    if bad.any():
        rows = ", ".join(str(i + 2) for i in table.index[bad][:5])
        raise AnnotationError(f"{path}: end_s must be after start_s (rows {rows})")
    if "film_id" not in table.columns:
        table.insert(0, "film_id", film_id or path.stem.removesuffix(".cues"))
    table["film_id"] = table["film_id"].astype(str)
    table["track"] = table["track"].astype(str)
    return table.sort_values(["film_id", "start_s"], kind="stable").reset_index(drop=True)
