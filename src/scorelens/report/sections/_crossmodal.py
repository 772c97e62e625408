"""The report's music-and-picture section (Table 5)."""

from __future__ import annotations

import pandas as pd

from scorelens.analysis._crossmodal import SOURCE_NAMES, SOURCES, VISUAL_FEATURES, format_difference
from scorelens.exceptions import WorkspaceError
from scorelens.report._document import Cell, Section, Table, Text
from scorelens.report.sections._format import _true
from scorelens.report.sections._inputs import (
    _Inputs,
    _todo,
)

# --- music and picture ----------------------------------------------------------------------

def _crossmodal_section(inp: _Inputs) -> Section:
    title = "Music and picture"
    if not inp.layout.table5("csv").is_file():
        return Section("crossmodal", title, todo=_todo(inp.cmd("crossmodal", manifest=True)))
    table = inp.table(inp.layout.table5("csv"), ("feature", "source", "genre", "difference_x10", "significant",
                                              "n_clips"))
    md = inp.layout.table5("md")
    caption = ""
    if md.is_file():
        try:
            caption = inp.use(md).read_text(encoding="utf-8").strip().split("\n\n")[0].replace("\n", " ")
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"{md}: cannot read ({exc})") from exc
    blocks = [Text(caption or "Table 5: difference in median brightness and contrast (×10) between the music cue "
                              "clips of films labeled with a genre and all other clips. Bold: significant.")]
    genres = list(pd.unique(table["genre"].astype(str)))
    cells = {(str(r.feature), str(r.source), str(r.genre)): r for r in table.itertuples(index=False)}
    for feature in VISUAL_FEATURES:
        rows = []
        for genre in genres:
            row = [Cell(genre)]
            for source in SOURCES:
                r = cells.get((feature, source, genre))
                if r is None:
                    row += [Cell("n/a"), Cell("")]
                    continue
                text = format_difference(float(r.difference_x10))
                row += [Cell(text, _true(r.significant) and text != "n/a"),
                        Cell(str(int(r.n_clips)))]
            rows.append(tuple(row))
        columns = ("Genre",) + tuple(c for s in SOURCES for c in (SOURCE_NAMES[s], "n"))
        blocks.append(Table(columns, tuple(rows), (False,) + (True,) * (len(columns) - 1),
                            caption=f"**{feature.capitalize()}**: median difference ×10; n: clips labeled."))
    return Section("crossmodal", title, tuple(blocks))
