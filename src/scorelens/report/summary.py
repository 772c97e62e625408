"""Everything a workspace holds, in one readable report (``results/report/report.md`` and ``report.html``).

:func:`gather_report` looks at what the stages wrote into a workspace and builds a
:class:`~scorelens.report.document.Report`; :func:`~scorelens.report.document.render_markdown`
and :func:`~scorelens.report.document.render_html` print it. Each section appears when its
inputs exist, otherwise as one line naming the command that makes them:

========================  =========================================================  =======================
Section                   Inputs                                                     Made by
========================  =========================================================  =======================
Corpus                    the manifest                                               (``-m MANIFEST``)
Where the music plays     ``cues/<film>.parquet``, film lengths, ``results/          ``stamp``, ``stamp-eval``,
                          stamp_eval.json``, ``results/figures/cue_timeline.png``    ``figures``
Genre prediction          ``results/evaluation/<level>/table4.json`` (or ``.csv``),  ``evaluate``, ``figures``
                          ``results/figures/{pr_curves,per_film_scatter}.png``
Which cues drove …        ``instance_weights.parquet``, ``predictions.parquet``,     ``evaluate``
                          cue tables
Feature importance        ``results/importance/*/pfi_summary.csv``, ``fig3.png``     ``importance``
Music and picture         ``results/crossmodal/table5.csv`` (caption: ``table5.md``) ``crossmodal``
Provenance                ``settings/*.json``, the inputs' ``.done.json`` records    every stage
========================  =========================================================  =======================

How a few things are read (decisions, so the numbers can be checked):

* **Minutes of music** are the union of a film's cue intervals (two tracks overlapping
  count once); the share is that over the film's length
  (:func:`scorelens.report.sources.film_durations`: the film file, else the visual frames).
* **The cues that drove the predictions** come from the network run with the best macro
  F1 in ``table4.json`` (ties: the first in Table 4's order) among those whose weights
  depend on the cues: average pooling gives every cue of a film the same weight, so it is
  shown only when it is the only network (and the report says which network scored
  higher when it is not the one shown). For each genre, the cues of
  the films that run predicted with the genre (out of fold) are ranked by the cue's
  instance weight for the genre (at frame level, the sum of its frames' weights). A
  weight is a share of its film's attention, so films with few cues get larger weights;
  ``× even`` divides by the cue's even share (its instances over the film's) to compare
  across films. Ties rank by film, then cue id.
* Everything but the line starting with
  :data:`~scorelens.report.document.GENERATED_PREFIX` depends on the workspace's files
  only: the same workspace gives the same Markdown.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scorelens._version import __version__
from scorelens.analysis.crossmodal import SOURCE_NAMES, SOURCES, VISUAL_FEATURES, format_difference
from scorelens.corpus import Corpus
from scorelens.exceptions import ParameterError, WorkspaceError
from scorelens.report.cuesheet import cue_sheet, format_clock
from scorelens.report.document import Cell, Code, Heading, Image, Report, Section, Table, Text
from scorelens.report.figures import run_label
from scorelens.report.sources import cue_table_paths, film_durations
from scorelens.stamp.cuetable import read_cue_table
from scorelens.stamp.speed import film_speed
from scorelens.workspace import Workspace

__all__ = ["STUDY_STAMPER", "gather_report", "music_per_film", "top_cues"]

#: The study's Score Stamper (Dejavu) on three annotated films: (mean, SD) of precision and recall.
STUDY_STAMPER = {"precision": (0.94, 0.012), "recall": (0.47, 0.086)}
_LEVELS = ("cue", "frame")
_IMAGE_SUFFIXES = (".png", ".svg")  # embeddable in HTML, in order of preference


# --- reading --------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkspaceError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path}: cannot read (expected a JSON object, found {type(data).__name__})")
    return data


def _read_table(path: Path, columns: tuple = ()) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False,
                                                                               na_values=[""])
    except Exception as exc:  # noqa: BLE001 - pandas and pyarrow raise many types for a malformed file
        raise WorkspaceError(f"{path}: cannot read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                             ) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise WorkspaceError(f"{path}: cannot read (missing column(s) {', '.join(missing)})")
    return df


@dataclass
class _Inputs:
    """The workspace being reported on, with what was read from it (for the provenance)."""

    ws: Workspace
    corpus: Corpus | None = None
    read: list = field(default_factory=list)
    _cues: dict | None = None

    @property
    def root(self) -> Path:
        return self.ws.root

    @property
    def layout(self):
        return self.ws.layout

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()

    def link(self, path: Path) -> str:
        """``path`` relative to the report's folder, as the Markdown links it."""
        return Path(os.path.relpath(path, self.layout.report_dir)).as_posix()

    def use(self, path: Path) -> Path:
        if path not in self.read:
            self.read.append(path)
        return path

    def json(self, path: Path) -> dict:
        return _read_json(self.use(path))

    def table(self, path: Path, columns: tuple = ()) -> pd.DataFrame:
        return _read_table(self.use(path), columns)

    def cues(self) -> dict[str, pd.DataFrame]:
        """Each film's cue table, by film id (read once): the corpus' films only, when there is a corpus.

        A film removed from the manifest keeps its cue table in the workspace (a later run may
        need it again) but is no longer part of the study.
        """
        if self._cues is None:
            keep = {f.id for f in self.corpus.films} if self.corpus is not None else None
            self._cues = {f: read_cue_table(self.use(p), film_id=f, annotation=True)
                          for f, p in cue_table_paths(self.ws).items() if keep is None or f in keep}
        return self._cues

    def image(self, stem: Path, caption: str) -> Image | None:
        """The figure ``stem`` (a path without suffix) as PNG or SVG, if either exists."""
        for suffix in _IMAGE_SUFFIXES:
            path = stem.with_name(stem.name + suffix)
            if path.is_file():
                return Image(self.use(path), self.link(path), caption)
        return None

    def cmd(self, command: str, *, manifest: bool = False) -> str:
        """A command line for this workspace (and manifest), for *to do* lines."""
        m = f" -m {self.corpus.path if self.corpus is not None else 'MANIFEST'}" if manifest else ""
        return f"scorelens {command} -w {self.root}{m}"


def _todo(command: str) -> str:
    return f"not run yet — run `{command}`"


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


# --- where the music plays ------------------------------------------------------------------

def _union_seconds(start: np.ndarray, end: np.ndarray) -> float:
    """Length of the union of intervals ``[start, end)``."""
    total, reach = 0.0, -math.inf
    for s, e in sorted(zip(start, end)):
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return float(total)


def music_per_film(cues: dict[str, pd.DataFrame], durations: dict[str, float],
                   films: list[str] | None = None) -> pd.DataFrame:
    """Per film: number of cues, seconds of music (union of the cues) and share of the film.

    Parameters
    ----------
    cues : dict of str -> pd.DataFrame
        Cue tables (``start_s, end_s``) by film id.
    durations : dict of str -> float
        Film lengths in seconds (films without one get NaN length and share).
    films : list of str, optional
        Films and their order (default: the keys of ``cues``); a film without a cue table
        is left out.

    Returns
    -------
    pd.DataFrame
        ``film_id, cues, music_s, length_s, share`` (share in [0, 1]).
    """
    rows = []
    for film in (films if films is not None else list(cues)):
        if film not in cues:
            continue
        table = cues[film]
        music = _union_seconds(table["start_s"].to_numpy(float), table["end_s"].to_numpy(float))
        length = float(durations.get(film, math.nan))
        rows.append({"film_id": film, "cues": len(table), "music_s": music, "length_s": length,
                     "share": music / length if length > 0 else math.nan})
    return pd.DataFrame(rows, columns=["film_id", "cues", "music_s", "length_s", "share"])


def _percent(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.0f}%"


def _minutes(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds / 60:.1f}"


def _stamp_eval_blocks(inp: _Inputs) -> list:
    path = inp.layout.stamp_eval()
    heading = Heading("Score Stamper against hand annotations")
    if not path.is_file():
        return [heading, Text("Stamp evaluation: " + _todo(inp.cmd("stamp-eval", manifest=True)
                                                           + f" --json {path}") + " (needs films with hand-annotated "
                              "`cues` in the manifest).")]
    data = inp.json(path)
    measures = ("second_precision", "second_recall", "second_f1", "cue_precision", "cue_recall")
    per_film = pd.DataFrame(data.get("per_film") or [])
    if not isinstance(data.get("mean"), dict) or (len(per_film) and "film_id" not in per_film.columns):
        raise WorkspaceError(f"{path}: cannot read (expected 'per_film' rows and 'mean' scores)")
    mean = data["mean"]
    sd = data.get("sd") if isinstance(data.get("sd"), dict) else (
        per_film[[m for m in measures if m in per_film.columns]].std(ddof=1).to_dict() if len(per_film) > 1 else {})
    rows = [_cells(r.get("film_id", ""), *(_num(r.get(m), 3) for m in measures))
            for r in per_film.to_dict(orient="records")]
    rows.append(_cells(f"mean{' (SD)' if sd else ''}",
                       *(_num(mean.get(m), 3) + (f" ({_num(sd.get(m), 3)})" if sd else "") for m in measures),
                       bold=True))
    study = STUDY_STAMPER
    rows.append(_cells("study (Dejavu, 3 films)", f"{study['precision'][0]:.2f} ({study['precision'][1]:.3f})",
                       f"{study['recall'][0]:.2f} ({study['recall'][1]:.3f})", "", "", ""))
    return [heading, Table(("Film", "Precision (s)", "Recall (s)", "F1 (s)", "Cue precision", "Cue recall"),
                           tuple(rows), (False,) + (True,) * 5,
                           caption="Second level: (second, track) pairs; cue level: cues at least half covered by "
                                   "the other side's cues of the same track. The study reports one precision and "
                                   "recall for Dejavu (mean and SD over its three annotated films).")]


def _music_section(inp: _Inputs) -> Section:
    title = "Where the music plays"
    cues = inp.cues()
    if not cues:
        return Section("music", title, todo=_todo(inp.cmd("stamp", manifest=True)))
    corpus = inp.corpus
    order = [f.id for f in corpus.films if f.id in cues] if corpus is not None else []
    order += [f for f in cues if f not in order]
    per_film = music_per_film(cues, film_durations(inp.ws, corpus), order)
    genres = {f.id: ", ".join(f.genres) for f in corpus.films} if corpus is not None else None
    rows = []
    for r in per_film.itertuples(index=False):
        lead = (r.film_id, genres.get(r.film_id, "")) if genres is not None else (r.film_id,)
        rows.append(_cells(*lead, r.cues, _minutes(r.music_s), _minutes(r.length_s), _percent(r.share)))
    known = per_film["length_s"].notna()
    total_len = per_film.loc[known, "length_s"].sum() if known.any() else math.nan
    lead = (f"all {len(per_film)} films", "") if genres is not None else (f"all {len(per_film)} films",)
    rows.append(_cells(*lead, int(per_film["cues"].sum()), _minutes(per_film["music_s"].sum()), _minutes(total_len),
                       _percent(per_film.loc[known, "music_s"].sum() / total_len if known.any() else math.nan),
                       bold=True))
    columns = ("Film",) + (("Genres",) if genres is not None else ()) + ("Cues", "Music (min)", "Film (min)",
                                                                         "Share of film")
    unknown = "" if known.all() else " The totals' length and share count the films of known length only."
    blocks = [Table(columns, tuple(rows), (False,) * (len(columns) - 4) + (True,) * 4,
                    caption="Cues found by the Score Stamper; music: the time covered by at least one cue. Film "
                            "length from the film file, else from the visual frames (n/a: neither available)."
                            + unknown)]
    speeds = []
    for f in order:
        if len(cues[f]) and "speed" in cues[f]:
            factor, sentence = film_speed(cues[f])
            if factor is None or abs(factor - 1) > 1e-3:
                speeds.append(_cells(f, "n/a" if factor is None else f"{factor:.4f}", sentence))
    if speeds:
        blocks.append(Table(("Film", "Speed", "Transfer"), tuple(speeds), (False, True, False),
                            caption="Films whose music plays at another speed than the album (track seconds per "
                                    "film second); the others play at the album's speed."))
    stamped = [cues[f] for f in order if len(cues[f])]
    if stamped:
        sheet = cue_sheet(pd.concat(stamped, ignore_index=True))
        blocks.append(Table(("Film", "Cue", "Title", "In", "Out", "Duration"),
                            tuple(_cells(r.film, r.cue, r.title, r["in"], r.out, r.duration)
                                  for _, r in sheet.iterrows()),
                            (False, False, False, True, True, True),
                            caption=f"Cue sheet: {len(sheet)} cues, in and out in film time", folded=True))
    blocks += _stamp_eval_blocks(inp)
    timeline = inp.image(inp.layout.figures_dir / "cue_timeline", caption="Cue timeline: each film's cues over its "
                         "length (colour: track within a film).")
    blocks += [Heading("Cue timeline"), timeline if timeline is not None else
               Text("Cue timeline: " + _todo(inp.cmd("figures", manifest=True) + " --figure timeline"))]
    return Section("music", title, tuple(blocks))


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
    from scorelens.analysis.evaluation import format_p, format_score  # imports PyTorch: only when needed

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
        :func:`scorelens.report.cuesheet.cue_sheet`), ``relative`` the weight over the cue's even
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


# --- the whole report -----------------------------------------------------------------------

def gather_report(workspace: Workspace | str | os.PathLike, corpus: Corpus | None = None, *, top: int = 5,
                  generated: str = "") -> Report:
    """Gather what a workspace holds into a report.

    Parameters
    ----------
    workspace : Workspace or path
    corpus : Corpus, optional
        The manifest (:func:`scorelens.corpus.load_corpus`): films, genres, film files.
    top : int
        Cues listed per genre in "Which cues drove the predictions".
    generated : str
        When the report is made (the one line that changes from run to run).

    Returns
    -------
    Report
        :attr:`Report.has_results` is False when no stage has written anything yet.

    Raises
    ------
    WorkspaceError
        An input exists but cannot be read (the message names the file).
    AnnotationError
        A cue table cannot be read.
    """
    if top < 1:
        raise ParameterError(f"top={top} must be at least 1")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    inp = _Inputs(ws, corpus)
    evaluations = _evaluations(inp)
    sections = (_corpus_section(inp), _music_section(inp), _prediction_section(inp, evaluations),
                _drivers_section(inp, evaluations, top), _importance_section(inp), _crossmodal_section(inp))
    sections += (_provenance_section(inp),)  # last: lists what the others read
    return Report(title=f"scorelens report · {ws.root.resolve().name}",
                  subtitle=f"Workspace `{ws.root}` · scorelens {__version__} · after Ma, Greer, Knox & Narayanan, "
                           "“A computational lens into how music characterizes genre in film”, PLOS ONE 2021.",
                  sections=sections, generated=generated)
