"""Genre model commands: ``evaluate`` (cross-validated Table 4) and ``train`` (one model artifact)."""

from __future__ import annotations

import logging
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scorelens.cli.common import console, progress
from scorelens.cli.main import app
from scorelens.config import ModelConfig
from scorelens.corpus import load_corpus
from scorelens.exceptions import FeatureError, ParameterError
from scorelens.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE = Path("scorelens-work")
_NOT_MUSIC = {"visual"}  # feature folders that do not describe the music

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Output folder shared by all stages.",
                                            file_okay=False)]
ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="Corpus manifest (TOML or CSV) with the "
                                           "films' genre labels.", dir_okay=False, exists=True)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random choice; same seed, same numbers.")]
HiddenOpt = Annotated[int, typer.Option("--hidden", help="Units per embedding layer of the networks (study: 64 or "
                                        "128).", min=1)]
EpochsOpt = Annotated[int, typer.Option("--epochs", help="Network training epochs (study: 200).", min=1)]
LrOpt = Annotated[float, typer.Option("--learning-rate", help="Adam's step size (study: 5e-5).", min=0.0)]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Films per mini-batch (study: 16).", min=1)]
class Precision(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Network arithmetic: bfloat16 mixed precision "
                                                 "(several times faster on CPUs with AMX), float32, or auto (bfloat16 "
                                                 "where the CPU has native bfloat16 products).")]
ImvBinaryOpt = Annotated[bool, typer.Option(
    "--imv-binary-relevance", help="Instance majority voting with a random forest: one binary forest per genre, "
    "as the study decomposes it (about 5x the time), instead of one multi-output forest.")]
MaxInstOpt = Annotated[int, typer.Option("--max-instances", help="Frame level: at most this many evenly spaced "
                                         "frames per film (0: all).", min=0)]


class Level(str, Enum):
    cue = "cue"
    frame = "frame"


LevelOpt = Annotated[Level, typer.Option("--level", help="Instances: cues (mean of their frames, the study's "
                                         "better representation) or frames.")]


def _kinds(ws: Workspace, features: list[str] | None) -> list[str]:
    if features:
        return features
    folder = ws.root / "features"
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in _NOT_MUSIC) \
        if folder.is_dir() else []
    if not found:
        raise FeatureError(f"{folder}: no features in the workspace; run `scorelens features --kind vggish` "
                           "(and --kind mir) first, or pass --features FILE.parquet")
    return found


def _load(ws: Workspace, manifest: Path, features: list[str], level: str, max_instances: int):
    from scorelens.analysis.data import bags_from_table, feature_table_path, load_feature_table

    corpus = load_corpus(manifest, check_files=False)
    sets = []
    for item in features:
        path, kind = feature_table_path(ws.root, item, level)
        sets.append(bags_from_table(load_feature_table(path), corpus, level=level, max_instances=max_instances,
                                    kind=kind, source=str(path)))
    return corpus, sets


def _bar_factory(bar):
    def make(description: str, total: int):
        task = bar.add_task(description, total=total)
        return lambda n=1: bar.advance(task, n)
    return make


#: Instances per feature kind above which evaluate warns: IMV trains on every instance and
#: the networks' cost grows with them (the study-shaped cue-level corpus has ~4,400).
LARGE_CORPUS_INSTANCES = 50_000


def _warn_if_large(sets) -> None:
    for fs in sets:
        n = sum(len(b) for b in fs.bags)
        if n > LARGE_CORPUS_INSTANCES:
            log.warning("%s: %d %s-level instances (%.0f per film): instance majority voting fits every "
                        "instance in each of the folds and the networks' time grows with the instances, so "
                        "this sweep may take hours (the study-shaped cue-level corpus, ~4,400 instances, takes "
                        "about 45 min on 2 cores); --max-instances N keeps N evenly spaced frames per film, "
                        "--model picks fewer models", fs.kind, n, fs.level, n / max(1, len(fs.bags)))


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
    seed: SeedOpt = 0,
    hidden: HiddenOpt = 128,
    epochs: EpochsOpt = 200,
    learning_rate: LrOpt = 5e-5,
    batch_size: BatchOpt = 16,
    precision: PrecisionOpt = Precision.auto,
    max_instances: MaxInstOpt = 0,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Worker threads (default: "
                                                "PyTorch's thread count).", min=1)] = None,
    imv_binary_relevance: ImvBinaryOpt = False,
    sequential: Annotated[bool, typer.Option("--sequential", help="Train network folds one at a time (same "
                                             "numbers, slower; for checking).")] = False,
) -> None:
    """Cross-validate the genre models and write the study's Table 4 (Markdown, CSV, JSON)."""
    from scorelens.analysis.evaluation import RunCache, evaluate, write_evaluation

    config = ModelConfig(seed=seed, cv=cv, level=level.value, max_instances=max_instances, hidden=hidden,
                         epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                         precision=precision.value, imv_multi_output=not imv_binary_relevance)
    ws = Workspace(workspace)
    _, sets = _load(ws, manifest, _kinds(ws, features), level.value, max_instances)
    _warn_if_large(sets)
    t0 = time.perf_counter()
    folder = ws.path("results", "evaluation", level.value, "table4.md").parent
    # Each finished model run is saved at once: an interrupted sweep resumes where it stopped
    # (not with --sequential, which is there to recompute and check).
    cache = None if sequential else RunCache(ws, folder / "runs")
    with progress() as bar:
        evaluation = evaluate(sets, config, models=models, vectorise=not sequential, n_jobs=jobs,
                              progress=_bar_factory(bar), cache=cache)
    paths = write_evaluation(evaluation, folder, workspace=ws, inputs=sets)
    ws.save_settings("evaluate", config)
    table = Table(title=f"Table 4 · {len(evaluation.film_ids)} films · {config.cv} · {level.value}-level · "
                        f"seed {seed}")
    for col in ("Features", "Model", "Precision", "Recall", "F1", "p (vs random)"):
        table.add_column(col, justify="left" if col in ("Features", "Model") else "right")
    for r in evaluation.table4():
        p = r["p_precision"]
        table.add_row(r["features"], r["model"], f"{r['precision']:.2f}", f"{r['recall']:.2f}", f"{r['f1']:.2f}",
                      "" if r["key"] == "random" else ("n/a" if p != p else f"{p:.3g}"))
    console.print(table)
    if evaluation.missing:
        console.print(f"left out (no cues): {', '.join(evaluation.missing)}")
    console.print(f"{time.perf_counter() - t0:.1f} s · " + " · ".join(str(p) for p in paths.values()),
                  highlight=False, soft_wrap=True)


@app.command("train")
def train_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: ManifestOpt = Path("corpus.toml"),
    features: Annotated[str, typer.Option("--features", "-f", help="Feature kind in the workspace or a Parquet "
                                          "file.")] = "vggish",
    model: Annotated[str, typer.Option("--model", help="Model key: attention (default, the study's best), "
                                       "average, simple_mi:svm, imv:knn, …")] = "attention",
    level: LevelOpt = Level.cue,
    seed: SeedOpt = 0,
    hidden: HiddenOpt = 128,
    epochs: EpochsOpt = 200,
    learning_rate: LrOpt = 5e-5,
    batch_size: BatchOpt = 16,
    precision: PrecisionOpt = Precision.auto,
    max_instances: MaxInstOpt = 0,
    imv_binary_relevance: ImvBinaryOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Artifact path (default: "
                                                "WORKSPACE/results/models/<kind>-<model>.pt).", dir_okay=False)] = None,
) -> None:
    """Fit one genre model on the whole corpus and save it as an artifact for `scorelens predict`."""
    from scorelens.mil.artifact import GenreModel, save_artifact
    from scorelens.mil.models import display_name, make_model, normalise_key

    key = normalise_key(model)
    config = ModelConfig(seed=seed, level=level.value, max_instances=max_instances, hidden=hidden, epochs=epochs,
                         learning_rate=learning_rate, batch_size=batch_size, precision=precision.value,
                         imv_multi_output=not imv_binary_relevance)
    ws = Workspace(workspace)
    corpus, (fs,) = _load(ws, manifest, [features], level.value, max_instances)
    if len(fs.film_ids) < 2:
        raise ParameterError(f"training needs at least 2 films with cues, found {len(fs.film_ids)}")
    est = make_model(key, hidden=hidden, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                     threshold=config.threshold, precision=config.precision, random_state=seed,
                     imv_multi_output=config.imv_multi_output)
    t0 = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"training {display_name(key)} on {len(fs.film_ids)} films ({fs.kind})", total=None)
        est.fit(fs.bags, fs.Y)
        bar.update(task, total=1, completed=1)
    artifact = GenreModel(est, key, tuple(corpus.taxonomy), list(fs.feature_names), fs.kind, level.value,
                          fs.Y.mean(axis=0), settings={"ModelConfig": config.__dict__, "model": key},
                          trained_on=list(fs.film_ids))
    target = out or ws.path("results", "models", f"{fs.kind}-{key.replace(':', '_')}.pt")
    save_artifact(artifact, target)
    ws.save_settings("train", config)
    train_f1 = est.score(fs.bags, fs.Y)
    console.print(f"{display_name(key)} on {fs.kind} ({len(fs.feature_names)} features, {len(fs.film_ids)} films): "
                  f"training macro F1 {train_f1:.2f} (optimistic: seen films) · {time.perf_counter() - t0:.1f} s",
                  highlight=False)
    if fs.missing:
        console.print(f"left out (no cues): {', '.join(fs.missing)}")
    console.print(f"saved {target}", highlight=False, soft_wrap=True)
