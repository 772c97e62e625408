"""The report's genre-prediction section: Table 4 and the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scorelens.exceptions import WorkspaceError
from scorelens.report._document import Cell, Heading, Section, Table, Text
from scorelens.report._figures import run_label
from scorelens.report.sections._format import _cells, _num
from scorelens.report.sections._inputs import (
    _LEVELS,
    _Inputs,
    _todo,
)

# --- genre prediction -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Evaluation:
    level: str
    folder: Path
    rows: list           # Table 4's rows (dicts)
    report: dict | None  # table4.json, when it exists


def _evaluations(inp: _Inputs) -> list[_Evaluation]:
    base = inp.layout.evaluation_dir("cue").parent
    if not base.is_dir():
        return []
    found = sorted((p for p in base.iterdir() if p.is_dir()),
                   key=lambda p: (_LEVELS.index(p.name) if p.name in _LEVELS else len(_LEVELS), p.name))
    out = []
    for folder in found:
        js, csv = inp.layout.table4(folder.name, "json"), inp.layout.table4(folder.name, "csv")
        if js.is_file():
            report = inp.json(js)
            rows = report.get("table4")
            keys = {"features", "model", "key", "precision", "recall", "f1"}
            if not isinstance(rows, list) or not all(isinstance(r, dict) and keys <= set(r) for r in rows):
                raise WorkspaceError(f"{js}: cannot read (no Table 4 rows with {', '.join(sorted(keys))})")
            out.append(_Evaluation(folder.name, folder, rows, report))
        elif csv.is_file():
            df = inp.table(csv, ("features", "model", "key", "precision", "recall", "f1"))
            df["features"] = df["features"].fillna("None").astype(str)  # the baselines' feature kind
            out.append(_Evaluation(folder.name, folder, df.to_dict(orient="records"), None))
    return out


def _is_baseline(row: dict) -> bool:
    return str(row["key"]) in ("random", "plurality")


def _table4(ev: _Evaluation) -> Table:
    from scorelens.analysis._table4_text import format_p, format_score

    models = [r for r in ev.rows if not _is_baseline(r)]
    best = max(models, key=lambda r: float(r["f1"])) if models else None
    rows = []
    for r in ev.rows:
        p = "" if r["key"] == "random" else format_p(float(r.get("p_precision", math.nan)))
        model = str(r["model"])
        hidden = r.get("hidden")
        if hidden not in (None, "") and hidden == hidden:   # networks: the better hidden size (NaN from a CSV)
            model += f" ({int(float(hidden))} units)"
        rows.append((Cell(str(r["features"])), Cell(model, r is best), Cell(format_score(r["precision"])),
                     Cell(format_score(r["recall"])), Cell(format_score(r["f1"]), r is best), Cell(p)))
    caption = f"Table 4 · {ev.level}-level instances."
    if ev.report is not None:
        s = ev.report.get("settings", {})
        cv = "leave-one-out" if s.get("cv") == "loo" else s.get("cv", "?")
        caption = (f"Table 4 · {len(ev.report.get('films', []))} films, {cv} cross-validation, {ev.level}-level "
                   f"instances, seed {s.get('seed', '?')}.")
    caption += (" Macro averages over genres, out of fold; p: paired t-test across films of per-film precision "
                "against the random guess. Bold: best macro F1.")
    return Table(("Features", "Model", "Precision", "Recall", "F1-Score", "p (vs random)"), tuple(rows),
                 (False, False, True, True, True, True), caption)


def _setting(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _figure_blocks(inp: _Inputs) -> list:
    blocks = [Heading("Figures")]
    settings_path = inp.layout.settings("figures")
    level = None
    if settings_path.is_file():
        level = inp.json(settings_path).get("figures", {}).get("level")
    where = f", {level}-level evaluation" if level else ""
    pr = inp.image(inp.layout.figures_dir / "pr_curves", caption=f"Precision-recall curves per genre, out of fold"
                   f"{where} (the study's S2).")
    scatter = inp.image(inp.layout.figures_dir / "per_film_scatter",
                        caption="Each film's precision and recall over its "
                        f"genres, out of fold{where} (the study's S3).")
    ap_path = inp.layout.figure_table("average_precision")
    if ap_path.is_file():
        ap = inp.table(ap_path, ("features", "model", "genre", "average_precision"))
        genres = list(pd.unique(ap["genre"].astype(str)))
        rows = []
        for (kind, key), part in ap.groupby(["features", "model"], sort=False):
            values = part.set_index(part["genre"].astype(str))["average_precision"]
            rows.append(_cells(run_label(str(kind), str(key)), *(_num(values.get(g)) for g in genres)))
        blocks.append(Table(("Run", *genres), tuple(rows), (False,) + (True,) * len(genres),
                            caption=f"Average precision per genre, out of fold{where}."))
    blocks += [b for b in (pr, scatter) if b is not None]
    if pr is None and scatter is None:
        blocks.append(Text("PR curves (S2) and per-film scatter (S3): " + _todo(inp.cmd("figures", manifest=True))))
    return blocks


def _prediction_section(inp: _Inputs, evaluations: list[_Evaluation]) -> Section:
    title = "Genre prediction"
    if not evaluations:
        return Section("prediction", title, todo=_todo(inp.cmd("evaluate", manifest=True)))
    blocks = []
    for ev in evaluations:
        blocks += [Heading(f"{ev.level.capitalize()}-level instances"), _table4(ev)]
        if ev.report is None:
            missing = inp.rel(inp.layout.table4(ev.level, "json"))
            blocks.append(Text(f"Settings: not recorded (`{missing}` is missing)."))
            continue
        missing = ev.report.get("films_without_cues") or []
        if missing:
            blocks.append(Text(f"Films without cues, left out: {', '.join(map(str, missing))}."))
        settings = ev.report.get("settings")
        if isinstance(settings, dict) and settings:
            blocks.append(Text(f"Settings (`{inp.rel(inp.layout.table4(ev.level, 'json'))}`): "
                               + " · ".join(f"`{k}={_setting(v)}`" for k, v in settings.items())))
    return Section("prediction", title, tuple(blocks + _figure_blocks(inp)))
