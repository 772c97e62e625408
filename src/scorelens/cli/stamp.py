"""Score Stamper commands: ``index``, ``stamp``, ``stamp-eval``, ``cue-sheet``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    DbOpt,
    FilmOpt,
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

if TYPE_CHECKING:
    import pandas as pd
from scorelens.exceptions import MediaError, ParameterError


class CueSheetFormat(str, Enum):
    csv = "csv"
    json = "json"
    audacity = "audacity"
    elan = "elan"


def _parse_speed(value: str) -> str | float:
    """``--speed``: ``auto`` or a factor (StamperConfig checks its range)."""
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return float(value)
    except ValueError:
        raise ParameterError(f"--speed={value!r} must be 'auto' or a factor in 0.90-1.10") from None


def expand_tracks(items: list[Path], *, recursive: bool = False) -> list[Path]:
    """Audio files named on the command line: files as given, folders expanded (one level, or all)."""
    from scorelens.corpus import find_audio_files, soundtrack_files
    from scorelens.io._audio import AUDIO_EXTENSIONS

    paths: list[Path] = []
    for item in items:
        if item.is_dir():
            found = find_audio_files(item, recursive=True) if recursive else soundtrack_files(item)
            if not found:
                raise MediaError(f"{item}: soundtrack folder holds no audio files "
                                 f"({', '.join(sorted(AUDIO_EXTENSIONS))})")
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def print_cues(cues: pd.DataFrame, title: str) -> None:
    """A film's cues as a table on the console (nothing with --quiet)."""
    from rich.table import Table

    from scorelens.report._cuesheet import cue_sheet

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
    tracks: Annotated[list[Path], typer.Argument(help="Audio files, or folders of them (searched recursively: a "
                                                 "folder of per-film folders works).", exists=True)],
    db: DbOpt = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    keep_going: Annotated[bool, typer.Option("--keep-going",
                                             help="Skip tracks that fail; report them at the end.")] = False,
) -> None:
    """Fingerprint soundtrack tracks into the fingerprint database (idempotent)."""
    from scorelens.stages._stamp import database_url
    from scorelens.stamp._pipeline import index_tracks
    from scorelens.stamp._store import open_store, redact_url
    from scorelens.workspace import Workspace

    study = study_settings(None, config, settings, run__db=db)
    paths = expand_tracks(tracks, recursive=True)
    ws = Workspace(workspace)
    url = database_url(ws, study.run.db)
    with progress() as bar, open_store(url, study.stamp, create=True) as store:
        advance = stage_progress(bar)("indexing", len(paths))
        outcomes = index_tracks(paths, store, study.stamp, keep_going=keep_going, on_track=lambda _: advance(1))
        total = len(store.tracks())
    count = {k: sum(o.status == k for o in outcomes) for k in ("added", "known", "failed")}
    if not state.quiet:
        console.print(f"{count['added']} track(s) added, {count['known']} already indexed, {count['failed']} failed; "
                      f"{total} in {redact_url(url)}", highlight=False, soft_wrap=True)
    for o in outcomes:
        if o.status == "failed":
            err_console.print(f"[red]failed:[/] {o.message}", highlight=False)
    if count["failed"]:
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
    config: ConfigOpt = None,
    settings: SetOpt = None,
    films: FilmOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="An extra copy of the cue table (.csv; a .parquet "
                                                "is written beside it); the workspace always gets one.",
                                                dir_okay=False)] = None,
    cue_sheet_path: Annotated[Optional[Path], typer.Option(
        "--cue-sheet", help="Also write a cue sheet (.csv or .json).", dir_okay=False)] = None,
    whole_index: Annotated[Optional[bool], typer.Option(
        "--whole-index", help="Match against every track of the database, not only the film's soundtrack (finds "
        "music reused across films), through a library index built once in WORKSPACE/library/ (run.whole_index)."
    )] = None,
    window_s: Annotated[Optional[float], typer.Option(help="Window length in seconds (stamp.window_s; the hop "
                                                      "follows unless given).", min=0.5)] = None,
    hop_s: Annotated[Optional[float], typer.Option(help="Window hop in seconds (stamp.hop_s).")] = None,
    min_votes: Annotated[Optional[int], typer.Option(help="Aligned hashes a window needs to match (stamp.min_votes).",
                                                     min=1)] = None,
    no_refine: Annotated[Optional[bool], typer.Option("--no-refine", help="Keep the study's 5-second cue boundaries "
                                                      "(stamp.refine=false).")] = None,
    keep_going: Annotated[Optional[bool], typer.Option("--keep-going",
                                                       help="With --manifest: go on past failing films.")] = None,
    retry_failed: RetryOpt = False,
    speed: Annotated[Optional[str], typer.Option("--speed", help="Speed at which the film plays the soundtrack (track "
                                                 "seconds per film second): auto (find it; e.g. 1.0417 for a PAL "
                                                 "transfer), 1.0, or a factor in 0.90-1.10 (stamp.speed).")] = None,
) -> None:
    """Find where the soundtrack plays in a film (or in every film of a manifest) and write cue tables."""
    import pandas as pd

    from scorelens.corpus import load_corpus
    from scorelens.io._atomic import atomic_path, check_writable_target
    from scorelens.io._audio import probe_audio
    from scorelens.report._cuesheet import write_cue_sheet
    from scorelens.stages._stamp import run_stamp, stamp_single_film
    from scorelens.stamp._cuetable import read_cue_table, write_cue_table
    from scorelens.stamp._speed import film_speed
    from scorelens.workspace import Workspace

    if (film is None) == (manifest is None):
        raise ParameterError("give either a FILM or --manifest (not both)")
    study = study_settings(manifest, config, settings, run__db=db, run__whole_index=whole_index,
                           run__keep_going=keep_going, run__retry_failed=retry_failed or None,
                           stamp__window_s=window_s, stamp__hop_s=hop_s if hop_s is not None else window_s,
                           stamp__min_votes=min_votes, stamp__refine=False if no_refine else None,
                           stamp__speed=None if speed is None else _parse_speed(speed))
    # Output paths are checked before any work, so a typo cannot lose a finished stamping.
    if out is not None:
        check_writable_target(out, what="--out")
    if cue_sheet_path is not None:
        check_writable_target(cue_sheet_path, what="--cue-sheet")
    ws = Workspace(workspace)
    if manifest is not None:
        corpus = load_corpus(manifest).select(films)
        with progress() as bar:
            report = run_stamp(ws, study, corpus, progress=stage_progress(bar))
        if not state.quiet:
            console.print(f"{report.detail}; cue tables in {ws.layout.cues_dir}", highlight=False, soft_wrap=True)
        print_stage(report)
        if cue_sheet_path is not None and report.result:
            cues = pd.concat([read_cue_table(p) for p in report.result.values()], ignore_index=True)
            write_cue_sheet(cues, cue_sheet_path)
        if report.failures:
            raise typer.Exit(1)
        return
    info = probe_audio(film)
    if not soundtrack and not study.run.whole_index:
        err_console.print("no --soundtrack given: matching against the whole index", highlight=False)
    with progress() as bar:
        task = bar.add_task(f"stamping {film.name}", total=round(info.duration_s, 1) if info.duration_s > 0 else None)
        cues, path, warnings_ = stamp_single_film(ws, study.stamp, film, soundtrack=expand_tracks(soundtrack or []),
                                                  db=study.run.db, whole_index=study.run.whole_index,
                                                  on_progress=lambda s: bar.advance(task, s))
    for w in warnings_:
        err_console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if out is not None:
        with atomic_path(out.with_suffix(".parquet")) as tmp_parquet, atomic_path(out.with_suffix(".csv")) as tmp_csv:
            write_cue_table(cues, tmp_parquet, tmp_csv)
    if cue_sheet_path is not None:
        write_cue_sheet(cues, cue_sheet_path)
    print_cues(cues, f"{film.name}: {len(cues)} cue(s)")
    if not state.quiet:
        console.print(film_speed(cues)[1], highlight=False)
    if not state.quiet:
        extra = f" (copy: {out.with_suffix('.csv')})" if out is not None else ""
        console.print(f"cue table: {path}{extra}", highlight=False, soft_wrap=True)


@app.command("stamp-eval")
def stamp_eval_command(
    truth: Annotated[Optional[list[Path]], typer.Option("--truth", "-t",
                                                        help="Annotated cue table(s) (CSV/Parquet).")] = None,
    pred: Annotated[Optional[list[Path]], typer.Option("--pred", "-p", help="Predicted cue table(s).")] = None,
    manifest: Annotated[Optional[Path], typer.Option("--manifest", "-m", help="Use the manifest's annotated films and "
                                                     "the workspace's cue tables.", dir_okay=False)] = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write per-film and mean scores as JSON here.",
                                                     dir_okay=False)] = None,
) -> None:
    """Score predicted cues against hand annotations: second-level and cue-level precision and recall.

    With --manifest the scores also go to WORKSPACE/results/stamp_eval.json (the report's source).
    """
    import pandas as pd
    from rich.table import Table

    from scorelens.corpus import load_corpus
    from scorelens.stages._stamp import annotated_truth, run_stamp_eval
    from scorelens.stamp._cuetable import read_cue_table
    from scorelens.workspace import Workspace

    ws = None
    if manifest is not None:
        ws = Workspace(workspace)
        truth_df, pred_df = annotated_truth(ws, load_corpus(manifest))
    else:
        if not truth or not pred:
            raise ParameterError("give --truth and --pred cue tables, or --manifest")
        truth_df = pd.concat([read_cue_table(p, annotation=True) for p in truth], ignore_index=True)
        pred_df = pd.concat([read_cue_table(p, annotation=True) for p in pred], ignore_index=True)
        single = len(truth) == 1 and len(pred) == 1
        if single and truth_df["film_id"].nunique() == 1 and pred_df["film_id"].nunique() == 1:
            # One file each without film ids: they describe the same film.
            pred_df["film_id"] = truth_df["film_id"].iloc[0]
    report = run_stamp_eval(ws, truth_df, pred_df, json_out=json_out)
    per_film, summary = report.per_film, report.summary
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


@app.command("cue-sheet")
def cue_sheet_command(
    cues: Annotated[list[Path], typer.Argument(help="Cue tables (CSV/Parquet) from stamp.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cue sheet file.", dir_okay=False)],
    fmt: Annotated[Optional[CueSheetFormat], typer.Option(
        "--format", help="csv or json (every film), audacity (a label track) or elan (tab-delimited, for ELAN's "
        "import) for one film; default: from the extension (.csv, .json; else csv).")] = None,
) -> None:
    """Write a readable cue sheet (titles, in/out times and durations in mm:ss), or one film's cues as an
    Audacity label track or an ELAN tab-delimited file (the track and album position in each label)."""
    import pandas as pd

    from scorelens.io._atomic import check_writable_target
    from scorelens.report._cuesheet import write_cue_sheet
    from scorelens.stamp._cuetable import read_cue_table

    check_writable_target(out, what="--out")
    table = pd.concat([read_cue_table(p) for p in cues], ignore_index=True)
    write_cue_sheet(table, out, fmt.value if fmt is not None else None)
    if not state.quiet:
        console.print(f"cue sheet: {out} ({len(table)} cues)", highlight=False)
