"""Feature commands: ``features`` (music features per cue) and ``visual`` (brightness and contrast)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    FilmOpt,
    ForceOpt,
    KeepGoingOpt,
    ManifestOpt,
    OptionalManifestOpt,
    RetryOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    err_console,
    print_stage,
    progress,
    stage_progress,
    state,
    study_settings,
)
from scorelens.cli.main import app
from scorelens.exceptions import ParameterError


class AudioSource(str, Enum):
    track = "track"
    film = "film"


class GridMethod(str, Enum):
    linear = "linear"
    nearest = "nearest"


@app.command("features")
def features_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    kind: Annotated[Optional[list[str]], typer.Option("--kind", "-k", help="Feature kind (repeatable): mir, vggish, "
                                                      "musicnn or a registered one (run.kinds: mir and musicnn by "
                                                      "default).")] = None,
    manifest: OptionalManifestOpt = None,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    films: FilmOpt = None,
    audio: Annotated[Optional[AudioSource], typer.Option("--audio", help="track: the soundtrack track's own audio over "
                                                         "each cue (clean music); film: the film's mixed audio (needs "
                                                         "--manifest) (features.audio).")] = None,
    grid: Annotated[Optional[GridMethod], typer.Option("--grid", help="How native frames go onto the 1 Hz grid "
                                                       "(features.grid_method).")] = None,
    keep_going: KeepGoingOpt = False,
    retry_failed: RetryOpt = False,
    force: ForceOpt = False,
) -> None:
    """Describe the music of every cue: frame-level and cue-level features in WORKSPACE/features/KIND/.

    Settings as `scorelens run` reads them: the manifest's [settings], --config, then --set
    SECTION.NAME=VALUE (e.g. --set mir.texture_window_s=4 --set embeddings.musicnn_model=MSD_musicnn).
    """
    from scorelens.corpus import load_corpus
    from scorelens.stages._features import compute_features, film_sources, kind_options, run_features, unusable_kinds
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, run__kinds=list(kind) if kind else None,
                           features__audio=audio, features__grid_method=grid, run__keep_going=keep_going or None,
                           run__retry_failed=retry_failed or None, run__force=force or None)
    if study.features.audio == "film" and manifest is None:
        raise ParameterError("--audio film needs --manifest (the film files are listed there)")
    unusable = unusable_kinds(study, study.run.kinds)
    if unusable:
        name, reason = next(iter(unusable.items()))
        raise ParameterError(reason if reason.startswith("unknown feature kind") else f"{name}: {reason}")
    ws = Workspace(workspace)
    reports = {}
    with progress() as bar:
        if manifest is not None:
            stage = run_features(ws, study, load_corpus(manifest).select(films), progress=stage_progress(bar))
            reports = stage.result
            failures = stage.failures
        else:
            # The workspace's own cue tables (no manifest): films stamped one by one.
            sources = film_sources(ws, None, films)
            failures = []
            for k in study.run.kinds:
                reports[k] = compute_features(ws, study.features, sources, kind=k, kind_options=kind_options(study, k),
                                              keep_going=study.run.keep_going, force=study.run.force,
                                              retry_failed=study.run.retry_failed, progress=stage_progress(bar))
                failures += [{"film": f, "kind": k, "reason": r} for f, r in reports[k].failed.items()]
    if not state.quiet:
        for name, report in reports.items():
            done = [f for f in report.films if f.error is None]
            computed = sum(f.computed for f in done)
            reused = sum(f.reused for f in done)
            cached = sum(1 for f in done if f.cached)
            skipped = sum(len(f.skipped) for f in done)
            console.print(f"{name}: {len(done)} film(s): {computed} cue(s) computed, {reused} reused, {cached} film(s) "
                          f"already done, {skipped} cue(s) skipped (too short)")
            if report.frames_path is not None:
                console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}", highlight=False,
                              soft_wrap=True)
    for f in failures:
        err_console.print(f"[red]failed:[/] {f.get('film') or f.get('kind')}: {f['reason']}", highlight=False,
                          soft_wrap=True)
    if failures:
        raise typer.Exit(1)


@app.command("visual")
def visual_command(
    manifest: ManifestOpt,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    films: FilmOpt = None,
    width: Annotated[Optional[int], typer.Option(help="Frames are scaled to this width before measuring "
                                                 "(visual.width).", min=8)] = None,
    rate: Annotated[Optional[float], typer.Option(help="Frames sampled per second (visual.rate_hz).")] = None,
    keep_going: KeepGoingOpt = False,
    retry_failed: RetryOpt = False,
    force: ForceOpt = False,
) -> None:
    """Screen brightness and contrast at 1 Hz, and their medians over each cue, in WORKSPACE/features/visual/."""
    from scorelens.corpus import load_corpus
    from scorelens.stages._visual import run_visual
    from scorelens.workspace import Workspace

    study = study_settings(manifest, config, settings, visual__width=width, visual__rate_hz=rate,
                           run__keep_going=keep_going or None, run__retry_failed=retry_failed or None,
                           run__force=force or None)
    ws = Workspace(workspace)
    with progress() as bar:
        stage = run_visual(ws, study, load_corpus(manifest).select(films), progress=stage_progress(bar))
    report = stage.result
    if not state.quiet:
        console.print(f"{len(report.films)} film(s) ({len(report.cached)} already done), "
                      f"{len(report.failures)} failed")
        if report.frames_path is not None:
            console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}", highlight=False,
                          soft_wrap=True)
    print_stage(stage)
    if stage.failures:
        raise typer.Exit(1)
