"""The stages of a study: one contract, one declared graph, and the runner that walks it.

Every stage has one shape::

    run_<stage>(workspace, config, corpus, *, executor=None, progress=None) -> StageReport

``config`` is the whole :class:`~scorelens.config.StudyConfig` (each stage reads its own
sections), ``corpus`` the films to work on; every stage returns a :class:`StageReport` and
writes only through :meth:`~scorelens.workspace.Workspace.commit` at paths that
:class:`~scorelens.workspace.WorkspaceLayout` spells. :data:`STAGES` declares them, with what
each needs and writes; :func:`run` runs them in order (``scorelens run``), and each per-stage
command of the CLI calls the same function with the same settings.

The stage functions are imported on first use, so ``import scorelens.stages`` stays light.
"""

from scorelens.stages._contract import FilmTask, Stage, StageReport, StageSkipped, map_films
from scorelens.stages._graph import STAGES, plan_stages, stage_function

_LAZY = {
    "run": "scorelens.stages.run", "resolve_settings": "scorelens.stages.run", "RunReport": "scorelens.stages.run",
    "read_run_record": "scorelens.stages.run",
    "run_index": "scorelens.stages.stamp", "run_stamp": "scorelens.stages.stamp",
    "run_stamp_eval": "scorelens.stages.stamp", "stamp_single_film": "scorelens.stages.stamp",
    "run_features": "scorelens.stages.features", "compute_features": "scorelens.stages.features",
    "film_sources": "scorelens.stages.features", "load_features": "scorelens.stages.features",
    "run_visual": "scorelens.stages.visual", "compute_visual": "scorelens.stages.visual",
    "visual_sources": "scorelens.stages.visual",
    "run_evaluate": "scorelens.stages.evaluate", "evaluate_models": "scorelens.stages.evaluate",
    "run_train": "scorelens.stages.evaluate",
    "run_importance": "scorelens.stages.importance", "run_crossmodal": "scorelens.stages.crossmodal",
    "run_figures": "scorelens.stages.figures", "run_report": "scorelens.stages.report",
    "run_predict": "scorelens.stages.predict",
    "LocalExecutor": "scorelens.stages.executor", "DaskExecutor": "scorelens.stages.executor",
    "make_executor": "scorelens.stages.executor",
}

__all__ = ["STAGES", "Stage", "StageReport", "StageSkipped", "FilmTask", "map_films", "plan_stages", "stage_function",
           *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scorelens.stages' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
