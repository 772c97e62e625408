"""The interactive report's page: the data it shows as one JSON block, its charts, and the HTML around them."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from scorelens import __version__
from scorelens.report.explorer._collect import ExplorerData
from scorelens.report.explorer._figures import (
    film_figure,
    importance_figure,
    pr_figure,
    scatter_figure,
    table5_figure,
)
from scorelens.report.explorer._study import study_row

__all__ = ["ExplorerPage", "build_explorer", "explorer_payload", "plotly_asset"]

_HERE = "scorelens.report.explorer"


@dataclass
class ExplorerPage:
    """The interactive report: ``index.html`` and the files it loads from beside it.

    Attributes
    ----------
    html : str
    assets : dict of str -> bytes
        Files the page loads from ``assets/`` beside it, by name.
    payload : dict
        The data the page shows (what the page's JSON block holds).
    """

    html: str
    assets: dict = field(default_factory=dict)
    payload: dict = field(default_factory=dict)


#: plotly.js's "basic" partial bundle (scatter, bar and pie: every trace the report draws), shipped
#: in ``static/`` with its MIT licence. 1.2 MB against the full bundle's 4.8 MB: on a 110-film
#: report it halves the time to a drawn view (1.35 s against 2.70 s in headless Chromium,
#: benchmarks/bench_report.py). The figures' JSON comes from the ``plotly`` package, so the
#: basic bundle is used only when it is the plotly.js version that package was made for.
BASIC_BUNDLE = ("4.1.1", "plotly-basic-4.1.1.min.js")


@lru_cache(maxsize=1)
def plotly_asset() -> tuple[str, bytes]:
    """Plotly's browser bundle: (file name with its version, bytes).

    The shipped basic bundle (:data:`BASIC_BUNDLE`) when its version is the installed ``plotly``
    package's plotly.js, else the full bundle that package ships.
    """
    from plotly.offline import get_plotlyjs_version

    version = get_plotlyjs_version()
    if version == BASIC_BUNDLE[0]:
        return BASIC_BUNDLE[1], resources.files(_HERE).joinpath("static", BASIC_BUNDLE[1]).read_bytes()
    data = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return f"plotly-{version}.min.js", data


def _num(x, digits: int = 6):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if not math.isfinite(x) else round(x, digits)


def _default_runs(data: ExplorerData) -> tuple[str | None, str | None]:
    """The run whose predictions the corpus shows (best macro F1, no baseline) and whose attention the films show.

    Attention: the best cue-level network whose weights tell cues apart, else any with weights.
    """
    runs = data.runs
    if runs.empty:
        return None, None
    models = runs[runs["features"] != "none"]
    f1 = models["f1"].astype(float).fillna(-1.0)
    pred = models.loc[f1.idxmax(), "run"] if len(models) else runs["run"].iloc[0]
    weighing = runs[runs["weights"].astype(bool)]
    if weighing.empty:
        return pred, None
    rank = weighing.assign(_even=weighing["even"].astype(bool), _frame=weighing["level"] != "cue",
                           _f1=-weighing["f1"].astype(float).fillna(-1.0))
    best = rank.sort_values(["_even", "_frame", "_f1"], kind="stable")["run"].iloc[0]
    return pred, best


def _film_payload(data: ExplorerData, clips: dict, clip_seconds: dict, notes: dict) -> dict:
    out = {}
    for film_id, part in data.cues.groupby("film_id", sort=False):
        keys = [(film_id, int(c)) for c in part["cue_id"]]
        out[film_id] = {
            "cue_id": [int(c) for c in part["cue_id"]], "sheet": list(part["sheet"]),
            "track": list(part["track"].astype(str)), "file": list(part["track_file"].astype(str)),
            "start": [_num(x, 3) for x in part["start_s"]], "end": [_num(x, 3) for x in part["end_s"]],
            "offset": [_num(x, 3) for x in part["track_offset_s"]], "speed": [_num(x, 5) for x in part["speed"]],
            "votes": [_num(x, 0) for x in part["votes"]],
            "clip": [clips.get(k) for k in keys], "clip_s": [_num(clip_seconds.get(k), 3) for k in keys],
            "note": [notes.get(k, "") for k in keys]}
    return out


def _predictions_payload(data: ExplorerData) -> dict:
    if data.predictions is None:
        return {}
    genres = list(data.genres)
    out: dict = {}
    for run, part in data.predictions.groupby("run", sort=False):
        wide = part.pivot_table(index="film_id", columns="genre", values=["probability", "predicted", "true"],
                                aggfunc="first", sort=False)
        p = wide["probability"].reindex(columns=genres)
        y = wide["predicted"].reindex(columns=genres)
        out[run] = {str(f): {"p": [_num(v, 4) for v in p.loc[f]], "y": [int(v) if v == v else 0 for v in y.loc[f]]}
                    for f in wide.index}
    return out


#: Attention weights travel as whole millionths (``0.025123`` as ``25123``): 40 % of the page's data at the
#: study's size, and a 1e-6 step is below the 4 decimals the page shows.
WEIGHT_SCALE = 1_000_000


def _weights_payload(data: ExplorerData) -> dict:
    """Per run and film: one list per genre of the cues' weights in millionths, in the film's cue order
    (None: no weight)."""
    if data.weights is None:
        return {}
    genres = list(data.genres)
    order = data.cues[["film_id", "cue_id"]].astype({"film_id": str, "cue_id": np.int64}).reset_index(drop=True)
    spans = {f: (int(idx[0]), int(idx[-1]) + 1) for f, idx in order.groupby("film_id", sort=False).indices.items()}
    out: dict = {}
    for run, part in data.weights.groupby("run", sort=False):
        part = part.astype({"film_id": str, "cue_id": np.int64})
        merged = order.merge(part[["film_id", "cue_id", *genres]], on=["film_id", "cue_id"], how="left")
        micro = np.rint(merged[genres].to_numpy(float) * WEIGHT_SCALE)
        present = set(part["film_id"])
        out[run] = {f: [[None if v != v else int(v) for v in micro[a:b, k]] for k in range(len(genres))]
                    for f, (a, b) in spans.items() if f in present}
    return out


def _film_figures(data: ExplorerData, weights: dict, predictions: dict, attention_run: str | None) -> dict:
    genres = list(data.genres)
    labels = dict(zip(data.runs["run"], data.runs["label"])) if len(data.runs) else {}
    lengths = dict(zip(data.films["film_id"], data.films["length_s"]))
    figures, chosen = {}, {}
    for film_id, part in data.cues.groupby("film_id", sort=False):
        attention, title = None, ""
        w = weights.get(attention_run, {}).get(film_id) if attention_run else None
        if w is not None:
            k = _first_genre(predictions.get(attention_run, {}).get(film_id), genres)
            attention = [None if v is None else v / WEIGHT_SCALE for v in w[k]]
            title = f"attention · {genres[k]}"
            chosen[film_id] = genres[k]
        figures[film_id] = film_figure(part, length_s=float(lengths.get(film_id, math.nan)), attention=attention,
                                       attention_title=title)
        if attention is not None:
            figures[film_id]["layout"]["meta"] = {"run": labels.get(attention_run, "")}
    return {"figures": figures, "genre": chosen}


def _first_genre(pred: dict | None, genres: list[str]) -> int:
    """The genre a film's attention is first shown for: its most probable predicted genre, else the first."""
    if not pred:
        return 0
    p = np.array([-1.0 if v is None else v for v in pred["p"]])
    y = np.array(pred["y"], dtype=bool)
    if y.any():
        return int(np.argmax(np.where(y, p, -np.inf)))
    return int(np.argmax(p)) if len(p) else 0


def _table4_payload(data: ExplorerData) -> list[dict]:
    from scorelens.analysis._evaluation import format_p, format_score

    out = []
    for t in data.table4:
        rows = []
        for r in t["rows"]:
            study = study_row(str(r["features"]), str(r["key"]))
            hidden = r.get("hidden")
            rows.append({"features": str(r["features"]), "model": str(r["model"]), "key": str(r["key"]),
                         "hidden": None if hidden in (None, "") or hidden != hidden else int(float(hidden)),
                         "precision": _num(r["precision"], 4), "recall": _num(r["recall"], 4), "f1": _num(r["f1"], 4),
                         "p": "" if r["key"] == "random" else format_p(float(r.get("p_precision", math.nan))),
                         "shown": [format_score(r["precision"]), format_score(r["recall"]), format_score(r["f1"])],
                         "study_model": study[0] if study else None,
                         "study": list(study[1:]) if study else None})
        cv = "leave-one-out" if t.get("cv") == "loo" else t.get("cv")
        caption = f"Table 4 · {t['level']}-level instances"
        if t.get("films"):
            caption += f" · {t['films']} films, {cv} cross-validation, seed {t.get('seed')}"
        out.append({"level": t["level"], "caption": caption, "rows": rows})
    return out


def _models_payload(data: ExplorerData, default_run: str | None) -> dict:
    genres = list(data.genres)
    titles = dict(zip(data.films["film_id"], data.films["title"].astype(str)))
    out: dict = {"table4": _table4_payload(data), "importance": [], "table5": [], "pr": None, "scatter": None}
    for title, summary in data.importance:
        out["importance"].append({"title": title, "figure": importance_figure(summary, title)})
    if data.table5 is not None:
        for feature in pd.unique(data.table5["feature"].astype(str)):
            out["table5"].append(table5_figure(data.table5, feature))
    if data.predictions is not None and len(data.runs):
        runs = data.runs[data.runs["features"] != "none"]
        if len(runs):
            default = default_run if default_run in set(runs["run"]) else runs["run"].iloc[0]
            out["pr"] = pr_figure(data.predictions, runs, genres, default)
            out["scatter"] = scatter_figure(data.predictions, runs, genres, default, titles)
    return out


def _films_payload(data: ExplorerData, film_notes: dict) -> list[dict]:
    out = []
    for r in data.films.itertuples(index=False):
        stamp = None
        if r.stamp_precision is not None and r.stamp_precision == r.stamp_precision:
            stamp = {"precision": _num(r.stamp_precision, 3), "recall": _num(r.stamp_recall, 3),
                     "f1": _num(r.stamp_f1, 3)}
        notes = list(film_notes.get(r.film_id, []))
        if not r.stamped:
            notes.append("not stamped yet: no cue table")
        elif r.n_cues == 0:
            notes.append("stamped: no music found")
        out.append({"id": r.film_id, "title": str(r.title), "year": None if r.year is None or r.year != r.year
                    else int(r.year), "genres": list(r.genres), "length_s": _num(r.length_s, 1),
                    "music_s": _num(r.music_s, 1), "share": _num(r.share, 4), "n_cues": int(r.n_cues),
                    "stamp": stamp, "notes": notes})
    return out


def explorer_payload(data: ExplorerData, *, clips: dict | None = None, clip_seconds: dict | None = None,
                     clip_notes: dict | None = None, film_notes: dict | None = None, generated: str = "") -> dict:
    """The data the page shows, as one JSON-able dict (see :func:`build_explorer`)."""
    default_run, attention_run = _default_runs(data)
    predictions = _predictions_payload(data)
    weights = _weights_payload(data)
    film_figs = _film_figures(data, weights, predictions, attention_run)
    runs = [{"id": r.run, "label": r.label, "level": r.level, "features": r.features, "model": r.model,
             "f1": _num(r.f1, 4), "weights": bool(r.weights), "even": bool(r.even)}
            for r in data.runs.itertuples(index=False)]
    return {
        "meta": {"title": data.title, "workspace": data.workspace, "version": __version__, "generated": generated},
        "genres": list(data.genres), "films": _films_payload(data, film_notes or {}),
        "cues": _film_payload(data, clips or {}, clip_seconds or {}, clip_notes or {}),
        "runs": runs, "default_run": default_run, "attention_run": attention_run,
        "predictions": predictions, "weights": weights, "weight_scale": WEIGHT_SCALE,
        "film_figures": film_figs["figures"], "film_genre": film_figs["genre"],
        "models": _models_payload(data, default_run), "why": dict(data.why),
    }


def _json_block(payload: dict) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment, whatever its strings hold."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _resource(name: str) -> str:
    return resources.files(_HERE).joinpath("static", name).read_text(encoding="utf-8")


def _csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    return env.from_string(_resource("explorer.html.j2"))


def build_explorer(data: ExplorerData, *, clips: dict | None = None, clip_seconds: dict | None = None,
                   clip_notes: dict | None = None, film_notes: dict | None = None, generated: str = "") -> ExplorerPage:
    """The interactive report of a workspace's results: one HTML page that opens from the file system.

    Three views, switched in the page (``#corpus``, ``#film/<id>``, ``#models``): the corpus
    table, each film's timeline with its cues (hover for the cue, click to play its clip) and
    the chosen model's attention per cue, and the models (Table 4 beside the study's, Fig 3,
    Table 5, PR curves, per-film scatter). Charts are Plotly's, loaded from
    ``assets/plotly-<version>.min.js`` beside the page; tables, playback and links are a
    small script inlined in the page. The page reads no network resource, and its content
    policy forbids any.

    Parameters
    ----------
    data : ExplorerData
        From :func:`collect_explorer`.
    clips : dict of (str, int) -> str, optional
        Each cue's clip, relative to the page (``clips/<film>/<cue>.ogg``).
    clip_seconds : dict of (str, int) -> float, optional
        Each clip's length.
    clip_notes : dict of (str, int) -> str, optional
        Why a cue has no clip, or a shorter one.
    film_notes : dict of str -> list of str, optional
        Notes shown with a film (its soundtrack files moved).
    generated : str
        When the page was made.

    Returns
    -------
    ExplorerPage
    """
    payload = explorer_payload(data, clips=clips, clip_seconds=clip_seconds, clip_notes=clip_notes,
                               film_notes=film_notes, generated=generated)
    script = _resource("explorer.js")
    name, plotly_js = plotly_asset()
    html = _template().render(title=data.title, workspace=data.workspace, version=__version__, generated=generated,
                              style=_resource("explorer.css"), script=script, script_hash=_csp_hash(script),
                              plotly=f"assets/{name}", data=_json_block(payload))
    return ExplorerPage(html=html, assets={name: plotly_js}, payload=payload)
