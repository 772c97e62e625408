"""Genre model commands: ``evaluate`` (cross-validated Table 4) and ``train`` (one model artifact)."""

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

HiddenOpt = Annotated[Optional[int], typer.Option("--hidden", help="Units per embedding layer of the network "
                                                  "(model.hidden).", min=1)]


def show_table4(evaluation, title: str) -> None:
    """Table 4 on the console."""
    from rich.table import Table

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
    config: ConfigOpt = None,
    settings: SetOpt = None,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", "-f", help="Feature kind in the workspace (features/<kind>/cues.parquet or frames.parquet) "
        "or a Parquet file; repeatable. Default: the study's kinds (run.kinds) that the workspace holds.")] = None,
    level: Annotated[Optional[Level], typer.Option("--level", help="Instances: cues or frames (model.level).")
                     ] = None,
    cv: Annotated[Optional[str], typer.Option("--cv", help="'loo' (leave one film out) or 'kfold:K' (model.cv).")
                  ] = None,
    models: Annotated[Optional[list[str]], typer.Option(
        "--model", help="Only these models (repeatable): keys such as simple_mi:svm, imv:knn, attention, or "
        "families simple_mi, imv, network, baselines. Default: all of Table 4.")] = None,
    seed: SeedOpt = None,
    hidden: Annotated[Optional[list[int]], typer.Option(
        "--hidden", help="Units per embedding layer of the networks, repeatable: each network is evaluated with "
        "every size and Table 4 shows the better (model.hidden_sizes).", min=1)] = None,
    epochs: EpochsOpt = None,
    learning_rate: LrOpt = None,
    batch_size: BatchOpt = None,
    precision: PrecisionOpt = None,
    device: DeviceOpt = None,
    max_instances: MaxInstOpt = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Worker threads (default: "
                                                "PyTorch's thread count).", min=1)] = None,
    imv_binary_relevance: ImvBinaryOpt = None,
    sequential: Annotated[bool, typer.Option("--sequential", help="Train network folds one at a time (same "
                                             "numbers, slower; for checking).")] = False,
) -> None:
    """Cross-validate the genre models and write the study's Table 4 (Markdown, CSV, JSON)."""
    from scorelens.corpus import load_corpus
    from scorelens.stages._evaluate import evaluate_models
    from scorelens.stages._features import feature_kinds
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, **_model_flags(
        seed=seed, cv=cv, level=level, max_instances=max_instances,
        hidden_sizes=list(dict.fromkeys(hidden)) if hidden else None, epochs=epochs, learning_rate=learning_rate,
        batch_size=batch_size, precision=precision, device=device, imv_binary_relevance=imv_binary_relevance))
    corpus = load_corpus(manifest, check_files=False)
    ws = Workspace(workspace)
    if not features:
        features = [k for k in feature_kinds(study) if ws.layout.features(k, "cue").is_file()
                    or ws.layout.features(k, "frame").is_file()] or None
    with progress() as bar:
        report = evaluate_models(ws, study.model, corpus, features=features, models=models, n_jobs=jobs,
                                 sequential=sequential, progress=stage_progress(bar))
    mc = study.model
    if report.evaluation is not None:
        show_table4(report.evaluation, f"Table 4 · {len(report.evaluation.film_ids)} films · {mc.cv} · "
                                       f"{mc.level}-level · seed {mc.seed}")
    else:
        console.print("up to date (same features and settings):", highlight=False)
        console.print(report.paths["markdown"].read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
    if report.missing:
        console.print(f"left out (no cues): {', '.join(report.missing)}", highlight=False)
    console.print(f"{report.seconds:.1f} s · " + " · ".join(str(p) for p in report.paths.values()),
                  highlight=False, soft_wrap=True)


def _model_flags(imv_binary_relevance: bool | None = None, **flags) -> dict:
    """Model options of the command line as ``model__name`` settings keys (None: not given)."""
    out = {f"model__{k}": v for k, v in flags.items()}
    out["model__imv_multi_output"] = None if imv_binary_relevance is None else not imv_binary_relevance
    return out


@app.command("train")
def train_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    config: ConfigOpt = None,
    settings: SetOpt = None,
    features: Annotated[str, typer.Option("--features", "-f", help="Feature kind in the workspace or a Parquet "
                                          "file (default musicnn: needs no weights from you).")] = "musicnn",
    model: Annotated[str, typer.Option("--model", help="Model key: attention (default, the study's best), "
                                       "average, simple_mi:svm, imv:knn, …")] = "attention",
    level: Annotated[Optional[Level], typer.Option("--level", help="Instances: cues or frames (model.level).")
                     ] = None,
    seed: SeedOpt = None,
    hidden: HiddenOpt = None,
    epochs: EpochsOpt = None,
    learning_rate: LrOpt = None,
    batch_size: BatchOpt = None,
    precision: PrecisionOpt = None,
    device: DeviceOpt = None,
    max_instances: MaxInstOpt = None,
    imv_binary_relevance: ImvBinaryOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Artifact path (default: "
                                                "WORKSPACE/results/models/<kind>-<model>.pt).", dir_okay=False)] = None,
) -> None:
    """Fit one genre model on the whole corpus and save it as an artifact for `scorelens predict`."""
    from scorelens.corpus import load_corpus
    from scorelens.mil._models import display_name
    from scorelens.stages._evaluate import run_train
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, **_model_flags(
        seed=seed, level=level, max_instances=max_instances, hidden=hidden, epochs=epochs,
        learning_rate=learning_rate, batch_size=batch_size, precision=precision, device=device,
        imv_binary_relevance=imv_binary_relevance))
    corpus = load_corpus(manifest, check_files=False)
    with progress() as bar:
        report = run_train(Workspace(workspace), study.model, corpus, features=features, model=model, out=out,
                           progress=stage_progress(bar))
    console.print(f"{display_name(report.key)} on {report.kind} ({report.n_features} features, {report.n_films} "
                  f"films): training macro F1 {report.train_f1:.2f} (optimistic: seen films) · {report.seconds:.1f} s",
                  highlight=False)
    if report.missing:
        console.print(f"left out (no cues): {', '.join(report.missing)}", highlight=False)
    console.print(f"saved {report.path}", highlight=False, soft_wrap=True)
