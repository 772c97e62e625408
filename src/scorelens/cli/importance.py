"""``scorelens importance``: permutation feature importance by feature group (the study's Fig 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    BatchOpt,
    EpochsOpt,
    ImvBinaryOpt,
    Level,
    LevelOpt,
    LrOpt,
    ManifestOpt,
    MaxInstOpt,
    Precision,
    PrecisionOpt,
    SeedOpt,
    WorkspaceOpt,
    console,
    model_config,
    progress,
    stage_progress,
)
from scorelens.cli.main import app
from scorelens.config import ImportanceConfig, ModelConfig
from scorelens.corpus import load_corpus
from scorelens.stages.importance import run_importance
from scorelens.workspace import Workspace

_STUDY, _PFI = ModelConfig(), ImportanceConfig()


@app.command("importance")
def importance_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: Annotated[str, typer.Option("--features", "-f", help="Feature kind in the workspace (named columns; "
                                          "the study uses mir) or a Parquet file.")] = _PFI.features,
    model: Annotated[str, typer.Option("--model", help="Model key: average (the study's), attention, "
                                       "simple_mi:svm, imv:rf, …")] = _PFI.model,
    runs: Annotated[int, typer.Option("--runs", help=f"Permutation runs (study: {_PFI.runs}).", min=1)] = _PFI.runs,
    cv: Annotated[str, typer.Option("--cv", help="'loo' (the study's) or 'kfold:K'.")] = _STUDY.cv,
    level: LevelOpt = Level.cue,
    seed: SeedOpt = _STUDY.seed,
    hidden: Annotated[int, typer.Option("--hidden", help=f"Units per embedding layer (the study's PFI model: "
                                        f"{_PFI.hidden}).", min=1)] = _PFI.hidden,
    epochs: EpochsOpt = _STUDY.epochs,
    learning_rate: LrOpt = _STUDY.learning_rate,
    batch_size: BatchOpt = _STUDY.batch_size,
    precision: PrecisionOpt = Precision(_STUDY.precision),
    max_instances: MaxInstOpt = _STUDY.max_instances,
    imv_binary_relevance: ImvBinaryOpt = not _STUDY.imv_multi_output,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker threads / processes.", min=1)] = None,
) -> None:
    """Score how much each feature group matters to a model's genre predictions (Fig 3)."""
    config = model_config(seed=seed, cv=cv, level=level, max_instances=max_instances, epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, precision=precision,
                          imv_binary_relevance=imv_binary_relevance)
    importance = ImportanceConfig(features=features, model=model, hidden=hidden, runs=runs)
    corpus = load_corpus(manifest, check_files=False)
    with progress() as bar:
        report = run_importance(Workspace(workspace), config, importance, corpus, n_jobs=jobs,
                                progress=stage_progress(bar))
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
