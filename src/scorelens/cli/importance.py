"""``scorelens importance``: permutation feature importance by feature group (the study's Fig 3)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scorelens.cli.common import console, progress
from scorelens.cli.main import app
from scorelens.cli.models import (DEFAULT_WORKSPACE, BatchOpt, EpochsOpt, ImvBinaryOpt, LevelOpt, Level, LrOpt,
                                  ManifestOpt, MaxInstOpt, Precision, PrecisionOpt, SeedOpt, WorkspaceOpt, _bar_factory, _load)
from scorelens.config import ModelConfig
from scorelens.workspace import Workspace


@app.command("importance")
def importance_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: Annotated[str, typer.Option("--features", "-f", help="Feature kind in the workspace (named columns; "
                                          "the study uses mir) or a Parquet file.")] = "mir",
    model: Annotated[str, typer.Option("--model", help="Model key: average (the study's), attention, "
                                       "simple_mi:svm, imv:rf, …")] = "average",
    runs: Annotated[int, typer.Option("--runs", help="Permutation runs (study: 100).", min=1)] = 100,
    cv: Annotated[str, typer.Option("--cv", help="'loo' (the study's) or 'kfold:K'.")] = "loo",
    level: LevelOpt = Level.cue,
    seed: SeedOpt = 0,
    hidden: Annotated[int, typer.Option("--hidden", help="Units per embedding layer (the study's PFI model: 64).",
                                        min=1)] = 64,
    epochs: EpochsOpt = 200,
    learning_rate: LrOpt = 5e-5,
    batch_size: BatchOpt = 16,
    precision: PrecisionOpt = Precision.auto,
    max_instances: MaxInstOpt = 0,
    imv_binary_relevance: ImvBinaryOpt = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker threads / processes.", min=1)] = None,
) -> None:
    """Score how much each feature group matters to a model's genre predictions (Fig 3)."""
    from scorelens.analysis.evaluation import inputs_digest
    from scorelens.analysis.importance import group_importance
    from scorelens.mil.models import normalise_key
    from scorelens.mil.network import resolve_precision
    from scorelens.report.importance import plot_group_importance

    key = normalise_key(model)
    config = ModelConfig(seed=seed, cv=cv, level=level.value, max_instances=max_instances, hidden=hidden,
                         epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                         precision=resolve_precision(precision.value), imv_multi_output=not imv_binary_relevance)
    ws = Workspace(workspace)
    _, (fs,) = _load(ws, manifest, [features], level.value, max_instances)
    folder = ws.path("results", "importance", f"{fs.kind}-{key.replace(':', '_')}-h{hidden}-{level.value}", "x").parent
    # "pfi-v2": the permutations are seeded by group name (v1 by position); v1 results are recomputed.
    digest = inputs_digest([fs], config, [key, f"runs={runs}", "pfi-v2"])
    outputs = {name: folder / name for name in ("pfi_summary.md", "pfi_summary.csv", "pfi_summary.json",
                                                "pfi_runs.parquet", "fig3.png")}
    if all(ws.is_done(p, digest) for p in outputs.values()):
        console.print(f"up to date (same features and settings): {folder}", highlight=False, soft_wrap=True)
        console.print(outputs["pfi_summary.md"].read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
        return
    t0 = time.perf_counter()
    with progress() as bar:
        result = group_importance(fs, key, config, runs=runs, n_jobs=jobs, progress=_bar_factory(bar))
    summary = result.summary()
    title = f"{fs.kind} · {key} · hidden {hidden} · {runs} runs"
    import json

    def save_figure(path: Path) -> None:
        plot_group_importance(summary, title=title).savefig(path, format="png", dpi=150)

    writers = {
        "pfi_summary.md": lambda p: p.write_text(result.to_markdown(), encoding="utf-8"),
        "pfi_summary.csv": lambda p: summary.to_csv(p, index=False),
        "pfi_summary.json": lambda p: p.write_text(json.dumps(result.to_json(), indent=2, default=float) + "\n",
                                                   encoding="utf-8"),
        "pfi_runs.parquet": lambda p: result.runs_frame().to_parquet(p, index=False),
        "fig3.png": save_figure,
    }
    for name, write in writers.items():
        ws.commit(outputs[name], digest, write, meta={"settings": asdict(config), "model": key, "runs": runs})
    ws.save_settings("importance", config, {"model": key, "runs": runs, "features": fs.kind})
    table = Table(title=f"Permutation importance · {fs.kind} · {key} · {runs} runs · macro F1 "
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
    if fs.missing:
        console.print(f"left out (no cues): {', '.join(fs.missing)}")
    console.print(f"{time.perf_counter() - t0:.1f} s · {folder}", highlight=False, soft_wrap=True)
