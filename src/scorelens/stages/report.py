"""The report stage: one readable page of everything a workspace holds (Markdown and self-contained HTML)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from scorelens.config import ReportConfig, StudyConfig, settings_digest
from scorelens.exceptions import WorkspaceError
from scorelens.stages._contract import StageReport
from scorelens.workspace import Workspace

__all__ = ["ReportReport", "run_report", "write_report"]


@dataclass
class ReportReport:
    """Files written by :func:`run_report` and the titles of the sections that had results."""

    written: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    reused: bool = False


def _body(markdown: str) -> str:
    """The Markdown without its generation time: what the report's record is keyed on."""
    from scorelens.report.document import GENERATED_PREFIX

    return "\n".join(line for line in markdown.splitlines() if not line.startswith(GENERATED_PREFIX))


def write_report(workspace: Workspace, config: ReportConfig, corpus=None) -> ReportReport:
    """Write ``results/report/report.md`` and ``report.html`` from whatever the workspace holds.

    Trains nothing. A section whose inputs are missing is one line naming the command to run.

    Parameters
    ----------
    workspace : Workspace
    config : ReportConfig
    corpus : Corpus, optional
        Films, genres and film lengths (default: the workspace's demo manifest when there is one).

    Returns
    -------
    ReportReport

    Raises
    ------
    WorkspaceError
        Nothing to report yet.
    """
    from scorelens.corpus import load_corpus
    from scorelens.report.document import render_html, render_markdown
    from scorelens.report.summary import gather_report

    layout = workspace.layout
    if corpus is None and layout.corpus_manifest.is_file():
        corpus = load_corpus(layout.corpus_manifest, check_files=False)
    # Saved first: the report's provenance shows every stage's settings, its own included.
    workspace.save_settings("report", {"top": config.top})  # the formats written change no content
    report = gather_report(workspace, corpus, top=config.top, generated=time.strftime("%Y-%m-%d %H:%M:%S"))
    if not report.has_results:
        first = f"scorelens stamp -w {workspace.root} -m {corpus.path if corpus is not None else 'MANIFEST'}"
        raise WorkspaceError(f"{workspace.root}: nothing to report yet (no cue tables, no results); run `{first}` "
                             "first")
    markdown = render_markdown(report)
    key = settings_digest({"body": _body(markdown), "top": config.top})
    renderers = {"md": lambda: markdown, "html": lambda: render_html(report)}
    out = ReportReport(sections=[s.title for s in report.sections if s.from_stages and s.todo is None])
    out.reused = all(workspace.is_done(layout.report(fmt), key) for fmt in config.formats)
    for fmt in config.formats:
        if out.reused:
            out.written.append(layout.report(fmt))
            continue
        text = renderers[fmt]()
        out.written.append(workspace.commit(layout.report(fmt), key,
                                            lambda p, text=text: p.write_text(text, encoding="utf-8"),
                                            meta={"manifest": str(corpus.path) if corpus is not None else None,
                                                  "top": config.top}))
    return out


def run_report(workspace: Workspace, config: StudyConfig, corpus, *, executor=None, progress=None) -> StageReport:
    """The ``report`` stage: one page of everything the workspace holds for the corpus (:func:`write_report`).

    Parameters
    ----------
    workspace : Workspace
    config : StudyConfig
        ``report``.
    corpus : Corpus
    executor, progress :
        Unused.

    Returns
    -------
    StageReport
        ``result``: the :class:`ReportReport`.
    """
    t0 = time.perf_counter()
    rep = write_report(workspace, config.report, corpus)
    return StageReport.finished("report", reused=rep.reused, outputs=rep.written, result=rep,
                                detail=", ".join(str(p) for p in rep.written), seconds=time.perf_counter() - t0)
