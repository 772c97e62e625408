"""Reports on what the pipeline produced: ``crossmodal`` (the study's Table 5) and ``figures`` (S2, S3, timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.table import Table

from scorelens.cli.common import console, state
from scorelens.cli.main import app
from scorelens.cli.models import DEFAULT_WORKSPACE, Level, ManifestOpt, WorkspaceOpt
from scorelens.config import settings_digest
from scorelens.corpus import load_corpus
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.workspace import Workspace


@dataclass(frozen=True)
class CrossModalSettings:
    """What ``crossmodal`` ran with (written to ``settings/crossmodal.json``)."""

    features: str
    model: str
    level: str
    alpha: float
    manifest: str


@dataclass(frozen=True)
class FigureSettings:
    """What ``figures`` ran with (written to ``settings/figures.json``)."""

    level: str
    features: list | None
    models: list | None
    figures: list
    formats: list
    dpi: int


LevelOpt = Annotated[Level, typer.Option("--level", help="Which evaluation's predictions to read: "
                                         "results/evaluation/<level>/ (cue: the study's).")]
FeaturesOpt = Annotated[Optional[str], typer.Option(
    "--features", "-f", help="Feature kind of the model's run (default: the only kind the model ran on).")]


def _predictions_path(root: Path, level: Level) -> Path:
    return root / "results" / "evaluation" / level.value / "predictions.parquet"


def _read_clips(root: Path) -> tuple[pd.DataFrame, Path]:
    path = root / "features" / "visual" / "cues.parquet"
    if not path.is_file():
        raise FeatureError(f"{path}: no visual cue summaries; run `scorelens stamp` and then `scorelens visual "
                           "--manifest MANIFEST` first")
    try:
        clips = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a malformed file
        raise FeatureError(f"{path}: cannot read the visual cue summaries ({exc})") from exc
    if clips.empty:
        raise FeatureError(f"{path}: holds no cue clips (`scorelens visual` found no cue tables); run `scorelens "
                           "stamp` and then `scorelens visual` again")
    return clips, path


def _digest(*paths: Path, settings: dict) -> str:
    from scorelens.io.audio import file_digest

    return settings_digest({"inputs": [file_digest(p) for p in paths], "settings": settings})


def _show_table5(result) -> None:
    from scorelens.analysis.crossmodal import SOURCE_NAMES, SOURCES, VISUAL_FEATURES, format_difference

    for feature in VISUAL_FEATURES:
        table = Table(title=f"Table 5 · {feature}: median difference ×10",
                      caption=f"labels: {result.model} on {result.features} · {result.n_clips} clips, "
                              f"{len(result.film_ids)} films · n: clips labeled · bold: significant (Mann-Whitney U, "
                              f"Bonferroni α={result.alpha:g}, m={len(result.genres)})")
        table.add_column("Genre")
        for source in SOURCES:
            table.add_column(SOURCE_NAMES[source], justify="right")
            table.add_column("n", justify="right", style="dim")
        rows = result.table[result.table["feature"] == feature].set_index(["source", "genre"])
        for genre in result.genres:
            cells = []
            for source in SOURCES:
                row = rows.loc[(source, genre)]
                text = format_difference(row["difference_x10"])
                cells += [f"[bold]{text}[/]" if row["significant"] else text, str(row["n_clips"])]
            table.add_row(genre, *cells)
        console.print(table)


@app.command("crossmodal")
def crossmodal_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: FeaturesOpt = None,
    model: Annotated[str, typer.Option("--model", help="Model key whose out-of-fold predictions label the clips "
                                       "(the study: attention, on vggish).")] = "attention",
    level: LevelOpt = Level.cue,
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise significance level of the Bonferroni-"
                                         "corrected Mann-Whitney U tests, between 0 and 1 (study: 0.01).")] = 0.01,
) -> None:
    """Table 5: brightness and contrast of the music's clips by actual, predicted and false-positive genre."""
    from scorelens.analysis.crossmodal import cross_modal
    from scorelens.analysis.predictions import read_predictions

    pred_path = _predictions_path(workspace, level)
    predictions = read_predictions(pred_path)
    clips, clips_path = _read_clips(workspace)
    corpus = load_corpus(manifest, check_files=False)
    result = cross_modal(clips, predictions, model=model, features=features, alpha=alpha,
                         true_labels={f.id: f.genres for f in corpus.films})
    ws = Workspace(workspace)
    settings = {"features": result.features, "model": result.model, "level": level.value, "alpha": alpha,
                "manifest": str(manifest)}
    key = _digest(pred_path, clips_path, settings=settings)
    folder = ws.path("results", "crossmodal", "table5.md").parent
    writers = {"table5.md": lambda p: p.write_text(result.to_markdown(), encoding="utf-8"),
               "table5.csv": lambda p: result.to_frame().to_csv(p, index=False),
               "table5.json": lambda p: p.write_text(result.to_json_text(), encoding="utf-8")}
    paths = [ws.commit(folder / name, key, write, meta={"settings": settings, "inputs": [str(pred_path),
                                                                                        str(clips_path)]})
             for name, write in writers.items()]
    ws.save_settings("crossmodal", CrossModalSettings(**settings))
    _show_table5(result)
    if result.films_without_clips:
        console.print(f"left out (no visual cue summary): {', '.join(result.films_without_clips)}", highlight=False)
    if result.films_without_predictions:
        console.print(f"left out (no predictions): {', '.join(result.films_without_predictions)}", highlight=False)
    if not state.quiet:
        console.print(" · ".join(str(p) for p in paths), highlight=False, soft_wrap=True)


class FigureKind(str, Enum):
    pr = "pr"
    scatter = "scatter"
    timeline = "timeline"


class FigureFormat(str, Enum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


def _kinds(predictions: pd.DataFrame, features: list[str] | None) -> list[str]:
    from scorelens.analysis.predictions import available_runs

    kinds = list(dict.fromkeys(f for f, _ in available_runs(predictions)))
    if features:
        unknown = [f for f in features if f not in kinds]
        if unknown:
            raise ParameterError(f"no predictions on feature kind(s) {', '.join(unknown)}; the evaluation has: "
                                 f"{', '.join(kinds)}")
        return list(dict.fromkeys(features))
    return [k for k in kinds if k != "none"] or kinds


def _runs(predictions: pd.DataFrame, kinds: list[str], models: list[str] | None,
          default: str | None = None) -> list[tuple]:
    """Runs to plot: each named model on each kind, or per kind ``default`` where it ran, else the best by macro F1."""
    from scorelens.analysis.predictions import available_runs, best_model, resolve_run

    if models:
        return [resolve_run(predictions, kind, m) for kind in kinds for m in models]
    runs = []
    present = set(available_runs(predictions))
    for kind in kinds:
        runs.append((kind, default) if (kind, default) in present else (kind, best_model(predictions, kind)))
    return runs


@app.command("figures")
def figures_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", "-m", help="Corpus manifest: timeline rows in its order, film lengths from its files.",
        dir_okay=False, exists=True)] = None,
    level: LevelOpt = Level.cue,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", "-f", help="Feature kinds to plot (repeatable; default: every music kind evaluated).")] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--model", help="Models to plot on each kind (repeatable). Default: per kind, its best model by macro F1 "
        "for the PR curves (S2) and average pooling for the per-film scatter (S3).")] = None,
    which: Annotated[Optional[list[FigureKind]], typer.Option(
        "--figure", help="Only these figures (repeatable; default: all three).")] = None,
    formats: Annotated[Optional[list[FigureFormat]], typer.Option(
        "--format", help="File formats (repeatable; default png).")] = None,
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of PNG files.", min=30)] = 150,
) -> None:
    """Figures in WORKSPACE/results/figures/: PR curves (S2), per-film precision/recall (S3), cue timeline."""
    from scorelens.report.figures import (average_precisions, cue_timeline, film_scatter, per_film_scores,
                                          pr_curves, save_figure)
    from scorelens.report.sources import film_durations, read_cue_tables
    from scorelens.workspace import atomic_path

    which = list(dict.fromkeys(which or list(FigureKind)))
    exts = [f.value for f in dict.fromkeys(formats or [FigureFormat.png])]
    corpus = load_corpus(manifest, check_files=False) if manifest is not None else None
    jobs = []  # (name, figure builder) and data tables, built before anything is written
    tables = {}
    if FigureKind.pr in which or FigureKind.scatter in which:
        from scorelens.analysis.predictions import read_predictions

        predictions = read_predictions(_predictions_path(workspace, level))
        kinds = _kinds(predictions, features)
        if FigureKind.pr in which:
            runs = _runs(predictions, kinds, models)
            tables["average_precision.csv"] = average_precisions(predictions, runs)
            jobs.append(("pr_curves", pr_curves(predictions, runs)))
        if FigureKind.scatter in which:
            runs = _runs(predictions, kinds, models, default="network:average")
            tables["per_film_scores.csv"] = per_film_scores(predictions, runs)
            jobs.append(("per_film_scatter", film_scatter(predictions, runs)))
    if FigureKind.timeline in which:
        films = [f.id for f in corpus.films] if corpus is not None else None
        cues = read_cue_tables(workspace, films)
        jobs.append(("cue_timeline", cue_timeline(cues, film_durations(workspace, corpus), films=films)))
    ws = Workspace(workspace)
    written = []
    for name, fig in jobs:
        for ext in exts:
            written.append(save_figure(fig, ws.path("results", "figures", f"{name}.{ext}"), dpi=dpi))
    for name, df in tables.items():
        target = ws.path("results", "figures", name)
        with atomic_path(target) as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        written.append(target)
    ws.save_settings("figures", FigureSettings(level.value, features, models, [w.value for w in which], exts, dpi))
    if "average_precision.csv" in tables and not state.quiet:
        ap = tables["average_precision.csv"]
        table = Table(title="Average precision per genre (out-of-fold)")
        table.add_column("Run")
        genres = list(pd.unique(ap["genre"]))
        for g in genres:
            table.add_column(g, justify="right")
        for (kind, key), rows in ap.groupby(["features", "model"], sort=False):
            values = rows.set_index("genre")["average_precision"]
            table.add_row(f"{kind}/{key}", *("n/a" if values[g] != values[g] else f"{values[g]:.2f}" for g in genres))
        console.print(table)
    if not state.quiet:
        console.print("\n".join(str(p) for p in written), highlight=False, soft_wrap=True)
