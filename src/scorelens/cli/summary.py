"""``scorelens report``: one readable page of everything a workspace holds (Markdown and HTML)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from scorelens.cli.common import console, state
from scorelens.cli.main import app
from scorelens.cli.models import DEFAULT_WORKSPACE, WorkspaceOpt
from scorelens.config import settings_digest
from scorelens.exceptions import WorkspaceError
from scorelens.workspace import Workspace


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


def _open_workspace(root: Path) -> Workspace:
    """The workspace at ``root``, refusing a missing or empty folder (nothing to report) without creating it."""
    if not root.is_dir() or not any(root.iterdir()):
        raise WorkspaceError(f"{root}: no workspace here yet, nothing to report; run `scorelens stamp -w {root} -m "
                             f"MANIFEST` first (or `scorelens demo -w {root}`)")
    return Workspace(root)  # refuses a folder that is not a workspace


def _body(markdown: str) -> str:
    """The Markdown without its generation time: what the report's record is keyed on."""
    from scorelens.report.document import GENERATED_PREFIX

    return "\n".join(line for line in markdown.splitlines() if not line.startswith(GENERATED_PREFIX))


@app.command("report")
def report_command(
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", "-m", help="Corpus manifest: films, genres and film lengths (default: the workspace's "
        "corpus/corpus.toml when there is one, as the demo makes).", dir_okay=False, exists=True)] = None,
    formats: Annotated[Optional[list[ReportFormat]], typer.Option(
        "--format", help="Report formats (repeatable; default both): md, html (one self-contained file).")] = None,
    top: Annotated[int, typer.Option("--top", help="Cues listed per genre among those that drove the predictions.",
                                     min=1)] = 5,
) -> None:
    """Write WORKSPACE/results/report/report.md and report.html: every result of the workspace in one page."""
    from scorelens.corpus import load_corpus
    from scorelens.report.document import render_html, render_markdown
    from scorelens.report.summary import REPORT_FOLDER, gather_report

    ws = _open_workspace(workspace)
    if manifest is None and (ws.root / "corpus" / "corpus.toml").is_file():
        manifest = ws.root / "corpus" / "corpus.toml"
    corpus = load_corpus(manifest, check_files=False) if manifest is not None else None
    report = gather_report(ws, corpus, top=top, generated=time.strftime("%Y-%m-%d %H:%M:%S"))
    if not report.has_results:
        first = f"scorelens stamp -w {ws.root} -m {manifest or 'MANIFEST'}"
        raise WorkspaceError(f"{ws.root}: nothing to report yet (no cue tables, no results); run `{first}` first")
    markdown = render_markdown(report)
    key = settings_digest({"body": _body(markdown), "top": top})
    renderers = {ReportFormat.md: lambda: markdown, ReportFormat.html: lambda: render_html(report)}
    written = []
    for fmt in dict.fromkeys(formats or list(ReportFormat)):
        text = renderers[fmt]()
        target = ws.path(*REPORT_FOLDER, f"report.{fmt.value}")
        written.append(ws.commit(target, key, lambda p, text=text: p.write_text(text, encoding="utf-8"),
                                 meta={"manifest": str(manifest) if manifest else None, "top": top}))
    if not state.quiet:
        done = [s.title for s in report.sections if s.from_stages and s.todo is None]
        console.print(f"report of {ws.root} ({', '.join(done)}):", highlight=False, soft_wrap=True)
        console.print("\n".join(str(p) for p in written), highlight=False, soft_wrap=True)
