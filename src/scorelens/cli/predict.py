"""``scorelens predict``: the whole chain for a new film -- stamp, features, trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scorelens.cli.common import console, progress, state
from scorelens.cli.main import app
from scorelens.cli.stamp import DEFAULT_WORKSPACE, DbOpt, WorkspaceOpt, _expand_tracks
from scorelens.config import FeatureConfig, StamperConfig
from scorelens.features.base import get_kind
from scorelens.features.pipeline import compute_film, cue_level, read_cues
from scorelens.io.audio import probe_audio
from scorelens.mil.artifact import load_artifact, predict_film
from scorelens.report.cuesheet import format_clock
from scorelens.stamp.cuetable import write_cue_table
from scorelens.stamp.pipeline import index_tracks, stamp_film
from scorelens.stamp.store import open_store
from scorelens.workspace import Workspace


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
    top: Annotated[int, typer.Option(help="Cues listed per predicted genre.", min=0)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Predict a film's genres from its music: find the cues, describe them, apply a trained model."""
    artifact = load_artifact(model)
    kind = get_kind(artifact.kind)
    film_id = film.stem
    ws = Workspace(workspace)
    config = StamperConfig()
    info = probe_audio(film)
    with open_store(db or ws.default_db, config, create=True) as store, progress() as bar:
        ids = [o.track_id for o in index_tracks(_expand_tracks(soundtrack), store, config)]
        task = bar.add_task(f"stamping {film.name}", total=round(info.duration_s, 1) if info.duration_s > 0 else None)
        stamped = stamp_film(film, store, config, film_id=film_id, track_ids=ids,
                             on_progress=lambda s: bar.advance(task, s))
        cue_path = ws.path("cues", f"{film_id}.parquet")
        write_cue_table(stamped.cues, cue_path, cue_path.with_suffix(".csv"))
        cues = read_cues(cue_path, film_id=film_id)
        feat_task = bar.add_task(f"{artifact.kind} features", total=max(len(cues), 1))
        frames = compute_film(kind, cues, config=FeatureConfig(), film_path=film,
                              on_cue=lambda done, total: bar.update(feat_task, completed=done))
    frames = frames.drop(columns=[c for c in ("unit", "rel_time_s") if c in frames.columns])
    table = cue_level(frames) if artifact.level == "cue" else frames
    prediction, instances = predict_film(artifact, table)
    by_cue = cues.set_index("cue_id")
    drivers = {}
    for genre in prediction.predicted:
        rows = []
        for position, weight in prediction.top_instances(genre, top):
            cue = by_cue.loc[int(instances.iloc[position]["cue_id"])]
            rows.append({"cue_id": int(instances.iloc[position]["cue_id"]), "track": cue["track"],
                         "start_s": float(cue["start_s"]), "end_s": float(cue["end_s"]), "weight": weight})
        drivers[genre] = rows
    if as_json:
        typer.echo(json.dumps({"film": str(film), "model": str(model), "model_key": artifact.key,
                               "features": artifact.kind, "cues": len(cues), "from_prior": prediction.from_prior,
                               "probabilities": {g: round(float(p), 4) for g, p in prediction.probabilities.items()},
                               "predicted": list(prediction.predicted), "cues_that_weighed_most": drivers},
                              indent=2))
        return
    if state.quiet:
        typer.echo(", ".join(prediction.predicted) or "(no genre above threshold)")
        return
    table_out = Table(title=f"{film.name}: genres from its music ({len(cues)} cues, {artifact.key} on "
                            f"{artifact.kind} features)")
    table_out.add_column("genre")
    table_out.add_column("probability", justify="right")
    table_out.add_column("predicted", justify="center")
    for genre, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        table_out.add_row(genre, f"{p:.2f}", "yes" if genre in prediction.predicted else "")
    console.print(table_out)
    if prediction.from_prior:
        console.print("no music of the soundtrack was found in the film: these are the training corpus' genre shares")
    for genre, rows in drivers.items():
        if rows:
            listing = "; ".join(f"{r['track']} {format_clock(r['start_s'])}-{format_clock(r['end_s'])} "
                                f"(weight {r['weight']:.2f})" for r in rows)
            console.print(f"{genre}: {listing}", highlight=False, soft_wrap=True)

