"""Fig 3: permutation feature importance by genre and feature group, with 95% intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

__all__ = ["plot_group_importance"]


def plot_group_importance(summary: pd.DataFrame, *, title: str = "") -> Figure:
    """Grouped bars of the importance score per genre (and Overall), one bar per feature group.

    Parameters
    ----------
    summary : pd.DataFrame
        :meth:`scorelens.analysis._importance.GroupImportance.summary` (``group, genre,
        score, ci_low, ci_high``), in the order to draw.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Error bars span each score's interval; genres without a score are left empty. Built
        without pyplot (as :mod:`scorelens.report._figures`): the caller's backend and pyplot's
        figures are left alone, and ``fig.savefig`` renders through Agg.
    """
    groups = list(dict.fromkeys(summary["group"]))
    genres = list(dict.fromkeys(summary["genre"]))
    width = 0.8 / max(1, len(groups))
    fig = Figure(figsize=(max(6.0, 1.3 * len(genres) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    x = np.arange(len(genres))
    for g, name in enumerate(groups):
        rows = summary[summary["group"] == name].set_index("genre").reindex(genres)
        score = rows["score"].to_numpy(dtype=float)
        low = np.clip(score - rows["ci_low"].to_numpy(dtype=float), 0, None)
        high = np.clip(rows["ci_high"].to_numpy(dtype=float) - score, 0, None)
        ax.bar(x - 0.4 + width * (g + 0.5), np.nan_to_num(score), width, label=name, color=colours(g % 10),
               yerr=np.where(np.isnan(score), 0, np.vstack([low, high])), capsize=2, error_kw={"lw": 0.8})
    undefined = summary.groupby("genre", sort=False)["score"].apply(lambda v: v.isna().all())
    for j, genre in enumerate(genres):
        if undefined.get(genre, False):
            ax.text(j, 0, "no score\n(F1 orig = 0)", ha="center", va="bottom", fontsize="x-small", color="0.4")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, genres)
    ax.set_ylabel("importance  s = 1 − F1 perm / F1 orig")
    ax.legend(ncol=min(4, len(groups)), fontsize="small", frameon=False, loc="upper right")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig
