"""Reports on what the pipeline produced: ``crossmodal`` (the study's Table 5) and ``figures`` (S2, S3, timeline)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    Level,
    ManifestOpt,
    OptionalManifestOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    state,
    study_settings,
)
from scorelens.cli.main import app

LevelOpt = Annotated[Optional[Level], typer.Option("--level", help="Which evaluation's predictions to read: "
                                                   "results/evaluation/<level>/ (SECTION.level).")]
FeaturesOpt = Annotated[Optional[str], typer.Option(
    "--features", "-f", help="Feature kind of the model's run (default: the only kind the model ran on).")]


def _show_table5(result) -> None:
    from rich.table import Table

    from scorelens.analysis._crossmodal import SOURCE_NAMES, SOURCES, VISUAL_FEATURES, format_difference

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
    config: ConfigOpt = None,
    settings: SetOpt = None,
    features: FeaturesOpt = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model key whose out-of-fold predictions label the "
                                                 "clips (crossmodal.model).")] = None,
    level: LevelOpt = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="Family-wise significance level of the Bonferroni-"
                                                   "corrected Mann-Whitney U tests (crossmodal.alpha).")] = None,
) -> None:
    """Table 5: brightness and contrast of the music's clips by actual, predicted and false-positive genre."""
    from scorelens.corpus import load_corpus
    from scorelens.stages._crossmodal import run_crossmodal
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, crossmodal__features=features, crossmodal__model=model,
                           crossmodal__level=level, crossmodal__alpha=alpha)
    stage = run_crossmodal(Workspace(workspace), study, load_corpus(manifest, check_files=False))
    report = stage.result
    result = report.result
    _show_table5(result)
    if result.films_without_clips:
        console.print(f"left out (no visual cue summary): {', '.join(result.films_without_clips)}", highlight=False)
    if result.films_without_predictions:
        console.print(f"left out (no predictions): {', '.join(result.films_without_predictions)}", highlight=False)
    if not state.quiet:
        console.print(" · ".join(str(p) for p in report.paths), highlight=False, soft_wrap=True)


class FigureKind(str, Enum):
    pr = "pr"
    scatter = "scatter"
    timeline = "timeline"


class FigureFormat(str, Enum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


@app.command("figures")
def figures_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: OptionalManifestOpt = None,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    level: LevelOpt = None,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", "-f", help="Feature kinds to plot (repeatable; default: every music kind evaluated).")] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--model", help="Models to plot on each kind (repeatable). Default: per kind, its best model by macro F1 "
        "for the PR curves (S2) and average pooling for the per-film scatter (S3).")] = None,
    which: Annotated[Optional[list[FigureKind]], typer.Option(
        "--figure", help="Only these figures (repeatable; figures.figures).")] = None,
    formats: Annotated[Optional[list[FigureFormat]], typer.Option(
        "--format", help="File formats (repeatable; figures.formats).")] = None,
    dpi: Annotated[Optional[int], typer.Option("--dpi", help="Resolution of PNG files (figures.dpi).", min=30)] = None,
) -> None:
    """Figures in WORKSPACE/results/figures/: PR curves (S2), per-film precision/recall (S3), cue timeline."""
    import pandas as pd
    from rich.table import Table

    from scorelens.corpus import load_corpus
    from scorelens.stages._figures import draw_figures
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, figures__level=level,
                           figures__features=list(features) if features else None,
                           figures__models=list(models) if models else None,
                           figures__figures=list(dict.fromkeys(w.value for w in which)) if which else None,
                           figures__formats=list(dict.fromkeys(f.value for f in formats)) if formats else None,
                           figures__dpi=dpi)
    corpus = load_corpus(manifest, check_files=False) if manifest is not None else None
    report = draw_figures(Workspace(workspace), study.figures, corpus)
    ap = report.average_precision
    if ap is not None and not state.quiet:
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
        console.print("\n".join(str(p) for p in report.written), highlight=False, soft_wrap=True)
