"""The interactive study report: ``results/report/index.html``, opened from the file system, no network.

Three views of one workspace's results:

Corpus
    Every film with its genres, length, how much of it has music (share and cues), the Score
    Stamper's scores where the film is annotated, and the chosen model's out-of-fold genre
    probabilities; sortable by any column and filtered by title and genre.
Film
    The film's timeline, each cue a bar coloured by its track (hover: track, film times, album
    position, speed, votes; click: play the cue's clip), and below it the attention a model
    gave each cue for a genre (``evaluate``'s instance weights; run and genre chosen in the
    page), with the cue table beside it.
Models
    Table 4 sortable, with the study's published values beside each row; the PR curves (S2) and
    the per-film scatter (S3, a point opens its film); Fig 3 and Table 5 with their intervals
    and tests on hover.

The charts are Plotly figures built in Python (:mod:`._figures`) and drawn by Plotly's
browser bundle, shipped with the ``plotly`` package and written beside the page; the page's
own script (``static/explorer.js``) only fills tables, plays clips and follows links.
Plotly was chosen over Bokeh and Vega-Lite because its bundle draws every chart the report
needs (horizontal bars with bases, error bars, step lines, drop-downs) from figure JSON with
no server and no extension, and its click events give the cue and film links directly.

The pieces, in the order the report stage uses them: :func:`collect_explorer` reads the
workspace; :func:`plan_clips` picks the clips within the size budget, :func:`cut_clip` and
:func:`encode_clip` make each one; :func:`build_explorer` returns the page and its assets.
Nothing here writes into the workspace: the stage does (:mod:`scorelens.stages._report`).
"""

from scorelens.report.explorer._clips import (
    CLIP_FORMATS,
    MIN_CLIP_S,
    ClipJob,
    ClipPlan,
    clip_lengths,
    cut_clip,
    encode_clip,
    enforce_budget,
    plan_clips,
    planned_bytes,
)
from scorelens.report.explorer._collect import ExplorerData, collect_explorer, run_id
from scorelens.report.explorer._page import ExplorerPage, build_explorer, explorer_payload, plotly_asset
from scorelens.report.explorer._study import STUDY_TABLE4, study_row

__all__ = ["CLIP_FORMATS", "MIN_CLIP_S", "ClipJob", "ClipPlan", "ExplorerData", "ExplorerPage", "STUDY_TABLE4",
           "build_explorer", "clip_lengths", "collect_explorer", "cut_clip", "encode_clip", "enforce_budget",
           "explorer_payload", "plan_clips", "planned_bytes", "plotly_asset", "run_id", "study_row"]
