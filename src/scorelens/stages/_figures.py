"""The figures stage: PR curves (the study's S2), per-film precision/recall (S3) and the cue timeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from scorelens.config import FigureConfig, StudyConfig, settings_digest
from scorelens.exceptions import ParameterError
from scorelens.io._audio import file_digest
from scorelens.stages._contract import StageReport, StageSkipped, timed
from scorelens.workspace import Workspace

__all__ = ["FiguresReport", "run_figures", "draw_figures"]


@dataclass
class FiguresReport:
    """Files written by :func:`run_figures`, and the per-genre average precision behind the PR curves."""

    written: list[Path] = field(default_factory=list)
    average_precision: pd.DataFrame | None = None
    reused: bool = False


def _outputs(layout, config: FigureConfig) -> list[Path]:
    names = {"pr": ["pr_curves"], "scatter": ["per_film_scatter"], "timeline": ["cue_timeline"]}
    tables = {"pr": "average_precision", "scatter": "per_film_scores"}
    out = [layout.figure(n, ext) for f in config.figures for n in names[f] for ext in config.formats]
    return out + [layout.figure_table(tables[f]) for f in config.figures if f in tables]


def _inputs_key(workspace: Workspace, config: FigureConfig, corpus) -> str:
    """Digest of what the figures show: the predictions, the cue tables, the films and the settings."""
    layout = workspace.layout
    inputs = {}
    predictions = layout.predictions(config.level)
    if predictions.is_file():
        inputs["predictions"] = file_digest(predictions)
    for film_id, path in layout.cue_tables().items():
        record = workspace.record(path) or {}
        inputs[f"cues/{film_id}"] = record.get("key") or file_digest(path)
    visual = layout.features("visual", "frame")
    if visual.is_file():
        inputs["visual"] = file_digest(visual)
    films = [(f.id, str(f.film)) for f in corpus.films] if corpus is not None else None
    return settings_digest({"config": asdict(config), "inputs": inputs, "films": films})


def _kinds(predictions: pd.DataFrame, features) -> list[str]:
    from scorelens.analysis._predictions import available_runs

    kinds = list(dict.fromkeys(f for f, _ in available_runs(predictions)))
    if features:
        unknown = [f for f in features if f not in kinds]
        if unknown:
            raise ParameterError(f"no predictions on feature kind(s) {', '.join(unknown)}; the evaluation has: "
                                 f"{', '.join(kinds)}")
        return list(dict.fromkeys(features))
    return [k for k in kinds if k != "none"] or kinds


def _runs(predictions: pd.DataFrame, kinds: list[str], models, default: str | None = None) -> list[tuple]:
    """Runs to plot: each named model on each kind, or per kind ``default`` where it ran, else the best by macro F1."""
    from scorelens.analysis._predictions import available_runs, best_model, resolve_run

    if models:
        return [resolve_run(predictions, kind, m) for kind in kinds for m in models]
    present = set(available_runs(predictions))
    return [(kind, default) if (kind, default) in present else (kind, best_model(predictions, kind))
            for kind in kinds]


def run_figures(workspace: Workspace, config: StudyConfig, corpus, *, executor=None, progress=None) -> StageReport:
    """The ``figures`` stage: PR curves, the per-film scatter and the cue timeline.

    Without the evaluation's predictions (evaluate skipped on a one-film corpus) only the
    timeline is drawn, with a warning.

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``figures``.
    corpus : Corpus
    executor, progress :
        Unused.

    Returns
    -------
    StageReport
        ``result``: the :class:`FiguresReport`.
    """
    import dataclasses
    import time

    t0 = time.perf_counter()
    fc = config.figures
    report = StageReport("figures")
    if not workspace.layout.predictions(fc.level).is_file():
        wanted = tuple(f for f in fc.figures if f == "timeline")
        for f in fc.figures:
            if f != "timeline":
                report.warn("no evaluation predictions in the workspace", figure=f)
        if not wanted:
            raise StageSkipped("no evaluation predictions to draw")
        fc = dataclasses.replace(fc, figures=wanted)
    rep = draw_figures(workspace, fc, corpus)
    done = StageReport.finished("figures", reused=rep.reused, outputs=rep.written, result=rep,
                                detail=f"{len(rep.written)} file(s) in {workspace.layout.figures_dir}")
    done.warnings = report.warnings
    return timed(done, t0)


def draw_figures(workspace: Workspace, config: FigureConfig, corpus=None) -> FiguresReport:
    """Draw the figures into ``results/figures/`` from what ``evaluate`` and ``stamp`` wrote.

    The work behind the ``figures`` stage (:func:`run_figures`).

    Parameters
    ----------
    workspace : Workspace
    config : FigureConfig
    corpus : Corpus, optional
        Timeline rows in its order, film lengths from its files.

    Returns
    -------
    FiguresReport
    """
    from scorelens.report._figures import average_precisions, cue_timeline, film_scatter, per_film_scores, pr_curves
    from scorelens.report._sources import film_durations, read_cue_tables

    layout = workspace.layout
    key = _inputs_key(workspace, config, corpus)
    expected = _outputs(layout, config)
    if all(workspace.is_done(p, key) for p in expected):
        return FiguresReport(written=expected, reused=True)
    jobs = []  # (name, figure) and data tables, all built before anything is written
    tables = {}
    if "pr" in config.figures or "scatter" in config.figures:
        from scorelens.analysis._predictions import read_predictions

        predictions = read_predictions(layout.predictions(config.level))
        kinds = _kinds(predictions, config.features)
        if "pr" in config.figures:
            runs = _runs(predictions, kinds, config.models)
            tables["average_precision"] = average_precisions(predictions, runs)
            jobs.append(("pr_curves", pr_curves(predictions, runs)))
        if "scatter" in config.figures:
            runs = _runs(predictions, kinds, config.models, default="network:average")
            tables["per_film_scores"] = per_film_scores(predictions, runs)
            jobs.append(("per_film_scatter", film_scatter(predictions, runs)))
    if "timeline" in config.figures:
        films = [f.id for f in corpus.films] if corpus is not None else None
        cues = read_cue_tables(workspace, films)
        jobs.append(("cue_timeline", cue_timeline(cues, film_durations(workspace, corpus), films=films)))
    report = FiguresReport(average_precision=tables.get("average_precision"))
    for name, fig in jobs:
        for ext in config.formats:
            target = layout.figure(name, ext)
            report.written.append(workspace.commit(target, key, lambda p, f=fig, e=ext: f.savefig(
                p, format=e, dpi=config.dpi)))
    for name, df in tables.items():
        target = layout.figure_table(name)
        report.written.append(workspace.commit(target, key, lambda p, d=df: d.to_csv(p, index=False,
                                                                                      float_format="%.6g")))
    workspace.save_settings("figures", config)
    return report
