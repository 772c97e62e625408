"""The report's provenance section: what each result was made from."""

from __future__ import annotations

import json

from scorelens._version import __version__
from scorelens.report._document import Code, Heading, Section, Table, Text
from scorelens.report.sections._format import _cells
from scorelens.report.sections._inputs import (
    _Inputs,
    _read_json,
)

# --- provenance -----------------------------------------------------------------------------

def _run_blocks(inp: _Inputs) -> list:
    """Failures and warnings of the last ``scorelens run`` (from ``results/run.json``)."""
    path = inp.layout.run_record()
    if not path.is_file():
        return []
    record = inp.json(path)
    rows = [_cells(str(f.get("film", "")), str(f.get("stage", "")), str(f.get("reason", "")))
            for f in record.get("failures", [])]
    rows += [_cells(str(w.get("film") or w.get("track") or ""), f"{s.get('stage', '')} (warning)",
                    str(w.get("reason", ""))) for s in record.get("stages", []) for w in s.get("warnings", [])]
    if not rows:
        return [Text("The last `scorelens run` recorded no failures.")]
    return [Heading("Failures of the last run"),
            Table(("Film or track", "Stage", "Reason"), tuple(rows),
                  caption="Films that failed a stage were left out of the later stages; tracks that could not be "
                          "read were left out of their film's stamping.")]


def _provenance_section(inp: _Inputs) -> Section:
    blocks = [Text(f"scorelens {__version__}; workspace `{inp.root}`.")]
    blocks += _run_blocks(inp)
    rows = []
    n_cue_tables = sum(p.parent == inp.layout.cues_dir for p in inp.read)
    if n_cue_tables:
        rows.append(_cells(f"cues/ ({n_cue_tables} cue tables)", "", ""))
    for path in sorted((p for p in inp.read if p.parent != inp.layout.cues_dir), key=inp.rel):
        record = inp.ws.record(path) or {}
        rows.append(_cells(inp.rel(path), record.get("finished", ""), record.get("scorelens", "")))
    if rows:
        blocks.append(Table(("Input", "Written", "By scorelens"), tuple(rows),
                            caption="The files this report read; written: when the stage committed them (blank: "
                                    "no record)."))
    settings = sorted(inp.layout.settings_dir.glob("*.json")) if inp.layout.settings_dir.is_dir() else []
    if settings:
        blocks.append(Heading("Settings of the last run of each stage"))
    for path in settings:
        blocks.append(Code(inp.rel(path), json.dumps(_read_json(path), indent=2, sort_keys=True)))
    return Section("provenance", "Provenance", tuple(blocks), from_stages=False)
