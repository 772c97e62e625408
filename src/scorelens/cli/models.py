"""Genre model commands: ``evaluate`` (cross-validated Table 4) and ``train`` (one model artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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
from scorelens.config import ModelConfig
from scorelens.corpus import load_corpus
from scorelens.stages.evaluate import run_evaluate, run_train
from scorelens.workspace import Workspace

_STUDY = ModelConfig()
HiddenOpt = Annotated[int, typer.Option("--hidden", help="Units per embedding layer of the networks (study: 64 or "
                                        "128).", min=1)]


def show_table4(evaluation, title: str) -> None:
    """Table 4 on the console."""
    table = Table(title=title)
    for col in ("Features", "Model", "Hidden", "Precision", "Recall", "F1", "p (vs random)"):
        table.add_column(col, justify="left" if col in ("Features", "Model") else "right")
    for r in evaluation.table4():
        p = r["p_precision"]
        table.add_row(r["features"], r["model"], "" if r["hidden"] is None else str(r["hidden"]),
                      f"{r['precision']:.2f}", f"{r['recall']:.2f}", f"{r['f1']:.2f}",
                      "" if r["key"] == "random" else ("n/a" if p != p else f"{p:.3g}"))
    console.print(table)


@app.command("evaluate")
def evaluate_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", "-f", help="Feature kind in the workspace (features/<kind>/cues.parquet or frames.parquet) "
        "or a Parquet file; repeatable. Default: every music kind in the workspace.")] = None,
    level: LevelOpt = Level.cue,
    cv: Annotated[str, typer.Option("--cv", help="'loo' (leave one film out, the study's) or 'kfold:K'.")] = "loo",
    models: Annotated[Optional[list[str]], typer.Option(
        "--model", help="Only these models (repeatable): keys such as simple_mi:svm, imv:knn, attention, or "
        "families simple_mi, imv, network, baselines. Default: all of Table 4.")] = None,
    seed: SeedOpt = _STUDY.seed,
    hidden: Annotated[Optional[list[int]], typer.Option(
        "--hidden", help="Units per embedding layer of the networks, repeatable: each network is evaluated with "
        "every size and Table 4 shows the better. Default: "
        f"{' and '.join(map(str, _STUDY.hidden_sizes))}, as the study.", min=1)] = None,
    epochs: EpochsOpt = _STUDY.epochs,
    learning_rate: LrOpt = _STUDY.learning_rate,
    batch_size: BatchOpt = _STUDY.batch_size,
    precision: PrecisionOpt = Precision(_STUDY.precision),
    max_instances: MaxInstOpt = _STUDY.max_instances,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Worker threads (default: "
                                                "PyTorch's thread count).", min=1)] = None,
    imv_binary_relevance: ImvBinaryOpt = not _STUDY.imv_multi_output,
    sequential: Annotated[bool, typer.Option("--sequential", help="Train network folds one at a time (same "
                                             "numbers, slower; for checking).")] = False,
) -> None:
    """Cross-validate the genre models and write the study's Table 4 (Markdown, CSV, JSON)."""
    config = model_config(seed=seed, cv=cv, level=level, max_instances=max_instances,
                          hidden_sizes=tuple(dict.fromkeys(hidden)) if hidden else None, epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, precision=precision,
                          imv_binary_relevance=imv_binary_relevance)
    corpus = load_corpus(manifest, check_files=False)
    with progress() as bar:
        report = run_evaluate(Workspace(workspace), config, corpus, features=features, models=models, n_jobs=jobs,
                              sequential=sequential, progress=stage_progress(bar))
    if report.evaluation is not None:
        show_table4(report.evaluation, f"Table 4 · {len(report.evaluation.film_ids)} films · {config.cv} · "
                                       f"{level.value}-level · seed {seed}")
    else:
        console.print("up to date (same features and settings):", highlight=False)
        console.print(report.paths["markdown"].read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
    if report.missing:
        console.print(f"left out (no cues): {', '.join(report.missing)}", highlight=False)
    console.print(f"{report.seconds:.1f} s · " + " · ".join(str(p) for p in report.paths.values()),
                  highlight=False, soft_wrap=True)


@app.command("train")
def train_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: Annotated[str, typer.Option("--features", "-f", help="Feature kind in the workspace or a Parquet "
                                          "file (default musicnn: needs no weights from you).")] = "musicnn",
    model: Annotated[str, typer.Option("--model", help="Model key: attention (default, the study's best), "
                                       "average, simple_mi:svm, imv:knn, …")] = "attention",
    level: LevelOpt = Level.cue,
    seed: SeedOpt = _STUDY.seed,
    hidden: HiddenOpt = _STUDY.hidden,
    epochs: EpochsOpt = _STUDY.epochs,
    learning_rate: LrOpt = _STUDY.learning_rate,
    batch_size: BatchOpt = _STUDY.batch_size,
    precision: PrecisionOpt = Precision(_STUDY.precision),
    max_instances: MaxInstOpt = _STUDY.max_instances,
    imv_binary_relevance: ImvBinaryOpt = not _STUDY.imv_multi_output,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Artifact path (default: "
                                                "WORKSPACE/results/models/<kind>-<model>.pt).", dir_okay=False)] = None,
) -> None:
    """Fit one genre model on the whole corpus and save it as an artifact for `scorelens predict`."""
    from scorelens.mil.models import display_name

    config = model_config(seed=seed, level=level, max_instances=max_instances, hidden=hidden, epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, precision=precision,
                          imv_binary_relevance=imv_binary_relevance)
    corpus = load_corpus(manifest, check_files=False)
    with progress() as bar:
        report = run_train(Workspace(workspace), config, corpus, features=features, model=model, out=out,
                           progress=stage_progress(bar))
    console.print(f"{display_name(report.key)} on {report.kind} ({report.n_features} features, {report.n_films} "
                  f"films): training macro F1 {report.train_f1:.2f} (optimistic: seen films) · {report.seconds:.1f} s",
                  highlight=False)
    if report.missing:
        console.print(f"left out (no cues): {', '.join(report.missing)}", highlight=False)
    console.print(f"saved {report.path}", highlight=False, soft_wrap=True)
