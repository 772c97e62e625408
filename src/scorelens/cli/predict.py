"""``scorelens predict``: the whole chain for a new film -- stamp, features, trained model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    DbOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    err_console,
    progress,
    state,
    study_settings,
)
from scorelens.cli.main import app
from scorelens.cli.stamp import expand_tracks


@app.command("predict")
def predict_command(
    film: Annotated[Path, typer.Argument(help="The new film (any container FFmpeg reads).", exists=True,
                                         dir_okay=False)],
    soundtrack: Annotated[list[Path], typer.Option("--soundtrack", "-s", help="Its soundtrack: a folder or track "
                                                   "files (repeatable).", exists=True)],
    model: Annotated[Path, typer.Option("--model", help="A model artifact from `scorelens train`.", exists=True,
                                        dir_okay=False)],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    db: DbOpt = None,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    top: Annotated[int, typer.Option(help="Cues listed per predicted genre.", min=0)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Predict a film's genres from its music: find the cues, describe them with the features the model was
    trained on (its recorded kind and settings), apply the model.

    The stamper's settings and where the embedding weights are (embeddings.vggish_dir) are read as
    `scorelens run` reads them: --config, then --set SECTION.NAME=VALUE (e.g. --set stamp.speed=1.0);
    the feature settings come from the model itself."""
    from rich.markup import escape
    from rich.table import Table

    from scorelens.io._audio import probe_audio
    from scorelens.mil._artifact import LegacyArtifactWarning, load_artifact
    from scorelens.report._cuesheet import format_clock
    from scorelens.stages._predict import run_predict
    from scorelens.workspace import Workspace

    study = study_settings(None, config, settings, run__db=db)
    with warnings.catch_warnings():
        # A format-1 model is refused below in one line that says why; its warning would only repeat it.
        warnings.simplefilter("ignore", LegacyArtifactWarning)
        artifact = load_artifact(model)  # a bad artifact is one line before any work
    artifact.feature_pipeline(embeddings=study.embeddings)  # so is one whose features cannot be computed here
    info = probe_audio(film)
    with progress() as bar:
        task = bar.add_task(f"stamping {film.name}", total=round(info.duration_s, 1) if info.duration_s > 0 else None)
        report = run_predict(Workspace(workspace), study.stamp, film, soundtrack=expand_tracks(soundtrack),
                             model=artifact, embeddings=study.embeddings, db=study.run.db, top=top,
                             on_progress=lambda s: bar.advance(task, s))
    for w in report.warnings:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    prediction, artifact = report.prediction, report.artifact
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    if state.quiet:
        typer.echo(", ".join(prediction.predicted) or "(no genre above threshold)")
        return
    table_out = Table(title=f"{escape(film.name)}: genres from its music ({len(report.cues)} cues, {artifact.key} on "
                            f"{artifact.kind} features)")
    table_out.add_column("genre")
    table_out.add_column("probability", justify="right")
    table_out.add_column("predicted", justify="center")
    for genre, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        table_out.add_row(genre, f"{p:.2f}", "yes" if genre in prediction.predicted else "")
    console.print(table_out)
    if prediction.from_prior:
        console.print("no music of the soundtrack was found in the film: these are the training corpus' genre shares")
    for genre, rows in report.drivers.items():
        if rows:
            listing = "; ".join(f"{r['track']} {format_clock(r['start_s'])}-{format_clock(r['end_s'])} "
                                f"(weight {r['weight']:.2f})" for r in rows)
            console.print(f"{genre}: {listing}", highlight=False, soft_wrap=True)
