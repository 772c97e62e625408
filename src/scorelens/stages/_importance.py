"""The importance stage: permutation feature importance by feature group (the study's Fig 3)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from scorelens.config import ImportanceConfig, ModelConfig, StudyConfig
from scorelens.stages._bags import load_bags
from scorelens.stages._contract import StageReport, StageSkipped, timed
from scorelens.stages._executor import Executor, Progress, no_progress
from scorelens.workspace import Workspace

__all__ = ["ImportanceReport", "run_importance", "group_importance_of"]



def _outputs(layout, folder: Path) -> dict[str, Path]:
    """The files of one importance run, in the order they are written."""
    return {"md": layout.importance_summary(folder, "md"), "csv": layout.importance_summary(folder, "csv"),
            "json": layout.importance_summary(folder, "json"), "runs": layout.importance_runs(folder),
            "figure": layout.importance_figure(folder)}


@dataclass
class ImportanceReport:
    """Outcome of :func:`run_importance`.

    ``result`` is the :class:`~scorelens.analysis._importance.GroupImportance` (None when the
    outputs were reused); ``markdown`` the summary table either way.
    """

    folder: Path
    markdown: str
    result: object | None = None
    reused: bool = False
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_importance(workspace: Workspace, config: StudyConfig, corpus, *, executor: Executor | None = None,
                   progress: Progress | None = None) -> StageReport:
    """The ``importance`` stage: permutation feature importance by feature group (Fig 3).

    Skipped, not failed, when fewer than two films have cues, or when its feature kind
    (``importance.features``) is not among the study's kinds.

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``model`` and ``importance``.
    corpus : Corpus
    executor : Executor, optional
    progress : callable, optional

    Returns
    -------
    StageReport
        ``result``: the :class:`ImportanceReport`.
    """
    from scorelens.stages._evaluate import check_enough_films
    from scorelens.stages._features import feature_kinds

    t0 = time.perf_counter()
    kind = config.importance.features
    if kind not in feature_kinds(config):
        raise StageSkipped(f"its feature kind {kind!r} is not among the study's kinds "
                           f"({', '.join(feature_kinds(config))})")
    check_enough_films(workspace, corpus, kind, config.model.level)
    rep = group_importance_of(workspace, config.model, config.importance, corpus, executor=executor,
                              progress=progress)
    return timed(StageReport.finished("importance", reused=rep.reused, result=rep, detail=str(rep.folder),
                                      outputs=_outputs(workspace.layout, rep.folder).values()), t0)


def group_importance_of(workspace: Workspace, config: ModelConfig, importance: ImportanceConfig, corpus, *,
                        n_jobs: int | None = None, executor: Executor | None = None,
                        progress: Progress | None = None) -> ImportanceReport:
    """Score how much each feature group matters to a model's genre predictions (Fig 3).

    The work behind the ``importance`` stage (:func:`run_importance`), with the number of
    workers as a choice.

    Parameters
    ----------
    workspace : Workspace
    config : ModelConfig
        Cross-validation and training settings; ``importance.hidden`` replaces its ``hidden``.
    importance : ImportanceConfig
        Feature kind, model, hidden units and runs.
    corpus : Corpus
    n_jobs : int, optional
    executor : Executor, optional
        A distributed executor trains the fold models on its workers in chunks (one per
        worker; Simple MI / IMV folds through joblib's Dask backend); same numbers.
    progress : callable, optional

    Returns
    -------
    ImportanceReport
        Written to ``results/importance/<kind>-<model>-h<hidden>-<level>/``: ``pfi_summary.{md,csv,json}``,
        ``pfi_runs.parquet`` and ``fig3.png``.
    """
    from scorelens.analysis._evaluation import inputs_digest
    from scorelens.analysis._importance import group_importance
    from scorelens.mil._models import normalise_key
    from scorelens.mil._network import resolve_device, resolve_precision
    from scorelens.report._importance import plot_group_importance

    progress = progress or no_progress
    t0 = time.perf_counter()
    key = normalise_key(importance.model)
    config = dataclasses.replace(config, hidden=importance.hidden, precision=resolve_precision(config.precision),
                                 device=str(resolve_device(config.device)))
    (fs,) = load_bags(workspace, corpus, [importance.features], config.level, config.max_instances)
    folder = workspace.layout.importance_dir(fs.kind, key, importance.hidden, config.level)
    # "pfi-v2": the permutations are seeded by group name (v1 by position); v1 results are recomputed.
    digest = inputs_digest([fs], config, [key, f"runs={importance.runs}", "pfi-v2"])
    outputs = _outputs(workspace.layout, folder)
    workspace.save_settings("importance", config, importance)
    if all(workspace.is_done(p, digest) for p in outputs.values()):
        return ImportanceReport(folder, outputs["md"].read_text(encoding="utf-8"), reused=True,
                                missing=list(fs.missing), seconds=time.perf_counter() - t0)
    fold_map, n_chunks, context = None, 1, contextlib.nullcontext()
    if executor is not None and executor.distributed:
        fold_map, n_chunks = (lambda fn, items: executor.run_all(fn, items, name="folds")), executor.workers
        context = executor.joblib_backend()
    with context:
        result = group_importance(fs, key, config, runs=importance.runs, n_jobs=n_jobs, progress=progress,
                                  fold_map=fold_map, n_chunks=n_chunks)
    summary = result.summary()
    title = f"{fs.kind} · {key} · hidden {importance.hidden} · {importance.runs} runs"

    def save_figure(path: Path) -> None:
        plot_group_importance(summary, title=title).savefig(path, format="png", dpi=150)

    markdown = result.to_markdown()
    writers = {
        "md": lambda p: p.write_text(markdown, encoding="utf-8"),
        "csv": lambda p: summary.to_csv(p, index=False),
        "json": lambda p: p.write_text(json.dumps(result.to_json(), indent=2, default=float) + "\n",
                                       encoding="utf-8"),
        "runs": lambda p: result.runs_frame().to_parquet(p, index=False),
        "figure": save_figure,
    }
    for name, write in writers.items():
        workspace.commit(outputs[name], digest, write, meta={"settings": dataclasses.asdict(config), "model": key,
                                                             "runs": importance.runs})
    return ImportanceReport(folder, markdown, result=result, missing=list(fs.missing),
                            seconds=time.perf_counter() - t0)
