"""The crossmodal stage: brightness and contrast of the music's clips by genre (the study's Table 5)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scorelens.config import CrossModalConfig, StudyConfig, settings_digest
from scorelens.exceptions import FeatureError
from scorelens.io._audio import file_digest
from scorelens.stages._contract import StageReport, timed
from scorelens.workspace import Workspace

__all__ = ["CrossModalReport", "run_crossmodal", "table5_of", "read_clips"]


@dataclass
class CrossModalReport:
    """Outcome of :func:`run_crossmodal`: the Table 5 result and the files written."""

    result: object
    paths: list[Path]
    reused: bool = False


def read_clips(workspace: Workspace) -> tuple[pd.DataFrame, Path]:
    """The visual stage's per-cue medians (the clips of Table 5).

    Parameters
    ----------
    workspace : Workspace

    Returns
    -------
    clips : pd.DataFrame
        The visual stage's cue-level table.
    path : Path
        The file it was read from.

    Raises
    ------
    FeatureError
        Missing, unreadable or empty.
    """
    path = workspace.layout.features("visual", "cue")
    if not path.is_file():
        raise FeatureError(f"{path}: no visual cue summaries; run `scorelens stamp` and then `scorelens visual "
                           "--manifest MANIFEST` first")
    try:
        clips = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a malformed file
        raise FeatureError(f"{path}: cannot read the visual cue summaries ({exc})") from exc
    if clips.empty:
        raise FeatureError(f"{path}: holds no cue clips (`scorelens visual` found no cue tables); run `scorelens "
                           "stamp` and then `scorelens visual` again")
    return clips, path


def run_crossmodal(workspace: Workspace, config: StudyConfig, corpus, *, executor=None, progress=None) -> StageReport:
    """The ``crossmodal`` stage: Table 5 from the evaluation's predictions and the visual cue summaries.

    Without ``crossmodal.features``, the model's feature kind is vggish when it was evaluated,
    else musicnn, else the first kind evaluated.

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``crossmodal``.
    corpus : Corpus
    executor, progress :
        Unused: Table 5 trains nothing.

    Returns
    -------
    StageReport
        ``result``: the :class:`CrossModalReport`.
    """
    import time

    from scorelens.analysis._predictions import available_runs, read_predictions

    t0 = time.perf_counter()
    cm = config.crossmodal
    if cm.features is None:
        kinds = list(dict.fromkeys(k for k, _ in available_runs(read_predictions(
            workspace.layout.predictions(cm.level))) if k != "none"))
        if kinds:
            cm = dataclasses.replace(cm, features=next((k for k in ("vggish", "musicnn") if k in kinds), kinds[0]))
    rep = table5_of(workspace, cm, corpus)
    detail = f"Table 5 ({rep.result.features}, {rep.result.model}): {rep.paths[0]}"
    return timed(StageReport.finished("crossmodal", reused=rep.reused, outputs=rep.paths, result=rep, detail=detail),
                 t0)


def table5_of(workspace: Workspace, config: CrossModalConfig, corpus) -> CrossModalReport:
    """Table 5 from the evaluation's out-of-fold predictions and the visual cue summaries.

    The work behind the ``crossmodal`` stage (:func:`run_crossmodal`).

    Trains nothing: reads ``evaluate``'s predictions and ``visual``'s per-cue medians, and
    writes ``results/crossmodal/table5.{md,csv,json}``.

    Parameters
    ----------
    workspace : Workspace
    config : CrossModalConfig
    corpus : Corpus
        The films' true genres (Actual and False Positive sources).

    Returns
    -------
    CrossModalReport
    """
    from scorelens.analysis._crossmodal import cross_modal
    from scorelens.analysis._predictions import read_predictions

    layout = workspace.layout
    pred_path = layout.predictions(config.level)
    predictions = read_predictions(pred_path)
    clips, clips_path = read_clips(workspace)
    result = cross_modal(clips, predictions, model=config.model, features=config.features, alpha=config.alpha,
                         true_labels={f.id: f.genres for f in corpus.films})
    resolved = dataclasses.replace(config, features=result.features, model=result.model)
    settings = {**dataclasses.asdict(resolved), "manifest": str(corpus.path)}
    key = settings_digest({"inputs": [file_digest(pred_path), file_digest(clips_path)], "settings": settings})
    writers = {"md": lambda p: p.write_text(result.to_markdown(), encoding="utf-8"),
               "csv": lambda p: result.to_frame().to_csv(p, index=False),
               "json": lambda p: p.write_text(result.to_json_text(), encoding="utf-8")}
    paths, reused = [], True
    for fmt, write in writers.items():
        target = layout.table5(fmt)
        if not workspace.is_done(target, key):
            reused = False
            workspace.commit(target, key, write, meta={"settings": settings,
                                                       "inputs": [str(pred_path), str(clips_path)]})
        paths.append(target)
    workspace.save_settings("crossmodal", resolved)
    return CrossModalReport(result, paths, reused)
