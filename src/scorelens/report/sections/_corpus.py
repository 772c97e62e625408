"""The report's corpus section."""

from __future__ import annotations

from scorelens.report._document import Section, Table, Text
from scorelens.report.sections._format import _cells
from scorelens.report.sections._inputs import (
    _Inputs,
)

# --- corpus ---------------------------------------------------------------------------------

def _corpus_section(inp: _Inputs) -> Section:
    title = "Corpus"
    corpus = inp.corpus
    if corpus is None:
        return Section("corpus", title, todo=f"no manifest given — run `scorelens report -w {inp.root} -m MANIFEST` "
                       "to list the films and their genres", from_stages=False)
    n = len(corpus.films)
    single = sum(len(f.genres) == 1 for f in corpus.films)
    blocks = [Text(f"**{n}** films in `{corpus.path}`, {len(corpus.taxonomy)} genres; {single} film(s) with one "
                   f"genre tag, {n - single} with several.")]
    rows = [_cells(g, sum(g in f.genres for f in corpus.films),
                   f"{100 * sum(g in f.genres for f in corpus.films) / max(n, 1):.0f}%") for g in corpus.taxonomy]
    blocks.append(Table(("Genre", "Films", "Share of films"), tuple(rows), (False, True, True),
                        caption="Films per genre (the study's Table 1); a film may have several genres."))
    cues = inp.cues()
    if not cues:
        blocks.append(Text("No film stamped yet."))
    else:
        silent = [f.id for f in corpus.films if f.id in cues and cues[f.id].empty]
        unstamped = [f.id for f in corpus.films if f.id not in cues]
        blocks.append(Text("Films without cues: " + ("; ".join(
            part for part in (f"stamped, no music found: {', '.join(silent)}" if silent else "",
                              f"not stamped yet: {', '.join(unstamped)}" if unstamped else "") if part)
            or "none, every film has cues") + "."))
    return Section("corpus", title, tuple(blocks), from_stages=False)
