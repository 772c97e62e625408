"""The model stages: ``evaluate`` (cross-validated Table 4) and ``train`` (one model artifact)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scorelens.config import ModelConfig, StudyConfig
from scorelens.exceptions import ParameterError
from scorelens.stages._bags import feature_table, load_bags, music_kinds, warn_if_large
from scorelens.stages._contract import StageReport, StageSkipped, timed
from scorelens.stages._executor import Executor, Progress, no_progress
from scorelens.workspace import Workspace

__all__ = ["EvaluateReport", "run_evaluate", "evaluate_models", "write_evaluation", "check_enough_films", "TrainReport",
           "run_train"]

log = logging.getLogger(__name__)


@dataclass
class EvaluateReport:
    """Outcome of :func:`run_evaluate`.

    Attributes
    ----------
    evaluation : Evaluation or None
        The cross-validation (None when the outputs were reused without recomputing).
    paths : dict
        ``markdown``, ``csv``, ``json``, ``predictions`` (and ``weights``).
    reused : bool
        Every output was already there for the same inputs and settings.
    missing : list of str
        Films left out (no cues).
    """

    evaluation: object | None
    paths: dict[str, Path] = field(default_factory=dict)
    reused: bool = False
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    config: ModelConfig | None = None


def run_evaluate(workspace: Workspace, config: StudyConfig, corpus, *, executor: Executor | None = None,
                 progress: Progress | None = None) -> StageReport:
    """The ``evaluate`` stage: Table 4, the out-of-fold predictions and the instance weights of every model.

    Runs on the study's music feature kinds (:func:`~scorelens.stages._features.feature_kinds`)
    whose tables the workspace holds; a kind without features is a warning (missing VGGish
    weights leave MIR and musicnn). Skipped, not failed, when fewer than two films have cues
    (leave-one-out needs a film to leave out and one to train on).

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``model`` (and ``run.kinds``).
    corpus : Corpus
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    StageReport
        ``result``: the :class:`EvaluateReport`.
    """
    from scorelens.stages._features import feature_kinds

    t0 = time.perf_counter()
    report = StageReport("evaluate")
    kinds = [k for k in feature_kinds(config) if workspace.layout.features(k, "cue").is_file()
             or workspace.layout.features(k, "frame").is_file()]
    for k in feature_kinds(config):
        if k not in kinds:
            report.warn("no features of this kind in the workspace", kind=k)
    if not kinds:
        raise ParameterError(f"{workspace.layout.features_dir}: no music features to evaluate "
                             f"({', '.join(feature_kinds(config))}); run the features stage first")
    check_enough_films(workspace, corpus, kinds[0], config.model.level)
    rep = evaluate_models(workspace, config.model, corpus, features=kinds, executor=executor, progress=progress)
    done = StageReport.finished("evaluate", reused=rep.reused, outputs=rep.paths.values(), result=rep)
    done.warnings = report.warnings
    report = done
    for film in rep.missing:
        report.warn("no cues: left out of the models", film=film)
    report.detail = f"Table 4 of {len(corpus.films) - len(rep.missing)} film(s), {', '.join(kinds)}"
    return timed(report, t0)


def check_enough_films(workspace: Workspace, corpus, kind: str, level: str) -> None:
    """Raise :class:`StageSkipped` when fewer than two of the corpus' films have instances (no leave-one-out).

    Parameters
    ----------
    workspace : Workspace
    corpus : Corpus
    kind : str
        A feature kind whose table the workspace holds.
    level : {"cue", "frame"}

    Raises
    ------
    StageSkipped
    """
    import pandas as pd

    path, _ = feature_table(workspace, kind, level)
    ids = set(pd.read_parquet(path, columns=["film_id"])["film_id"].astype(str))
    with_cues = [f.id for f in corpus.films if f.id in ids]
    if len(with_cues) < 2:
        raise StageSkipped(f"{len(with_cues)} film(s) with cues: the models' leave-one-out needs at least 2")


def evaluate_models(workspace: Workspace, config: ModelConfig, corpus, *, features: Sequence[str] | None = None,
                    models: Sequence[str] | None = None, n_jobs: int | None = None, sequential: bool = False,
                    executor: Executor | None = None, progress: Progress | None = None) -> EvaluateReport:
    """Cross-validate the genre models and write Table 4, the predictions and instance weights.

    The work behind the ``evaluate`` stage (:func:`run_evaluate`), with the choices the stage
    leaves at their defaults: which feature tables, which models, how many workers.

    Parameters
    ----------
    workspace : Workspace
    config : ModelConfig
    corpus : Corpus
        Genre labels of the films.
    features : sequence of str, optional
        Feature kinds in the workspace, or Parquet files (default: every music kind there).
    models : sequence of str, optional
        Model keys or families (default: all of Table 4).
    n_jobs : int, optional
        Worker processes / threads (default: PyTorch's thread count).
    sequential : bool
        Train network folds one at a time and recompute every run (for checking).
    executor : Executor, optional
        A cluster on other machines (``--scheduler``) gets each network's folds in chunks
        (one per worker) and the Simple MI / IMV folds too; a local cluster (``--workers N``)
        only sets ``n_jobs`` to N, the folds running in this process; same numbers.
    progress : callable, optional

    Returns
    -------
    EvaluateReport
        ``reused`` when every output was already written for the same inputs and settings.
    """
    from scorelens.analysis._evaluation import RunCache, evaluate, evaluation_keys, inputs_digest
    from scorelens.mil._network import resolve_device, resolve_precision

    progress = progress or no_progress
    t0 = time.perf_counter()
    sets = load_bags(workspace, corpus, music_kinds(workspace, features), config.level, config.max_instances)
    warn_if_large(sets)
    layout = workspace.layout
    # Settings as run: "auto" and what it chose on this machine share their outputs.
    resolved = dataclasses.replace(config, precision=resolve_precision(config.precision),
                                   device=str(resolve_device(config.device)))
    missing = sorted(set().union(*[fs.missing for fs in sets]))
    # The outputs' key: the bags, labels, settings and models asked for.
    key = inputs_digest(sets, resolved, evaluation_keys(resolved, models))
    if not sequential:
        # Nothing changed since the last evaluation: its outputs stand (written under this key).
        outputs = {"markdown": layout.table4(config.level, "md"), "csv": layout.table4(config.level, "csv"),
                   "json": layout.table4(config.level, "json"), "predictions": layout.predictions(config.level)}
        if all(workspace.is_done(p, key) for p in outputs.values()):
            if workspace.is_done(layout.instance_weights(config.level), key):
                outputs["weights"] = layout.instance_weights(config.level)
            workspace.save_settings("evaluate", resolved)
            return EvaluateReport(None, outputs, reused=True, missing=missing, config=resolved,
                                  seconds=time.perf_counter() - t0)
    # Each finished model run is saved at once: an interrupted sweep resumes where it stopped
    # (not when sequential, which is there to recompute and check).
    cache = None if sequential else RunCache(workspace, layout.evaluation_runs(config.level))
    fold_map = n_chunks = None
    if executor is not None and executor.local_cluster:
        # A local cluster's workers share this machine's cores: the folds run here on as
        # many threads (networks) and processes (Simple MI, IMV) instead, without shipping
        # the bags to the workers per task (measured on 110 films, 2 cores: 85 s here
        # against 309 s through the cluster; the same numbers either way).
        n_jobs = n_jobs or executor.workers
    elif executor is not None and executor.distributed and not sequential:
        fold_map, n_chunks = (lambda fn, items: executor.run_all(fn, items, name="folds")), executor.workers
        n_jobs = n_jobs or executor.workers
    context = executor.joblib_backend() if fold_map is not None else contextlib.nullcontext()
    with context:
        evaluation = evaluate(sets, config, models=models, vectorise=not sequential, n_jobs=n_jobs,
                              progress=progress, cache=cache, fold_map=fold_map, n_chunks=n_chunks or 1)
    paths = write_evaluation(workspace, evaluation, key)
    workspace.save_settings("evaluate", evaluation.config)
    return EvaluateReport(evaluation, paths, missing=list(evaluation.missing), config=evaluation.config,
                          seconds=time.perf_counter() - t0)


def write_evaluation(workspace: Workspace, evaluation, key: str) -> dict[str, Path]:
    """Commit Table 4 (Markdown, CSV, JSON), the per-film predictions and the instance weights.

    Parameters
    ----------
    workspace : Workspace
    evaluation : Evaluation
    key : str
        The records' key (the inputs' and settings' digest).

    Returns
    -------
    dict of Path
        ``markdown``, ``csv``, ``json``, ``predictions``, ``weights`` (when any network ran).
    """
    import json

    layout, level = workspace.layout, evaluation.config.level
    writers = {
        "markdown": (layout.table4(level, "md"), lambda p: p.write_text(evaluation.to_markdown(), encoding="utf-8")),
        "csv": (layout.table4(level, "csv"), lambda p: evaluation.to_frame().to_csv(p, index=False)),
        "json": (layout.table4(level, "json"), lambda p: p.write_text(
            json.dumps(evaluation.to_json(), indent=2, default=float) + "\n", encoding="utf-8")),
        "predictions": (layout.predictions(level), lambda p: evaluation.predictions().to_parquet(p, index=False)),
    }
    weights = evaluation.instance_weights()
    if len(weights):
        writers["weights"] = (layout.instance_weights(level), lambda p: weights.to_parquet(p, index=False))
    meta = {"settings": dataclasses.asdict(evaluation.config)}
    return {name: workspace.commit(target, key, write, meta=meta) for name, (target, write) in writers.items()}


@dataclass
class TrainReport:
    """Outcome of :func:`run_train`: the artifact and its (optimistic) training F1."""

    path: Path
    key: str
    kind: str
    n_films: int
    n_features: int
    train_f1: float
    missing: list[str]
    seconds: float


def run_train(workspace: Workspace, config: ModelConfig, corpus, *, features: str = "musicnn",
              model: str = "attention", out: str | Path | None = None,
              progress: Progress | None = None) -> TrainReport:
    """Fit one genre model on the whole corpus and save it as an artifact for ``predict``.

    Parameters
    ----------
    workspace : Workspace
    config : ModelConfig
    corpus : Corpus
    features : str
        Feature kind in the workspace (default musicnn: works without user-supplied weights)
        or a Parquet file.
    model : str
        Model key (``attention``, ``average``, ``simple_mi:svm``, …).
    out : path, optional
        Artifact path (default: ``results/models/<kind>-<model>.pt`` in the workspace).
    progress : callable, optional

    Returns
    -------
    TrainReport
    """
    from scorelens.io._atomic import check_writable_target
    from scorelens.mil._artifact import GenreModel, read_feature_record, save_artifact
    from scorelens.mil._models import display_name, make_model, normalise_key
    from scorelens.mil._network import resolve_device

    progress = progress or no_progress
    key = normalise_key(model)
    if key.startswith("network:"):
        resolve_device(config.device)      # a GPU that is not there: said before any work
    if out is not None:
        check_writable_target(out, what="--out")
    (fs,) = load_bags(workspace, corpus, [features], config.level, config.max_instances)
    if len(fs.film_ids) < 2:
        raise ParameterError(f"training needs at least 2 films with cues, found {len(fs.film_ids)}")
    est = make_model(key, hidden=config.hidden, epochs=config.epochs, learning_rate=config.learning_rate,
                     batch_size=config.batch_size, threshold=config.threshold, precision=config.precision,
                     device=config.device, random_state=config.seed, imv_multi_output=config.imv_multi_output)
    t0 = time.perf_counter()
    advance = progress(f"training {display_name(key)} on {len(fs.film_ids)} films ({fs.kind})", 1)
    est.fit(fs.bags, fs.Y)
    advance(1)
    # The model keeps how its features were computed, so that predict computes exactly those.
    record = read_feature_record(feature_table(workspace, features, config.level)[0])
    if record is None:
        log.warning("%s: the features carry no scorelens record of their settings; the model will score features "
                    "you compute, but `scorelens predict` cannot compute them for it", features)
    artifact = GenreModel(est, key, tuple(corpus.taxonomy), list(fs.feature_names), fs.kind, config.level,
                          fs.Y.mean(axis=0), settings={"ModelConfig": dataclasses.asdict(config), "model": key},
                          trained_on=list(fs.film_ids), features=record)
    target = Path(out) if out is not None else workspace.layout.model(fs.kind, key)
    save_artifact(artifact, target)
    workspace.save_settings("train", config, train={"model": key, "features": fs.kind})
    return TrainReport(target, key, fs.kind, len(fs.film_ids), len(fs.feature_names), est.score(fs.bags, fs.Y),
                       list(fs.missing), time.perf_counter() - t0)
