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

from scorelens._lazy import lazy_exports
from scorelens.stages._contract import FilmTask, Stage, StageReport, StageSkipped, map_films
from scorelens.stages._graph import STAGES, plan_stages, stage_function

_LAZY = {
    "run": "scorelens.stages._run", "resolve_settings": "scorelens.stages._run", "RunReport": "scorelens.stages._run",
    "read_run_record": "scorelens.stages._run",
    "run_index": "scorelens.stages._stamp", "run_stamp": "scorelens.stages._stamp",
    "run_stamp_eval": "scorelens.stages._stamp", "stamp_single_film": "scorelens.stages._stamp",
    "run_features": "scorelens.stages._features", "compute_features": "scorelens.stages._features",
    "film_sources": "scorelens.stages._features", "load_features": "scorelens.stages._features",
    "run_visual": "scorelens.stages._visual", "compute_visual": "scorelens.stages._visual",
    "visual_sources": "scorelens.stages._visual",
    "run_evaluate": "scorelens.stages._evaluate", "evaluate_models": "scorelens.stages._evaluate",
    "run_train": "scorelens.stages._evaluate",
    "run_importance": "scorelens.stages._importance", "run_crossmodal": "scorelens.stages._crossmodal",
    "run_figures": "scorelens.stages._figures", "run_report": "scorelens.stages._report",
    "run_predict": "scorelens.stages._predict",
    "LocalExecutor": "scorelens.stages._executor", "DaskExecutor": "scorelens.stages._executor",
    "make_executor": "scorelens.stages._executor",
}

__all__ = ["STAGES", "Stage", "StageReport", "StageSkipped", "FilmTask", "map_films", "plan_stages", "stage_function",
           *_LAZY]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
