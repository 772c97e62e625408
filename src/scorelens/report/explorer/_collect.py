"""What the interactive report shows, read from a workspace into plain tables (no file is written here)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens.corpus import Corpus
from scorelens.exceptions import WorkspaceError
from scorelens.report._figures import run_label
from scorelens.report._sources import cue_table_paths, film_durations
from scorelens.workspace import Workspace

__all__ = ["ExplorerData", "collect_explorer", "run_id"]

_LEVELS = ("cue", "frame")
#: Network poolings whose instance weights do not depend on the cues (every cue of a film weighs the same).
EVEN_POOLINGS = ("network:average",)


def run_id(level: str, features: str, model: str) -> str:
    """The key a run has in the page (``cue|mir|network:attention``)."""
    return f"{level}|{features}|{model}"


@dataclass
class ExplorerData:
    """Everything the interactive report shows, as plain tables.

    Attributes
    ----------
    title : str
    workspace : str
    genres : tuple of str
        The taxonomy, in the evaluation's column order when there is one.
    films : pd.DataFrame
        One row per film: ``film_id, title, year, genres (tuple), length_s, music_s, share, n_cues,
        stamped, stamp_precision, stamp_recall, stamp_f1``; the manifest's films first, in its order.
    cues : pd.DataFrame
        Every cue: ``film_id, cue_id, sheet, track, track_id, track_file, source, start_s, end_s,
        track_offset_s, speed, pitch_shift_semitones, votes`` sorted by film and start; ``source``
        is the track file the cue came from, resolved (it may have moved since).
    runs : pd.DataFrame
        One row per evaluated run with predictions: ``run, level, features, model, label, f1,
        weights, even``; ``weights`` tells whether it has instance weights, ``even`` whether they
        weigh every cue of a film alike (average pooling).
    predictions : pd.DataFrame or None
        ``run, film_id, genre, probability, predicted, true`` (out of fold).
    weights : pd.DataFrame or None
        ``run, film_id, cue_id`` and one column per genre: each cue's instance weight (at frame
        level, the sum of its frames').
    table4 : list of dict
        Per level: ``{"level", "rows", "films", "cv", "seed"}`` with Table 4's rows.
    importance : list of (str, pd.DataFrame)
        Fig 3's tables (``pfi_summary.csv``), each with its title.
    table5 : pd.DataFrame or None
        Table 5 in long form (``results/crossmodal/table5.csv``).
    why : dict of str -> str
        Why a part is missing (``models``, ``attention``, ``importance``, ``table5``).
    """

    title: str
    workspace: str
    genres: tuple
    films: pd.DataFrame
    cues: pd.DataFrame
    runs: pd.DataFrame
    predictions: pd.DataFrame | None = None
    weights: pd.DataFrame | None = None
    table4: list = field(default_factory=list)
    importance: list = field(default_factory=list)
    table5: pd.DataFrame | None = None
    why: dict = field(default_factory=dict)


def _table(path: Path, columns: tuple = ()) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False,
                                                                               na_values=[""])
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for a malformed file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WorkspaceError(f"{path}: cannot read ({first})") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise WorkspaceError(f"{path}: cannot read (missing column(s) {', '.join(missing)})")
    return df


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path}: cannot read (expected a JSON object)")
    return data


def _union_seconds(start: np.ndarray, end: np.ndarray) -> float:
    total, reach = 0.0, -math.inf
    for s, e in sorted(zip(start, end)):
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return float(total)


def _source(track_path, base: Path) -> str:
    if track_path is None or track_path != track_path or not str(track_path):
        return ""
    p = Path(str(track_path))
    return str(p if p.is_absolute() else base / p)


def _cues(ws: Workspace, base: Path) -> pd.DataFrame:
    from scorelens.stamp._cuetable import read_cue_table

    columns = ["film_id", "cue_id", "sheet", "track", "track_id", "track_file", "source", "start_s", "end_s",
               "track_offset_s", "speed", "pitch_shift_semitones", "votes"]
    frames = []
    for film_id, path in cue_table_paths(ws).items():
        t = read_cue_table(path, film_id=film_id, annotation=True)
        if t.empty:
            frames.append(pd.DataFrame({"film_id": pd.Series([], dtype=str)}))
            continue
        t = t.sort_values("start_s", kind="stable").reset_index(drop=True)
        out = pd.DataFrame({"film_id": str(film_id),
                            "cue_id": t["cue_id"].astype(np.int64) if "cue_id" in t else np.arange(len(t)),
                            "sheet": [f"{n}M" for n in range(1, len(t) + 1)],
                            "track": t["track"].astype(str)})
        out["track_id"] = t["track_id"].astype(str) if "track_id" in t else out["track"]
        paths = t["track_path"] if "track_path" in t else pd.Series([""] * len(t))
        out["source"] = [_source(p, base) for p in paths]
        out["track_file"] = [Path(p).name if p else "" for p in out["source"]]
        out["start_s"] = t["start_s"].astype(float)
        out["end_s"] = t["end_s"].astype(float)
        for col, default in (("track_offset_s", math.nan), ("speed", 1.0), ("pitch_shift_semitones", 0.0),
                             ("votes", math.nan)):
            out[col] = t[col].astype(float) if col in t else default
        frames.append(out[columns])
    if not frames:
        return pd.DataFrame(columns=columns)
    cues = pd.concat([f for f in frames if len(f)] or [pd.DataFrame(columns=columns)], ignore_index=True)
    cues.attrs["films"] = [str(f) for f in cue_table_paths(ws)]
    return cues[columns]


def _stamp_scores(ws: Workspace) -> dict[str, dict]:
    path = ws.layout.stamp_eval()
    if not path.is_file():
        return {}
    rows = _json(path).get("per_film") or []
    return {str(r.get("film_id")): r for r in rows if isinstance(r, dict)}


def _films(ws: Workspace, corpus: Corpus | None, cues: pd.DataFrame) -> pd.DataFrame:
    stamped = set(cues.attrs.get("films", [])) | set(cues["film_id"].astype(str))
    meta = {f.id: f for f in corpus.films} if corpus is not None else {}
    order = list(meta) + sorted(f for f in stamped if f not in meta)
    durations = film_durations(ws, corpus)
    scores = _stamp_scores(ws)
    by_film = {f: g for f, g in cues.groupby("film_id", sort=False)}
    rows = []
    for film_id in order:
        film = meta.get(film_id)
        mine = by_film.get(film_id)
        music = _union_seconds(mine["start_s"].to_numpy(), mine["end_s"].to_numpy()) if mine is not None else 0.0
        length = float(durations.get(film_id, math.nan))
        score = scores.get(film_id, {})
        rows.append({"film_id": film_id, "title": film.title if film is not None else film_id,
                     "year": film.year if film is not None else None,
                     "genres": tuple(film.genres) if film is not None else (),
                     "length_s": length, "music_s": music if film_id in stamped else math.nan,
                     "share": music / length if film_id in stamped and length > 0 else math.nan,
                     "n_cues": 0 if mine is None else len(mine), "stamped": film_id in stamped,
                     "stamp_precision": score.get("second_precision"), "stamp_recall": score.get("second_recall"),
                     "stamp_f1": score.get("second_f1")})
    return pd.DataFrame(rows, columns=["film_id", "title", "year", "genres", "length_s", "music_s", "share",
                                       "n_cues", "stamped", "stamp_precision", "stamp_recall", "stamp_f1"])


def _table4(ws: Workspace, level: str) -> dict | None:
    js, csv = ws.layout.table4(level, "json"), ws.layout.table4(level, "csv")
    if js.is_file():
        report = _json(js)
        rows = report.get("table4")
        keys = {"features", "model", "key", "precision", "recall", "f1"}
        if not isinstance(rows, list) or not all(isinstance(r, dict) and keys <= set(r) for r in rows):
            raise WorkspaceError(f"{js}: cannot read (no Table 4 rows with {', '.join(sorted(keys))})")
        s = report.get("settings") or {}
        return {"level": level, "rows": rows, "films": len(report.get("films") or []), "cv": s.get("cv"),
                "seed": s.get("seed"), "taxonomy": report.get("taxonomy")}
    if csv.is_file():
        df = _table(csv, ("features", "model", "key", "precision", "recall", "f1"))
        df["features"] = df["features"].fillna("None").astype(str)
        return {"level": level, "rows": df.to_dict(orient="records"), "films": None, "cv": None, "seed": None,
                "taxonomy": None}
    return None


def _per_cue_weights(weights: pd.DataFrame, genres: list[str]) -> pd.DataFrame:
    w = weights[["film_id", "features", "model", "cue_id", *genres]].copy()
    w["film_id"] = w["film_id"].astype(str)
    w["cue_id"] = w["cue_id"].astype(np.int64)
    return w.groupby(["features", "model", "film_id", "cue_id"], sort=False)[genres].sum().reset_index()


def _evaluations(ws: Workspace, genres: list[str], data: ExplorerData) -> None:
    from scorelens.analysis._predictions import read_predictions

    runs, preds, weights = [], [], []
    for level in _LEVELS:
        t4 = _table4(ws, level)
        path = ws.layout.predictions(level)
        if t4 is None and not path.is_file():
            continue
        if t4 is not None:
            data.table4.append(t4)
            if t4.get("taxonomy") and not genres:
                genres.extend(t4["taxonomy"])
        if not path.is_file():
            continue
        p = read_predictions(path)
        if not genres:
            genres.extend(pd.unique(p["genre"]))
        f1 = {(str(r["features"]).lower(), str(r["key"])): float(r["f1"]) for r in (t4 or {}).get("rows", [])}
        wpath = ws.layout.instance_weights(level)
        w = None
        if wpath.is_file():
            w = _table(wpath, ("film_id", "features", "model"))
            w = _per_cue_weights(w, genres) if "cue_id" in w.columns and set(genres) <= set(w.columns) else None
        for (features, model), part in p.groupby(["features", "model"], sort=False):
            rid = run_id(level, features, model)
            has = w is not None and ((w["features"] == features) & (w["model"] == model)).any()
            runs.append({"run": rid, "level": level, "features": features, "model": model,
                         "label": f"{run_label(features, model)} · {level} level", "f1": f1.get((features, model)),
                         "weights": bool(has), "even": model in EVEN_POOLINGS})
            preds.append(part.drop(columns=["features", "model"]).assign(run=rid))
            if has:
                mine = w[(w["features"] == features) & (w["model"] == model)]
                weights.append(mine.drop(columns=["features", "model"]).assign(run=rid))
    data.runs = pd.DataFrame(runs, columns=["run", "level", "features", "model", "label", "f1", "weights", "even"])
    data.predictions = pd.concat(preds, ignore_index=True) if preds else None
    data.weights = pd.concat(weights, ignore_index=True) if weights else None
    if not data.table4 and data.predictions is None:
        data.why["models"] = f"no evaluation results in {ws.layout.evaluation_dir('cue').parent}: run `scorelens " \
                             f"evaluate -w {ws.root} -m MANIFEST` for Table 4, the PR curves and the per-film scatter"
    if data.weights is None:
        data.why["attention"] = ("no instance weights: evaluate a network (e.g. `--model attention`) for the "
                                 "attention each cue gets" if data.predictions is not None else
                                 data.why.get("models", "no evaluation results"))


def _importance(ws: Workspace, data: ExplorerData) -> None:
    layout = ws.layout
    folders = sorted(layout.importance_runs_dirs())
    for folder in folders:
        summary = _table(layout.importance_summary(folder, "csv"),
                         ("group", "genre", "score", "ci_low", "ci_high", "significant"))
        title = folder.name
        info_path = layout.importance_summary(folder, "json")
        if info_path.is_file():
            info = _json(info_path)
            s = info.get("settings", {})
            title = (f"{run_label(str(info.get('features', '?')), str(info.get('model', '?')))} · hidden "
                     f"{s.get('hidden', '?')} · {s.get('level', '?')} level · {info.get('runs', '?')} runs")
        data.importance.append((title, summary))
    if not folders:
        data.why["importance"] = f"not run yet — run `scorelens importance -w {ws.root} -m MANIFEST`"


def collect_explorer(workspace: Workspace, corpus: Corpus | None = None) -> ExplorerData:
    """Read what the interactive report shows from a workspace.

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus, optional
        Titles, years and genres of the films, and the folder relative track paths are read from.

    Returns
    -------
    ExplorerData

    Raises
    ------
    WorkspaceError
        An input exists but cannot be read (the message names the file).
    AnnotationError
        A cue table cannot be read.
    """
    ws = workspace
    base = corpus.path.parent if corpus is not None else ws.root
    cues = _cues(ws, base)
    genres = list(corpus.taxonomy) if corpus is not None else []
    data = ExplorerData(title=f"scorelens · {ws.root.resolve().name}", workspace=str(ws.root), genres=(),
                        films=_films(ws, corpus, cues), cues=cues,
                        runs=pd.DataFrame(columns=["run", "level", "features", "model", "label", "f1", "weights",
                                                   "even"]))
    _evaluations(ws, genres, data)
    data.genres = tuple(genres)
    _importance(ws, data)
    t5 = ws.layout.table5("csv")
    if t5.is_file():
        data.table5 = _table(t5, ("feature", "source", "genre", "difference_x10", "significant"))
    else:
        data.why["table5"] = f"not run yet — run `scorelens crossmodal -w {ws.root} -m MANIFEST`"
    return data
