"""``scorelens demo``: the whole pipeline on a synthetic corpus made on the spot, needing nothing from the user."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import console, err_console, progress, state
from scorelens.cli.main import app
from scorelens.cli.run import SetOpt, execute, show_run
from scorelens.cli.stamp import print_cues
from scorelens.config import parse_assignments, settings_digest
from scorelens.exceptions import WorkspaceError
from scorelens.workspace import Workspace

#: The demo corpus: 12 films of 1.5 minutes, 5.1 sound in four containers, music at 0/-5/-10 dB.
DEMO_FILMS, DEMO_MINUTES = 12, 1.5


def write_demo_corpus(folder: Path, *, films: int, seed: int, film_duration_s: float) -> Path:
    """Write the demo's synthetic films, soundtracks, annotations and manifest into ``folder``."""
    from scorelens.demo._films import make_corpus
    from scorelens.demo._synth import SpeechFallbackWarning

    with progress() as bar, warnings.catch_warnings():
        # Without espeak-ng the fallback to babble is logged at WARNING as it happens (and the
        # demo says it again at the end): its warnings.warn would only repeat that line here.
        warnings.simplefilter("ignore", SpeechFallbackWarning)
        task = bar.add_task("making demo films", total=films)
        return make_corpus(folder, n_films=films, film_duration_s=film_duration_s, seed=seed,
                           levels_db=(0.0, -5.0, -10.0), channels=6, containers=("mp4", "mkv", "mov", "webm"),
                           progress=lambda _: bar.advance(task))


def show_dialogue(speech: str) -> None:
    """Say what the demo films' dialogue is; babble instead of speech as a warning on stderr."""
    from scorelens.demo._synth import BABBLE

    if speech == BABBLE:
        err_console.print(f"[yellow]warning:[/] demo: the films' dialogue is {BABBLE}, not speech, because espeak-ng "
                          "is not installed (scripts/setup.sh installs it): the Score Stamper meets other sound over "
                          "the music than dialogue", highlight=False, soft_wrap=True)
    elif not state.quiet:
        console.print(f"demo films' dialogue: {speech}", highlight=False, soft_wrap=True)


def ensure_demo_corpus(ws: Workspace, *, films: int, seed: int, film_duration_s: float) -> tuple[Path, str]:
    """Make the demo corpus in the workspace's ``corpus/`` unless the same one is already there.

    Returns the manifest and what the films' dialogue is (:func:`synth.speech_source`), which is
    part of the corpus's key: installing espeak-ng after a demo on babble makes the films again.
    """
    from scorelens.demo._synth import speech_source

    speech = speech_source()
    params = {"films": films, "seed": seed, "film_duration_s": film_duration_s, "version": 2, "speech": speech}
    manifest = ws.layout.corpus_manifest
    key = settings_digest(params)
    if ws.is_done(manifest, key):
        return manifest, speech
    tmp_manifest = write_demo_corpus(ws.layout.corpus_dir, films=films, seed=seed, film_duration_s=film_duration_s)
    # make_corpus wrote the manifest last; record it so a re-run reuses the films.
    ws.commit(manifest, key, lambda tmp: tmp.write_bytes(tmp_manifest.read_bytes()), meta=params)
    return manifest, speech


@app.command("demo")
def demo_command(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Where the demo's films and outputs go.",
                                            file_okay=False)] = Path("scorelens-demo"),
    films: Annotated[int, typer.Option(help="Number of synthetic films.", min=2, max=60)] = DEMO_FILMS,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus and of the models.")] = 0,
    minutes: Annotated[float, typer.Option(help="Length of each film in minutes.", min=0.5, max=30)] = DEMO_MINUTES,
    stamp_only: Annotated[bool, typer.Option("--stamp-only", help="Stop after the Score Stamper.")] = False,
    corpus_only: Annotated[Optional[Path], typer.Option(
        "--corpus-only", help="Only write the synthetic films and their manifest (corpus.toml) into this folder, "
        "to run the pipeline on yourself (`scorelens run DIR/corpus.toml`).", file_okay=False)] = None,
    settings: SetOpt = None,
) -> None:
    """Run scorelens end to end on synthetic films with known cues and genre-typical music.

    Makes the films (its own music in six genre styles, spoken dialogue, effects, H.264
    video, AAC / AC-3 / PCM / Opus sound in MP4, MKV, MOV and WebM) in WORKSPACE/corpus and
    runs `scorelens run` on them: the Score Stamper (scored against the known cues), MIR and
    musicnn features (and VGGish when SCORELENS_VGGISH_DIR points at its weights),
    brightness and contrast, Table 4, Fig 3, Table 5, the figures and the report
    (results/report/report.html).
    """
    import pandas as pd

    from scorelens.corpus import load_corpus
    from scorelens.demo._synth import speech_source
    from scorelens.stages._run import resolve_settings
    from scorelens.stamp._cuetable import read_cue_table

    if corpus_only is not None:
        if corpus_only.exists() and any(corpus_only.iterdir()):
            raise WorkspaceError(f"{corpus_only}: folder is not empty; --corpus-only writes into a new or empty folder")
        speech = speech_source()
        manifest = write_demo_corpus(corpus_only, films=films, seed=seed, film_duration_s=minutes * 60)
        console.print(f"demo corpus: {manifest} ({films} films); run it with `scorelens run {manifest} -w WORKSPACE`",
                      highlight=False, soft_wrap=True)
        show_dialogue(speech)
        return
    # Checked before the films are made, so a mistyped setting fails at once.
    overrides = {**parse_assignments(settings), "model.seed": seed}
    resolve_settings(overrides=overrides)
    ws = Workspace(workspace)
    manifest, speech = ensure_demo_corpus(ws, films=films, seed=seed, film_duration_s=minutes * 60)
    if stamp_only:
        overrides["run.stages"] = ["index", "stamp"]
    report = execute(manifest, ws.root, overrides=overrides)
    if not state.quiet:
        corpus = load_corpus(manifest, check_files=False)
        for film in corpus.films:
            path = ws.layout.cue_table(film.id)
            if path.exists():
                print_cues(read_cue_table(path, film_id=film.id), f"{film.id} ({', '.join(film.genres)})")
        evaluation = ws.layout.stamp_eval()
        if evaluation.exists():
            import json

            scores = json.loads(evaluation.read_text(encoding="utf-8"))
            console.print(pd.DataFrame(scores["per_film"]).round(3).to_string(index=False))
            console.print(f"\nScore Stamper on {len(corpus)} demo films (mean over films; the study's Dejavu: "
                          f"precision 0.94, recall 0.47):")
            console.print(pd.Series(scores["mean"]).round(3).to_string())
        for level in ("cue",):
            table4 = ws.layout.table4(level, "md")
            if table4.exists():
                console.print(table4.read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
        table5 = ws.layout.table5("md")
        if table5.exists():
            console.print(table5.read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
    show_run(report)
    show_dialogue(speech)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
