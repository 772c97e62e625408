"""``scorelens importance``: permutation feature importance by feature group (the study's Fig 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    BatchOpt,
    ConfigOpt,
    DeviceOpt,
    EpochsOpt,
    ImvBinaryOpt,
    Level,
    LrOpt,
    ManifestOpt,
    MaxInstOpt,
    PrecisionOpt,
    SeedOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    progress,
    stage_progress,
    study_settings,
)
from scorelens.cli.main import app
from scorelens.cli.models import _model_flags


@app.command("importance")
def importance_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    config: ConfigOpt = None,
    settings: SetOpt = None,
    features: Annotated[Optional[str], typer.Option("--features", "-f", help="Feature kind in the workspace (named "
                                                    "columns) or a Parquet file (importance.features).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model key: average, attention, simple_mi:svm, "
                                                 "imv:rf, … (importance.model).")] = None,
    runs: Annotated[Optional[int], typer.Option("--runs", help="Permutation runs (importance.runs).", min=1)] = None,
    cv: Annotated[Optional[str], typer.Option("--cv", help="'loo' or 'kfold:K' (model.cv).")] = None,
    level: Annotated[Optional[Level], typer.Option("--level", help="Instances: cues or frames (model.level).")
                     ] = None,
    seed: SeedOpt = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", help="Units per embedding layer "
                                                  "(importance.hidden).", min=1)] = None,
    epochs: EpochsOpt = None,
    learning_rate: LrOpt = None,
    batch_size: BatchOpt = None,
    precision: PrecisionOpt = None,
    device: DeviceOpt = None,
    max_instances: MaxInstOpt = None,
    imv_binary_relevance: ImvBinaryOpt = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker threads / processes.", min=1)] = None,
) -> None:
    """Score how much each feature group matters to a model's genre predictions (Fig 3)."""
    from rich.table import Table

    from scorelens.corpus import load_corpus
    from scorelens.stages._importance import group_importance_of
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, importance__features=features, importance__model=model,
                           importance__runs=runs, importance__hidden=hidden, **_model_flags(
                               seed=seed, cv=cv, level=level, max_instances=max_instances, epochs=epochs,
                               learning_rate=learning_rate, batch_size=batch_size, precision=precision, device=device,
                               imv_binary_relevance=imv_binary_relevance))
    corpus = load_corpus(manifest, check_files=False)
    with progress() as bar:
        report = group_importance_of(Workspace(workspace), study.model, study.importance, corpus, n_jobs=jobs,
                                     progress=stage_progress(bar))
    features, model, runs = study.importance.features, study.importance.model, study.importance.runs
    if report.result is None:
        console.print(f"up to date (same features and settings): {report.folder}", highlight=False, soft_wrap=True)
        console.print(report.markdown, highlight=False, soft_wrap=True)
        return
    result = report.result
    summary = result.summary()
    table = Table(title=f"Permutation importance · {features} · {model} · {runs} runs · macro F1 "
                        f"{result.f1_orig[-1]:.2f}")
    table.add_column("Group")
    for genre in result.columns:
        table.add_column(genre, justify="right")
    for name in result.groups:
        rows = summary[summary.group == name].set_index("genre")
        table.add_row(name, *("n/a" if rows.loc[g, "score"] != rows.loc[g, "score"] else
                              f"{rows.loc[g, 'score']:.3f}{'*' if rows.loc[g, 'significant'] else ''}"
                              for g in result.columns))
    console.print(table)
    console.print("* the runs' 95% interval lies above 0 (permuting the group lowers F1)")
    if report.missing:
        console.print(f"left out (no cues): {', '.join(report.missing)}", highlight=False)
    console.print(f"{report.seconds:.1f} s · {report.folder}", highlight=False, soft_wrap=True)
