"""Score Stamper commands: ``index``, ``stamp``, ``stamp-eval``, ``cue-sheet``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.table import Table

from scorelens.cli.common import console, err_console, progress, state
from scorelens.cli.main import app
from scorelens.config import StamperConfig
from scorelens.corpus import load_corpus, soundtrack_files
from scorelens.exceptions import MediaError, ParameterError
from scorelens.io.audio import AUDIO_EXTENSIONS, probe_audio
from scorelens.report.cuesheet import cue_sheet, write_cue_sheet
from scorelens.stamp.cuetable import read_cue_table, write_cue_table
from scorelens.stamp.evaluate import evaluate_cues, summarise
from scorelens.stamp.pipeline import index_tracks, stamp_corpus, stamp_film
from scorelens.stamp.store import open_store
from scorelens.workspace import Workspace

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Output folder shared by all stages.",
                                            file_okay=False)]
DbOpt = Annotated[Optional[str], typer.Option("--db", help="Fingerprint database: a SQLite file, or a "
                                              "postgresql://user@host/db URL. Default: WORKSPACE/fingerprints.sqlite.")]
DEFAULT_WORKSPACE = Path("scorelens-work")


def stamper_config(window_s: float = 5.0, hop_s: float | None = None, min_votes: int | None = None,
                   refine: bool = True) -> StamperConfig:
    """The stamper settings from CLI options (study defaults otherwise)."""
    kwargs = {"window_s": window_s, "hop_s": window_s if hop_s is None else hop_s, "refine": refine}
    if min_votes is not None:
        kwargs["min_votes"] = min_votes
    return StamperConfig(**kwargs)


def _expand_tracks(items: list[Path]) -> list[Path]:
    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = soundtrack_files(item)
            if not found:
                raise MediaError(f"{item}: soundtrack folder holds no audio files "
                                 f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def _print_cues(cues: pd.DataFrame, title: str) -> None:
    if state.quiet:
        return
    table = Table(title=title)
    for col in ("cue", "track", "in", "out", "duration", "from track", "windows", "confidence"):
        table.add_column(col, justify="right" if col not in ("track",) else "left")
    sheet = cue_sheet(cues) if len(cues) else None
    for i, cue in enumerate(cues.itertuples(index=False)):
        row = sheet.iloc[i]
        table.add_row(row["cue"], str(cue.track), row["in"], row["out"], row["duration"], row["from_track_at"],
                      str(cue.windows), f"{cue.confidence:.3f}")
    console.print(table)


@app.command("index")
def index_command(
    tracks: Annotated[list[Path], typer.Argument(help="Audio files or folders of audio files.", exists=True)],
    db: DbOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Skip tracks that fail; report them at the end.")] = False,
) -> None:
    """Fingerprint soundtrack tracks into the fingerprint database (idempotent)."""
    config = StamperConfig()
    paths = _expand_tracks(tracks)
    url = db or Workspace(workspace).default_db
    failures = []
    with open_store(url, config, create=True) as store, progress() as bar:
        task = bar.add_task("indexing", total=len(paths))
        counts = {"added": 0, "known": 0, "failed": 0}

        def on_track(outcome):
            counts[outcome.status] += 1
            bar.advance(task)
            if outcome.status == "failed":
                failures.append(outcome.message)

        index_tracks(paths, store, config, keep_going=keep_going, on_track=on_track)
        total = len(store.tracks())
    if not state.quiet:
        console.print(f"{counts['added']} track(s) added, {counts['known']} already indexed, "
                      f"{counts['failed']} failed; {total} in {url}")
    for message in failures:
        err_console.print(f"[red]failed:[/] {message}", highlight=False)
    if failures:
        raise typer.Exit(1)


@app.command("stamp")
def stamp_command(
    film: Annotated[Optional[Path], typer.Argument(help="Film file (omit with --manifest).", dir_okay=False)] = None,
    soundtrack: Annotated[Optional[list[Path]], typer.Option(
        "--soundtrack", "-s", help="The film's soundtrack (folder or files); indexed first if needed.")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Stamp every film of a corpus manifest.",
                                                     dir_okay=False)] = None,
    db: DbOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Cue table (.csv; a .parquet is written beside it).",
                                                dir_okay=False)] = None,
    cue_sheet_path: Annotated[Optional[Path], typer.Option("--cue-sheet", help="Also write a cue sheet (.csv or .json).",
                                                           dir_okay=False)] = None,
    whole_index: Annotated[bool, typer.Option("--whole-index", help="Match against every indexed track, "
                                              "not only the film's soundtrack (finds music reused across films).")] = False,
    window_s: Annotated[float, typer.Option(help="Window length in seconds (the study: 5).", min=0.5)] = 5.0,
    hop_s: Annotated[Optional[float], typer.Option(help="Window hop in seconds (default: the window length).")] = None,
    min_votes: Annotated[Optional[int], typer.Option(help="Aligned hashes a window needs to match.", min=1)] = None,
    no_refine: Annotated[bool, typer.Option("--no-refine", help="Keep the study's 5-second cue boundaries.")] = False,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="With --manifest: go on past failing films.")] = False,
) -> None:
    """Find where the soundtrack plays in a film (or in every film of a manifest) and write cue tables."""
    config = stamper_config(window_s, hop_s, min_votes, refine=not no_refine)
    if (film is None) == (manifest is None):
        raise ParameterError("give either a FILM or --manifest (not both)")
    ws = Workspace(workspace)
    url = db or ws.default_db
    if manifest is not None:
        corpus = load_corpus(manifest)
        with open_store(url, config, create=True) as store, progress() as bar:
            task = bar.add_task("stamping films", total=len(corpus))
            report = stamp_corpus(corpus, ws, store, config, whole_index=whole_index, keep_going=keep_going,
                                  on_film=lambda fid, status: bar.advance(task))
        if not state.quiet:
            console.print(f"{len(report.stamped)} film(s) stamped, {len(report.skipped)} already done, "
                          f"{len(report.failed)} failed; cue tables in {ws.root / 'cues'}")
        if cue_sheet_path is not None and report.cue_tables:
            cues = pd.concat([read_cue_table(p) for p in report.cue_tables.values()], ignore_index=True)
            write_cue_sheet(cues, cue_sheet_path)
        for film_id, message in report.failed.items():
            err_console.print(f"[red]failed:[/] {film_id}: {message}", highlight=False)
        if report.failed:
            raise typer.Exit(1)
        return
    info = probe_audio(film)
    with open_store(url, config, create=soundtrack is not None) as store:
        ids = None
        if soundtrack:
            outcomes = index_tracks(_expand_tracks(soundtrack), store, config)
            ids = [o.track_id for o in outcomes]
        elif not whole_index:
            err_console.print("no --soundtrack given: matching against the whole index", highlight=False)
        with progress() as bar:
            task = bar.add_task(f"stamping {film.name}", total=round(info.duration_s, 1) if info.duration_s > 0 else None)
            result = stamp_film(film, store, config, track_ids=None if whole_index else ids,
                                on_progress=lambda s: bar.advance(task, s))
    target = out or ws.path("cues", f"{film.stem}.csv")
    write_cue_table(result.cues, target.with_suffix(".parquet"), target.with_suffix(".csv"))
    if cue_sheet_path is not None:
        write_cue_sheet(result.cues, cue_sheet_path)
    _print_cues(result.cues, f"{film.name}: {len(result.cues)} cue(s)")
    if not state.quiet:
        console.print(f"cue table: {target.with_suffix('.csv')}")


@app.command("stamp-eval")
def stamp_eval_command(
    truth: Annotated[Optional[list[Path]], typer.Option("--truth", "-t", help="Annotated cue table(s) (CSV/Parquet).")] = None,
    pred: Annotated[Optional[list[Path]], typer.Option("--pred", "-p", help="Predicted cue table(s).")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Use the manifest's annotated films and "
                                                     "the workspace's cue tables.", dir_okay=False)] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write per-film and mean scores as JSON.",
                                                     dir_okay=False)] = None,
) -> None:
    """Score predicted cues against hand annotations: second-level and cue-level precision and recall."""
    if manifest is not None:
        corpus = load_corpus(manifest)
        annotated = [f for f in corpus.films if f.cues is not None]
        if not annotated:
            raise ParameterError(f"{manifest}: no film has a 'cues' annotation to evaluate against")
        truth_df = pd.concat([read_cue_table(f.cues, film_id=f.id) for f in annotated], ignore_index=True)
        ws = Workspace(workspace)
        missing = [f.id for f in annotated if not ws.path("cues", f"{f.id}.parquet").exists()]
        if missing:
            raise ParameterError(f"{ws.root / 'cues'}: no cue table for film(s) {', '.join(missing)}; run stamp first")
        pred_df = pd.concat([read_cue_table(ws.path("cues", f"{f.id}.parquet"), film_id=f.id) for f in annotated],
                            ignore_index=True)
    else:
        if not truth or not pred:
            raise ParameterError("give --truth and --pred cue tables, or --manifest")
        truth_df = pd.concat([read_cue_table(p) for p in truth], ignore_index=True)
        pred_df = pd.concat([read_cue_table(p) for p in pred], ignore_index=True)
        if len(truth) == 1 and len(pred) == 1 and truth_df["film_id"].nunique() == 1 and pred_df["film_id"].nunique() == 1:
            # One file each without film ids: they describe the same film.
            pred_df["film_id"] = truth_df["film_id"].iloc[0]
    per_film = evaluate_cues(truth_df, pred_df)
    summary = summarise(per_film)
    if not state.quiet:
        table = Table(title="Score Stamper vs annotations (study, Dejavu: precision 0.94, recall 0.47)")
        for col in ("film", "sec. precision", "sec. recall", "sec. F1", "cue precision", "cue recall", "true cues",
                    "found cues"):
            table.add_column(col, justify="right")
        for row in per_film.itertuples(index=False):
            table.add_row(str(row.film_id), f"{row.second_precision:.3f}", f"{row.second_recall:.3f}",
                          f"{row.second_f1:.3f}", f"{row.cue_precision:.3f}", f"{row.cue_recall:.3f}",
                          str(row.true_cues), str(row.predicted_cues))
        m, s = summary["mean"], summary["sd"]
        table.add_row("mean (SD)", *(f"{m[k]:.3f} ({s[k]:.3f})" if len(per_film) > 1 else f"{m[k]:.3f}"
                                     for k in ("second_precision", "second_recall", "second_f1", "cue_precision",
                                               "cue_recall")), "", "")
        console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps({"per_film": per_film.to_dict(orient="records"),
                                        "mean": summary["mean"].to_dict(), "sd": summary["sd"].to_dict()},
                                       indent=2, default=float) + "\n")


@app.command("cue-sheet")
def cue_sheet_command(
    cues: Annotated[list[Path], typer.Argument(help="Cue tables (CSV/Parquet) from stamp.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cue sheet file: .csv or .json.", dir_okay=False)],
) -> None:
    """Write a readable cue sheet (titles, in/out times and durations in mm:ss)."""
    table = pd.concat([read_cue_table(p) for p in cues], ignore_index=True)
    write_cue_sheet(table, out)
    if not state.quiet:
        console.print(f"cue sheet: {out} ({len(table)} cues)")

