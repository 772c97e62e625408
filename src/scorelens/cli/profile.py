"""``scorelens profile``: what a trained model hears in pieces of music, for a music supervisor."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import console, state
from scorelens.cli.main import app

#: The files ``profile`` writes in its output folder.
OUTPUTS = ("profile.html", "profile.json")


@app.command("profile")
def profile_command(
    audio: Annotated[list[Path], typer.Argument(help="Pieces of music: tracks, stems, cues exported from an editor "
                                                "(any format the decoder reads).", exists=True, dir_okay=False)],
    model: Annotated[Path, typer.Option("--model", help="A model artifact from `scorelens train`.", exists=True,
                                        dir_okay=False)],
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w", help="The study the model was trained "
                                                      "in: the nearest cues and the genres' distributions come from "
                                                      "it.", file_okay=False)] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="The corpus manifest, for the films' "
                                                     "genres (default: the one the workspace holds or its run "
                                                     "record names).", exists=True, dir_okay=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for profile.html and profile.json.",
                                      file_okay=False)] = Path("scorelens-profile"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON instead of tables.")] = False,
) -> None:
    """What a trained genre model hears in pieces of music: genre probabilities, the corpus cues nearest to each
    piece, and where its descriptors sit among each genre's cues (HTML and JSON in --out)."""
    from rich.markup import escape
    from rich.table import Table

    from scorelens.analysis._profile import profile
    from scorelens.io._atomic import atomic_path, check_writable_target, write_json_atomic
    from scorelens.mil._artifact import LegacyArtifactWarning, load_artifact
    from scorelens.report._cuesheet import format_clock
    from scorelens.report._profile import render_profile_html

    html_path, json_path = (out / name for name in OUTPUTS)
    check_writable_target(html_path, what="--out")
    with warnings.catch_warnings():
        # A format-1 model is refused in one line that says why; its warning would only repeat it.
        warnings.simplefilter("ignore", LegacyArtifactWarning)
        artifact = load_artifact(model)
    result = profile(audio, artifact, workspace=workspace, manifest=manifest)
    data = result.to_json()
    page = render_profile_html(result)
    with atomic_path(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    write_json_atomic(json_path, data)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if state.quiet:
        for piece in data["pieces"]:
            typer.echo(f"{piece['file']}: {', '.join(piece['predicted']) or '(no genre above threshold)'}")
        return
    for piece in data["pieces"]:
        table = Table(title=f"{escape(Path(piece['file']).name)}: {piece['instances']} {data['instance']}(s)")
        table.add_column("genre")
        table.add_column("probability", justify="right")
        table.add_column("predicted", justify="center")
        for genre, p in sorted(piece["probabilities"].items(), key=lambda kv: -kv[1]):
            table.add_row(genre, f"{p:.2f}", "yes" if genre in piece["predicted"] else "")
        console.print(table)
        for cue in (piece["nearest_cues"] or [])[:3]:
            span = f"{format_clock(cue['start_s'])}-{format_clock(cue['end_s'])}"
            console.print(f"  near: {cue['title']} ({', '.join(cue['genres'])}) {cue['track']} {span}, "
                          f"distance {cue['distance']:.2f}",
                          highlight=False, soft_wrap=True, markup=False)
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    console.print(f"{html_path}\n{json_path}", highlight=False, soft_wrap=True, markup=False)
