"""``scorelens run``: the whole study from one manifest, resumable, on one machine or a Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    DbOpt,
    RetryOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    err_console,
    progress,
    state,
)
from scorelens.cli.main import app

if TYPE_CHECKING:
    from scorelens.stages._run import RunReport
from scorelens.config import parse_assignments
from scorelens.stages._graph import stages_help

WorkersOpt = Annotated[Optional[int], typer.Option("--workers", help="Run the per-film work on a local Dask cluster "
                                                   "of N worker processes.", min=1)]
SchedulerOpt = Annotated[Optional[str], typer.Option("--scheduler", help="Run it on an existing Dask cluster "
                                                     "(tcp://HOST:PORT) whose machines share the workspace's file "
                                                     "system; use --db postgresql://… for the fingerprints.")]


def run_options(db, keep_going, kinds, stages, seed, retry_failed=False) -> dict:
    """Command-line options as ``section.name`` overrides (None: not given)."""
    overrides = {}
    if db is not None:
        overrides["run.db"] = db
    if keep_going:
        overrides["run.keep_going"] = True
    if retry_failed:
        overrides["run.retry_failed"] = True
    if kinds:
        overrides["run.kinds"] = list(kinds)
    if stages:
        overrides["run.stages"] = list(stages)
    if seed is not None:
        overrides["model.seed"] = seed
    return overrides


def show_run(report: RunReport) -> None:
    """The run's stages as a table, and its failures on stderr."""
    from rich.table import Table

    from scorelens.workspace import WorkspaceLayout

    if not state.quiet:
        table = Table(title=f"scorelens run · {report.workspace} · {report.seconds:.1f} s")
        for col in ("stage", "status", "seconds", "detail"):
            table.add_column(col, justify="right" if col == "seconds" else "left")
        style = {"done": "green", "reused": "cyan", "failed": "red", "skipped": "yellow"}
        for s in report.stages:
            table.add_row(s.stage, f"[{style.get(s.status, '')}]{s.status}[/]", f"{s.seconds:.1f}", s.detail)
        console.print(table)
        console.print(f"run record: {WorkspaceLayout(report.workspace).run_record()}", highlight=False,
                      soft_wrap=True)
    for s in report.stages:
        for w in s.warnings:
            subject = w.get("film") or w.get("track") or w.get("kind") or w.get("figure")
            err_console.print(f"[yellow]warning:[/] {s.stage}: {subject}: {w['reason']}", highlight=False,
                              soft_wrap=True)
        for f in s.failures:
            subject = f.get("film") or f.get("kind")
            again = " (as in the last run; --retry-failed tries again)" if f.get("recorded") else ""
            err_console.print(f"[red]failed:[/] {f['stage']}: {subject}: {f['reason']}{again}", highlight=False,
                              soft_wrap=True)
        if s.status == "failed" and not s.failures:
            err_console.print(f"[red]failed:[/] {s.stage}: {s.detail}", highlight=False, soft_wrap=True)


def execute(manifest: Path, workspace: Path, **kwargs) -> RunReport:
    """Run with one progress display: the run's stages, the current stage's films, elapsed, ETA."""
    from scorelens.stages._run import run


    with progress() as bar:
        overall: dict = {}

        def make(description, total=None):
            if description == "scorelens run":
                overall["task"] = bar.add_task(description, total=total)
                return lambda n=1, item=None: bar.advance(overall["task"], n)
            task = bar.add_task(f"  {description}", total=total)

            def advance(n=1, item=None):
                bar.update(task, advance=n, description=f"  {description} · {item}" if item else f"  {description}")
            return advance

        def on_stage(stage: str, status: str) -> None:
            if "task" in overall:
                bar.update(overall["task"], description=f"scorelens run · {stage}"
                           + ("" if status == "start" else f" ({status})"))

        return run(manifest, workspace=workspace, progress=make, on_stage=on_stage, **kwargs)


@app.command("run")
def run_command(
    manifest: Annotated[Path, typer.Argument(help="Corpus manifest (TOML or CSV).", dir_okay=False, exists=True)],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    db: DbOpt = None,
    keep_going: Annotated[bool, typer.Option("--keep-going", help="Record a film that fails a stage, leave it out of "
                                             "later stages and finish the others (exit status 3).")] = False,
    kinds: Annotated[Optional[list[str]], typer.Option("--kind", "-k", help="Music feature kinds (repeatable; "
                                                       "default mir and musicnn, plus vggish with its weights).")
                     ] = None,
    stages: Annotated[Optional[list[str]], typer.Option("--stage", help="Only these stages (repeatable): "
                                                        + stages_help() + ".")] = None,
    retry_failed: RetryOpt = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of every random choice (model.seed).")] = None,
) -> None:
    """Run the whole study on a manifest's films: index, stamp, features, visual, Table 4, Fig 3, Table 5,
    figures and the report, reusing whatever the workspace already holds.

    Exit status: 0 when nothing failed, 3 when failures were recorded (--keep-going), 1 on a fatal error,
    2 on a usage error. What happened is in WORKSPACE/results/run.json.
    """
    t0 = time.perf_counter()
    overrides = {**parse_assignments(settings), **run_options(db, keep_going, kinds, stages, seed, retry_failed)}
    report = execute(manifest, workspace, config_file=config, overrides=overrides, workers=workers,
                     scheduler=scheduler)
    show_run(report)
    if not state.quiet:
        console.print(f"{time.perf_counter() - t0:.1f} s", highlight=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
