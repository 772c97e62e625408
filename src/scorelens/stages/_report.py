"""The report stage: one readable page of everything a workspace holds (Markdown and self-contained HTML), and
the interactive report (``index.html``, its clips and assets) with per-film cue sheets."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scorelens.config import ReportConfig, StudyConfig, settings_digest
from scorelens.exceptions import MediaError, WorkspaceError
from scorelens.stages._contract import StageReport
from scorelens.workspace import Workspace

__all__ = ["ReportReport", "run_report", "write_report"]


@dataclass
class ReportReport:
    """Files written by :func:`run_report` and the titles of the sections that had results."""

    written: list[Path] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    reused: bool = False
    clips: int = 0
    """Clips the interactive report plays."""
    clip_bytes: int = 0
    """Their total size."""
    notes: list[str] = field(default_factory=list)
    """What a reader should know about the interactive report (films without clips, and why)."""


def _body(markdown: str) -> str:
    """The Markdown without its generation time: what the report's record is keyed on."""
    from scorelens.report._document import GENERATED_PREFIX

    return "\n".join(line for line in markdown.splitlines() if not line.startswith(GENERATED_PREFIX))


def write_report(workspace: Workspace, config: ReportConfig, corpus=None) -> ReportReport:
    """Write ``results/report/report.md`` and ``report.html`` from whatever the workspace holds, and the
    interactive report (``index.html``, its Plotly bundle, the cues' clips) with per-film cue sheets.

    Trains nothing. A section whose inputs are missing is one line naming the command to run; so
    is a view of the interactive report. A cue whose track file has moved since stamping gets
    no clip and its film a note (:attr:`ReportReport.notes`), not an error.

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
    from scorelens.report._document import render_html, render_markdown
    from scorelens.report._summary import gather_report

    layout = workspace.layout
    if corpus is None and layout.corpus_manifest.is_file():
        corpus = load_corpus(layout.corpus_manifest, check_files=False)
    # Saved first: the report's provenance shows every stage's settings, its own included.
    # The formats written change no content, so they stay out of the saved settings (which the report shows).
    workspace.save_settings("report", report={k: v for k, v in dataclasses.asdict(config).items() if k != "formats"})
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    report = gather_report(workspace, corpus, top=config.top, generated=generated)
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
    if config.interactive:
        _interactive(workspace, config, corpus, generated, out)
    return out


def _digest(data: str | bytes) -> str:
    return hashlib.blake2b(data.encode("utf-8") if isinstance(data, str) else data, digest_size=8).hexdigest()


def _commit(workspace: Workspace, path: Path, data: str | bytes, key: str | None = None) -> tuple[Path, bool]:
    """Write ``data`` to ``path`` unless it is there already (by its digest); whether it was written."""
    key = key or _digest(data)
    if workspace.is_done(path, key):
        return path, False
    if isinstance(data, str):
        return workspace.commit(path, key, lambda p: p.write_text(data, encoding="utf-8")), True
    return workspace.commit(path, key, lambda p: p.write_bytes(data)), True


def _interactive(workspace: Workspace, config: ReportConfig, corpus, generated: str, out: ReportReport) -> None:
    """``index.html`` with its assets and clips, and the per-film cue sheets (Audacity labels, ELAN)."""
    from scorelens.report._cuesheet import format_cue_sheet
    from scorelens.report.explorer import build_explorer, collect_explorer

    layout = workspace.layout
    data = collect_explorer(workspace, corpus)
    if config.clips:
        clips, seconds, notes, film_notes = _clips(workspace, config, data, out)
    else:
        clips, seconds, film_notes = {}, {}, {}
        notes = {(str(r.film_id), int(r.cue_id)): "no clip: clips are turned off (report.clips = false)"
                 for r in data.cues.itertuples(index=False)}
    out.notes += [f"{film}: {n}" for film, lines in film_notes.items() for n in lines]
    page = build_explorer(data, clips=clips, clip_seconds=seconds, clip_notes=notes, film_notes=film_notes,
                          generated=generated)
    for name, content in page.assets.items():
        out.written.append(_commit(workspace, layout.report_asset(name), content, key=_digest(content))[0])
    # The page's record is keyed on everything but the time it was made.
    out.written.append(_commit(workspace, layout.report_explorer(), page.html,
                               key=_digest(page.html.replace(generated, "")) if generated else None)[0])
    sheets = data.cues
    if len(sheets):
        for fmt in ("csv", "json"):
            out.written.append(_commit(workspace, layout.report_cue_sheet(fmt), format_cue_sheet(sheets, fmt))[0])
        for film_id, cues in sheets.groupby("film_id", sort=False):
            for fmt in ("audacity", "elan"):
                _commit(workspace, layout.report_cue_sheet(fmt, film_id), format_cue_sheet(cues, fmt))


def _clips(workspace: Workspace, config: ReportConfig, data, out: ReportReport):
    """Cut and encode the clips the budget allows (reusing the ones already written), drop stale ones.

    Returns
    -------
    clips : dict of (film, cue) -> str
        Each clip's path relative to the page.
    seconds : dict of (film, cue) -> float
    notes : dict of (film, cue) -> str
    film_notes : dict of str -> list of str
    """
    from scorelens.report.explorer import CLIP_FORMATS, cut_clip, encode_clip, enforce_budget, plan_clips

    layout = workspace.layout
    ext = CLIP_FORMATS[config.clip_format][0]
    budget = config.clip_budget_mb * 1e6
    plan = plan_clips(data.cues, budget_bytes=budget, kbps=config.clip_kbps, max_s=config.clip_max_s)
    notes, film_notes = dict(plan.notes), {f: list(n) for f, n in plan.film_notes.items()}
    paths, seconds, sizes = {}, {}, {}

    def make(job) -> bytes | MediaError:
        try:
            samples = cut_clip(job)
        except MediaError as exc:
            return exc
        buffer = io.BytesIO()
        encode_clip(samples, buffer, fmt=config.clip_format, kbps=config.clip_kbps)
        return buffer.getvalue()

    todo = [job for job in plan.jobs if not workspace.is_done(layout.report_clip(job.film_id, job.cue_id, ext),
                                                              job.key(config.clip_format, config.clip_kbps))]
    # Decoding, resampling and encoding run in FFmpeg, soxr and NumPy, which release the GIL:
    # threads cut and encode the clips side by side; only the commits are one after another.
    # (The results come back in order and are committed as they come, so only the clips
    # made ahead of the commits are held in memory, not the whole budget.)
    pending = {id(job) for job in todo}
    with ThreadPoolExecutor(max_workers=max(1, min(len(todo), len(os.sched_getaffinity(0))))) as pool:
        made = pool.map(make, todo)
        for job in plan.jobs:
            cue = (job.film_id, job.cue_id)
            path = layout.report_clip(job.film_id, job.cue_id, ext)
            if id(job) in pending:
                data = next(made)
                if isinstance(data, MediaError):
                    notes[cue] = f"no clip: {data}"
                    film_notes.setdefault(job.film_id, []).append(f"cue {job.cue_id}: no clip ({data})")
                    continue
                workspace.commit(path, job.key(config.clip_format, config.clip_kbps),
                                 lambda p, b=data: Path(p).write_bytes(b),
                                 meta={"source": job.source, "track_start_s": job.track_start_s,
                                       "seconds": job.seconds})
            paths[cue], seconds[cue], sizes[cue] = path, job.seconds, path.stat().st_size
    for cue in enforce_budget(sizes, seconds, budget):
        notes[cue] = "no clip: over the clip budget (the longest cues are left out first)"
        del paths[cue], sizes[cue]
    keep = {p.resolve() for p in paths.values()}
    if layout.report_clips_dir.is_dir():  # clips of an earlier plan would count against the budget on disk
        for stale in layout.report_clips_dir.rglob("*"):
            clip = stale.with_name(stale.name.removesuffix(".done.json"))
            if stale.is_file() and clip.resolve() not in keep:
                stale.unlink()
        for folder in layout.report_clips_dir.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    out.clips, out.clip_bytes = len(paths), int(sum(sizes.values()))
    rel = {cue: Path(os.path.relpath(p, layout.report_dir)).as_posix() for cue, p in paths.items()}
    return rel, {cue: seconds[cue] for cue in rel}, notes, film_notes


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
