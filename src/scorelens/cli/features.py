"""Feature commands: ``features`` (music features per cue) and ``visual`` (brightness and contrast)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    FilmOpt,
    ForceOpt,
    KeepGoingOpt,
    ManifestOpt,
    OptionalManifestOpt,
    WorkspaceOpt,
    console,
    print_failures,
    progress,
    stage_progress,
    state,
)
from scorelens.cli.main import app
from scorelens.config import FeatureConfig, VisualConfig, parse_assignments
from scorelens.corpus import load_corpus
from scorelens.exceptions import ParameterError
from scorelens.features.base import available_kinds
from scorelens.stages.features import film_sources, run_features
from scorelens.stages.visual import run_visual, visual_sources
from scorelens.workspace import Workspace


class AudioSource(str, Enum):
    track = "track"
    film = "film"


class GridMethod(str, Enum):
    linear = "linear"
    nearest = "nearest"


@app.command("features")
def features_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    kind: Annotated[str, typer.Option("--kind", "-k", help="Feature kind: mir, vggish, musicnn or a registered "
                                      "one.")] = "mir",
    manifest: OptionalManifestOpt = None,
    films: FilmOpt = None,
    audio: Annotated[AudioSource, typer.Option("--audio", help="track: the soundtrack track's own audio over each "
                                               "cue (clean music); film: the film's mixed audio (needs "
                                               "--manifest).")] = AudioSource.track,
    grid: Annotated[GridMethod, typer.Option("--grid", help="How native frames go onto the 1 Hz grid.")
                    ] = GridMethod.linear,
    options: Annotated[Optional[list[str]], typer.Option("--set", help="A setting of the kind, KEY=VALUE "
                                                         "(repeatable), e.g. --set n_fft=4096.")] = None,
    keep_going: KeepGoingOpt = False,
    force: ForceOpt = False,
) -> None:
    """Describe the music of every cue: frame-level and cue-level features in WORKSPACE/features/KIND/."""
    if kind not in available_kinds():
        raise ParameterError(f"unknown feature kind {kind!r}; known kinds: {', '.join(available_kinds())}")
    config = FeatureConfig(audio=audio.value, grid_method=grid.value)
    if config.audio == "film" and manifest is None:
        raise ParameterError("--audio film needs --manifest (the film files are listed there)")
    ws = Workspace(workspace)
    corpus = load_corpus(manifest) if manifest is not None else None
    sources = film_sources(ws, corpus, films)
    with progress() as bar:
        report = run_features(ws, config, sources, kind=kind, kind_options=parse_assignments(options),
                              keep_going=keep_going, force=force, progress=stage_progress(bar))
    if not state.quiet:
        done = [f for f in report.films if f.error is None]
        computed = sum(f.computed for f in done)
        reused = sum(f.reused for f in done)
        cached = sum(1 for f in done if f.cached)
        skipped = sum(len(f.skipped) for f in done)
        console.print(f"{len(done)} film(s): {computed} cue(s) computed, {reused} reused, {cached} film(s) already "
                      f"done, {skipped} cue(s) skipped (too short)")
        if report.frames_path is not None:
            console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}", highlight=False,
                          soft_wrap=True)
    print_failures(report.failed)
    if report.failures:
        raise typer.Exit(1)


@app.command("visual")
def visual_command(
    manifest: ManifestOpt,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    films: FilmOpt = None,
    width: Annotated[int, typer.Option(help="Frames are scaled to this width before measuring.", min=8)] = 160,
    rate: Annotated[float, typer.Option(help="Frames sampled per second (the study: 1).")] = 1.0,
    keep_going: KeepGoingOpt = False,
    force: ForceOpt = False,
) -> None:
    """Screen brightness and contrast at 1 Hz, and their medians over each cue, in WORKSPACE/features/visual/."""
    config = VisualConfig(rate_hz=rate, width=width)
    ws = Workspace(workspace)
    sources = visual_sources(ws, load_corpus(manifest), films)
    with progress() as bar:
        report = run_visual(ws, config, sources, keep_going=keep_going, force=force, progress=stage_progress(bar))
    if not state.quiet:
        console.print(f"{len(report.films)} film(s) ({len(report.cached)} already done), "
                      f"{len(report.failures)} failed")
        if report.frames_path is not None:
            console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}", highlight=False,
                          soft_wrap=True)
    print_failures(report.failures)
    if report.failures:
        raise typer.Exit(1)
