"""The report's section on the cues that drove the networks' predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scorelens.exceptions import WorkspaceError
from scorelens.report._cuesheet import format_clock
from scorelens.report._document import Heading, Section, Table, Text
from scorelens.report._figures import run_label
from scorelens.report.sections._format import _cells, _num
from scorelens.report.sections._inputs import (
    _Inputs,
    _todo,
)
from scorelens.report.sections._prediction import _Evaluation

# --- which cues drove the predictions -------------------------------------------------------

def top_cues(weights: pd.DataFrame, genres: list[str], *, cues: pd.DataFrame | None = None,
             predicted: pd.DataFrame | None = None, top: int = 5) -> pd.DataFrame:
    """The cues with the largest instance weight per genre, among the films predicted with it.

    Cues of weight 0 (the ones max pooling passed over) are not listed.

    Parameters
    ----------
    weights : pd.DataFrame
        One run's instance weights: ``film_id, cue_id`` and one column per genre (frame-level
        rows, one per frame, are summed per cue).
    genres : list of str
    cues : pd.DataFrame, optional
        Cue tables (``film_id, cue_id, track, start_s, end_s``) for the cue's title and times.
    predicted : pd.DataFrame, optional
        That run's predictions (``film_id, genre, predicted, true``): only films predicted with
        a genre are ranked for it, and ``true`` tells whether the film has it. Default: all films.
    top : int
        Cues per genre.

    Returns
    -------
    pd.DataFrame
        ``genre, rank, film_id, cue_id, sheet, track, start_s, end_s, weight, relative, true``;
        ``sheet`` is the cue's number on the film's cue sheet (``3M``: the third cue by start time,
        :func:`scorelens.report._cuesheet.cue_sheet`), ``relative`` the weight over the cue's even
        share of its film (1: average attention). Sorted by genre (in ``genres`` order) and rank.
    """
    columns = ["genre", "rank", "film_id", "cue_id", "sheet", "track", "start_s", "end_s", "weight", "relative",
               "true"]
    w = weights.copy()
    w["film_id"] = w["film_id"].astype(str)
    w["cue_id"] = w["cue_id"].astype(np.int64)
    w["n_instances"] = 1
    per_cue = w.groupby(["film_id", "cue_id"], sort=True)[[*genres, "n_instances"]].sum().reset_index()
    per_cue["even_share"] = per_cue["n_instances"] / per_cue.groupby("film_id")["n_instances"].transform("sum")
    if cues is not None and len(cues) and "cue_id" in cues.columns:
        info = cues[["film_id", "cue_id", "track", "start_s", "end_s"]].copy()
        info["film_id"] = info["film_id"].astype(str)
        info["cue_id"] = info["cue_id"].astype(np.int64)
        info = info.sort_values(["film_id", "start_s"], kind="stable")
        info["sheet"] = [f"{n}M" for n in info.groupby("film_id").cumcount() + 1]
        per_cue = per_cue.merge(info.drop_duplicates(["film_id", "cue_id"]), on=["film_id", "cue_id"], how="left")
    for col in ("sheet", "track", "start_s", "end_s"):
        if col not in per_cue.columns:
            per_cue[col] = np.nan
    out = []
    for genre in genres:
        pool = per_cue
        truth = None
        if predicted is not None:
            mine = predicted[predicted["genre"].astype(str) == genre]
            films = set(mine.loc[mine["predicted"] == 1, "film_id"].astype(str))
            truth = dict(zip(mine["film_id"].astype(str), mine["true"].astype(int)))
            pool = per_cue[per_cue["film_id"].isin(films)]
        pool = pool[pool[genre] > 0]  # a cue the pooling ignored (max pooling's others) drove nothing
        ranked = pool.assign(weight=pool[genre]).sort_values(["weight", "film_id", "cue_id"],
                                                             ascending=[False, True, True], kind="stable").head(top)
        for rank, r in enumerate(ranked.itertuples(index=False), start=1):
            out.append({"genre": genre, "rank": rank, "film_id": r.film_id, "cue_id": int(r.cue_id),
                        "sheet": r.sheet, "track": r.track, "start_s": r.start_s, "end_s": r.end_s,
                        "weight": float(r.weight),
                        "relative": float(r.weight) / float(r.even_share) if r.even_share > 0 else math.nan,
                        "true": None if truth is None else bool(truth.get(r.film_id, 0))})
    return pd.DataFrame(out, columns=columns)


#: Network poolings whose instance weights do not depend on the cues (every cue weighs the same).
_EVEN_POOLINGS = ("network:average",)


def _best(rows: list[dict]) -> dict | None:
    return max(rows, key=lambda r: float(r["f1"])) if rows else None  # max keeps the first of equals


def _best_network(rows: list[dict]) -> tuple[dict | None, dict | None]:
    """The network whose weights are shown (the best that weighs cues), and the best network overall."""
    nets = [r for r in rows if str(r["key"]).startswith("network:")]
    weighing = [r for r in nets if r["key"] not in _EVEN_POOLINGS]
    return _best(weighing or nets), _best(nets)


def _drivers_blocks(inp: _Inputs, ev: _Evaluation, top: int) -> list:
    blocks = [Heading(f"{ev.level.capitalize()}-level instances")]
    best, best_overall = _best_network(ev.rows)
    if best is None:
        command = inp.cmd("evaluate", manifest=True) + f" --level {ev.level} --model attention"
        return blocks + [Text(f"No network in this evaluation, so no instance weights: run `{command}`.")]
    path = inp.layout.instance_weights(ev.level)
    if not path.is_file():
        command = inp.cmd("evaluate", manifest=True) + f" --level {ev.level}"
        return blocks + [Text(f"No instance weights (`{inp.rel(path)}` is missing): run `{command}` again.")]
    weights = inp.table(path, ("film_id", "features", "model", "cue_id"))
    features = "none" if best["features"] == "None" else str(best["features"])
    run = weights[(weights["features"].astype(str) == features) & (weights["model"].astype(str) == best["key"])]
    genres = (list(ev.report["taxonomy"]) if ev.report is not None and ev.report.get("taxonomy")
              else [c for c in weights.columns if c not in ("film_id", "features", "model", "instance", "cue_id",
                                                             "time_s")])
    absent = [g for g in genres if g not in run.columns]
    if run.empty or absent:
        raise WorkspaceError(f"{path}: cannot read (no weights of {features}/{best['key']}"
                             f"{' for ' + ', '.join(absent) if absent else ''})")
    predicted = None
    pred_path = inp.layout.predictions(ev.level)
    if pred_path.is_file():
        preds = inp.table(pred_path, ("film_id", "features", "model", "genre", "predicted", "true"))
        predicted = preds[(preds["features"].astype(str) == features) & (preds["model"].astype(str) == best["key"])]
    cue_tables = [t for t in inp.cues().values() if len(t)]
    cues = pd.concat(cue_tables, ignore_index=True) if cue_tables else None
    table = top_cues(run, genres, cues=cues, predicted=predicted, top=top)
    if best is best_overall:
        blocks.append(Text(f"Model: **{run_label(features, best['key'])}**, the network with the best macro F1 "
                           f"({float(best['f1']):.2f}) in Table 4."))
    else:
        blocks.append(Text(f"Model: **{run_label(features, best['key'])}** (macro F1 {float(best['f1']):.2f}), the "
                           "best network whose weights tell the cues apart; "
                           f"{run_label(str(best_overall['features']), best_overall['key'])} scores higher "
                           f"({float(best_overall['f1']):.2f}) but weighs every cue of a film equally."))
    rows = []
    for r in table.itertuples(index=False):
        times = (format_clock(r.start_s), format_clock(r.end_s)) if r.start_s == r.start_s else ("n/a", "n/a")
        rows.append(_cells(r.genre, r.rank, r.film_id, r.cue_id, "" if r.sheet != r.sheet else r.sheet,
                           "" if r.track != r.track else r.track, *times, f"{r.weight:.3f}", _num(r.relative),
                           *(() if predicted is None else ("yes" if r.true else "no",))))
    columns = ("Genre", "#", "Film", "Cue id", "Sheet", "Track", "In", "Out", "Weight", "× even") + (
        () if predicted is None else ("Film has genre",))
    among = "the films it predicted with the genre (out of fold)" if predicted is not None else "all films"
    frames = " (a cue's weight: the sum of its frames')" if ev.level == "frame" else ""
    blocks.append(Table(columns, tuple(rows), (False, True, False, True, False, False, True, True, True, True)
                        + (() if predicted is None else (False,)),
                        caption=f"Top {top} cues per genre by the model's instance weight for the genre{frames}, "
                                f"among {among}. Sheet: the cue's number on the film's cue sheet; in/out: film time; "
                                "× even: the weight over the cue's even share of its film (1 = average attention), "
                                "comparable across films."))
    if predicted is not None:
        never = [g for g in genres if g not in set(table["genre"])]
        if never:
            blocks.append(Text(f"Never predicted by this model: {', '.join(never)}."))
    if best["key"] in _EVEN_POOLINGS:
        blocks.append(Text("Average pooling weighs every cue of a film equally: the ranking only reflects how many "
                           "cues each film has; evaluate an attention network for weights that tell cues apart."))
    return blocks


def _drivers_section(inp: _Inputs, evaluations: list[_Evaluation], top: int) -> Section:
    title = "Which cues drove the predictions"
    if not evaluations:
        return Section("drivers", title, todo=_todo(inp.cmd("evaluate", manifest=True)))
    blocks = []
    for ev in evaluations:
        blocks += _drivers_blocks(inp, ev, top)
    return Section("drivers", title, tuple(blocks))
