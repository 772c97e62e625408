"""The interactive report's charts as Plotly figures (JSON-able dicts), built from plain tables.

Every text a figure shows that comes from outside (track names from tags and file names,
film titles from manifests) is HTML-escaped first: Plotly reads labels and hover text as
a small subset of HTML (``<b>``, ``<br>``, ``<a href>``), and a name must show as the
characters it is, not as markup.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.metrics import average_precision_score, precision_recall_curve

from scorelens.analysis._metrics import film_scores
from scorelens.report._cuesheet import format_clock, format_clock_ms

__all__ = ["PALETTE", "text", "film_figure", "importance_figure", "table5_figure", "pr_figure", "scatter_figure"]

#: Colours of tracks, genres and groups (Tableau 10, told apart by most colour-blind readers).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12, "color": "#1f2328"}
_GRID = "#e6e9ec"


def text(value) -> str:
    """``value`` as Plotly shows it literally (``<`` ``>`` ``&`` escaped)."""
    return html.escape(str(value), quote=False)


def _layout(**extra) -> dict:
    base = {"template": "none", "font": _FONT, "paper_bgcolor": "white", "plot_bgcolor": "white",
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "hoverlabel": {"align": "left"},
            "legend": {"orientation": "h", "y": -0.18}}
    base.update(extra)
    return base


def _axis(title: str = "", **extra) -> dict:
    return {"title": {"text": title}, "gridcolor": _GRID, "zeroline": False, "automargin": True, **extra}


def _dict(fig: go.Figure) -> dict:
    return fig.to_plotly_json()


def _r(x, digits: int = 6):
    return None if x is None or x != x else round(float(x), digits)


def film_figure(cues: pd.DataFrame, *, length_s: float, attention=None, attention_title: str = "") -> dict:
    """One film's timeline: each cue a bar coloured by track, the model's attention per cue below it.

    Built as Plotly's figure JSON directly (one figure per film: the ``graph_objects`` classes
    took 0.3 s a film), in the schema the tests check with :class:`plotly.graph_objects.Figure`.

    Parameters
    ----------
    cues : pd.DataFrame
        The film's cues, in sheet order: ``sheet, track, track_id, start_s, end_s, track_offset_s,
        speed, votes``.
    length_s : float
        The film's length (NaN: up to its last cue).
    attention : array-like [shape=(n_cues,)], optional
        Each cue's instance weight for the genre shown (None: no attention panel).
    attention_title : str
        The attention axis' title (which run and genre).

    Returns
    -------
    dict
        A Plotly figure. The cue bars' ``customdata[0]`` is the cue's row in ``cues``; the traces'
        ``meta`` is ``"cues"`` or ``"attention"``.
    """
    start = cues["start_s"].to_numpy(float)
    end = cues["end_s"].to_numpy(float)
    track_ids = cues["track_id"].astype(str).to_numpy()
    names = cues["track"].astype(str).to_numpy()
    last = float(end.max()) if len(end) else 0.0
    span = (length_s if length_s == length_s and length_s > 0 else last) / 60.0
    tracks = list(dict.fromkeys(track_ids))
    first = {t: names[list(track_ids).index(t)] for t in tracks}
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(tracks)}
    custom = [[i, sheet, text(name), format_clock(a), format_clock(b),
               "n/a" if off != off else format_clock_ms(off), "n/a" if sp != sp else f"{sp:.4f}",
               "n/a" if v != v else str(int(v))]
              for i, (sheet, name, a, b, off, sp, v) in enumerate(zip(
                  cues["sheet"], names, start, end, cues["track_offset_s"].to_numpy(float),
                  cues["speed"].to_numpy(float), cues["votes"].to_numpy(float)))]
    hover = ("<b>%{customdata[1]}</b> %{customdata[2]}<br>film %{customdata[3]} – %{customdata[4]}<br>"
             "album from %{customdata[5]}<br>speed %{customdata[6]} · votes %{customdata[7]}<extra></extra>")
    data = []
    for t in tracks:
        rows = np.flatnonzero(track_ids == t)
        data.append({"type": "bar", "orientation": "h", "base": [_r(start[i] / 60.0) for i in rows],
                     "x": [_r((end[i] - start[i]) / 60.0) for i in rows], "y": [t] * len(rows),
                     "customdata": [custom[i] for i in rows], "hovertemplate": hover, "name": text(first[t]),
                     "meta": "cues", "marker": {"color": colour[t], "line": {"width": 0}}, "legendgroup": t,
                     "xaxis": "x", "yaxis": "y", "width": 0.7})
    layout = _layout(height=max(260, 120 + 26 * len(tracks) + (160 if attention is not None else 0)),
                     barmode="overlay", hovermode="closest", showlegend=False, clickmode="event",
                     xaxis=_axis("film time (min)", range=[0, span * 1.005 if span > 0 else 1],
                                 anchor="y2" if attention is not None else "y"))
    layout["yaxis"] = _axis("", type="category", categoryorder="array", categoryarray=tracks[::-1],
                            tickvals=tracks, ticktext=[text(_short(first[t])) for t in tracks], fixedrange=True,
                            domain=[0.42, 1.0] if attention is not None else [0.0, 1.0])
    if attention is not None:
        data.append({"type": "bar", "x": [_r((a + b) / 120.0) for a, b in zip(start, end)],
                     "y": [_r(w) for w in attention], "width": [_r((b - a) / 60.0) for a, b in zip(start, end)],
                     "meta": "attention", "name": "attention",
                     "marker": {"color": [colour[t] for t in track_ids], "line": {"width": 0}},
                     "customdata": [c[:3] for c in custom], "xaxis": "x", "yaxis": "y2",
                     "hovertemplate": "<b>%{customdata[1]}</b> %{customdata[2]}<br>weight %{y:.4f}<extra></extra>"})
        layout["yaxis2"] = _axis(text(attention_title), domain=[0.0, 0.3], rangemode="tozero", fixedrange=True,
                                 anchor="x")
    return {"data": data, "layout": layout}


def _short(name: str, n: int = 32) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def importance_figure(summary: pd.DataFrame, title: str = "") -> dict:
    """Fig 3: each feature group's permutation importance per genre, with its interval.

    Parameters
    ----------
    summary : pd.DataFrame
        ``group, genre, score, ci_low, ci_high, significant`` (``pfi_summary.csv``).
    title : str

    Returns
    -------
    dict
        A Plotly figure: one bar series per group, genres along x; hover gives the interval.
    """
    genres = list(pd.unique(summary["genre"].astype(str)))
    fig = go.Figure()
    for i, (group, part) in enumerate(summary.groupby(summary["group"].astype(str), sort=False)):
        part = part.set_index(part["genre"].astype(str)).reindex(genres)
        score = part["score"].astype(float).to_numpy()
        lo, hi = part["ci_low"].astype(float).to_numpy(), part["ci_high"].astype(float).to_numpy()
        sig = [str(v).strip().lower() in ("true", "1") for v in part["significant"]]
        fig.add_trace(go.Bar(
            x=[text(g) for g in genres], y=[_r(v) for v in score], name=text(group),
            marker={"color": PALETTE[i % len(PALETTE)]},
            error_y={"type": "data", "array": [_r(v) for v in hi - score], "arrayminus": [_r(v) for v in score - lo],
                     "thickness": 1, "width": 2, "color": "#59636e"},
            customdata=[[text(group), _r(a, 4), _r(b, 4), "interval above 0" if s else "interval reaches 0"]
                        for a, b, s in zip(lo, hi, sig)],
            hovertemplate="<b>%{customdata[0]}</b> · %{x}<br>s = %{y:.3f} [%{customdata[1]}, %{customdata[2]}]"
                          "<br>%{customdata[3]}<extra></extra>"))
    fig.update_layout(_layout(title={"text": text(title)}, barmode="group", height=420,
                              xaxis=_axis(""), yaxis=_axis("importance s = 1 − F1 permuted / F1")))
    return _dict(fig)


_SOURCES = (("actual", "Actual"), ("predicted", "Predicted"), ("false_positive", "False Positive"))


def table5_figure(table: pd.DataFrame, feature: str) -> dict:
    """Table 5 for one visual feature: the median difference ×10 per genre and label source.

    Parameters
    ----------
    table : pd.DataFrame
        ``feature, source, genre, difference_x10, significant`` and, where recorded, ``median,
        median_other, n_clips, n_clips_other, p, p_corrected, note`` (``table5.csv``).
    feature : str
        ``brightness`` or ``contrast``.

    Returns
    -------
    dict
        A Plotly figure; significant differences are outlined and starred.
    """
    part = table[table["feature"].astype(str) == feature]
    genres = list(pd.unique(part["genre"].astype(str)))
    fig = go.Figure()
    for i, (source, name) in enumerate(_SOURCES):
        rows = part[part["source"].astype(str) == source].set_index("genre").reindex(genres)
        if rows["difference_x10"].isna().all():
            continue
        sig = [str(v).strip().lower() in ("true", "1") for v in rows["significant"]]

        def col(c, rows=rows):
            return rows[c].tolist() if c in rows else [math.nan] * len(rows)

        custom = [[name, _fmt(m, 3), _fmt(mo, 3), _fmt(n, 0), _fmt(no, 0), _fmt(p, 4), _fmt(pc, 4),
                   "significant" if s else "not significant", text(note) if note == note and note else ""]
                  for m, mo, n, no, p, pc, s, note in zip(col("median"), col("median_other"), col("n_clips"),
                                                         col("n_clips_other"), col("p"), col("p_corrected"), sig,
                                                         col("note"))]
        fig.add_trace(go.Bar(
            x=[text(g) for g in genres], y=[_r(v, 4) for v in rows["difference_x10"]], name=name,
            marker={"color": PALETTE[i], "line": {"color": ["#1f2328" if s else PALETTE[i] for s in sig],
                                                  "width": [2 if s else 0 for s in sig]}},
            text=["*" if s else "" for s in sig], textposition="outside", customdata=custom,
            hovertemplate="<b>%{x}</b> · %{customdata[0]}<br>difference ×10: %{y:.2f}<br>median %{customdata[1]} "
                          "(n %{customdata[3]}) vs %{customdata[2]} (n %{customdata[4]})<br>p %{customdata[5]}, "
                          "Bonferroni %{customdata[6]}: %{customdata[7]}<br>%{customdata[8]}<extra></extra>"))
    fig.update_layout(_layout(title={"text": f"Table 5 · {text(feature)}: median difference ×10"}, barmode="group",
                              height=380, xaxis=_axis(""), yaxis=_axis("labeled − other clips, ×10")))
    return _dict(fig)


def _fmt(x, digits: int) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if x != x else f"{x:.{digits}f}"


def _matrices(predictions: pd.DataFrame, genres: list[str]):
    """Films by genres: probabilities, 0/1 predictions and truth of one run's long table."""
    wide = predictions.pivot_table(index="film_id", columns="genre", values=["probability", "predicted", "true"],
                                   aggfunc="first", sort=False)
    films = list(wide.index)
    return (films, wide["probability"].reindex(columns=genres).to_numpy(float),
            wide["predicted"].reindex(columns=genres).fillna(0).to_numpy(int),
            wide["true"].reindex(columns=genres).fillna(0).to_numpy(int))


def _menu(labels: list[str], masks: list[list[bool]], active: int) -> list[dict]:
    buttons = [{"label": text(label), "method": "update", "args": [{"visible": mask}]}
               for label, mask in zip(labels, masks)]
    return [{"buttons": buttons, "active": active, "x": 0, "xanchor": "left", "y": 1.14, "yanchor": "bottom",
             "direction": "down", "showactive": True}]


def pr_figure(predictions: pd.DataFrame, runs: pd.DataFrame, genres: list[str], default: str) -> dict:
    """Precision-recall curves per genre (the study's S2), one run at a time (chosen in the figure).

    Parameters
    ----------
    predictions : pd.DataFrame
        ``run, film_id, genre, probability, predicted, true``.
    runs : pd.DataFrame
        ``run, label`` of the runs to offer (baselines left out by the caller).
    genres : list of str
    default : str
        The run shown first.

    Returns
    -------
    dict
        A Plotly figure with a drop-down of the runs; average precision in each curve's name.
    """
    fig = go.Figure()
    owner = []
    for r in runs.itertuples(index=False):
        films, proba, _, true = _matrices(predictions[predictions["run"] == r.run], genres)
        for k, genre in enumerate(genres):
            if true[:, k].sum() == 0 or np.isnan(proba[:, k]).any():
                continue
            precision, recall, _ = precision_recall_curve(true[:, k], proba[:, k])
            ap = average_precision_score(true[:, k], proba[:, k])
            fig.add_trace(go.Scatter(x=np.round(recall, 5).tolist(), y=np.round(precision, 5).tolist(),
                                     mode="lines", line={"shape": "hv", "color": PALETTE[k % len(PALETTE)]},
                                     name=f"{text(genre)} (AP {ap:.2f})", visible=r.run == default,
                                     hovertemplate=f"{text(genre)}<br>recall %{{x:.2f}} · precision %{{y:.2f}}"
                                                   "<extra></extra>"))
            owner.append(r.run)
    ids = list(runs["run"])
    masks = [[o == rid for o in owner] for rid in ids]
    fig.update_layout(_layout(height=460, updatemenus=_menu(list(runs["label"]), masks, ids.index(default)),
                              margin={"l": 60, "r": 20, "t": 70, "b": 50},
                              xaxis=_axis("recall", range=[0, 1.02]), yaxis=_axis("precision", range=[0, 1.05])))
    return _dict(fig)


def scatter_figure(predictions: pd.DataFrame, runs: pd.DataFrame, genres: list[str], default: str,
                   titles: dict[str, str], *, seed: int = 0) -> dict:
    """Each film's precision against recall over its genres (the study's S3), one run at a time.

    Per-film scores take few distinct values, so each point is moved by a small, seeded jitter
    (at most 0.015) to keep every film reachable; the hover gives the exact values.

    Returns
    -------
    dict
        A Plotly figure with a drop-down of the runs; each point's ``customdata[0]`` is its film id.
    """
    fig = go.Figure()
    for r in runs.itertuples(index=False):
        films, _, pred, true = _matrices(predictions[predictions["run"] == r.run], genres)
        s = film_scores(true, pred)
        rng = np.random.default_rng(seed)
        jitter = rng.uniform(-0.015, 0.015, size=(2, len(films)))
        fig.add_trace(go.Scatter(
            x=np.round(s["recall"] + jitter[0], 4).tolist(), y=np.round(s["precision"] + jitter[1], 4).tolist(),
            mode="markers", visible=r.run == default, name=text(r.label),
            marker={"size": 9, "color": PALETTE[0], "opacity": 0.75, "line": {"color": "white", "width": 1}},
            customdata=[[f, text(titles.get(f, f)), _fmt(p, 2), _fmt(q, 2)]
                        for f, p, q in zip(films, s["precision"], s["recall"])],
            hovertemplate="<b>%{customdata[1]}</b><br>precision %{customdata[2]} · recall %{customdata[3]}"
                          "<br>click: the film's view<extra></extra>"))
    ids = list(runs["run"])
    masks = [[rid == other for other in ids] for rid in ids]
    fig.update_layout(_layout(height=460, showlegend=False, hovermode="closest", clickmode="event",
                              updatemenus=_menu(list(runs["label"]), masks, ids.index(default)),
                              margin={"l": 60, "r": 20, "t": 70, "b": 50},
                              xaxis=_axis("recall (over the film's genres)", range=[-0.05, 1.05]),
                              yaxis=_axis("precision", range=[-0.05, 1.05])))
    return _dict(fig)
