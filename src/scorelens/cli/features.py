"""Feature commands: ``features`` (music features per cue) and ``visual`` (brightness and contrast)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import console, err_console, progress, state
from scorelens.cli.main import app
from scorelens.config import FeatureConfig, VisualConfig
from scorelens.corpus import load_corpus
from scorelens.exceptions import ParameterError
from scorelens.features.base import available_kinds, get_kind
from scorelens.features.pipeline import FilmSource, extract_features
from scorelens.features.visual import VisualSource, extract_visual
from scorelens.workspace import Workspace

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Output folder shared by all stages.",
                                            file_okay=False)]
ManifestOpt = Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Corpus manifest (TOML or CSV): "
                                                     "which films, and where their files are.", dir_okay=False,
                                                     exists=True)]
FilmOpt = Annotated[Optional[list[str]], typer.Option("--film", help="Only these film ids (repeatable).")]
KeepGoingOpt = Annotated[bool, typer.Option("--keep-going", help="Go on past failing films; report them all at the "
                                            "end (exit status 1).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even what the workspace already holds.")]
DEFAULT_WORKSPACE = Path("scorelens-work")


class AudioSource(str, Enum):
    track = "track"
    film = "film"


class GridMethod(str, Enum):
    linear = "linear"
    nearest = "nearest"


def _parse_options(items: list[str] | None) -> dict:
    options = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {item!r} must look like KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options[key.strip()] = value
    return options


def _cue_table(ws: Workspace, film_id: str) -> Path:
    parquet = ws.root / "cues" / f"{film_id}.parquet"
    csv = parquet.with_suffix(".csv")
    return csv if not parquet.exists() and csv.exists() else parquet


def _select(ids: list[str], wanted: list[str] | None, where: str) -> list[str]:
    if not wanted:
        return ids
    unknown = [w for w in wanted if w not in ids]
    if unknown:
        raise ParameterError(f"{where}: no film(s) {', '.join(unknown)} (known: {', '.join(ids) or 'none'})")
    return [i for i in ids if i in wanted]


@app.command("features")
def features_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    kind: Annotated[str, typer.Option("--kind", "-k", help="Feature kind: mir, vggish, musicnn or a registered "
                                      "one.")] = "mir",
    manifest: ManifestOpt = None,
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
    ws = Workspace(workspace)
    if manifest is not None:
        corpus = load_corpus(manifest)
        ids = _select([f.id for f in corpus.films], films, str(manifest))
        sources = [FilmSource(film_id=i, cues=_cue_table(ws, i), film=corpus.film(i).film) for i in ids]
    else:
        if config.audio == "film":
            raise ParameterError("--audio film needs --manifest (the film files are listed there)")
        found = sorted({p.stem for p in (ws.root / "cues").glob("*.parquet")}
                       | {p.stem for p in (ws.root / "cues").glob("*.csv")})
        if not found:
            raise ParameterError(f"{ws.root / 'cues'}: no cue tables; run `scorelens stamp` first or give --manifest")
        ids = _select(found, films, str(ws.root / "cues"))
        sources = [FilmSource(film_id=i, cues=_cue_table(ws, i)) for i in ids]
    feature_kind = get_kind(kind, **_parse_options(options))
    ws.save_settings(f"features-{kind}", config, {"kind": kind, "version": feature_kind.version,
                                                  "settings": feature_kind.settings()})
    with progress() as bar:
        films_task = bar.add_task(f"{kind} features", total=len(sources))
        cue_task = bar.add_task("cues", total=None, visible=False)

        def on_film_start(film_id: str, n_cues: int) -> None:
            bar.update(cue_task, description=f"  {film_id}", total=n_cues, completed=0, visible=True)

        def on_cue(film_id: str, done: int, total: int) -> None:
            bar.update(cue_task, completed=done)
            if done == total:
                bar.advance(films_task)

        report = extract_features(ws, feature_kind, sources, config=config, keep_going=keep_going, force=force,
                                  on_film_start=on_film_start, on_cue=on_cue)
        bar.update(films_task, completed=len(sources))
        bar.update(cue_task, visible=False)
    if not state.quiet:
        done = [f for f in report.films if f.error is None]
        computed = sum(f.computed for f in done)
        reused = sum(f.reused for f in done)
        cached = sum(1 for f in done if f.cached)
        skipped = sum(len(f.skipped) for f in done)
        console.print(f"{len(done)} film(s): {computed} cue(s) computed, {reused} reused, {cached} film(s) already "
                      f"done, {skipped} cue(s) skipped (too short)")
        if report.frames_path is not None:
            console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}")
    for f in report.failures:
        err_console.print(f"[red]failed:[/] {f.film_id}: {f.error}", highlight=False, soft_wrap=True)
    if report.failures:
        raise typer.Exit(1)


@app.command("visual")
def visual_command(
    manifest: Annotated[Path, typer.Option("--manifest", "-m", help="Corpus manifest (the film files).",
                                           dir_okay=False, exists=True)],
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
    corpus = load_corpus(manifest)
    ids = _select([f.id for f in corpus.films], films, str(manifest))
    sources = [VisualSource(film_id=i, film=corpus.film(i).film, cues=_cue_table(ws, i)) for i in ids]
    ws.save_settings("visual", config)
    with progress() as bar:
        films_task = bar.add_task("visual features", total=len(sources))
        film_task = bar.add_task("film", total=None, visible=False)

        def on_film(film_id: str, duration_s: float) -> None:
            bar.update(film_task, description=f"  {film_id} (s)", completed=0, visible=True,
                       total=round(duration_s) if duration_s == duration_s else None)

        def on_progress(film_id: str, t: float) -> None:
            bar.update(film_task, completed=round(t))

        report = None
        try:
            report = extract_visual(ws, sources, config=config, keep_going=keep_going, force=force,
                                    on_film=on_film, on_progress=on_progress)
        finally:
            bar.update(films_task, completed=len(sources))
            bar.update(film_task, visible=False)
    if not state.quiet:
        console.print(f"{len(report.films)} film(s) ({len(report.cached)} already done), "
                      f"{len(report.failures)} failed")
        if report.frames_path is not None:
            console.print(f"frame-level: {report.frames_path}\ncue-level:   {report.cues_path}")
    for film_id, message in report.failures.items():
        err_console.print(f"[red]failed:[/] {film_id}: {message}", highlight=False, soft_wrap=True)
    if report.failures:
        raise typer.Exit(1)
