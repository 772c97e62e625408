"""The study as a declared graph: every stage, what it needs and what it writes, listed once.

``scorelens run``, ``--stage``, the CLI's help and the docs all read :data:`STAGES`. A
stage's function is named as ``module:function`` and imported when the stage runs, so that
reading the list (``scorelens --help``) imports none of the stages' numerical libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from scorelens.exceptions import ParameterError
from scorelens.stages._contract import Stage, StageReport

__all__ = ["STAGES", "stage_function", "plan_stages", "check_stages", "stages_help"]


def _stage(name: str, target: str, needs: tuple[str, ...], help: str, writes: str, check: str | None = None) -> Stage:
    return Stage(name, target, needs, help, writes, check)  # type: ignore[arg-type] - resolved by stage_function


#: Every stage of the study, in pipeline order.
STAGES: dict[str, Stage] = {s.name: s for s in (
    _stage("index", "scorelens.stages._stamp:run_index", (),
           "fingerprint every soundtrack track", "the fingerprint database"),
    _stage("stamp", "scorelens.stages._stamp:run_stamp", ("index",),
           "find where each film plays its soundtrack: the cue tables", "cues/<film>.parquet"),
    _stage("features", "scorelens.stages._features:run_features", ("stamp",),
           "music features per cue of each kind (mir, musicnn, vggish)", "features/<kind>/",
           check="scorelens.stages._features:check_features"),
    _stage("visual", "scorelens.stages._visual:run_visual", ("stamp",),
           "brightness and contrast at 1 Hz and per cue", "features/visual/"),
    _stage("evaluate", "scorelens.stages._evaluate:run_evaluate", ("features",),
           "Table 4: every genre model, leave-one-out", "results/evaluation/<level>/"),
    _stage("importance", "scorelens.stages._importance:run_importance", ("features",),
           "Fig 3: permutation feature importance by group", "results/importance/<run>/"),
    _stage("crossmodal", "scorelens.stages._crossmodal:run_crossmodal", ("evaluate", "visual"),
           "Table 5: brightness and contrast by predicted genre", "results/crossmodal/"),
    _stage("figures", "scorelens.stages._figures:run_figures", ("stamp",),
           "PR curves, per-film scatter, cue timeline", "results/figures/"),
    _stage("report", "scorelens.stages._report:run_report", (),
           "the study's report", "results/report/"),
)}


def stage_function(stage: Stage | str) -> Callable[..., StageReport]:
    """The stage's ``run_<stage>`` function (imported now).

    Parameters
    ----------
    stage : Stage or str

    Returns
    -------
    callable
        ``run(workspace, config, corpus, *, executor=None, progress=None) -> StageReport``.
    """
    stage = STAGES[stage] if isinstance(stage, str) else stage
    return _resolve(stage.run)


def _resolve(target):
    if target is None or callable(target):
        return target
    module, _, name = str(target).partition(":")
    return getattr(importlib.import_module(module), name)


def check_stages(stages: Iterable[Stage], config, corpus) -> None:
    """Run the planned stages' checks: what can be known to fail before any work.

    Parameters
    ----------
    stages : iterable of Stage
    config : StudyConfig
    corpus : Corpus

    Raises
    ------
    ScorelensError
        The first check that fails, prefixed with its stage's name.
    """
    for stage in stages:
        check = _resolve(stage.check)
        if check is not None:
            check(config, corpus)


def plan_stages(wanted: Iterable[str] = ()) -> list[Stage]:
    """The stages to run, in pipeline order: ``wanted`` (all when empty).

    Parameters
    ----------
    wanted : iterable of str

    Returns
    -------
    list of Stage

    Raises
    ------
    ParameterError
        An unknown stage name.
    """
    wanted = list(wanted)
    unknown = [w for w in wanted if w not in STAGES]
    if unknown:
        raise ParameterError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    return [s for name, s in STAGES.items() if not wanted or name in wanted]


def stages_help() -> str:
    """One line per stage, ``name: what it does`` (the CLI's help reads it)."""
    return "; ".join(f"{s.name} ({s.help})" for s in STAGES.values())
