"""Everything a workspace holds, in one readable report (``results/report/report.md`` and ``report.html``).

:func:`gather_report` looks at what the stages wrote into a workspace and builds a
:class:`~scorelens.report._document.Report`; :func:`~scorelens.report._document.render_markdown`
and :func:`~scorelens.report._document.render_html` print it. Each section appears when its
inputs exist, otherwise as one line naming the command that makes them:

========================  =========================================================  =======================
Section                   Inputs                                                     Made by
========================  =========================================================  =======================
Corpus                    the manifest                                               (``-m MANIFEST``)
Where the music plays     ``cues/<film>.parquet``, film lengths, ``results/          ``stamp``, ``stamp-eval``,
                          stamp_eval.json``, ``results/figures/cue_timeline.png``    ``figures``
Genre prediction          ``results/evaluation/<level>/table4.json`` (or ``.csv``),  ``evaluate``, ``figures``
                          ``results/figures/{pr_curves,per_film_scatter}.png``
Which cues drove …        ``instance_weights.parquet``, ``predictions.parquet``,     ``evaluate``
                          cue tables
Feature importance        ``results/importance/*/pfi_summary.csv``, ``fig3.png``     ``importance``
Music and picture         ``results/crossmodal/table5.csv`` (caption: ``table5.md``) ``crossmodal``
Provenance                ``settings/*.json``, the inputs' ``.done.json`` records    every stage
========================  =========================================================  =======================

How a few things are read (decisions, so the numbers can be checked):

* **Minutes of music** are the union of a film's cue intervals (two tracks overlapping
  count once); the share is that over the film's length
  (:func:`scorelens.report._sources.film_durations`: the film file, else the visual frames).
* **The cues that drove the predictions** come from the network run with the best macro
  F1 in ``table4.json`` (ties: the first in Table 4's order) among those whose weights
  depend on the cues: average pooling gives every cue of a film the same weight, so it is
  shown only when it is the only network (and the report says which network scored
  higher when it is not the one shown). For each genre, the cues of
  the films that run predicted with the genre (out of fold) are ranked by the cue's
  instance weight for the genre (at frame level, the sum of its frames' weights). A
  weight is a share of its film's attention, so films with few cues get larger weights;
  ``× even`` divides by the cue's even share (its instances over the film's) to compare
  across films. Ties rank by film, then cue id.
* Everything but the line starting with
  :data:`~scorelens.report._document.GENERATED_PREFIX` depends on the workspace's files
  only: the same workspace gives the same Markdown.
"""

from __future__ import annotations

import os

from scorelens._version import __version__
from scorelens.corpus import Corpus
from scorelens.exceptions import ParameterError
from scorelens.report._document import Report
from scorelens.report.sections import STUDY_STAMPER, music_per_film, top_cues
from scorelens.report.sections._corpus import _corpus_section
from scorelens.report.sections._crossmodal import _crossmodal_section
from scorelens.report.sections._drivers import _drivers_section
from scorelens.report.sections._importance import _importance_section
from scorelens.report.sections._inputs import _Inputs
from scorelens.report.sections._music import _music_section
from scorelens.report.sections._prediction import _evaluations, _prediction_section
from scorelens.report.sections._provenance import _provenance_section
from scorelens.workspace import Workspace

__all__ = ["STUDY_STAMPER", "gather_report", "music_per_film", "top_cues"]


def gather_report(workspace: Workspace | str | os.PathLike, corpus: Corpus | None = None, *, top: int = 5,
                  generated: str = "") -> Report:
    """Gather what a workspace holds into a report.

    Parameters
    ----------
    workspace : Workspace or path
    corpus : Corpus, optional
        The manifest (:func:`scorelens.corpus.load_corpus`): films, genres, film files.
    top : int
        Cues listed per genre in "Which cues drove the predictions".
    generated : str
        When the report is made (the one line that changes from run to run).

    Returns
    -------
    Report
        :attr:`Report.has_results` is False when no stage has written anything yet.

    Raises
    ------
    WorkspaceError
        An input exists but cannot be read (the message names the file).
    AnnotationError
        A cue table cannot be read.
    """
    if top < 1:
        raise ParameterError(f"top={top} must be at least 1")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    inp = _Inputs(ws, corpus)
    evaluations = _evaluations(inp)
    sections = (_corpus_section(inp), _music_section(inp), _prediction_section(inp, evaluations),
                _drivers_section(inp, evaluations, top), _importance_section(inp), _crossmodal_section(inp))
    sections += (_provenance_section(inp),)  # last: lists what the others read
    return Report(title=f"scorelens report · {ws.root.resolve().name}",
                  subtitle=f"Workspace `{ws.root}` · scorelens {__version__} · after Ma, Greer, Knox & Narayanan, "
                           "“A computational lens into how music characterizes genre in film”, PLOS ONE 2021.",
                  sections=sections, generated=generated)
