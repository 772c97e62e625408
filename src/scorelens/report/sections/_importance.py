"""The report's feature-importance section (Fig 3)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scorelens.report._document import Cell, Heading, Section, Table
from scorelens.report._figures import run_label
from scorelens.report.sections._format import _cells, _num, _true
from scorelens.report.sections._inputs import (
    _Inputs,
    _todo,
)

# --- feature importance ---------------------------------------------------------------------

def _importance_blocks(inp: _Inputs, folder: Path) -> list:
    summary = inp.table(inp.layout.importance_summary(folder, "csv"),
                        ("group", "genre", "f1_orig", "score", "ci_low", "ci_high", "significant"))
    info_path = inp.layout.importance_summary(folder, "json")
    info = inp.json(info_path) if info_path.is_file() else {}
    head = folder.name
    if info:
        s = info.get("settings", {})
        head = (f"{run_label(str(info.get('features', '?')), str(info.get('model', '?')))} · hidden "
                f"{s.get('hidden', '?')} · {s.get('level', '?')} level · {info.get('runs', '?')} runs · seed "
                f"{s.get('seed', '?')} · {len(info.get('films', []))} films")
    return [Heading(head), _importance_table(summary)] + _fig3(inp, folder)


def _importance_table(summary: pd.DataFrame) -> Table:
    """Groups by genres (then Overall): mean score [interval], bold where the interval lies above 0."""
    genres = list(pd.unique(summary["genre"].astype(str)))
    groups = list(pd.unique(summary["group"].astype(str)))
    cells = {(str(r.group), str(r.genre)): r for r in summary.itertuples(index=False)}
    f1 = {str(r.genre): r.f1_orig for r in summary.itertuples(index=False)}
    rows = [_cells("F1 (original)", *(_num(f1.get(g)) for g in genres))]
    for group in groups:
        row = [Cell(group)]
        for g in genres:
            r = cells.get((group, g))
            if r is None or r.score != r.score:
                row.append(Cell("n/a"))
            else:
                row.append(Cell(f"{r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]", _true(r.significant)))
        rows.append(tuple(row))
    return Table(("Group", *genres), tuple(rows), (False,) + (True,) * len(genres),
                 caption="Permutation importance s = 1 − F1 permuted / F1 original: mean [2.5%, 97.5%] over the "
                         "runs; bold: the interval lies above 0 (permuting the group lowers F1). n/a: the model "
                         "never predicts the genre correctly.")


def _fig3(inp: _Inputs, folder: Path) -> list:
    image = inp.image(folder / "fig3", caption=f"Fig 3: importance of the feature groups "
                      f"(`{inp.rel(folder)}`).")
    return [image] if image is not None else []


def _importance_section(inp: _Inputs) -> Section:
    title = "Feature importance"
    folders = sorted(inp.layout.importance_runs_dirs())
    if not folders:
        return Section("importance", title, todo=_todo(inp.cmd("importance", manifest=True)))
    blocks = []
    for folder in folders:
        blocks += _importance_blocks(inp, folder)
    return Section("importance", title, tuple(blocks))
