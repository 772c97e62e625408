"""``scorelens report``: one readable page of everything a workspace holds (Markdown and HTML)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scorelens.cli.common import (
    DEFAULT_WORKSPACE,
    ConfigOpt,
    OptionalManifestOpt,
    SetOpt,
    WorkspaceOpt,
    console,
    state,
    study_settings,
)
from scorelens.cli.main import app

if TYPE_CHECKING:
    from scorelens.workspace import Workspace
from scorelens.exceptions import WorkspaceError


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


def _open_workspace(root: Path) -> Workspace:
    """The workspace at ``root``, refusing a missing or empty folder (nothing to report) without creating it."""
    from scorelens.workspace import Workspace

    if not root.is_dir() or not any(root.iterdir()):
        raise WorkspaceError(f"{root}: no workspace here yet, nothing to report; run `scorelens run MANIFEST -w "
                             f"{root}` first (or `scorelens demo -w {root}`)")
    return Workspace(root)  # refuses a folder that is not a workspace


@app.command("report")
def report_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: OptionalManifestOpt = None,
    config: ConfigOpt = None,
    settings: SetOpt = None,
    formats: Annotated[Optional[list[ReportFormat]], typer.Option(
        "--format", help="Report formats (repeatable; report.formats): md, html (one self-contained file).")] = None,
    top: Annotated[Optional[int], typer.Option("--top", help="Cues listed per genre among those that drove the "
                                               "predictions (report.top).", min=1)] = None,
) -> None:
    """Write WORKSPACE/results/report/report.md and report.html: every result of the workspace in one page.

    Without --manifest the workspace's corpus/corpus.toml is used when there is one (the demo's).
    """
    from scorelens.corpus import load_corpus
    from scorelens.stages._report import write_report

    ws = _open_workspace(workspace)
    study = study_settings(manifest, config, settings, report__top=top,
                           report__formats=list(dict.fromkeys(f.value for f in formats)) if formats else None)
    corpus = load_corpus(manifest, check_files=False) if manifest is not None else None
    report = write_report(ws, study.report, corpus)
    if not state.quiet:
        console.print(f"report of {ws.root} ({', '.join(report.sections)}):", highlight=False, soft_wrap=True)
        console.print("\n".join(str(p) for p in report.written), highlight=False, soft_wrap=True)
