"""Formatting of the report's numbers and cells."""

from __future__ import annotations

import math

from scorelens.report._document import Cell

# --- formatting -----------------------------------------------------------------------------

def _num(x, digits: int = 2) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def _true(value) -> bool:
    """A CSV's boolean cell (``True``/``true``/``1``)."""
    return str(value).strip().lower() in ("true", "1")


def _cells(*values, bold: bool = False) -> tuple:
    return tuple(Cell(str(v), bold) for v in values)
