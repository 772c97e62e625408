"""``scorelens demo``: the whole pipeline on a synthetic corpus made on the spot, needing nothing from the user."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from scorelens.cli.common import console, progress, state
from scorelens.cli.main import app
from scorelens.cli.stamp import _print_cues
from scorelens.config import StamperConfig, settings_digest
from scorelens.corpus import load_corpus
from scorelens.demo.films import make_corpus
from scorelens.stamp.cuetable import read_cue_table
from scorelens.stamp.evaluate import evaluate_cues, summarise
from scorelens.stamp.pipeline import stamp_corpus
from scorelens.stamp.store import open_store
from scorelens.workspace import Workspace


def ensure_demo_corpus(ws: Workspace, *, films: int, seed: int, film_duration_s: float) -> Path:
    """Make the demo corpus in ``WORKSPACE/corpus`` unless the same one is already there."""
    params = {"films": films, "seed": seed, "film_duration_s": film_duration_s, "version": 2}
    manifest = ws.path("corpus", "corpus.toml")
    key = settings_digest(params)
    if ws.is_done(manifest, key):
        return manifest
    with progress() as bar:
        task = bar.add_task("making demo films", total=films)
        tmp_manifest = make_corpus(ws.path("corpus"), n_films=films, film_duration_s=film_duration_s, seed=seed,
                                   levels_db=(0.0, -5.0, -10.0), channels=6,
                                   containers=("mp4", "mkv", "mov", "webm"), progress=lambda _: bar.advance(task))
    # make_corpus wrote the manifest last; record it so a re-run reuses the films.
    ws.commit(manifest, key, lambda tmp: tmp.write_bytes(tmp_manifest.read_bytes()), meta=params)
    return manifest


@app.command("demo")
def demo_command(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Where the demo's films and outputs go.",
                                            file_okay=False)] = Path("scorelens-demo"),
    films: Annotated[int, typer.Option(help="Number of synthetic films.", min=2, max=60)] = 12,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus and of the models.")] = 0,
    minutes: Annotated[float, typer.Option(help="Length of each film in minutes.", min=0.5, max=30)] = 1.5,
    stamp_only: Annotated[bool, typer.Option("--stamp-only", help="Stop after the Score Stamper.")] = False,
) -> None:
    """Run scorelens end to end on synthetic films with known cues and genre-typical music.

    Makes the films, indexes their soundtracks, stamps them and scores the cues against the
    truth; then computes MIR and musicnn features per cue (and VGGish when
    SCORELENS_VGGISH_DIR points at its weights), brightness and contrast, and evaluates the
    genre models leave-one-out (the study's Table 4, for the demo corpus), scores the MIR
    feature groups by permutation importance (Fig 3), relates the music's predicted genres
    to the picture's brightness and contrast (Table 5) and draws the PR curves, the
    per-film scatter and the cue timeline, and writes it all up in one report
    (``results/report/report.html`` and ``report.md``).
    """
    ws = Workspace(workspace)
    manifest = ensure_demo_corpus(ws, films=films, seed=seed, film_duration_s=minutes * 60)
    corpus = load_corpus(manifest)
    config = StamperConfig()
    with open_store(ws.default_db, config) as store, progress() as bar:
        task = bar.add_task("stamping", total=len(corpus))
        report = stamp_corpus(corpus, ws, store, config, on_film=lambda fid, status: bar.advance(task))
    cues = pd.concat([read_cue_table(p) for p in report.cue_tables.values()], ignore_index=True)
    truth = pd.concat([read_cue_table(f.cues, film_id=f.id) for f in corpus.films], ignore_index=True)
    per_film = evaluate_cues(truth, cues)
    summary = summarise(per_film)
    if not state.quiet:
        for film_id, film_cues in cues.groupby("film_id"):
            _print_cues(film_cues, f"{film_id} ({', '.join(corpus.film(film_id).genres)})")
        console.print(per_film.round(3).to_string(index=False))
        console.print(f"\nScore Stamper on {len(corpus)} demo films (mean over films; the study's Dejavu: "
                      f"precision 0.94, recall 0.47):")
        console.print(summary.round(3).to_string())
    ws.path("results").mkdir(exist_ok=True)
    (ws.path("results", "stamp_eval.json")).write_text(json.dumps(
        {"per_film": per_film.to_dict(orient="records"), "mean": summary["mean"].to_dict()}, indent=2,
        default=float) + "\n")
    if stamp_only:
        return
    # The later stages, exactly as a user runs them on a workspace.
    from scorelens.cli.features import features_command, visual_command
    from scorelens.cli.models import evaluate_command

    kinds = ["mir", "musicnn"]
    if os.environ.get("SCORELENS_VGGISH_DIR"):
        kinds.insert(0, "vggish")
    elif not state.quiet:
        console.print("VGGish skipped: set SCORELENS_VGGISH_DIR to a folder with its weights to include it")
    for kind in kinds:
        features_command(workspace=ws.root, kind=kind, manifest=manifest)
    visual_command(manifest=manifest, workspace=ws.root)
    evaluate_command(workspace=ws.root, manifest=manifest, features=kinds, seed=seed)
    # Fig 3 for the demo: which MIR feature groups the study's PFI model relies on.
    from scorelens.cli.importance import importance_command

    importance_command(workspace=ws.root, manifest=manifest, features="mir", model="average", hidden=64,
                       runs=100, seed=seed)
    # Table 5 with the study's model (single attention on the learned embedding), and the figures.
    from scorelens.cli.report import crossmodal_command, figures_command

    crossmodal_command(workspace=ws.root, manifest=manifest, features=kinds[0] if kinds[0] == "vggish" else "musicnn",
                       model="attention")
    figures_command(workspace=ws.root, manifest=manifest)
    # Everything in one page.
    from scorelens.cli.summary import report_command

    report_command(workspace=ws.root, manifest=manifest)
