"""A music profile (:func:`scorelens.analysis._profile.profile`) as one self-contained HTML page.

The page holds its figures as PNG data (one small plot per descriptor: each genre's corpus
distribution and every piece's value), its style inline and no script, so it opens from the
file system anywhere; a nearest cue with a clip in the workspace gets an audio player. Every
text that comes from outside -- file names, film titles, track names, genres -- goes through
jinja2's autoescaping, and into the figures as pixels.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from scorelens._version import __version__

__all__ = ["descriptor_figure", "render_profile_html"]

# matplotlib 3.10 renamed boxplot's vert=False (deprecated since) to orientation="horizontal".
_HORIZONTAL = ({"orientation": "horizontal"} if tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10)
               else {"vert": False})
#: Colours of the pieces' marks (matplotlib's default cycle), in piece order.
_PIECE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def descriptor_figure(by_genre: Mapping[str, np.ndarray], marks: Sequence[tuple[str, float]], *,
                      label: str) -> Figure:
    """One descriptor: each genre's distribution over the corpus cues, and where each piece sits.

    Parameters
    ----------
    by_genre : mapping of str -> np.ndarray
        Genre -> the descriptor's values over the cues of its films (may be empty: the
        pieces are then drawn alone).
    marks : sequence of (str, float)
        Each piece's short label (its number) and value; drawn as a vertical line.
    label : str
        The descriptor's name (x axis).

    Returns
    -------
    matplotlib.figure.Figure
        A box per genre (whiskers at 1.5 IQR) with every cue as a dot, built without pyplot.
    """
    genres = list(by_genre)
    fig = Figure(figsize=(4.8, 0.9 + 0.32 * max(1, len(genres))), layout="constrained")
    ax = fig.add_subplot()
    if genres:
        ax.boxplot([by_genre[g] for g in genres], **_HORIZONTAL, widths=0.55, showfliers=False,
                   medianprops={"color": "#444"}, boxprops={"color": "#888"}, whiskerprops={"color": "#888"},
                   capprops={"color": "#888"})
        for i, g in enumerate(genres, start=1):
            ax.plot(by_genre[g], np.full(len(by_genre[g]), float(i)), "o", ms=2.5, color="#555", alpha=0.45)
        ax.set_yticks(range(1, len(genres) + 1), genres, fontsize=8)
        ax.set_ylim(0.4, len(genres) + 0.6)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no corpus distribution", transform=ax.transAxes, ha="center", va="center",
                color="#888", fontsize=8)
    for k, (name, value) in enumerate(marks):
        if np.isfinite(value):
            ax.axvline(value, color=_PIECE_COLOURS[k % len(_PIECE_COLOURS)], lw=1.8, label=name)
    if marks:  # above the axes: inside, it would hide the distributions
        fig.legend(fontsize=7, loc="outside upper right", frameon=False, ncols=min(len(marks), 8), handlelength=1.2)
    ax.set_xlabel(label, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", color="#eee")
    return fig


def _png_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, StrictUndefined

    from scorelens.report._cuesheet import format_clock

    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["clock"] = format_clock
    env.filters["file_uri"] = lambda path: Path(path).resolve().as_uri()   # the page may be opened anywhere
    source = resources.files("scorelens.report").joinpath("templates", "profile.html.j2").read_text(encoding="utf-8")
    return env.from_string(source)


def render_profile_html(profile) -> str:
    """The profile as one self-contained HTML page (figures embedded as PNG, inline style, no script).

    Parameters
    ----------
    profile : MusicProfile

    Returns
    -------
    str
        The page; all outside text escaped.
    """
    from scorelens.analysis._profile import DESCRIPTOR_LABELS
    from scorelens.mil._models import display_name

    data = profile.to_json()
    figures = []
    for column, info in data["descriptors"].items():
        label = DESCRIPTOR_LABELS.get(column, column)
        marks = [(str(i), p.descriptors.get(column, float("nan"))) for i, p in enumerate(profile.pieces, start=1)]
        fig = descriptor_figure(profile.genre_values(column), marks, label=label)
        figures.append({"column": column, "label": label, "why": info["why"], "uri": _png_uri(fig)})
    try:
        model_name = display_name(profile.model.key)
    except Exception:  # noqa: BLE001 - a key of a later scorelens still gets a page
        model_name = profile.model.key
    return _template().render(profile=data, figures=figures, model_name=model_name, version=__version__,
                              colours=_PIECE_COLOURS,
                              settings=json.dumps(data["feature_settings"], indent=2, sort_keys=True))
